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
            None => match &err {
                SdkError::ResponseError(_) => CloudErrorKind::Transient,
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
        _ => DisplayErrorContext(&err).to_string(),
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
