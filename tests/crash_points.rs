//! Deterministic crash points: the operator dies exactly between an AWS create/run call that
//! succeeded and the status write that would have recorded its result, then a fresh operator
//! takes over. Nothing may be duplicated in AWS (counted in moto by ownership tag or
//! `startedBy`), and the object ends Ready (an ECSTask: Complete).
//!
//! How a crash is modelled. `ecs_operator::runtime::crash::arm(point, namespace)` configures a
//! failpoint of the `fail` crate (cargo feature `failpoints`, which `hack/test` enables; without
//! it these tests fail, they never skip) that panics when an object of that namespace reaches
//! `point`. kube-runtime runs each reconcile in a task of its own and re-raises its panic in
//! the controller's stream, which the operator polls in its single run task (every controller
//! is joined there), so the panic unwinds the whole in-process operator: the reconcile stops
//! at that instruction (no Event, no status write, no second batch), and every other reconcile
//! in flight is cancelled as its handle is dropped. That is what `kill -9` does the moment AWS
//! answered. Unwinding runs destructors, but the operator's only abort background tasks (watch
//! caches, endpoints); nothing is written to AWS or Kubernetes on the way out (a Lease would
//! be released only after a graceful stop). The test waits for the run to end by that panic
//! (no sleep, no timing), disarms the point and starts a new operator on the namespace.
//!
//! Each test arms its point for its own namespace only, so the tests run in parallel with
//! each other and with the rest of the suite in one process.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types::{DesiredStatus, ServiceField, TaskDefinitionStatus};
use ecs_operator::api::{ECSService, ECSTask, TaskDefinition};
use ecs_operator::controllers::ecs_service::autoscaling::{Owner, name_prefix};
use ecs_operator::runtime::crash;
use support::{Network, Operator, TestContext, condition, get_opt, wait_for};

const WAIT: Duration = Duration::from_secs(90);

/// Arms `point` for the test's namespace, starts an operator, runs `apply`, waits until the
/// operator crashed at the point, disarms it and starts a fresh operator. Returns the fresh
/// operator and what `apply` returned.
async fn crash_then_restart<T, F>(ctx: &TestContext, point: &str, apply: F) -> (Operator, T)
where
    F: AsyncFnOnce() -> T,
{
    crash::arm(point, &ctx.namespace).unwrap_or_else(|e| panic!("{e}"));
    let first = ctx.start_operator().await;
    let applied = apply().await;
    let message = first.crashed(WAIT).await;
    assert!(
        message.contains(point),
        "the operator crashed elsewhere than at {point}: {message}"
    );
    crash::disarm(point, &ctx.namespace);
    (ctx.start_operator().await, applied)
}

/// Waits until `name` of kind `K` has condition `type_` True for its current generation.
async fn wait_condition<K, S>(
    ctx: &TestContext,
    name: &str,
    type_: &str,
    parts: impl Fn(&S) -> (&[ecs_operator::api::common::Condition], Option<i64>),
    status: impl Fn(&K) -> Option<&S>,
) -> K
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api = ctx.api::<K>();
    wait_for(&format!("{name} {type_}"), WAIT, || async {
        let obj = get_opt(&api, name).await?;
        let (conditions, observed) = parts(status(&obj)?);
        let (state, _, _) = condition(conditions, type_)?;
        (state == "True" && observed == obj.meta().generation).then_some(obj)
    })
    .await
}

async fn task_definition_ready(ctx: &TestContext, name: &str) -> TaskDefinition {
    wait_condition(
        ctx,
        name,
        "Ready",
        |s: &ecs_operator::api::task_definition::TaskDefinitionStatus| {
            (&s.conditions, s.observed_generation)
        },
        |td: &TaskDefinition| td.status.as_ref(),
    )
    .await
}

