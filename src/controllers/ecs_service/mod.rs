//! ECSService controller: resolve the task definition, observe the service (batched), decide
//! (pure), create/update/delete, write status.

pub mod autoscaling;
pub mod discovery;
pub mod observer;
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

use self::discovery::Discovery;
use self::observer::{ROLLOUT_POLL, service_key};
use self::plan::{Desired, Plan, task_definition_key};
use self::status::{Input, Outcome};
use super::{Error, backoff_after_error, write_status};
use crate::api::common::{
    DeletionPolicy, FINALIZER, Ownership, deletion_policy_for, find_condition, ownership_of,
    ownership_tags,
};
use crate::api::ecs_service::{AutoScalingStatus, DiscoveryStatus};
use crate::api::{ECSCluster, ECSService, TaskDefinition};
use crate::aws::AwsClients;
use crate::aws::ecs_service::{self as ecs_svc, CreateRequest, ObservedService, Registry};
use crate::aws::error::{AwsError, ErrorClass};
use crate::runtime::{Context, crash};

const KIND: &str = "ECSService";
/// A followed rollout is observed every ROLLOUT_POLL by the observer; its reconcile looks
/// again after this long anyway, in case the rollout stopped moving (nothing to wake it).
const ROLLOUT_RECHECK: Duration = Duration::from_secs(30);
/// How long an observation from the batched observer stays usable.
const OBSERVATION_MAX_AGE: Duration = Duration::from_secs(30);

#[instrument(skip_all, fields(kind = KIND, namespace = obj.namespace().unwrap_or_default(), object = obj.name_any(), generation = obj.metadata.generation))]
pub async fn reconcile(obj: Arc<ECSService>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<ECSService> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(svc) => apply(&api, &svc, &ctx).await,
            FinalizerEvent::Cleanup(svc) => cleanup(&api, &svc, &ctx).await,
        }
    })
    .await
    .map_err(|err| Error::Finalizer(Box::new(err)))
}

pub fn error_policy(obj: Arc<ECSService>, error: &Error, ctx: Arc<Context>) -> Action {
    backoff_after_error(obj.as_ref(), error, &ctx, ROLLOUT_POLL)
}

fn deletion_policy(svc: &ECSService, ctx: &Context) -> DeletionPolicy {
    svc.spec
        .deletion_policy
        .unwrap_or(ctx.config.default_deletion_policy)
}

/// Resolves the task definition the service should run: the referenced TaskDefinition's
/// current revision, or the literal reference. `Err(message)` while waiting.
pub fn referenced_task_definition(
    svc: &ECSService,
    ctx: &Context,
) -> Result<Option<String>, String> {
    let Some(reference) = &svc.spec.task_definition_ref else {
        return Ok(None);
    };
    let namespace = svc.namespace().unwrap_or_default();
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
        &status.task_definition_arn,
        ready && status.observed_generation == td.metadata.generation,
    ) {
        (Some(arn), true) => Ok(Some(arn.clone())),
        _ => Err(format!(
            "waiting for TaskDefinition {} to be Ready",
            reference.name
        )),
    }
}

