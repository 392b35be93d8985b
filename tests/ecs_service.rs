//! ECSService against the real kube-apiserver and moto (with the ECS scheduler simulation).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types::{ContainerDefinition, ServiceField};
use ecs_operator::api::{ECSService, TaskDefinition};
use ecs_operator::runtime::Config;
use kube::api::{DeleteParams, Patch, PatchParams};
use support::{Network, TestContext, condition, events_with_reason, get_opt, wait_for};

const WAIT: Duration = Duration::from_secs(40);

fn task_definition(name: &str, family: &str, image: &str) -> String {
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
  containerDefinitions:
    - name: app
      image: {image}
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
  tags:
    - key: team
      value: web
{extra}
"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group
    )
}

/// Waits until the ECSService is Ready for its current generation.
async fn ready(ctx: &TestContext, name: &str) -> ECSService {
    let api = ctx.api::<ECSService>();
    wait_for(&format!("ECSService {name} Ready"), WAIT, || async {
        let svc = get_opt(&api, name).await?;
        let status = svc.status.as_ref()?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True" && status.observed_generation == svc.metadata.generation).then_some(svc)
    })
    .await
}

async fn condition_of(
    ctx: &TestContext,
    name: &str,
    type_: &str,
) -> Option<(String, String, String)> {
    let svc = get_opt(&ctx.api::<ECSService>(), name).await?;
    condition(&svc.status?.conditions, type_)
}

async fn describe(
    ctx: &TestContext,
    cluster: &str,
    name: &str,
) -> Option<aws_sdk_ecs::types::Service> {
    let out = ctx
        .bed
        .ecs()
        .await
        .describe_services()
        .cluster(cluster)
        .services(name)
        .include(ServiceField::Tags)
        .send()
        .await
        .ok()?;
    out.services().first().cloned()
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
    let family = ctx.aws_name("app");
    ctx.apply_yaml(&task_definition("app", &family, "nginx:1.27"))
        .await
        .expect("apply TaskDefinition");
    Setup { ctx, cluster, net }
}

#[tokio::test]
async fn create_rolls_out_and_mirrors_ecs_in_status() {
    let Setup { ctx, cluster, net } = setup("svc-create").await;
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&service("web", &cluster, &net, ""))
        .await
        .expect("apply");

    let svc = ready(&ctx, "web").await;
    let status = svc.status.clone().expect("status");
    let td = get_opt(&ctx.api::<TaskDefinition>(), "app")
        .await
        .and_then(|t| t.status)
        .and_then(|s| s.task_definition_arn);
    assert_eq!(
        status.task_definition_arn, td,
        "the resolved ARN is in status"
    );
    assert_eq!(status.service_status.as_deref(), Some("ACTIVE"));
    assert_eq!(
        (
            status.desired_count,
            status.running_count,
            status.pending_count
        ),
        (Some(2), Some(2), Some(0))
    );
    assert_eq!(status.rollout_state.as_deref(), Some("COMPLETED"));
    assert_eq!(status.deployments.len(), 1);
    assert_eq!(status.deployments[0].status, "PRIMARY");
    assert!(!status.events.is_empty(), "service events are mirrored");
    // Spec is never written: the reference stays a reference.
    assert!(svc.spec.task_definition.is_none());
    assert_eq!(
        svc.spec
            .task_definition_ref
            .as_ref()
            .map(|r| r.name.as_str()),
        Some("app")
    );

    let ecs = describe(&ctx, &cluster, "web")
        .await
        .expect("service in ECS");
    assert_eq!(ecs.task_definition(), td.as_deref(), "ECS got the full ARN");
    assert_eq!(ecs.desired_count(), 2);
    let tags: BTreeMap<_, _> = ecs
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    assert_eq!(
        tags.get("ecs-operator.dev/uid").copied(),
        svc.metadata.uid.as_deref()
    );
    assert_eq!(tags.get("team"), Some(&"web"));
    assert_eq!(operator.calls.count("CreateService"), 1);
    assert!(!events_with_reason(&ctx, "Created").await.is_empty());
    operator.stop().await;
}

