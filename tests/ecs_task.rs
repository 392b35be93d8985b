//! ECSTask against the real kube-apiserver and moto.
//!
//! moto's task simulation (hack/moto/server.py) runs a task by the clock: RUNNING about a
//! second after RunTask, then its containers exit after `ECS_SIM_RUN_SECONDS` (default 2 s)
//! with exit code `ECS_SIM_EXIT_CODE` (default 0), both read from the container's
//! environment, which the tests set through the ECSTask's own `overrides`. StopTask gives
//! stop code `UserInitiated`, as in ECS. What moto cannot do (tasks that fail to start,
//! placement failures) is covered by the recorded responses in `aws_recorded_tasks.rs`.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{ContainerDefinition, DesiredStatus, Task};
use ecs_operator::api::ECSTask;
use ecs_operator::api::ecs_task::TaskOutcome;
use support::{TestContext, condition, get_opt, wait_for};

const WAIT: Duration = Duration::from_secs(60);
/// How often the operator's task observer describes the tasks of active runs.
const TASK_POLL: Duration = ecs_operator::controllers::ecs_task::observer::TASK_POLL;

/// Registers a bridge-mode task definition (no network configuration needed) and returns
/// its family.
async fn task_definition(ctx: &TestContext, base: &str) -> String {
    let family = ctx.aws_name(base);
    ctx.bed
        .ecs()
        .await
        .register_task_definition()
        .family(&family)
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("busybox")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .expect("register task definition");
    family
}

fn run(name: &str, cluster: &str, family: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSTask
metadata:
  name: {name}
spec:
  cluster: {cluster}
  taskDefinition: {family}
  launchType: FARGATE
{extra}
"#
    )
}

/// Spec lines making moto's tasks of the run take `seconds` and exit with `exit_code`.
fn simulated(seconds: f64, exit_code: i32) -> String {
    format!(
        r#"  overrides:
    containerOverrides:
      - name: app
        environment:
          - name: ECS_SIM_RUN_SECONDS
            value: "{seconds}"
          - name: ECS_SIM_EXIT_CODE
            value: "{exit_code}""#
    )
}

/// Attempts of `operation` this operator made.
fn calls(op: &support::Operator, operation: &str) -> u64 {
    op.calls
        .snapshot()
        .iter()
        .filter(|((_, op, _), _)| op == operation)
        .map(|(_, n)| *n)
        .sum()
}

/// Tasks started by `started_by`, desired RUNNING only or (`all`) also stopped.
async fn started_by_count(ctx: &TestContext, cluster: &str, started_by: &str, all: bool) -> usize {
    let ecs = ctx.bed.ecs().await;
    let mut n = 0;
    for desired in [DesiredStatus::Running, DesiredStatus::Stopped] {
        if desired == DesiredStatus::Stopped && !all {
            continue;
        }
        n += ecs
            .list_tasks()
            .cluster(cluster)
            .started_by(started_by)
            .desired_status(desired)
            .send()
            .await
            .expect("list tasks")
            .task_arns()
            .len();
    }
    n
}

/// The tasks as ECS describes them.
async fn described(ctx: &TestContext, cluster: &str, arns: Vec<String>) -> Vec<Task> {
    ctx.bed
        .ecs()
        .await
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .expect("describe tasks")
        .tasks()
        .to_vec()
}

/// Waits for condition `type_` to be True and returns the object.
async fn wait_condition(api: &kube::Api<ECSTask>, name: &str, type_: &str) -> ECSTask {
    wait_for(&format!("{name} {type_}"), WAIT, || async {
        let t = get_opt(api, name).await?;
        let (status, _, _) = condition(&t.status.as_ref()?.conditions, type_)?;
        (status == "True").then_some(t)
    })
    .await
}

fn task_arns(task: &ECSTask) -> Vec<String> {
    task.status
        .iter()
        .flat_map(|s| s.tasks.iter())
        .map(|t| t.task_arn.clone())
        .collect()
}

