//! Health checks that say why: the real probe against a closed port, a server that never
//! answers, one answering 500, a TLS mismatch and a name that does not resolve; the
//! attempts, interval and timeout of `[sites.health_check]` in the plan and the failure.

use crate::support::Sandbox;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wpbackup::cloud::probe::HttpProbe;
use wpbackup::cloud::{CloudErrorKind, HealthProbe, HealthRequest};
use wpbackup::domain::restore_plan::Probing;
use wpbackup::engine::restore::ask_until_healthy;
use wpbackup::engine::TokioSleeper;

fn request(url: String, address: Option<&str>, timeout: Duration) -> HealthRequest {
    HealthRequest {
        url,
        address: address.map(str::to_string),
        expect_status: 200,
        timeout,
    }
}

/// A port nothing listens on (bound, then released).
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// A server answering every request with `response`; returns its port.
async fn answering(response: &'static [u8]) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(response).await;
            });
        }
    });
    port
}

/// A server that accepts connections and never answers.
async fn silent() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    port
}

const CRITICAL: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 94\r\nConnection: close\r\n\r\n<html>\n  <body>\n    <p>There has been a critical error on this website.</p>\n  </body>\n</html>\n";

#[tokio::test]
async fn the_probe_names_the_cause_of_each_failure() {
    let probe = HttpProbe;
    let second = Duration::from_secs(1);

    let port = closed_port().await;
    let url = format!("http://shop.example.com:{port}/wp-login.php");
    let err = probe
        .probe(&request(url, Some("127.0.0.1"), second))
        .await
        .unwrap_err();
    assert_eq!(err.kind, CloudErrorKind::Transient);
    assert!(err.message.starts_with("connection refused"), "{err}");

    let port = silent().await;
    let url = format!("http://shop.example.com:{port}/wp-login.php");
    let t = Duration::from_millis(300);
    let err = probe
        .probe(&request(url, Some("127.0.0.1"), t))
        .await
        .unwrap_err();
    assert!(err.message.starts_with("timed out after 300ms"), "{err}");

    let port = answering(CRITICAL).await;
    let url = format!("http://shop.example.com:{port}/wp-login.php");
    let answer = probe
        .probe(&request(url, Some("127.0.0.1"), second))
        .await
        .unwrap();
    assert_eq!(answer.status, 500);
    assert_eq!(
        answer.body,
        "<html> <body> <p>There has been a critical error on this website.</p> </body> </html>"
    );

    // https:// to a server that speaks plain HTTP: rustls's own words.
    let port = answering(CRITICAL).await;
    let url = format!("https://shop.example.com:{port}/wp-login.php");
    let err = probe
        .probe(&request(url, Some("127.0.0.1"), second))
        .await
        .unwrap_err();
    assert!(err.message.starts_with("TLS: "), "{err}");

    // No address: the host name is resolved, and .invalid never is (RFC 6761).
    let err = probe
        .probe(&request(
            "http://wpbackup-health.invalid/wp-login.php".into(),
            None,
            Duration::from_secs(5),
        ))
        .await
        .unwrap_err();
    assert!(
        err.message
            .starts_with("DNS: wpbackup-health.invalid could not be resolved"),
        "{err}"
    );
}

/// The check of `http://shop.example.com:PORT/wp-login.php` from 127.0.0.1 through `probe`.
async fn ask(
    probe: &dyn HealthProbe,
    port: u16,
    probing: Probing,
    notes: &std::sync::Mutex<Vec<String>>,
) -> Result<wpbackup::cloud::HealthAnswer, String> {
    let req = request(
        format!("http://shop.example.com:{port}/wp-login.php"),
        Some("127.0.0.1"),
        Duration::from_secs(probing.timeout_secs),
    );
    let note = |m: &str| notes.lock().unwrap().push(m.to_string());
    ask_until_healthy(
        probe,
        &TokioSleeper,
        &req,
        probing,
        Duration::from_secs(15),
        &note,
    )
    .await
    .map_err(|f| f.to_string())
}