#[tokio::test]
async fn new_task_definition_revision_rolls_the_service_at_once() {
    let Setup { ctx, cluster, net } = setup("svc-roll").await;
    // A long resync: only the watch relation can roll the service in time.
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(3600),
            ..Config::default()
        })
        .await;
    ctx.apply_yaml(&service("web", &cluster, &net, ""))
        .await
        .expect("apply");
    ready(&ctx, "web").await;

    let family = ctx.aws_name("app");
    ctx.apply_yaml(&task_definition("app", &family, "nginx:1.28"))
        .await
        .expect("new image");
    wait_for("service on revision 2 and Ready", WAIT, || async {
        let svc = get_opt(&ctx.api::<ECSService>(), "web").await?;
        let status = svc.status?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True"
            && status
                .task_definition_arn
                .as_deref()?
                .ends_with(&format!("{family}:2")))
        .then_some(())
    })
    .await;
    let ecs = describe(&ctx, &cluster, "web").await.expect("service");
    assert!(
        ecs.task_definition()
            .unwrap_or_default()
            .ends_with(&format!("{family}:2"))
    );
    assert_eq!(
        operator.calls.count("UpdateService"),
        1,
        "one update for one new revision"
    );
    assert!(
        events_with_reason(&ctx, "DriftRepaired").await.is_empty(),
        "a new revision is the operator's own change, not drift"
    );
    assert!(!events_with_reason(&ctx, "Updated").await.is_empty());
    operator.stop().await;
}

/// Rollouts are followed by the batched observer (10 services per DescribeServices), not by
/// each service describing itself every poll.
#[tokio::test]
async fn simultaneous_rollouts_are_observed_in_batches() {
    const SERVICES: u64 = 8;
    let Setup { ctx, cluster, net } = setup("svc-roll-batch").await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(3600),
            ..Config::default()
        })
        .await;
    for i in 0..SERVICES {
        ctx.apply_yaml(&service(&format!("web{i}"), &cluster, &net, ""))
            .await
            .expect("apply");
    }
    for i in 0..SERVICES {
        ready(&ctx, &format!("web{i}")).await;
    }
    let before = operator.calls.count("DescribeServices");

    let family = ctx.aws_name("app");
    ctx.apply_yaml(&task_definition("app", &family, "nginx:1.28"))
        .await
        .expect("new image");
    for i in 0..SERVICES {
        let name = format!("web{i}");
        wait_for(&format!("{name} rolled and Ready"), WAIT, || async {
            let svc = get_opt(&ctx.api::<ECSService>(), &name).await?;
            let status = svc.status?;
            let (ready, _, _) = condition(&status.conditions, "Ready")?;
            (ready == "True"
                && status
                    .task_definition_arn
                    .as_deref()?
                    .ends_with(&format!("{family}:2")))
            .then_some(())
        })
        .await;
    }
    let during = operator.calls.count("DescribeServices") - before;
    assert_eq!(operator.calls.count("UpdateService"), SERVICES);
    // One describe per service when its reconcile updates it, then batches: a service that
    // polled its own rollout would add at least one more each.
    assert!(
        during < 2 * SERVICES,
        "{during} DescribeServices for {SERVICES} rollouts"
    );
    operator.stop().await;
}

#[tokio::test]
async fn field_groups_update_in_place_and_steady_state_writes_nothing() {
    let Setup { ctx, cluster, net } = setup("svc-update").await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
    ctx.apply_yaml(&service("web", &cluster, &net, ""))
        .await
        .expect("apply");
    ready(&ctx, "web").await;

    // Ten more reconciles of the unchanged, converged service: zero writes.
    let writes = operator.calls.writes();
    let api = ctx.api::<ECSService>();
    for i in 0..10 {
        let patch = serde_json::json!({"metadata": {"annotations": {"test/poke": i.to_string()}}});
        api.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("poke");
    }
    // Subnets in another order are not a change either. Its generation observed, the
    // operator has also handled every poke before it (one watch, in order, one object).
    let reordered = service("web", &cluster, &net, "").replace(
        &format!("subnets: [{}, {}]", net.subnets[0], net.subnets[1]),
        &format!("subnets: [{}, {}]", net.subnets[1], net.subnets[0]),
    );
    ctx.apply_and_observe(&reordered).await;
    assert_eq!(
        operator.calls.writes(),
        writes,
        "a converged service makes no write calls: {:?}",
        operator.calls.snapshot()
    );

    // Counts, deployment configuration, network, tags and a forced redeploy in one change.
    let updated = service("web", &cluster, &net, "")
        .replace("desiredCount: 2", "desiredCount: 3")
        .replace(
            &format!("subnets: [{}, {}]", net.subnets[0], net.subnets[1]),
            &format!("subnets: [{}]", net.subnets[1]),
        )
        .replace("      value: web", "      value: payments")
        + "  deploymentConfiguration:\n    maximumPercent: 150\n    minimumHealthyPercent: 50\n  redeployToken: \"1\"\n  healthCheckGracePeriodSeconds: 30\n";
    ctx.apply_yaml(&updated).await.expect("apply update");
    let svc = ready(&ctx, "web").await;
    let ecs = describe(&ctx, &cluster, "web").await.expect("service");
    assert_eq!(ecs.desired_count(), 3);
    let dc = ecs
        .deployment_configuration()
        .expect("deployment configuration");
    assert_eq!(
        (dc.maximum_percent(), dc.minimum_healthy_percent()),
        (Some(150), Some(50))
    );
    let subnets = ecs
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .map(|a| a.subnets().to_vec());
    assert_eq!(subnets, Some(vec![net.subnets[1].clone()]));
    assert_eq!(ecs.health_check_grace_period_seconds(), Some(30));
    let tags: BTreeMap<_, _> = ecs
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    assert_eq!(tags.get("team"), Some(&"payments"));
    assert_eq!(
        svc.status
            .as_ref()
            .and_then(|s| s.applied_redeploy_token.as_deref()),
        Some("1")
    );
    assert_eq!(
        operator.calls.count("UpdateService"),
        1,
        "one UpdateService carries every changed field"
    );
    let updates = events_with_reason(&ctx, "Updated").await;
    assert!(
        updates
            .iter()
            .any(|n| n.contains("desiredCount") && n.contains("networkConfiguration")),
        "{updates:?}"
    );

    assert_eq!(operator.calls.count("UpdateService"), 1);
    operator.stop().await;
}

