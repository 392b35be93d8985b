//! CapacityProvider controller: observe the provider (batched), decide (pure), create,
//! update or delete it, write status.

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
use kube::{Api, ResourceExt};
use tracing::{info, instrument};

use self::plan::{Desired, KIND, Plan};
use self::status::{Input, Outcome};
use super::{Error, backoff_after_error, write_status};
use crate::api::CapacityProvider;
use crate::api::capacity_provider::CapacityProviderStatus;
use crate::api::common::{
    DeletionPolicy, FINALIZER, Ownership, deletion_policy_for, find_condition, ownership_of,
    ownership_tags,
};
use crate::aws::AwsClients;
use crate::aws::ecs_cluster::{
    self as ecs_cl, CreateCapacityProviderRequest, ObservedCapacityProvider,
};
use crate::aws::ecs_service::sync_tags;
use crate::aws::error::{AwsError, ErrorClass};
use crate::controllers::observer::Location;
use crate::runtime::Context;

/// How often a provider that ECS is still updating or deleting is looked at.
const PROGRESS_POLL: Duration = Duration::from_secs(5);
/// How long an observation from the batched observer stays usable.
const OBSERVATION_MAX_AGE: Duration = Duration::from_secs(30);

#[instrument(skip_all, fields(kind = KIND, namespace = obj.namespace().unwrap_or_default(), object = obj.name_any(), generation = obj.metadata.generation))]
pub async fn reconcile(obj: Arc<CapacityProvider>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<CapacityProvider> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(provider) => apply(&api, &provider, &ctx).await,
            FinalizerEvent::Cleanup(provider) => cleanup(&api, &provider, &ctx).await,
        }
    })
    .await
    .map_err(|err| Error::Finalizer(Box::new(err)))
}

pub fn error_policy(obj: Arc<CapacityProvider>, error: &Error, ctx: Arc<Context>) -> Action {
    backoff_after_error(obj.as_ref(), error, &ctx, PROGRESS_POLL)
}

/// The clients for the object's Region and IAM role.
async fn aws_for(provider: &CapacityProvider, ctx: &Context) -> Result<AwsClients, AwsError> {
    ctx.aws_for(
        &provider.namespace().unwrap_or_default(),
        provider.spec.region.as_deref(),
        provider.spec.role_arn.as_deref(),
    )
    .await
}

fn deletion_policy(provider: &CapacityProvider, ctx: &Context) -> DeletionPolicy {
    provider
        .spec
        .deletion_policy
        .unwrap_or(ctx.config.default_deletion_policy)
}

/// Whether an observation of `provider` (from the batched observer) calls for a reconcile:
/// the plan would change something, or the status would change.
pub fn needs_reconcile(
    provider: &CapacityProvider,
    observed: Option<&ObservedCapacityProvider>,
) -> bool {
    let Some(observed) = observed else {
        return true;
    };
    let status = provider.status.clone().unwrap_or_default();
    let name = provider.provider_name();
    let namespace = provider.namespace().unwrap_or_default();
    let object_name = provider.name_any();
    let uid = provider.uid().unwrap_or_default();
    let desired = Desired {
        spec: &provider.spec,
        name: &name,
        namespace: &namespace,
        object_name: &object_name,
        uid: &uid,
        managed_before: &status.managed_fields,
    };
    let outcome = match plan::plan(&desired, Some(observed)) {
        plan if plan.writes() => return true,
        Plan::AlreadyExists { owner } => Outcome::AlreadyExists { owner },
        Plan::Immutable { message } => Outcome::Immutable { message },
        _ => Outcome::Synced {
            observed: observed.clone(),
        },
    };
    let input = Input {
        previous: Some(&status),
        generation: provider.metadata.generation,
        name: &name,
        deletion_policy: status.deletion_policy.unwrap_or_default(),
        now: Timestamp::now(),
    };
    status::compute(&input, &outcome) != status
}

async fn apply(
    api: &Api<CapacityProvider>,
    provider: &CapacityProvider,
    ctx: &Context,
) -> Result<Action, Error> {
    let key = Context::key(provider);
    let name = provider.provider_name();
    let aws = aws_for(provider, ctx).await;
    let outcome = match &aws {
        Ok(aws) => match sync(provider, ctx, aws, &name).await {
            Ok(outcome) => outcome,
            Err(err) => Outcome::Failed(err),
        },
        Err(err) => Outcome::Failed(err.clone()),
    };
    let input = Input {
        previous: provider.status.as_ref(),
        generation: provider.metadata.generation,
        name: &name,
        deletion_policy: deletion_policy(provider, ctx),
        now: Timestamp::now(),
    };
    let mut new_status = status::compute(&input, &outcome);
    // What the spec set is what the operator manages from now on (see plan::FIELDS).
    if matches!(outcome, Outcome::Synced { .. }) {
        new_status.managed_fields = plan::managed_fields(&provider.spec);
    }
    if let Some(account) = aws.ok().and_then(|aws| aws.account_id) {
        new_status.aws_account_id = Some(account);
    }
    write_status(api, provider, provider.status.as_ref(), &new_status).await?;
    publish_transition_events(provider, ctx, &new_status).await;

    Ok(match &outcome {
        Outcome::Synced { observed } => {
            ctx.backoff.reset(&key);
            if status::is_ready(observed)
                || observed.update_status.as_deref() == Some("UPDATE_FAILED")
            {
                // Steady (or stalled on ECS's side): the batched observer watches for drift.
                Action::await_change()
            } else {
                Action::requeue(PROGRESS_POLL)
            }
        }
        Outcome::AlreadyExists { .. } | Outcome::Immutable { .. } => {
            Action::requeue(crate::runtime::backoff::TERMINAL_RETRY)
        }
        Outcome::Failed(err) => Action::requeue(ctx.backoff.next_delay(&key, err.class)),
        Outcome::Deleting { .. } => Action::requeue(PROGRESS_POLL),
    })
}

