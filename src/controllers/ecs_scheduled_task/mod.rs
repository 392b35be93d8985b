//! ECSScheduledTask controller: resolve the cluster and task definition, bring the
//! EventBridge Scheduler schedule to the spec (create, or update when it differs), write
//! status; delete the schedule per the deletion policy.
//!
//! Crash safety: the schedule's name is derived from the object, so a repeated create finds
//! the schedule an interrupted reconcile created (ConflictException, then GetSchedule) and
//! the ownership tags in its target say whether it is ours.

pub mod expression;
pub mod plan;
pub mod status;

use std::sync::Arc;

use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Api, ResourceExt};
use tracing::{info, instrument, warn};

use self::plan::{KIND, Plan, Resolved};
use self::status::{Input, Outcome};
use super::{
    Error, backoff_after_error, ready_cluster_arn, ready_task_definition_arn, write_status,
};
use crate::api::ECSScheduledTask;
use crate::api::common::{
    DeletionPolicy, FINALIZER, Ownership, deletion_policy_for, ownership_of, ownership_tags,
};
use crate::aws::AwsClients;
use crate::aws::ecs_cluster::{cluster_name_of, describe_clusters};
use crate::aws::ecs_task::task_definition_facts;
use crate::aws::error::AwsError;
use crate::aws::scheduler;
use crate::runtime::{Context, crash};

/// Schedules rarely change behind our back, and spec and TaskDefinition changes arrive by
/// watch: the schedule is read again every this many resync intervals to repair drift
/// (one GetSchedule per object; Scheduler has no batched read).
const DRIFT_CHECK_INTERVALS: u32 = 5;

#[instrument(skip_all, fields(kind = KIND, namespace = obj.namespace().unwrap_or_default(), object = obj.name_any(), generation = obj.metadata.generation))]
pub async fn reconcile(obj: Arc<ECSScheduledTask>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<ECSScheduledTask> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(task) => apply(&api, &task, &ctx).await,
            FinalizerEvent::Cleanup(task) => cleanup(&task, &ctx).await,
        }
    })
    .await
    .map_err(|err| Error::Finalizer(Box::new(err)))
}

pub fn error_policy(obj: Arc<ECSScheduledTask>, error: &Error, ctx: Arc<Context>) -> Action {
    backoff_after_error(obj.as_ref(), error, &ctx, super::DELETION_POLL)
}

fn deletion_policy(task: &ECSScheduledTask, ctx: &Context) -> DeletionPolicy {
    task.spec
        .deletion_policy
        .unwrap_or(ctx.config.default_deletion_policy)
}

/// The clients for the object's Region. Scheduling passes the Scheduler's role
/// (`spec.roleArn`) and the overrides' roles, which the namespace's grant must allow;
/// deleting the schedule does not.
async fn aws_for(
    task: &ECSScheduledTask,
    ctx: &Context,
    scheduling: bool,
) -> Result<AwsClients, AwsError> {
    let mut pass_roles: Vec<&str> = Vec::new();
    if scheduling {
        pass_roles.push(task.spec.role_arn.as_str());
        if let Some(o) = &task.spec.task.overrides {
            pass_roles.extend(
                [&o.task_role_arn, &o.execution_role_arn]
                    .into_iter()
                    .flatten()
                    .map(String::as_str),
            );
        }
    }
    ctx.aws_passing(
        &task.namespace().unwrap_or_default(),
        task.spec.region.as_deref(),
        None,
        &pass_roles,
    )
    .await
}

fn waiting(message: impl Into<String>) -> Outcome {
    Outcome::Waiting {
        message: message.into(),
        stalled: false,
    }
}

fn stalled(message: impl Into<String>) -> Outcome {
    Outcome::Waiting {
        message: message.into(),
        stalled: true,
    }
}

/// The cluster ARN of the target: the referenced ECSCluster's once Ready; a literal ARN as
/// is; a literal name through DescribeClusters, unless status already resolved it.
async fn cluster_arn(
    task: &ECSScheduledTask,
    ctx: &Context,
    aws: &AwsClients,
) -> Result<String, Outcome> {
    let namespace = task.namespace().unwrap_or_default();
    if let Some(reference) = &task.spec.task.cluster_ref {
        return ready_cluster_arn(
            ctx,
            &namespace,
            &reference.name,
            task.spec.region.as_deref(),
            None,
        )
        .map_err(|(message, is_stalled)| {
            if is_stalled {
                stalled(message)
            } else {
                waiting(message)
            }
        });
    }
    let literal = task.spec.task.cluster.clone().unwrap_or_default();
    if literal.starts_with("arn:") {
        return Ok(literal);
    }
    if let Some(known) = task.status.as_ref().and_then(|s| s.cluster_arn.clone())
        && cluster_name_of(&known) == literal
    {
        return Ok(known);
    }
    let described = describe_clusters(&aws.ecs, std::slice::from_ref(&literal))
        .await
        .map_err(Outcome::Aws)?;
    match described.found.get(&literal) {
        Some(cluster) if cluster.exists() => Ok(cluster.arn.clone()),
        _ => Err(stalled(format!("ECS cluster {literal} not found"))),
    }
}

