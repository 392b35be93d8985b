//! CloudMapNamespace controller. Namespace create, update and delete are asynchronous in
//! Cloud Map: the operation id is kept in status and polled with short requeues (no worker
//! is held), so a restarted operator resumes where it was.

pub mod plan;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Api, ResourceExt};
use tracing::{info, instrument};

use self::plan::{Plan, settings_hash};
use self::status::{Input, Outcome};
use super::{Error, backoff_after_error, jittered, write_status};
use crate::api::cloud_map_namespace::{CloudMapNamespace, PendingOperation};
use crate::api::common::{
    DeletionPolicy, FINALIZER, Ownership, adoption_tags, deletion_policy_for, find_condition,
    ownership_of, ownership_tags,
};
use crate::aws::AwsClients;
use crate::aws::cloud_map::{self as cm, OperationState};
use crate::aws::error::{AwsError, ErrorClass};
use crate::runtime::Context;

const KIND: &str = "CloudMapNamespace";
const OPERATION_POLL: Duration = Duration::from_secs(2);

#[instrument(skip_all, fields(kind = KIND, namespace = obj.namespace().unwrap_or_default(), object = obj.name_any(), generation = obj.metadata.generation))]
pub async fn reconcile(obj: Arc<CloudMapNamespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<CloudMapNamespace> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(ns) => apply(&api, &ns, &ctx).await,
            FinalizerEvent::Cleanup(ns) => cleanup(&api, &ns, &ctx).await,
        }
    })
    .await
    .map_err(|err| Error::Finalizer(Box::new(err)))
}

pub fn error_policy(obj: Arc<CloudMapNamespace>, error: &Error, ctx: Arc<Context>) -> Action {
    backoff_after_error(obj.as_ref(), error, &ctx, OPERATION_POLL)
}

fn deletion_policy(ns: &CloudMapNamespace, ctx: &Context) -> DeletionPolicy {
    ns.spec
        .deletion_policy
        .unwrap_or(ctx.config.default_deletion_policy)
}

/// An idempotency token for Cloud Map requests: stable for one object and generation (so a
/// retried request is recognised), new for a new generation (so a failed create can be tried
/// again after the spec is fixed).
fn request_id(ns: &CloudMapNamespace, what: &str) -> String {
    let mut id = format!(
        "{}-{}-{}",
        ns.uid().unwrap_or_default(),
        what,
        ns.metadata.generation.unwrap_or_default()
    );
    id.truncate(64);
    id
}

struct Step {
    outcome: Outcome,
    pending: Option<PendingOperation>,
    applied_hash: Option<String>,
}

impl From<Outcome> for Step {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            pending: None,
            applied_hash: None,
        }
    }
}

async fn apply(
    api: &Api<CloudMapNamespace>,
    ns: &CloudMapNamespace,
    ctx: &Context,
) -> Result<Action, Error> {
    let step = match sync(ns, ctx).await {
        Ok(step) => step,
        Err(err) => Step {
            outcome: Outcome::Failed(err),
            // Keep polling an operation in flight after a transient error.
            pending: ns.status.as_ref().and_then(|s| s.pending_operation.clone()),
            applied_hash: None,
        },
    };
    let input = Input {
        previous: ns.status.as_ref(),
        generation: ns.metadata.generation,
        deletion_policy: deletion_policy(ns, ctx),
        pending_operation: step.pending.clone(),
        applied_settings_hash: step.applied_hash.clone(),
        now: Timestamp::now(),
    };
    let new_status = status::compute(&input, &step.outcome);
    write_status(api, ns, ns.status.as_ref(), &new_status).await?;
    publish_events(ns, ctx, &step.outcome).await;
    let key = Context::key(ns);
    Ok(match &step.outcome {
        Outcome::Ready(_) => {
            ctx.backoff.reset(&key);
            Action::requeue(jittered(ctx.config.resync_interval))
        }
        Outcome::InProgress(_) | Outcome::Deleting(_) => Action::requeue(OPERATION_POLL),
        Outcome::OperationFailed { .. } | Outcome::AlreadyExists { .. } => {
            Action::requeue(crate::runtime::backoff::TERMINAL_RETRY)
        }
        Outcome::Failed(err) => Action::requeue(ctx.backoff.next_delay(&key, err.class)),
    })
}