/// The cluster the service runs in: `spec.cluster`, or with `clusterRef` the referenced
/// ECSCluster's ARN once that is Ready. A service created in a cluster stays with it, whatever
/// the ECSCluster's state later. `Err((message, stalled))` while it cannot be resolved.
pub fn resolved_cluster(svc: &ECSService, ctx: &Context) -> Result<String, (String, bool)> {
    if let Some(cluster) = &svc.spec.cluster {
        return Ok(cluster.clone());
    }
    let Some(reference) = &svc.spec.cluster_ref else {
        return Err(("spec names no cluster".into(), true));
    };
    let namespace = svc.namespace().unwrap_or_default();
    let key =
        kube::runtime::reflector::ObjectRef::<ECSCluster>::new(&reference.name).within(&namespace);
    let cluster = ctx.clusters.get(&key);
    let cluster_arn = cluster
        .as_ref()
        .and_then(|c| c.status.as_ref())
        .and_then(|s| s.cluster_arn.clone());
    if let Some(recorded) = svc.status.as_ref().and_then(|s| s.cluster_arn.clone())
        && (cluster.is_none() || cluster_arn.as_deref() == Some(recorded.as_str()))
    {
        return Ok(recorded);
    }
    let Some(cluster) = cluster else {
        return Err((
            format!(
                "waiting for ECSCluster {} (not found in namespace {namespace})",
                reference.name
            ),
            false,
        ));
    };
    if cluster.metadata.deletion_timestamp.is_some() {
        return Err((
            format!("ECSCluster {} is being deleted", reference.name),
            false,
        ));
    }
    if cluster.spec.region != svc.spec.region || cluster.spec.role_arn != svc.spec.role_arn {
        return Err((
            format!(
                "ECSCluster {} is in another Region or account: a service's region and roleArn must be its cluster's",
                reference.name
            ),
            true,
        ));
    }
    let status = cluster.status.clone().unwrap_or_default();
    let ready = find_condition(&status.conditions, "Ready").is_some_and(|c| c.status == "True");
    match (
        cluster_arn,
        ready && status.observed_generation == cluster.metadata.generation,
    ) {
        (Some(arn), true) => Ok(arn),
        _ => Err((
            format!("waiting for ECSCluster {} to be Ready", reference.name),
            false,
        )),
    }
}

/// The ARN of the ECSCluster `clusterRef` names, in whatever state it is.
fn progress_deadline_seconds(svc: &ECSService) -> i64 {
    i64::from(svc.spec.progress_deadline_seconds.max(1))
}

fn referenced_cluster_arn(svc: &ECSService, ctx: &Context) -> Option<String> {
    let reference = svc.spec.cluster_ref.as_ref()?;
    let key = kube::runtime::reflector::ObjectRef::<ECSCluster>::new(&reference.name)
        .within(&svc.namespace()?);
    ctx.clusters.get(&key)?.status.as_ref()?.cluster_arn.clone()
}

/// Whether an observation of `svc` (from the batched observer) calls for a reconcile: the
/// plan would change something, or the status would change.
pub fn needs_reconcile(
    svc: &ECSService,
    observed: Option<&ObservedService>,
    ctx: &Context,
) -> bool {
    let status = svc.status.clone().unwrap_or_default();
    // As the reconcile sees it: with a Service Connect namespace reference resolved.
    let Ok(spec) = discovery::resolve_service_connect(svc, ctx) else {
        return true;
    };
    let Some(td) = status.task_definition_arn.as_deref() else {
        return true;
    };
    let Some(observed) = observed else {
        return true;
    };
    let uid = svc.uid().unwrap_or_default();
    let namespace = svc.namespace().unwrap_or_default();
    let name = svc.service_name();
    let object_name = svc.name_any();
    // As the observer located it: with clusterRef, the cluster the service was created in.
    let cluster = svc
        .spec
        .cluster
        .clone()
        .or_else(|| status.cluster_arn.clone())
        .unwrap_or_default();
    let desired = Desired {
        spec: &spec,
        cluster: &cluster,
        name: &name,
        task_definition_arn: td,
        namespace: &namespace,
        object_name: &object_name,
        uid: &uid,
        service_registries: None,
    };
    let plan = plan::plan(&desired, Some(observed), &status);
    let acts = !matches!(&plan, Plan::Sync { update: None, tags_to_set, tags_to_remove, .. } if tags_to_set.is_empty() && tags_to_remove.is_empty());
    let rollout_failed = matches!(
        plan,
        Plan::Sync {
            rollout_failed: true,
            ..
        }
    );
    let input = Input {
        previous: Some(&status),
        generation: svc.metadata.generation,
        task_definition_arn: Some(td),
        deletion_policy: status.deletion_policy.unwrap_or_default(),
        applied_redeploy_token: None,
        managed_fields: None,
        auto_scaling: None,
        progress_deadline_seconds: progress_deadline_seconds(svc),
        now: Timestamp::now(),
    };
    let new_status = status::compute(
        &input,
        &Outcome::Synced {
            observed: observed.clone(),
            rollout_failed,
            unequal: plan::unequal_fields(&desired, observed),
        },
    );
    acts || new_status != status
}