/// The task definition revision of the target, checked against the overrides and network
/// configuration whenever it or the spec changed.
async fn task_definition_arn(
    task: &ECSScheduledTask,
    ctx: &Context,
    aws: &AwsClients,
) -> Result<String, Outcome> {
    let namespace = task.namespace().unwrap_or_default();
    let previous = task.status.clone().unwrap_or_default();
    let spec_unchanged = previous.observed_generation == task.metadata.generation;
    let reference = match (
        &task.spec.task.task_definition_ref,
        &task.spec.task.task_definition,
    ) {
        (Some(reference), _) => {
            ready_task_definition_arn(ctx, &namespace, &reference.name).map_err(waiting)?
        }
        // A family (or family:revision) is resolved when the spec changes, then kept.
        (None, Some(literal)) => match &previous.task_definition_arn {
            Some(known) if spec_unchanged => known.clone(),
            _ => literal.clone(),
        },
        (None, None) => return Err(stalled("spec names no task definition")),
    };
    if spec_unchanged && previous.task_definition_arn.as_ref() == Some(&reference) {
        return Ok(reference);
    }
    let facts = task_definition_facts(&aws.ecs, &reference)
        .await
        .map_err(|err| {
            if err.is_terminal() {
                stalled(err.to_string())
            } else {
                Outcome::Aws(err)
            }
        })?;
    plan::check_task_definition(
        task.spec.task.overrides.as_ref(),
        task.spec.task.network_configuration.as_ref(),
        &facts.network_mode,
        &facts.container_names,
    )
    .map_err(stalled)?;
    Ok(facts.arn)
}

/// What this reconcile did to the schedule, for the Event.
enum Change {
    None,
    Created,
    Updated { drift: bool },
}

async fn sync(task: &ECSScheduledTask, ctx: &Context) -> (Outcome, Change) {
    let aws = match aws_for(task, ctx, true).await {
        Ok(aws) => aws,
        Err(err) => return (Outcome::Aws(err), Change::None),
    };
    let cluster = match cluster_arn(task, ctx, &aws).await {
        Ok(arn) => arn,
        Err(outcome) => return (outcome, Change::None),
    };
    let task_definition = match task_definition_arn(task, ctx, &aws).await {
        Ok(arn) => arn,
        Err(outcome) => return (outcome, Change::None),
    };
    let timezone = task.spec.timezone.as_deref().unwrap_or("UTC");
    if expression::time_zone(timezone).is_none() {
        return (
            stalled(format!("unknown time zone {timezone:?}")),
            Change::None,
        );
    }
    let uid = task.uid().unwrap_or_default();
    let resolved = Resolved {
        cluster_arn: &cluster,
        task_definition_arn: &task_definition,
        ownership: ownership_tags(
            KIND,
            &task.namespace().unwrap_or_default(),
            &task.name_any(),
            &uid,
        ),
    };
    let desired = match plan::desired(&task.spec, &resolved) {
        Ok(desired) => desired,
        Err(message) => return (stalled(message), Change::None),
    };
    let (group, name) = (task.group_name(), task.schedule_name());
    // Twice at most: a create that finds the schedule already there plans again with it.
    for _ in 0..2 {
        let observed = match scheduler::get(&aws.scheduler, &group, &name).await {
            Ok(observed) => observed,
            Err(err) => return (Outcome::Aws(err), Change::None),
        };
        let desired =
            plan::with_adoption_mark(&desired, observed.as_ref(), &uid, task.spec.adopt_existing);
        let decided = plan::plan(&desired, observed.as_ref(), &uid, task.spec.adopt_existing);
        let created = observed.as_ref().and_then(|o| o.created);
        let result = match decided {
            Plan::NotOurs { owner } => {
                let message =
                    owner.message(&format!("schedule {group}/{name}"), "spec.scheduleName");
                return (
                    Outcome::NotOurs {
                        reason: owner.reason(),
                        message,
                    },
                    Change::None,
                );
            }
            Plan::InSync => Ok((observed.map(|o| o.arn).unwrap_or_default(), Change::None)),
            Plan::Update => {
                let previous = task.status.clone().unwrap_or_default();
                let drift = previous.observed_generation == task.metadata.generation
                    && previous.task_definition_arn.as_deref() == Some(task_definition.as_str())
                    && previous.cluster_arn.as_deref() == Some(cluster.as_str());
                scheduler::update(&aws.scheduler, &group, &name, &desired)
                    .await
                    .map(|arn| (arn, Change::Updated { drift }))
            }
            Plan::Create => {
                let token = format!("{uid}-{}", task.metadata.generation.unwrap_or_default());
                match scheduler::create(&aws.scheduler, &group, &name, &desired, &token).await {
                    Err(err) if err.code == "ConflictException" => continue,
                    other => {
                        if other.is_ok() {
                            crash::crash_point(
                                crash::CREATE_SCHEDULE,
                                &task.namespace().unwrap_or_default(),
                            );
                        }
                        other.map(|arn| (arn, Change::Created))
                    }
                }
            }
        };
        return match result {
            Ok((arn, change)) => (
                Outcome::Scheduled {
                    arn,
                    settings: Box::new(desired),
                    created: created.or_else(|| Some(Timestamp::now().as_second())),
                },
                change,
            ),
            Err(err) => (Outcome::Aws(err), Change::None),
        };
    }
    (
        waiting(format!(
            "schedule {group}/{name} appeared while it was being created; looking again"
        )),
        Change::None,
    )
}

