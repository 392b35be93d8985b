//! ECSService auto scaling against the real kube-apiserver and moto: the scalable target,
//! target tracking and step scaling policies (with their CloudWatch alarms), scheduled
//! actions, the scaler's count, deregistration, deletion and admission.

mod support;

use std::time::Duration;

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use ecs_operator::api::ECSService;
use ecs_operator::controllers::ecs_service::autoscaling::{Owner, name_prefix};
use ecs_operator::runtime::Config;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use support::{Network, TestContext, condition, get_opt, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn task_definition(family: &str) -> String {
    format!(
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
  containerDefinitions:
    - name: app
      image: nginx:1.27
      portMappings:
        - containerPort: 8080
"#
    )
}

fn service(name: &str, cluster: &str, net: &Network, extra: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSService
metadata:
  name: {name}
spec:
  cluster: {cluster}
  taskDefinitionRef:
    name: app
  desiredCount: 2
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration:
      subnets: [{s0}, {s1}]
      securityGroups: [{sg}]
{extra}
"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group
    )
}

const CPU: &str = r#"
    targetTracking:
      - name: cpu
        predefinedMetric:
          type: ECSServiceAverageCPUUtilization
        targetValue: 50
        scaleInCooldown: 120
        scaleOutCooldown: 60"#;

const STEP: &str = r#"
    stepScaling:
      - name: burst
        adjustmentType: ChangeInCapacity
        cooldown: 60
        metricAggregationType: Average
        stepAdjustments:
          - metricIntervalLowerBound: 0
            metricIntervalUpperBound: 20
            scalingAdjustment: 1
          - metricIntervalLowerBound: 20
            scalingAdjustment: 2
        alarm:
          metricName: CPUUtilization
          namespace: AWS/ECS
          statistic: Average
          threshold: 80
          comparisonOperator: GreaterThanOrEqualToThreshold
          evaluationPeriods: 2
          period: 60"#;

const NIGHT: &str = r#"
    scheduled:
      - name: night
        schedule: cron(0 22 * * ? *)
        timezone: Europe/Paris
        minCapacity: 1
        maxCapacity: 2"#;

fn auto_scaling(min: i32, max: i32, parts: &[&str]) -> String {
    format!(
        "  autoScaling:\n    minCapacity: {min}\n    maxCapacity: {max}{}",
        parts.concat()
    )
}

struct Setup {
    ctx: TestContext,
    cluster: String,
    net: Network,
}

async fn setup(test: &str) -> Setup {
    let ctx = TestContext::new(test).await;
    let cluster = ctx.cluster("c").await;
    let net = ctx.network().await;
    ctx.apply_yaml(&task_definition(&ctx.aws_name("app")))
        .await
        .expect("apply TaskDefinition");
    Setup { ctx, cluster, net }
}

/// Waits until the service is Ready for its generation and `check` holds on its status.
async fn settled(
    ctx: &TestContext,
    name: &str,
    what: &str,
    check: impl Fn(&ECSService) -> bool,
) -> ECSService {
    let api = ctx.api::<ECSService>();
    wait_for(&format!("ECSService {name}: {what}"), WAIT, || async {
        let svc = get_opt(&api, name).await?;
        let status = svc.status.as_ref()?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True" && status.observed_generation == svc.metadata.generation && check(&svc))
            .then_some(svc)
    })
    .await
}

fn scaling_active(svc: &ECSService) -> bool {
    svc.status
        .as_ref()
        .and_then(|s| condition(&s.conditions, "ScalingActive"))
        .is_some_and(|(status, _, _)| status == "True")
}

/// The prefix of the AWS names of ECSService `name`, derived from its uid.
async fn prefix(ctx: &TestContext, name: &str) -> String {
    let svc = get_opt(&ctx.api::<ECSService>(), name)
        .await
        .expect("ECSService exists");
    name_prefix(Owner {
        namespace: &ctx.namespace,
        name,
        uid: svc.metadata.uid.as_deref().expect("uid"),
    })
}