struct Applied {
    outcome: Outcome,
    redeploy_token: Option<Option<String>>,
    /// `status.managedFields` after this reconcile (`None`: unchanged).
    managed_fields: Option<Vec<String>>,
    /// Cloud Map registration after this reconcile (`None`: unchanged).
    discovery: Option<Option<DiscoveryStatus>>,
    /// Auto scaling after this reconcile (`None`: unchanged).
    auto_scaling: Option<Option<AutoScalingStatus>>,
    /// `status.serviceCreations` after a CreateService (`None`: unchanged).
    service_creations: Option<u32>,
}

impl From<Outcome> for Applied {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            discovery: None,
            redeploy_token: None,
            managed_fields: None,
            auto_scaling: None,
            service_creations: None,
        }
    }
}

/// The clients for the object's Region and IAM role.
async fn aws_for(svc: &ECSService, ctx: &Context) -> Result<AwsClients, AwsError> {
    ctx.aws_for(
        &svc.namespace().unwrap_or_default(),
        svc.spec.region.as_deref(),
        svc.spec.role_arn.as_deref(),
    )
    .await
}

async fn apply(api: &Api<ECSService>, svc: &ECSService, ctx: &Context) -> Result<Action, Error> {
    let key = Context::key(svc);
    let aws = aws_for(svc, ctx).await;
    let (td_arn, applied) = match &aws {
        Ok(aws) => resolve_and_sync(svc, ctx, aws).await,
        Err(err) => (None, Outcome::Failed(err.clone()).into()),
    };
    let input = Input {
        previous: svc.status.as_ref(),
        generation: svc.metadata.generation,
        task_definition_arn: td_arn.as_deref(),
        deletion_policy: deletion_policy(svc, ctx),
        applied_redeploy_token: applied.redeploy_token.clone(),
        managed_fields: applied.managed_fields.clone(),
        auto_scaling: applied.auto_scaling.clone(),
        progress_deadline_seconds: progress_deadline_seconds(svc),
        now: Timestamp::now(),
    };
    let mut new_status = status::compute(&input, &applied.outcome);
    if let Some(discovery) = &applied.discovery {
        new_status.service_discovery = discovery.clone();
    }
    // A synced service carries the spec's volume configurations (applied now, or already).
    if matches!(applied.outcome, Outcome::Synced { .. }) {
        new_status.applied_volume_configurations_hash =
            (!svc.spec.volume_configurations.is_empty())
                .then(|| plan::volume_configurations_hash(&svc.spec.volume_configurations));
    }
    if let Some(creations) = applied.service_creations {
        new_status.service_creations = Some(creations);
    } else if matches!(applied.outcome, Outcome::Synced { .. })
        && new_status.service_creations.is_none()
    {
        // A service found after a crash cut off the status write of its create counts too.
        new_status.service_creations = Some(1);
    }
    if let Some(account) = aws.ok().and_then(|aws| aws.account_id) {
        new_status.aws_account_id = Some(account);
    }
    write_status(api, svc, svc.status.as_ref(), &new_status).await?;
    publish_transition_events(svc, ctx, &new_status).await;

    let reference = kube::runtime::reflector::ObjectRef::from(svc);
    let rolling = matches!(&applied.outcome, Outcome::Synced { observed, rollout_failed, .. }
        if !*rollout_failed && !status::is_ready(observed, td_arn.as_deref().unwrap_or_default()));
    // A field ECS did not take as sent: applied again with backoff, never in a hot loop.
    let unequal =
        matches!(&applied.outcome, Outcome::Synced { unequal, .. } if !unequal.is_empty());
    if rolling {
        // The observer follows the rollout in batches and wakes us when it moves.
        ctx.rollouts.follow(reference);
    } else {
        ctx.rollouts.forget(&reference);
    }
    Ok(match &applied.outcome {
        Outcome::Synced { .. } if unequal => {
            Action::requeue(ctx.backoff.next_delay(&key, ErrorClass::Retryable))
        }
        Outcome::Synced { .. } => {
            ctx.backoff.reset(&key);
            if rolling {
                // Also look again just after the progress deadline, to report a stuck rollout
                // on time even when nothing moves.
                let deadline = match &applied.outcome {
                    Outcome::Synced { observed, .. } => status::rollout_deadline_left(
                        observed,
                        progress_deadline_seconds(svc),
                        Timestamp::now(),
                    ),
                    _ => None,
                };
                Action::requeue(match deadline {
                    Some(left) if left >= 0 => {
                        ROLLOUT_RECHECK.min(Duration::from_secs(left.unsigned_abs() + 1))
                    }
                    _ => ROLLOUT_RECHECK,
                })
            } else {
                // Steady: the batched observer watches for drift; changes to the object or
                // its TaskDefinition wake the reconcile at once.
                Action::await_change()
            }
        }
        // The TaskDefinition watch wakes us when it becomes Ready.
        Outcome::WaitingForTaskDefinition(_) => Action::requeue(ctx.config.resync_interval),
        // The ECSCluster watch wakes us when it becomes Ready.
        Outcome::WaitingForCluster { stalled: false, .. } => {
            Action::requeue(ctx.config.resync_interval)
        }
        Outcome::WaitingForCluster { stalled: true, .. } => {
            Action::requeue(crate::runtime::backoff::TERMINAL_RETRY)
        }
        Outcome::WaitingForDiscovery { stalled: true, .. } => {
            Action::requeue(crate::runtime::backoff::TERMINAL_RETRY)
        }
        Outcome::WaitingForDiscovery { .. } => Action::requeue(ROLLOUT_POLL * 2),
        Outcome::WaitingForDrain | Outcome::Deleting(_) => Action::requeue(ROLLOUT_POLL * 2),
        Outcome::AlreadyExists { .. } | Outcome::Immutable { .. } => {
            Action::requeue(crate::runtime::backoff::TERMINAL_RETRY)
        }
        Outcome::Failed(err) => Action::requeue(ctx.backoff.next_delay(&key, err.class)),
    })
}

