//! The account's AWS API budget, spent carefully.
//!
//! ECS throttles each account and Region with one token bucket per API category (see the
//! "Request throttling" table of the ECS API reference). The operator keeps its own token
//! bucket per category in front of each (account, Region), sized below ECS's so that other
//! tools in the account keep some headroom. Every HTTP attempt, retries included, waits here
//! for a token before it leaves the process: throttled work waits instead of failing.
//!
//! The buckets sit in an SDK HTTP client ([`RateLimitedHttpClient`]) because that is the one
//! place that sees every attempt and may wait (interceptors cannot await). The operation is
//! read from the request itself (`X-Amz-Target` for the awsJson protocols ECS and Cloud Map
//! use); requests without one (query protocols such as STS) use the `other` bucket.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use tokio::time::Instant;

use super::metrics::ApiCalls;

/// Share of ECS's published bucket the operator allows itself by default: close to the
/// bucket's throughput, with a tenth left to the other tools of the account.
pub const HEADROOM: f64 = 0.9;

/// ECS API categories, each with its own throttling bucket, plus `Other` for everything else
/// (other ECS operations and other services: Cloud Map, STS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    ServiceRead,
    ServiceModify,
    TaskDefinitionRead,
    TaskDefinitionModify,
    TaskDefinitionDelete,
    ClusterRead,
    ClusterModify,
    CapacityProviderModify,
    TagModify,
    TagRead,
    ClusterResourceRead,
    ServiceDeploymentRead,
    ListServicesByNamespace,
    Other,
}

impl Category {
    pub const ALL: [Category; 14] = [
        Category::ServiceRead,
        Category::ServiceModify,
        Category::TaskDefinitionRead,
        Category::TaskDefinitionModify,
        Category::TaskDefinitionDelete,
        Category::ClusterRead,
        Category::ClusterModify,
        Category::CapacityProviderModify,
        Category::TagModify,
        Category::TagRead,
        Category::ClusterResourceRead,
        Category::ServiceDeploymentRead,
        Category::ListServicesByNamespace,
        Category::Other,
    ];

    /// The name used in `--aws-rate-limits` and in metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Category::ServiceRead => "service-read",
            Category::ServiceModify => "service-modify",
            Category::TaskDefinitionRead => "task-definition-read",
            Category::TaskDefinitionModify => "task-definition-modify",
            Category::TaskDefinitionDelete => "task-definition-delete",
            Category::ClusterRead => "cluster-read",
            Category::ClusterModify => "cluster-modify",
            Category::CapacityProviderModify => "capacity-provider-modify",
            Category::TagModify => "tag-modify",
            Category::TagRead => "tag-read",
            Category::ClusterResourceRead => "cluster-resource-read",
            Category::ServiceDeploymentRead => "service-deployment-read",
            Category::ListServicesByNamespace => "list-services-by-namespace",
            Category::Other => "other",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The bucket of an ECS operation.
    pub fn of_ecs_operation(operation: &str) -> Self {
        match operation {
            "DescribeServices" | "ListServices" => Category::ServiceRead,
            "CreateService" | "UpdateService" | "DeleteService" => Category::ServiceModify,
            "DescribeTaskDefinition" | "ListTaskDefinitions" | "ListTaskDefinitionFamilies" => {
                Category::TaskDefinitionRead
            }
            "RegisterTaskDefinition" | "DeregisterTaskDefinition" => Category::TaskDefinitionModify,
            "DeleteTaskDefinitions" => Category::TaskDefinitionDelete,
            "DescribeClusters" | "ListClusters" => Category::ClusterRead,
            "CreateCluster" | "UpdateCluster" | "DeleteCluster" | "PutClusterCapacityProviders" => {
                Category::ClusterModify
            }
            "CreateCapacityProvider" | "UpdateCapacityProvider" | "DeleteCapacityProvider" => {
                Category::CapacityProviderModify
            }
            "TagResource" | "UntagResource" => Category::TagModify,
            "ListTagsForResource" => Category::TagRead,
            "DescribeTasks" | "ListTasks" => Category::ClusterResourceRead,
            "ListServiceDeployments" | "DescribeServiceDeployments" => {
                Category::ServiceDeploymentRead
            }
            "ListServicesByNamespace" => Category::ListServicesByNamespace,
            _ => Category::Other,
        }
    }

