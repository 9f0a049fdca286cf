//! The HTTP health probe: the configured URL fetched from a chosen address with the
//! site's own host name (Host header and TLS SNI), so a restored instance is checked
//! exactly as visitors will reach it — before DNS or the public IP points at it.

use super::{CloudError, CloudErrorKind, CloudResult, HealthAnswer, HealthProbe, HealthRequest};
use async_trait::async_trait;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Real HTTP(S) requests (rustls, the system's roots). Redirects are not followed: the
/// status the server gives is what is judged.
#[derive(Debug, Default, Clone)]
pub struct HttpProbe;

/// How much of an unexpected answer's body is kept for the message.
const BODY_START: usize = 160;

fn invalid(msg: String) -> CloudError {
    CloudError::new(CloudErrorKind::Invalid, "HealthCheck", msg)
}

/// Why a request got no answer, in the operator's words — reqwest's own text ("error
/// sending request for url …") says none of it. The error chain is walked for the I/O
/// error (refused, reset, unreachable), the resolver's error or rustls's.
pub fn cause_of(e: &reqwest::Error, timeout: Duration, host: &str) -> String {
    if e.is_timeout() {
        return format!(
            "timed out after {} (no answer)",
            humantime::format_duration(timeout)
        );
    }
    let mut innermost = e.to_string();
    let mut dns = false;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return format!("TLS: {tls}");
        }
        let mut inner: Option<&(dyn std::error::Error + 'static)> = None;
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            // An I/O error's `source` skips what it wraps (rustls's error, another I/O
            // error): the walk goes inside instead.
            inner = io
                .get_ref()
                .map(|i| i as &(dyn std::error::Error + 'static));
            match io.kind() {
                ErrorKind::ConnectionRefused => {
                    return "connection refused (nothing listens on that port)".into()
                }
                ErrorKind::ConnectionReset => return "connection reset by the server".into(),
                ErrorKind::ConnectionAborted => return "connection aborted".into(),
                ErrorKind::TimedOut => return "connection timed out".into(),
                ErrorKind::HostUnreachable => return "no route to the host".into(),
                ErrorKind::NetworkUnreachable => return "network unreachable".into(),
                _ => {}
            }
        }
        let text = err.to_string();
        dns |= text.starts_with("dns error");
        if !text.is_empty() {
            innermost = text;
        }
        next = inner.or_else(|| err.source());
    }
    if dns {
        return format!("DNS: {host} could not be resolved ({innermost})");
    }
    innermost
}

/// The first bytes of a body, on one line.
fn body_start(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(BODY_START)]);
    let mut one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if bytes.len() > BODY_START {
        one_line.push('…');
    }
    one_line
}

#[async_trait]
impl HealthProbe for HttpProbe {
    async fn probe(&self, req: &HealthRequest) -> CloudResult<HealthAnswer> {
        let url = reqwest::Url::parse(&req.url)
            .map_err(|e| invalid(format!("health-check URL {:?}: {e}", req.url)))?;
        let host = url
            .host_str()
            .ok_or_else(|| invalid(format!("health-check URL {:?} has no host", req.url)))?
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(req.timeout)
            .user_agent(concat!(
                "wpbackup/",
                env!("CARGO_PKG_VERSION"),
                " health-check"
            ));
        if let Some(address) = &req.address {
            let ip: IpAddr = address.parse().map_err(|_| {
                invalid(format!("instance address {address:?} is not an IP address"))
            })?;
            builder = builder.resolve(&host, SocketAddr::new(ip, port));
        }
        let client = builder
            .build()
            .map_err(|e| invalid(format!("HTTP client: {e}")))?;
        let peer = match &req.address {
            Some(a) => format!("{a}:{port}"),
            None => format!("{host}:{port}"),
        };
        let mut resp = client.get(url).send().await.map_err(|e| {
            CloudError::new(
                CloudErrorKind::Transient,
                "HealthCheck",
                cause_of(&e, req.timeout, &host),
            )
        })?;
        let status = resp.status().as_u16();
        // An unexpected answer says why in its first bytes; an expected one is not read.
        let mut body = Vec::new();
        if status != req.expect_status {
            while body.len() < BODY_START {
                match resp.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    Ok(None) | Err(_) => break,
                }
            }
        }
        Ok(HealthAnswer {
            status,
            peer,
            body: body_start(&body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_start_is_one_line_and_marked_when_cut() {
        assert_eq!(
            body_start(b"  <h1>Bad\n\tGateway</h1>\n"),
            "<h1>Bad Gateway</h1>"
        );
        let long = "x".repeat(400);
        let start = body_start(long.as_bytes());
        assert_eq!(start.chars().count(), BODY_START + 1);
        assert!(start.ends_with('…'));
        assert_eq!(body_start(b""), "");
    }
}
