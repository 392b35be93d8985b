//! ECSTask controller: resolve cluster and task definition, take the batched observer's
//! latest look at the run's tasks (see [`observer`]: DescribeTasks 100 at a time across all
//! runs of a cluster), decide (pure), start or stop tasks, write status, and delete the
//! object once its TTL after finishing has passed. A reconcile describes no tasks itself.
//!
//! Crash safety: every task carries `startedBy = ecs-operator/<uid>`, so before it starts
//! any task a reconcile lists (ListTasks by `startedBy`) the tasks an earlier, interrupted
//! reconcile started but did not record; RunTask's `clientToken` is derived from the uid and
//! the launch number that status recorded, so the call an interrupted reconcile made is made
//! again with the same token and, within ECS's idempotency window, starts nothing new, also
//! when the eventually consistent ListTasks missed some of its tasks.

pub mod observer;
pub mod plan;
pub mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::DeleteParams;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Api, ResourceExt};
use tracing::{info, instrument};

use self::plan::{Finished, Plan};
use self::status::{Input, Problem, Progress};
use super::{Error, backoff_after_error, write_status};
use crate::api::common::{DeletionPolicy, FINALIZER, find_condition, ownership_tags};
use crate::api::ecs_task::{ECSTask, TaskOutcome, TaskRecord};
use crate::api::{ECSCluster, TaskDefinition};
use crate::aws::AwsClients;
use crate::aws::ecs_task::{self as tasks, RunRequest};
use crate::aws::error::AwsError;
use crate::runtime::{Context, crash};

const KIND: &str = "ECSTask";

#[instrument(skip_all, fields(kind = KIND, namespace = obj.namespace().unwrap_or_default(), object = obj.name_any(), generation = obj.metadata.generation))]
pub async fn reconcile(obj: Arc<ECSTask>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<ECSTask> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(task) => apply(&api, &task, &ctx).await,
            FinalizerEvent::Cleanup(task) => cleanup(&task, &ctx).await,
        }
    })
    .await
    .map_err(|err| Error::Finalizer(Box::new(err)))
}

pub fn error_policy(obj: Arc<ECSTask>, error: &Error, ctx: Arc<Context>) -> Action {
    backoff_after_error(obj.as_ref(), error, &ctx, super::DELETION_POLL)
}

fn deletion_policy(task: &ECSTask, ctx: &Context) -> DeletionPolicy {
    task.spec
        .deletion_policy
        .unwrap_or(ctx.config.default_deletion_policy)
}

/// The clients for the object's Region and IAM role. Running tasks also passes the
/// overrides' roles, which the namespace's grant must allow; stopping them does not.
async fn aws_for(task: &ECSTask, ctx: &Context, running: bool) -> Result<AwsClients, AwsError> {
    let pass_roles: Vec<&str> = match (&task.spec.overrides, running) {
        (Some(o), true) => [&o.task_role_arn, &o.execution_role_arn]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect(),
        _ => Vec::new(),
    };
    ctx.aws_passing(
        &task.namespace().unwrap_or_default(),
        task.spec.region.as_deref(),
        task.spec.role_arn.as_deref(),
        &pass_roles,
    )
    .await
}

fn parse_time(text: Option<&str>) -> Option<Timestamp> {
    text.and_then(|t| t.parse().ok())
}

/// The cluster of the run: once recorded in status it stays; else `spec.cluster`, or the
/// referenced ECSCluster's ARN once it is Ready. `Err((message, stalled))` while unresolved.
fn resolved_cluster(task: &ECSTask, ctx: &Context) -> Result<String, (String, bool)> {
    if let Some(recorded) = task.status.as_ref().and_then(|s| s.cluster_arn.clone()) {
        return Ok(recorded);
    }
    if let Some(cluster) = &task.spec.cluster {
        return Ok(cluster.clone());
    }
    let Some(reference) = &task.spec.cluster_ref else {
        return Err(("spec names no cluster".into(), true));
    };
    let namespace = task.namespace().unwrap_or_default();
    let key =
        kube::runtime::reflector::ObjectRef::<ECSCluster>::new(&reference.name).within(&namespace);
    let Some(cluster) = ctx.clusters.get(&key) else {
        return Err((
            format!(
                "waiting for ECSCluster {} (not found in namespace {namespace})",
                reference.name
            ),
            false,
        ));
    };
    if cluster.spec.region != task.spec.region || cluster.spec.role_arn != task.spec.role_arn {
        return Err((
            format!(
                "ECSCluster {} is in another Region or account: a task's region and roleArn must be its cluster's",
                reference.name
            ),
            true,
        ));
    }
    let status = cluster.status.clone().unwrap_or_default();
    let ready = find_condition(&status.conditions, "Ready").is_some_and(|c| c.status == "True");
    match (status.cluster_arn, ready) {
        (Some(arn), true) => Ok(arn),
        _ => Err((
            format!("waiting for ECSCluster {} to be Ready", reference.name),
            false,
        )),
    }
}