    /// ECS's published bucket (burst, sustained per second) for the category; `Other` is a
    /// generous allowance, not a published number.
    pub fn published(self) -> RateLimit {
        let (per_second, burst) = match self {
            Category::ServiceRead => (20.0, 100),
            Category::ServiceModify => (5.0, 50),
            Category::TaskDefinitionRead => (20.0, 50),
            Category::TaskDefinitionModify => (1.0, 20),
            Category::TaskDefinitionDelete => (1.0, 5),
            Category::ClusterRead => (20.0, 50),
            Category::ClusterModify => (1.0, 20),
            Category::CapacityProviderModify => (1.0, 10),
            Category::TagModify => (10.0, 20),
            Category::TagRead => (20.0, 50),
            Category::ClusterResourceRead => (20.0, 100),
            Category::ServiceDeploymentRead => (20.0, 50),
            Category::ListServicesByNamespace => (1.0, 10),
            Category::Other => (50.0, 100),
        };
        RateLimit { per_second, burst }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The category of an HTTP request to AWS, from its operation.
pub fn category_of(request: &HttpRequest) -> Category {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.split_once('.'));
    // Smithy RPC v2 puts the operation in the path: /service/<Service>/operation/<Operation>.
    let rpc_v2 = || {
        let path = request.uri().split('?').next().unwrap_or_default();
        let rest = path.split_once("/service/")?.1;
        rest.split_once("/operation/")
    };
    match target.or_else(rpc_v2) {
        Some((service, operation)) if service.starts_with("AmazonEC2ContainerService") => {
            Category::of_ecs_operation(operation)
        }
        _ => Category::Other,
    }
}

/// A token bucket's size: sustained rate and burst.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket capacity: requests allowed at once after a quiet period.
    pub burst: u32,
}

impl RateLimit {
    /// This limit scaled by `factor` (burst rounded down, at least 1).
    pub fn scaled(self, factor: f64) -> Self {
        let burst = (f64::from(self.burst) * factor).floor().max(1.0);
        Self {
            per_second: self.per_second * factor,
            // `burst` is at most the original u32 here.
            burst: burst as u32,
        }
    }
}

/// The buckets of every category: ECS's published sizes with [`HEADROOM`] by default.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimits {
    limits: BTreeMap<Category, RateLimit>,
}

impl Default for RateLimits {
    fn default() -> Self {
        let limits = Category::ALL
            .into_iter()
            .map(|c| {
                let published = c.published();
                let limit = if c == Category::Other {
                    published
                } else {
                    published.scaled(HEADROOM)
                };
                (c, limit)
            })
            .collect();
        Self { limits }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RateLimitsError {
    #[error(
        "invalid rate limit {0:?}: expected <category>=<per-second>/<burst>, e.g. service-modify=4/40"
    )]
    Syntax(String),
    #[error("unknown API category {name:?}: known categories are {known}")]
    UnknownCategory { name: String, known: String },
    #[error(
        "invalid rate limit {0:?}: the rate must be a positive number and the burst at least 1"
    )]
    OutOfRange(String),
}

impl RateLimits {
    pub fn get(&self, category: Category) -> RateLimit {
        self.limits
            .get(&category)
            .copied()
            .unwrap_or_else(|| category.published().scaled(HEADROOM))
    }

    pub fn set(&mut self, category: Category, limit: RateLimit) {
        self.limits.insert(category, limit);
    }

    /// These limits with overrides applied from `text`, a comma-separated list of
    /// `<category>=<per-second>/<burst>`, e.g. `service-modify=4/40,task-definition-modify=0.8/16`.
    pub fn with_overrides(mut self, text: &str) -> Result<Self, RateLimitsError> {
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| RateLimitsError::Syntax(item.to_string()))?;
            let category = Category::from_name(name.trim()).ok_or_else(|| {
                RateLimitsError::UnknownCategory {
                    name: name.trim().to_string(),
                    known: Category::ALL.map(Category::name).join(", "),
                }
            })?;
            let (rate, burst) = value
                .split_once('/')
                .ok_or_else(|| RateLimitsError::Syntax(item.to_string()))?;
            let per_second: f64 = rate
                .trim()
                .parse()
                .map_err(|_| RateLimitsError::Syntax(item.to_string()))?;
            let burst: u32 = burst
                .trim()
                .parse()
                .map_err(|_| RateLimitsError::Syntax(item.to_string()))?;
            if !per_second.is_finite() || per_second <= 0.0 || burst == 0 {
                return Err(RateLimitsError::OutOfRange(item.to_string()));
            }
            self.set(category, RateLimit { per_second, burst });
        }
        Ok(self)
    }
}

/// The defaults with the overrides in the text (see [`RateLimits::with_overrides`]).
impl FromStr for RateLimits {
    type Err = RateLimitsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RateLimits::default().with_overrides(text)
    }
}

