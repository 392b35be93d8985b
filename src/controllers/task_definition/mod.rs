//! TaskDefinition controller: observe the family in ECS, decide (pure), register or
//! deregister, write status.

pub mod normalize;
pub mod observer;
pub mod plan;
pub mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Api, ResourceExt};
use tracing::{info, instrument};

use self::plan::{Decision, RegisterReason};
use self::status::{Input, Outcome};
use super::{Error, backoff_after_error, write_status};
use crate::api::common::{DeletionPolicy, FINALIZER, ownership_tags, tags};
use crate::api::task_definition::TaskDefinition;
use crate::aws::AwsClients;
use crate::aws::ecs_task_definition::{self as ecs_td, ObservedRevision};
use crate::aws::error::AwsError;
use crate::runtime::{Context, crash};

const KIND: &str = "TaskDefinition";
/// How often deletion re-checks whether the services using this task definition are gone.
const DELETION_RECHECK: Duration = Duration::from_secs(5);

#[instrument(skip_all, fields(kind = KIND, namespace = obj.namespace().unwrap_or_default(), object = obj.name_any(), generation = obj.metadata.generation))]
pub async fn reconcile(obj: Arc<TaskDefinition>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<TaskDefinition> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(td) => apply(&api, &td, &ctx).await,
            FinalizerEvent::Cleanup(td) => cleanup(&api, &td, &ctx).await,
        }
    })
    .await
    .map_err(|err| Error::Finalizer(Box::new(err)))
}

pub fn error_policy(obj: Arc<TaskDefinition>, error: &Error, ctx: Arc<Context>) -> Action {
    backoff_after_error(obj.as_ref(), error, &ctx, DELETION_RECHECK)
}

fn deletion_policy(td: &TaskDefinition, ctx: &Context) -> DeletionPolicy {
    td.spec
        .deletion_policy
        .unwrap_or(ctx.config.default_deletion_policy)
}