async fn service_ready(ctx: &TestContext, name: &str) -> ECSService {
    wait_condition(
        ctx,
        name,
        "Ready",
        |s: &ecs_operator::api::ecs_service::ECSServiceStatus| {
            (&s.conditions, s.observed_generation)
        },
        |svc: &ECSService| svc.status.as_ref(),
    )
    .await
}

fn task_definition(family: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: TaskDefinition
metadata:
  name: web
spec:
  family: {family}
  requiresCompatibilities: [FARGATE]
  networkMode: awsvpc
  cpu: "256"
  memory: "512"
  containerDefinitions:
    - name: app
      image: public.ecr.aws/nginx/nginx:1.27
      portMappings:
        - containerPort: 8080
"#
    )
}

fn service(cluster: &str, net: &Network) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSService
metadata:
  name: web
spec:
  cluster: {cluster}
  taskDefinitionRef:
    name: web
  desiredCount: 1
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration:
      subnets: [{subnet}]
      securityGroups: [{sg}]
"#,
        subnet = net.subnets[0],
        sg = net.security_group
    )
}

/// Revisions of `family` in moto tagged with `uid`, by status.
async fn revisions_owned(
    ctx: &TestContext,
    family: &str,
    uid: &str,
) -> BTreeMap<&'static str, usize> {
    let ecs = ctx.bed.ecs().await;
    let mut counts = BTreeMap::new();
    for (label, status) in [
        ("ACTIVE", TaskDefinitionStatus::Active),
        ("INACTIVE", TaskDefinitionStatus::Inactive),
    ] {
        let arns = ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(status)
            .send()
            .await
            .expect("ListTaskDefinitions")
            .task_definition_arns()
            .to_vec();
        let mut n = 0;
        for arn in arns {
            let described = ecs
                .describe_task_definition()
                .task_definition(&arn)
                .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                .send()
                .await
                .expect("DescribeTaskDefinition");
            let owned = described
                .tags()
                .iter()
                .any(|t| t.key() == Some("ecs-operator.dev/uid") && t.value() == Some(uid));
            let same_family = described
                .task_definition()
                .and_then(|td| td.family())
                .is_some_and(|f| f == family);
            if owned && same_family {
                n += 1;
            }
        }
        counts.insert(label, n);
    }
    counts
}

