//! Waiting for a resource, with a timeout that says what was waited for.

use super::{CloudError, CloudErrorKind, CloudResult, ResourceState, ResourceStatus};
use std::future::Future;
use std::time::Duration;

/// The pauses between polls of a wait capped at `cap` (the provider's wait interval, 15 s
/// on AWS): an eighth of it first, then half as long again each time, up to the cap. A
/// step that is ready in seconds is noticed within a second or two instead of up to a
/// whole interval late; a step of many minutes is polled at the cap after about six polls
/// (the SDK's RDS waiters poll every 30 s from the start).
pub fn poll_delays(cap: Duration) -> impl Iterator<Item = Duration> {
    let first = (cap / 8).max(Duration::from_millis(10)).min(cap);
    std::iter::successors(Some(first), move |d| Some(d.mul_f64(1.5).min(cap)))
}

/// Poll `describe` until the resource is ready, at the [`poll_delays`] of `interval`; fail
/// when it ends failed or gone, or when `timeout` passes (the error names `what` and the
/// last state seen).
pub async fn until_ready<F, Fut>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut describe: F,
) -> CloudResult<ResourceStatus>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = CloudResult<ResourceStatus>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delays = poll_delays(interval);
    loop {
        let status = describe().await?;
        match status.state {
            ResourceState::Ready => return Ok(status),
            ResourceState::Failed | ResourceState::Gone => {
                return Err(CloudError::new(
                    CloudErrorKind::Permanent,
                    "wait",
                    format!(
                        "{what} ({}) ended {:?}{}",
                        status.id,
                        status.state,
                        status.detail.map(|d| format!(": {d}")).unwrap_or_default()
                    ),
                ))
            }
            ResourceState::Pending => {}
        }
        let delay = delays.next().unwrap_or(interval);
        if tokio::time::Instant::now() + delay > deadline {
            return Err(CloudError::new(
                CloudErrorKind::Transient,
                "wait",
                format!(
                    "timed out after {} waiting for {what} ({}) to become ready; last state {}",
                    humantime::format_duration(timeout),
                    status.id,
                    status.detail.unwrap_or_else(|| "pending".into())
                ),
            ));
        }
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> ResourceStatus {
        ResourceStatus {
            id: "wp-db-restored".into(),
            state: ResourceState::Pending,
            address: None,
            detail: Some("creating".into()),
        }
    }

    #[test]
    fn polls_back_off_from_an_eighth_of_the_interval_to_the_interval() {
        let d: Vec<u128> = poll_delays(Duration::from_secs(15))
            .take(9)
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(
            d,
            [1875, 2812, 4218, 6328, 9492, 14238, 15000, 15000, 15000]
        );
        // A tiny interval is never polled in a busy loop.
        assert_eq!(
            poll_delays(Duration::from_millis(40)).next(),
            Some(Duration::from_millis(10))
        );
        assert_eq!(
            poll_delays(Duration::from_millis(5)).next(),
            Some(Duration::from_millis(5))
        );
    }

    #[tokio::test]
    async fn times_out_naming_what_it_waited_for() {
        let e = until_ready(
            "the restored cluster",
            Duration::from_millis(30),
            Duration::from_millis(10),
            || async { Ok(pending()) },
        )
        .await
        .unwrap_err();
        assert!(
            e.message
                .contains("waiting for the restored cluster (wp-db-restored)"),
            "{e}"
        );
        assert!(e.message.contains("last state creating"), "{e}");
        assert!(e.is_retryable());
    }

    #[tokio::test]
    async fn returns_when_ready_and_fails_when_failed() {
        let mut n = 0;
        let s = until_ready(
            "x",
            Duration::from_secs(5),
            Duration::from_millis(1),
            || {
                n += 1;
                let state = if n < 3 {
                    ResourceState::Pending
                } else {
                    ResourceState::Ready
                };
                async move { Ok(ResourceStatus { state, ..pending() }) }
            },
        )
        .await
        .unwrap();
        assert_eq!(s.state, ResourceState::Ready);
        let e = until_ready(
            "x",
            Duration::from_secs(5),
            Duration::from_millis(1),
            || async {
                Ok(ResourceStatus {
                    state: ResourceState::Failed,
                    ..pending()
                })
            },
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, CloudErrorKind::Permanent);
    }
}