#[tokio::test]
async fn runs_count_tasks_in_batches_and_a_restart_does_not_run_them_again() {
    let ctx = TestContext::new("ecstask-batches").await;
    let cluster = ctx.cluster("jobs").await;
    let family = task_definition(&ctx, "job").await;
    let op = ctx.start_operator().await;
    let extra = format!("  count: 12\n{}", simulated(8.0, 0));
    ctx.apply_yaml(&run("batch", &cluster, &family, &extra))
        .await
        .expect("apply");
    let api = ctx.api::<ECSTask>();
    let task = wait_for("12 tasks started", WAIT, || async {
        let t = get_opt(&api, "batch").await?;
        (t.status.as_ref()?.tasks.len() == 12).then_some(t)
    })
    .await;
    assert_eq!(calls(&op, "RunTask"), 2, "12 tasks take two RunTask calls");
    let started_by = task.started_by();
    assert!(started_by.len() <= 128);
    assert_eq!(
        started_by_count(&ctx, &cluster, &started_by, true).await,
        12
    );

    // A crash while the tasks run, then a new operator: it follows them to the end and
    // starts none.
    op.kill();
    let op = ctx.start_operator().await;
    let t = wait_condition(&api, "batch", "Complete").await;
    assert_eq!(calls(&op, "RunTask"), 0);
    assert_eq!(
        started_by_count(&ctx, &cluster, &started_by, true).await,
        12
    );
    let status = t.status.clone().expect("status");
    assert_eq!((status.succeeded, status.failed, status.active), (12, 0, 0));
    assert_eq!(status.tasks.len(), 12);
    for record in &status.tasks {
        assert_eq!(record.outcome, TaskOutcome::Succeeded);
        assert_eq!(
            record.stop_code.as_deref(),
            Some("EssentialContainerExited")
        );
        assert_eq!(record.containers.len(), 1);
        assert_eq!(record.containers[0].exit_code, Some(0));
        assert!(record.started_at.is_some() && record.stopped_at.is_some());
    }
    assert!(status.completion_time.is_some());

    // Deletion finds nothing left to stop.
    api.delete("batch", &Default::default())
        .await
        .expect("delete");
    wait_for("ECSTask gone", WAIT, || async {
        get_opt(&api, "batch").await.is_none().then_some(())
    })
    .await;
    assert_eq!(calls(&op, "StopTask"), 0);
    assert_eq!(
        started_by_count(&ctx, &cluster, &started_by, false).await,
        0
    );
    op.stop().await;
}

#[tokio::test]
async fn completed_run_deletes_itself_after_its_ttl() {
    let ctx = TestContext::new("ecstask-ttl").await;
    let cluster = ctx.cluster("jobs").await;
    let family = task_definition(&ctx, "job").await;
    let op = ctx.start_operator().await;
    ctx.apply_yaml(&run(
        "once",
        &cluster,
        &family,
        "  ttlSecondsAfterFinished: 2",
    ))
    .await
    .expect("apply");
    let api = ctx.api::<ECSTask>();
    let done = wait_condition(&api, "once", "Complete").await;
    let status = done.status.as_ref().expect("status");
    assert_eq!((status.succeeded, status.failed), (1, 0));
    wait_for("ECSTask deleted after its TTL", WAIT, || async {
        get_opt(&api, "once").await.is_none().then_some(())
    })
    .await;
    op.stop().await;
}

