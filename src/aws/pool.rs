//! One set of SDK clients per (Region, IAM role), created on first use and reused.
//!
//! Every client in the pool shares one HTTPS client (one connection pool), waits for the API
//! budget of its (account, Region) before each attempt, retries with the standard policy, and
//! carries the [`ApiCalls`] interceptor, so every attempt is both rate-limited and counted.
//!
//! Cross-account access assumes an IAM role with the operator's own credentials (the SDK's
//! default chain: environment, web identity/IRSA, EKS Pod Identity, shared profile). The
//! assumed-role credentials are cached by the SDK's identity cache and refreshed before they
//! expire; one provider per role is shared by every Region and service, so a role is assumed
//! once per session, not once per client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use tokio::sync::OnceCell;
use tracing::{debug, info, warn};

use super::budget::{
    Budget, RateLimitedHttpClient, default_https_client, retry_config, timeout_config,
};
use super::metrics::ApiCalls;
use super::{AwsClients, AwsSettings, ClientError, check_endpoints, is_region_name, role_account};

/// Session name of assumed-role sessions (visible in the target account's CloudTrail).
const SESSION_NAME: &str = "ecs-operator";
/// Budget key of the operator's own identity, whose account id may not be known yet.
const OWN_IDENTITY: &str = "default";
/// How long after a failed GetCallerIdentity the operator's own account is not asked again.
const OWN_ACCOUNT_RETRY: Duration = Duration::from_secs(300);

/// Clients per (Region, role); cheap to clone.
#[derive(Clone, Debug)]
pub struct ClientPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The loaded configuration: default chain credentials, default Region, endpoint, retry
    /// and timeouts.
    base: SdkConfig,
    default_region: String,
    https: SharedHttpClient,
    budget: Budget,
    calls: ApiCalls,
    /// STS with the operator's own credentials, in the default Region.
    sts: aws_sdk_sts::Client,
    clients: Mutex<HashMap<(String, Option<String>), AwsClients>>,
    roles: Mutex<HashMap<String, SharedCredentialsProvider>>,
    own_account: OnceCell<String>,
    /// When GetCallerIdentity last failed: it is not asked again for a while.
    own_account_failed: Mutex<Option<Instant>>,
}

/// Endpoint overrides the SDK would use, with where each came from.
fn configured_endpoints(settings: &AwsSettings, base: &SdkConfig) -> Vec<(String, String)> {
    let mut endpoints = Vec::new();
    if let Some(url) = &settings.endpoint_url {
        endpoints.push(("--aws-endpoint-url".to_string(), url.clone()));
    }
    if let Some(url) = base.endpoint_url() {
        endpoints.push((
            "AWS_ENDPOINT_URL or the shared config file".to_string(),
            url.to_string(),
        ));
    }
    // Service-specific overrides (AWS_ENDPOINT_URL_ECS, ...) apply when the clients are built.
    for (name, value) in std::env::vars() {
        if name.starts_with("AWS_ENDPOINT_URL_") {
            endpoints.push((name, value));
        }
    }
    endpoints
}

