//! ECSScheduledTask against the real kube-apiserver and moto (EventBridge Scheduler and ECS).
//!
//! moto stores schedules and returns them as given; it never fires them, so these tests
//! check the schedule's definition (target, state, expression), not runs.

mod support;

use std::time::Duration;

use aws_sdk_scheduler::types::{
    EcsParameters, FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target,
};
use ecs_operator::api::{ECSScheduledTask, TaskDefinition};
use ecs_operator::runtime::Config as OperatorConfig;
use kube::api::{Patch, PatchParams};
use support::{TestContext, condition, events_with_reason, get_opt, wait_for};

const WAIT: Duration = Duration::from_secs(40);
const ROLE: &str = "arn:aws:iam::123456789012:role/scheduler";

fn task_definition(name: &str, family: &str, image: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: TaskDefinition
metadata:
  name: {name}
spec:
  family: {family}
  containerDefinitions:
    - name: app
      image: {image}
      memory: 128
"#
    )
}

fn scheduled(name: &str, extra_spec: &str, task: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSScheduledTask
metadata:
  name: {name}
spec:
  roleArn: {ROLE}
{extra_spec}
  task:
{task}
"#
    )
}

fn calls(op: &support::Operator, operation: &str) -> u64 {
    op.calls
        .snapshot()
        .iter()
        .filter(|((_, op, _), _)| op == operation)
        .map(|(_, n)| *n)
        .sum()
}

/// The operator with a short resync, so drift checks (every 5 intervals) come within 10 s.
async fn operator(ctx: &TestContext) -> support::Operator {
    ctx.start_operator_with(OperatorConfig {
        resync_interval: Duration::from_secs(2),
        ..OperatorConfig::default()
    })
    .await
}

async fn ready(ctx: &TestContext, name: &str, reason: &str) -> ECSScheduledTask {
    let api = ctx.api::<ECSScheduledTask>();
    wait_for(&format!("{name} Ready ({reason})"), WAIT, || async {
        let t = get_opt(&api, name).await?;
        let status = t.status.as_ref()?;
        let (ready, why, _) = condition(&status.conditions, "Ready")?;
        (ready == "True" && why == reason && status.observed_generation == t.metadata.generation)
            .then_some(t)
    })
    .await
}

async fn stalled(ctx: &TestContext, name: &str) -> (String, String) {
    let api = ctx.api::<ECSScheduledTask>();
    wait_for(&format!("{name} Stalled"), WAIT, || async {
        let t = get_opt(&api, name).await?;
        let (stalled, reason, message) = condition(&t.status.as_ref()?.conditions, "Stalled")?;
        (stalled == "True").then_some((reason, message))
    })
    .await
}

async fn schedule(
    ctx: &TestContext,
    name: &str,
) -> Option<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
    ctx.bed
        .scheduler()
        .await
        .get_schedule()
        .name(name)
        .send()
        .await
        .ok()
}