async fn apply(
    api: &Api<ECSScheduledTask>,
    task: &ECSScheduledTask,
    ctx: &Context,
) -> Result<Action, Error> {
    let key = Context::key(task);
    let (outcome, change) = sync(task, ctx).await;
    let input = Input {
        previous: task.status.as_ref(),
        generation: task.metadata.generation,
        schedule_name: &task.schedule_name(),
        group_name: &task.group_name(),
        deletion_policy: deletion_policy(task, ctx),
        now: Timestamp::now(),
    };
    let new_status = status::compute(&input, &outcome);
    write_status(api, task, task.status.as_ref(), &new_status).await?;
    let schedule = format!("{}/{}", task.group_name(), task.schedule_name());
    match change {
        Change::Created => {
            info!(%schedule, "created schedule");
            ctx.event(
                task,
                EventType::Normal,
                "Created",
                "CreateSchedule",
                format!("created schedule {schedule}"),
            )
            .await;
        }
        Change::Updated { drift: true } => {
            warn!(%schedule, "schedule changed outside the operator: put back");
            ctx.event(
                task,
                EventType::Warning,
                "DriftRepaired",
                "UpdateSchedule",
                format!(
                    "schedule {schedule} was changed outside ecs-operator; restored to the spec"
                ),
            )
            .await;
        }
        Change::Updated { drift: false } => {
            info!(%schedule, "updated schedule");
            ctx.event(
                task,
                EventType::Normal,
                "Updated",
                "UpdateSchedule",
                format!("updated schedule {schedule}"),
            )
            .await;
        }
        Change::None => {}
    }
    let was_stalled = |s: Option<&crate::api::ecs_scheduled_task::ECSScheduledTaskStatus>| {
        s.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Stalled"))
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let now_stalled = was_stalled(Some(&new_status)).filter(|(s, _, _)| s == "True");
    if let Some((_, reason, message)) = &now_stalled
        && was_stalled(task.status.as_ref()) != now_stalled
    {
        ctx.event(
            task,
            EventType::Warning,
            reason,
            "Reconcile",
            message.clone(),
        )
        .await;
    }
    Ok(match &outcome {
        Outcome::Scheduled { .. } => {
            ctx.backoff.reset(&key);
            Action::requeue(super::jittered(
                ctx.config.resync_interval * DRIFT_CHECK_INTERVALS,
            ))
        }
        // The ECSCluster and TaskDefinition watches wake us when they become Ready.
        Outcome::Waiting { stalled: false, .. } => Action::requeue(ctx.config.resync_interval),
        Outcome::Waiting { stalled: true, .. } | Outcome::NotOurs { .. } => {
            Action::requeue(crate::runtime::backoff::TERMINAL_RETRY)
        }
        Outcome::Aws(err) => Action::requeue(ctx.backoff.next_delay(&key, err.class)),
    })
}

/// Deletes the schedule (Delete) if it is ours, or leaves it (Retain).
async fn cleanup(task: &ECSScheduledTask, ctx: &Context) -> Result<Action, Error> {
    let schedule = format!("{}/{}", task.group_name(), task.schedule_name());
    if deletion_policy(task, ctx) == DeletionPolicy::Retain {
        info!(%schedule, "deletionPolicy Retain: schedule left in place");
        return Ok(Action::await_change());
    }
    let aws = aws_for(task, ctx, false).await?;
    let (group, name) = (task.group_name(), task.schedule_name());
    let Some(observed) = scheduler::get(&aws.scheduler, &group, &name).await? else {
        return Ok(Action::await_change());
    };
    match ownership_of(
        &observed.settings.target.tags,
        &task.uid().unwrap_or_default(),
    ) {
        Ownership::Ours
            if deletion_policy_for(
                &observed.settings.target.tags,
                task.spec.deletion_policy,
                ctx.config.default_deletion_policy,
            ) == DeletionPolicy::Retain =>
        {
            info!(%schedule, "adopted schedule, deletionPolicy not set to Delete: left in place");
        }
        Ownership::Ours => {
            scheduler::delete(&aws.scheduler, &group, &name).await?;
            ctx.event(
                task,
                EventType::Normal,
                "Deleted",
                "DeleteSchedule",
                format!("deleted schedule {schedule}"),
            )
            .await;
        }
        _ => {
            // Never ours (AlreadyExists): deleting the object must not delete it.
            info!(%schedule, "schedule is not ours: left in place");
        }
    }
    Ok(Action::await_change())
}