impl ClientPool {
    /// Loads the default configuration and checks it; clients are created on first use.
    pub async fn new(settings: &AwsSettings, calls: ApiCalls) -> Result<Self, ClientError> {
        if let Some(region) = &settings.region
            && !is_region_name(region)
        {
            return Err(ClientError::InvalidRegion(region.clone()));
        }
        let https = default_https_client();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry_config(settings.max_attempts))
            .timeout_config(timeout_config())
            // Upload stall protection counts the time a request waits for the client-side rate
            // limiter (its body is not sent meanwhile) and cuts it off after the grace period;
            // the retry then queues again behind its own spent token, so once the queue is
            // longer than the grace period no request with a body (RegisterTaskDefinition)
            // ever completes. Downloads stay protected.
            .stalled_stream_protection(
                aws_config::stalled_stream_protection::StalledStreamProtectionConfig::enabled()
                    .upload_enabled(false)
                    .build(),
            )
            // The credential chain's own calls (web identity, SSO, IMDS) share the connections.
            .http_client(https.clone());
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &settings.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(credentials) = &settings.credentials {
            loader = loader.credentials_provider(credentials.clone());
        }
        let base = loader.load().await;
        let endpoints = configured_endpoints(settings, &base);
        check_endpoints(
            endpoints.iter().map(|(o, u)| (o.as_str(), u.as_str())),
            settings.allow_insecure_endpoint,
        )?;
        let default_region = base
            .region()
            .map(|r| r.to_string())
            .ok_or(ClientError::NoRegion)?;
        let budget = Budget::new(settings.rate_limits.clone());
        let sts_http = RateLimitedHttpClient::new(
            https.clone(),
            budget.buckets(OWN_IDENTITY, &default_region),
            calls.clone(),
        );
        let sts_config = aws_sdk_sts::config::Builder::from(&base)
            .http_client(sts_http)
            .interceptor(calls.interceptor())
            .build();
        Ok(Self {
            inner: Arc::new(Inner {
                sts: aws_sdk_sts::Client::from_conf(sts_config),
                base,
                default_region,
                https,
                budget,
                calls,
                clients: Mutex::default(),
                roles: Mutex::default(),
                own_account: OnceCell::new(),
                own_account_failed: Mutex::default(),
            }),
        })
    }

    /// The Region of objects that do not name one.
    pub fn default_region(&self) -> &str {
        &self.inner.default_region
    }

    /// The call counters every client of the pool reports to.
    pub fn calls(&self) -> &ApiCalls {
        &self.inner.calls
    }

    /// The clients for the default Region and the operator's own identity (account id not
    /// resolved: see [`ClientPool::clients_for`]).
    pub fn default_clients(&self) -> AwsClients {
        self.cached(&self.inner.default_region, None)
    }

    /// The clients for `region` (default: the operator's Region) acting as `role` (default:
    /// the operator's own identity), with the account id when it is known.
    pub async fn clients_for(
        &self,
        region: Option<&str>,
        role: Option<&str>,
    ) -> Result<AwsClients, ClientError> {
        let region = region.unwrap_or(&self.inner.default_region);
        if !is_region_name(region) {
            return Err(ClientError::InvalidRegion(region.to_string()));
        }
        let account = match role {
            Some(role) => Some(
                role_account(role)
                    .ok_or_else(|| ClientError::InvalidRoleArn(role.to_string()))?
                    .to_string(),
            ),
            None => self.own_account().await,
        };
        let mut clients = self.cached(region, role);
        clients.account_id = account;
        Ok(clients)
    }

    /// The account of the operator's own identity (STS GetCallerIdentity, asked once; `None`
    /// while STS cannot be reached, asked again a few minutes later).
    pub async fn own_account(&self) -> Option<String> {
        if let Some(account) = self.inner.own_account.get() {
            return Some(account.clone());
        }
        let failed = *self
            .inner
            .own_account_failed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if failed.is_some_and(|at| at.elapsed() < OWN_ACCOUNT_RETRY) {
            return None;
        }
        let result = self
            .inner
            .own_account
            .get_or_try_init(|| async {
                let identity = self.inner.sts.get_caller_identity().send().await?;
                let account = identity.account().unwrap_or_default().to_string();
                info!(account = %account, "operator's own AWS account");
                Ok::<_, aws_sdk_sts::error::SdkError<_, _>>(account)
            })
            .await;
        match result {
            Ok(account) if !account.is_empty() => Some(account.clone()),
            Ok(_) => None,
            Err(err) => {
                warn!(error = %aws_smithy_types::error::display::DisplayErrorContext(&err), "could not learn the operator's own AWS account (STS GetCallerIdentity); status.awsAccountId stays unset for now");
                *self
                    .inner
                    .own_account_failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                None
            }
        }
    }

    fn cached(&self, region: &str, role: Option<&str>) -> AwsClients {
        let key = (region.to_string(), role.map(str::to_string));
        let mut clients = self.inner.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(key)
            .or_insert_with(|| self.build(region, role))
            .clone()
    }

    fn build(&self, region: &str, role: Option<&str>) -> AwsClients {
        let inner = &self.inner;
        let budget_key = role.and_then(role_account).unwrap_or(OWN_IDENTITY);
        let http = RateLimitedHttpClient::new(
            inner.https.clone(),
            inner.budget.buckets(budget_key, region),
            inner.calls.clone(),
        );
        let mut config = inner
            .base
            .to_builder()
            .region(Region::new(region.to_string()))
            .http_client(http);
        if let Some(role) = role {
            config = config.credentials_provider(self.role_credentials(role));
        }
        let config = config.build();
        let ecs = aws_sdk_ecs::config::Builder::from(&config)
            .interceptor(inner.calls.interceptor())
            .build();
        let servicediscovery = aws_sdk_servicediscovery::config::Builder::from(&config)
            .interceptor(inner.calls.interceptor())
            .build();
        let applicationautoscaling = aws_sdk_applicationautoscaling::config::Builder::from(&config)
            .interceptor(inner.calls.interceptor())
            .build();
        let cloudwatch = aws_sdk_cloudwatch::config::Builder::from(&config)
            .interceptor(inner.calls.interceptor())
            .build();
        let scheduler = aws_sdk_scheduler::config::Builder::from(&config)
            .interceptor(inner.calls.interceptor())
            .build();
        debug!(
            region,
            role = role.unwrap_or("<own identity>"),
            "created AWS clients"
        );
        AwsClients {
            region: region.to_string(),
            role_arn: role.map(str::to_string),
            account_id: None,
            ecs: aws_sdk_ecs::Client::from_conf(ecs),
            servicediscovery: aws_sdk_servicediscovery::Client::from_conf(servicediscovery),
            applicationautoscaling: aws_sdk_applicationautoscaling::Client::from_conf(
                applicationautoscaling,
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cloudwatch),
            scheduler: aws_sdk_scheduler::Client::from_conf(scheduler),
            calls: inner.calls.clone(),
        }
    }

    /// One provider per role: its cache partition is shared by every client using the role.
    fn role_credentials(&self, role: &str) -> SharedCredentialsProvider {
        let mut roles = self.inner.roles.lock().unwrap_or_else(|p| p.into_inner());
        roles
            .entry(role.to_string())
            .or_insert_with(|| {
                SharedCredentialsProvider::new(AssumeRole {
                    sts: self.inner.sts.clone(),
                    role_arn: role.to_string(),
                })
            })
            .clone()
    }
}