fn desired_user_tags(td: &TaskDefinition) -> BTreeMap<String, String> {
    td.spec
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

async fn apply(
    api: &Api<TaskDefinition>,
    td: &TaskDefinition,
    ctx: &Context,
) -> Result<Action, Error> {
    let family = td.family();
    let hash = normalize::spec_hash(&td.spec);
    let aws = aws_for(td, ctx, true).await;
    let outcome = match &aws {
        Ok(aws) => match sync(td, ctx, aws, &family, &hash).await {
            Ok(outcome) => outcome,
            Err(err) => Outcome::Failed(err),
        },
        Err(err) => Outcome::Failed(err.clone()),
    };
    let input = Input {
        previous: td.status.as_ref(),
        generation: td.metadata.generation,
        family: &family,
        spec_hash: &hash,
        deletion_policy: deletion_policy(td, ctx),
        now: Timestamp::now(),
    };
    let mut new_status = status::compute(&input, &outcome);
    if let Some(account) = aws.ok().and_then(|aws| aws.account_id) {
        new_status.aws_account_id = Some(account);
    }
    write_status(api, td, td.status.as_ref(), &new_status).await?;
    publish_events(td, ctx, &outcome).await;

    let key = Context::key(td);
    Ok(match &outcome {
        Outcome::Synced { .. } => {
            ctx.backoff.reset(&key);
            // Steady: the batched observer notices a revision deregistered outside the
            // operator; spec changes wake the reconcile at once.
            Action::await_change()
        }
        Outcome::AlreadyExists { .. } => Action::requeue(crate::runtime::backoff::TERMINAL_RETRY),
        Outcome::Failed(err) => Action::requeue(ctx.backoff.next_delay(&key, err.class)),
        Outcome::DeletionBlocked { .. } => Action::requeue(DELETION_RECHECK),
    })
}

/// The clients for the object's Region and IAM role. Registering also passes the task and
/// execution roles, which the namespace's grant must allow; deleting does not.
async fn aws_for(
    td: &TaskDefinition,
    ctx: &Context,
    registering: bool,
) -> Result<AwsClients, AwsError> {
    let pass_roles: Vec<&str> = if registering {
        [&td.spec.task_role_arn, &td.spec.execution_role_arn]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect()
    } else {
        Vec::new()
    };
    ctx.aws_passing(
        &td.namespace().unwrap_or_default(),
        td.spec.region.as_deref(),
        td.spec.role_arn.as_deref(),
        &pass_roles,
    )
    .await
}

/// Observes the family and makes ECS match the spec.
async fn sync(
    td: &TaskDefinition,
    ctx: &Context,
    aws: &AwsClients,
    family: &str,
    hash: &str,
) -> Result<Outcome, AwsError> {
    let ecs = &aws.ecs;
    let uid = td.uid().unwrap_or_default();
    let status = td.status.clone().unwrap_or_default();

    // The revision status points at is only worth describing when it was made from this spec.
    let current = match (&status.task_definition_arn, &status.spec_hash) {
        (Some(arn), Some(recorded)) if recorded == hash => ecs_td::describe(ecs, arn).await?,
        _ => None,
    };
    let decision = match plan::decide_from_current(current.as_ref(), hash, &uid) {
        Some(decision) => decision,
        None => {
            // The newest ACTIVE revision (by number: not every endpoint honours the sort).
            let active = ecs_td::list_active(ecs, family, 100).await?;
            let newest = match ecs_td::newest(&active) {
                Some(arn) => ecs_td::describe(ecs, arn).await?,
                None => None,
            };
            plan::decide_from_family(
                newest.as_ref(),
                family,
                hash,
                &uid,
                td.spec.adopt_existing,
                status.task_definition_arn.is_some(),
            )
        }
    };

    let (current, registered) = match decision {
        Decision::AlreadyExists { family, owner } => {
            return Ok(Outcome::AlreadyExists { family, owner });
        }
        Decision::UpToDate(current) | Decision::Recover(current) => (current, None),
        Decision::Register(reason) => {
            let mut revision_tags = desired_user_tags(td);
            let namespace = td.namespace().unwrap_or_default();
            revision_tags.extend(ownership_tags(KIND, &namespace, &td.name_any(), &uid));
            revision_tags.insert(tags::SPEC_HASH.to_string(), hash.to_string());
            let registered = ecs_td::register(ecs, family, &td.spec, &revision_tags).await?;
            crash::crash_point(crash::REGISTER_TASK_DEFINITION, &namespace);
            info!(arn = %registered.arn, ?reason, "registered task definition revision");
            (registered, Some(reason))
        }
    };

    // User tags can change without a new revision.
    let (to_set, to_remove) = plan::tag_changes(&current.tags, &desired_user_tags(td));
    if !to_set.is_empty() || !to_remove.is_empty() {
        ecs_td::sync_tags(ecs, &current.arn, &to_set, &to_remove).await?;
    }

    let mut revisions = plan::record_revision(&status.revisions, &current);
    let keep = td
        .spec
        .revision_history_limit
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(ctx.config.revision_history_limit);
    let prune = plan::revisions_to_prune(
        &revisions,
        &current.arn,
        keep,
        &task_definitions_in_use(ctx),
    );
    for arn in &prune {
        ecs_td::deregister(ecs, arn).await?;
        info!(%arn, "deregistered old task definition revision");
    }
    revisions.retain(|r| !prune.contains(&r.arn));
    if !prune.is_empty() {
        ctx.event(
            td,
            EventType::Normal,
            "Deregistered",
            "Deregister",
            format!("deregistered old revisions {}", prune.join(", ")),
        )
        .await;
    }
    Ok(Outcome::Synced {
        current,
        revisions,
        registered,
    })
}

/// Task definition ARNs that ECSServices managed by the operator run or are rolling from.
fn task_definitions_in_use(ctx: &Context) -> BTreeSet<String> {
    ctx.services
        .state()
        .iter()
        .filter_map(|svc| svc.status.as_ref())
        .flat_map(|s| {
            s.task_definition_arn
                .iter()
                .cloned()
                .chain(
                    s.deployments
                        .iter()
                        .filter_map(|d| d.task_definition.clone()),
                )
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn publish_events(td: &TaskDefinition, ctx: &Context, outcome: &Outcome) {
    let previous_ready = td
        .status
        .as_ref()
        .and_then(|s| crate::api::common::find_condition(&s.conditions, "Ready").cloned());
    match outcome {
        Outcome::Synced {
            current,
            registered: Some(reason),
            ..
        } => {
            let (event_reason, note) = match reason {
                RegisterReason::Create => ("Registered", format!("registered {}", current.arn)),
                RegisterReason::SpecChanged => (
                    "Registered",
                    format!("spec changed: registered {}", current.arn),
                ),
                RegisterReason::Adopt => (
                    "Adopted",
                    format!(
                        "adopted family {} and registered {}",
                        current.family, current.arn
                    ),
                ),
                RegisterReason::Drift => (
                    "DriftRepaired",
                    format!(
                        "the current revision was deregistered outside the operator; registered {}",
                        current.arn
                    ),
                ),
            };
            let type_ = if *reason == RegisterReason::Drift {
                EventType::Warning
            } else {
                EventType::Normal
            };
            ctx.event(td, type_, event_reason, "Register", note).await;
        }
        Outcome::Synced { .. } | Outcome::DeletionBlocked { .. } => {}
        Outcome::AlreadyExists { family, owner } => {
            if previous_ready.as_ref().map(|c| c.reason.as_str()) != Some(owner.reason()) {
                ctx.event(
                    td,
                    EventType::Warning,
                    owner.reason(),
                    "Register",
                    owner.message(&format!("task definition family {family}"), "spec.family"),
                )
                .await;
            }
        }
        Outcome::Failed(err) => {
            let note = format!("{} failed: {}: {}", err.operation, err.code, err.message);
            // Repeated identical failures do not repeat the Event.
            if previous_ready.map(|c| c.message) != Some(note.clone()) {
                ctx.event(
                    td,
                    EventType::Warning,
                    err.event_reason(),
                    err.operation,
                    note,
                )
                .await;
            }
        }
    }
}

async fn cleanup(
    api: &Api<TaskDefinition>,
    td: &TaskDefinition,
    ctx: &Context,
) -> Result<Action, Error> {
    let policy = deletion_policy(td, ctx);
    if policy == DeletionPolicy::Retain {
        ctx.event(
            td,
            EventType::Normal,
            "Retained",
            "Delete",
            "deletionPolicy Retain: revisions left ACTIVE".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let users = services_using(td, ctx);
    if !users.is_empty() {
        let family = td.family();
        let input = Input {
            previous: td.status.as_ref(),
            generation: td.metadata.generation,
            family: &family,
            spec_hash: td
                .status
                .as_ref()
                .and_then(|s| s.spec_hash.as_deref())
                .unwrap_or_default(),
            deletion_policy: policy,
            now: Timestamp::now(),
        };
        let outcome = Outcome::DeletionBlocked {
            users: users.clone(),
        };
        write_status(
            api,
            td,
            td.status.as_ref(),
            &status::compute(&input, &outcome),
        )
        .await?;
        return Err(Error::DeletionWaits(format!(
            "used by ECSService {}",
            users.join(", ")
        )));
    }

    let aws = aws_for(td, ctx, false).await?;
    let ecs = &aws.ecs;
    let status = td.status.clone().unwrap_or_default();
    let mut arns: BTreeSet<String> = status.revisions.iter().map(|r| r.arn.clone()).collect();
    arns.extend(status.task_definition_arn.clone());
    // Revisions registered just before a crash are in ECS but not in status: find ours among
    // the family's other ACTIVE revisions by their tags.
    let uid = td.uid().unwrap_or_default();
    for arn in ecs_td::list_active(ecs, &td.family(), 100).await? {
        if !arns.contains(&arn)
            && let Some(observed) = ecs_td::describe(ecs, &arn).await?
            && is_ours(&observed, &uid)
        {
            arns.insert(observed.arn);
        }
    }
    let arns: Vec<String> = arns.into_iter().collect();
    for arn in &arns {
        ecs_td::deregister(ecs, arn).await?;
    }
    if let Err(err) = ecs_td::delete(ecs, &arns).await {
        // Deleting INACTIVE revisions is housekeeping: deregistered revisions can no longer
        // start tasks, so a refusal is reported but does not hold the object.
        ctx.event(
            td,
            EventType::Warning,
            "DeleteFailed",
            "Delete",
            err.to_string(),
        )
        .await;
    }
    ctx.event(
        td,
        EventType::Normal,
        "Deregistered",
        "Delete",
        format!("deregistered and deleted {}", arns.join(", ")),
    )
    .await;
    Ok(Action::await_change())
}

fn is_ours(revision: &ObservedRevision, uid: &str) -> bool {
    revision.tags.get(tags::UID).map(String::as_str) == Some(uid)
}

/// ECSServices in the same namespace that reference this TaskDefinition and are not being
/// deleted themselves.
fn services_using(td: &TaskDefinition, ctx: &Context) -> Vec<String> {
    let namespace = td.namespace();
    let name = td.name_any();
    let mut users: Vec<String> = ctx
        .services
        .state()
        .iter()
        .filter(|svc| svc.namespace() == namespace && svc.metadata.deletion_timestamp.is_none())
        .filter(|svc| {
            svc.spec
                .task_definition_ref
                .as_ref()
                .is_some_and(|r| r.name == name)
        })
        .map(|svc| svc.name_any())
        .collect();
    users.sort();
    users
}
