//! Shared helpers for integration tests against the test bed: a real kube-apiserver + etcd and
//! moto (with the ECS scheduler simulation), as started by `hack/sandbox up`.
//!
//! Each test gets its own namespace and its own AWS names, and runs its own operator instance
//! (the real controllers, in-process) scoped to that namespace, so tests run in parallel and
//! count the AWS calls of their own operator.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use ecs_operator::aws::AwsSettings;
use ecs_operator::aws::metrics::ApiCalls;
use ecs_operator::runtime::Config as OperatorConfig;
use ecs_operator::runtime::operator::{RunSettings, run_with_client};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How to reach the test bed.
#[derive(Clone, Debug)]
pub struct TestBed {
    pub kubeconfig: PathBuf,
    pub aws_endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

const HOW_TO_START: &str = "the test bed is not running. Start it with `hack/sandbox up` \
    (or run the README's test command, `hack/test`, which starts it), then run the tests again";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads `export NAME="value"` lines.
fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .filter_map(|rest| rest.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

impl TestBed {
    /// The test bed from the environment (a sourced env file) or from the sandbox's env
    /// file. Panics, saying how to start it, when there is none.
    pub fn get() -> &'static TestBed {
        static BED: OnceLock<TestBed> = OnceLock::new();
        BED.get_or_init(|| {
            let sandbox_dir = std::env::var("SANDBOX_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| repo_root().join(".sandbox"));
            let file = std::fs::read_to_string(sandbox_dir.join("env")).unwrap_or_default();
            let from_file = parse_env_file(&file);
            let lookup = |name: &str| std::env::var(name).ok().or_else(|| from_file.get(name).cloned());
            let (Some(kubeconfig), Some(aws_endpoint)) = (lookup("KUBECONFIG"), lookup("AWS_ENDPOINT_URL")) else {
                panic!("{HOW_TO_START} (no KUBECONFIG/AWS_ENDPOINT_URL in the environment or in {}/env)", sandbox_dir.display());
            };
            let bed = TestBed {
                kubeconfig: PathBuf::from(kubeconfig),
                aws_endpoint,
                region: lookup("AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
                access_key: lookup("AWS_ACCESS_KEY_ID").unwrap_or_else(|| "testing".into()),
                secret_key: lookup("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "testing".into()),
            };
            assert!(bed.kubeconfig.exists(), "{HOW_TO_START} (kubeconfig {} is missing)", bed.kubeconfig.display());
            bed
        })
    }

    pub async fn kube(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("{HOW_TO_START}: {e}"));
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{HOW_TO_START}: {e}"));
        let client = Client::try_from(config).unwrap_or_else(|e| panic!("{HOW_TO_START}: {e}"));
        if let Err(err) = client.apiserver_version().await {
            panic!("{HOW_TO_START}: kube-apiserver does not answer: {err}");
        }
        client
    }

    /// A client that impersonates `user` (the test bed's admin may impersonate).
    pub async fn kube_as(&self, user: &str) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("{HOW_TO_START}: {e}"));
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{HOW_TO_START}: {e}"));
        config.auth_info.impersonate = Some(user.to_string());
        Client::try_from(config).unwrap_or_else(|e| panic!("{HOW_TO_START}: {e}"))
    }

    pub fn aws_settings(&self) -> AwsSettings {
        AwsSettings {
            region: Some(self.region.clone()),
            endpoint_url: Some(self.aws_endpoint.clone()),
            credentials: Some(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "test-bed",
            )),
            // moto speaks plain HTTP.
            allow_insecure_endpoint: true,
            ..AwsSettings::default()
        }
    }

    /// An ECS client for assertions on the AWS side (not counted as operator calls).
    pub async fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.sdk_config().await)
    }
}

impl TestBed {
    async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()))
            .endpoint_url(&self.aws_endpoint)
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "test-bed",
            ))
            .load()
            .await
    }

    pub async fn servicediscovery(&self) -> aws_sdk_servicediscovery::Client {
        aws_sdk_servicediscovery::Client::new(&self.sdk_config().await)
    }

    pub async fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk_config().await)
    }

    pub async fn applicationautoscaling(&self) -> aws_sdk_applicationautoscaling::Client {
        aws_sdk_applicationautoscaling::Client::new(&self.sdk_config().await)
    }

    pub async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk_config().await)
    }

    pub async fn scheduler(&self) -> aws_sdk_scheduler::Client {
        aws_sdk_scheduler::Client::new(&self.sdk_config().await)
    }
}

/// A VPC with two subnets and a security group in moto's EC2, for awsvpc services.
pub struct Network {
    pub vpc: String,
    pub subnets: Vec<String>,
    pub security_group: String,
}

/// A fresh namespace (and AWS name suffix) for one test.
pub struct TestContext {
    pub bed: &'static TestBed,
    pub client: Client,
    pub namespace: String,
    /// Random suffix to make AWS names unique across tests and runs.
    pub suffix: String,
}

fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..6)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}