async fn publish_events(ns: &CloudMapNamespace, ctx: &Context, outcome: &Outcome) {
    let before = ns
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, "Ready").cloned());
    let changed = |reason: &str| before.as_ref().map(|c| c.reason.as_str()) != Some(reason);
    match outcome {
        Outcome::Ready(observed) if changed("Available") => {
            ctx.event(
                ns,
                EventType::Normal,
                "Available",
                "Create",
                format!("namespace {} is available", observed.id),
            )
            .await
        }
        Outcome::OperationFailed { code, message } if changed("OperationFailed") => {
            ctx.event(
                ns,
                EventType::Warning,
                "OperationFailed",
                "Create",
                format!("{code}: {message}"),
            )
            .await
        }
        Outcome::AlreadyExists { owner } if changed(owner.reason()) => {
            ctx.event(
                ns,
                EventType::Warning,
                owner.reason(),
                "Create",
                owner.message("a namespace of this name and type", "spec.name"),
            )
            .await
        }
        Outcome::Failed(err)
            if before.as_ref().map(|c| c.message.clone())
                != Some(format!(
                    "{} failed: {}: {}",
                    err.operation, err.code, err.message
                )) =>
        {
            ctx.event(
                ns,
                EventType::Warning,
                err.event_reason(),
                err.operation,
                err.to_string(),
            )
            .await
        }
        _ => {}
    }
}

/// Resolves an operation in flight. `Ok(None)`: finished (successfully); otherwise the step
/// to report.
async fn poll(
    client: &aws_sdk_servicediscovery::Client,
    op: &PendingOperation,
) -> Result<Result<Option<String>, Step>, AwsError> {
    match cm::operation(client, &op.id).await? {
        OperationState::Running => Ok(Err(Step {
            outcome: Outcome::InProgress(op.clone()),
            pending: Some(op.clone()),
            applied_hash: None,
        })),
        OperationState::Succeeded(target) => Ok(Ok(target)),
        OperationState::Failed { code, message } => {
            Ok(Err(Outcome::OperationFailed { code, message }.into()))
        }
    }
}

/// The clients for the namespace's Region and IAM role.
async fn aws_for(ns: &CloudMapNamespace, ctx: &Context) -> Result<AwsClients, AwsError> {
    ctx.aws_for(
        &ns.namespace().unwrap_or_default(),
        ns.spec.region.as_deref(),
        ns.spec.role_arn.as_deref(),
    )
    .await
}

