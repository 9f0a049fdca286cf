//! The daemon's loopback endpoint: `/healthz` (JSON status) and Prometheus `/metrics`.

use super::DaemonStatus;
use crate::catalog::Catalog;
use crate::domain::time::Clock;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Serve until the task is dropped. Refuses non-loopback addresses: the endpoint has no auth.
pub async fn serve(
    addr: SocketAddr,
    catalog: Catalog,
    status: Arc<Mutex<DaemonStatus>>,
    clock: Arc<dyn Clock>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{addr} is not a loopback address; the health/metrics endpoint listens on 127.0.0.1 or ::1 only"),
        ));
    }
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let catalog = catalog.clone();
            let status = status.clone();
            let clock = clock.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let catalog = catalog.clone();
                    let status = status.clone();
                    let clock = clock.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            respond(req.uri().path(), &catalog, &status, clock.as_ref()).await,
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((bound, handle))
}

fn text(code: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts")
}

async fn respond(
    path: &str,
    catalog: &Catalog,
    status: &Mutex<DaemonStatus>,
    clock: &dyn Clock,
) -> Response<Full<Bytes>> {
    match path {
        "/healthz" => {
            let st = status.lock().expect("status").clone();
            // Healthy while the lease is held and the loop has turned recently or waits for
            // a wake-up not more than 5 minutes overdue (it sleeps until its next fire).
            let now = clock.now();
            let late = chrono::Duration::minutes(5);
            let fresh = st.lease.as_ref().is_none_or(|l| l.held)
                && (st.last_loop_at.is_some_and(|t| now - t < late)
                    || st.sleeping_until.is_some_and(|t| now - t < late));
            let code = if fresh {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            text(
                code,
                "application/json",
                serde_json::to_string_pretty(&st).expect("status serialises"),
            )
        }
        "/metrics" => match catalog.metrics().await {
            Ok(m) => text(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                render_metrics(&m, &status.lock().expect("status")),
            ),
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("catalog unavailable: {e}\n"),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain",
            "try /healthz or /metrics\n".into(),
        ),
    }
}

/// One series per (site, component).
fn per_component<V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    rows: &[(String, String, V)],
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (site, component, v) in rows {
        let _ = writeln!(
            out,
            "{name}{{site=\"{}\",component=\"{}\"}} {v}",
            label(site),
            label(component)
        );
    }
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition.
pub fn render_metrics(m: &crate::catalog::MetricsSnapshot, st: &DaemonStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP wpbackup_last_success_timestamp_seconds Point time of the newest available point per component (primary region).");
    let _ = writeln!(out, "# TYPE wpbackup_last_success_timestamp_seconds gauge");
    for (site, component, t) in &m.last_success {
        let _ = writeln!(
            out,
            "wpbackup_last_success_timestamp_seconds{{site=\"{}\",component=\"{}\"}} {}",
            label(site),
            label(component),
            t.timestamp()
        );
    }
    per_component(
        &mut out,
        "wpbackup_missed_fires_total",
        "Records of scheduled fires that did not run (daemon down past the start window, or interrupted twice); each names the fires it covers in `wpbackup runs`.",
        "counter",
        &m.missed_fires,
    );
    per_component(
        &mut out,
        "wpbackup_run_failures_total",
        "Runs that ended failed, per component (`wpbackup runs` says why).",
        "counter",
        &m.run_failures,
    );
    per_component(
        &mut out,
        "wpbackup_rpo_seconds",
        "The recovery point objective of each policy in force: compare with time() - wpbackup_last_success_timestamp_seconds.",
        "gauge",
        &st.objectives,
    );
    let _ = writeln!(
        out,
        "# HELP wpbackup_runs Runs recorded in the catalog, by phase."
    );
    let _ = writeln!(out, "# TYPE wpbackup_runs gauge");
    for (phase, n) in &m.runs_by_phase {
        let _ = writeln!(out, "wpbackup_runs{{phase=\"{}\"}} {n}", label(phase));
    }
    let _ = writeln!(
        out,
        "# HELP wpbackup_points Recovery points in the catalog, by state."
    );
    let _ = writeln!(out, "# TYPE wpbackup_points gauge");
    for (state, n) in &m.points_by_state {
        let _ = writeln!(out, "wpbackup_points{{state=\"{}\"}} {n}", label(state));
    }
    let _ = writeln!(out, "# HELP wpbackup_last_run_duration_seconds Duration of the newest finished run per component.");
    let _ = writeln!(out, "# TYPE wpbackup_last_run_duration_seconds gauge");
    for (site, component, secs) in &m.last_run_seconds {
        let _ = writeln!(
            out,
            "wpbackup_last_run_duration_seconds{{site=\"{}\",component=\"{}\"}} {secs}",
            label(site),
            label(component)
        );
    }
    let _ = writeln!(
        out,
        "# HELP wpbackup_daemon_running_runs Runs in flight in this daemon."
    );
    let _ = writeln!(out, "# TYPE wpbackup_daemon_running_runs gauge");
    let _ = writeln!(out, "wpbackup_daemon_running_runs {}", st.running.len());
    let _ = writeln!(
        out,
        "# HELP wpbackup_daemon_next_fire_timestamp_seconds When the next scheduled run starts."
    );
    let _ = writeln!(
        out,
        "# TYPE wpbackup_daemon_next_fire_timestamp_seconds gauge"
    );
    if let Some(n) = st.next_fire {
        let _ = writeln!(
            out,
            "wpbackup_daemon_next_fire_timestamp_seconds {}",
            n.timestamp()
        );
    }
    let _ = writeln!(
        out,
        "# HELP wpbackup_daemon_reloads_total Successful configuration reloads (SIGHUP)."
    );
    let _ = writeln!(out, "# TYPE wpbackup_daemon_reloads_total counter");
    let _ = writeln!(out, "wpbackup_daemon_reloads_total {}", st.reloads);
    let daemon = st.holder.replace('\\', "\\\\").replace('"', "\\\"");
    for (name, help, value) in [
        (
            "wpbackup_daemon_fires_claimed_total",
            "Scheduled fires this daemon claimed and ran (taken-over ones included).",
            st.fires_claimed,
        ),
        (
            "wpbackup_daemon_fires_taken_over_total",
            "Fires this daemon took over from a daemon that died or left.",
            st.fires_taken_over,
        ),
        (
            "wpbackup_daemon_fires_claimed_elsewhere_total",
            "Fires another daemon on the catalog had claimed first.",
            st.fires_claimed_elsewhere,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name}{{daemon=\"{daemon}\"}} {value}");
    }
    let _ = writeln!(out, "# HELP wpbackup_daemon_fire_lag_seconds From a claimed fire's scheduled instant to its run's start.");
    let _ = writeln!(out, "# TYPE wpbackup_daemon_fire_lag_seconds summary");
    let _ = writeln!(
        out,
        "wpbackup_daemon_fire_lag_seconds_sum{{daemon=\"{daemon}\"}} {}",
        st.lag_seconds_sum
    );
    let _ = writeln!(
        out,
        "wpbackup_daemon_fire_lag_seconds_count{{daemon=\"{daemon}\"}} {}",
        st.lag_count
    );
    let _ = writeln!(out, "# HELP wpbackup_daemon_fire_lag_seconds_max The longest such lag since the daemon started.");
    let _ = writeln!(out, "# TYPE wpbackup_daemon_fire_lag_seconds_max gauge");
    let _ = writeln!(
        out,
        "wpbackup_daemon_fire_lag_seconds_max{{daemon=\"{daemon}\"}} {}",
        st.lag_seconds_max
    );
    let lease = st.lease.clone().unwrap_or_default();
    let _ = writeln!(out, "# HELP wpbackup_daemon_lease_held 1 while this daemon holds its lease on the catalog (its row, on a shared catalog); 0 once lost — it claims no new work and stops after the runs in flight.");
    let _ = writeln!(out, "# TYPE wpbackup_daemon_lease_held gauge");
    let _ = writeln!(
        out,
        "wpbackup_daemon_lease_held{{daemon=\"{daemon}\"}} {}",
        u8::from(lease.held)
    );
    let _ = writeln!(out, "# HELP wpbackup_daemon_lease_expires_timestamp_seconds When the lease expires unless renewed (renewed every third of its TTL).");
    let _ = writeln!(
        out,
        "# TYPE wpbackup_daemon_lease_expires_timestamp_seconds gauge"
    );
    if let Some(t) = lease.expires_at {
        let _ = writeln!(
            out,
            "wpbackup_daemon_lease_expires_timestamp_seconds{{daemon=\"{daemon}\"}} {}",
            t.timestamp()
        );
    }
    let _ = writeln!(out, "# HELP wpbackup_daemon_lease_renewal_failures_total Lease renewals that failed and were retried (a busy or unreachable catalog); the daemon stops when the lease expires.");
    let _ = writeln!(
        out,
        "# TYPE wpbackup_daemon_lease_renewal_failures_total counter"
    );
    let _ = writeln!(
        out,
        "wpbackup_daemon_lease_renewal_failures_total{{daemon=\"{daemon}\"}} {}",
        lease.renewal_failures
    );
    out
}