/// Credentials of an assumed role, from STS AssumeRole with the operator's own credentials.
/// (aws-config's `AssumeRoleProvider` builds an STS client of its own, which would escape
/// the call counters and the budget.) Caching and refresh are the SDK identity cache's job.
#[derive(Debug)]
struct AssumeRole {
    sts: aws_sdk_sts::Client,
    role_arn: String,
}

impl AssumeRole {
    async fn assume(&self) -> Result<Credentials, CredentialsError> {
        let output = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(SESSION_NAME)
            .send()
            .await
            .map_err(CredentialsError::provider_error)?;
        let credentials = output.credentials().ok_or_else(|| {
            CredentialsError::unhandled(format!(
                "STS AssumeRole of {} returned no credentials",
                self.role_arn
            ))
        })?;
        let expiry = SystemTime::try_from(*credentials.expiration()).ok();
        debug!(role = %self.role_arn, "assumed role");
        Ok(Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_string()),
            expiry,
            "ecs-operator-assume-role",
        ))
    }
}

impl ProvideCredentials for AssumeRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str, allow_insecure_endpoint: bool) -> AwsSettings {
        AwsSettings {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint.into()),
            credentials: Some(Credentials::new("AKID", "secret", None, None, "test")),
            allow_insecure_endpoint,
            ..AwsSettings::default()
        }
    }

    #[tokio::test]
    async fn plain_http_endpoint_is_refused_unless_allowed() {
        let err = ClientPool::new(&settings("http://127.0.0.1:1", false), ApiCalls::default())
            .await
            .expect_err("refused");
        assert!(matches!(err, ClientError::InsecureEndpoint { .. }), "{err}");
        assert!(
            ClientPool::new(&settings("http://127.0.0.1:1", true), ApiCalls::default())
                .await
                .is_ok()
        );
        assert!(
            ClientPool::new(&settings("https://127.0.0.1:1", false), ApiCalls::default())
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn clients_are_reused_per_region_and_role() {
        let pool = ClientPool::new(&settings("http://127.0.0.1:1", true), ApiCalls::default())
            .await
            .expect("pool");
        let role = "arn:aws:iam::111111111111:role/ecs-operator";
        let west = pool
            .clients_for(Some("eu-west-1"), Some(role))
            .await
            .expect("clients");
        assert_eq!(west.region, "eu-west-1");
        assert_eq!(west.account_id.as_deref(), Some("111111111111"));
        assert_eq!(west.role_arn.as_deref(), Some(role));
        assert_eq!(
            west.ecs.config().region().map(|r| r.as_ref()),
            Some("eu-west-1")
        );
        assert_eq!(pool.default_clients().region, "us-east-1");
        assert_eq!(pool.inner.clients.lock().unwrap().len(), 2);
        pool.clients_for(Some("eu-west-1"), Some(role))
            .await
            .expect("clients");
        assert_eq!(pool.inner.clients.lock().unwrap().len(), 2);
        assert_eq!(pool.inner.roles.lock().unwrap().len(), 1);
        assert!(matches!(
            pool.clients_for(Some("mars-1"), None).await,
            Err(ClientError::InvalidRegion(_))
        ));
        assert!(matches!(
            pool.clients_for(None, Some("arn:aws:iam::1:role/x")).await,
            Err(ClientError::InvalidRoleArn(_))
        ));
    }
}