fn target_task_definition(
    s: &aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput,
) -> String {
    s.target()
        .and_then(|t| t.ecs_parameters())
        .map(|e| e.task_definition_arn().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn schedule_follows_its_spec_and_task_definition_then_is_deleted() {
    let ctx = TestContext::new("sched-lifecycle").await;
    let cluster = ctx.cluster("batch").await;
    let family = ctx.aws_name("report");
    let op = operator(&ctx).await;
    ctx.apply_yaml(&task_definition("report", &family, "busybox:1"))
        .await
        .expect("apply task definition");
    let extra = r#"  schedule: cron(0 9 ? * MON-FRI *)
  timezone: Europe/Paris
  flexibleTimeWindow:
    mode: FLEXIBLE
    maximumWindowInMinutes: 15
  retryPolicy:
    maximumRetryAttempts: 3
  tags:
    - key: team
      value: data
  deletionPolicy: Delete"#;
    let task = format!(
        r#"    cluster: {cluster}
    taskDefinitionRef:
      name: report
    count: 2
    overrides:
      containerOverrides:
        - name: app
          command: [report, --daily]
          environment:
            - name: MODE
              value: full"#
    );
    ctx.apply_yaml(&scheduled("nightly", extra, &task))
        .await
        .expect("apply scheduled task");
    let obj = ready(&ctx, "nightly", "Scheduled").await;
    let status = obj.status.clone().expect("status");
    let name = obj.schedule_name();
    assert_eq!(name, format!("{}-nightly", ctx.namespace));
    assert_eq!(status.state.as_deref(), Some("ENABLED"));
    assert!(
        status.next_run_time.is_some(),
        "a cron schedule's next run is known"
    );
    let td_api = ctx.api::<TaskDefinition>();
    let first_revision = td_api
        .get("report")
        .await
        .expect("task definition")
        .status
        .and_then(|s| s.task_definition_arn)
        .expect("revision");
    assert_eq!(status.task_definition_arn.as_ref(), Some(&first_revision));

    // What Scheduler has: the ECS target with the cluster ARN, the revision, the task count,
    // the overrides as RunTask input, our tags on the tasks, the Paris time zone.
    let s = schedule(&ctx, &name).await.expect("schedule exists");
    assert_eq!(s.schedule_expression(), Some("cron(0 9 ? * MON-FRI *)"));
    assert_eq!(s.schedule_expression_timezone(), Some("Europe/Paris"));
    assert_eq!(
        s.flexible_time_window()
            .map(|f| f.maximum_window_in_minutes()),
        Some(Some(15))
    );
    let target = s.target().expect("target");
    assert!(
        target.arn().ends_with(&format!(":cluster/{cluster}")),
        "{}",
        target.arn()
    );
    assert_eq!(target.role_arn(), ROLE);
    assert_eq!(
        target
            .retry_policy()
            .and_then(|r| r.maximum_retry_attempts()),
        Some(3)
    );
    let ecs = target.ecs_parameters().expect("ECS parameters");
    assert_eq!(ecs.task_definition_arn(), first_revision);
    assert_eq!(ecs.task_count(), Some(2));
    let tags: Vec<(String, String)> = ecs
        .tags()
        .iter()
        .map(|t| {
            (
                t.get("key").cloned().unwrap_or_default(),
                t.get("value").cloned().unwrap_or_default(),
            )
        })
        .collect();
    assert!(tags.contains(&("team".into(), "data".into())), "{tags:?}");
    assert!(
        tags.iter()
            .any(|(k, v)| k == "ecs-operator.dev/uid"
                && Some(v.as_str()) == obj.metadata.uid.as_deref()),
        "{tags:?}"
    );
    let input: serde_json::Value =
        serde_json::from_str(target.input().expect("input")).expect("input is JSON");
    assert_eq!(input["containerOverrides"][0]["command"][1], "--daily");
    assert_eq!(
        input["containerOverrides"][0]["environment"][0]["value"],
        "full"
    );

    // Steady state: nothing is written again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(calls(&op, "CreateSchedule"), 1);
    assert_eq!(calls(&op, "UpdateSchedule"), 0);

    // A new revision of the TaskDefinition updates the schedule's target at once.
    ctx.apply_yaml(&task_definition("report", &family, "busybox:2"))
        .await
        .expect("new image");
    let second_revision = wait_for("schedule on the new revision", WAIT, || async {
        let td = get_opt(&td_api, "report").await?;
        let arn = td.status?.task_definition_arn?;
        (arn != first_revision
            && schedule(&ctx, &name)
                .await
                .map(|s| target_task_definition(&s))
                .as_deref()
                == Some(arn.as_str()))
        .then_some(arn)
    })
    .await;
    let obj = ready(&ctx, "nightly", "Scheduled").await;
    assert_eq!(
        obj.status.and_then(|s| s.task_definition_arn),
        Some(second_revision.clone())
    );
    assert!(!events_with_reason(&ctx, "Updated").await.is_empty());

    // Suspend: the schedule is DISABLED and the status says so.
    let api = ctx.api::<ECSScheduledTask>();
    api.patch(
        "nightly",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"suspend": true}})),
    )
    .await
    .expect("suspend");
    let obj = ready(&ctx, "nightly", "Suspended").await;
    assert_eq!(
        obj.status.as_ref().and_then(|s| s.state.as_deref()),
        Some("DISABLED")
    );
    assert_eq!(
        obj.status.as_ref().and_then(|s| s.next_run_time.clone()),
        None
    );
    assert_eq!(
        schedule(&ctx, &name).await.and_then(|s| s.state().cloned()),
        Some(ScheduleState::Disabled)
    );

    // Changed by hand: put back at the next drift check, with an Event.
    let sched = ctx.bed.scheduler().await;
    let current = schedule(&ctx, &name).await.expect("schedule");
    sched
        .update_schedule()
        .name(&name)
        .schedule_expression("rate(1 minute)")
        .flexible_time_window(
            FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .expect("window"),
        )
        .state(ScheduleState::Enabled)
        .set_target(current.target().cloned())
        .send()
        .await
        .expect("update by hand");
    wait_for("drift repaired", WAIT, || async {
        let s = schedule(&ctx, &name).await?;
        (s.schedule_expression() == Some("cron(0 9 ? * MON-FRI *)")
            && s.state() == Some(&ScheduleState::Disabled))
        .then_some(())
    })
    .await;
    assert!(!events_with_reason(&ctx, "DriftRepaired").await.is_empty());

    // Deleted by hand: created again.
    sched
        .delete_schedule()
        .name(&name)
        .send()
        .await
        .expect("delete by hand");
    wait_for("schedule recreated", WAIT, || async {
        schedule(&ctx, &name).await.map(|_| ())
    })
    .await;

    // Deleting the object (policy Delete) deletes the schedule.
    api.delete("nightly", &Default::default())
        .await
        .expect("delete");
    wait_for("object gone", WAIT, || async {
        get_opt(&api, "nightly").await.is_none().then_some(())
    })
    .await;
    assert!(schedule(&ctx, &name).await.is_none(), "schedule deleted");
    op.stop().await;
}

