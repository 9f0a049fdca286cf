//! SDK errors → wpbackup's taxonomy, keeping the service's code and message.

use super::operations::{self, Service};
use crate::cloud::{CloudError, CloudErrorKind};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Classify a service error code (shared by every service).
pub fn classify_code(code: &str) -> CloudErrorKind {
    const THROTTLING: [&str; 9] = [
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "RequestThrottled",
        "PriorRequestNotComplete",
    ];
    const TRANSIENT: [&str; 6] = [
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceException",
        "RequestTimeout",
    ];
    if THROTTLING.contains(&code) {
        CloudErrorKind::Throttled
    } else if TRANSIENT.contains(&code) {
        CloudErrorKind::Transient
    } else if code.contains("NotFound") || code.starts_with("NoSuch") || code.ends_with(".NotFound")
    {
        CloudErrorKind::NotFound
    } else if code.contains("AlreadyExists") || code.ends_with(".Duplicate") {
        CloudErrorKind::AlreadyExists
    } else if code.contains("AccessDenied")
        || code == "UnauthorizedOperation"
        || code == "AuthFailure"
        || code == "UnrecognizedClientException"
        || code == "InvalidClientTokenId"
        || code == "ExpiredToken"
    {
        CloudErrorKind::AccessDenied
    } else if code.starts_with("Invalid")
        || code.contains("Validation")
        || code.contains("Malformed")
    {
        CloudErrorKind::Invalid
    } else {
        CloudErrorKind::Permanent
    }
}

/// Map any SDK error of `operation` of `service`. AccessDenied names the IAM actions the
/// operation needs, from the one table `iam-policy` is built from.
pub fn map_sdk<E>(service: Service, operation: &str, err: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + std::fmt::Debug + Send + Sync + 'static,
{
    let kind = match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => CloudErrorKind::Transient,
        SdkError::ConstructionFailure(_) => CloudErrorKind::Invalid,
        _ => match err
            .code()
            .map(str::to_string)
            .or_else(|| modeled_code(&err))
        {
            Some(code) => classify_code(&code),
            // An answer the SDK could not read (an HTML error page from a proxy or a wrong
            // endpoint): its HTTP status says whether trying again can help.
            None => match &err {
                SdkError::ResponseError(e) => status_kind(e.raw()),
                SdkError::ServiceError(e) => status_kind(e.raw()),
                _ => CloudErrorKind::Permanent,
            },
        },
    };
    let code = err
        .code()
        .map(str::to_string)
        .or_else(|| modeled_code(&err));
    let service_text = match &err {
        SdkError::ServiceError(se) => Some(se.err().to_string()),
        _ => None,
    };
    let message = match (code, err.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        // A modeled error's Display names its code and carries its message.
        (Some(code), None) => match service_text {
            Some(text) if text.contains(&code) => text,
            Some(text) if !text.is_empty() => format!("{code}: {text}"),
            _ => code,
        },
        (None, Some(msg)) if matches!(err, SdkError::ServiceError(_)) => msg.to_string(),
        (None, _) => match &err {
            SdkError::ResponseError(e) => unreadable_answer(e.raw()),
            SdkError::ServiceError(e) => unreadable_answer(e.raw()),
            _ => DisplayErrorContext(&err).to_string(),
        },
    };
    let message = match (kind, operations::actions(service, operation)) {
        (CloudErrorKind::AccessDenied, Some(actions)) => {
            format!("{message} (this call needs {})", actions.join(", "))
        }
        _ => message,
    };
    CloudError::new(kind, operation, message)
}

/// A modeled error built without wire metadata (e.g. by a mock) still names its code: the
/// variant is named after it (`NotFoundException(…)`).
fn modeled_code<E: std::fmt::Debug, R>(err: &SdkError<E, R>) -> Option<String> {
    let SdkError::ServiceError(se) = err else {
        return None;
    };
    let text = format!("{:?}", se.err());
    let name: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "Unhandled").then_some(name)
}

/// What to say about an answer without an AWS error code: its status and how its body
/// begins, rather than the SDK's debug structure.
fn unreadable_answer(raw: &HttpResponse) -> String {
    let body = raw
        .body()
        .bytes()
        .map(|b| {
            let text = String::from_utf8_lossy(&b[..b.len().min(160)]);
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .unwrap_or_default();
    format!(
        "the endpoint answered HTTP {} without an AWS error{}; check the region and `endpoint_url`",
        raw.status().as_u16(),
        if body.is_empty() {
            String::new()
        } else {
            format!(" (body begins {body:?})")
        }
    )
}

/// Without an error code, the HTTP status says what kind of failure it was.
fn status_kind(raw: &HttpResponse) -> CloudErrorKind {
    match raw.status().as_u16() {
        429 => CloudErrorKind::Throttled,
        500 | 502 | 503 | 504 => CloudErrorKind::Transient,
        404 => CloudErrorKind::NotFound,
        403 => CloudErrorKind::AccessDenied,
        _ => CloudErrorKind::Permanent,
    }
}

pub fn refuse_unmanaged(operation: &str, what: &str) -> CloudError {
    CloudError::new(
        CloudErrorKind::AccessDenied,
        operation,
        format!(
            "{what} is not tagged wpbackup:managed=true; wpbackup only deletes what it created"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::describe_images::DescribeImagesError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    /// An answer that is not an AWS response (a wrong endpoint's HTML page): classified by its
    /// status — a 405 is not worth retrying, a 503 is — and described by status and body, not
    /// by the SDK's debug structure.
    #[test]
    fn unreadable_answers_are_classified_by_status_and_described_briefly() {
        let answer = |status: u16| {
            let raw = HttpResponse::new(
                StatusCode::try_from(status).unwrap(),
                SdkBody::from("<html>\n  <h1>Method Not Allowed</h1>\n</html>"),
            );
            let err: SdkError<DescribeImagesError, HttpResponse> =
                SdkError::response_error("not XML", raw);
            map_sdk(Service::Ec2, "DescribeImages", err)
        };
        let e = answer(405);
        assert_eq!(e.kind, CloudErrorKind::Permanent);
        assert_eq!(
            e.message,
            "the endpoint answered HTTP 405 without an AWS error (body begins \"<html> <h1>Method Not Allowed</h1> </html>\"); check the region and `endpoint_url`"
        );
        assert_eq!(answer(503).kind, CloudErrorKind::Transient);
        assert_eq!(answer(429).kind, CloudErrorKind::Throttled);
    }

    #[test]
    fn codes_map_to_kinds() {
        use CloudErrorKind::*;
        for (code, kind) in [
            ("ThrottlingException", Throttled),
            ("RequestLimitExceeded", Throttled),
            ("InternalError", Transient),
            ("InvalidAMIID.NotFound", NotFound),
            ("DBClusterSnapshotNotFoundFault", NotFound),
            ("NoSuchBucket", NotFound),
            ("ResourceNotFoundException", NotFound),
            ("DBClusterSnapshotAlreadyExistsFault", AlreadyExists),
            ("InvalidAMIName.Duplicate", AlreadyExists),
            ("AlreadyExistsException", AlreadyExists),
            ("AccessDeniedException", AccessDenied),
            ("UnauthorizedOperation", AccessDenied),
            ("InvalidParameterValue", Invalid),
            ("ValidationException", Invalid),
            ("InvalidDBClusterStateFault", Invalid),
            ("SomethingElse", Permanent),
        ] {
            assert_eq!(classify_code(code), kind, "{code}");
        }
    }
}