fn resource_id(cluster: &str, name: &str) -> String {
    format!("service/{cluster}/{name}")
}

/// (min, max) of the scalable target, if registered.
async fn target(ctx: &TestContext, cluster: &str, name: &str) -> Option<(i32, i32)> {
    let out = ctx
        .bed
        .applicationautoscaling()
        .await
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_ids(resource_id(cluster, name))
        .send()
        .await
        .expect("DescribeScalableTargets");
    out.scalable_targets()
        .first()
        .map(|t| (t.min_capacity(), t.max_capacity()))
}

/// Policies on the target: (name, type, target value or first step's adjustment).
async fn policies(ctx: &TestContext, cluster: &str, name: &str) -> Vec<(String, String, f64)> {
    let out = ctx
        .bed
        .applicationautoscaling()
        .await
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id(cluster, name))
        .send()
        .await
        .expect("DescribeScalingPolicies");
    let mut policies: Vec<_> = out
        .scaling_policies()
        .iter()
        .map(|p| {
            let value = p
                .target_tracking_scaling_policy_configuration()
                .map(|t| t.target_value())
                .or_else(|| {
                    p.step_scaling_policy_configuration()
                        .and_then(|s| s.step_adjustments().first())
                        .map(|s| f64::from(s.scaling_adjustment()))
                })
                .unwrap_or_default();
            (
                p.policy_name().to_string(),
                p.policy_type().as_str().to_string(),
                value,
            )
        })
        .collect();
    policies.sort_by(|a, b| a.0.cmp(&b.0));
    policies
}

async fn scheduled_actions(ctx: &TestContext, cluster: &str, name: &str) -> Vec<String> {
    let out = ctx
        .bed
        .applicationautoscaling()
        .await
        .describe_scheduled_actions()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id(cluster, name))
        .send()
        .await
        .expect("DescribeScheduledActions");
    out.scheduled_actions()
        .iter()
        .map(|a| a.scheduled_action_name().to_string())
        .collect()
}

/// Alarms named with `prefix`: (name, threshold, alarm actions).
async fn alarms(ctx: &TestContext, prefix: &str) -> Vec<(String, f64, Vec<String>)> {
    let out = ctx
        .bed
        .cloudwatch()
        .await
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .send()
        .await
        .expect("DescribeAlarms");
    out.metric_alarms()
        .iter()
        .map(|a| {
            (
                a.alarm_name().unwrap_or_default().to_string(),
                a.threshold().unwrap_or_default(),
                a.alarm_actions().to_vec(),
            )
        })
        .collect()
}

async fn ecs_desired_count(ctx: &TestContext, cluster: &str, name: &str) -> Option<i32> {
    let out = ctx
        .bed
        .ecs()
        .await
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .ok()?;
    out.services().first().map(|s| s.desired_count())
}

const PUTS: [&str; 4] = [
    "RegisterScalableTarget",
    "PutScalingPolicy",
    "PutScheduledAction",
    "PutMetricAlarm",
];

