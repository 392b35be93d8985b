//! ECSCluster controller: resolve references (capacity providers, Service Connect namespace),
//! observe the cluster (batched), decide (pure), create/update/put providers/delete, write
//! status.

pub mod observer;
pub mod plan;
pub mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::{info, instrument};

use self::plan::{Desired, KIND, Plan, WantedNamespace, WantedProviders};
use self::status::{Input, Outcome, Pending};
use super::{Error, backoff_after_error, write_status};
use crate::api::common::{
    DeletionPolicy, FINALIZER, Ownership, deletion_policy_for, find_condition, ownership_of,
    ownership_tags,
};
use crate::api::ecs_cluster::ECSClusterStatus;
use crate::api::{CapacityProvider, ECSCluster, ECSService};
use crate::aws::AwsClients;
use crate::aws::ecs_cluster::{self as ecs_cl, ClusterDeletion, ObservedCluster, cluster_name_of};
use crate::aws::ecs_service::sync_tags;
use crate::aws::error::{AwsError, ErrorClass};
use crate::controllers::observer::Location;
use crate::controllers::ready_cloud_map_namespace;
use crate::runtime::{Context, crash};

/// How often a cluster that ECS is still provisioning is looked at.
const PROVISIONING_POLL: Duration = Duration::from_secs(5);
/// How often deletion re-checks whether the services in the cluster are gone.
const DELETION_RECHECK: Duration = Duration::from_secs(5);
/// How long an observation from the batched observer stays usable.
const OBSERVATION_MAX_AGE: Duration = Duration::from_secs(30);

#[instrument(skip_all, fields(kind = KIND, namespace = obj.namespace().unwrap_or_default(), object = obj.name_any(), generation = obj.metadata.generation))]
pub async fn reconcile(obj: Arc<ECSCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<ECSCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(cluster) => apply(&api, &cluster, &ctx).await,
            FinalizerEvent::Cleanup(cluster) => cleanup(&api, &cluster, &ctx).await,
        }
    })
    .await
    .map_err(|err| Error::Finalizer(Box::new(err)))
}

pub fn error_policy(obj: Arc<ECSCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    backoff_after_error(obj.as_ref(), error, &ctx, DELETION_RECHECK)
}

/// The clients for the object's Region and IAM role.
async fn aws_for(cluster: &ECSCluster, ctx: &Context) -> Result<AwsClients, AwsError> {
    ctx.aws_for(
        &cluster.namespace().unwrap_or_default(),
        cluster.spec.region.as_deref(),
        cluster.spec.role_arn.as_deref(),
    )
    .await
}

fn deletion_policy(cluster: &ECSCluster, ctx: &Context) -> DeletionPolicy {
    cluster
        .spec
        .deletion_policy
        .unwrap_or(ctx.config.default_deletion_policy)
}

/// The Service Connect namespace the spec asks for: a literal name or ARN, or the ARN of the
/// referenced CloudMapNamespace once it is Ready.
pub fn wanted_namespace(cluster: &ECSCluster, ctx: &Context) -> WantedNamespace {
    let Some(defaults) = &cluster.spec.service_connect_defaults else {
        return WantedNamespace::None;
    };
    let reference = match (&defaults.namespace, &defaults.namespace_ref) {
        (Some(namespace), _) => return WantedNamespace::Literal(namespace.clone()),
        (None, Some(reference)) => reference,
        (None, None) => return WantedNamespace::None,
    };
    match ready_cloud_map_namespace(
        ctx,
        &cluster.namespace().unwrap_or_default(),
        &reference.name,
        cluster.spec.region.as_deref(),
        cluster.spec.role_arn.as_deref(),
    ) {
        Ok(ns) => WantedNamespace::Literal(ns.arn),
        Err(message) => WantedNamespace::Unresolved(message),
    }
}

/// Whether a CapacityProvider object is Ready for its current generation.
fn provider_ready(provider: &CapacityProvider) -> Option<String> {
    let status = provider.status.as_ref()?;
    let ready = find_condition(&status.conditions, "Ready").is_some_and(|c| c.status == "True");
    (ready && status.observed_generation == provider.metadata.generation)
        .then(|| status.name.clone())
        .flatten()
}