#[tokio::test]
async fn a_restart_adopts_its_own_schedule_and_retain_leaves_it() {
    let ctx = TestContext::new("sched-retain").await;
    let cluster = ctx.cluster("batch").await;
    let family = ctx.aws_name("cleanup");
    let op = operator(&ctx).await;
    ctx.apply_yaml(&task_definition("cleanup", &family, "busybox:1"))
        .await
        .expect("apply task definition");
    let task = format!("    cluster: {cluster}\n    taskDefinitionRef:\n      name: cleanup");
    ctx.apply_yaml(&scheduled(
        "hourly",
        "  schedule: rate(1 hour)\n  deletionPolicy: Retain",
        &task,
    ))
    .await
    .expect("apply");
    let obj = ready(&ctx, "hourly", "Scheduled").await;
    let name = obj.schedule_name();
    assert!(
        obj.status
            .as_ref()
            .and_then(|s| s.next_run_time.clone())
            .is_some(),
        "a rate schedule's next run counts from its creation"
    );

    // A crash after the create, before anything was recorded: the new operator finds the
    // schedule by its name, sees its own tags, and creates nothing.
    op.kill();
    let api = ctx.api::<ECSScheduledTask>();
    api.patch_status(
        "hourly",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": null})),
    )
    .await
    .expect("clear status");
    let op = operator(&ctx).await;
    ready(&ctx, "hourly", "Scheduled").await;
    assert_eq!(calls(&op, "CreateSchedule"), 0);
    assert_eq!(calls(&op, "UpdateSchedule"), 0);

    // Retain: the schedule outlives the object.
    api.delete("hourly", &Default::default())
        .await
        .expect("delete");
    wait_for("object gone", WAIT, || async {
        get_opt(&api, "hourly").await.is_none().then_some(())
    })
    .await;
    assert!(
        schedule(&ctx, &name).await.is_some(),
        "Retain keeps the schedule"
    );
    ctx.bed
        .scheduler()
        .await
        .delete_schedule()
        .name(&name)
        .send()
        .await
        .expect("clean up");
    op.stop().await;
}