/// Resolves the task definition, then makes the ECS service match the spec.
async fn resolve_and_sync(
    svc: &ECSService,
    ctx: &Context,
    aws: &AwsClients,
) -> (Option<String>, Applied) {
    let cluster = match resolved_cluster(svc, ctx) {
        Ok(cluster) => cluster,
        Err((message, stalled)) => {
            return (None, Outcome::WaitingForCluster { message, stalled }.into());
        }
    };
    match resolve_task_definition(svc, ctx, aws).await {
        Ok(Some(td)) => {
            let applied = match sync(svc, ctx, aws, &cluster, &td).await {
                Ok(applied) => applied,
                Err(err) => Outcome::Failed(err).into(),
            };
            (Some(td), applied)
        }
        Ok(None) => (
            None,
            Outcome::WaitingForTaskDefinition("waiting for the task definition".into()).into(),
        ),
        Err(Wait::TaskDefinition(message)) => {
            (None, Outcome::WaitingForTaskDefinition(message).into())
        }
        Err(Wait::Aws(err)) => (None, Outcome::Failed(err).into()),
    }
}

enum Wait {
    TaskDefinition(String),
    Aws(AwsError),
}

/// The full ARN of the task definition the service should run.
async fn resolve_task_definition(
    svc: &ECSService,
    ctx: &Context,
    aws: &AwsClients,
) -> Result<Option<String>, Wait> {
    if let Some(arn) = referenced_task_definition(svc, ctx).map_err(Wait::TaskDefinition)? {
        return Ok(Some(arn));
    }
    let Some(reference) = &svc.spec.task_definition else {
        return Ok(None);
    };
    // Resolved once per reference: status keeps the ARN.
    if let Some(known) = svc
        .status
        .as_ref()
        .and_then(|s| s.task_definition_arn.as_deref())
        && task_definition_key(known) == task_definition_key(reference)
    {
        return Ok(Some(known.to_string()));
    }
    ecs_svc::resolve_task_definition(&aws.ecs, reference)
        .await
        .map(Some)
        .map_err(Wait::Aws)
}

async fn observe(
    ctx: &Context,
    aws: &AwsClients,
    cluster: &str,
    name: &str,
) -> Result<Option<ObservedService>, AwsError> {
    let key = service_key(aws, cluster, name);
    if let Some(observed) = ctx.observations.take_fresh(&key, OBSERVATION_MAX_AGE) {
        return Ok(Some(observed));
    }
    let described = ecs_svc::describe(&aws.ecs, cluster, &[name.to_string()]).await?;
    Ok(described.found.get(name).cloned())
}