#[tokio::test]
async fn drift_made_in_ecs_is_repaired_with_an_event() {
    let Setup { ctx, cluster, net } = setup("svc-drift").await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
    ctx.apply_yaml(&service("web", &cluster, &net, ""))
        .await
        .expect("apply");
    ready(&ctx, "web").await;

    let ecs = ctx.bed.ecs().await;
    ecs.update_service()
        .cluster(&cluster)
        .service("web")
        .desired_count(5)
        .send()
        .await
        .expect("change by hand");
    wait_for("desiredCount repaired", WAIT, || async {
        (describe(&ctx, &cluster, "web").await?.desired_count() == 2).then_some(())
    })
    .await;
    let notes = wait_for("DriftRepaired event", WAIT, || async {
        let notes = events_with_reason(&ctx, "DriftRepaired").await;
        (!notes.is_empty()).then_some(notes)
    })
    .await;
    assert!(notes[0].contains("desiredCount"), "{notes:?}");
    ready(&ctx, "web").await;
    // Reads are batched: the periodic observation used DescribeServices, no per-object polling storm.
    assert!(operator.calls.count("DescribeServices") > 0);
    operator.stop().await;
}

#[tokio::test]
async fn deletion_policies_delete_or_keep_the_ecs_service() {
    let Setup { ctx, cluster, net } = setup("svc-delete").await;
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&service("gone", &cluster, &net, ""))
        .await
        .expect("apply");
    ctx.apply_yaml(&service("kept", &cluster, &net, "  deletionPolicy: Retain"))
        .await
        .expect("apply");
    ready(&ctx, "gone").await;
    ready(&ctx, "kept").await;

    let api = ctx.api::<ECSService>();
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
    assert_eq!(
        describe(&ctx, &cluster, "gone")
            .await
            .and_then(|s| s.status().map(str::to_string))
            .as_deref(),
        Some("INACTIVE")
    );
    let kept = describe(&ctx, &cluster, "kept")
        .await
        .expect("kept service");
    assert_eq!(kept.status(), Some("ACTIVE"));
    assert_eq!(
        kept.desired_count(),
        2,
        "Retain leaves the service untouched"
    );
    operator.stop().await;
}

