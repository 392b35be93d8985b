//! Reliability: AWS faults, operator crashes, an AWS outage and resources deleted by hand in
//! AWS. Nothing is lost, nothing is duplicated. See docs/reliability.md for the scenarios, the
//! figures measured and how to run the full-size versions (`RELIABILITY_SCALE=full`).
//!
//! Tests that inject faults start their own fault proxy (hack/faultproxy) in front of moto, so
//! they run the same with or without the sandbox's `--fault-proxy`, and never change the
//! configuration of a proxy other tests share. Assertions on the AWS side go to moto directly.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_ecs::types::{ServiceField, TaskDefinitionStatus};
use aws_sdk_servicediscovery::types::{FilterCondition, ServiceFilter, ServiceFilterName};
use ecs_operator::api::cloud_map_namespace::CloudMapNamespace;
use ecs_operator::api::{ECSService, TaskDefinition};
use ecs_operator::aws::AwsSettings;
use ecs_operator::runtime::Config;
use kube::api::{DeleteParams, ListParams};
use rand::Rng;
use serde_json::{Value, json};
use support::{Network, TestBed, TestContext, condition, get_opt, wait_for};

// ---------------------------------------------------------------------------------------------
// Scale, sandbox and proxy helpers
// ---------------------------------------------------------------------------------------------

fn full_scale() -> bool {
    std::env::var("RELIABILITY_SCALE").is_ok_and(|v| v == "full")
}

/// `var` from the environment, else the CI or the full-size default.
fn scaled(var: &str, ci: usize, full: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full_scale() { full } else { ci })
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A variable from the environment or from the sandbox's env file.
fn sandbox_var(name: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name) {
        return Some(v);
    }
    let dir = std::env::var("SANDBOX_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".sandbox"));
    let text = std::fs::read_to_string(dir.join("env")).ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

/// moto itself, bypassing any proxy.
fn moto_url(bed: &TestBed) -> String {
    sandbox_var("MOTO_URL").unwrap_or_else(|| bed.aws_endpoint.clone())
}

async fn moto_sdk(bed: &TestBed) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(bed.region.clone()))
        .endpoint_url(moto_url(bed))
        .credentials_provider(Credentials::new(
            &bed.access_key,
            &bed.secret_key,
            None,
            None,
            "reliability-test",
        ))
        .load()
        .await
}

async fn moto_ecs(bed: &TestBed) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&moto_sdk(bed).await)
}

async fn moto_cloud_map(bed: &TestBed) -> aws_sdk_servicediscovery::Client {
    aws_sdk_servicediscovery::Client::new(&moto_sdk(bed).await)
}

/// The operator's AWS settings with another endpoint.
fn aws_via(bed: &TestBed, endpoint: &str) -> AwsSettings {
    AwsSettings {
        endpoint_url: Some(endpoint.to_string()),
        ..bed.aws_settings()
    }
}