async fn sync(
    svc: &ECSService,
    ctx: &Context,
    aws: &AwsClients,
    cluster: &str,
    td_arn: &str,
) -> Result<Applied, AwsError> {
    let ecs = &aws.ecs;
    let status = svc.status.clone().unwrap_or_default();
    let uid = svc.uid().unwrap_or_default();
    let namespace = svc.namespace().unwrap_or_default();
    let object_name = svc.name_any();
    let name = svc.service_name();
    // Service Connect may name its Cloud Map namespace by a CloudMapNamespace reference.
    let spec = match discovery::resolve_service_connect(svc, ctx) {
        Ok(spec) => spec,
        Err(message) => {
            return Ok(Outcome::WaitingForDiscovery {
                message,
                stalled: false,
            }
            .into());
        }
    };
    let mut desired = Desired {
        spec: &spec,
        cluster,
        name: &name,
        task_definition_arn: td_arn,
        namespace: &namespace,
        object_name: &object_name,
        uid: &uid,
        service_registries: None,
    };
    if let Some(Plan::Immutable { message, .. }) = plan::immutable_from_status(&desired, &status) {
        return Ok(Outcome::Immutable { message }.into());
    }
    let observed = observe(ctx, aws, cluster, &name).await?;

    // Cloud Map first: it decides which registry the ECS service carries.
    let ecs_registries = observed
        .as_ref()
        .map(|o| o.service_registries.clone())
        .unwrap_or_default();
    let (registries, mut discovery_status) =
        match discovery::ensure(svc, ctx, aws, &ecs_registries).await? {
            Discovery::None => (None, None),
            Discovery::Waiting {
                message,
                status: discovery_status,
                stalled,
            } => {
                return Ok(Applied {
                    discovery: Some(discovery_status),
                    ..Outcome::WaitingForDiscovery { message, stalled }.into()
                });
            }
            Discovery::Ready {
                registry_arn,
                status: discovery_status,
            } => {
                let sd = svc.spec.service_discovery.as_ref();
                let registries: Vec<Registry> = registry_arn
                    .map(|registry_arn| Registry {
                        registry_arn,
                        container_name: sd.and_then(|d| d.container_name.clone()),
                        container_port: sd.and_then(|d| d.container_port),
                    })
                    .into_iter()
                    .collect();
                (Some(registries), Some(discovery_status))
            }
        };
    desired.service_registries = registries.as_deref();
    let key = service_key(aws, cluster, &name);

    let ecs_result: Result<Applied, AwsError> = async {
        match plan::plan(&desired, observed.as_ref(), &status) {
            Plan::Create => {
                let mut tags: std::collections::BTreeMap<String, String> = svc
                    .spec
                    .tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect();
                tags.extend(ownership_tags(KIND, &namespace, &object_name, &uid));
                // The look-up by name above finds a service created just before a crash; when
                // it does not yet (DescribeServices is eventually consistent), the token makes
                // the repeated create return that service instead of a second one.
                let creations = status.service_creations.unwrap_or(0);
                let intent = serde_json::json!({
                    "cluster": cluster,
                    "name": name,
                    "taskDefinition": td_arn,
                    "spec": spec,
                    "tags": tags,
                    "registries": registries.as_deref().unwrap_or_default().iter()
                        .map(|r| (&r.registry_arn, &r.container_name, r.container_port))
                        .collect::<Vec<_>>(),
                });
                let token = plan::create_token(&uid, &intent, creations);
                let created = ecs_svc::create(
                    ecs,
                    &CreateRequest {
                        cluster,
                        name: &name,
                        task_definition: td_arn,
                        spec: &spec,
                        tags: &tags,
                        client_token: &token,
                        service_registries: registries.as_deref().unwrap_or_default(),
                    },
                )
                .await?;
                crash::crash_point(crash::CREATE_SERVICE, &namespace);
                info!(arn = %created.arn, "created ECS service");
                ctx.event(
                    svc,
                    EventType::Normal,
                    "Created",
                    "Create",
                    format!(
                        "created ECS service {} running {}",
                        created.arn,
                        task_definition_key(td_arn)
                    ),
                )
                .await;
                ctx.observations.invalidate(&key);
                let unequal = plan::unequal_fields(&desired, &created);
                Ok(Applied {
                    outcome: Outcome::Synced {
                        observed: created,
                        rollout_failed: false,
                        unequal,
                    },
                    redeploy_token: Some(svc.spec.redeploy_token.clone()),
                    managed_fields: Some(plan::managed_fields(&spec)),
                    discovery: None,
                    auto_scaling: None,
                    service_creations: Some(creations.saturating_add(1)),
                })
            }
            Plan::WaitForDrain => Ok(Outcome::WaitingForDrain.into()),
            Plan::AlreadyExists { owner } => {
                if status.conditions.iter().all(|c| c.reason != owner.reason()) {
                    ctx.event(
                        svc,
                        EventType::Warning,
                        owner.reason(),
                        "Create",
                        owner.message(
                            &format!("ECS service {name} in {cluster}"),
                            "spec.serviceName",
                        ),
                    )
                    .await;
                }
                Ok(Outcome::AlreadyExists { owner }.into())
            }
            Plan::Immutable { message, .. } => {
                if status.conditions.iter().all(|c| c.message != message) {
                    ctx.event(
                        svc,
                        EventType::Warning,
                        "ImmutableFieldChanged",
                        "Update",
                        message.clone(),
                    )
                    .await;
                }
                Ok(Outcome::Immutable { message }.into())
            }
            Plan::Sync {
                adopt,
                update,
                changed,
                reset,
                kept,
                tags_to_set,
                tags_to_remove,
                rollout_failed,
            } => {
                let Some(mut observed) = observed else {
                    return Ok(Outcome::Failed(AwsError {
                        operation: "DescribeServices",
                        code: "Inconsistent".into(),
                        message: "service vanished while planning".into(),
                        class: ErrorClass::Retryable,
                    })
                    .into());
                };
                if !tags_to_set.is_empty() || !tags_to_remove.is_empty() {
                    ecs_svc::sync_tags(ecs, &observed.arn, &tags_to_set, &tags_to_remove).await?;
                    if adopt {
                        ctx.event(
                            svc,
                            EventType::Normal,
                            "Adopted",
                            "Adopt",
                            format!("adopted ECS service {}", observed.arn),
                        )
                        .await;
                    }
                }
                if !kept.is_empty() {
                    let why: Vec<String> = kept
                        .iter()
                        .map(|path| match plan::field_rule(path).map(|r| r.removal) {
                            Some(plan::Removal::Kept(reason)) => format!("{path} ({reason})"),
                            _ => path.to_string(),
                        })
                        .collect();
                    ctx.event(
                        svc,
                        EventType::Normal,
                        "FieldsLeftAsIs",
                        "Update",
                        format!(
                            "removed from the spec but left as ECS has it: {}",
                            why.join("; ")
                        ),
                    )
                    .await;
                }
                let mut applied_token = None;
                if let Some(update) = update {
                    // Drift is a change of a field nothing on our side moved: a new revision
                    // of the TaskDefinition, or the Cloud Map service discovery switched to,
                    // are our own changes even when the spec's generation did not move.
                    let td_moved = status.task_definition_arn.as_deref() != Some(td_arn);
                    let registry_moved = status.service_discovery.as_ref().map(|d| &d.service_arn)
                        != discovery_status.as_ref().map(|d| &d.service_arn);
                    let ours = |field: &&str| {
                        (*field == "taskDefinition" && td_moved)
                            || (*field == "serviceRegistries" && registry_moved)
                    };
                    let drift = status.observed_generation == svc.metadata.generation
                        && !adopt
                        && changed.iter().any(|field| !ours(field));
                    observed = ecs_svc::update(ecs, cluster, &name, &update).await?;
                    ctx.observations.invalidate(&key);
                    let what = changed.join(", ");
                    let reset_what = reset.join(", ");
                    info!(changed = %what, reset = %reset_what, drift, "updated ECS service");
                    if !changed.is_empty() {
                        let (reason, note) = if drift {
                            (
                                "DriftRepaired",
                                format!(
                                    "ECS service differed from the spec in {what}; updated it back"
                                ),
                            )
                        } else {
                            ("Updated", format!("updated {what}"))
                        };
                        ctx.event(
                            svc,
                            if drift {
                                EventType::Warning
                            } else {
                                EventType::Normal
                            },
                            reason,
                            "Update",
                            note,
                        )
                        .await;
                    }
                    if !reset.is_empty() {
                        ctx.event(
                            svc,
                            EventType::Normal,
                            "FieldsReset",
                            "Update",
                            format!("reset {reset_what} to ECS's defaults (removed from the spec)"),
                        )
                        .await;
                    }
                    if update.force_new_deployment {
                        applied_token = Some(svc.spec.redeploy_token.clone());
                    }
                }
                let unequal = plan::unequal_fields(&desired, &observed);
                Ok(Applied {
                    outcome: Outcome::Synced {
                        observed,
                        rollout_failed,
                        unequal,
                    },
                    redeploy_token: applied_token,
                    managed_fields: Some(plan::managed_fields(&spec)),
                    discovery: None,
                    auto_scaling: None,
                    service_creations: None,
                })
            }
        }
    }
    .await;
    let mut applied = ecs_result?;
    // Cloud Map services retired by a change are deleted once the ECS service left them.
    if let (Some(sd), Outcome::Synced { observed, .. }) =
        (discovery_status.as_mut(), &applied.outcome)
        && !sd.retired_service_ids.is_empty()
        && let Some(message) =
            discovery::delete_retired(aws, sd, &observed.service_registries).await?
    {
        info!(%message, "Cloud Map service retirement waits");
    }
    if applied.discovery.is_none() {
        applied.discovery = Some(discovery_status);
    }
    // Auto scaling once the ECS service exists.
    if let Outcome::Synced { observed, .. } = &applied.outcome {
        let owner = autoscaling::Owner {
            namespace: &namespace,
            name: &object_name,
            uid: &uid,
        };
        let scaling = autoscaling::ensure(
            aws,
            &svc.spec,
            cluster,
            &name,
            owner,
            status.auto_scaling.as_ref(),
            observed.desired_count,
        )
        .await?;
        applied.auto_scaling = Some(scaling);
    }
    Ok(applied)
}