/// The task definition reference to describe: the revision recorded when the run started,
/// the referenced TaskDefinition's current revision, or the literal reference.
fn task_definition_reference(task: &ECSTask, ctx: &Context) -> Result<String, String> {
    if let Some(arn) = task
        .status
        .as_ref()
        .and_then(|s| s.task_definition_arn.clone())
    {
        return Ok(arn);
    }
    if let Some(literal) = &task.spec.task_definition {
        return Ok(literal.clone());
    }
    let Some(reference) = &task.spec.task_definition_ref else {
        return Err("spec names no task definition".into());
    };
    let namespace = task.namespace().unwrap_or_default();
    let key = kube::runtime::reflector::ObjectRef::<TaskDefinition>::new(&reference.name)
        .within(&namespace);
    let Some(td) = ctx.task_definitions.get(&key) else {
        return Err(format!(
            "waiting for TaskDefinition {} (not found in namespace {namespace})",
            reference.name
        ));
    };
    let status = td.status.clone().unwrap_or_default();
    let ready = find_condition(&status.conditions, "Ready").is_some_and(|c| c.status == "True");
    match (
        status.task_definition_arn,
        ready && status.observed_generation == td.metadata.generation,
    ) {
        (Some(arn), true) => Ok(arn),
        _ => Err(format!(
            "waiting for TaskDefinition {} to be Ready",
            reference.name
        )),
    }
}

async fn apply(api: &Api<ECSTask>, task: &ECSTask, ctx: &Context) -> Result<Action, Error> {
    let key = Context::key(task);
    let previous = task.status.clone().unwrap_or_default();
    let mut progress = Progress {
        cluster: previous.cluster_arn.clone(),
        task_definition_arn: previous.task_definition_arn.clone(),
        started_by: task.started_by(),
        tasks: previous.tasks.clone(),
        launch_failures: previous.launch_failures.clone(),
        start_time: parse_time(previous.start_time.as_deref()),
        completion_time: parse_time(previous.completion_time.as_deref()),
        finished: status::finished_from(&previous),
    };
    let problem = run(task, ctx, &mut progress).await.err();
    let now = Timestamp::now();
    if progress.finished.is_some() && progress.completion_time.is_none() {
        progress.completion_time = Some(now);
    }
    let input = Input {
        previous: task.status.as_ref(),
        generation: task.metadata.generation,
        count: task.spec.count,
        deletion_policy: deletion_policy(task, ctx),
        now,
    };
    let new_status = status::compute(&input, &progress, problem.as_ref());
    write_status(api, task, task.status.as_ref(), &new_status).await?;
    publish_events(task, ctx, &previous, &progress).await;

    if let Some(finished) = &progress.finished {
        ctx.backoff.reset(&key);
        let active = progress
            .tasks
            .iter()
            .any(|t| t.outcome == TaskOutcome::Running);
        if matches!(finished, Finished::Failed { .. }) && active {
            // The observer wakes the run when its stopped tasks are seen stopped.
            return Ok(Action::requeue(ctx.config.resync_interval));
        }
        let Some(ttl) = task.spec.ttl_seconds_after_finished else {
            return Ok(Action::await_change());
        };
        let completed = progress.completion_time.unwrap_or(now);
        let left = ttl as f64 - now.duration_since(completed).as_secs_f64();
        if left <= 0.0 {
            info!(ttl, "ttlSecondsAfterFinished passed: deleting the ECSTask");
            match api.delete(&task.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(err) => return Err(err.into()),
            }
            return Ok(Action::await_change());
        }
        return Ok(Action::requeue(Duration::from_secs_f64(left.max(0.1))));
    }
    Ok(match &problem {
        None => {
            ctx.backoff.reset(&key);
            // The observer wakes the run when its tasks change; the deadline, if sooner.
            let deadline = plan::deadline_left(&task.spec, progress.start_time, now);
            let next = deadline.map_or(ctx.config.resync_interval, |left| {
                left.min(ctx.config.resync_interval)
            });
            Action::requeue(next.max(Duration::from_millis(100)))
        }
        Some(Problem::Waiting { stalled: true, .. }) => {
            Action::requeue(crate::runtime::backoff::TERMINAL_RETRY)
        }
        // The ECSCluster and TaskDefinition watches wake us when they become Ready.
        Some(Problem::Waiting { .. }) => Action::requeue(ctx.config.resync_interval),
        Some(Problem::Aws(err)) => Action::requeue(ctx.backoff.next_delay(&key, err.class)),
    })
}