#[tokio::test]
async fn each_policy_kind_is_created_updated_and_removed_without_churn() {
    let Setup { ctx, cluster, net } = setup("as-policies").await;
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&service(
        "web",
        &cluster,
        &net,
        &auto_scaling(1, 4, &[CPU, STEP, NIGHT]),
    ))
    .await
    .expect("apply");
    let svc = settled(&ctx, "web", "scaling active", scaling_active).await;
    let status = svc
        .status
        .and_then(|s| s.auto_scaling)
        .expect("status.autoScaling");
    assert_eq!(status.resource_id, resource_id(&cluster, "web"));
    assert_eq!(
        (status.min_capacity, status.max_capacity),
        (Some(1), Some(4))
    );
    assert_eq!(status.policies.len(), 2);
    assert!(status.policies.iter().all(|p| p.policy_arn.is_some()));
    let p = prefix(&ctx, "web").await;
    assert_eq!(
        status
            .policies
            .iter()
            .flat_map(|p| p.alarm_names.clone())
            .collect::<Vec<_>>(),
        vec![format!("{p}burst")]
    );

    assert_eq!(target(&ctx, &cluster, "web").await, Some((1, 4)));
    let found = policies(&ctx, &cluster, "web").await;
    assert_eq!(
        found,
        vec![
            (format!("{p}burst"), "StepScaling".into(), 1.0),
            (format!("{p}cpu"), "TargetTrackingScaling".into(), 50.0),
        ]
    );
    assert_eq!(
        scheduled_actions(&ctx, &cluster, "web").await,
        vec![format!("{p}night")]
    );
    let step_arn = status
        .policies
        .iter()
        .find(|p| p.name == "burst")
        .and_then(|p| p.policy_arn.clone())
        .expect("step policy ARN");
    assert_eq!(
        alarms(&ctx, &p).await,
        vec![(format!("{p}burst"), 80.0, vec![step_arn])],
        "the step policy's alarm triggers it"
    );

    // Ten more reconciles of the unchanged spec: no Put, no Register.
    let before: Vec<u64> = PUTS.iter().map(|op| operator.calls.count(op)).collect();
    let describes = operator.calls.count("DescribeScalableTargets");
    let api = ctx.api::<ECSService>();
    for i in 0..10 {
        let patch = serde_json::json!({"metadata": {"annotations": {"test/poke": i.to_string()}}});
        api.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("poke");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after: Vec<u64> = PUTS.iter().map(|op| operator.calls.count(op)).collect();
    assert_eq!(
        after,
        before,
        "steady state puts nothing: {:?}",
        operator.calls.snapshot()
    );
    assert!(
        operator.calls.count("DescribeScalableTargets") >= describes + 5,
        "the pokes did reconcile"
    );

    // Update: new target value, new threshold and range; the scheduled action goes.
    let updated = auto_scaling(2, 6, &[CPU, STEP])
        .replace("targetValue: 50", "targetValue: 60")
        .replace("threshold: 80", "threshold: 90");
    ctx.apply_yaml(&service("web", &cluster, &net, &updated))
        .await
        .expect("update");
    settled(&ctx, "web", "range 2-6", |svc| {
        svc.status
            .as_ref()
            .and_then(|s| s.auto_scaling.as_ref())
            .is_some_and(|a| a.max_capacity == Some(6))
    })
    .await;
    assert_eq!(target(&ctx, &cluster, "web").await, Some((2, 6)));
    assert_eq!(
        policies(&ctx, &cluster, "web").await[1],
        (format!("{p}cpu"), "TargetTrackingScaling".into(), 60.0)
    );
    assert!(scheduled_actions(&ctx, &cluster, "web").await.is_empty());
    assert_eq!(alarms(&ctx, &p).await[0].1, 90.0);

    // Remove the step policy: its alarm goes with it.
    ctx.apply_yaml(&service("web", &cluster, &net, &auto_scaling(2, 6, &[CPU])))
        .await
        .expect("remove step scaling");
    settled(&ctx, "web", "one policy", |svc| {
        svc.status
            .as_ref()
            .and_then(|s| s.auto_scaling.as_ref())
            .is_some_and(|a| a.policies.len() == 1)
    })
    .await;
    assert_eq!(
        policies(&ctx, &cluster, "web")
            .await
            .into_iter()
            .map(|p| p.0)
            .collect::<Vec<_>>(),
        vec![format!("{p}cpu")]
    );
    assert!(alarms(&ctx, &p).await.is_empty(), "the alarm is deleted");
    operator.stop().await;
}