/// The capacity providers the spec asks for, resolving `capacityProviderRefs` from the cache.
pub fn wanted_providers(cluster: &ECSCluster, ctx: &Context) -> WantedProviders {
    if !plan::manages_providers(&cluster.spec) {
        return WantedProviders::Unmanaged;
    }
    let namespace = cluster.namespace().unwrap_or_default();
    let mut names = Vec::new();
    let mut waiting = Vec::new();
    for reference in &cluster.spec.capacity_provider_refs {
        let key = ObjectRef::<CapacityProvider>::new(&reference.name).within(&namespace);
        match ctx.capacity_providers.get(&key) {
            None => waiting.push(format!("{} (not found in namespace {namespace})", reference.name)),
            Some(provider)
                if provider.spec.region != cluster.spec.region
                    || provider.spec.role_arn != cluster.spec.role_arn =>
            {
                waiting.push(format!(
                    "{} (its region and roleArn must be the cluster's: a cluster can only use capacity providers of its own account and Region)",
                    reference.name
                ))
            }
            Some(provider) => match provider_ready(&provider) {
                Some(name) => names.push(name),
                None => waiting.push(format!("{} (not Ready)", reference.name)),
            },
        }
    }
    if waiting.is_empty() {
        WantedProviders::Resolved(plan::provider_names(&cluster.spec, &names))
    } else {
        WantedProviders::Unresolved(format!(
            "waiting for CapacityProvider {}; the cluster's capacity providers are set once every reference is Ready",
            waiting.join(", ")
        ))
    }
}

/// Owned parts of [`Desired`].
struct Resolved {
    name: String,
    namespace_wanted: WantedNamespace,
    providers: WantedProviders,
    namespace: String,
    object_name: String,
    uid: String,
}

impl Resolved {
    fn new(cluster: &ECSCluster, ctx: &Context) -> Self {
        Self {
            name: cluster.cluster_name(),
            namespace_wanted: wanted_namespace(cluster, ctx),
            providers: wanted_providers(cluster, ctx),
            namespace: cluster.namespace().unwrap_or_default(),
            object_name: cluster.name_any(),
            uid: cluster.uid().unwrap_or_default(),
        }
    }

    fn desired<'a>(&'a self, cluster: &'a ECSCluster) -> Desired<'a> {
        Desired {
            spec: &cluster.spec,
            name: &self.name,
            namespace_wanted: self.namespace_wanted.clone(),
            providers: self.providers.clone(),
            namespace: &self.namespace,
            object_name: &self.object_name,
            uid: &self.uid,
        }
    }

    /// What the cluster still waits for once everything else is applied.
    fn pending(&self) -> Option<Pending> {
        match (&self.namespace_wanted, &self.providers) {
            (WantedNamespace::Unresolved(message), _) => Some(Pending::Namespace(message.clone())),
            (_, WantedProviders::Unresolved(message)) => {
                Some(Pending::CapacityProviders(message.clone()))
            }
            _ => None,
        }
    }
}

/// Whether an observation of `cluster` (from the batched observer) calls for a reconcile:
/// the plan would change something, or the status would change.
pub fn needs_reconcile(
    cluster: &ECSCluster,
    observed: Option<&ObservedCluster>,
    ctx: &Context,
) -> bool {
    let Some(observed) = observed else {
        return true;
    };
    let status = cluster.status.clone().unwrap_or_default();
    let resolved = Resolved::new(cluster, ctx);
    let outcome = match plan::plan(&resolved.desired(cluster), Some(observed), &status) {
        plan if plan.writes() => {
            // A cluster stalled on this generation is retried slowly by its own requeue,
            // not on every observation.
            let stalled = find_condition(&status.conditions, "Stalled")
                .is_some_and(|c| c.status == "True")
                && status.observed_generation == cluster.metadata.generation;
            if !stalled {
                return true;
            }
            Outcome::Synced {
                observed: observed.clone(),
                pending: resolved.pending(),
            }
        }
        Plan::AlreadyExists { owner } => Outcome::AlreadyExists { owner },
        Plan::Invalid { message } => Outcome::Invalid { message },
        _ => Outcome::Synced {
            observed: observed.clone(),
            pending: resolved.pending(),
        },
    };
    let input = Input {
        previous: Some(&status),
        generation: cluster.metadata.generation,
        name: &resolved.name,
        deletion_policy: status.deletion_policy.unwrap_or_default(),
        applied_service_connect_namespace: None,
        managed_fields: None,
        now: Timestamp::now(),
    };
    let new_status = status::compute(&input, &outcome);
    if find_condition(&status.conditions, "Stalled").is_some_and(|c| c.status == "True")
        && matches!(outcome, Outcome::Synced { .. })
    {
        // Only the mirrored fields count here: the stall itself is re-checked by the
        // reconcile's own slow retry.
        return ECSClusterStatus {
            conditions: Vec::new(),
            ..new_status
        } != ECSClusterStatus {
            conditions: Vec::new(),
            ..status
        };
    }
    new_status != status
}

