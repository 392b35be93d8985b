//! Classification of AWS errors: terminal (the spec is wrong), retryable, throttled, not found.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// How the reconciler reacts to an AWS error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request can never succeed as it stands (bad spec, missing role, unknown cluster):
    /// report `Stalled`, emit an Event, do not retry until the object changes (or slowly).
    Terminal,
    /// Transient (5xx, timeout, connection): retry with backoff.
    Retryable,
    /// The account's API budget is exhausted: wait and retry.
    Throttled,
    /// The resource does not exist.
    NotFound,
}

/// An AWS call that failed, with what the caller needs to decide and report.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{operation}: {code}: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub class: ErrorClass,
}

impl AwsError {
    pub fn is_terminal(&self) -> bool {
        self.class == ErrorClass::Terminal
    }
    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }
    /// The Event reason of a failure: the refusal's own reason when the access grants refused
    /// the call, else `AWSError`.
    pub fn event_reason(&self) -> &str {
        if self.operation == crate::runtime::context::GRANT_CHECK {
            &self.code
        } else {
            "AWSError"
        }
    }
    /// The condition reason of a terminal error: the refusal's own reason when the access
    /// grants refused the call (`RoleNotGranted`, ...), else `InvalidSpec`.
    pub fn terminal_reason(&self) -> &str {
        if self.operation == crate::runtime::context::GRANT_CHECK {
            &self.code
        } else {
            "InvalidSpec"
        }
    }
}

const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

const NOT_FOUND_CODES: &[&str] = &[
    "ServiceNotFoundException",
    "ServiceNotActiveException",
    "NamespaceNotFound",
    "ServiceNotFound",
    "OperationNotFound",
    "ResourceNotFoundException",
    "ObjectNotFoundException",
];

const RETRYABLE_CODES: &[&str] = &[
    "ServerException",
    "InternalFailure",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    // Cloud Map refuses to delete a service while instances are registered; it clears on its own.
    "ResourceInUse",
    // ECS answers this while an earlier update of the same resource is still in flight.
    "UpdateInProgressException",
    // Cloud Map answers this while an earlier operation on the same namespace is in flight.
    "DuplicateRequest",
];

/// Classifies an error code (and HTTP status, when known) the way the reconciler needs it.
pub fn classify_code(code: &str, http_status: Option<u16>) -> ErrorClass {
    if THROTTLING_CODES.contains(&code) || http_status == Some(429) {
        ErrorClass::Throttled
    } else if NOT_FOUND_CODES.contains(&code) {
        ErrorClass::NotFound
    } else if RETRYABLE_CODES.contains(&code) || http_status.is_some_and(|s| s >= 500) {
        ErrorClass::Retryable
    } else if code.is_empty() {
        // No modeled error: the request did not get a well-formed answer.
        ErrorClass::Retryable
    } else {
        ErrorClass::Terminal
    }
}

/// Converts an SDK error into an [`AwsError`] for `operation`.
pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    match &err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or_default().to_string();
            let status = service.raw().http_status();
            let class = classify_code(&code, status);
            // An answer without an error code (a proxy's or load balancer's page) still gets
            // a reason a condition can carry, and says what came back.
            let (code, message) = if code.is_empty() {
                (
                    "UnrecognizedResponse".to_string(),
                    format!(
                        "HTTP {} without an AWS error code: {}",
                        status.map_or_else(|| "?".to_string(), |s| s.to_string()),
                        aws_smithy_types::error::display::DisplayErrorContext(&err)
                    ),
                )
            } else {
                (code, inner.message().unwrap_or_default().to_string())
            };
            AwsError {
                operation,
                class,
                code,
                message,
            }
        }
        SdkError::TimeoutError(_) => AwsError {
            operation,
            code: "Timeout".into(),
            message: "request timed out".into(),
            class: ErrorClass::Retryable,
        },
        SdkError::DispatchFailure(failure) => AwsError {
            operation,
            code: "DispatchFailure".into(),
            message: format!(
                "could not reach the AWS endpoint: {:?}",
                failure.as_connector_error().map(|e| e.to_string())
            ),
            class: ErrorClass::Retryable,
        },
        SdkError::ResponseError(_) => AwsError {
            operation,
            code: "ResponseError".into(),
            message: "malformed response from the AWS endpoint".into(),
            class: ErrorClass::Retryable,
        },
        SdkError::ConstructionFailure(_) => AwsError {
            operation,
            code: "InvalidRequest".into(),
            message: format!(
                "request could not be built: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ),
            class: ErrorClass::Terminal,
        },
        _ => AwsError {
            operation,
            code: "Unknown".into(),
            message: aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
            class: ErrorClass::Retryable,
        },
    }
}

/// The HTTP status of a raw response, when the SDK kept one.
pub trait HttpStatus {
    fn http_status(&self) -> Option<u16>;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn http_status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

/// `?`-friendly conversion: `.map_err(aws_err("RegisterTaskDefinition"))`.
pub fn aws_err<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    move |err| from_sdk(operation, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(
            classify_code("ThrottlingException", Some(400)),
            ErrorClass::Throttled
        );
        assert_eq!(
            classify_code("RequestLimitExceeded", None),
            ErrorClass::Throttled
        );
        assert_eq!(
            classify_code("ClientException", Some(400)),
            ErrorClass::Terminal
        );
        assert_eq!(
            classify_code("InvalidParameterException", Some(400)),
            ErrorClass::Terminal
        );
        assert_eq!(
            classify_code("ClusterNotFoundException", Some(400)),
            ErrorClass::Terminal
        );
        assert_eq!(
            classify_code("ServerException", Some(500)),
            ErrorClass::Retryable
        );
        assert_eq!(classify_code("", Some(503)), ErrorClass::Retryable);
        assert_eq!(
            classify_code("ServiceNotActiveException", Some(400)),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify_code("ResourceInUse", Some(400)),
            ErrorClass::Retryable
        );
    }
}