#[tokio::test]
async fn the_scalers_count_is_left_alone_until_auto_scaling_is_removed() {
    let Setup { ctx, cluster, net } = setup("as-scaler").await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
    ctx.apply_yaml(&service("web", &cluster, &net, &auto_scaling(1, 5, &[CPU])))
        .await
        .expect("apply");
    settled(&ctx, "web", "scaling active", scaling_active).await;
    assert_eq!(ecs_desired_count(&ctx, &cluster, "web").await, Some(2));

    // "The scaler" sets 3 tasks.
    ctx.bed
        .ecs()
        .await
        .update_service()
        .cluster(&cluster)
        .service("web")
        .desired_count(3)
        .send()
        .await
        .expect("UpdateService");
    settled(&ctx, "web", "status follows the scaler", |svc| {
        svc.status
            .as_ref()
            .and_then(|s| s.auto_scaling.as_ref())
            .is_some_and(|a| a.desired_count == Some(3))
    })
    .await;
    // A changed desiredCount is only an initial count: not applied either.
    let updated = service("web", &cluster, &net, &auto_scaling(1, 5, &[CPU]))
        .replace("desiredCount: 2", "desiredCount: 1");
    ctx.apply_and_observe(&updated).await;
    assert_eq!(ecs_desired_count(&ctx, &cluster, "web").await, Some(3));
    assert_eq!(
        operator.calls.count("UpdateService"),
        0,
        "the operator never sets the count while auto scaling: {:?}",
        operator.calls.snapshot()
    );

    // Without autoScaling the target goes and desiredCount applies again.
    ctx.apply_yaml(
        &service("web", &cluster, &net, "").replace("desiredCount: 2", "desiredCount: 1"),
    )
    .await
    .expect("remove autoScaling");
    let svc = settled(&ctx, "web", "auto scaling removed", |svc| {
        svc.status
            .as_ref()
            .is_some_and(|s| s.auto_scaling.is_none() && s.desired_count == Some(1))
    })
    .await;
    assert!(
        svc.status
            .as_ref()
            .and_then(|s| condition(&s.conditions, "ScalingActive"))
            .is_none()
    );
    assert_eq!(target(&ctx, &cluster, "web").await, None);
    assert!(policies(&ctx, &cluster, "web").await.is_empty());
    assert_eq!(ecs_desired_count(&ctx, &cluster, "web").await, Some(1));
    operator.stop().await;
}

#[tokio::test]
async fn deletion_removes_policies_alarms_and_target_unless_retained() {
    let Setup { ctx, cluster, net } = setup("as-delete").await;
    let operator = ctx.start_operator().await;
    let scaling = auto_scaling(1, 3, &[CPU, STEP, NIGHT]);
    ctx.apply_yaml(&service("gone", &cluster, &net, &scaling))
        .await
        .expect("apply");
    ctx.apply_yaml(&service(
        "kept",
        &cluster,
        &net,
        &format!("  deletionPolicy: Retain\n{scaling}"),
    ))
    .await
    .expect("apply");
    settled(&ctx, "gone", "scaling active", scaling_active).await;
    settled(&ctx, "kept", "scaling active", scaling_active).await;

    let api = ctx.api::<ECSService>();
    let (gone_prefix, kept_prefix) = (prefix(&ctx, "gone").await, prefix(&ctx, "kept").await);
    for name in ["gone", "kept"] {
        api.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    for name in ["gone", "kept"] {
        wait_for(&format!("{name} removed"), WAIT, || async {
            get_opt(&api, name).await.is_none().then_some(())
        })
        .await;
    }
    assert_eq!(target(&ctx, &cluster, "gone").await, None);
    assert!(policies(&ctx, &cluster, "gone").await.is_empty());
    assert!(scheduled_actions(&ctx, &cluster, "gone").await.is_empty());
    assert!(alarms(&ctx, &gone_prefix).await.is_empty());

    assert_eq!(target(&ctx, &cluster, "kept").await, Some((1, 3)));
    assert_eq!(policies(&ctx, &cluster, "kept").await.len(), 2);
    assert_eq!(scheduled_actions(&ctx, &cluster, "kept").await.len(), 1);
    assert_eq!(alarms(&ctx, &kept_prefix).await.len(), 1);
    operator.stop().await;
}

/// Dry-run server-side apply of one manifest.
async fn dry_run(ctx: &TestContext, yaml: &str) -> Result<DynamicObject, kube::Error> {
    let mut obj: DynamicObject = serde_yaml_ng::from_str(yaml).expect("test manifest");
    obj.metadata.namespace = Some(ctx.namespace.clone());
    let gvk = GroupVersionKind::gvk("ecs-operator.dev", "v1alpha1", "ECSService");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "ecsservices");
    let api: kube::Api<DynamicObject> =
        kube::Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource);
    let mut params = PatchParams::apply("admission-test").force();
    params.dry_run = true;
    api.patch("web", &params, &Patch::Apply(&obj)).await
}

