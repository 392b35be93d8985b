//! ECSTask against the real kube-apiserver and moto.
//!
//! moto moves a task one step towards STOPPED (exit code 0) on every DescribeTasks, so runs
//! complete within seconds here; exit codes, stop codes, retries and deadlines are covered by
//! the unit tests of `aws::ecs_task` and `controllers::ecs_task::plan`.

mod support;

use std::time::Duration;

use aws_sdk_ecs::types::{ContainerDefinition, DesiredStatus};
use ecs_operator::api::ECSTask;
use support::{TestContext, condition, get_opt, wait_for};

const WAIT: Duration = Duration::from_secs(40);

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

fn run_task_calls(op: &support::Operator) -> u64 {
    op.calls
        .snapshot()
        .iter()
        .filter(|((_, operation, _), _)| operation == "RunTask")
        .map(|(_, n)| *n)
        .sum()
}

/// Tasks started by `started_by`, desired RUNNING only or (`all`) also recently stopped.
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

#[tokio::test]
async fn runs_count_tasks_in_batches_and_a_restart_does_not_run_them_again() {
    let ctx = TestContext::new("ecstask-batches").await;
    let cluster = ctx.cluster("jobs").await;
    let family = task_definition(&ctx, "job").await;
    let op = ctx.start_operator().await;
    ctx.apply_yaml(&run("batch", &cluster, &family, "  count: 12"))
        .await
        .expect("apply");
    let api = ctx.api::<ECSTask>();
    let task = wait_for("12 tasks started", WAIT, || async {
        let t = get_opt(&api, "batch").await?;
        (t.status.as_ref()?.tasks.len() == 12).then_some(t)
    })
    .await;
    assert_eq!(run_task_calls(&op), 2, "12 tasks take two RunTask calls");
    let started_by = task.started_by();
    assert!(started_by.len() <= 128);
    assert_eq!(
        started_by_count(&ctx, &cluster, &started_by, true).await,
        12
    );

    // A crash, then a new operator: it finds the tasks by startedBy and starts none.
    op.kill();
    let op = ctx.start_operator().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(run_task_calls(&op), 0);
    assert_eq!(
        started_by_count(&ctx, &cluster, &started_by, true).await,
        12
    );
    let t = wait_for("Complete", WAIT, || async {
        let t = get_opt(&api, "batch").await?;
        let (complete, _, _) = condition(&t.status.as_ref()?.conditions, "Complete")?;
        (complete == "True").then_some(t)
    })
    .await;
    let status = t.status.clone().expect("status");
    assert_eq!((status.succeeded, status.failed, status.active), (12, 0, 0));
    assert_eq!(status.tasks.len(), 12);

    // Deletion (policy Delete) stops the running tasks.
    api.delete("batch", &Default::default())
        .await
        .expect("delete");
    wait_for("ECSTask gone", WAIT, || async {
        get_opt(&api, "batch").await.is_none().then_some(())
    })
    .await;
    // Nothing of the run is left running (moto keeps desiredStatus RUNNING on tasks that
    // stopped on their own, so look at lastStatus too).
    let arns: Vec<String> = status.tasks.iter().map(|t| t.task_arn.clone()).collect();
    let described = ctx
        .bed
        .ecs()
        .await
        .describe_tasks()
        .cluster(&cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .expect("describe tasks");
    assert!(
        described
            .tasks()
            .iter()
            .all(|t| t.last_status() == Some("STOPPED") || t.desired_status() == Some("STOPPED"))
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
    let task = wait_for("1 active task", WAIT, || async {
        let t = get_opt(&api, "once").await?;
        (t.status.as_ref()?.active == 1).then_some(t)
    })
    .await;
    // moto's stopped tasks report exit code 0: the task counts as succeeded.
    let arn = task.status.as_ref().expect("status").tasks[0]
        .task_arn
        .clone();
    ctx.bed
        .ecs()
        .await
        .stop_task()
        .cluster(&cluster)
        .task(&arn)
        .send()
        .await
        .expect("stop task");
    wait_for("Complete", WAIT, || async {
        let t = get_opt(&api, "once").await?;
        let (complete, _, _) = condition(&t.status.as_ref()?.conditions, "Complete")?;
        (complete == "True").then_some(())
    })
    .await;
    wait_for("ECSTask deleted after its TTL", WAIT, || async {
        get_opt(&api, "once").await.is_none().then_some(())
    })
    .await;
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