#[tokio::test]
async fn existing_service_needs_opt_in_to_be_adopted() {
    let Setup { ctx, cluster, net } = setup("svc-adopt").await;
    let ecs = ctx.bed.ecs().await;
    let foreign_td = ecs
        .register_task_definition()
        .family(ctx.aws_name("legacy"))
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("busybox")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .expect("register")
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("arn")
        .to_string();
    ecs.create_service()
        .cluster(&cluster)
        .service_name("legacy")
        .task_definition(&foreign_td)
        .desired_count(1)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .send()
        .await
        .expect("create by hand");

    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&service("legacy", &cluster, &net, ""))
        .await
        .expect("apply");
    let (stalled, reason, message) = wait_for("Stalled AlreadyExists", WAIT, || async {
        condition_of(&ctx, "legacy", "Stalled")
            .await
            .filter(|c| c.0 == "True")
    })
    .await;
    assert_eq!(
        (stalled.as_str(), reason.as_str()),
        ("True", "AlreadyExists")
    );
    assert!(message.contains("adoptExisting"), "{message}");
    let service_writes: u64 = [
        "CreateService",
        "UpdateService",
        "DeleteService",
        "TagResource",
        "UntagResource",
    ]
    .iter()
    .map(|op| operator.calls.count(op))
    .sum();
    assert_eq!(service_writes, 0, "a foreign service is not touched");

    ctx.apply_yaml(&service("legacy", &cluster, &net, "  adoptExisting: true"))
        .await
        .expect("opt in");
    let svc = ready(&ctx, "legacy").await;
    let adopted = describe(&ctx, &cluster, "legacy").await.expect("service");
    let tags: BTreeMap<_, _> = adopted
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    assert_eq!(
        tags.get("ecs-operator.dev/uid").copied(),
        svc.metadata.uid.as_deref()
    );
    assert_eq!(adopted.desired_count(), 2);
    assert_eq!(
        operator.calls.count("CreateService"),
        0,
        "adoption never creates a second service"
    );
    operator.stop().await;
}

#[tokio::test]
async fn crash_between_create_and_status_write_leaves_one_service() {
    let Setup { ctx, cluster, net } = setup("svc-crash").await;
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&service("web", &cluster, &net, ""))
        .await
        .expect("apply");
    ready(&ctx, "web").await;
    operator.kill();
    ctx.api::<ECSService>()
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": null})),
        )
        .await
        .expect("lose status");

    let operator = ctx.start_operator().await;
    ready(&ctx, "web").await;
    assert_eq!(
        operator.calls.count("CreateService"),
        0,
        "the service found by name and tags is reused"
    );
    let listed = ctx
        .bed
        .ecs()
        .await
        .list_services()
        .cluster(&cluster)
        .send()
        .await
        .expect("list");
    let ours: Vec<_> = listed
        .service_arns()
        .iter()
        .filter(|a| a.ends_with("/web"))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    operator.stop().await;
}

#[tokio::test]
async fn runtime_errors_stall_with_the_aws_message_without_a_hot_loop() {
    let Setup { ctx, net, .. } = setup("svc-errors").await;
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&service("web", "no-such-cluster", &net, ""))
        .await
        .expect("apply");
    let (_, reason, message) = wait_for("Stalled", WAIT, || async {
        condition_of(&ctx, "web", "Stalled")
            .await
            .filter(|c| c.0 == "True")
    })
    .await;
    assert_eq!(reason, "InvalidSpec");
    assert!(
        message.contains("Cluster") || message.contains("cluster"),
        "{message}"
    );
    // Calls about the service (the TaskDefinition beside it has its own, unrelated ones).
    let service_calls =
        || operator.calls.count("DescribeServices") + operator.calls.count("CreateService");
    let calls = service_calls();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = service_calls();
    assert!(
        later - calls <= 1,
        "no hot retry loop: {} calls in 5 s",
        later - calls
    );
    assert!(
        !events_with_reason(&ctx, "InvalidSpec").await.is_empty(),
        "an Event says what went wrong"
    );
    operator.stop().await;
}

/// Tags the ECS service so that the test bed's ECS simulation makes the tasks of its later
/// deployments fail to start (standing in for an image that never becomes healthy), then
/// applies such a deployment: a new TaskDefinition revision. The operator leaves tags under
/// its own prefix alone. Returns the new revision's `family:2`.
async fn break_next_rollout(ctx: &TestContext, svc: &ECSService) -> String {
    let arn = svc
        .status
        .as_ref()
        .and_then(|s| s.service_arn.clone())
        .expect("service arn");
    ctx.bed
        .ecs()
        .await
        .tag_resource()
        .resource_arn(&arn)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("ecs-operator.dev/simulate-rollout-failure")
                .value("true")
                .build(),
        )
        .send()
        .await
        .expect("tag");
    let family = ctx.aws_name("app");
    ctx.apply_yaml(&task_definition("app", &family, "nginx:broken"))
        .await
        .expect("bad image");
    format!("{family}:2")
}

/// The message of `type_` once it is True with `reason`.
async fn wait_condition(ctx: &TestContext, name: &str, type_: &str, reason: &str) -> String {
    let (_, _, message) = wait_for(&format!("{type_} {reason}"), WAIT, || async {
        condition_of(ctx, name, type_)
            .await
            .filter(|c| c.0 == "True" && c.1 == reason)
    })
    .await;
    message
}

