//! AWS clients and the translation between our types and the SDK's: one file per AWS
//! resource family, plus error classification.

pub mod ecs_service;
pub mod ecs_task_definition;
pub mod error;
pub mod metrics;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;

use self::metrics::ApiCalls;

/// The SDK clients one reconcile needs, for one Region.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub region: String,
    pub ecs: aws_sdk_ecs::Client,
    pub servicediscovery: aws_sdk_servicediscovery::Client,
    /// Every call attempt made through these clients.
    pub calls: ApiCalls,
}

/// Where and how to reach AWS.
#[derive(Clone, Debug, Default)]
pub struct AwsSettings {
    /// Region; when unset the SDK's chain decides (AWS_REGION, profile).
    pub region: Option<String>,
    /// Endpoint override (the SDK's standard `AWS_ENDPOINT_URL` also works).
    pub endpoint_url: Option<String>,
    /// Explicit credentials for programs that embed the operator; the binary always uses the
    /// SDK's default chain.
    pub credentials: Option<Credentials>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no AWS Region configured: set --aws-region or AWS_REGION")]
    NoRegion,
}

impl AwsClients {
    /// Builds clients from the default credential chain (environment, web identity, EKS Pod
    /// Identity, shared profile) and the settings.
    pub async fn new(settings: &AwsSettings, calls: ApiCalls) -> Result<Self, ClientError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &settings.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(credentials) = &settings.credentials {
            loader = loader.credentials_provider(credentials.clone());
        }
        let config = loader.load().await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or(ClientError::NoRegion)?;
        let ecs = aws_sdk_ecs::config::Builder::from(&config)
            .interceptor(calls.interceptor())
            .build();
        let servicediscovery = aws_sdk_servicediscovery::config::Builder::from(&config)
            .interceptor(calls.interceptor())
            .build();
        Ok(Self {
            region,
            ecs: aws_sdk_ecs::Client::from_conf(ecs),
            servicediscovery: aws_sdk_servicediscovery::Client::from_conf(servicediscovery),
            calls,
        })
    }
}