/// Observes the run, then starts or stops tasks as the plan says; `progress` is updated as
/// far as it got.
async fn run(task: &ECSTask, ctx: &Context, progress: &mut Progress) -> Result<(), Problem> {
    let aws = aws_for(task, ctx, true).await.map_err(Problem::Aws)?;
    let cluster = resolved_cluster(task, ctx)
        .map_err(|(message, stalled)| Problem::Waiting { message, stalled })?;
    progress.cluster = Some(cluster.clone());
    // Launch numbers (and so RunTask tokens) count only what status recorded: after a crash
    // right after RunTask, this reconcile repeats the interrupted call with the same token and
    // ECS answers with the tasks it started then, even when ListTasks (eventually consistent)
    // found only some of them and the plan asks for fewer.
    let recorded_launches = progress.tasks.len() + progress.launch_failures.len();
    if progress.task_definition_arn.is_none() {
        let reference =
            task_definition_reference(task, ctx).map_err(|message| Problem::Waiting {
                message,
                stalled: false,
            })?;
        let facts = tasks::task_definition_facts(&aws.ecs, &reference)
            .await
            .map_err(Problem::Aws)?;
        plan::check_task_definition(&task.spec, &facts.network_mode, &facts.container_names)
            .map_err(|message| Problem::Waiting {
                message,
                stalled: true,
            })?;
        progress.task_definition_arn = Some(facts.arn);
    }
    let task_definition = progress.task_definition_arn.clone().unwrap_or_default();

    // The observer's latest look at the tasks, when it woke this reconcile.
    if let Some(observed) = ctx
        .task_observations
        .take_fresh(&observer::cache_key(task), observer::OBSERVATION_MAX_AGE)
    {
        plan::merge(&mut progress.tasks, observed.map_err(Problem::Aws)?);
    }
    let mut decided = decide(task, progress);
    if matches!(decided, Plan::Run(_))
        && recover(&aws, &cluster, progress)
            .await
            .map_err(Problem::Aws)?
    {
        decided = decide(task, progress);
    }
    match decided {
        Plan::Run(n) => {
            let uid = task.uid().unwrap_or_default();
            let mut tags: BTreeMap<String, String> = task
                .spec
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            let namespace = task.namespace().unwrap_or_default();
            tags.extend(ownership_tags(KIND, &namespace, &task.name_any(), &uid));
            let mut launched = recorded_launches;
            for size in plan::batches(n) {
                let token = plan::client_token(&uid, launched);
                launched += usize::try_from(size).unwrap_or_default();
                let started = tasks::run(
                    &aws.ecs,
                    &RunRequest {
                        spec: &task.spec,
                        cluster: &cluster,
                        task_definition: &task_definition,
                        count: size,
                        started_by: &progress.started_by,
                        client_token: &token,
                        tags: &tags,
                    },
                )
                .await
                .map_err(|err| Problem::Aws(interrupted_launch_not_visible(err)))?;
                crash::crash_point(crash::RUN_TASK, &namespace);
                info!(
                    started = started.tasks.len(),
                    failures = started.failures.len(),
                    "RunTask"
                );
                if progress.start_time.is_none() {
                    progress.start_time = Some(Timestamp::now());
                }
                for record in started.tasks {
                    if !progress.tasks.iter().any(|t| t.task_arn == record.task_arn) {
                        progress.tasks.push(record);
                    }
                }
                progress.launch_failures.extend(started.failures);
            }
        }
        Plan::Wait { .. } => {}
        Plan::Finish { finished, mut stop } => {
            let reason = match &finished {
                Finished::Complete => "ECSTask complete".to_string(),
                Finished::Failed { reason, .. } => format!("ECSTask failed: {reason}"),
            };
            if progress.finished.is_none() && matches!(finished, Finished::Failed { .. }) {
                // Also the tasks an interrupted reconcile started but did not record.
                for arn in tasks::list(&aws.ecs, &cluster, &progress.started_by, false)
                    .await
                    .map_err(Problem::Aws)?
                {
                    if !stop.contains(&arn) {
                        stop.push(arn);
                    }
                }
            }
            for arn in &stop {
                tasks::stop(&aws.ecs, &cluster, arn, &reason)
                    .await
                    .map_err(Problem::Aws)?;
                if let Some(record) = progress.tasks.iter_mut().find(|t| &t.task_arn == arn) {
                    record.desired_status = "STOPPED".into();
                }
            }
            progress.finished = Some(finished);
        }
    }
    Ok(())
}