struct Applied {
    outcome: Outcome,
    service_connect_namespace: Option<Option<String>>,
    /// `status.managedFields` after this reconcile (`None`: unchanged).
    managed_fields: Option<Vec<String>>,
}

impl From<Outcome> for Applied {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            service_connect_namespace: None,
            managed_fields: None,
        }
    }
}

async fn apply(
    api: &Api<ECSCluster>,
    cluster: &ECSCluster,
    ctx: &Context,
) -> Result<Action, Error> {
    let key = Context::key(cluster);
    let resolved = Resolved::new(cluster, ctx);
    let aws = aws_for(cluster, ctx).await;
    let applied = match &aws {
        Ok(aws) => match sync(cluster, ctx, aws, &resolved).await {
            Ok(applied) => applied,
            Err(err) => Outcome::Failed(err).into(),
        },
        Err(err) => Outcome::Failed(err.clone()).into(),
    };
    let input = Input {
        previous: cluster.status.as_ref(),
        generation: cluster.metadata.generation,
        name: &resolved.name,
        deletion_policy: deletion_policy(cluster, ctx),
        applied_service_connect_namespace: applied.service_connect_namespace.clone(),
        managed_fields: applied.managed_fields.clone(),
        now: Timestamp::now(),
    };
    let mut new_status = status::compute(&input, &applied.outcome);
    if let Some(account) = aws.ok().and_then(|aws| aws.account_id) {
        new_status.aws_account_id = Some(account);
    }
    write_status(api, cluster, cluster.status.as_ref(), &new_status).await?;
    publish_transition_events(cluster, ctx, &new_status).await;

    Ok(match &applied.outcome {
        Outcome::Synced { observed, pending } => {
            ctx.backoff.reset(&key);
            match pending {
                // The CloudMapNamespace and CapacityProvider watches wake the cluster when a
                // reference becomes Ready.
                Some(_) => Action::requeue(ctx.config.resync_interval),
                None if observed.status != "ACTIVE" && observed.status != "FAILED" => {
                    Action::requeue(PROVISIONING_POLL)
                }
                // Steady: the batched observer watches for drift; changes to the object or
                // its references wake the reconcile at once.
                None => Action::await_change(),
            }
        }
        Outcome::AlreadyExists { .. } | Outcome::Invalid { .. } | Outcome::ProviderInUse { .. } => {
            Action::requeue(crate::runtime::backoff::TERMINAL_RETRY)
        }
        Outcome::Failed(err) => Action::requeue(ctx.backoff.next_delay(&key, err.class)),
        Outcome::DeletionBlocked { .. } => Action::requeue(DELETION_RECHECK),
    })
}

async fn observe(
    ctx: &Context,
    aws: &AwsClients,
    name: &str,
) -> Result<Option<ObservedCluster>, AwsError> {
    let key = Location::of(aws).key(name);
    if let Some(observed) = ctx
        .cluster_observations
        .take_fresh(&key, OBSERVATION_MAX_AGE)
    {
        return Ok(Some(observed));
    }
    let described = ecs_cl::describe_clusters(&aws.ecs, &[name.to_string()]).await?;
    Ok(described.found.get(name).cloned())
}

