//! The operator as a process: leader election between replicas, metrics and health
//! endpoints, and what an instance watches (namespaces, label selector). These tests run the
//! real binary against the test bed.

mod support;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ecs_operator::api::{ECSService, TaskDefinition};
use ecs_operator::runtime::watch::{WatchScope, watch};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, CustomResource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use support::{TestContext, condition, get_opt, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(45);
const LEASE: &str = "ecs-operator";

fn td_manifest(name: &str, family: &str, labels: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: TaskDefinition
metadata:
  name: {name}
{labels}
spec:
  family: {family}
  requiresCompatibilities: [FARGATE]
  networkMode: awsvpc
  cpu: "256"
  memory: "512"
  containerDefinitions:
    - name: web
      image: nginx:1.27
      portMappings:
        - containerPort: 80
"#
    )
}

/// A free local port (bound, then released for the operator to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One operator process; killed when dropped, also when the test panics.
struct OperatorProcess {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    metrics: u16,
    health: u16,
}

impl OperatorProcess {
    /// Starts `ecs-operator run` as `POD_NAME=<name>` with `args`, reaching the test bed.
    fn start(ctx: &TestContext, name: &str, args: &[&str]) -> Self {
        let bed = ctx.bed;
        let (metrics, health) = (free_port(), free_port());
        let log = std::env::temp_dir().join(format!("ecs-operator-{}-{name}.log", ctx.suffix));
        let stderr = File::create(&log).expect("log file");
        // Plain HTTP for the tests that read metrics; the secure default has its own tests.
        let plain_metrics = !args.iter().any(|a| a.starts_with("--metrics-secure"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_ecs-operator"));
        for (key, _) in std::env::vars() {
            if key.starts_with("ECS_OPERATOR_") || key == "POD_NAMESPACE" {
                command.env_remove(key);
            }
        }
        command
            .arg("run")
            .arg(format!("--metrics-addr=127.0.0.1:{metrics}"))
            .arg(format!("--health-addr=127.0.0.1:{health}"))
            .arg("--resync-interval=60s")
            .args(plain_metrics.then_some("--metrics-secure=false"))
            .args(args)
            .env("KUBECONFIG", &bed.kubeconfig)
            .env("AWS_ENDPOINT_URL", &bed.aws_endpoint)
            .env("AWS_REGION", &bed.region)
            .env("AWS_ACCESS_KEY_ID", &bed.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &bed.secret_key)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("ECS_OPERATOR_ALLOW_INSECURE_ENDPOINT", "true")
            .env("ECS_OPERATOR_LOG_LEVEL", "info,ecs_operator=debug")
            .env("POD_NAME", name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        let child = command.spawn().expect("start the ecs-operator binary");
        Self {
            name: name.to_string(),
            child: Some(child),
            log,
            metrics,
            health,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// kill -9: a crash, the Lease stays as it was.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit; returns whether it exited successfully.
    async fn terminate(&mut self, timeout: Duration) -> bool {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return status.success();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} did not exit within {timeout:?} of SIGTERM", self.name);
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn metrics(&self) -> String {
        http_get(self.metrics, "/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    async fn health(&self, path: &str) -> Option<u16> {
        http_get(self.health, path).await.map(|(status, _)| status)
    }

    /// Waits until `/readyz` answers 200 (caches synced, AWS answers).
    async fn ready(&self) {
        wait_for(&format!("{} ready", self.name), WAIT, || async {
            (self.health("/readyz").await == Some(200)).then_some(())
        })
        .await;
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- log of {} ----\n{}", self.name, self.log_text());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A minimal HTTP GET: (status, body).
async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    let stream = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .ok()?
        .ok()?;
    http_exchange(stream, path, "").await
}

/// GET `path` on `stream` with extra `headers` (each ending in CRLF): (status, body).
async fn http_exchange<S>(mut stream: S, path: &str, headers: &str) -> Option<(u16, String)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Sum of the samples of `name` whose labels include every `labels` pair.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn lease_holder(ctx: &TestContext) -> Option<String> {
    let api: Api<Lease> = ctx.api();
    get_opt(&api, LEASE)
        .await?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

async fn td_ready(ctx: &TestContext, name: &str) -> TaskDefinition {
    let api = ctx.api::<TaskDefinition>();
    wait_for(&format!("TaskDefinition {name} Ready"), WAIT, || async {
        let td = get_opt(&api, name).await?;
        let status = td.status.as_ref()?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True" && status.observed_generation == td.metadata.generation).then_some(td)
    })
    .await
}

/// Reporting instances of the Events with `reason` in the namespace.
async fn reporting_instances(ctx: &TestContext, reason: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = ctx.api();
    api.list(&Default::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.reporting_instance)
        .collect()
}

fn leader_args(ctx: &TestContext) -> Vec<String> {
    vec![
        "--leader-elect".into(),
        format!("--leader-election-namespace={}", ctx.namespace),
        format!("--leader-election-lease-name={LEASE}"),
        format!("--watch-namespace={}", ctx.namespace),
    ]
}

fn start(ctx: &TestContext, name: &str, args: &[String]) -> OperatorProcess {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    OperatorProcess::start(ctx, name, &args)
}

#[tokio::test]
async fn one_leader_acts_and_a_standby_takes_over() {
    let ctx = TestContext::new("rt-leader").await;
    let args = leader_args(&ctx);
    let a = start(&ctx, "op-a", &args);
    let b = start(&ctx, "op-b", &args);
    a.ready().await;
    b.ready().await;
    let holder = wait_for("a lease holder", WAIT, || lease_holder(&ctx)).await;
    let (mut leader, mut standby) = if holder.starts_with("op-a_") {
        (a, b)
    } else {
        assert!(holder.starts_with("op-b_"), "holder {holder}");
        (b, a)
    };

    // Only the leader reconciles and calls AWS.
    let family = ctx.aws_name("first");
    ctx.apply_yaml(&td_manifest("first", &family, ""))
        .await
        .expect("apply");
    td_ready(&ctx, "first").await;
    let (leader_metrics, standby_metrics) = (leader.metrics().await, standby.metrics().await);
    assert_eq!(sample(&leader_metrics, "ecs_operator_leader", &[]), 1.0);
    assert_eq!(sample(&standby_metrics, "ecs_operator_leader", &[]), 0.0);
    let reconciles = |text: &str| {
        sample(
            text,
            "ecs_operator_reconciles_total",
            &[("kind", "TaskDefinition")],
        )
    };
    let registers = |text: &str| {
        sample(
            text,
            "ecs_operator_aws_api_calls_total",
            &[("operation", "RegisterTaskDefinition")],
        )
    };
    assert!(reconciles(&leader_metrics) >= 1.0, "{leader_metrics}");
    assert_eq!(reconciles(&standby_metrics), 0.0, "{standby_metrics}");
    assert_eq!(registers(&leader_metrics), 1.0, "{leader_metrics}");
    assert_eq!(registers(&standby_metrics), 0.0, "{standby_metrics}");
    // The standby keeps its cache warm.
    assert_eq!(
        sample(
            &standby_metrics,
            "ecs_operator_managed_resources",
            &[("kind", "TaskDefinition"), ("ready", "True")]
        ),
        1.0,
        "{standby_metrics}"
    );
    let instances = reporting_instances(&ctx, "Registered").await;
    assert_eq!(instances, vec![leader.name.clone()]);

    // kill -9 the leader: the standby takes over once the Lease expires and finishes work
    // that arrived meanwhile.
    let killed_at = Instant::now();
    leader.kill();
    let family = ctx.aws_name("second");
    ctx.apply_yaml(&td_manifest("second", &family, ""))
        .await
        .expect("apply");
    let new_holder = format!("{}_", standby.name);
    wait_for("the standby to take the Lease", WAIT, || async {
        lease_holder(&ctx)
            .await
            .filter(|h| h.starts_with(&new_holder))
    })
    .await;
    let lease_taken = killed_at.elapsed();
    td_ready(&ctx, "second").await;
    let takeover = killed_at.elapsed();
    println!("kill -9: Lease taken after {lease_taken:?}, pending work done after {takeover:?}");
    assert!(takeover < Duration::from_secs(30), "took {takeover:?}");
    assert_eq!(
        registers(&standby.metrics().await),
        1.0,
        "the new leader registered the pending TaskDefinition"
    );

    // SIGTERM the new leader while a fresh standby waits: the Lease is released on the way
    // out, so the standby takes over at once instead of after the lease duration.
    let c = start(&ctx, "op-c", &args);
    c.ready().await;
    let terminated_at = Instant::now();
    assert!(
        standby.terminate(Duration::from_secs(30)).await,
        "clean exit"
    );
    let exited = terminated_at.elapsed();
    let released = lease_holder(&ctx).await;
    assert!(
        released
            .as_deref()
            .is_none_or(|h| h.starts_with(&format!("{}_", c.name))),
        "the Lease was released on shutdown, holder now {released:?}"
    );
    wait_for("op-c to lead", WAIT, || async {
        lease_holder(&ctx).await.filter(|h| h.starts_with("op-c_"))
    })
    .await;
    let family = ctx.aws_name("third");
    ctx.apply_yaml(&td_manifest("third", &family, ""))
        .await
        .expect("apply");
    td_ready(&ctx, "third").await;
    let handover = terminated_at.elapsed();
    println!("SIGTERM: exited after {exited:?}, handover complete after {handover:?}");
    assert!(
        handover < Duration::from_secs(12),
        "a released Lease is taken before it could have expired: took {handover:?}"
    );
    assert!(
        standby.log_text().contains("released the lease"),
        "{}",
        standby.log_text()
    );
    drop(c);
}

#[tokio::test]
async fn metrics_count_aws_calls_and_health_endpoints_answer() {
    let ctx = TestContext::new("rt-metrics").await;
    let op = start(
        &ctx,
        "op",
        &[format!("--watch-namespace={}", ctx.namespace)],
    );
    op.ready().await;
    assert_eq!(op.health("/healthz").await, Some(200));
    let family = ctx.aws_name("web");
    ctx.apply_yaml(&td_manifest("web", &family, ""))
        .await
        .expect("apply");
    td_ready(&ctx, "web").await;
    // The operator's cache sees the Ready status a moment after the apiserver does.
    let text = wait_for(
        "reconcile counted and the Ready object in the cache",
        WAIT,
        || async {
            let text = op.metrics().await;
            let reconciled = sample(
                &text,
                "ecs_operator_reconciles_total",
                &[("kind", "TaskDefinition")],
            ) >= 1.0;
            let ready = sample(
                &text,
                "ecs_operator_managed_resources",
                &[("kind", "TaskDefinition"), ("ready", "True")],
            ) == 1.0;
            (reconciled && ready).then_some(text)
        },
    )
    .await;
    assert_eq!(
        sample(
            &text,
            "ecs_operator_aws_api_calls_total",
            &[
                ("operation", "RegisterTaskDefinition"),
                ("outcome", "success")
            ]
        ),
        1.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "ecs_operator_reconcile_duration_seconds_count",
            &[("kind", "TaskDefinition")]
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "ecs_operator_managed_resources",
            &[("kind", "TaskDefinition"), ("ready", "True")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(sample(&text, "ecs_operator_leader", &[]), 1.0, "{text}");
    assert_eq!(op.health("/healthz").await, Some(200));
    assert_eq!(op.health("/readyz").await, Some(200));
    assert_eq!(op.health("/nothing").await, Some(404));
}

#[tokio::test]
async fn an_instance_manages_only_its_namespaces_and_selector() {
    let a = TestContext::new("rt-scope-a").await;
    let b = TestContext::new("rt-scope-b").await;
    let op = start(
        &a,
        "op",
        &[
            format!("--watch-namespace={}", a.namespace),
            "--watch-selector=team=a".into(),
        ],
    );
    let team_a = "  labels:\n    team: a";
    let (unlabelled, elsewhere, managed) = (
        a.aws_name("unlabelled"),
        b.aws_name("elsewhere"),
        a.aws_name("managed"),
    );
    a.apply_yaml(&td_manifest("unlabelled", &unlabelled, ""))
        .await
        .expect("apply");
    b.apply_yaml(&td_manifest("elsewhere", &elsewhere, team_a))
        .await
        .expect("apply");
    a.apply_yaml(&td_manifest("managed", &managed, team_a))
        .await
        .expect("apply");
    td_ready(&a, "managed").await;
    // The operator's watch cache holds only the labelled object of its namespace (its watch
    // delivered "managed" after "unlabelled", which was created first in the same
    // namespace), so there is nothing else it could ever reconcile.
    let text = op.metrics().await;
    assert_eq!(
        sample(
            &text,
            "ecs_operator_managed_resources",
            &[("kind", "TaskDefinition")]
        ),
        1.0,
        "only the labelled object in the watched namespace is cached: {text}"
    );

    for (ctx, name) in [(&a, "unlabelled"), (&b, "elsewhere")] {
        let td = get_opt(&ctx.api::<TaskDefinition>(), name)
            .await
            .expect("exists");
        assert!(td.status.is_none(), "{name} got a status: {:?}", td.status);
        assert!(
            td.metadata.finalizers.unwrap_or_default().is_empty(),
            "{name} got a finalizer"
        );
    }
    let ecs = a.bed.ecs().await;
    for family in [&unlabelled, &elsewhere] {
        let listed = ecs
            .list_task_definitions()
            .family_prefix(family.as_str())
            .send()
            .await
            .expect("list");
        assert!(
            listed.task_definition_arns().is_empty(),
            "{family} was registered"
        );
    }
    let text = op.metrics().await;
    assert_eq!(
        sample(
            &text,
            "ecs_operator_aws_api_calls_total",
            &[("operation", "RegisterTaskDefinition")]
        ),
        1.0,
        "{text}"
    );
}

#[tokio::test]
async fn an_instance_watches_several_namespaces_with_references_inside_each() {
    let a = TestContext::new("rt-multi-a").await;
    let b = TestContext::new("rt-multi-b").await;
    let other = TestContext::new("rt-multi-c").await;
    // Comma-separated and repeated forms combine.
    let op = start(
        &a,
        "op",
        &[
            format!("--watch-namespace={},{}", a.namespace, b.namespace),
            format!("--watch-namespace={}", b.namespace),
        ],
    );
    op.ready().await;
    for ctx in [&a, &b, &other] {
        let family = ctx.aws_name("app");
        ctx.apply_yaml(&td_manifest("app", &family, ""))
            .await
            .expect("apply");
    }
    td_ready(&a, "app").await;
    td_ready(&b, "app").await;

    // A service in b finds the TaskDefinition of b through the shared cache.
    let cluster = b.cluster("multi").await;
    let net = b.network().await;
    b.apply_yaml(&format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSService
metadata:
  name: web
spec:
  cluster: {cluster}
  taskDefinitionRef:
    name: app
  desiredCount: 1
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration:
      subnets: [{s0}, {s1}]
      securityGroups: [{sg}]
"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group
    ))
    .await
    .expect("apply service");
    let td_arn = td_ready(&b, "app")
        .await
        .status
        .and_then(|s| s.task_definition_arn)
        .expect("arn");
    let api = b.api::<ECSService>();
    let svc = wait_for("ECSService web resolved", WAIT, || async {
        let svc = get_opt(&api, "web").await?;
        svc.status
            .as_ref()?
            .task_definition_arn
            .is_some()
            .then_some(svc)
    })
    .await;
    assert_eq!(svc.status.and_then(|s| s.task_definition_arn), Some(td_arn));

    let ignored = get_opt(&other.api::<TaskDefinition>(), "app")
        .await
        .expect("exists");
    assert!(
        ignored.status.is_none(),
        "a namespace not watched was reconciled"
    );
    drop(op);
}

/// A kind whose Rust type is stricter than its schema, as when a newer CRD version wrote
/// objects this version cannot read.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "test.ecs-operator.dev",
    version = "v1",
    kind = "GuardProbe",
    namespaced
)]
struct GuardProbeSpec {
    n: u8,
}

async fn install_guard_probe_crd(ctx: &TestContext) {
    let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "guardprobes.test.ecs-operator.dev" },
        "spec": {
            "group": "test.ecs-operator.dev",
            "names": { "kind": "GuardProbe", "plural": "guardprobes", "singular": "guardprobe" },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object", "properties": {
                    "spec": { "type": "object", "x-kubernetes-preserve-unknown-fields": true }
                }}}
            }]
        }
    }))
    .expect("CRD manifest");
    let api: Api<CustomResourceDefinition> = Api::all(ctx.client.clone());
    api.patch(
        "guardprobes.test.ecs-operator.dev",
        &PatchParams::apply("integration-test").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("apply test CRD");
    wait_for("test CRD Established", WAIT, || async {
        let crd = api.get("guardprobes.test.ecs-operator.dev").await.ok()?;
        crd.status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_unreadable_object_is_reported_and_skipped_while_the_others_are_watched() {
    let ctx = TestContext::new("rt-guard").await;
    install_guard_probe_crd(&ctx).await;
    let probe = |name: &str, n: &str| {
        format!(
            "apiVersion: test.ecs-operator.dev/v1\nkind: GuardProbe\nmetadata:\n  name: {name}\nspec:\n  n: {n}\n"
        )
    };
    // Read with a list first (the watcher's initial listing), then with watch events.
    ctx.apply_yaml(&probe("good", "1")).await.expect("apply");
    ctx.apply_yaml(&probe("bad", "1000")).await.expect("apply");

    let recorder = Recorder::new(
        ctx.client.clone(),
        Reporter {
            controller: "ecs-operator".into(),
            instance: None,
        },
    );
    let scope = WatchScope {
        namespaces: vec![ctx.namespace.clone()],
        label_selector: None,
    };
    let (watched, driver) = watch::<GuardProbe>(&ctx.client, &scope, recorder);
    let driver = tokio::spawn(driver);
    let store = watched.store();
    tokio::time::timeout(WAIT, store.wait_until_ready())
        .await
        .expect("the listing succeeds despite the unreadable object")
        .expect("ready");
    let names = |store: &kube::runtime::reflector::Store<GuardProbe>| {
        let mut names: Vec<String> = store.state().iter().map(|o| o.name_any()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&store), vec!["good"]);
    wait_for("InvalidObject event", WAIT, || async {
        let notes = support::events_with_reason(&ctx, "InvalidObject").await;
        (!notes.is_empty()).then_some(())
    })
    .await;

    // Fixed, it is watched; broken, it leaves the cache; others are not held up.
    ctx.apply_yaml(&probe("bad", "2")).await.expect("apply");
    ctx.apply_yaml(&probe("good", "\"many\""))
        .await
        .expect("apply");
    ctx.apply_yaml(&probe("late", "3")).await.expect("apply");
    wait_for("cache follows the changes", WAIT, || async {
        (names(&store) == vec!["bad", "late"]).then_some(())
    })
    .await;
    driver.abort();
}

// ---- /metrics behind TLS, TokenReview and SubjectAccessReview --------------------------------

/// An HTTPS client for the operator's metrics endpoint: trusting only `trusted` (the serving
/// certificate handed to the operator), or, with `None`, any certificate (the self-signed one).
fn metrics_tls_client(
    trusted: Option<&rustls::pki_types::CertificateDer<'static>>,
) -> TlsConnector {
    let builder = rustls::ClientConfig::builder();
    let config = match trusted {
        Some(cert) => {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(cert.clone())
                .expect("trust the serving certificate");
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate::default()))
            .with_no_client_auth(),
    };
    TlsConnector::from(Arc::new(config))
}

/// Accepts any server certificate (still checking the handshake's signatures): for the
/// self-signed certificate, which no client can verify.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl Default for AnyCertificate {
    fn default() -> Self {
        Self(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
    }
}

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// GET /metrics over HTTPS with an optional bearer token: (status, body), or None when no
/// HTTPS exchange happened (refused connection, failed handshake).
async fn https_metrics(
    port: u16,
    tls: &TlsConnector,
    token: Option<&str>,
) -> Option<(u16, String)> {
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .ok()?
    .ok()?;
    let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
    let stream = tokio::time::timeout(Duration::from_secs(10), tls.connect(name, tcp))
        .await
        .ok()?
        .ok()?;
    let headers = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    http_exchange(stream, "/metrics", &headers).await
}

/// A token of ServiceAccount `name` in the test namespace (TokenRequest API).
async fn service_account_token(ctx: &TestContext, name: &str) -> String {
    let api: Api<ServiceAccount> = ctx.api();
    api.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({
            "metadata": {"name": name}
        }))
        .expect("service account"),
    )
    .await
    .expect("create service account");
    let request: TokenRequest = serde_json::from_value(serde_json::json!({
        "spec": {"audiences": [], "expirationSeconds": 600}
    }))
    .expect("token request");
    api.create_token_request(name, &PostParams::default(), &request)
        .await
        .expect("token request")
        .status
        .expect("token in status")
        .token
        .expect("a token")
}