/// Events for rollout transitions, judged from the Ready condition before and after.
async fn publish_transition_events(
    svc: &ECSService,
    ctx: &Context,
    new_status: &crate::api::ecs_service::ECSServiceStatus,
) {
    let before = svc
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, "Ready").cloned());
    let after = find_condition(&new_status.conditions, "Ready");
    let (Some(after), before_reason) = (after, before.as_ref().map(|c| c.reason.clone())) else {
        return;
    };
    if before_reason.as_deref() == Some(after.reason.as_str()) {
        return;
    }
    match after.reason.as_str() {
        "RolloutComplete" => {
            ctx.event(
                svc,
                EventType::Normal,
                "RolloutComplete",
                "Rollout",
                after.message.clone(),
            )
            .await
        }
        "RolloutFailed" | "RolloutStuck" => {
            ctx.event(
                svc,
                EventType::Warning,
                &after.reason,
                "Rollout",
                after.message.clone(),
            )
            .await
        }
        "InvalidSpec" | "AWSError" | "Throttled" | "RoleNotGranted" | "RegionNotGranted"
        | "PassRoleNotGranted" | "GrantsUnavailable" => {
            ctx.event(
                svc,
                EventType::Warning,
                &after.reason,
                "Reconcile",
                after.message.clone(),
            )
            .await
        }
        _ => {}
    }
}