/// Capacity providers that ECSServices running in this cluster name in their strategy, as
/// (service, providers) pairs.
fn service_strategies(cluster: &ECSCluster, ctx: &Context) -> Vec<(String, Vec<String>)> {
    services_in(cluster, ctx)
        .into_iter()
        .map(|svc| {
            (
                svc.name_any(),
                svc.spec
                    .capacity_provider_strategy
                    .iter()
                    .map(|s| s.capacity_provider.clone())
                    .collect(),
            )
        })
        .collect()
}

/// ECSService objects of the namespace that run (or will run) in this cluster: by
/// `clusterRef`, or by naming the cluster.
fn services_in(cluster: &ECSCluster, ctx: &Context) -> Vec<Arc<ECSService>> {
    let namespace = cluster.namespace();
    let object_name = cluster.name_any();
    let cluster_name = cluster.cluster_name();
    ctx.services
        .state()
        .into_iter()
        .filter(|svc| svc.namespace() == namespace)
        .filter(|svc| {
            svc.spec
                .cluster_ref
                .as_ref()
                .is_some_and(|r| r.name == object_name)
                || svc
                    .spec
                    .cluster
                    .as_deref()
                    .is_some_and(|c| cluster_name_of(c) == cluster_name)
        })
        .collect()
}

async fn sync(
    cluster: &ECSCluster,
    ctx: &Context,
    aws: &AwsClients,
    resolved: &Resolved,
) -> Result<Applied, AwsError> {
    let ecs = &aws.ecs;
    let status = cluster.status.clone().unwrap_or_default();
    let desired = resolved.desired(cluster);
    let name = resolved.name.as_str();
    let cache_key = Location::of(aws).key(name);
    let observed = observe(ctx, aws, name).await?;
    let literal_namespace = match &resolved.namespace_wanted {
        WantedNamespace::Literal(namespace) => Some(namespace.clone()),
        _ => None,
    };

    match plan::plan(&desired, observed.as_ref(), &status) {
        Plan::Create => {
            let mut tags: BTreeMap<String, String> = cluster
                .spec
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            tags.extend(ownership_tags(
                KIND,
                &resolved.namespace,
                &resolved.object_name,
                &resolved.uid,
            ));
            let providers = match &resolved.providers {
                WantedProviders::Resolved(providers) => Some(providers.as_slice()),
                _ => None,
            };
            let created = ecs_cl::create_cluster(
                ecs,
                &plan::create_request(
                    &cluster.spec,
                    name,
                    literal_namespace.as_deref(),
                    providers,
                    &tags,
                ),
            )
            .await?;
            crash::crash_point(crash::CREATE_CLUSTER, &resolved.namespace);
            info!(arn = %created.arn, "created ECS cluster");
            ctx.event(
                cluster,
                EventType::Normal,
                "Created",
                "Create",
                format!("created ECS cluster {}", created.arn),
            )
            .await;
            ctx.cluster_observations.invalidate(&cache_key);
            Ok(Applied {
                outcome: Outcome::Synced {
                    observed: created,
                    pending: resolved.pending(),
                },
                service_connect_namespace: Some(literal_namespace),
                managed_fields: Some(plan::managed_fields(&cluster.spec)),
            })
        }
        Plan::AlreadyExists { owner } => Ok(Outcome::AlreadyExists { owner }.into()),
        Plan::Invalid { message } => Ok(Outcome::Invalid { message }.into()),
        Plan::Sync {
            adopt,
            update,
            providers,
            changed,
            reset,
            tags_to_set,
            tags_to_remove,
        } => {
            let Some(mut observed) = observed else {
                return Ok(Outcome::Failed(AwsError {
                    operation: "DescribeClusters",
                    code: "Inconsistent".into(),
                    message: "cluster vanished while planning".into(),
                    class: ErrorClass::Retryable,
                })
                .into());
            };
            if !tags_to_set.is_empty() || !tags_to_remove.is_empty() {
                sync_tags(ecs, &observed.arn, &tags_to_set, &tags_to_remove).await?;
                if adopt {
                    ctx.event(
                        cluster,
                        EventType::Normal,
                        "Adopted",
                        "Adopt",
                        format!("adopted ECS cluster {}", observed.arn),
                    )
                    .await;
                }
            }
            let mut applied_namespace = None;
            if let Some(update) = &update {
                observed = ecs_cl::update_cluster(ecs, name, update).await?;
                if update.service_connect_namespace.is_some() {
                    applied_namespace = Some(literal_namespace.clone());
                }
            }
            if let Some(providers) = &providers {
                let in_use =
                    plan::providers_in_use(&providers.removed, &service_strategies(cluster, ctx));
                if !in_use.is_empty() {
                    let uses: Vec<String> = in_use
                        .iter()
                        .map(|(provider, svc)| format!("{provider} (ECSService {svc})"))
                        .collect();
                    return Ok(Applied {
                        outcome: Outcome::ProviderInUse {
                            message: format!(
                                "cannot dissociate capacity providers that services use in their capacityProviderStrategy: {}. Remove them from those services' strategies first",
                                uses.join(", ")
                            ),
                        },
                        service_connect_namespace: applied_namespace,
                        managed_fields: None,
                    });
                }
                match ecs_cl::put_capacity_providers(
                    ecs,
                    name,
                    &providers.capacity_providers,
                    &providers.default_strategy,
                )
                .await
                {
                    Ok(after) => observed = after,
                    Err(err) if err.code == "ResourceInUseException" => {
                        return Ok(Applied {
                            outcome: Outcome::ProviderInUse {
                                message: format!(
                                    "PutClusterCapacityProviders failed: {}: {} (dissociating {}). A service's capacity provider strategy still uses it: update or delete those services first",
                                    err.code,
                                    err.message,
                                    providers.removed.join(", ")
                                ),
                            },
                            service_connect_namespace: applied_namespace,
                            managed_fields: None,
                        });
                    }
                    Err(err) => return Err(err),
                }
            }
            if !changed.is_empty() {
                ctx.cluster_observations.invalidate(&cache_key);
                let drift = status.observed_generation == cluster.metadata.generation && !adopt;
                let what = changed.join(", ");
                info!(changed = %what, drift, "updated ECS cluster");
                let (type_, reason, note) = if drift {
                    (
                        EventType::Warning,
                        "DriftRepaired",
                        format!("ECS cluster differed from the spec in {what}; updated it back"),
                    )
                } else {
                    (EventType::Normal, "Updated", format!("updated {what}"))
                };
                ctx.event(cluster, type_, reason, "Update", note).await;
            }
            if !reset.is_empty() {
                ctx.cluster_observations.invalidate(&cache_key);
                let what = reset.join(", ");
                info!(reset = %what, "reset ECS cluster fields removed from the spec");
                ctx.event(
                    cluster,
                    EventType::Normal,
                    "FieldsReset",
                    "Update",
                    format!("reset {what} to ECS's defaults (removed from the spec)"),
                )
                .await;
            }
            Ok(Applied {
                outcome: Outcome::Synced {
                    observed,
                    pending: resolved.pending(),
                },
                service_connect_namespace: applied_namespace,
                managed_fields: Some(plan::managed_fields(&cluster.spec)),
            })
        }
    }
}