/// Waits until the operator has looked at ECS `n` more times (DescribeServices, by the
/// reconciler or the batched observer), so that a check that nothing was done afterwards
/// means something.
async fn wait_for_observations(operator: &support::Operator, n: u64) {
    let start = operator.calls.count("DescribeServices");
    wait_for("the operator observing ECS again", WAIT, || async {
        (operator.calls.count("DescribeServices") >= start + n).then_some(())
    })
    .await;
}

fn primary_deployment(svc: &aws_sdk_ecs::types::Service) -> aws_sdk_ecs::types::Deployment {
    svc.deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .cloned()
        .expect("a PRIMARY deployment")
}

/// Circuit breaker with rollback: ECS fails the rollout and rolls back; the operator stalls
/// (`RolloutFailed`) and does not apply the failed revision again.
#[tokio::test]
async fn failed_rollout_with_rollback_stalls_and_is_not_retried_in_a_loop() {
    let Setup { ctx, cluster, net } = setup("svc-fail").await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
    let breaker =
        "  deploymentConfiguration:\n    deploymentCircuitBreaker: {enable: true, rollback: true}";
    ctx.apply_yaml(&service("web", &cluster, &net, breaker))
        .await
        .expect("apply");
    let svc = ready(&ctx, "web").await;
    let failing = break_next_rollout(&ctx, &svc).await;
    let message = wait_condition(&ctx, "web", "Stalled", "RolloutFailed").await;
    assert!(message.contains(&failing), "{message}");
    assert!(message.contains("the service runs"), "{message}");
    let ecs = describe(&ctx, &cluster, "web").await.expect("service");
    assert!(
        ecs.task_definition().is_some_and(|td| td.ends_with(":1")),
        "rolled back: {:?}",
        ecs.task_definition()
    );

    let updates = operator.calls.count("UpdateService");
    wait_for_observations(&operator, 5).await;
    assert_eq!(
        operator.calls.count("UpdateService"),
        updates,
        "a failed revision is not re-applied in a loop"
    );
    operator.stop().await;
}

/// Circuit breaker without rollback (`enable: true, rollback: false`): ECS fails the rollout
/// and leaves it in place, the old deployment's tasks still serving.
#[tokio::test]
async fn failed_rollout_without_rollback_stalls_in_place() {
    let Setup { ctx, cluster, net } = setup("svc-fail-norb").await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
    let breaker =
        "  deploymentConfiguration:\n    deploymentCircuitBreaker: {enable: true, rollback: false}";
    ctx.apply_yaml(&service("web", &cluster, &net, breaker))
        .await
        .expect("apply");
    let svc = ready(&ctx, "web").await;
    let failing = break_next_rollout(&ctx, &svc).await;
    let message = wait_condition(&ctx, "web", "Stalled", "RolloutFailed").await;
    assert!(message.contains(&failing), "{message}");
    assert!(message.contains("did not roll back"), "{message}");

    let ecs = describe(&ctx, &cluster, "web").await.expect("service");
    let primary = primary_deployment(&ecs);
    assert_eq!(primary.rollout_state().map(|r| r.as_str()), Some("FAILED"));
    assert!(
        primary
            .task_definition()
            .is_some_and(|td| td.ends_with(":2")),
        "no rollback: {:?}",
        primary.task_definition()
    );
    assert_eq!(ecs.running_count(), 2, "the old tasks keep serving");
    let status = get_opt(&ctx.api::<ECSService>(), "web")
        .await
        .and_then(|s| s.status)
        .expect("status");
    assert_eq!(status.rollout_state.as_deref(), Some("FAILED"));
    assert!(
        status
            .failed_task_definition
            .is_some_and(|td| td.ends_with(":2"))
    );

    let updates = operator.calls.count("UpdateService");
    wait_for_observations(&operator, 5).await;
    assert_eq!(
        operator.calls.count("UpdateService"),
        updates,
        "a failed revision is not re-applied in a loop"
    );
    operator.stop().await;
}