#[tokio::test]
async fn failed_tasks_are_retried_up_to_the_backoff_limit() {
    let ctx = TestContext::new("ecstask-backoff").await;
    let cluster = ctx.cluster("jobs").await;
    let family = task_definition(&ctx, "job").await;
    let op = ctx.start_operator().await;
    let extra = format!("  backoffLimit: 2\n{}", simulated(0.5, 3));
    ctx.apply_yaml(&run("flaky", &cluster, &family, &extra))
        .await
        .expect("apply");
    let api = ctx.api::<ECSTask>();
    let failed = wait_condition(&api, "flaky", "Failed").await;
    let status = failed.status.clone().expect("status");
    let (_, reason, message) = condition(&status.conditions, "Failed").expect("Failed");
    assert_eq!(reason, "BackoffLimitExceeded", "{message}");
    assert_eq!((status.failed, status.succeeded, status.active), (3, 0, 0));
    assert_eq!(status.tasks.len(), 3, "the first task and two retries");
    assert_eq!(calls(&op, "RunTask"), 3);
    for record in &status.tasks {
        assert_eq!(record.outcome, TaskOutcome::Failed);
        assert_eq!(
            record.stop_code.as_deref(),
            Some("EssentialContainerExited")
        );
        assert_eq!(record.containers[0].name, "app");
        assert_eq!(record.containers[0].exit_code, Some(3));
    }
    let (ready, _, _) = condition(&status.conditions, "Ready").expect("Ready");
    assert_eq!(ready, "False");
    // A failed run stays failed: nothing is started any more.
    tokio::time::sleep(2 * TASK_POLL).await;
    assert_eq!(calls(&op, "RunTask"), 3);
    op.stop().await;
}

#[tokio::test]
async fn deadline_stops_the_running_tasks() {
    let ctx = TestContext::new("ecstask-deadline").await;
    let cluster = ctx.cluster("jobs").await;
    let family = task_definition(&ctx, "job").await;
    let op = ctx.start_operator().await;
    let extra = format!(
        "  count: 2\n  activeDeadlineSeconds: 4\n{}",
        simulated(600.0, 0)
    );
    ctx.apply_yaml(&run("slow", &cluster, &family, &extra))
        .await
        .expect("apply");
    let api = ctx.api::<ECSTask>();
    let failed = wait_condition(&api, "slow", "Failed").await;
    let (_, reason, _) = condition(
        &failed.status.as_ref().expect("status").conditions,
        "Failed",
    )
    .expect("Failed");
    assert_eq!(reason, "DeadlineExceeded");
    assert_eq!(calls(&op, "StopTask"), 2);
    let arns = task_arns(&failed);
    assert_eq!(arns.len(), 2);
    for task in described(&ctx, &cluster, arns).await {
        assert_eq!(task.desired_status(), Some("STOPPED"));
        assert_eq!(task.stop_code().map(|c| c.as_str()), Some("UserInitiated"));
        assert_eq!(
            task.stopped_reason(),
            Some("ECSTask failed: DeadlineExceeded")
        );
    }
    // The run records its tasks stopped once ECS has stopped them.
    let stopped = wait_for("tasks seen stopped", WAIT, || async {
        let t = get_opt(&api, "slow").await?;
        let status = t.status.clone()?;
        (status.active == 0).then_some(status)
    })
    .await;
    assert_eq!(stopped.failed, 2);
    for record in &stopped.tasks {
        assert_eq!(record.last_status, "STOPPED");
        assert_eq!(record.stop_code.as_deref(), Some("UserInitiated"));
    }
    assert_eq!(calls(&op, "StopTask"), 2, "each task is stopped once");
    op.stop().await;
}

