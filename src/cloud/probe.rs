//! The HTTP health probe: the configured URL fetched from a chosen address with the
//! site's own host name (Host header and TLS SNI), so a restored instance is checked
//! exactly as visitors will reach it — before DNS or the public IP points at it.

use super::{CloudError, CloudErrorKind, CloudResult, HealthAnswer, HealthProbe, HealthRequest};
use async_trait::async_trait;
use std::net::{IpAddr, SocketAddr};

/// Real HTTP(S) requests (rustls, the system's roots). Redirects are not followed: the
/// status the server gives is what is judged.
#[derive(Debug, Default, Clone)]
pub struct HttpProbe;

fn invalid(msg: String) -> CloudError {
    CloudError::new(CloudErrorKind::Invalid, "HealthCheck", msg)
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
        let resp = client.get(url).send().await.map_err(|e| {
            CloudError::new(
                CloudErrorKind::Transient,
                "HealthCheck",
                format!("GET {} via {peer}: {e}", req.url),
            )
        })?;
        Ok(HealthAnswer {
            status: resp.status().as_u16(),
            peer,
        })
    }
}