impl TestContext {
    pub async fn new(test: &str) -> Self {
        ecs_operator::runtime::install_crypto_provider();
        let bed = TestBed::get();
        let client = bed.kube().await;
        let suffix = random_suffix();
        let namespace = format!("t-{}-{suffix}", test.replace('_', "-"));
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": namespace }
        }))
        .expect("namespace manifest");
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .expect("create test namespace");
        Self {
            bed,
            client,
            namespace,
            suffix,
        }
    }

    /// Creates an ECS cluster named `<base>-<suffix>` and returns its name.
    pub async fn cluster(&self, base: &str) -> String {
        let name = self.aws_name(base);
        self.bed
            .ecs()
            .await
            .create_cluster()
            .cluster_name(&name)
            .send()
            .await
            .expect("create ECS cluster");
        name
    }

    /// Creates a VPC, two subnets and a security group.
    pub async fn network(&self) -> Network {
        let ec2 = self.bed.ec2().await;
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.20.0.0/16")
            .send()
            .await
            .expect("create VPC");
        let vpc_id = vpc
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        let mut subnets = Vec::new();
        for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
            let subnet = ec2
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(format!("10.20.{i}.0/24"))
                .availability_zone(*az)
                .send()
                .await
                .expect("create subnet");
            subnets.push(
                subnet
                    .subnet()
                    .and_then(|s| s.subnet_id())
                    .expect("subnet id")
                    .to_string(),
            );
        }
        let sg = ec2
            .create_security_group()
            .group_name(self.aws_name("sg"))
            .description("ecs-operator test")
            .vpc_id(&vpc_id)
            .send()
            .await
            .expect("create security group");
        Network {
            vpc: vpc_id,
            subnets,
            security_group: sg.group_id().expect("sg id").to_string(),
        }
    }

    /// Creates (or replaces) the AWSAccessGrant `grant-<namespace>` covering this test's
    /// namespace with the rest of its spec from `spec` (camelCase JSON), as a cluster
    /// administrator would.
    pub async fn grant(&self, spec: serde_json::Value) {
        let mut spec = spec;
        spec["namespaces"] = serde_json::json!([self.namespace]);
        let grant = serde_json::json!({
            "apiVersion": "ecs-operator.dev/v1alpha1",
            "kind": "AWSAccessGrant",
            "metadata": { "name": format!("grant-{}", self.namespace) },
            "spec": spec,
        });
        let api: Api<ecs_operator::api::AWSAccessGrant> = Api::all(self.client.clone());
        api.patch(
            &format!("grant-{}", self.namespace),
            &PatchParams::apply("integration-test").force(),
            &Patch::Apply(&grant),
        )
        .await
        .expect("apply AWSAccessGrant");
    }

    /// An AWS name unique to this test: `<base>-<suffix>`.
    pub fn aws_name(&self, base: &str) -> String {
        format!("{base}-{}", self.suffix)
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The API of a manifest's kind in the test namespace.
    fn dynamic_api(&self, types: &kube::core::TypeMeta) -> Api<DynamicObject> {
        let (group, version) = types
            .api_version
            .split_once('/')
            .unwrap_or(("", &types.api_version));
        let gvk = kube::core::GroupVersionKind::gvk(group, version, &types.kind);
        let plural = format!("{}s", types.kind.to_lowercase());
        let resource = kube::core::ApiResource::from_gvk_with_plural(&gvk, &plural);
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
    }

    /// Applies a manifest (YAML) in the test namespace with server-side apply, as kubectl does.
    pub async fn apply_yaml(&self, yaml: &str) -> Result<DynamicObject, kube::Error> {
        let mut obj: DynamicObject =
            serde_yaml_ng::from_str(yaml).expect("test manifest is valid YAML");
        obj.metadata.namespace = Some(self.namespace.clone());
        let types = obj.types.clone().expect("manifest has apiVersion and kind");
        let api = self.dynamic_api(&types);
        let name = obj.metadata.name.clone().expect("manifest has a name");
        api.patch(
            &name,
            &PatchParams::apply("integration-test").force(),
            &Patch::Apply(&obj),
        )
        .await
    }

    /// Applies a manifest and waits until the operator has reconciled the generation the
    /// apply produced (`status.observedGeneration` reached it), so that what a test asserts
    /// next is what the operator did about this spec, not what it had not got to yet.
    pub async fn apply_and_observe(&self, yaml: &str) -> DynamicObject {
        let applied = self.apply_yaml(yaml).await.expect("apply");
        self.observed(&applied).await;
        applied
    }

    /// Waits until `applied` (as returned by [`Self::apply_yaml`]) has condition `type_` True
    /// for its current generation, and returns it as it is then.
    pub async fn wait_condition(&self, applied: &DynamicObject, type_: &str) -> DynamicObject {
        let types = applied
            .types
            .clone()
            .expect("object has apiVersion and kind");
        let api = self.dynamic_api(&types);
        let name = applied.metadata.name.clone().expect("object has a name");
        wait_for(
            &format!("{} {name} {type_}", types.kind),
            Duration::from_secs(90),
            || async {
                let obj = api.get_opt(&name).await.expect("kube get")?;
                let status = &obj.data["status"];
                let observed = status["observedGeneration"].as_i64()?;
                let conditions = status["conditions"].as_array()?;
                let met = conditions
                    .iter()
                    .any(|c| c["type"] == type_ && c["status"] == "True");
                (met && Some(observed) == obj.metadata.generation).then_some(obj)
            },
        )
        .await
    }

    /// Waits until the operator has reconciled `applied`'s generation.
    pub async fn observed(&self, applied: &DynamicObject) {
        let types = applied
            .types
            .clone()
            .expect("object has apiVersion and kind");
        let api = self.dynamic_api(&types);
        let name = applied.metadata.name.clone().expect("object has a name");
        let generation = applied
            .metadata
            .generation
            .expect("object has a generation");
        wait_for(
            &format!("{} {name} observed at generation {generation}", types.kind),
            Duration::from_secs(60),
            || async {
                let obj = api.get_opt(&name).await.expect("kube get")?;
                let observed = obj.data["status"]["observedGeneration"].as_i64()?;
                (observed >= generation).then_some(())
            },
        )
        .await
    }

    /// Starts an operator for this namespace.
    pub async fn start_operator(&self) -> Operator {
        self.start_operator_with(OperatorConfig {
            resync_interval: Duration::from_secs(60),
            ..OperatorConfig::default()
        })
        .await
    }

    pub async fn start_operator_with(&self, config: OperatorConfig) -> Operator {
        self.start_operator_with_aws(config, self.bed.aws_settings())
            .await
    }

    /// Starts an operator for this namespace that talks to the apiserver with `client` (e.g.
    /// impersonating a service account with fewer rights).
    pub async fn start_operator_as(&self, client: Client) -> Operator {
        let settings = RunSettings {
            aws: self.bed.aws_settings(),
            config: OperatorConfig::default(),
            concurrency: 4,
            namespaces: vec![self.namespace.clone()],
            ..RunSettings::default()
        };
        let calls = ApiCalls::default();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run_with_client(client, settings, calls.clone(), stopped));
        Operator {
            calls,
            stop,
            task: Some(task),
        }
    }

    /// Starts an operator for this namespace with its own AWS settings (rate limits, ...).
    pub async fn start_operator_with_aws(
        &self,
        config: OperatorConfig,
        aws: AwsSettings,
    ) -> Operator {
        let settings = RunSettings {
            aws,
            config,
            concurrency: 4,
            namespaces: vec![self.namespace.clone()],
            ..RunSettings::default()
        };
        let calls = ApiCalls::default();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run_with_client(
            self.client.clone(),
            settings,
            calls.clone(),
            stopped,
        ));
        Operator {
            calls,
            stop,
            task: Some(task),
        }
    }
}