/// A minimal HTTP/1.0 exchange with a loopback server: (status, body).
fn http(url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = TcpStream::connect(&host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

/// A fault proxy of this test's own, in front of moto.
struct Proxy {
    child: Child,
    url: String,
}

impl Proxy {
    fn start(bed: &TestBed) -> Proxy {
        let script = repo_root().join("hack/faultproxy/faultproxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--upstream", &moto_url(bed), "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hack/faultproxy/faultproxy.py (python3 >= 3.11)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("proxy prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected proxy output {line:?}"));
        Proxy {
            child,
            url: format!("http://{addr}"),
        }
    }

    fn configure(&self, config: Value) {
        let (status, body) = http(&self.url, "PUT", "/_faults/config", &config.to_string());
        assert_eq!(status, 200, "fault proxy refused {config}: {body}");
    }

    fn reset_counts(&self) {
        http(&self.url, "POST", "/_faults/reset", "");
    }

    /// (requests, injected faults) so far.
    fn counts(&self) -> (u64, u64) {
        let (_, body) = http(&self.url, "GET", "/_faults/counts", "");
        let v: Value = serde_json::from_str(&body).expect("counts JSON");
        let sum = |key: &str| {
            v[key]
                .as_object()
                .map(|m| m.values().filter_map(Value::as_u64).sum())
                .unwrap_or(0)
        };
        (sum("requests"), sum("faults"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Manifests and checks
// ---------------------------------------------------------------------------------------------

fn task_definition(name: &str, family: &str, image: &str, policy: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: TaskDefinition
metadata:
  name: {name}
spec:
  family: {family}
  requiresCompatibilities: [FARGATE]
  networkMode: awsvpc
  cpu: "256"
  memory: "512"
  deletionPolicy: {policy}
  containerDefinitions:
    - name: app
      image: {image}
      portMappings:
        - containerPort: 8080
"#
    )
}

fn service(
    name: &str,
    td: &str,
    cluster: &str,
    net: &Network,
    policy: &str,
    extra: &str,
) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSService
metadata:
  name: {name}
spec:
  cluster: {cluster}
  taskDefinitionRef:
    name: {td}
  desiredCount: 1
  launchType: FARGATE
  deletionPolicy: {policy}
  networkConfiguration:
    awsvpcConfiguration:
      subnets: [{s0}]
      securityGroups: [{sg}]
{extra}
"#,
        s0 = net.subnets[0],
        sg = net.security_group
    )
}

const DISCOVERY: &str = "  serviceDiscovery:\n    namespaceRef:\n      name: sd\n    dnsConfig:\n      dnsRecords:\n        - type: A\n          ttl: 10\n    healthCheckCustomConfig:\n      failureThreshold: 1\n";

fn cloud_map_namespace(aws_name: &str, vpc: &str) -> String {
    format!(
        "apiVersion: ecs-operator.dev/v1alpha1\nkind: CloudMapNamespace\nmetadata:\n  name: sd\nspec:\n  name: {aws_name}\n  type: DNS_PRIVATE\n  vpc: {vpc}\n"
    )
}

fn is_ready<S>(
    generation: Option<i64>,
    status: Option<&S>,
    parts: impl Fn(&S) -> (&[ecs_operator::api::common::Condition], Option<i64>),
) -> bool {
    status.is_some_and(|s| {
        let (conditions, observed) = parts(s);
        observed == generation
            && condition(conditions, "Ready").is_some_and(|(status, _, _)| status == "True")
    })
}

/// Names of the TaskDefinitions and ECSServices not Ready for their generation, and the
/// transient AWS error conditions seen right now (kind/name: reason: message).
async fn not_ready(ctx: &TestContext) -> (Vec<String>, Vec<String>) {
    let mut waiting = Vec::new();
    let mut errors = Vec::new();
    let tds = ctx
        .api::<TaskDefinition>()
        .list(&ListParams::default())
        .await
        .expect("list");
    for td in tds {
        let name = td.metadata.name.clone().unwrap_or_default();
        if !is_ready(td.metadata.generation, td.status.as_ref(), |s| {
            (&s.conditions, s.observed_generation)
        }) {
            waiting.push(format!("TaskDefinition/{name}"));
        }
        if let Some((st, reason, msg)) = td
            .status
            .as_ref()
            .and_then(|s| condition(&s.conditions, "Ready"))
            && st == "False"
            && (reason == "AWSError" || reason == "Throttled")
        {
            errors.push(format!("TaskDefinition/{name}: {reason}: {msg}"));
        }
    }
    let svcs = ctx
        .api::<ECSService>()
        .list(&ListParams::default())
        .await
        .expect("list");
    for svc in svcs {
        let name = svc.metadata.name.clone().unwrap_or_default();
        if !is_ready(svc.metadata.generation, svc.status.as_ref(), |s| {
            (&s.conditions, s.observed_generation)
        }) {
            waiting.push(format!("ECSService/{name}"));
        }
        if let Some((st, reason, msg)) = svc
            .status
            .as_ref()
            .and_then(|s| condition(&s.conditions, "Ready"))
            && st == "False"
            && (reason == "AWSError" || reason == "Throttled")
        {
            errors.push(format!("ECSService/{name}: {reason}: {msg}"));
        }
    }
    (waiting, errors)
}

/// Waits until every TaskDefinition and ECSService of the namespace is Ready; returns the AWS
/// error conditions seen on the way.
async fn all_ready(ctx: &TestContext, timeout: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        let (waiting, errors) = not_ready(ctx).await;
        seen.extend(errors);
        if waiting.is_empty() {
            return seen;
        }
        assert!(
            start.elapsed() < timeout,
            "not Ready after {timeout:?}: {waiting:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// ECS services of the cluster, by their owner uid tag: uid -> (name, status).
async fn ecs_services_by_owner(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
) -> BTreeMap<String, Vec<(String, String)>> {
    let mut arns = Vec::new();
    let mut next = None;
    loop {
        let out = ecs
            .list_services()
            .cluster(cluster)
            .set_next_token(next)
            .send()
            .await
            .expect("ListServices");
        arns.extend(out.service_arns().iter().cloned());
        next = out.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    let mut owners: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for chunk in arns.chunks(10) {
        let out = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .include(ServiceField::Tags)
            .send()
            .await
            .expect("DescribeServices");
        for s in out.services() {
            let uid = s
                .tags()
                .iter()
                .find(|t| t.key() == Some("ecs-operator.dev/uid"))
                .and_then(|t| t.value())
                .unwrap_or("(untagged)")
                .to_string();
            owners.entry(uid).or_default().push((
                s.service_name().unwrap_or_default().to_string(),
                s.status().unwrap_or_default().to_string(),
            ));
        }
    }
    owners
}

/// Revisions of a family in moto: (ACTIVE, INACTIVE).
async fn revisions(ecs: &aws_sdk_ecs::Client, family: &str) -> (usize, usize) {
    let mut counts = [0usize; 2];
    for (i, status) in [TaskDefinitionStatus::Active, TaskDefinitionStatus::Inactive]
        .into_iter()
        .enumerate()
    {
        let out = ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(status)
            .send()
            .await
            .expect("ListTaskDefinitions");
        // family_prefix is a prefix: keep this family's ARNs only (`.../family:N`).
        counts[i] = out
            .task_definition_arns()
            .iter()
            .filter(|arn| {
                arn.rsplit_once('/')
                    .and_then(|(_, fr)| fr.rsplit_once(':'))
                    .is_some_and(|(f, _)| f == family)
            })
            .count();
    }
    (counts[0], counts[1])
}

fn uid_of<K: kube::Resource>(obj: &K) -> String {
    obj.meta().uid.clone().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// 1. 30 % AWS faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn thirty_percent_aws_faults_converge_without_duplicates() {
    let pairs = scaled("RELIABILITY_PAIRS", 20, 50);
    let ctx = TestContext::new("rel-faults").await;
    let cluster = ctx.cluster("c").await;
    let net = ctx.network().await;
    let proxy = Proxy::start(ctx.bed);
    proxy.configure(json!({"seed": 42, "default": {"rate": 0.3}}));
    let operator = ctx
        .start_operator_with_aws(
            Config {
                resync_interval: Duration::from_secs(30),
                ..Config::default()
            },
            aws_via(ctx.bed, &proxy.url),
        )
        .await;

    ctx.apply_yaml(&cloud_map_namespace(
        &format!("{}.internal", ctx.aws_name("rel")),
        &net.vpc,
    ))
    .await
    .expect("apply CloudMapNamespace");
    let mut with_discovery = 0;
    for i in 0..pairs {
        let discovery = if i % 4 == 0 { DISCOVERY } else { "" };
        with_discovery += usize::from(i % 4 == 0);
        ctx.apply_yaml(&task_definition(
            &format!("td-{i}"),
            &ctx.aws_name(&format!("f{i}")),
            "nginx:1.27",
            "Delete",
        ))
        .await
        .expect("apply TaskDefinition");
        ctx.apply_yaml(&service(
            &format!("svc-{i}"),
            &format!("td-{i}"),
            &cluster,
            &net,
            "Delete",
            discovery,
        ))
        .await
        .expect("apply ECSService");
    }

    let started = Instant::now();
    let errors_seen = all_ready(&ctx, Duration::from_secs(240)).await;
    let took = started.elapsed();
    let (requests, faults) = proxy.counts();
    println!(
        "faults: {pairs} pairs ({with_discovery} with discovery) Ready in {took:?}; {requests} AWS requests, {faults} faults injected; {} error conditions observed, e.g. {:?}",
        errors_seen.len(),
        errors_seen.first()
    );
    assert!(faults > 0, "the proxy injected faults");
    assert!(
        !errors_seen.is_empty(),
        "conditions show AWS errors while they last"
    );

    let ecs = moto_ecs(ctx.bed).await;
    let owners = ecs_services_by_owner(&ecs, &cluster).await;
    let svcs = ctx
        .api::<ECSService>()
        .list(&ListParams::default())
        .await
        .expect("list");
    assert_eq!(
        owners.len(),
        pairs,
        "one ECS service per ECSService: {owners:?}"
    );
    for svc in &svcs {
        let found = owners.get(&uid_of(svc)).cloned().unwrap_or_default();
        assert_eq!(found.len(), 1, "{:?}: {found:?}", svc.metadata.name);
    }
    for i in 0..pairs {
        let family = ctx.aws_name(&format!("f{i}"));
        assert_eq!(
            revisions(&ecs, &family).await,
            (1, 0),
            "{family}: one revision, registered once"
        );
    }
    let ns_id = get_opt(&ctx.api::<CloudMapNamespace>(), "sd")
        .await
        .and_then(|n| n.status)
        .and_then(|s| s.namespace_id)
        .expect("namespace id");
    let filter = ServiceFilter::builder()
        .name(ServiceFilterName::NamespaceId)
        .values(&ns_id)
        .condition(FilterCondition::Eq)
        .build()
        .expect("filter");
    let listed = moto_cloud_map(ctx.bed)
        .await
        .list_services()
        .filters(filter)
        .max_results(100)
        .send()
        .await
        .expect("ListServices");
    let names: Vec<_> = listed.services().iter().filter_map(|s| s.name()).collect();
    let unique: BTreeSet<_> = names.iter().collect();
    assert_eq!(names.len(), with_discovery, "Cloud Map services: {names:?}");
    assert_eq!(unique.len(), names.len(), "no duplicate Cloud Map service");
    operator.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. kill -9 at random moments during create, update and delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn operator_killed_at_random_moments_loses_and_duplicates_nothing() {
    let resources = scaled("RELIABILITY_CRASH_RESOURCES", 6, 20);
    let rounds = scaled("RELIABILITY_CRASH_ROUNDS", 4, 20).max(2);
    let ctx = TestContext::new("rel-crash").await;
    let cluster = ctx.cluster("c").await;
    let net = ctx.network().await;
    let moto = moto_url(ctx.bed);
    let config = || Config {
        resync_interval: Duration::from_secs(30),
        ..Config::default()
    };
    let policy = |i: usize| {
        if i.is_multiple_of(2) {
            "Delete"
        } else {
            "Retain"
        }
    };
    let mut kills = Vec::new();
    let mut duplicates: Vec<String> = Vec::new();

    // Round 0 creates, later rounds update (a new image: a new revision and a rollout).
    for round in 0..rounds {
        for i in 0..resources {
            ctx.apply_yaml(&task_definition(
                &format!("td-{i}"),
                &ctx.aws_name(&format!("f{i}")),
                &format!("nginx:1.{round}"),
                policy(i),
            ))
            .await
            .expect("apply TaskDefinition");
            if round == 0 {
                ctx.apply_yaml(&service(
                    &format!("svc-{i}"),
                    &format!("td-{i}"),
                    &cluster,
                    &net,
                    policy(i),
                    "",
                ))
                .await
                .expect("apply ECSService");
            }
        }
        let operator = ctx
            .start_operator_with_aws(config(), aws_via(ctx.bed, &moto))
            .await;
        let delay = rand::rng().random_range(0..2000u64);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        operator.kill();
        kills.push(delay);
        let operator = ctx
            .start_operator_with_aws(config(), aws_via(ctx.bed, &moto))
            .await;
        all_ready(&ctx, Duration::from_secs(120)).await;
        // Every service runs its TaskDefinition's current revision.
        for i in 0..resources {
            let td_arn = get_opt(&ctx.api::<TaskDefinition>(), &format!("td-{i}"))
                .await
                .and_then(|t| t.status)
                .and_then(|s| s.task_definition_arn);
            let svc_arn = get_opt(&ctx.api::<ECSService>(), &format!("svc-{i}"))
                .await
                .and_then(|t| t.status)
                .and_then(|s| s.task_definition_arn);
            assert_eq!(svc_arn, td_arn, "round {round}: svc-{i} runs td-{i}");
        }
        operator.stop().await;
    }

    let ecs = moto_ecs(ctx.bed).await;
    let svcs = ctx
        .api::<ECSService>()
        .list(&ListParams::default())
        .await
        .expect("list");
    let uids: BTreeMap<String, String> = svcs
        .iter()
        .map(|s| (s.metadata.name.clone().unwrap_or_default(), uid_of(s)))
        .collect();
    let owners = ecs_services_by_owner(&ecs, &cluster).await;
    assert_eq!(owners.len(), resources, "{owners:?}");
    assert!(owners.values().all(|v| v.len() == 1), "{owners:?}");

    // Delete everything (what namespace deletion does to each object), killed once more.
    let dp = DeleteParams::default();
    for i in 0..resources {
        ctx.api::<ECSService>()
            .delete(&format!("svc-{i}"), &dp)
            .await
            .expect("delete");
        ctx.api::<TaskDefinition>()
            .delete(&format!("td-{i}"), &dp)
            .await
            .expect("delete");
    }
    let operator = ctx
        .start_operator_with_aws(config(), aws_via(ctx.bed, &moto))
        .await;
    let delay = rand::rng().random_range(0..2000u64);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    operator.kill();
    kills.push(delay);
    let operator = ctx
        .start_operator_with_aws(config(), aws_via(ctx.bed, &moto))
        .await;
    wait_for(
        "every object gone (no finalizer stuck)",
        Duration::from_secs(120),
        || async {
            let tds = ctx
                .api::<TaskDefinition>()
                .list(&ListParams::default())
                .await
                .ok()?;
            let svcs = ctx
                .api::<ECSService>()
                .list(&ListParams::default())
                .await
                .ok()?;
            (tds.items.is_empty() && svcs.items.is_empty()).then_some(())
        },
    )
    .await;
    operator.stop().await;

    let owners = ecs_services_by_owner(&ecs, &cluster).await;
    for i in 0..resources {
        let uid = &uids[&format!("svc-{i}")];
        let states: Vec<String> = owners
            .get(uid)
            .map(|v| v.iter().map(|(_, s)| s.clone()).collect())
            .unwrap_or_default();
        let active = states.iter().filter(|s| *s == "ACTIVE").count();
        if policy(i) == "Retain" {
            assert_eq!(
                active, 1,
                "svc-{i} (Retain) keeps its ECS service: {states:?}"
            );
        } else {
            assert_eq!(active, 0, "svc-{i} (Delete) is deleted: {states:?}");
        }
        let family = ctx.aws_name(&format!("f{i}"));
        let (active, inactive) = revisions(&ecs, &family).await;
        if active + inactive > rounds {
            duplicates.push(format!(
                "{family}: {} revisions for {rounds} distinct specs",
                active + inactive
            ));
        }
        if policy(i) == "Retain" {
            assert!(active >= 1, "{family} (Retain) keeps its current revision");
        } else if active != 0 {
            duplicates.push(format!(
                "{family} (Delete): {active} ACTIVE revision(s) left"
            ));
        }
        // Deleted revisions vanish from the lists; the highest revision number still tells
        // how many were registered.
        let highest = ecs
            .describe_task_definition()
            .task_definition(&family)
            .send()
            .await
            .ok()
            .and_then(|d| d.task_definition().map(|t| t.revision()))
            .unwrap_or(0);
        if usize::try_from(highest).unwrap_or(0) > rounds {
            duplicates.push(format!(
                "{family}: revision {highest} for {rounds} distinct specs"
            ));
        }
    }
    println!("crash: {resources} pairs, {rounds} rounds + delete, killed after {kills:?} ms");
    // A revision registered just before a kill must be found by the restarted operator (by
    // its tags), never registered twice nor left ACTIVE after a Delete.
    assert!(
        duplicates.is_empty(),
        "duplicate or orphaned revisions after a crash: {duplicates:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. AWS endpoint down for a while
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn aws_outage_backs_off_then_converges() {
    let outage = Duration::from_secs(scaled("RELIABILITY_OUTAGE_SECONDS", 20, 60) as u64);
    let pairs = 3;
    let ctx = TestContext::new("rel-outage").await;
    let cluster = ctx.cluster("c").await;
    let net = ctx.network().await;
    let proxy = Proxy::start(ctx.bed);
    let operator = ctx
        .start_operator_with_aws(
            Config {
                resync_interval: Duration::from_secs(10),
                ..Config::default()
            },
            aws_via(ctx.bed, &proxy.url),
        )
        .await;
    let apply_all = |image: &'static str| {
        let ctx = &ctx;
        let cluster = &cluster;
        let net = &net;
        async move {
            for i in 0..pairs {
                ctx.apply_yaml(&task_definition(
                    &format!("td-{i}"),
                    &ctx.aws_name(&format!("f{i}")),
                    image,
                    "Delete",
                ))
                .await
                .expect("apply");
                ctx.apply_yaml(&service(
                    &format!("svc-{i}"),
                    &format!("td-{i}"),
                    cluster,
                    net,
                    "Delete",
                    "",
                ))
                .await
                .expect("apply");
            }
        }
    };
    apply_all("nginx:1.27").await;
    all_ready(&ctx, Duration::from_secs(60)).await;

    // Every connection reset; a spec change made during the outage.
    proxy.configure(json!({"default": {"rate": 1.0, "kinds": ["reset"]}}));
    proxy.reset_counts();
    apply_all("nginx:1.28").await;
    tokio::time::sleep(outage / 2).await;
    let (first_half, _) = proxy.counts();
    tokio::time::sleep(outage / 2).await;
    let (total, _) = proxy.counts();
    let second_half = total - first_half;
    let per_second = total as f64 / outage.as_secs_f64();
    println!(
        "outage: {pairs} pairs, {outage:?} down: {total} attempts ({first_half} in the first half, {second_half} in the second), {per_second:.1}/s"
    );
    assert!(
        second_half <= first_half,
        "attempts slow down during the outage: {first_half} then {second_half}"
    );
    // 6 objects, 3 SDK attempts per call: without backoff this would be hundreds per second.
    assert!(
        per_second < 10.0,
        "bounded call rate during the outage: {per_second:.1}/s"
    );
    let (waiting, _) = not_ready(&ctx).await;
    assert!(
        !waiting.is_empty(),
        "the change cannot be applied while AWS is down"
    );

    proxy.configure(json!({}));
    let started = Instant::now();
    all_ready(&ctx, Duration::from_secs(120)).await;
    println!(
        "outage: converged {:?} after AWS came back",
        started.elapsed()
    );
    let ecs = moto_ecs(ctx.bed).await;
    for i in 0..pairs {
        let family = ctx.aws_name(&format!("f{i}"));
        let td = get_opt(&ctx.api::<TaskDefinition>(), &format!("td-{i}"))
            .await
            .expect("td");
        assert!(
            td.status
                .and_then(|s| s.task_definition_arn)
                .is_some_and(|a| a.ends_with(":2")),
            "{family}: the change made during the outage is registered once"
        );
        let (active, inactive) = revisions(&ecs, &family).await;
        assert!(active + inactive <= 2, "{family}: {active} + {inactive}");
    }
    operator.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Resources deleted by hand in AWS
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn resources_deleted_by_hand_in_aws_are_recreated() {
    let ctx = TestContext::new("rel-byhand").await;
    let cluster = ctx.cluster("c").await;
    let net = ctx.network().await;
    let moto = moto_url(ctx.bed);
    let operator = ctx
        .start_operator_with_aws(
            Config {
                resync_interval: Duration::from_secs(5),
                ..Config::default()
            },
            aws_via(ctx.bed, &moto),
        )
        .await;
    let family = ctx.aws_name("app");
    ctx.apply_yaml(&task_definition("app", &family, "nginx:1.27", "Delete"))
        .await
        .expect("apply");
    for (name, policy) in [("deleted", "Delete"), ("retained", "Retain")] {
        ctx.apply_yaml(&service(name, "app", &cluster, &net, policy, ""))
            .await
            .expect("apply");
    }
    all_ready(&ctx, Duration::from_secs(60)).await;
    let first_arn = get_opt(&ctx.api::<TaskDefinition>(), "app")
        .await
        .and_then(|t| t.status)
        .and_then(|s| s.task_definition_arn)
        .expect("arn");

    let ecs = moto_ecs(ctx.bed).await;
    for name in ["deleted", "retained"] {
        ecs.delete_service()
            .cluster(&cluster)
            .service(name)
            .force(true)
            .send()
            .await
            .expect("delete by hand");
    }
    ecs.deregister_task_definition()
        .task_definition(&first_arn)
        .send()
        .await
        .expect("deregister by hand");

    // The spec says the service exists: the operator creates it again whatever the deletion
    // policy (which only governs what happens when the Kubernetes object is deleted).
    for name in ["deleted", "retained"] {
        wait_for(
            &format!("{name} created again in ECS"),
            Duration::from_secs(90),
            || async {
                let out = ecs
                    .describe_services()
                    .cluster(&cluster)
                    .services(name)
                    .send()
                    .await
                    .ok()?;
                out.services()
                    .iter()
                    .any(|s| s.status() == Some("ACTIVE"))
                    .then_some(())
            },
        )
        .await;
    }
    all_ready(&ctx, Duration::from_secs(90)).await;
    let td_arn = get_opt(&ctx.api::<TaskDefinition>(), "app")
        .await
        .and_then(|t| t.status)
        .and_then(|s| s.task_definition_arn)
        .expect("arn");
    assert_ne!(
        td_arn, first_arn,
        "a revision deregistered by hand is registered again"
    );
    assert_eq!(revisions(&ecs, &family).await.0, 1);
    assert_eq!(operator.calls.count("CreateService"), 4);
    for name in ["deleted", "retained"] {
        let svc = get_opt(&ctx.api::<ECSService>(), name).await.expect("svc");
        assert_eq!(
            svc.status.and_then(|s| s.task_definition_arn).as_deref(),
            Some(td_arn.as_str()),
            "{name} runs the new revision"
        );
    }

    // Deleted by hand once more, the spec unchanged this time: the create request is the same
    // as the last one, and still it is a new create (a new clientToken; ECS would answer the
    // old token with the INACTIVE service it created).
    ecs.delete_service()
        .cluster(&cluster)
        .service("deleted")
        .force(true)
        .send()
        .await
        .expect("delete by hand");
    let svc = wait_for(
        "deleted created again, spec unchanged",
        Duration::from_secs(90),
        || async {
            let svc = get_opt(&ctx.api::<ECSService>(), "deleted").await?;
            let status = svc.status.as_ref()?;
            (status.service_creations == Some(3)
                && condition(&status.conditions, "Ready").is_some_and(|c| c.0 == "True"))
            .then_some(svc)
        },
    )
    .await;
    let owned = ecs_services_by_owner(&ecs, &cluster).await;
    assert_eq!(
        owned.get(&uid_of(&svc)).map(|services| services
            .iter()
            .filter(|(_, status)| status == "ACTIVE")
            .count()),
        Some(1),
        "{owned:?}"
    );
    assert_eq!(operator.calls.count("CreateService"), 5);
    operator.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Security: no secret in logs, status, Events or metrics; no plain HTTP without opt-in
// ---------------------------------------------------------------------------------------------

const SECRET_KEY_MARKER: &str = "SECRETKEYMARKERq7Zx9";
const SESSION_TOKEN_MARKER: &str = "SESSIONTOKENMARKERw3Vb8";
const ENV_VALUE_MARKER: &str = "ENVVALUEMARKERk5Pn2";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Kills the operator subprocess when the test ends, also on panic.
struct Subprocess(Child);

impl Drop for Subprocess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn operator_command(bed: &TestBed) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecs-operator"));
    cmd.env_remove("ECS_OPERATOR_ALLOW_INSECURE_ENDPOINT")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("KUBECONFIG", &bed.kubeconfig)
        .env("AWS_REGION", &bed.region)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIARELIABILITYTEST")
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY_MARKER)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN_MARKER);
    cmd
}

#[tokio::test]
async fn no_credential_or_secret_in_logs_status_events_or_metrics() {
    let ctx = TestContext::new("rel-secrets").await;
    let cluster = ctx.cluster("c").await;
    let net = ctx.network().await;
    let family = ctx.aws_name("app");
    let td = format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: TaskDefinition
metadata:
  name: app
spec:
  family: {family}
  requiresCompatibilities: [FARGATE]
  networkMode: awsvpc
  cpu: "256"
  memory: "512"
  executionRoleArn: arn:aws:iam::123456789012:role/exec
  containerDefinitions:
    - name: app
      image: nginx:1.27
      environment:
        - name: API_TOKEN
          value: {ENV_VALUE_MARKER}
      secrets:
        - name: DB_PASSWORD
          valueFrom: arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password
"#
    );
    ctx.apply_yaml(&td).await.expect("apply TaskDefinition");
    ctx.apply_yaml(&service("web", "app", &cluster, &net, "Delete", ""))
        .await
        .expect("apply ECSService");
    // An object AWS refuses, so that error paths log too.
    ctx.apply_yaml(&service(
        "broken",
        "app",
        "no-such-cluster",
        &net,
        "Delete",
        "",
    ))
    .await
    .expect("apply ECSService");

    let log_path = std::env::temp_dir().join(format!("ecs-operator-{}.log", ctx.namespace));
    let log = std::fs::File::create(&log_path).expect("log file");
    let metrics_port = free_port();
    let child = operator_command(ctx.bed)
        .args([
            "run",
            "--watch-namespace",
            &ctx.namespace,
            "--aws-endpoint-url",
            &moto_url(ctx.bed),
            "--allow-insecure-endpoint",
            "--log-level",
            "info,ecs_operator=debug",
            "--resync-interval",
            "5s",
            // Plain HTTP on loopback: this test reads the metrics for credentials.
            "--metrics-secure=false",
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--health-addr",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("start the operator binary");
    let child = Subprocess(child);

    let svc = wait_for("web Ready", Duration::from_secs(60), || async {
        let svc = get_opt(&ctx.api::<ECSService>(), "web").await?;
        condition(&svc.status.as_ref()?.conditions, "Ready")
            .is_some_and(|(s, _, _)| s == "True")
            .then_some(svc)
    })
    .await;
    wait_for(
        "broken reports its error",
        Duration::from_secs(60),
        || async {
            let svc = get_opt(&ctx.api::<ECSService>(), "broken").await?;
            condition(&svc.status.as_ref()?.conditions, "Ready")
                .is_some_and(|(s, _, _)| s == "False")
                .then_some(())
        },
    )
    .await;
    let (status, metrics) = http(&format!("127.0.0.1:{metrics_port}"), "GET", "/metrics", "");
    assert_eq!(status, 200, "metrics endpoint");
    assert!(metrics.contains("ecs_operator_"), "metrics are served");
    drop(child);

    let logs = std::fs::read_to_string(&log_path).expect("read log");
    let _ = std::fs::remove_file(&log_path);
    assert!(
        logs.contains("reconcil"),
        "the log has reconciles: {logs:.2000}"
    );
    let tds = ctx
        .api::<TaskDefinition>()
        .list(&ListParams::default())
        .await
        .expect("list");
    let svcs = ctx
        .api::<ECSService>()
        .list(&ListParams::default())
        .await
        .expect("list");
    let statuses = serde_json::to_string(&(
        tds.items.iter().map(|t| &t.status).collect::<Vec<_>>(),
        svcs.items.iter().map(|s| &s.status).collect::<Vec<_>>(),
        &svc.status,
    ))
    .expect("json");
    let events = serde_json::to_string(
        &ctx.api::<k8s_openapi::api::events::v1::Event>()
            .list(&ListParams::default())
            .await
            .expect("events")
            .items,
    )
    .expect("json");
    assert!(!events.is_empty());
    for (what, text) in [
        ("log", &logs),
        ("status", &statuses),
        ("Events", &events),
        ("metrics", &metrics),
    ] {
        for marker in [SECRET_KEY_MARKER, SESSION_TOKEN_MARKER] {
            assert!(!text.contains(marker), "a credential leaks into the {what}");
        }
        if what != "status" {
            assert!(
                !text.contains(ENV_VALUE_MARKER),
                "an environment value leaks into the {what}"
            );
        }
    }
}

#[tokio::test]
async fn plain_http_aws_endpoint_is_refused_without_opt_in() {
    let bed = TestBed::get();
    let mut child = operator_command(bed)
        .args([
            "run",
            "--aws-endpoint-url",
            "http://127.0.0.1:9",
            "--metrics-addr",
            &format!("127.0.0.1:{}", free_port()),
            "--health-addr",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the operator binary");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the operator kept running with a plain-HTTP endpoint");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "exits with an error");
    assert!(
        stderr.contains("plain HTTP") && stderr.contains("--allow-insecure-endpoint"),
        "the error says why and how to allow it: {stderr}"
    );
    assert!(!stderr.contains(SECRET_KEY_MARKER));
}