async fn sync(ns: &CloudMapNamespace, ctx: &Context) -> Result<Step, AwsError> {
    let aws = aws_for(ns, ctx).await?;
    let client = &aws.servicediscovery;
    let status = ns.status.clone().unwrap_or_default();
    let uid = ns.uid().unwrap_or_default();
    let mut namespace_id = status.namespace_id.clone();
    let mut applied_hash = None;

    if let Some(op) = &status.pending_operation {
        match poll(client, op).await? {
            Err(step) => return Ok(step),
            Ok(target) => {
                info!(operation = %op.id, kind = %op.kind, "Cloud Map operation succeeded");
                if op.kind == "Create" {
                    namespace_id = target.or(namespace_id);
                }
                if op.kind == "Update" {
                    applied_hash = op.settings_hash.clone();
                }
            }
        }
    } else if status
        .conditions
        .iter()
        .any(|c| c.reason == "OperationFailed" && c.observed_generation == ns.metadata.generation)
    {
        // A failed operation is not retried for the same spec (no hot loop); a spec change
        // (new generation) retries at once.
        let message = find_condition(&status.conditions, "Ready")
            .map(|c| c.message.clone())
            .unwrap_or_default();
        return Ok(Outcome::OperationFailed {
            code: "FAIL".into(),
            message,
        }
        .into());
    }

    let observed = match &namespace_id {
        Some(id) => cm::get_namespace(client, id).await?,
        None => cm::find_namespace(client, &ns.spec.name, ns.spec.type_).await?,
    };
    let applied = applied_hash
        .clone()
        .or(status.applied_settings_hash.clone());
    match plan::plan(&ns.spec, observed.as_ref(), &uid, applied.as_deref()) {
        Plan::Create => {
            let mut tags: std::collections::BTreeMap<String, String> = ns
                .spec
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            tags.extend(ownership_tags(
                KIND,
                &ns.namespace().unwrap_or_default(),
                &ns.name_any(),
                &uid,
            ));
            let created = cm::create_namespace(
                client,
                &cm::NamespaceRequest {
                    type_: ns.spec.type_,
                    name: &ns.spec.name,
                    vpc: ns.spec.vpc.as_deref(),
                    description: ns.spec.description.as_deref(),
                    soa_ttl: ns.spec.soa_ttl,
                    tags: &tags,
                    creator_request_id: &request_id(ns, "create"),
                },
            )
            .await;
            let op_id = created?;
            info!(operation = %op_id, "creating Cloud Map namespace");
            let op = PendingOperation {
                id: op_id,
                kind: "Create".into(),
                settings_hash: Some(settings_hash(&ns.spec)),
            };
            Ok(Step {
                outcome: Outcome::InProgress(op.clone()),
                pending: Some(op),
                applied_hash: Some(settings_hash(&ns.spec)),
            })
        }
        Plan::AlreadyExists { owner } => Ok(Outcome::AlreadyExists { owner }.into()),
        Plan::Sync {
            adopt,
            update_settings,
        } => {
            let Some(observed) = observed else {
                return Err(AwsError {
                    operation: "GetNamespace",
                    code: "Inconsistent".into(),
                    message: "namespace vanished".into(),
                    class: ErrorClass::Retryable,
                });
            };
            let user_tags: std::collections::BTreeMap<String, String> = ns
                .spec
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            // An adoption also marks the namespace as adopted (deleted only by an explicit
            // deletionPolicy: Delete).
            let claim_tags = if adopt { adoption_tags } else { ownership_tags };
            let ownership = claim_tags(
                KIND,
                &ns.namespace().unwrap_or_default(),
                &ns.name_any(),
                &uid,
            );
            let (to_set, to_remove) = plan::tag_changes(&observed.tags, &user_tags, &ownership);
            if !to_set.is_empty() || !to_remove.is_empty() {
                cm::sync_tags(client, &observed.arn, &to_set, &to_remove).await?;
                if adopt {
                    ctx.event(
                        ns,
                        EventType::Normal,
                        "Adopted",
                        "Adopt",
                        format!("adopted namespace {}", observed.id),
                    )
                    .await;
                }
            }
            if update_settings {
                let hash = settings_hash(&ns.spec);
                let op_id = cm::update_namespace(
                    client,
                    ns.spec.type_,
                    &observed.id,
                    ns.spec.description.as_deref(),
                    ns.spec.soa_ttl,
                    &request_id(ns, "update"),
                )
                .await?;
                let op = PendingOperation {
                    id: op_id,
                    kind: "Update".into(),
                    settings_hash: Some(hash),
                };
                return Ok(Step {
                    outcome: Outcome::InProgress(op.clone()),
                    pending: Some(op),
                    applied_hash,
                });
            }
            Ok(Step {
                outcome: Outcome::Ready(observed),
                pending: None,
                applied_hash,
            })
        }
    }
}