/// An operator instance running in this test.
pub struct Operator {
    pub calls: ApiCalls,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<Result<(), ecs_operator::runtime::operator::RunError>>>,
}

impl Operator {
    /// Stops the operator gracefully and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    }

    /// Waits until the operator's run ended by a panic (an armed crash point fired, see
    /// `ecs_operator::runtime::crash`) and returns the panic message; panics if it is still
    /// running after `timeout` or ended any other way.
    pub async fn crashed(mut self, timeout: Duration) -> String {
        let task = self.task.take().expect("operator running");
        let ended = tokio::time::timeout(timeout, task)
            .await
            .unwrap_or_else(|_| panic!("the operator did not crash within {timeout:?}"));
        match ended {
            Err(err) if err.is_panic() => {
                let payload = err.into_panic();
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            }
            other => panic!("the operator ended without crashing: {other:?}"),
        }
    }

    /// Kills the operator at once, like a crash: in-flight work is cut off.
    pub fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Appends the AWS operations this operator called to the file named by
/// `ECS_OPERATOR_OBSERVED_OPERATIONS` (set by `hack/test`), so that the IAM policy can be
/// checked against everything the integration tests saw the operator call.
fn record_observed_operations(calls: &ApiCalls) {
    let Ok(path) = std::env::var("ECS_OPERATOR_OBSERVED_OPERATIONS") else {
        return;
    };
    let lines: String = calls
        .snapshot()
        .keys()
        .map(|(service, operation, _)| format!("{service}:{operation}\n"))
        .collect();
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        use std::io::Write;
        let _ = file.write_all(lines.as_bytes());
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        record_observed_operations(&self.calls);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Gets an object, `None` when it does not exist.
pub async fn get_opt<K>(api: &Api<K>, name: &str) -> Option<K>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.expect("kube get")
}

/// Events (events.k8s.io) in the namespace with `reason`, as their notes.
pub async fn events_with_reason(ctx: &TestContext, reason: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = ctx.api();
    api.list(&Default::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.note.unwrap_or_default())
        .collect()
}

/// The condition of `type_` in a status's conditions, as (status, reason, message).
pub fn condition(
    conditions: &[ecs_operator::api::common::Condition],
    type_: &str,
) -> Option<(String, String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}
