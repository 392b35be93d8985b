//! The Kubernetes control plane misbehaving under the operator (docs/reliability.md, section 3
//! and "Namespace deletion"):
//!
//! - kube-apiserver and etcd restarted, and the operator's connections to the apiserver cut,
//!   while the operator works: its watches recover and no spec change is lost. This runs on a
//!   private test bed (`hack/sandbox up` in a temporary `SANDBOX_DIR`, stopped at the end even
//!   on failure), so restarting it never disturbs tests that share the main one.
//! - A namespace holding managed resources is deleted: kube-controller-manager's namespace
//!   controller (part of the sandbox) deletes its objects, the operator deletes or retains
//!   their AWS resources per policy, and the namespace goes away in bounded time.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{ServiceField, TaskDefinitionField, TaskDefinitionStatus};
use ecs_operator::api::{ECSService, TaskDefinition};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, ResourceExt};
use rand::Rng;
use support::{Network, TestBed, TestContext, condition, wait_for};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Seconds a component stays stopped before it is started again (an outage, not a blip).
fn outage() -> Duration {
    Duration::from_secs(
        std::env::var("CONTROL_PLANE_OUTAGE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
    )
}

// ---------------------------------------------------------------------------------------------
// A private test bed
// ---------------------------------------------------------------------------------------------

const HOW_TO_FIX: &str = "this test starts a test bed of its own with `hack/sandbox up` (etcd, \
    kube-apiserver, kube-controller-manager and moto on free loopback ports; the control plane \
    is built from the Go module proxy on first use, which needs Go, and moto needs python3). \
    Run `SANDBOX_DIR=$(mktemp -d) hack/sandbox up` to see what is missing (then `hack/sandbox \
    down` with the same SANDBOX_DIR), or run `hack/test`, which builds everything first";

/// A sandbox of this test's own; `hack/sandbox down` and its directory removed on drop, also
/// when the test fails (then the last lines of every log are printed first).
struct PrivateSandbox {
    dir: PathBuf,
    env: BTreeMap<String, String>,
}

impl PrivateSandbox {
    fn up(name: &str) -> PrivateSandbox {
        let suffix: u32 = rand::rng().random();
        let dir = std::env::temp_dir().join(format!(
            "ecs-operator-{name}-{}-{suffix:08x}",
            std::process::id()
        ));
        let mut sandbox = PrivateSandbox {
            dir,
            env: BTreeMap::new(),
        };
        let started = Instant::now();
        let out = sandbox
            .command(&["up"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run hack/sandbox: {e}; {HOW_TO_FIX}"));
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "could not start a private test bed (SANDBOX_DIR={} hack/sandbox up: {}):\n{}\n\n{HOW_TO_FIX}",
                sandbox.dir.display(),
                out.status,
                tail.join("\n")
            );
        }
        let text = std::fs::read_to_string(sandbox.dir.join("env"))
            .unwrap_or_else(|e| panic!("hack/sandbox up wrote no env file: {e}; {HOW_TO_FIX}"));
        sandbox.env = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .collect();
        println!(
            "private test bed up in {:.1}s ({})",
            started.elapsed().as_secs_f64(),
            sandbox.dir.display()
        );
        sandbox
    }

    /// `hack/sandbox ARGS` on this sandbox only (none of the shared sandbox's settings).
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(repo_root().join("hack/sandbox"));
        cmd.args(args)
            .env("SANDBOX_DIR", &self.dir)
            .current_dir(repo_root());
        for var in [
            "SANDBOX_ETCD_PORT",
            "SANDBOX_ETCD_PEER_PORT",
            "SANDBOX_APISERVER_PORT",
            "SANDBOX_CONTROLLER_MANAGER_PORT",
            "SANDBOX_MOTO_PORT",
            "SANDBOX_FAULTPROXY_PORT",
            "SANDBOX_FAULTPROXY_CONFIG",
        ] {
            cmd.env_remove(var);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `hack/sandbox ARGS` and returns how long it took; panics with its output on failure.
    fn run(&self, args: &[&str]) -> Duration {
        let started = Instant::now();
        let out = self
            .command(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run hack/sandbox: {e}"));
        assert!(
            out.status.success(),
            "hack/sandbox {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    }

    fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from {}/env", self.dir.display()))
    }

    fn bed(&self) -> &'static TestBed {
        Box::leak(Box::new(TestBed {
            kubeconfig: PathBuf::from(self.var("KUBECONFIG")),
            aws_endpoint: self.var("MOTO_URL").to_string(),
            region: self.var("AWS_REGION").to_string(),
            access_key: self.var("AWS_ACCESS_KEY_ID").to_string(),
            secret_key: self.var("AWS_SECRET_ACCESS_KEY").to_string(),
        }))
    }

    fn print_log_tails(&self) {
        for name in [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "moto",
            "operator-subprocess",
        ] {
            let path = self.dir.join(format!("{name}.log"));
            if let Ok(text) = std::fs::read_to_string(&path) {
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(30)..];
                eprintln!("--- last lines of {}:\n{}", path.display(), tail.join("\n"));
            }
        }
    }
}

impl Drop for PrivateSandbox {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_log_tails();
        }
        let _ = self.command(&["down"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// A cuttable TCP proxy in front of kube-apiserver, for the operator only
// ---------------------------------------------------------------------------------------------

/// Forwards connections to `upstream`. `cut()` closes every open connection and closes new
/// ones at once (the operator sees its watches fail and cannot reconnect) while everyone else
/// still reaches the apiserver directly; `restore()` lets connections through again.
struct ApiProxy {
    port: u16,
    open: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl ApiProxy {
    fn start(upstream: String) -> ApiProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let open = Arc::new(AtomicBool::new(true));
        let stopped = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (open2, stopped2, conns2) = (open.clone(), stopped.clone(), connections.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if !open2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let mut list = conns2.lock().expect("proxy lock");
                list.retain(|s| s.peer_addr().is_ok());
                for stream in [&client, &server] {
                    if let Ok(clone) = stream.try_clone() {
                        list.push(clone);
                    }
                }
                drop(list);
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        ApiProxy {
            port,
            open,
            stopped,
            connections,
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for stream in self.connections.lock().expect("proxy lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.cut();
        // Wake the accept loop so that it sees `stopped`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The `server:` URL of a kubeconfig.
fn kubeconfig_server(kubeconfig: &Path) -> String {
    std::fs::read_to_string(kubeconfig)
        .expect("read kubeconfig")
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("kubeconfig has a server")
        .trim()
        .to_string()
}

/// A copy of `kubeconfig` (in `dir`) whose server is the proxy on `port`.
fn kubeconfig_via_proxy(kubeconfig: &Path, port: u16, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(kubeconfig).expect("read kubeconfig");
    let path = dir.join("kubeconfig-via-proxy");
    std::fs::write(
        &path,
        text.replace(
            &kubeconfig_server(kubeconfig),
            &format!("https://127.0.0.1:{port}"),
        ),
    )
    .expect("write kubeconfig");
    path
}

// ---------------------------------------------------------------------------------------------
// The operator, as a subprocess (the binary, as deployed)
// ---------------------------------------------------------------------------------------------

struct OperatorProcess(Child);

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The operator binary against `kubeconfig`, for `namespace`, with leader election as the Helm
/// chart deploys it and a resync long enough that only watch events can explain a change
/// being applied during the test.
fn start_operator(
    bed: &TestBed,
    kubeconfig: &Path,
    namespace: &str,
    log: &Path,
) -> OperatorProcess {
    let log = std::fs::File::create(log).expect("operator log");
    let child = Command::new(env!("CARGO_BIN_EXE_ecs-operator"))
        .args([
            "run",
            "--watch-namespace",
            namespace,
            "--leader-elect",
            "--leader-election-namespace",
            namespace,
            "--aws-endpoint-url",
            &bed.aws_endpoint,
            "--allow-insecure-endpoint",
            "--resync-interval",
            "600s",
            "--metrics-addr",
            &format!("127.0.0.1:{}", free_port()),
            "--health-addr",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("KUBECONFIG", kubeconfig)
        .env("AWS_REGION", &bed.region)
        .env("AWS_ACCESS_KEY_ID", &bed.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &bed.secret_key)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("start the operator binary");
    OperatorProcess(child)
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
"#
    )
}

fn service(name: &str, td: &str, cluster: &str, net: &Network, policy: &str, count: u32) -> String {
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
  desiredCount: {count}
  launchType: FARGATE
  deletionPolicy: {policy}
  networkConfiguration:
    awsvpcConfiguration:
      subnets: [{s0}]
      securityGroups: [{sg}]
"#,
        s0 = net.subnets[0],
        sg = net.security_group
    )
}

/// Applies a manifest, retrying while the apiserver is still settling after a restart.
async fn apply(ctx: &TestContext, yaml: &str) {
    let started = Instant::now();
    loop {
        match ctx.apply_yaml(yaml).await {
            Ok(_) => return,
            Err(err) if started.elapsed() < Duration::from_secs(30) => {
                println!("apply failed, retrying: {err}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("apply failed for 30s: {err}"),
        }
    }
}

/// Sets the image of every TaskDefinition in `tds` (family `f<i>`, Delete policy).
async fn apply_images(ctx: &TestContext, tds: &[String], image: &str) {
    for (i, td) in tds.iter().enumerate() {
        let family = ctx.aws_name(&format!("f{i}"));
        apply(ctx, &task_definition(td, &family, image, "Delete")).await;
    }
}

fn ready<C>(generation: Option<i64>, observed: Option<i64>, conditions: C) -> bool
where
    C: AsRef<[ecs_operator::api::common::Condition]>,
{
    observed == generation
        && condition(conditions.as_ref(), "Ready").is_some_and(|(s, _, _)| s == "True")
}

/// Names of the TaskDefinitions and ECSServices not Ready for their generation; `None` when
/// the apiserver does not answer.
async fn not_ready(ctx: &TestContext) -> Option<Vec<String>> {
    let params = ListParams::default();
    let mut waiting = Vec::new();
    for td in ctx.api::<TaskDefinition>().list(&params).await.ok()? {
        let s = td.status.clone().unwrap_or_default();
        if !ready(td.metadata.generation, s.observed_generation, &s.conditions) {
            waiting.push(format!("TaskDefinition/{}", td.name_any()));
        }
    }
    for svc in ctx.api::<ECSService>().list(&params).await.ok()? {
        let s = svc.status.clone().unwrap_or_default();
        if !ready(
            svc.metadata.generation,
            s.observed_generation,
            &s.conditions,
        ) {
            waiting.push(format!("ECSService/{}", svc.name_any()));
        }
    }
    Some(waiting)
}

/// The TaskDefinitions and ECSServices still in the namespace, with their Ready condition;
/// `None` when the apiserver does not answer.
async fn objects_left(ctx: &TestContext) -> Option<Vec<String>> {
    let params = ListParams::default();
    let ready = |conditions: &[ecs_operator::api::common::Condition]| {
        condition(conditions, "Ready")
            .map(|(status, reason, message)| format!("Ready={status} {reason}: {message}"))
            .unwrap_or_default()
    };
    let mut left = Vec::new();
    for td in ctx.api::<TaskDefinition>().list(&params).await.ok()? {
        let s = td.status.clone().unwrap_or_default();
        left.push(format!(
            "TaskDefinition/{} {}",
            td.name_any(),
            ready(&s.conditions)
        ));
    }
    for svc in ctx.api::<ECSService>().list(&params).await.ok()? {
        let s = svc.status.clone().unwrap_or_default();
        left.push(format!(
            "ECSService/{} {}",
            svc.name_any(),
            ready(&s.conditions)
        ));
    }
    Some(left)
}

async fn all_ready(ctx: &TestContext, timeout: Duration) {
    let started = Instant::now();
    loop {
        let waiting = not_ready(ctx).await;
        if waiting.as_ref().is_some_and(Vec::is_empty) {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "not Ready after {timeout:?}: {waiting:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What ECS runs for a service: (image of its task definition, desiredCount).
async fn ecs_service_state(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    name: &str,
) -> Option<(String, i32)> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .ok()?;
    let svc = out
        .services()
        .iter()
        .find(|s| s.status() == Some("ACTIVE"))?;
    let td = ecs
        .describe_task_definition()
        .task_definition(svc.task_definition()?)
        .send()
        .await
        .ok()?;
    let image = td
        .task_definition()?
        .container_definitions()
        .first()?
        .image()?
        .to_string();
    Some((image, svc.desired_count()))
}

/// Waits until ECS runs `image` (and `count` tasks) for every service; returns how long.
async fn wait_applied(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    services: &[String],
    image: &str,
    count: i32,
    what: &str,
) -> Duration {
    let started = Instant::now();
    let want = (image.to_string(), count);
    wait_for(what, Duration::from_secs(120), || async {
        for name in services {
            if ecs_service_state(ecs, cluster, name).await.as_ref() != Some(&want) {
                return None;
            }
        }
        Some(())
    })
    .await;
    started.elapsed()
}

/// ECS services of the cluster by their `ecs-operator.dev/uid` tag: uid -> [(name, status)].
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

/// Every revision of `family` ever registered (ACTIVE and INACTIVE), as (revision, owner uid
/// tag, image).
async fn revisions(ecs: &aws_sdk_ecs::Client, family: &str) -> Vec<(i32, String, String)> {
    let mut arns = Vec::new();
    for status in [TaskDefinitionStatus::Active, TaskDefinitionStatus::Inactive] {
        let out = ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(status)
            .send()
            .await
            .expect("ListTaskDefinitions");
        // family_prefix is a prefix: keep this family's ARNs only (`.../family:N`).
        let own = |arn: &&String| {
            arn.rsplit_once('/')
                .and_then(|(_, fr)| fr.rsplit_once(':'))
                .is_some_and(|(f, _)| f == family)
        };
        arns.extend(out.task_definition_arns().iter().filter(own).cloned());
    }
    let mut found = Vec::new();
    for arn in arns {
        let out = ecs
            .describe_task_definition()
            .task_definition(&arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .expect("DescribeTaskDefinition");
        let td = out.task_definition().expect("task definition");
        let uid = out
            .tags()
            .iter()
            .find(|t| t.key() == Some("ecs-operator.dev/uid"))
            .and_then(|t| t.value())
            .unwrap_or("(untagged)")
            .to_string();
        let image = td
            .container_definitions()
            .first()
            .and_then(|c| c.image())
            .unwrap_or_default()
            .to_string();
        found.push((td.revision(), uid, image));
    }
    found.sort();
    found
}

/// How many lines of the operator's log contain `what`.
fn log_count(log: &Path, what: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

// ---------------------------------------------------------------------------------------------
// 3. kube-apiserver and etcd restarted; the operator's watch cut
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn apiserver_and_etcd_restarts_lose_no_update() {
    ecs_operator::runtime::install_crypto_provider();
    let pairs = 3;
    let sandbox = PrivateSandbox::up("restart");
    let bed = sandbox.bed();
    let client = bed.kube().await;
    let namespace = "restarts".to_string();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": namespace }
    }))
    .expect("namespace manifest");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create the namespace");
    let ctx = TestContext {
        bed,
        client,
        namespace,
        suffix: "r".into(),
    };
    let cluster = ctx.cluster("c").await;
    let net = ctx.network().await;
    let ecs = bed.ecs().await;

    // The operator reaches the apiserver through a proxy of ours, so that its connections
    // can be cut while the test keeps talking to the apiserver directly.
    let upstream = kubeconfig_server(&bed.kubeconfig)
        .trim_start_matches("https://")
        .to_string();
    let proxy = ApiProxy::start(upstream);
    let proxy_kubeconfig = kubeconfig_via_proxy(&bed.kubeconfig, proxy.port, &sandbox.dir);
    let log = sandbox.dir.join("operator-subprocess.log");
    let mut operator = start_operator(bed, &proxy_kubeconfig, &ctx.namespace, &log);

    let tds: Vec<String> = (0..pairs).map(|i| format!("td-{i}")).collect();
    let svcs: Vec<String> = (0..pairs).map(|i| format!("svc-{i}")).collect();
    apply_images(&ctx, &tds, "nginx:1.0").await;
    for (i, svc) in svcs.iter().enumerate() {
        apply(
            &ctx,
            &service(svc, &format!("td-{i}"), &cluster, &net, "Delete", 1),
        )
        .await;
    }
    let started = Instant::now();
    all_ready(&ctx, Duration::from_secs(120)).await;
    wait_applied(&ecs, &cluster, &svcs, "nginx:1.0", 1, "services created").await;
    println!(
        "{pairs} TaskDefinition + ECSService pairs Ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let mut figures = Vec::new();

    // A. kube-apiserver stopped, down for the outage, started again (same port, same
    // certificates); a change right after it answers again.
    let stop = sandbox.run(&["stop", "kube-apiserver"]);
    tokio::time::sleep(outage()).await;
    let start = sandbox.run(&["start", "kube-apiserver"]);
    let changed = Instant::now();
    apply_images(&ctx, &tds, "nginx:1.1").await;
    let applied = wait_applied(
        &ecs,
        &cluster,
        &svcs,
        "nginx:1.1",
        1,
        "the change made after the kube-apiserver restart applied in ECS",
    )
    .await;
    let applied = applied.max(changed.elapsed());
    all_ready(&ctx, Duration::from_secs(120)).await;
    figures.push(format!(
        "kube-apiserver: stop {:.1}s, down {}s, start (until /readyz) {:.1}s; change applied in ECS {:.1}s after it was made",
        stop.as_secs_f64(),
        outage().as_secs(),
        start.as_secs_f64(),
        applied.as_secs_f64()
    ));

    // B. etcd stopped and started again (its data kept); kube-apiserver keeps running and
    // reconnects. `start etcd` returns once the apiserver answers /readyz again.
    let stop = sandbox.run(&["stop", "etcd"]);
    tokio::time::sleep(outage()).await;
    let start = sandbox.run(&["start", "etcd"]);
    let changed = Instant::now();
    apply_images(&ctx, &tds, "nginx:1.2").await;
    let applied = wait_applied(
        &ecs,
        &cluster,
        &svcs,
        "nginx:1.2",
        1,
        "the change made after the etcd restart applied in ECS",
    )
    .await;
    let applied = applied.max(changed.elapsed());
    all_ready(&ctx, Duration::from_secs(120)).await;
    figures.push(format!(
        "etcd: stop {:.1}s, down {}s, start (until etcd and kube-apiserver are ready) {:.1}s; change applied in ECS {:.1}s after it was made",
        stop.as_secs_f64(),
        outage().as_secs(),
        start.as_secs_f64(),
        applied.as_secs_f64()
    ));

    // C. The operator's connections to the apiserver cut (its watches fail and cannot
    // reconnect) while the spec changes: new images and desiredCount 2. Nothing may be
    // applied during the cut (so the cut was real); everything once it ends.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    apply_images(&ctx, &tds, "nginx:1.3").await;
    for (i, svc) in svcs.iter().enumerate() {
        apply(
            &ctx,
            &service(svc, &format!("td-{i}"), &cluster, &net, "Delete", 2),
        )
        .await;
    }
    tokio::time::sleep(outage()).await;
    for svc in &svcs {
        let state = ecs_service_state(&ecs, &cluster, svc).await;
        assert_eq!(
            state,
            Some(("nginx:1.2".to_string(), 1)),
            "{svc} changed while the operator could not reach the apiserver"
        );
    }
    proxy.restore();
    let applied = wait_applied(
        &ecs,
        &cluster,
        &svcs,
        "nginx:1.3",
        2,
        "the change made while the operator's watch was cut applied in ECS",
    )
    .await;
    all_ready(&ctx, Duration::from_secs(120)).await;
    figures.push(format!(
        "operator's connections cut for {:.0}s: change made during the cut applied in ECS {:.1}s after the cut ended",
        outage().as_secs_f64() + 1.0,
        applied.as_secs_f64()
    ));

    // Nothing duplicated: one ECS service per ECSService, and per family exactly one revision
    // per image applied (4), all owned by their TaskDefinition.
    let owners = ecs_services_by_owner(&ecs, &cluster).await;
    let service_uids: BTreeSet<String> = ctx
        .api::<ECSService>()
        .list(&ListParams::default())
        .await
        .expect("list")
        .iter()
        .map(|s| s.uid().unwrap_or_default())
        .collect();
    assert_eq!(
        owners.keys().cloned().collect::<BTreeSet<_>>(),
        service_uids,
        "ECS services by owner: {owners:?}"
    );
    assert!(
        owners.values().all(|v| v.len() == 1),
        "one ECS service per ECSService: {owners:?}"
    );
    let images = ["nginx:1.0", "nginx:1.1", "nginx:1.2", "nginx:1.3"];
    for (i, td) in tds.iter().enumerate() {
        let uid = ctx
            .api::<TaskDefinition>()
            .get(td)
            .await
            .expect("get")
            .uid()
            .unwrap_or_default();
        let family = ctx.aws_name(&format!("f{i}"));
        let found = revisions(&ecs, &family).await;
        let want: Vec<(i32, String, String)> = images
            .iter()
            .enumerate()
            .map(|(n, image)| (n as i32 + 1, uid.clone(), image.to_string()))
            .collect();
        assert_eq!(
            found, want,
            "{family}: one revision per change, owned by {td}"
        );
    }
    assert!(
        matches!(operator.0.try_wait(), Ok(None)),
        "the operator process exited; see its log above"
    );
    // What the operator went through, from its log: leadership lost when the Lease could not
    // be renewed for 8 s, and watches restarted from a fresh list after 410 Gone.
    figures.push(format!(
        "operator: lease lost {} times and taken again {} times; {} watches re-listed after 410 Gone",
        log_count(&log, "lost the lease"),
        log_count(&log, "acquired the lease").saturating_sub(1),
        log_count(&log, "too old resource version"),
    ));
    for line in &figures {
        println!("{line}");
    }
}

// ---------------------------------------------------------------------------------------------
// Namespace deletion
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_namespace_deletes_or_retains_per_policy_and_completes() {
    let ctx = TestContext::new("ns-delete").await;
    let cluster = ctx.cluster("c").await;
    let net = ctx.network().await;
    let ecs = ctx.bed.ecs().await;
    let operator = ctx.start_operator().await;
    for policy in ["Delete", "Retain"] {
        let name = policy.to_lowercase();
        ctx.apply_yaml(&task_definition(
            &name,
            &ctx.aws_name(&name),
            "nginx:1.27",
            policy,
        ))
        .await
        .expect("apply TaskDefinition");
        ctx.apply_yaml(&service(&name, &name, &cluster, &net, policy, 1))
            .await
            .expect("apply ECSService");
    }
    all_ready(&ctx, Duration::from_secs(120)).await;

    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let started = Instant::now();
    namespaces
        .delete(&ctx.namespace, &DeleteParams::default())
        .await
        .expect("delete the namespace");
    let timeout = Duration::from_secs(180);
    let mut objects_gone = None;
    loop {
        let ns = namespaces
            .get_opt(&ctx.namespace)
            .await
            .expect("get namespace");
        let Some(ns) = ns else { break };
        if objects_gone.is_none() && objects_left(&ctx).await.is_some_and(|l| l.is_empty()) {
            objects_gone = Some(started.elapsed());
        }
        if started.elapsed() > timeout {
            let conditions = ns
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    format!(
                        "{}={}: {}",
                        c.type_,
                        c.status,
                        c.message.unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>();
            let left = objects_left(&ctx).await.unwrap_or_default();
            panic!(
                "namespace {} still exists {timeout:?} after its deletion: {conditions:#?}; objects left: {left:?}. \
                 Deleting a namespace needs kube-controller-manager's namespace controller: \
                 `hack/sandbox status` must show kube-controller-manager running \
                 (`hack/sandbox up` adds it to a sandbox started without it)",
                ctx.namespace
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = started.elapsed();
    operator.stop().await;

    // Delete: the ECS service deleted and the family deregistered. Retain: both left.
    let owners = ecs_services_by_owner(&ecs, &cluster).await;
    let active = |name: &str| {
        owners
            .values()
            .flatten()
            .filter(|(n, s)| n == name && s == "ACTIVE")
            .count()
    };
    assert_eq!(
        active("delete"),
        0,
        "Delete: ECS service deleted: {owners:?}"
    );
    assert_eq!(active("retain"), 1, "Retain: ECS service kept: {owners:?}");
    let active_revisions = |family: String| {
        let ecs = ecs.clone();
        async move {
            ecs.list_task_definitions()
                .family_prefix(&family)
                .status(TaskDefinitionStatus::Active)
                .send()
                .await
                .expect("ListTaskDefinitions")
                .task_definition_arns()
                .len()
        }
    };
    assert_eq!(
        active_revisions(ctx.aws_name("delete")).await,
        0,
        "Delete: family deregistered"
    );
    assert_eq!(
        active_revisions(ctx.aws_name("retain")).await,
        1,
        "Retain: revision kept"
    );
    println!(
        "namespace with 2 TaskDefinition + ECSService pairs deleted in {:.1}s (its objects gone after {:.1}s)",
        took.as_secs_f64(),
        objects_gone.unwrap_or(took).as_secs_f64()
    );
}