/// Parses `--aws-rate-limits` (for clap's `value_parser`).
pub fn parse_rate_limits(text: &str) -> Result<RateLimits, String> {
    text.parse().map_err(|e: RateLimitsError| e.to_string())
}

/// An async token bucket. Callers reserve a token at once (the count may go negative, which
/// queues them in arrival order) and sleep until the refill covers their reservation.
#[derive(Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            state: Mutex::new(BucketState {
                tokens: f64::from(limit.burst),
                updated: Instant::now(),
            }),
        }
    }

    /// Takes one token, waiting for the refill when the bucket is empty; returns the wait.
    pub async fn acquire(&self) -> Duration {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }

    /// Reserves one token at `now` and returns how long until it is available.
    fn reserve(&self, now: Instant) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens =
            (state.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst));
        state.updated = now;
        state.tokens -= 1.0;
        if state.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.tokens / self.limit.per_second)
        }
    }
}

/// The buckets of one account and Region.
#[derive(Debug)]
pub struct Buckets {
    buckets: BTreeMap<Category, TokenBucket>,
}

impl Buckets {
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            buckets: Category::ALL
                .into_iter()
                .map(|c| (c, TokenBucket::new(limits.get(c))))
                .collect(),
        }
    }

    /// Waits for a token of `category`; returns the wait.
    pub async fn acquire(&self, category: Category) -> Duration {
        match self.buckets.get(&category) {
            Some(bucket) => bucket.acquire().await,
            None => Duration::ZERO,
        }
    }
}

/// (account, Region) → its buckets.
type BucketsByAccountRegion = HashMap<(String, String), Arc<Buckets>>;

/// One set of buckets per (account, Region), as ECS keeps them, created on first use.
#[derive(Clone, Debug)]
pub struct Budget {
    limits: RateLimits,
    buckets: Arc<Mutex<BucketsByAccountRegion>>,
}

impl Budget {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            buckets: Arc::default(),
        }
    }

    /// The buckets of `account` (an account id, or any stable name of an identity) in
    /// `region`.
    pub fn buckets(&self, account: &str, region: &str) -> Arc<Buckets> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            buckets
                .entry((account.to_string(), region.to_string()))
                .or_insert_with(|| Arc::new(Buckets::new(&self.limits))),
        )
    }
}

/// An SDK HTTP client that waits for the budget before each attempt, then hands the request
/// to the real client. Waits are recorded in [`ApiCalls`] per category.
#[derive(Clone, Debug)]
pub struct RateLimitedHttpClient {
    inner: SharedHttpClient,
    buckets: Arc<Buckets>,
    calls: ApiCalls,
}

impl RateLimitedHttpClient {
    pub fn new(inner: SharedHttpClient, buckets: Arc<Buckets>, calls: ApiCalls) -> Self {
        Self {
            inner,
            buckets,
            calls,
        }
    }
}

impl HttpClient for RateLimitedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RateLimitedConnector {
            inner: self.inner.http_connector(settings, components),
            buckets: Arc::clone(&self.buckets),
            calls: self.calls.clone(),
        })
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner
            .validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct RateLimitedConnector {
    inner: SharedHttpConnector,
    buckets: Arc<Buckets>,
    calls: ApiCalls,
}

impl HttpConnector for RateLimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let category = category_of(&request);
        let inner = self.inner.clone();
        let buckets = Arc::clone(&self.buckets);
        let calls = self.calls.clone();
        HttpConnectorFuture::new(async move {
            let waited = buckets.acquire(category).await;
            calls.record_wait(category.name(), waited);
            inner.call(request).await
        })
    }
}

/// The real HTTPS client under the buckets: the SDK's default (hyper, rustls with aws-lc,
/// proxy settings from the environment), built once so that every client set shares its
/// connection pool.
pub fn default_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(move |settings, runtime_components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = runtime_components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The SDK's standard retry: exponential backoff with full jitter on throttling errors, 5xx
/// and transient network errors, at most `max_attempts` attempts per call. Every attempt
/// goes through the buckets again.
pub fn retry_config(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts.max(1))
        .with_initial_backoff(Duration::from_secs(1))
        .with_max_backoff(Duration::from_secs(20))
}