/// Whether the apiserver's RBAC already lets `user` get `path` (bindings reach the authorizer's
/// cache a moment after they are created).
async fn allowed_by_rbac(ctx: &TestContext, user: &str, path: &str) -> bool {
    let review: SubjectAccessReview = serde_json::from_value(serde_json::json!({
        "spec": {
            "user": user,
            "groups": ["system:serviceaccounts", "system:authenticated"],
            "nonResourceAttributes": {"path": path, "verb": "get"}
        }
    }))
    .expect("review");
    Api::<SubjectAccessReview>::all(ctx.client.clone())
        .create(&PostParams::default(), &review)
        .await
        .ok()
        .and_then(|r| r.status)
        .is_some_and(|s| s.allowed)
}

/// Cluster-scoped RBAC a test creates; deleted when dropped.
struct ClusterRbac {
    client: kube::Client,
    name: String,
}

impl Drop for ClusterRbac {
    fn drop(&mut self) {
        let (client, name) = (self.client.clone(), self.name.clone());
        // Best effort, on the test's runtime if it is still there.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let dp = kube::api::DeleteParams::default();
                let _ = Api::<ClusterRoleBinding>::all(client.clone())
                    .delete(&name, &dp)
                    .await;
                let _ = Api::<ClusterRole>::all(client).delete(&name, &dp).await;
            });
        }
    }
}