async fn cleanup(
    api: &Api<CloudMapNamespace>,
    ns: &CloudMapNamespace,
    ctx: &Context,
) -> Result<Action, Error> {
    let policy = deletion_policy(ns, ctx);
    if policy == DeletionPolicy::Retain {
        ctx.event(
            ns,
            EventType::Normal,
            "Retained",
            "Delete",
            "deletionPolicy Retain: the namespace is left in Cloud Map".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let aws = aws_for(ns, ctx).await?;
    let client = &aws.servicediscovery;
    let status = ns.status.clone().unwrap_or_default();
    let mut pending = status.pending_operation.clone();
    let mut namespace_id = status.namespace_id.clone();

    if let Some(op) = &status.pending_operation {
        match poll(client, op).await? {
            Err(step) if matches!(step.outcome, Outcome::InProgress(_)) => {
                return wait(
                    api,
                    ns,
                    policy,
                    Some(op.clone()),
                    format!(
                        "waiting for Cloud Map operation {} ({})",
                        op.id,
                        op.kind.to_lowercase()
                    ),
                )
                .await;
            }
            Ok(_) if op.kind == "Delete" => {
                ctx.event(
                    ns,
                    EventType::Normal,
                    "Deleted",
                    "Delete",
                    format!("deleted namespace {}", namespace_id.unwrap_or_default()),
                )
                .await;
                return Ok(Action::await_change());
            }
            Ok(target) => {
                if op.kind == "Create" {
                    namespace_id = target.or(namespace_id);
                }
                pending = None;
            }
            // A failed create or update leaves nothing more to wait for.
            Err(_) => pending = None,
        }
    }
    let observed = match &namespace_id {
        Some(id) => cm::get_namespace(client, id).await?,
        None => cm::find_namespace(client, &ns.spec.name, ns.spec.type_).await?,
    };
    let Some(observed) = observed else {
        return Ok(Action::await_change());
    };
    if ownership_of(&observed.tags, &ns.uid().unwrap_or_default()) != Ownership::Ours {
        return Ok(Action::await_change());
    }
    if deletion_policy_for(
        &observed.tags,
        ns.spec.deletion_policy,
        ctx.config.default_deletion_policy,
    ) == DeletionPolicy::Retain
    {
        ctx.event(
            ns,
            EventType::Normal,
            "Retained",
            "Delete",
            "the namespace was adopted and deletionPolicy is not set to Delete: it is left in Cloud Map".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let clusters = clusters_using(ns, ctx);
    if !clusters.is_empty() {
        return wait(
            api,
            ns,
            policy,
            pending,
            format!(
                "deletion waits: ECSClusters use the namespace as their Service Connect default: {}",
                clusters.join(", ")
            ),
        )
        .await;
    }
    let services = cm::services_in_namespace(client, &observed.id).await?;
    if !services.is_empty() {
        let names: Vec<String> = services
            .iter()
            .map(|s| format!("{} ({})", s.name, s.id))
            .collect();
        return wait(
            api,
            ns,
            policy,
            pending,
            format!(
                "deletion waits: Cloud Map services remain in the namespace: {}",
                names.join(", ")
            ),
        )
        .await;
    }
    match cm::delete_namespace(client, &observed.id).await? {
        None => Ok(Action::await_change()),
        Some(op_id) => {
            let op = PendingOperation {
                id: op_id.clone(),
                kind: "Delete".into(),
                settings_hash: None,
            };
            wait(
                api,
                ns,
                policy,
                Some(op),
                format!("deleting namespace {} (operation {op_id})", observed.id),
            )
            .await
        }
    }
}

/// ECSClusters of the object's namespace whose Service Connect defaults reference it (ECS
/// would keep pointing at a deleted namespace; Cloud Map does not refuse the deletion).
fn clusters_using(ns: &CloudMapNamespace, ctx: &Context) -> Vec<String> {
    let namespace = ns.namespace().unwrap_or_default();
    let name = ns.name_any();
    let mut users: Vec<String> = ctx
        .clusters
        .state()
        .iter()
        .filter(|c| c.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .filter(|c| {
            c.spec
                .service_connect_defaults
                .as_ref()
                .and_then(|d| d.namespace_ref.as_ref())
                .is_some_and(|r| r.name == name)
        })
        .map(|c| c.name_any())
        .collect();
    users.sort();
    users
}

/// Records why deletion waits (and the operation to poll) and asks to be called again.
async fn wait(
    api: &Api<CloudMapNamespace>,
    ns: &CloudMapNamespace,
    policy: DeletionPolicy,
    pending: Option<PendingOperation>,
    message: String,
) -> Result<Action, Error> {
    let input = Input {
        previous: ns.status.as_ref(),
        generation: ns.metadata.generation,
        deletion_policy: policy,
        pending_operation: pending,
        applied_settings_hash: None,
        now: Timestamp::now(),
    };
    let new_status = status::compute(&input, &Outcome::Deleting(message.clone()));
    write_status(api, ns, ns.status.as_ref(), &new_status).await?;
    Err(Error::DeletionWaits(message))
}
