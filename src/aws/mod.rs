//! AWS clients and the translation between our types and the SDK's: one file per AWS
//! resource family, plus error classification, the API budget (rate limits, retries,
//! timeouts) and the pool of clients per Region and IAM role.

pub mod autoscaling;
pub mod budget;
pub mod cloud_map;
pub mod ecs_cluster;
pub mod ecs_service;
pub mod ecs_task;
pub mod ecs_task_definition;
pub mod error;
pub mod metrics;
pub mod pool;
pub mod scheduler;

use aws_credential_types::Credentials;

use self::budget::RateLimits;
use self::error::{AwsError, ErrorClass};
use self::metrics::ApiCalls;
pub use self::pool::ClientPool;

/// The SDK clients one reconcile needs, for one Region and identity.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub region: String,
    /// IAM role the clients act as; `None` for the operator's own identity.
    pub role_arn: Option<String>,
    /// Account the clients act in, when known: from the role ARN, or from STS
    /// GetCallerIdentity for the operator's own identity.
    pub account_id: Option<String>,
    pub ecs: aws_sdk_ecs::Client,
    pub servicediscovery: aws_sdk_servicediscovery::Client,
    pub applicationautoscaling: aws_sdk_applicationautoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    /// Every call attempt made through these clients.
    pub calls: ApiCalls,
}

/// Where and how to reach AWS.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// Region; when unset the SDK's chain decides (AWS_REGION, profile).
    pub region: Option<String>,
    /// Endpoint override (the SDK's standard `AWS_ENDPOINT_URL` also works).
    pub endpoint_url: Option<String>,
    /// Explicit credentials for programs that embed the operator; the binary always uses the
    /// SDK's default chain (environment, web identity, EKS Pod Identity, shared profile).
    pub credentials: Option<Credentials>,
    /// Accept plain-HTTP endpoints. Only for local emulators: requests, and the credentials
    /// that sign them, would otherwise cross the network unencrypted.
    pub allow_insecure_endpoint: bool,
    /// Client-side rate limits per API category.
    pub rate_limits: RateLimits,
    /// Attempts per AWS call, the first included (the SDK's standard retry).
    pub max_attempts: u32,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            region: None,
            endpoint_url: None,
            credentials: None,
            allow_insecure_endpoint: false,
            rate_limits: RateLimits::default(),
            max_attempts: 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no AWS Region configured: set --aws-region or AWS_REGION")]
    NoRegion,
    #[error(
        "AWS endpoint {url} (from {origin}) uses plain HTTP, which would send requests unencrypted: use https, or pass --allow-insecure-endpoint (ECS_OPERATOR_ALLOW_INSECURE_ENDPOINT=true) for a local emulator"
    )]
    InsecureEndpoint { url: String, origin: String },
    #[error("invalid AWS Region {0:?}: expected e.g. us-east-1")]
    InvalidRegion(String),
    #[error("invalid IAM role ARN {0:?}: expected arn:aws:iam::<account id>:role/<name>")]
    InvalidRoleArn(String),
}

impl From<ClientError> for AwsError {
    fn from(err: ClientError) -> Self {
        let code = match err {
            ClientError::InvalidRegion(_) => "InvalidRegion",
            ClientError::InvalidRoleArn(_) => "InvalidRoleArn",
            ClientError::NoRegion => "NoRegion",
            ClientError::InsecureEndpoint { .. } => "InsecureEndpoint",
        };
        AwsError {
            operation: "ResolveAwsClients",
            code: code.into(),
            message: err.to_string(),
            // Each needs a change of the spec, an annotation or the operator's settings.
            class: ErrorClass::Terminal,
        }
    }
}

/// Whether `region` looks like an AWS Region name (`^[a-z]{2}(-[a-z]+)+-[0-9]$`).
pub fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() >= 3
        && parts[0].len() == 2
        && lower(parts[0])
        && parts[1..parts.len() - 1].iter().all(|p| lower(p))
        && parts[parts.len() - 1].len() == 1
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// The account id of an IAM role ARN (`arn:<partition>:iam::<account>:role/<name>`).
pub fn role_account(role_arn: &str) -> Option<&str> {
    let mut parts = role_arn.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let valid = arn == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty());
    valid.then_some(account)
}

/// Refuses plain-HTTP endpoints unless allowed. `endpoints` are (where it came from, URL).
pub fn check_endpoints<'a>(
    endpoints: impl IntoIterator<Item = (&'a str, &'a str)>,
    allow_insecure: bool,
) -> Result<(), ClientError> {
    if allow_insecure {
        return Ok(());
    }
    for (origin, url) in endpoints {
        if url.trim().to_ascii_lowercase().starts_with("http://") {
            return Err(ClientError::InsecureEndpoint {
                url: url.to_string(),
                origin: origin.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_are_checked() {
        assert!(is_region_name("us-east-1"));
        assert!(is_region_name("eu-west-1"));
        assert!(is_region_name("us-gov-west-1"));
        assert!(is_region_name("ap-southeast-4"));
        assert!(!is_region_name("useast1"));
        assert!(!is_region_name("us-east"));
        assert!(!is_region_name("US-EAST-1"));
        assert!(!is_region_name("us-east-12"));
        assert!(!is_region_name("u-east-1"));
        assert!(!is_region_name(""));
    }

    #[test]
    fn role_arns_give_their_account() {
        assert_eq!(
            role_account("arn:aws:iam::111111111111:role/ecs-operator"),
            Some("111111111111")
        );
        assert_eq!(
            role_account("arn:aws-cn:iam::222222222222:role/path/to/role"),
            Some("222222222222")
        );
        assert_eq!(role_account("arn:aws:iam::111111111111:user/bob"), None);
        assert_eq!(role_account("arn:aws:iam::1111:role/x"), None);
        assert_eq!(role_account("arn:aws:sts::111111111111:role/x"), None);
        assert_eq!(role_account("arn:aws:iam::111111111111:role/"), None);
        assert_eq!(role_account("not an arn"), None);
    }

    #[test]
    fn plain_http_endpoints_need_the_flag() {
        let endpoints = [
            ("--aws-endpoint-url", "https://ecs.example"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ];
        let err = check_endpoints(endpoints, false).expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("http://127.0.0.1:5000"), "{text}");
        assert!(text.contains("AWS_ENDPOINT_URL"), "{text}");
        assert!(text.contains("--allow-insecure-endpoint"), "{text}");
        assert!(check_endpoints(endpoints, true).is_ok());
        assert!(check_endpoints([("x", "HTTPS://ecs.example")], false).is_ok());
        assert!(check_endpoints([("x", "HTTP://ecs.example")], false).is_err());
        assert!(check_endpoints([], false).is_ok());
    }

    #[test]
    fn client_errors_are_terminal_aws_errors() {
        let err: AwsError = ClientError::InvalidRoleArn("x".into()).into();
        assert!(err.is_terminal());
        assert_eq!(err.code, "InvalidRoleArn");
    }
}