async fn observe(
    ctx: &Context,
    aws: &AwsClients,
    name: &str,
) -> Result<Option<ObservedCapacityProvider>, AwsError> {
    let key = Location::of(aws).key(name);
    if let Some(observed) = ctx
        .capacity_provider_observations
        .take_fresh(&key, OBSERVATION_MAX_AGE)
    {
        return Ok(Some(observed));
    }
    let described = ecs_cl::describe_capacity_providers(&aws.ecs, &[name.to_string()]).await?;
    Ok(described.found.get(name).cloned())
}

async fn sync(
    provider: &CapacityProvider,
    ctx: &Context,
    aws: &AwsClients,
    name: &str,
) -> Result<Outcome, AwsError> {
    let ecs = &aws.ecs;
    let cache_key = Location::of(aws).key(name);
    let namespace = provider.namespace().unwrap_or_default();
    let object_name = provider.name_any();
    let uid = provider.uid().unwrap_or_default();
    let managed_before = provider
        .status
        .as_ref()
        .map(|s| s.managed_fields.clone())
        .unwrap_or_default();
    let desired = Desired {
        spec: &provider.spec,
        name,
        namespace: &namespace,
        object_name: &object_name,
        uid: &uid,
        managed_before: &managed_before,
    };
    let observed = observe(ctx, aws, name).await?;
    match plan::plan(&desired, observed.as_ref()) {
        Plan::Create => {
            let mut tags: BTreeMap<String, String> = provider
                .spec
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            tags.extend(ownership_tags(KIND, &namespace, &object_name, &uid));
            let created = ecs_cl::create_capacity_provider(
                ecs,
                &CreateCapacityProviderRequest {
                    name,
                    spec: &provider.spec,
                    tags: &tags,
                },
            )
            .await?;
            info!(arn = %created.arn, "created capacity provider");
            ctx.event(
                provider,
                EventType::Normal,
                "Created",
                "Create",
                format!("created capacity provider {}", created.arn),
            )
            .await;
            ctx.capacity_provider_observations.invalidate(&cache_key);
            Ok(Outcome::Synced { observed: created })
        }
        Plan::AlreadyExists { owner } => Ok(Outcome::AlreadyExists { owner }),
        Plan::Immutable { message } => Ok(Outcome::Immutable { message }),
        Plan::Sync {
            adopt,
            update,
            changed,
            reset,
            tags_to_set,
            tags_to_remove,
        } => {
            let Some(mut observed) = observed else {
                return Ok(Outcome::Failed(AwsError {
                    operation: "DescribeCapacityProviders",
                    code: "Inconsistent".into(),
                    message: "capacity provider vanished while planning".into(),
                    class: ErrorClass::Retryable,
                }));
            };
            if !tags_to_set.is_empty() || !tags_to_remove.is_empty() {
                sync_tags(ecs, &observed.arn, &tags_to_set, &tags_to_remove).await?;
                if adopt {
                    ctx.event(
                        provider,
                        EventType::Normal,
                        "Adopted",
                        "Adopt",
                        format!("adopted capacity provider {}", observed.arn),
                    )
                    .await;
                }
            }
            if let Some(update) = update {
                let tags = observed.tags.clone();
                observed = ecs_cl::update_capacity_provider(ecs, name, &update).await?;
                // UpdateCapacityProvider answers without tags.
                observed.tags = tags;
                ctx.capacity_provider_observations.invalidate(&cache_key);
                let drift = provider.status.as_ref().and_then(|s| s.observed_generation)
                    == provider.metadata.generation
                    && !adopt;
                let what = changed.join(", ");
                info!(changed = %what, reset = %reset.join(", "), drift, "updated capacity provider");
                if !changed.is_empty() {
                    let (type_, reason, note) = if drift {
                        (
                            EventType::Warning,
                            "DriftRepaired",
                            format!(
                                "capacity provider differed from the spec in {what}; updated it back"
                            ),
                        )
                    } else {
                        (EventType::Normal, "Updated", format!("updated {what}"))
                    };
                    ctx.event(provider, type_, reason, "Update", note).await;
                }
                if !reset.is_empty() {
                    ctx.event(
                        provider,
                        EventType::Normal,
                        "FieldsReset",
                        "Update",
                        format!(
                            "reset {} to ECS's defaults (removed from the spec)",
                            reset.join(", ")
                        ),
                    )
                    .await;
                }
            }
            Ok(Outcome::Synced { observed })
        }
    }
}