#[tokio::test]
async fn a_failed_check_says_once_what_was_tried_why_and_how_often() {
    let probing = Probing {
        timeout_secs: 2,
        attempts: 3,
        interval_ms: Some(20),
    };
    let notes = std::sync::Mutex::new(Vec::new());

    let port = answering(CRITICAL).await;
    let text = ask(&HttpProbe, port, probing, &notes).await.unwrap_err();
    assert_eq!(
        text,
        format!(
            "GET http://shop.example.com:{port}/wp-login.php via 127.0.0.1:{port}: answered 500 (expected 200): \"<html> <body> <p>There has been a critical error on this website.</p> </body> </html>\" (after 3 attempts 20ms apart, each allowed 2s)"
        )
    );
    assert_eq!(notes.lock().unwrap().len(), 3, "one note per attempt");

    let port = closed_port().await;
    let once = Probing {
        attempts: 1,
        ..probing
    };
    let text = ask(&HttpProbe, port, once, &notes).await.unwrap_err();
    assert!(
        text.starts_with(&format!(
            "GET http://shop.example.com:{port}/wp-login.php via 127.0.0.1:{port}: connection refused"
        )),
        "{text}"
    );
    assert!(text.ends_with("(after 1 attempt, allowed 2s)"), "{text}");
    assert_eq!(text.matches("refused").count(), 1, "the cause once: {text}");

    // A server that comes up during the attempts passes.
    let flaky = std::sync::atomic::AtomicU32::new(0);
    struct UpOnThird<'a>(&'a std::sync::atomic::AtomicU32);
    #[async_trait::async_trait]
    impl HealthProbe for UpOnThird<'_> {
        async fn probe(
            &self,
            req: &HealthRequest,
        ) -> wpbackup::cloud::CloudResult<wpbackup::cloud::HealthAnswer> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(wpbackup::cloud::HealthAnswer {
                status: if n < 2 { 502 } else { 200 },
                peer: req.address.clone().unwrap_or_default(),
                body: String::new(),
            })
        }
    }
    let answer = ask(&UpOnThird(&flaky), port, probing, &notes)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(flaky.load(std::sync::atomic::Ordering::SeqCst), 3);
}

/// On the simulator: the site's attempts and interval in the plan, and a failing check's
/// message naming the address, the status with the body's first bytes, and how it asked.
#[test]
fn the_sites_attempts_and_interval_are_planned_and_reported() {
    let s = Sandbox::new();
    s.edit(
        "wpbackup.toml",
        "timeout = \"10s\"\n",
        "timeout = \"10s\"\nattempts = 3\ninterval = \"20ms\"\n",
    );
    s.wpb().args(["run", "--all"]).assert().success();
    let out = s
        .wpb()
        .args(["restore", "--site", "shop", "--at", "now"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{plan}");
    assert!(
        plan.contains("expect 200; up to 3 attempts 20ms apart, each allowed 10s"),
        "{plan}"
    );
    s.sim(&["health", "--site", "shop", "--status", "500"]);
    let (code, exec) = s.json(&[
        "restore",
        "--site",
        "shop",
        "--at",
        "now",
        "--execute",
        "--yes",
    ]);
    assert_eq!(code, 2, "{exec:#}");
    let failure = exec["failure"].as_str().unwrap();
    assert!(
        failure.contains(":443: answered 500 (expected 200): \"<h1>500</h1>"),
        "{failure}"
    );
    assert!(
        failure.ends_with("(after 3 attempts 20ms apart, each allowed 10s); nothing was cut over"),
        "{failure}"
    );
    assert_eq!(
        failure.matches("500").count(),
        2,
        "status and body: {failure}"
    );
}

#[test]
fn bad_health_check_settings_are_each_reported() {
    let s = Sandbox::new();
    s.edit(
        "wpbackup.toml",
        "timeout = \"10s\"\n",
        "timeout = \"10s\"\nattempts = 0\ninterval = \"1h\"\n",
    );
    let out = s.wpb().args(["policy", "check"]).output().unwrap();
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(
        err.contains("0 attempts cannot check anything; expected 1 to 100"),
        "{err}"
    );
    assert!(err.contains("expected at most 10m"), "{err}");
}