/// ECS services of `cluster` tagged with `uid`, as (name, status).
async fn services_owned(ctx: &TestContext, cluster: &str, uid: &str) -> Vec<(String, String)> {
    let ecs = ctx.bed.ecs().await;
    let arns = ecs
        .list_services()
        .cluster(cluster)
        .send()
        .await
        .expect("ListServices")
        .service_arns()
        .to_vec();
    let mut owned = Vec::new();
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
            if s.tags()
                .iter()
                .any(|t| t.key() == Some("ecs-operator.dev/uid") && t.value() == Some(uid))
            {
                owned.push((
                    s.service_name().unwrap_or_default().to_string(),
                    s.status().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    owned
}

fn uid_of<K: kube::Resource>(obj: &K) -> String {
    obj.meta().uid.clone().unwrap_or_default()
}

#[tokio::test]
async fn crash_after_register_task_definition_registers_one_revision() {
    let ctx = TestContext::new("crash-register-td").await;
    let family = ctx.aws_name("crash-td");
    let (_op, ()) = crash_then_restart(&ctx, crash::REGISTER_TASK_DEFINITION, async || {
        ctx.apply_yaml(&task_definition(&family))
            .await
            .expect("apply TaskDefinition");
    })
    .await;

    let td = task_definition_ready(&ctx, "web").await;
    let counts = revisions_owned(&ctx, &family, &uid_of(&td)).await;
    assert_eq!(
        counts,
        BTreeMap::from([("ACTIVE", 1), ("INACTIVE", 0)]),
        "one revision, registered before the crash and found after it"
    );
    let status = td.status.expect("status");
    assert!(
        status
            .task_definition_arn
            .as_deref()
            .is_some_and(|arn| arn.ends_with(&format!("{family}:1"))),
        "status records revision 1: {:?}",
        status.task_definition_arn
    );
}

#[tokio::test]
async fn crash_after_create_service_creates_one_service() {
    let ctx = TestContext::new("crash-create-svc").await;
    let cluster = ctx.cluster("crash").await;
    let net = ctx.network().await;
    let family = ctx.aws_name("crash-svc");
    let (_op, ()) = crash_then_restart(&ctx, crash::CREATE_SERVICE, async || {
        ctx.apply_yaml(&task_definition(&family))
            .await
            .expect("apply TaskDefinition");
        ctx.apply_yaml(&service(&cluster, &net))
            .await
            .expect("apply ECSService");
    })
    .await;

    let svc = service_ready(&ctx, "web").await;
    let owned = services_owned(&ctx, &cluster, &uid_of(&svc)).await;
    assert_eq!(owned, vec![("web".to_string(), "ACTIVE".to_string())]);
    let status = svc.status.expect("status");
    assert_eq!(
        status.service_creations,
        Some(1),
        "the service found after the crash is the one created before it"
    );
}

/// A moto of this test's own (hack/moto/server.py, the sandbox's simulation) with a
/// visibility lag: what it creates stays out of List*/Describe* for `lag` seconds, as ECS's
/// eventual consistency can. Its own, because the lag would slow every other test down.
struct LaggingMoto {
    child: std::process::Child,
    url: String,
}

impl LaggingMoto {
    fn start(lag: f64) -> LaggingMoto {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = Command::new(repo.join("hack/sandbox"))
            .arg("moto-python")
            .stderr(Stdio::inherit())
            .output()
            .expect("hack/sandbox moto-python");
        let python = String::from_utf8_lossy(&python.stdout).trim().to_string();
        let mut child = Command::new(&python)
            .arg(repo.join("hack/moto/server.py"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--visibility-lag", &lag.to_string()])
            .env_remove("MOTO_ECS_SERVICE_RUNNING")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start hack/moto/server.py with {python}: {e}"));
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("moto prints where it serves")
                .expect("moto's stderr");
            if let Some(rest) = line.split_once("serving on ").map(|(_, r)| r) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        LaggingMoto { child, url }
    }

    fn aws_settings(&self, bed: &support::TestBed) -> ecs_operator::aws::AwsSettings {
        ecs_operator::aws::AwsSettings {
            endpoint_url: Some(self.url.clone()),
            ..bed.aws_settings()
        }
    }

    async fn ecs(&self, bed: &support::TestBed) -> aws_sdk_ecs::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(bed.region.clone()))
            .endpoint_url(&self.url)
            .credentials_provider(aws_credential_types::Credentials::new(
                &bed.access_key,
                &bed.secret_key,
                None,
                None,
                "crash-points",
            ))
            .load()
            .await;
        aws_sdk_ecs::Client::new(&config)
    }
}

impl Drop for LaggingMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long the lagging moto hides what it created: longer than the crash and the fresh
/// operator's first reconcile take, so crash recovery's ListTasks misses the tasks.
const VISIBILITY_LAG: f64 = 8.0;

#[tokio::test]
async fn crash_after_run_task_starts_every_task_once() {
    let ctx = TestContext::new("crash-run-task").await;
    let moto = LaggingMoto::start(VISIBILITY_LAG);
    let ecs = moto.ecs(ctx.bed).await;
    let cluster = ctx.aws_name("crash");
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .expect("CreateCluster");
    let family = ctx.aws_name("crash-job");
    ecs.register_task_definition()
        .family(&family)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("busybox")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .expect("RegisterTaskDefinition");
    // The revision must be visible before the ECSTask resolves the family.
    wait_for("the task definition visible", WAIT, || async {
        ecs.describe_task_definition()
            .task_definition(&family)
            .send()
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    let manifest = format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSTask
metadata:
  name: job
spec:
  cluster: {cluster}
  taskDefinition: {family}
  launchType: FARGATE
  count: 3
  overrides:
    containerOverrides:
      - name: app
        environment:
          - name: ECS_SIM_RUN_SECONDS
            value: "2"
"#
    );
    let config = ecs_operator::runtime::Config {
        resync_interval: Duration::from_secs(60),
        ..Default::default()
    };
    crash::arm(crash::RUN_TASK, &ctx.namespace).unwrap_or_else(|e| panic!("{e}"));
    let first = ctx
        .start_operator_with_aws(config.clone(), moto.aws_settings(ctx.bed))
        .await;
    ctx.apply_yaml(&manifest).await.expect("apply ECSTask");
    let message = first.crashed(WAIT).await;
    assert!(message.contains(crash::RUN_TASK), "{message}");
    crash::disarm(crash::RUN_TASK, &ctx.namespace);
    let op = ctx
        .start_operator_with_aws(config, moto.aws_settings(ctx.bed))
        .await;

    let task = wait_condition(
        &ctx,
        "job",
        "Complete",
        |s: &ecs_operator::api::ecs_task::ECSTaskStatus| (&s.conditions, s.observed_generation),
        |t: &ECSTask| t.status.as_ref(),
    )
    .await;
    let status = task.status.clone().expect("status");
    assert_eq!((status.succeeded, status.failed), (3, 0));
    assert_eq!(status.tasks.len(), 3, "{:?}", status.tasks);
    // Everything is visible by now (the run took longer than the lag).
    let mut started = 0;
    for desired in [DesiredStatus::Running, DesiredStatus::Stopped] {
        started += ecs
            .list_tasks()
            .cluster(&cluster)
            .started_by(task.started_by())
            .desired_status(desired)
            .send()
            .await
            .expect("ListTasks")
            .task_arns()
            .len();
    }
    assert_eq!(
        started, 3,
        "the three tasks started before the crash, none after"
    );
    assert_eq!(
        op.calls.count("RunTask"),
        1,
        "the fresh operator repeated the interrupted call once (same token)"
    );
}

#[tokio::test]
async fn crash_after_create_schedule_creates_one_schedule() {
    let ctx = TestContext::new("crash-create-schedule").await;
    let cluster = ctx.cluster("crash").await;
    let family = ctx.aws_name("crash-sched");
    let td = format!(
        "apiVersion: ecs-operator.dev/v1alpha1\nkind: TaskDefinition\nmetadata:\n  name: report\nspec:\n  family: {family}\n  containerDefinitions:\n    - name: app\n      image: busybox\n      memory: 128\n"
    );
    let scheduled = format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSScheduledTask
metadata:
  name: nightly
spec:
  roleArn: arn:aws:iam::123456789012:role/scheduler
  schedule: cron(0 2 * * ? *)
  task:
    cluster: {cluster}
    taskDefinitionRef:
      name: report
"#
    );
    let (_op, applied) = crash_then_restart(&ctx, crash::CREATE_SCHEDULE, async || {
        ctx.apply_yaml(&td).await.expect("apply TaskDefinition");
        ctx.apply_yaml(&scheduled)
            .await
            .expect("apply ECSScheduledTask")
    })
    .await;

    ctx.wait_condition(&applied, "Ready").await;
    let listed = ctx
        .bed
        .scheduler()
        .await
        .list_schedules()
        .name_prefix(&ctx.namespace)
        .send()
        .await
        .expect("ListSchedules");
    let names: Vec<&str> = listed.schedules().iter().filter_map(|s| s.name()).collect();
    assert_eq!(names, vec![format!("{}-nightly", ctx.namespace)]);
}

#[tokio::test]
async fn crash_after_create_cloud_map_service_creates_one_service() {
    let ctx = TestContext::new("crash-create-cm").await;
    let cluster = ctx.cluster("crash").await;
    let net = ctx.network().await;
    let family = ctx.aws_name("crash-cm");
    let namespace = format!(
        "apiVersion: ecs-operator.dev/v1alpha1\nkind: CloudMapNamespace\nmetadata:\n  name: sd\nspec:\n  name: {}\n  type: HTTP\n",
        ctx.aws_name("crash-sd")
    );
    let svc = format!(
        "{}  serviceDiscovery:\n    namespaceRef:\n      name: sd\n",
        service(&cluster, &net)
    );
    let (_op, (namespace, svc)) =
        crash_then_restart(&ctx, crash::CREATE_CLOUD_MAP_SERVICE, async || {
            let namespace = ctx
                .apply_yaml(&namespace)
                .await
                .expect("apply CloudMapNamespace");
            ctx.apply_yaml(&task_definition(&family))
                .await
                .expect("apply TaskDefinition");
            let svc = ctx.apply_yaml(&svc).await.expect("apply ECSService");
            (namespace, svc)
        })
        .await;

    let svc = ctx.wait_condition(&svc, "Ready").await;
    let namespace = ctx.wait_condition(&namespace, "Ready").await;
    let namespace_id = namespace.data["status"]["namespaceId"]
        .as_str()
        .expect("namespace id")
        .to_string();
    let listed = ctx
        .bed
        .servicediscovery()
        .await
        .list_services()
        .filters(
            aws_sdk_servicediscovery::types::ServiceFilter::builder()
                .name(aws_sdk_servicediscovery::types::ServiceFilterName::NamespaceId)
                .values(&namespace_id)
                .build()
                .expect("filter"),
        )
        .send()
        .await
        .expect("ListServices");
    let ids: Vec<&str> = listed.services().iter().filter_map(|s| s.id()).collect();
    assert_eq!(
        ids,
        vec![
            svc.data["status"]["serviceDiscovery"]["serviceId"]
                .as_str()
                .expect("status records the Cloud Map service")
        ],
        "one Cloud Map service in the namespace, the one status records"
    );
}

#[tokio::test]
async fn crash_after_create_cluster_creates_one_cluster() {
    let ctx = TestContext::new("crash-create-cluster").await;
    let name = ctx.aws_name("crash-cluster");
    let manifest = format!(
        "apiVersion: ecs-operator.dev/v1alpha1\nkind: ECSCluster\nmetadata:\n  name: main\nspec:\n  clusterName: {name}\n"
    );
    let (_op, applied) = crash_then_restart(&ctx, crash::CREATE_CLUSTER, async || {
        ctx.apply_yaml(&manifest).await.expect("apply ECSCluster")
    })
    .await;

    let cluster = ctx.wait_condition(&applied, "Ready").await;
    let uid = cluster.metadata.uid.clone().unwrap_or_default();
    let ecs = ctx.bed.ecs().await;
    let arns: Vec<String> = ecs
        .list_clusters()
        .send()
        .await
        .expect("ListClusters")
        .cluster_arns()
        .iter()
        .filter(|arn| arn.ends_with(&format!("/{name}")))
        .cloned()
        .collect();
    assert_eq!(arns.len(), 1, "{arns:?}");
    let described = ecs
        .describe_clusters()
        .set_clusters(Some(arns))
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .expect("DescribeClusters");
    let owned: Vec<_> = described
        .clusters()
        .iter()
        .filter(|c| {
            c.status() == Some("ACTIVE")
                && c.tags().iter().any(|t| {
                    t.key() == Some("ecs-operator.dev/uid") && t.value() == Some(uid.as_str())
                })
        })
        .collect();
    assert_eq!(owned.len(), 1, "the cluster carries the ownership tags");
}

const TARGET_TRACKING: &str = r#"  autoScaling:
    minCapacity: 1
    maxCapacity: 3
    targetTracking:
      - name: cpu
        predefinedMetric:
          type: ECSServiceAverageCPUUtilization
        targetValue: 50
"#;

const STEP_SCALING: &str = r#"  autoScaling:
    minCapacity: 1
    maxCapacity: 3
    stepScaling:
      - name: burst
        adjustmentType: ChangeInCapacity
        stepAdjustments:
          - metricIntervalLowerBound: 0
            scalingAdjustment: 1
        alarm:
          metricName: CPUUtilization
          namespace: AWS/ECS
          statistic: Average
          threshold: 80
          comparisonOperator: GreaterThanOrEqualToThreshold
          evaluationPeriods: 2
          period: 60
"#;

/// Crashes at `point` while the service with `auto_scaling` is set up; the fresh operator
/// makes it Ready. Returns the cluster and the service as it is then.
async fn auto_scaled_service_after_crash(
    ctx: &TestContext,
    point: &str,
    auto_scaling: &str,
) -> (String, kube::api::DynamicObject) {
    let cluster = ctx.cluster("crash").await;
    let net = ctx.network().await;
    let family = ctx.aws_name("crash-scaled");
    let svc = format!("{}{auto_scaling}", service(&cluster, &net));
    let (_op, applied) = crash_then_restart(ctx, point, async || {
        ctx.apply_yaml(&task_definition(&family))
            .await
            .expect("apply TaskDefinition");
        ctx.apply_yaml(&svc).await.expect("apply ECSService")
    })
    .await;
    let svc = ctx.wait_condition(&applied, "Ready").await;
    ctx.wait_condition(&applied, "ScalingActive").await;
    (cluster, svc)
}

/// The scalable targets and scaling policies of the ECS service `web` in `cluster`.
async fn scaling_of(ctx: &TestContext, cluster: &str) -> (usize, Vec<String>) {
    let client = ctx.bed.applicationautoscaling().await;
    let resource_id = format!("service/{cluster}/web");
    let targets = client
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(&resource_id)
        .send()
        .await
        .expect("DescribeScalableTargets")
        .scalable_targets()
        .len();
    let policies = client
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_id(&resource_id)
        .send()
        .await
        .expect("DescribeScalingPolicies")
        .scaling_policies()
        .iter()
        .map(|p| p.policy_name().to_string())
        .collect();
    (targets, policies)
}

/// The prefix of the scaling names of ECSService `web`, derived from its uid.
fn scaling_prefix(ctx: &TestContext, svc: &kube::api::DynamicObject) -> String {
    name_prefix(Owner {
        namespace: &ctx.namespace,
        name: "web",
        uid: svc.metadata.uid.as_deref().expect("uid"),
    })
}

#[tokio::test]
async fn crash_after_register_scalable_target_registers_one_target() {
    let ctx = TestContext::new("crash-register-target").await;
    let (cluster, svc) =
        auto_scaled_service_after_crash(&ctx, crash::REGISTER_SCALABLE_TARGET, TARGET_TRACKING)
            .await;
    let (targets, policies) = scaling_of(&ctx, &cluster).await;
    assert_eq!(targets, 1);
    assert_eq!(policies, vec![format!("{}cpu", scaling_prefix(&ctx, &svc))]);
}

#[tokio::test]
async fn crash_after_put_metric_alarm_puts_one_alarm() {
    let ctx = TestContext::new("crash-put-alarm").await;
    let (cluster, svc) =
        auto_scaled_service_after_crash(&ctx, crash::PUT_METRIC_ALARM, STEP_SCALING).await;
    let (targets, policies) = scaling_of(&ctx, &cluster).await;
    assert_eq!(targets, 1);
    assert_eq!(policies.len(), 1, "{policies:?}");
    let prefix = scaling_prefix(&ctx, &svc);
    let alarms = ctx
        .bed
        .cloudwatch()
        .await
        .describe_alarms()
        .alarm_name_prefix(&prefix)
        .send()
        .await
        .expect("DescribeAlarms");
    let alarms: Vec<&str> = alarms
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .collect();
    let recorded: Vec<&str> = svc.data["status"]["autoScaling"]["policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["alarmNames"].as_array().into_iter().flatten())
        .filter_map(|n| n.as_str())
        .collect();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms, recorded, "the alarm status records is the only one");
}