#[tokio::test]
async fn deletion_stops_running_tasks_unless_retained() {
    let ctx = TestContext::new("ecstask-delete").await;
    let cluster = ctx.cluster("jobs").await;
    let family = task_definition(&ctx, "job").await;
    let op = ctx.start_operator().await;
    let long = simulated(600.0, 0);
    ctx.apply_yaml(&run("stopped", &cluster, &family, &long))
        .await
        .expect("apply");
    let retain = format!("  deletionPolicy: Retain\n{long}");
    ctx.apply_yaml(&run("kept", &cluster, &family, &retain))
        .await
        .expect("apply");
    let api = ctx.api::<ECSTask>();
    let mut arns = Vec::new();
    for name in ["stopped", "kept"] {
        let t = wait_for(&format!("{name} RUNNING"), WAIT, || async {
            let t = get_opt(&api, name).await?;
            let tasks = &t.status.as_ref()?.tasks;
            (tasks.len() == 1 && tasks[0].last_status == "RUNNING").then_some(t)
        })
        .await;
        arns.push(task_arns(&t)[0].clone());
        api.delete(name, &Default::default()).await.expect("delete");
    }
    for name in ["stopped", "kept"] {
        wait_for(&format!("{name} gone"), WAIT, || async {
            get_opt(&api, name).await.is_none().then_some(())
        })
        .await;
    }
    let tasks = described(&ctx, &cluster, arns.clone()).await;
    let of = |arn: &str| {
        tasks
            .iter()
            .find(|t| t.task_arn() == Some(arn))
            .expect("described")
    };
    let stopped = of(&arns[0]);
    assert_eq!(stopped.desired_status(), Some("STOPPED"));
    assert_eq!(
        stopped.stop_code().map(|c| c.as_str()),
        Some("UserInitiated")
    );
    assert_eq!(stopped.stopped_reason(), Some("ECSTask deleted"));
    let kept = of(&arns[1]);
    assert_eq!(kept.desired_status(), Some("RUNNING"));
    assert_eq!(kept.last_status(), Some("RUNNING"));
    assert_eq!(calls(&op, "StopTask"), 1);
    op.stop().await;
    ctx.bed
        .ecs()
        .await
        .stop_task()
        .cluster(&cluster)
        .task(&arns[1])
        .send()
        .await
        .expect("stop the retained task");
}

#[tokio::test]
async fn tasks_of_many_runs_are_described_together() {
    const RUNS: usize = 5;
    let ctx = TestContext::new("ecstask-observer").await;
    let cluster = ctx.cluster("jobs").await;
    let family = task_definition(&ctx, "job").await;
    let started = Instant::now();
    let op = ctx.start_operator().await;
    let extra = format!("  count: 2\n{}", simulated(12.0, 0));
    for i in 0..RUNS {
        ctx.apply_yaml(&run(&format!("run-{i}"), &cluster, &family, &extra))
            .await
            .expect("apply");
    }
    let api = ctx.api::<ECSTask>();
    for i in 0..RUNS {
        wait_condition(&api, &format!("run-{i}"), "Complete").await;
    }
    let elapsed = started.elapsed();
    let describes = calls(&op, "DescribeTasks");
    // One round of the observer every TASK_POLL describes the tasks of every run of the
    // cluster (10 here) in one call; describing per run would take RUNS calls per round.
    // (A reconcile that finds tasks it does not record describes them once: the slack.)
    let rounds = elapsed.as_secs_f64() / TASK_POLL.as_secs_f64();
    assert!(
        (describes as f64) <= rounds + 1.0 + RUNS as f64,
        "{describes} DescribeTasks in {elapsed:?}: more than one per observer round"
    );
    assert!(
        (describes as f64) < RUNS as f64 * (rounds - 1.0),
        "{describes} DescribeTasks in {elapsed:?} for {RUNS} runs: not batched"
    );
    // ListTasks only before starting tasks (looking for tasks an interrupted reconcile
    // started): one call per desired status, once per run, not once per poll. (A reconcile
    // handed the object before its status write reached the cache looks once more.)
    let listed = calls(&op, "ListTasks");
    assert!(
        (2 * RUNS as u64..=2 * RUNS as u64 + 2).contains(&listed),
        "{listed} ListTasks for {RUNS} runs"
    );
    assert_eq!(calls(&op, "RunTask"), RUNS as u64);
    op.stop().await;
}

#[tokio::test]
async fn cluster_not_found_stalls_with_the_aws_message() {
    let ctx = TestContext::new("ecstask-nocluster").await;
    let family = task_definition(&ctx, "job").await;
    let op = ctx.start_operator().await;
    ctx.apply_yaml(&run("lost", &ctx.aws_name("missing"), &family, ""))
        .await
        .expect("apply");
    let api = ctx.api::<ECSTask>();
    wait_for("Stalled", WAIT, || async {
        let t = get_opt(&api, "lost").await?;
        let (stalled, _, message) = condition(&t.status.as_ref()?.conditions, "Stalled")?;
        (stalled == "True" && !message.is_empty()).then_some(())
    })
    .await;
    op.stop().await;
}