fn manifest(scaling: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSService
metadata:
  name: web
spec:
  cluster: default
  taskDefinition: "web:1"
{extra}  autoScaling:
{scaling}
"#
    )
}

#[tokio::test]
async fn invalid_auto_scaling_is_rejected_at_admission() {
    let ctx = TestContext::new("as-admission").await;
    let tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef";
    let lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/front/fedcba9876543210";
    let alarm = "alarm: {metricName: CPUUtilization, namespace: AWS/ECS, statistic: Average, threshold: 80, comparisonOperator: GreaterThanThreshold, evaluationPeriods: 1}";
    let cpu = "predefinedMetric: {type: ECSServiceAverageCPUUtilization}";
    let rows: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "min above max",
            manifest("    minCapacity: 5\n    maxCapacity: 2", ""),
            vec![
                "spec.autoScaling.minCapacity",
                "must not exceed maxCapacity",
            ],
        ),
        (
            "negative capacity",
            manifest("    minCapacity: -1\n    maxCapacity: 2", ""),
            vec!["spec.autoScaling.minCapacity"],
        ),
        (
            "both metrics",
            manifest(
                &format!(
                    "    minCapacity: 1\n    maxCapacity: 2\n    targetTracking:\n      - {{name: a, targetValue: 50, {cpu}, customizedMetric: {{metricName: m, namespace: n, statistic: Average}}}}"
                ),
                "",
            ),
            vec![
                "spec.autoScaling.targetTracking[0].predefinedMetric",
                "exactly one of predefinedMetric and customizedMetric",
            ],
        ),
        (
            "ALB metric without a load balancer",
            manifest(
                &format!(
                    "    minCapacity: 1\n    maxCapacity: 2\n    targetTracking:\n      - {{name: a, targetValue: 50, predefinedMetric: {{type: ALBRequestCountPerTarget, loadBalancerArn: \"{lb}\"}}}}"
                ),
                "",
            ),
            vec!["spec.autoScaling.targetTracking", "needs a load balancer"],
        ),
        (
            "ALB metric without label or load balancer ARN",
            manifest(
                "    minCapacity: 1\n    maxCapacity: 2\n    targetTracking:\n      - {name: a, targetValue: 50, predefinedMetric: {type: ALBRequestCountPerTarget}}",
                &format!(
                    "  loadBalancers: [{{targetGroupArn: \"{tg}\", containerName: app, containerPort: 8080}}]\n"
                ),
            ),
            vec![
                "predefinedMetric.resourceLabel",
                "needs resourceLabel or loadBalancerArn",
            ],
        ),
        (
            "bad schedule",
            manifest(
                "    minCapacity: 1\n    maxCapacity: 2\n    scheduled:\n      - {name: a, schedule: \"every day\", minCapacity: 1}",
                "",
            ),
            vec!["spec.autoScaling.scheduled[0].schedule"],
        ),
        (
            "bad rate",
            manifest(
                "    minCapacity: 1\n    maxCapacity: 2\n    scheduled:\n      - {name: a, schedule: \"rate(5 fortnights)\", minCapacity: 1}",
                "",
            ),
            vec!["spec.autoScaling.scheduled[0].schedule"],
        ),
        (
            "duplicate scheduled names",
            manifest(
                "    minCapacity: 1\n    maxCapacity: 2\n    scheduled:\n      - {name: a, schedule: \"rate(5 minutes)\", minCapacity: 1}\n      - {name: a, schedule: \"at(2030-01-01T00:00:00)\", maxCapacity: 1}",
                "",
            ),
            vec![
                "spec.autoScaling.scheduled",
                "scheduled action names must be unique",
            ],
        ),
        (
            "duplicate policy names across kinds",
            manifest(
                &format!(
                    "    minCapacity: 1\n    maxCapacity: 2\n    targetTracking:\n      - {{name: a, targetValue: 50, {cpu}}}\n    stepScaling:\n      - {{name: a, adjustmentType: ChangeInCapacity, stepAdjustments: [{{metricIntervalLowerBound: 0, scalingAdjustment: 1}}], {alarm}}}"
                ),
                "",
            ),
            vec![
                "spec.autoScaling.stepScaling",
                "policy names must be unique",
            ],
        ),
        (
            "overlapping steps",
            manifest(
                &format!(
                    "    minCapacity: 1\n    maxCapacity: 2\n    stepScaling:\n      - {{name: a, adjustmentType: ChangeInCapacity, stepAdjustments: [{{metricIntervalLowerBound: 0, metricIntervalUpperBound: 20, scalingAdjustment: 1}}, {{metricIntervalLowerBound: 10, scalingAdjustment: 2}}], {alarm}}}"
                ),
                "",
            ),
            vec!["spec.autoScaling.stepScaling[0].stepAdjustments", "overlap"],
        ),
        (
            "scheduled min above max",
            manifest(
                "    minCapacity: 1\n    maxCapacity: 2\n    scheduled:\n      - {name: a, schedule: \"rate(5 minutes)\", minCapacity: 3, maxCapacity: 1}",
                "",
            ),
            vec!["spec.autoScaling.scheduled[0].minCapacity"],
        ),
    ];
    let mut failures = Vec::new();
    for (what, yaml, expect) in &rows {
        match dry_run(&ctx, yaml).await {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(kube::Error::Api(status)) => {
                for want in expect {
                    if status.code != 422 || !status.message.contains(want) {
                        failures.push(format!("{what}: lacks {want:?}: {}", status.message));
                    }
                }
            }
            Err(other) => failures.push(format!("{what}: {other}")),
        }
    }
    // And a full valid one is accepted.
    let valid = manifest(
        &format!(
            "    minCapacity: 1\n    maxCapacity: 4\n    suspended: {{scheduledScalingSuspended: true}}\n    targetTracking:\n      - {{name: req, targetValue: 100, predefinedMetric: {{type: ALBRequestCountPerTarget, loadBalancerArn: \"{lb}\"}}}}\n    stepScaling:\n      - {{name: b, adjustmentType: ChangeInCapacity, stepAdjustments: [{{metricIntervalLowerBound: 0, metricIntervalUpperBound: 20, scalingAdjustment: 1}}, {{metricIntervalLowerBound: 20, scalingAdjustment: 2}}], {alarm}}}\n    scheduled:\n      - {{name: s, schedule: \"cron(0 8 * * ? *)\", timezone: Europe/Paris, minCapacity: 2}}"
        ),
        &format!(
            "  loadBalancers: [{{targetGroupArn: \"{tg}\", containerName: app, containerPort: 8080}}]\n"
        ),
    );
    if let Err(err) = dry_run(&ctx, &valid).await {
        failures.push(format!("valid manifest rejected: {err}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
