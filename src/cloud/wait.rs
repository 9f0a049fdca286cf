//! Waiting for a resource, with a timeout that says what was waited for.

use super::{CloudError, CloudErrorKind, CloudResult, ResourceState, ResourceStatus};
use std::future::Future;
use std::time::Duration;

/// Poll `describe` every `interval` until the resource is ready; fail when it ends failed or
/// gone, or when `timeout` passes (the error names `what` and the last state seen).
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
        if tokio::time::Instant::now() + interval > deadline {
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
        tokio::time::sleep(interval).await;
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