/// Events for transitions of the Ready condition into a problem (each once, not per retry).
async fn publish_transition_events(
    provider: &CapacityProvider,
    ctx: &Context,
    new_status: &CapacityProviderStatus,
) {
    let before = provider
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
    if matches!(
        after.reason.as_str(),
        "AlreadyExists"
            | "OwnedByAnotherObject"
            | "ImmutableFieldChanged"
            | "InvalidSpec"
            | "UpdateFailed"
            | "AWSError"
            | "Throttled"
            | "RoleNotGranted"
            | "RegionNotGranted"
            | "PassRoleNotGranted"
            | "GrantsUnavailable"
    ) {
        ctx.event(
            provider,
            EventType::Warning,
            &after.reason,
            "Reconcile",
            after.message.clone(),
        )
        .await;
    }
}

/// ECSCluster objects of the namespace that reference this provider.
fn clusters_using(provider: &CapacityProvider, ctx: &Context) -> Vec<String> {
    let namespace = provider.namespace();
    let name = provider.name_any();
    let mut users: Vec<String> = ctx
        .clusters
        .state()
        .iter()
        .filter(|c| c.namespace() == namespace)
        .filter(|c| c.spec.capacity_provider_refs.iter().any(|r| r.name == name))
        .map(|c| c.name_any())
        .collect();
    users.sort();
    users
}

async fn cleanup(
    api: &Api<CapacityProvider>,
    provider: &CapacityProvider,
    ctx: &Context,
) -> Result<Action, Error> {
    let policy = deletion_policy(provider, ctx);
    if policy == DeletionPolicy::Retain {
        ctx.event(
            provider,
            EventType::Normal,
            "Retained",
            "Delete",
            "deletionPolicy Retain: the capacity provider is left as it is".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let name = provider.provider_name();
    let write_deleting = |message: String| async move {
        let input = Input {
            previous: provider.status.as_ref(),
            generation: provider.metadata.generation,
            name: &name,
            deletion_policy: policy,
            now: Timestamp::now(),
        };
        let new_status = status::compute(&input, &Outcome::Deleting { message });
        write_status(api, provider, provider.status.as_ref(), &new_status).await
    };

    let users = clusters_using(provider, ctx);
    if !users.is_empty() {
        let message = format!(
            "capacity provider {} is still referenced by ECSCluster {}; it is deleted once they no longer reference it",
            provider.provider_name(),
            users.join(", ")
        );
        write_deleting(message.clone()).await?;
        return Err(Error::DeletionWaits(message));
    }

    let aws = aws_for(provider, ctx).await?;
    let ecs = &aws.ecs;
    let provider_name = provider.provider_name();
    let described =
        ecs_cl::describe_capacity_providers(ecs, std::slice::from_ref(&provider_name)).await?;
    let Some(observed) = described.found.get(&provider_name).filter(|p| p.exists()) else {
        // Already gone (or on its way) counts as done.
        return Ok(Action::await_change());
    };
    if ownership_of(&observed.tags, &provider.uid().unwrap_or_default()) != Ownership::Ours {
        // Never delete what we do not own.
        return Ok(Action::await_change());
    }
    if deletion_policy_for(
        &observed.tags,
        provider.spec.deletion_policy,
        ctx.config.default_deletion_policy,
    ) == DeletionPolicy::Retain
    {
        ctx.event(
            provider,
            EventType::Normal,
            "Retained",
            "Delete",
            "the capacity provider was adopted and deletionPolicy is not set to Delete: it is left as it is".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let answer = ecs_cl::delete_capacity_provider(ecs, &provider_name).await?;
    match answer {
        Some(after) if after.update_status.as_deref() == Some("DELETE_FAILED") => {
            // ECS refused (e.g. a cluster outside this namespace still has the provider):
            // retried with backoff, the reason in status.
            let err = AwsError {
                operation: "DeleteCapacityProvider",
                code: "DELETE_FAILED".into(),
                message: after
                    .update_status_reason
                    .unwrap_or_else(|| "ECS gave no reason".into()),
                class: ErrorClass::Retryable,
            };
            write_deleting(format!("{err}")).await?;
            Err(Error::Aws(err))
        }
        _ => {
            info!(arn = %observed.arn, "deleting capacity provider");
            ctx.event(
                provider,
                EventType::Normal,
                "Deleted",
                "Delete",
                format!("deleted capacity provider {}", observed.arn),
            )
            .await;
            // ECS deletes asynchronously; the next pass sees it INACTIVE or gone.
            let message = format!("ECS is deleting capacity provider {}", observed.arn);
            write_deleting(message.clone()).await?;
            Err(Error::DeletionWaits(message))
        }
    }
}