/// No circuit breaker (ECS's default): ECS keeps replacing the failing tasks and the rollout
/// never fails. The operator reports it `Progressing` with the failed-task count, then
/// `Stalled` (`RolloutStuck`) once `progressDeadlineSeconds` have passed, and `Ready` again
/// once a working revision rolls out. The previous test bed failed and rolled back such a
/// rollout, and this test asserted `RolloutFailed` for it.
#[tokio::test]
async fn rollout_without_circuit_breaker_is_progressing_then_stuck() {
    let Setup { ctx, cluster, net } = setup("svc-stuck").await;
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&service(
        "web",
        &cluster,
        &net,
        "  progressDeadlineSeconds: 10",
    ))
    .await
    .expect("apply");
    let svc = ready(&ctx, "web").await;
    let failing = break_next_rollout(&ctx, &svc).await;

    let progressing = wait_for("Progressing with failed tasks", WAIT, || async {
        condition_of(&ctx, "web", "Progressing")
            .await
            .filter(|c| c.0 == "True" && c.2.contains("failed to start"))
    })
    .await;
    assert_eq!(progressing.1, "RolloutInProgress");
    assert!(progressing.2.contains(&failing), "{}", progressing.2);

    let message = wait_condition(&ctx, "web", "Stalled", "RolloutStuck").await;
    assert!(message.contains("tasks failed to start"), "{message}");
    assert!(
        message.contains("progressDeadlineSeconds (10 s)"),
        "{message}"
    );
    assert_eq!(
        condition_of(&ctx, "web", "Ready").await.map(|c| (c.0, c.1)),
        Some(("False".into(), "RolloutStuck".into()))
    );
    assert!(
        !events_with_reason(&ctx, "RolloutStuck").await.is_empty(),
        "an Event says the rollout is stuck"
    );
    // ECS itself still has the rollout in progress: nothing failed or rolled back.
    let ecs = describe(&ctx, &cluster, "web").await.expect("service");
    let primary = primary_deployment(&ecs);
    assert_eq!(
        primary.rollout_state().map(|r| r.as_str()),
        Some("IN_PROGRESS")
    );
    assert!(primary.failed_tasks() > 0);

    // A working revision (the simulation fails only while the tag is there) rolls out.
    let arn = ecs.service_arn().expect("arn").to_string();
    ctx.bed
        .ecs()
        .await
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("ecs-operator.dev/simulate-rollout-failure")
        .send()
        .await
        .expect("untag");
    ctx.apply_yaml(&task_definition("app", &ctx.aws_name("app"), "nginx:1.28"))
        .await
        .expect("fixed image");
    let fixed = ready(&ctx, "web").await;
    assert!(
        fixed
            .status
            .and_then(|s| s.task_definition_arn)
            .is_some_and(|td| td.ends_with(":3"))
    );
    operator.stop().await;
}

#[tokio::test]
async fn immutable_change_stalls_and_destroys_nothing() {
    let Setup { ctx, cluster, net } = setup("svc-immutable").await;
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&service("web", &cluster, &net, ""))
        .await
        .expect("apply");
    ready(&ctx, "web").await;
    ctx.apply_yaml(
        &service("web", &cluster, &net, "").replace("launchType: FARGATE", "launchType: EC2"),
    )
    .await
    .expect("apply");
    let (_, reason, message) = wait_for("Stalled ImmutableFieldChanged", WAIT, || async {
        condition_of(&ctx, "web", "Stalled")
            .await
            .filter(|c| c.0 == "True")
    })
    .await;
    assert_eq!(reason, "ImmutableFieldChanged");
    assert!(
        message.contains("launchType") && message.contains("new ECSService"),
        "{message}"
    );
    assert_eq!(
        describe(&ctx, &cluster, "web")
            .await
            .and_then(|s| s.status().map(str::to_string))
            .as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(operator.calls.count("DeleteService"), 0);
    operator.stop().await;
}

#[tokio::test]
async fn task_definition_in_use_is_not_deregistered_until_the_service_is_gone() {
    let Setup { ctx, cluster, net } = setup("svc-tdblock").await;
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&service("web", &cluster, &net, ""))
        .await
        .expect("apply");
    ready(&ctx, "web").await;
    let tds = ctx.api::<TaskDefinition>();
    let td_arn = get_opt(&tds, "app")
        .await
        .and_then(|t| t.status)
        .and_then(|s| s.task_definition_arn)
        .expect("arn");

    tds.delete("app", &DeleteParams::default())
        .await
        .expect("delete TaskDefinition");
    let (_, reason, message) = wait_for("TaskDefinition deletion blocked", WAIT, || async {
        let td = get_opt(&tds, "app").await?;
        condition(&td.status?.conditions, "Ready").filter(|c| c.1 == "DeletionBlocked")
    })
    .await;
    assert_eq!(reason, "DeletionBlocked");
    assert!(
        message.contains("web"),
        "the condition names the service: {message}"
    );
    let ecs = ctx.bed.ecs().await;
    let status = ecs
        .describe_task_definition()
        .task_definition(&td_arn)
        .send()
        .await
        .ok()
        .and_then(|o| {
            o.task_definition()
                .and_then(|t| t.status().map(|s| s.as_str().to_string()))
        });
    assert_eq!(status.as_deref(), Some("ACTIVE"));

    ctx.api::<ECSService>()
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete service");
    wait_for("TaskDefinition removed after its service", WAIT, || async {
        get_opt(&tds, "app").await.is_none().then_some(())
    })
    .await;
    operator.stop().await;
}