/// Connect and read timeouts per attempt. There is deliberately no attempt or operation
/// timeout: those would also count the time spent waiting for the budget, and turn waiting
/// into failing.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(3100))
        .read_timeout(Duration::from_secs(30))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn limit(per_second: f64, burst: u32) -> RateLimit {
        RateLimit { per_second, burst }
    }

    #[test]
    fn defaults_leave_headroom_below_the_published_buckets() {
        let limits = RateLimits::default();
        assert_eq!(limits.get(Category::ServiceRead), limit(18.0, 90));
        assert_eq!(limits.get(Category::ServiceModify), limit(4.5, 45));
        let register = limits.get(Category::TaskDefinitionModify);
        assert!((register.per_second - 0.9).abs() < 1e-9);
        assert_eq!(register.burst, 18);
        assert_eq!(limits.get(Category::TaskDefinitionDelete).burst, 4);
        assert_eq!(limits.get(Category::ListServicesByNamespace).burst, 9);
        assert_eq!(limits.get(Category::Other), limit(50.0, 100));
    }

    #[test]
    fn overrides_are_parsed_and_checked() {
        let limits: RateLimits = "service-modify=4/40, task-definition-modify=0.5/10"
            .parse()
            .expect("valid");
        assert_eq!(limits.get(Category::ServiceModify), limit(4.0, 40));
        assert_eq!(limits.get(Category::TaskDefinitionModify), limit(0.5, 10));
        assert_eq!(
            limits.get(Category::ServiceRead),
            RateLimits::default().get(Category::ServiceRead)
        );
        assert_eq!("".parse::<RateLimits>(), Ok(RateLimits::default()));
        assert!(matches!(
            "service-write=1/1".parse::<RateLimits>(),
            Err(RateLimitsError::UnknownCategory { .. })
        ));
        assert!(matches!(
            "service-modify=4".parse::<RateLimits>(),
            Err(RateLimitsError::Syntax(_))
        ));
        assert!(matches!(
            "service-modify=0/10".parse::<RateLimits>(),
            Err(RateLimitsError::OutOfRange(_))
        ));
        assert!(matches!(
            "service-modify=1/0".parse::<RateLimits>(),
            Err(RateLimitsError::OutOfRange(_))
        ));
        assert!(parse_rate_limits("nope").unwrap_err().contains("expected"));
    }

    #[test]
    fn operations_map_to_their_ecs_bucket() {
        assert_eq!(
            Category::of_ecs_operation("DescribeServices"),
            Category::ServiceRead
        );
        assert_eq!(
            Category::of_ecs_operation("RegisterTaskDefinition"),
            Category::TaskDefinitionModify
        );
        assert_eq!(
            Category::of_ecs_operation("DeleteTaskDefinitions"),
            Category::TaskDefinitionDelete
        );
        assert_eq!(
            Category::of_ecs_operation("PutClusterCapacityProviders"),
            Category::ClusterModify
        );
        assert_eq!(
            Category::of_ecs_operation("ListTagsForResource"),
            Category::TagRead
        );
        assert_eq!(Category::of_ecs_operation("RunTask"), Category::Other);
        for c in Category::ALL {
            assert_eq!(Category::from_name(c.name()), Some(c));
        }
    }

    fn request(target: Option<&str>, uri: &str) -> HttpRequest {
        let mut request = HttpRequest::new(SdkBody::empty());
        if let Some(target) = target {
            request
                .headers_mut()
                .insert("X-Amz-Target", target.to_string());
        }
        request.set_uri(uri).expect("uri");
        request
    }

    #[test]
    fn requests_are_categorised_by_service_and_operation() {
        let ecs = |op: &str| {
            category_of(&request(
                Some(&format!("AmazonEC2ContainerServiceV20141113.{op}")),
                "https://ecs.us-east-1.amazonaws.com/",
            ))
        };
        assert_eq!(ecs("UpdateService"), Category::ServiceModify);
        assert_eq!(ecs("DescribeTasks"), Category::ClusterResourceRead);
        // Cloud Map's CreateService is not ECS's.
        assert_eq!(
            category_of(&request(
                Some("Route53AutoNaming_v20170314.CreateService"),
                "https://servicediscovery.us-east-1.amazonaws.com/"
            )),
            Category::Other
        );
        assert_eq!(
            category_of(&request(None, "https://sts.amazonaws.com/")),
            Category::Other
        );
        assert_eq!(
            category_of(&request(
                None,
                "https://ecs.example/service/AmazonEC2ContainerServiceV20141113/operation/ListServices"
            )),
            Category::ServiceRead
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_allows_its_burst_then_its_rate() {
        let bucket = TokenBucket::new(limit(2.0, 5));
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(bucket.acquire().await, Duration::ZERO);
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst does not wait");
        // Then one token every 500 ms: the caller waits instead of failing.
        for i in 1..=4u32 {
            let waited = bucket.acquire().await;
            assert_eq!(waited, Duration::from_millis(500));
            assert_eq!(start.elapsed(), Duration::from_millis(500) * i);
        }
        // A quiet period refills the bucket up to the burst, not beyond.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let quiet = Instant::now();
        for _ in 0..5 {
            bucket.acquire().await;
        }
        assert_eq!(quiet.elapsed(), Duration::ZERO);
        assert_eq!(bucket.acquire().await, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_are_served_at_the_rate_in_order() {
        let bucket = Arc::new(TokenBucket::new(limit(1.0, 1)));
        let start = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let bucket = Arc::clone(&bucket);
                tokio::spawn(async move {
                    bucket.acquire().await;
                    start.elapsed()
                })
            })
            .collect();
        let mut done = Vec::new();
        for task in tasks {
            done.push(task.await.expect("task"));
        }
        done.sort();
        assert_eq!(
            done,
            vec![
                Duration::ZERO,
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(3)
            ]
        );
    }

    fn ecs_response(status: u16, error: Option<&str>, body: &str) -> HttpResponse {
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).expect("status"),
            SdkBody::from(body.to_string()),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        if let Some(code) = error {
            response
                .headers_mut()
                .insert("x-amzn-errortype", code.to_string());
        }
        response
    }

    /// The SDK client as the pool builds it (standard retry, the budget in front of the HTTP
    /// client, the call counter), over recorded responses.
    #[tokio::test(start_paused = true)]
    async fn retries_back_off_on_throttling_and_5xx_and_each_attempt_waits_for_a_token() {
        use aws_credential_types::Credentials;
        use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};

        let responses = [
            ecs_response(
                400,
                Some("ThrottlingException"),
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            ),
            ecs_response(
                503,
                Some("ServerException"),
                r#"{"__type":"ServerException","message":"Service unavailable"}"#,
            ),
            ecs_response(200, None, r#"{"services":[],"failures":[]}"#),
        ];
        let replay = StaticReplayClient::new(
            responses
                .into_iter()
                .map(|r| ReplayEvent::new(HttpRequest::new(SdkBody::empty()), r))
                .collect(),
        );
        let calls = ApiCalls::default();
        let budget = Budget::new(
            RateLimits::default()
                .with_overrides("service-read=1/1")
                .expect("limits"),
        );
        let http = RateLimitedHttpClient::new(
            SharedHttpClient::new(replay.clone()),
            budget.buckets("default", "us-east-1"),
            calls.clone(),
        );
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"))
            .retry_config(retry_config(3))
            .timeout_config(timeout_config())
            .http_client(http)
            .interceptor(calls.interceptor())
            .build();
        let ecs = aws_sdk_ecs::Client::from_conf(config);

        let start = Instant::now();
        let described = ecs
            .describe_services()
            .cluster("c")
            .services("s")
            .send()
            .await;
        assert!(described.is_ok(), "{described:?}");
        assert_eq!(replay.actual_requests().count(), 3);
        let counts = calls.snapshot();
        let outcome = |o: &str| {
            counts
                .get(&(
                    "ECS".to_string(),
                    "DescribeServices".to_string(),
                    o.to_string(),
                ))
                .copied()
                .unwrap_or_default()
        };
        assert_eq!(
            (
                outcome("throttled"),
                outcome("server_error"),
                outcome("success")
            ),
            (1, 1, 1),
            "{counts:?}"
        );
        // Three attempts through a 1/s bucket with a burst of 1: retries are rate-limited too.
        let waits = calls.limiter_waits();
        assert_eq!(waits["service-read"].acquired, 3);
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn categories_and_regions_are_independent() {
        let limits = RateLimits::default()
            .with_overrides("task-definition-modify=1/2")
            .expect("valid");
        let budget = Budget::new(limits);
        let east = budget.buckets("default", "us-east-1");
        let start = Instant::now();
        east.acquire(Category::TaskDefinitionModify).await;
        east.acquire(Category::TaskDefinitionModify).await;
        // The register bucket is empty: reads, other Regions and other accounts do not wait.
        assert_eq!(
            east.acquire(Category::TaskDefinitionRead).await,
            Duration::ZERO
        );
        let west = budget.buckets("default", "eu-west-1");
        assert_eq!(
            west.acquire(Category::TaskDefinitionModify).await,
            Duration::ZERO
        );
        let other_account = budget.buckets("111111111111", "us-east-1");
        assert_eq!(
            other_account.acquire(Category::TaskDefinitionModify).await,
            Duration::ZERO
        );
        assert_eq!(start.elapsed(), Duration::ZERO);
        // The same (account, Region) shares its buckets.
        let again = budget.buckets("default", "us-east-1");
        assert_eq!(
            again.acquire(Category::TaskDefinitionModify).await,
            Duration::from_secs(1)
        );
    }
}