async fn cleanup(api: &Api<ECSService>, svc: &ECSService, ctx: &Context) -> Result<Action, Error> {
    let policy = deletion_policy(svc, ctx);
    if policy == DeletionPolicy::Retain {
        ctx.event(
            svc,
            EventType::Normal,
            "Retained",
            "Delete",
            "deletionPolicy Retain: the ECS service is left running".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let name = svc.service_name();
    // With clusterRef, the cluster the service was created in (or the referenced cluster,
    // should the status write after CreateService have been lost); none: nothing to delete.
    let Some(cluster) = svc
        .spec
        .cluster
        .clone()
        .or_else(|| svc.status.as_ref()?.cluster_arn.clone())
        .or_else(|| referenced_cluster_arn(svc, ctx))
    else {
        return Ok(Action::await_change());
    };
    let cluster = cluster.as_str();
    let aws = aws_for(svc, ctx).await?;
    let observed = match ecs_svc::describe(&aws.ecs, cluster, std::slice::from_ref(&name)).await {
        Ok(described) => described.found.get(&name).cloned(),
        // No cluster, no service: nothing to delete.
        Err(err) if err.code == "ClusterNotFoundException" => None,
        Err(err) => return Err(err.into()),
    };
    let uid = svc.uid().unwrap_or_default();
    if let Some(observed) = &observed
        && ownership_of(&observed.tags, &uid) == Ownership::Ours
        && deletion_policy_for(
            &observed.tags,
            svc.spec.deletion_policy,
            ctx.config.default_deletion_policy,
        ) == DeletionPolicy::Retain
    {
        ctx.event(
            svc,
            EventType::Normal,
            "Retained",
            "Delete",
            "the ECS service was adopted and deletionPolicy is not set to Delete: it is left running".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    // The ECS service goes first (never one we do not own), its auto scaling before it...
    let namespace = svc.namespace().unwrap_or_default();
    let object_name = svc.name_any();
    let owner = autoscaling::Owner {
        namespace: &namespace,
        name: &object_name,
        uid: &uid,
    };
    let scaling_owned = svc
        .status
        .as_ref()
        .is_some_and(|s| s.auto_scaling.is_some());
    let mut scaling_removed = false;
    let waiting_for_ecs = match observed {
        Some(observed) if ownership_of(&observed.tags, &uid) == Ownership::Ours => {
            if scaling_owned && observed.status != "DRAINING" {
                autoscaling::remove(&aws, cluster, &name, owner).await?;
                info!("removed the service's auto scaling");
                scaling_removed = true;
            }
            match observed.status.as_str() {
                "INACTIVE" => None,
                "DRAINING" => Some(format!(
                    "ECS service {} is DRAINING; waiting for INACTIVE",
                    observed.arn
                )),
                _ => {
                    ecs_svc::delete(&aws.ecs, cluster, &name).await?;
                    info!(arn = %observed.arn, "deleting ECS service");
                    Some(format!(
                        "deleting ECS service {}: waiting for its tasks to drain",
                        observed.arn
                    ))
                }
            }
        }
        _ => None,
    };
    // ...then its Cloud Map services, once their instances are gone.
    let message = match waiting_for_ecs {
        Some(message) => message,
        None => {
            let discovery = svc
                .status
                .as_ref()
                .and_then(|s| s.service_discovery.clone());
            match discovery {
                Some(sd) => match discovery::delete_all(&aws, &sd).await? {
                    Some(message) => message,
                    None => {
                        ctx.event(
                            svc,
                            EventType::Normal,
                            "Deleted",
                            "Delete",
                            format!("deleted ECS service {name} and its Cloud Map service"),
                        )
                        .await;
                        return Ok(Action::await_change());
                    }
                },
                None => {
                    ctx.event(
                        svc,
                        EventType::Normal,
                        "Deleted",
                        "Delete",
                        format!("deleted ECS service {name}"),
                    )
                    .await;
                    return Ok(Action::await_change());
                }
            }
        }
    };
    let input = Input {
        previous: svc.status.as_ref(),
        generation: svc.metadata.generation,
        task_definition_arn: None,
        deletion_policy: policy,
        applied_redeploy_token: None,
        managed_fields: None,
        auto_scaling: scaling_removed.then_some(None),
        progress_deadline_seconds: progress_deadline_seconds(svc),
        now: Timestamp::now(),
    };
    let new_status = status::compute(&input, &Outcome::Deleting(message.clone()));
    write_status(api, svc, svc.status.as_ref(), &new_status).await?;
    Err(Error::DeletionWaits(message))
}