const TARGET_GROUP: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef";
const CONNECT_NAMESPACE: &str =
    "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-abcdefghijklmnop";

/// Every field group the removal test sets, as spec YAML (two-space indented).
fn field_groups() -> String {
    format!(
        r#"  loadBalancers:
    - targetGroupArn: {TARGET_GROUP}
      containerName: app
      containerPort: 8080
  healthCheckGracePeriodSeconds: 30
  enableExecuteCommand: true
  enableEcsManagedTags: true
  propagateTags: SERVICE
  platformVersion: 1.4.0
  availabilityZoneRebalancing: DISABLED
  deploymentConfiguration:
    maximumPercent: 150
    minimumHealthyPercent: 50
    deploymentCircuitBreaker: {{enable: true, rollback: true}}
  serviceConnectConfiguration:
    namespace: {CONNECT_NAMESPACE}
    services:
      - portName: http
        clientAliases: [{{port: 80, dnsName: web}}]
        timeout: {{idleTimeoutSeconds: 60, perRequestTimeoutSeconds: 15}}
    logConfiguration:
      logDriver: awslogs
      options: {{awslogs-group: service-connect}}
    accessLogConfiguration: {{format: JSON, includeQueryParameters: ENABLED}}
"#
    )
}

/// The Service Connect configuration of the PRIMARY deployment, as ECS reports it.
fn primary_service_connect(
    service: &aws_sdk_ecs::types::Service,
) -> Option<aws_sdk_ecs::types::ServiceConnectConfiguration> {
    service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.service_connect_configuration())
        .cloned()
}

#[tokio::test]
async fn removed_fields_are_reset_to_the_ecs_defaults_before_ready() {
    let Setup { ctx, cluster, net } = setup("svc-reset").await;
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&service("web", &cluster, &net, &field_groups()))
        .await
        .expect("apply with every field group");
    let svc = ready(&ctx, "web").await;
    let ecs = describe(&ctx, &cluster, "web").await.expect("service");
    assert_eq!(ecs.load_balancers().len(), 1);
    assert_eq!(ecs.health_check_grace_period_seconds(), Some(30));
    assert!(ecs.enable_execute_command() && ecs.enable_ecs_managed_tags());
    assert_eq!(ecs.propagate_tags().map(|p| p.as_str()), Some("SERVICE"));
    assert_eq!(ecs.platform_version(), Some("1.4.0"));
    let dc = ecs
        .deployment_configuration()
        .expect("deployment configuration");
    assert_eq!(
        (dc.maximum_percent(), dc.minimum_healthy_percent()),
        (Some(150), Some(50))
    );
    assert!(
        dc.deployment_circuit_breaker()
            .is_some_and(|b| b.enable() && b.rollback())
    );
    let connect = primary_service_connect(&ecs).expect("Service Connect on the primary deployment");
    assert!(connect.enabled());
    assert_eq!(connect.namespace(), Some(CONNECT_NAMESPACE));
    let sc = &connect.services()[0];
    assert_eq!(
        sc.timeout()
            .map(|t| (t.idle_timeout_seconds(), t.per_request_timeout_seconds())),
        Some((Some(60), Some(15)))
    );
    assert_eq!(sc.client_aliases()[0].dns_name(), Some("web"));
    assert_eq!(
        connect.log_configuration().map(|l| l.log_driver().as_str()),
        Some("awslogs")
    );
    assert_eq!(
        connect.access_log_configuration().map(|a| (
            a.format().as_str(),
            a.include_query_parameters().map(|i| i.as_str())
        )),
        Some(("JSON", Some("ENABLED")))
    );
    let managed = svc.status.expect("status").managed_fields;
    for path in [
        "loadBalancers",
        "healthCheckGracePeriodSeconds",
        "serviceConnectConfiguration",
        "deploymentConfiguration.maximumPercent",
    ] {
        assert!(managed.iter().any(|m| m == path), "{path} in {managed:?}");
    }

    // The same manifest without the field groups (a `git rm` of the lines and a sync).
    ctx.apply_yaml(&service("web", &cluster, &net, ""))
        .await
        .expect("apply without the field groups");
    let svc = ready(&ctx, "web").await;
    // Ready for the new generation only once ECS is back at its defaults.
    let ecs = describe(&ctx, &cluster, "web").await.expect("service");
    assert!(
        ecs.load_balancers().is_empty(),
        "{:?}",
        ecs.load_balancers()
    );
    assert_eq!(ecs.health_check_grace_period_seconds(), Some(0));
    assert!(!ecs.enable_execute_command() && !ecs.enable_ecs_managed_tags());
    assert_eq!(ecs.propagate_tags().map(|p| p.as_str()), Some("NONE"));
    assert_eq!(ecs.platform_version(), Some("LATEST"));
    assert_eq!(
        ecs.availability_zone_rebalancing().map(|a| a.as_str()),
        Some("ENABLED")
    );
    let dc = ecs
        .deployment_configuration()
        .expect("deployment configuration");
    assert_eq!(
        (dc.maximum_percent(), dc.minimum_healthy_percent()),
        (Some(200), Some(100))
    );
    assert!(
        dc.deployment_circuit_breaker()
            .is_some_and(|b| !b.enable() && !b.rollback())
    );
    assert!(primary_service_connect(&ecs).is_some_and(|c| !c.enabled()));
    let managed = svc.status.expect("status").managed_fields;
    assert!(
        !managed
            .iter()
            .any(|m| m == "loadBalancers" || m.starts_with("deploymentConfiguration")),
        "{managed:?}"
    );
    let notes = events_with_reason(&ctx, "FieldsReset").await;
    let all = notes.join(" ");
    for field in [
        "loadBalancers",
        "healthCheckGracePeriodSeconds",
        "enableExecuteCommand",
        "serviceConnectConfiguration",
        "deploymentConfiguration.maximumPercent",
    ] {
        assert!(all.contains(field), "{field} named in {notes:?}");
    }
    operator.stop().await;
}