/// Events for transitions of the Ready condition into a problem (each once, not per retry).
async fn publish_transition_events(
    cluster: &ECSCluster,
    ctx: &Context,
    new_status: &ECSClusterStatus,
) {
    let before = cluster
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, "Ready").cloned());
    let Some(after) = find_condition(&new_status.conditions, "Ready") else {
        return;
    };
    if before
        .as_ref()
        .is_some_and(|b| b.reason == after.reason && b.message == after.message)
    {
        return;
    }
    let (type_, reason) = match after.reason.as_str() {
        "AlreadyExists"
        | "OwnedByAnotherObject"
        | "InvalidSpec"
        | "CapacityProviderInUse"
        | "ProvisioningFailed"
        | "AWSError"
        | "Throttled"
        | "DeletionBlocked"
        | "RoleNotGranted"
        | "RegionNotGranted"
        | "PassRoleNotGranted"
        | "GrantsUnavailable" => (EventType::Warning, after.reason.as_str()),
        "WaitingForNamespace" | "WaitingForCapacityProvider" => {
            (EventType::Normal, after.reason.as_str())
        }
        _ => return,
    };
    ctx.event(cluster, type_, reason, "Reconcile", after.message.clone())
        .await;
}

async fn cleanup(
    api: &Api<ECSCluster>,
    cluster: &ECSCluster,
    ctx: &Context,
) -> Result<Action, Error> {
    let policy = deletion_policy(cluster, ctx);
    if policy == DeletionPolicy::Retain {
        ctx.event(
            cluster,
            EventType::Normal,
            "Retained",
            "Delete",
            "deletionPolicy Retain: the ECS cluster is left as it is".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let aws = aws_for(cluster, ctx).await?;
    let ecs = &aws.ecs;
    let name = cluster.cluster_name();
    let described = ecs_cl::describe_clusters(ecs, std::slice::from_ref(&name)).await?;
    let Some(observed) = described.found.get(&name).filter(|c| c.exists()) else {
        // Already gone counts as done.
        return Ok(Action::await_change());
    };
    if ownership_of(&observed.tags, &cluster.uid().unwrap_or_default()) != Ownership::Ours {
        // Never delete what we do not own.
        return Ok(Action::await_change());
    }
    if deletion_policy_for(
        &observed.tags,
        cluster.spec.deletion_policy,
        ctx.config.default_deletion_policy,
    ) == DeletionPolicy::Retain
    {
        ctx.event(
            cluster,
            EventType::Normal,
            "Retained",
            "Delete",
            "the ECS cluster was adopted and deletionPolicy is not set to Delete: it is left as it is".into(),
        )
        .await;
        return Ok(Action::await_change());
    }

    let mut objects: Vec<String> = services_in(cluster, ctx)
        .iter()
        .filter(|svc| svc.status.as_ref().is_some_and(|s| s.service_arn.is_some()))
        .map(|svc| svc.name_any())
        .collect();
    objects.sort();
    let in_ecs = ecs_cl::services_in_cluster(ecs, &name).await?;
    let blocked = if !objects.is_empty() || !in_ecs.is_empty() {
        Some(blocking_message(&name, &in_ecs, &objects))
    } else {
        match ecs_cl::delete_cluster(ecs, &name).await? {
            ClusterDeletion::Deleted(state) => {
                info!(arn = %observed.arn, %state, "deleted ECS cluster");
                ctx.event(
                    cluster,
                    EventType::Normal,
                    "Deleted",
                    "Delete",
                    format!("deleted ECS cluster {} ({state})", observed.arn),
                )
                .await;
                return Ok(Action::await_change());
            }
            ClusterDeletion::Gone => return Ok(Action::await_change()),
            ClusterDeletion::InUse(err) => Some(format!(
                "DeleteCluster refused: {}: {}; the cluster is deleted once it is empty",
                err.code, err.message
            )),
        }
    };
    let message = blocked.unwrap_or_default();
    let input = Input {
        previous: cluster.status.as_ref(),
        generation: cluster.metadata.generation,
        name: &name,
        deletion_policy: policy,
        applied_service_connect_namespace: None,
        managed_fields: None,
        now: Timestamp::now(),
    };
    let new_status = status::compute(
        &input,
        &Outcome::DeletionBlocked {
            message: message.clone(),
        },
    );
    write_status(api, cluster, cluster.status.as_ref(), &new_status).await?;
    publish_transition_events(cluster, ctx, &new_status).await;
    Err(Error::DeletionWaits(message))
}

/// Why a cluster cannot be deleted yet, naming the services.
pub fn blocking_message(cluster: &str, in_ecs: &[String], objects: &[String]) -> String {
    let mut parts = Vec::new();
    if !in_ecs.is_empty() {
        parts.push(format!("services in ECS: {}", in_ecs.join(", ")));
    }
    if !objects.is_empty() {
        parts.push(format!("ECSService objects: {}", objects.join(", ")));
    }
    format!(
        "ECS cluster {cluster} still has services ({}); it is deleted once they are gone",
        parts.join("; ")
    )
}