/// RunTask answers ConflictException when the token was used for another request: the
/// interrupted call this one repeats asked for more tasks than the plan does now, because
/// ListTasks (eventually consistent) showed some of them already. They exist; once ListTasks
/// shows them all, crash recovery records them and nothing is left to start. So: retry.
fn interrupted_launch_not_visible(err: AwsError) -> AwsError {
    if err.code != "ConflictException" {
        return err;
    }
    AwsError {
        message: format!(
            "tasks an interrupted launch started are not all listed yet; looking again: {}",
            err.message
        ),
        class: crate::aws::error::ErrorClass::Retryable,
        ..err
    }
}

fn decide(task: &ECSTask, progress: &Progress) -> Plan {
    plan::plan(&plan::Input {
        spec: &task.spec,
        tasks: &progress.tasks,
        launch_failures: &progress.launch_failures,
        start_time: progress.start_time,
        finished: progress.finished.clone(),
        now: Timestamp::now(),
    })
}

/// Crash recovery before starting tasks: the tasks started with the run's `startedBy` that it
/// does not record (an interrupted reconcile started them) are described and recorded. True
/// when there were any.
async fn recover(
    aws: &AwsClients,
    cluster: &str,
    progress: &mut Progress,
) -> Result<bool, AwsError> {
    let unrecorded: Vec<String> = tasks::list(&aws.ecs, cluster, &progress.started_by, true)
        .await?
        .into_iter()
        .filter(|arn| !progress.tasks.iter().any(|t| &t.task_arn == arn))
        .collect();
    if unrecorded.is_empty() {
        return Ok(false);
    }
    let found = tasks::describe(&aws.ecs, cluster, &unrecorded).await?;
    info!(
        found = found.len(),
        "found tasks an earlier reconcile started"
    );
    if progress.start_time.is_none() {
        progress.start_time = Some(Timestamp::now());
    }
    Ok(plan::merge(&mut progress.tasks, found) > 0)
}

async fn publish_events(
    task: &ECSTask,
    ctx: &Context,
    previous: &crate::api::ecs_task::ECSTaskStatus,
    progress: &Progress,
) {
    let before = status::finished_from(previous);
    if before.is_none() {
        match &progress.finished {
            Some(Finished::Complete) => {
                ctx.event(
                    task,
                    EventType::Normal,
                    "Completed",
                    "Run",
                    format!("{} tasks succeeded", task.spec.count),
                )
                .await
            }
            Some(Finished::Failed { reason, message }) => {
                ctx.event(task, EventType::Warning, reason, "Run", message.clone())
                    .await
            }
            None => {}
        }
    }
    let known: Vec<&str> = previous.tasks.iter().map(|t| t.task_arn.as_str()).collect();
    let new: Vec<&TaskRecord> = progress
        .tasks
        .iter()
        .filter(|t| !known.contains(&t.task_arn.as_str()))
        .collect();
    if !new.is_empty() {
        ctx.event(
            task,
            EventType::Normal,
            "TasksStarted",
            "Run",
            format!("started {} tasks", new.len()),
        )
        .await;
    }
}

/// Stops the run's tasks still running (Delete), or leaves them (Retain).
async fn cleanup(task: &ECSTask, ctx: &Context) -> Result<Action, Error> {
    if deletion_policy(task, ctx) == DeletionPolicy::Retain {
        return Ok(Action::await_change());
    }
    let Some(cluster) = task
        .status
        .as_ref()
        .and_then(|s| s.cluster_arn.clone())
        .or_else(|| task.spec.cluster.clone())
    else {
        return Ok(Action::await_change());
    };
    let aws = aws_for(task, ctx, false).await?;
    let started_by = task.started_by();
    // Every task of the run still meant to run, recorded or not.
    let running = match tasks::list(&aws.ecs, &cluster, &started_by, false).await {
        Ok(listed) => listed,
        // The cluster is gone, and its tasks with it.
        Err(err) if err.is_not_found() || err.code == "ClusterNotFoundException" => {
            return Ok(Action::await_change());
        }
        Err(err) => return Err(err.into()),
    };
    ctx.task_observations.invalidate(&observer::cache_key(task));
    for arn in &running {
        tasks::stop(&aws.ecs, &cluster, arn, "ECSTask deleted").await?;
    }
    if !running.is_empty() {
        ctx.event(
            task,
            EventType::Normal,
            "TasksStopped",
            "Delete",
            format!("stopped {} running tasks", running.len()),
        )
        .await;
    }
    Ok(Action::await_change())
}