#[tokio::test]
async fn drift_in_a_managed_field_is_repaired_and_a_field_never_set_is_left_alone() {
    let Setup { ctx, cluster, net } = setup("svc-3way").await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
    ctx.apply_yaml(&service(
        "web",
        &cluster,
        &net,
        "  healthCheckGracePeriodSeconds: 30\n",
    ))
    .await
    .expect("apply");
    ready(&ctx, "web").await;

    // By hand: a managed field, and two the spec never set.
    ctx.bed
        .ecs()
        .await
        .update_service()
        .cluster(&cluster)
        .service("web")
        .health_check_grace_period_seconds(5)
        .enable_execute_command(true)
        .propagate_tags(aws_sdk_ecs::types::PropagateTags::TaskDefinition)
        .send()
        .await
        .expect("change by hand");
    // The repair shows the operator saw the change (one DescribeServices has all three).
    let notes = wait_for("DriftRepaired event", WAIT, || async {
        let notes = events_with_reason(&ctx, "DriftRepaired").await;
        (!notes.is_empty()).then_some(notes)
    })
    .await;
    assert!(
        notes[0].contains("healthCheckGracePeriodSeconds"),
        "{notes:?}"
    );
    assert!(!notes[0].contains("enableExecuteCommand"), "{notes:?}");
    ready(&ctx, "web").await;
    let ecs = describe(&ctx, &cluster, "web").await.expect("service");
    assert_eq!(ecs.health_check_grace_period_seconds(), Some(30));
    assert!(ecs.enable_execute_command(), "never set: left as changed");
    assert_eq!(
        ecs.propagate_tags().map(|p| p.as_str()),
        Some("TASK_DEFINITION")
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_restarted_operator_still_resets_a_field_removed_while_it_was_down() {
    let Setup { ctx, cluster, net } = setup("svc-restart").await;
    let operator = ctx.start_operator().await;
    let grace = "  healthCheckGracePeriodSeconds: 45\n";
    ctx.apply_yaml(&service("web", &cluster, &net, grace))
        .await
        .expect("apply");
    ready(&ctx, "web").await;
    operator.stop().await;

    // Removed while no operator runs: only status.managedFields remembers the field.
    ctx.apply_yaml(&service("web", &cluster, &net, ""))
        .await
        .expect("apply without the grace period");
    let operator = ctx.start_operator().await;
    ready(&ctx, "web").await;
    let ecs = describe(&ctx, &cluster, "web").await.expect("service");
    assert_eq!(ecs.health_check_grace_period_seconds(), Some(0));
    let notes = events_with_reason(&ctx, "FieldsReset").await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("healthCheckGracePeriodSeconds")),
        "{notes:?}"
    );
    operator.stop().await;
}