/// A ClusterRole granting `get` on /metrics (the chart's metrics-reader), bound to `reader`.
async fn grant_metrics_reader(ctx: &TestContext, reader: &str) -> ClusterRbac {
    let name = format!("metrics-reader-{}", ctx.suffix);
    let role: ClusterRole = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    }))
    .expect("cluster role");
    let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": reader, "namespace": ctx.namespace}]
    }))
    .expect("binding");
    let pp = PostParams::default();
    Api::<ClusterRole>::all(ctx.client.clone())
        .create(&pp, &role)
        .await
        .expect("create cluster role");
    Api::<ClusterRoleBinding>::all(ctx.client.clone())
        .create(&pp, &binding)
        .await
        .expect("create binding");
    ClusterRbac {
        client: ctx.client.clone(),
        name,
    }
}

/// With a serving certificate from files, /metrics answers only over HTTPS with that
/// certificate, and only to a bearer token that the apiserver authenticates (else 401) and
/// allows `get` on /metrics (else 403); health stays plain HTTP for the kubelet.
#[tokio::test]
async fn metrics_answer_only_tokens_allowed_to_get_them() {
    let ctx = TestContext::new("rt-metrics-auth").await;
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("serving certificate");
    let dir = std::env::temp_dir().join(format!("ecs-operator-metrics-tls-{}", ctx.suffix));
    std::fs::create_dir_all(&dir).expect("certificate directory");
    let (cert_file, key_file) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_file, generated.cert.pem()).expect("write certificate");
    std::fs::write(&key_file, generated.signing_key.serialize_pem()).expect("write key");

    // A reader bound to the metrics-reader role, and a ServiceAccount without it.
    let reader_token = service_account_token(&ctx, "scraper").await;
    let other_token = service_account_token(&ctx, "someone").await;
    let _rbac = grant_metrics_reader(&ctx, "scraper").await;
    let reader = format!("system:serviceaccount:{}:scraper", ctx.namespace);
    wait_for(
        "the binding reaches the apiserver's authorizer",
        WAIT,
        || async {
            allowed_by_rbac(&ctx, &reader, "/metrics")
                .await
                .then_some(())
        },
    )
    .await;

    let op = start(
        &ctx,
        "op",
        &[
            format!("--watch-namespace={}", ctx.namespace),
            "--metrics-secure=true".into(),
            format!("--metrics-tls-cert-file={}", cert_file.display()),
            format!("--metrics-tls-key-file={}", key_file.display()),
        ],
    );
    // Health: plain HTTP, no token.
    op.ready().await;
    assert_eq!(op.health("/healthz").await, Some(200));

    let tls = metrics_tls_client(Some(generated.cert.der()));
    let (status, _) = https_metrics(op.metrics, &tls, None)
        .await
        .expect("HTTPS with the certificate from the files");
    assert_eq!(status, 401, "no token");
    let (status, _) = https_metrics(op.metrics, &tls, Some("not-a-token"))
        .await
        .expect("HTTPS");
    assert_eq!(status, 401, "a token the apiserver does not know");
    let (status, body) = https_metrics(op.metrics, &tls, Some(&other_token))
        .await
        .expect("HTTPS");
    assert_eq!(
        status, 403,
        "a valid token without the metrics-reader role: {body}"
    );
    let (status, body) = https_metrics(op.metrics, &tls, Some(&reader_token))
        .await
        .expect("HTTPS");
    assert_eq!(status, 200, "the reader's token: {body}");
    assert_eq!(sample(&body, "ecs_operator_leader", &[]), 1.0, "{body}");
    assert!(body.contains("# TYPE ecs_operator_leader gauge"), "{body}");
    assert!(
        body.trim_end().ends_with("# EOF"),
        "OpenMetrics text: {body}"
    );
    // The decision is cached: the same token is answered the same again.
    let (status, _) = https_metrics(op.metrics, &tls, Some(&reader_token))
        .await
        .expect("HTTPS");
    assert_eq!(status, 200);
    // Plain HTTP on the metrics port gets no answer, let alone metrics.
    let plain = http_get(op.metrics, "/metrics").await;
    assert!(plain.is_none(), "{plain:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without certificate files the operator serves a self-signed certificate, and still
/// refuses a request without a token.
#[tokio::test]
async fn metrics_are_secure_by_default_with_a_self_signed_certificate() {
    let ctx = TestContext::new("rt-metrics-selfsigned").await;
    let op = start(
        &ctx,
        "op",
        &[
            format!("--watch-namespace={}", ctx.namespace),
            "--metrics-secure".into(),
        ],
    );
    op.ready().await;
    let tls = metrics_tls_client(None);
    let (status, _) = https_metrics(op.metrics, &tls, None)
        .await
        .expect("HTTPS with a self-signed certificate");
    assert_eq!(status, 401);
    // A client that verifies certificates refuses it: nobody vouches for it.
    let verifying = metrics_tls_client(Some(
        &rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("another certificate")
            .cert
            .der()
            .clone(),
    ));
    assert!(https_metrics(op.metrics, &verifying, None).await.is_none());
}