#[tokio::test]
async fn foreign_schedules_and_bad_references_stall_without_a_loop() {
    let ctx = TestContext::new("sched-stall").await;
    let cluster = ctx.cluster("batch").await;
    let sched = ctx.bed.scheduler().await;
    // A schedule someone else made, with the name the object asks for.
    let foreign = ctx.aws_name("foreign");
    sched
        .create_schedule()
        .name(&foreign)
        .schedule_expression("rate(1 day)")
        .flexible_time_window(
            FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .expect("window"),
        )
        .target(
            Target::builder()
                .arn(format!(
                    "arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}"
                ))
                .role_arn(ROLE)
                .ecs_parameters(
                    EcsParameters::builder()
                        .task_definition_arn(
                            "arn:aws:ecs:us-east-1:123456789012:task-definition/other:1",
                        )
                        .build()
                        .expect("ecs parameters"),
                )
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("create foreign schedule");

    let family = ctx.aws_name("job");
    ctx.bed
        .ecs()
        .await
        .register_task_definition()
        .family(&family)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("busybox")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .expect("register awsvpc task definition");

    let op = operator(&ctx).await;
    let taken = format!(
        "    cluster: {cluster}\n    taskDefinition: {family}\n    networkConfiguration:\n      awsvpcConfiguration:\n        subnets: [subnet-0123456789abcdef0]"
    );
    ctx.apply_yaml(&scheduled(
        "taken",
        &format!("  schedule: rate(1 day)\n  scheduleName: {foreign}"),
        &taken,
    ))
    .await
    .expect("apply taken");
    let no_cluster = format!(
        "    cluster: missing-{}\n    taskDefinition: {family}",
        ctx.suffix
    );
    ctx.apply_yaml(&scheduled(
        "no-cluster",
        "  schedule: rate(1 day)",
        &no_cluster,
    ))
    .await
    .expect("apply no-cluster");
    let no_network = format!("    cluster: {cluster}\n    taskDefinition: {family}");
    ctx.apply_yaml(&scheduled(
        "no-network",
        "  schedule: rate(1 day)",
        &no_network,
    ))
    .await
    .expect("apply no-network");
    let unknown_container = format!(
        "    cluster: {cluster}\n    taskDefinition: {family}\n    networkConfiguration:\n      awsvpcConfiguration:\n        subnets: [subnet-0123456789abcdef0]\n    overrides:\n      containerOverrides:\n        - name: sidecar"
    );
    ctx.apply_yaml(&scheduled(
        "unknown-container",
        "  schedule: rate(1 day)",
        &unknown_container,
    ))
    .await
    .expect("apply unknown-container");

    let (reason, message) = stalled(&ctx, "taken").await;
    assert_eq!(reason, "AlreadyExists");
    assert!(message.contains("adoptExisting"), "{message}");
    let (_, message) = stalled(&ctx, "no-cluster").await;
    assert!(message.contains("not found"), "{message}");
    let (_, message) = stalled(&ctx, "no-network").await;
    assert!(message.contains("networkConfiguration"), "{message}");
    let (_, message) = stalled(&ctx, "unknown-container").await;
    assert!(message.contains("sidecar"), "{message}");
    assert!(!events_with_reason(&ctx, "AlreadyExists").await.is_empty());

    // No hot loop: over 10 s the stalled objects cost almost nothing.
    let before: u64 = op.calls.snapshot().values().sum();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after: u64 = op.calls.snapshot().values().sum();
    assert!(
        after - before <= 4,
        "stalled objects called AWS {} times in 10 s",
        after - before
    );

    // The foreign schedule is untouched, also when the object that wanted it goes away.
    let api = ctx.api::<ECSScheduledTask>();
    api.delete("taken", &Default::default())
        .await
        .expect("delete");
    wait_for("object gone", WAIT, || async {
        get_opt(&api, "taken").await.is_none().then_some(())
    })
    .await;
    let s = schedule(&ctx, &foreign)
        .await
        .expect("foreign schedule kept");
    assert_eq!(s.schedule_expression(), Some("rate(1 day)"));
    assert_eq!(calls(&op, "UpdateSchedule"), 0);
    assert_eq!(calls(&op, "DeleteSchedule"), 0);
    op.stop().await;
}

#[tokio::test]
async fn invalid_scheduled_tasks_are_rejected_at_admission() {
    let ctx = TestContext::new("sched-admission").await;
    let ok_task = "    cluster: batch\n    taskDefinition: job";
    let cases: Vec<(&str, String, &str)> = vec![
        ("no schedule", scheduled("a", "", ok_task), "schedule"),
        (
            "free text",
            scheduled("a", "  schedule: every day", ok_task),
            "spec.schedule",
        ),
        (
            "cron without ?",
            scheduled("a", "  schedule: cron(0 2 * * * *)", ok_task),
            "spec.schedule",
        ),
        (
            "cron with five fields",
            scheduled("a", "  schedule: cron(0 2 * * ?)", ok_task),
            "spec.schedule",
        ),
        (
            "rate plural for 1",
            scheduled("a", "  schedule: rate(1 hours)", ok_task),
            "spec.schedule",
        ),
        (
            "rate singular for 5",
            scheduled("a", "  schedule: rate(5 minute)", ok_task),
            "spec.schedule",
        ),
        (
            "rate zero",
            scheduled("a", "  schedule: rate(0 minutes)", ok_task),
            "spec.schedule",
        ),
        (
            "at without time",
            scheduled("a", "  schedule: at(2027-01-01)", ok_task),
            "spec.schedule",
        ),
        (
            "unknown time zone",
            scheduled(
                "a",
                "  schedule: rate(1 day)\n  timezone: Mars/Olympus_Mons",
                ok_task,
            ),
            "spec.timezone",
        ),
        (
            "end before start",
            scheduled(
                "a",
                "  schedule: rate(1 day)\n  startDate: '2027-02-01T00:00:00Z'\n  endDate: '2027-01-01T00:00:00Z'",
                ok_task,
            ),
            "spec.endDate",
        ),
        (
            "start not a time",
            scheduled(
                "a",
                "  schedule: rate(1 day)\n  startDate: tomorrow",
                ok_task,
            ),
            "spec.startDate",
        ),
        (
            "flexible without window",
            scheduled(
                "a",
                "  schedule: rate(1 day)\n  flexibleTimeWindow:\n    mode: FLEXIBLE",
                ok_task,
            ),
            "maximumWindowInMinutes",
        ),
        (
            "window too long",
            scheduled(
                "a",
                "  schedule: rate(1 day)\n  flexibleTimeWindow:\n    mode: FLEXIBLE\n    maximumWindowInMinutes: 2000",
                ok_task,
            ),
            "maximumWindowInMinutes",
        ),
        (
            "count zero",
            scheduled(
                "a",
                "  schedule: rate(1 day)",
                "    cluster: batch\n    taskDefinition: job\n    count: 0",
            ),
            "spec.task.count",
        ),
        (
            "count above 10",
            scheduled(
                "a",
                "  schedule: rate(1 day)",
                "    cluster: batch\n    taskDefinition: job\n    count: 11",
            ),
            "spec.task.count",
        ),
        (
            "no cluster",
            scheduled("a", "  schedule: rate(1 day)", "    taskDefinition: job"),
            "clusterRef",
        ),
        (
            "two task definitions",
            scheduled(
                "a",
                "  schedule: rate(1 day)",
                "    cluster: batch\n    taskDefinition: job\n    taskDefinitionRef:\n      name: job",
            ),
            "taskDefinitionRef",
        ),
        (
            "launch type and strategy",
            scheduled(
                "a",
                "  schedule: rate(1 day)",
                "    cluster: batch\n    taskDefinition: job\n    launchType: FARGATE\n    capacityProviderStrategy:\n      - capacityProvider: FARGATE",
            ),
            "launchType",
        ),
        (
            "bad role",
            scheduled("a", "  schedule: rate(1 day)", ok_task).replace(ROLE, "scheduler-role"),
            "spec.roleArn",
        ),
        (
            "retry attempts above 185",
            scheduled(
                "a",
                "  schedule: rate(1 day)\n  retryPolicy:\n    maximumRetryAttempts: 200",
                ok_task,
            ),
            "maximumRetryAttempts",
        ),
        (
            "event age below 60",
            scheduled(
                "a",
                "  schedule: rate(1 day)\n  retryPolicy:\n    maximumEventAgeInSeconds: 10",
                ok_task,
            ),
            "maximumEventAgeInSeconds",
        ),
        (
            "dead-letter queue not SQS",
            scheduled(
                "a",
                "  schedule: rate(1 day)\n  deadLetterQueueArn: arn:aws:sns:us-east-1:123456789012:topic",
                ok_task,
            ),
            "deadLetterQueueArn",
        ),
        (
            "reserved tag",
            scheduled(
                "a",
                "  schedule: rate(1 day)\n  tags:\n    - key: ecs-operator.dev/uid\n      value: x",
                ok_task,
            ),
            "spec.tags",
        ),
        (
            "bad schedule name",
            scheduled(
                "a",
                "  schedule: rate(1 day)\n  scheduleName: 'has spaces'",
                ok_task,
            ),
            "spec.scheduleName",
        ),
    ];
    let mut failures = Vec::new();
    for (what, yaml, field) in &cases {
        match ctx.apply_yaml(yaml).await {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(err) => {
                let text = err.to_string();
                if !text.contains(field) {
                    failures.push(format!("{what}: message does not name {field}: {text}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A valid one is accepted; its schedule name cannot change afterwards.
    ctx.apply_yaml(&scheduled(
        "b",
        "  schedule: rate(1 day)\n  scheduleName: first",
        ok_task,
    ))
    .await
    .expect("valid manifest accepted");
    let err = ctx
        .apply_yaml(&scheduled(
            "b",
            "  schedule: rate(1 day)\n  scheduleName: second",
            ok_task,
        ))
        .await
        .expect_err("scheduleName is immutable");
    assert!(err.to_string().contains("immutable"), "{err}");
}
