//! One controller per kind, each in its own folder with the same files: `mod.rs` (wiring and
//! IO), `plan.rs` (pure decisions), `status.rs` (pure status), plus kind-specific helpers.

pub mod capacity_provider;
pub mod cloud_map_namespace;
#[cfg(test)]
mod conformance;
pub mod ecs_cluster;
pub mod ecs_scheduled_task;
pub mod ecs_service;
pub mod ecs_task;
pub mod observer;
pub mod task_definition;

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use kube::runtime::reflector::ObjectRef;

use crate::api::cloud_map_namespace::NamespaceType;
use crate::api::common::{FIELD_MANAGER, find_condition};
use crate::api::{CloudMapNamespace, ECSCluster, TaskDefinition};
use crate::aws::error::{AwsError, ErrorClass};
use crate::runtime::Context;

/// Errors a reconcile hands back to the controller runtime (which retries with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// Deletion waits for something outside this object (a user of it, an AWS drain).
    #[error("deletion waits: {0}")]
    DeletionWaits(String),
    #[error("object has no namespace")]
    NoNamespace,
}

/// Writes `status` with server-side apply on the status subresource, only when it differs
/// from what the object already has.
pub async fn write_status<K, S>(
    api: &Api<K>,
    obj: &K,
    current: Option<&S>,
    status: &S,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize + PartialEq,
{
    if current == Some(status) {
        return Ok(());
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(|_| ())
}

/// Adds ±10% jitter to a periodic delay so that objects created together do not resync
/// together.
pub fn jittered(period: std::time::Duration) -> std::time::Duration {
    use rand::Rng;
    period.mul_f64(rand::rng().random_range(0.9..1.1))
}

/// The class a failed reconcile backs off by. Terminal errors are retried too (slowly, by
/// the backoff's terminal class): a cleanup cannot finish otherwise, and an apply's terminal
/// problems are reported in status by the reconcile itself before it returns an error.
pub fn error_class(error: &Error) -> ErrorClass {
    use kube::runtime::finalizer::Error as FinalizerError;
    let class = match error {
        Error::Finalizer(inner) => match inner.as_ref() {
            FinalizerError::CleanupFailed(Error::Aws(aws))
            | FinalizerError::ApplyFailed(Error::Aws(aws)) => aws.class,
            _ => ErrorClass::Retryable,
        },
        Error::Aws(aws) => aws.class,
        _ => ErrorClass::Retryable,
    };
    if class == ErrorClass::Terminal {
        ErrorClass::Retryable
    } else {
        class
    }
}

/// The requeue after a failed reconcile of `obj`: per-object exponential backoff by the
/// error's class; a deletion waiting for something outside the object looks again after
/// `deletion_poll`.
pub fn backoff_after_error<K: Resource<DynamicType = ()>>(
    obj: &K,
    error: &Error,
    ctx: &Context,
    deletion_poll: std::time::Duration,
) -> kube::runtime::controller::Action {
    use kube::runtime::finalizer::Error as FinalizerError;
    if let Error::Finalizer(inner) = error
        && let FinalizerError::CleanupFailed(Error::DeletionWaits(_)) = inner.as_ref()
    {
        return kube::runtime::controller::Action::requeue(deletion_poll);
    }
    kube::runtime::controller::Action::requeue(
        ctx.backoff
            .next_delay(&Context::key(obj), error_class(error)),
    )
}

/// How often a deletion waiting for something outside the object looks again, unless its
/// kind knows better.
pub const DELETION_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// The ARN of ECSCluster `name` in `namespace` once it is Ready, for an object in `region`
/// acting as `role_arn`. `Err((message, stalled))` while it is not.
pub fn ready_cluster_arn(
    ctx: &Context,
    namespace: &str,
    name: &str,
    region: Option<&str>,
    role_arn: Option<&str>,
) -> Result<String, (String, bool)> {
    let key = ObjectRef::<ECSCluster>::new(name).within(namespace);
    let Some(cluster) = ctx.clusters.get(&key) else {
        return Err((
            format!("waiting for ECSCluster {name} (not found in namespace {namespace})"),
            false,
        ));
    };
    if cluster.spec.region.as_deref() != region || cluster.spec.role_arn.as_deref() != role_arn {
        return Err((
            format!(
                "ECSCluster {name} is in another Region or account: a task's region and roleArn must be its cluster's"
            ),
            true,
        ));
    }
    let status = cluster.status.clone().unwrap_or_default();
    let ready = find_condition(&status.conditions, "Ready").is_some_and(|c| c.status == "True");
    match (status.cluster_arn, ready) {
        (Some(arn), true) => Ok(arn),
        _ => Err((format!("waiting for ECSCluster {name} to be Ready"), false)),
    }
}

/// The current revision (ARN) of TaskDefinition `name` in `namespace` once it is Ready for
/// its current spec; `Err(message)` while it is not.
pub fn ready_task_definition_arn(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<String, String> {
    let key = ObjectRef::<TaskDefinition>::new(name).within(namespace);
    let Some(td) = ctx.task_definitions.get(&key) else {
        return Err(format!(
            "waiting for TaskDefinition {name} (not found in namespace {namespace})"
        ));
    };
    let status = td.status.clone().unwrap_or_default();
    let ready = find_condition(&status.conditions, "Ready").is_some_and(|c| c.status == "True");
    match (
        status.task_definition_arn,
        ready && status.observed_generation == td.metadata.generation,
    ) {
        (Some(arn), true) => Ok(arn),
        _ => Err(format!("waiting for TaskDefinition {name} to be Ready")),
    }
}

/// A CloudMapNamespace object that is Ready, as referencing objects need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyNamespace {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub type_: NamespaceType,
}

/// CloudMapNamespace `name` in `namespace` once it is Ready for its current spec, for an
/// object in `region` acting as `role_arn` (a namespace in another Region or account cannot
/// serve it). `Err(message)` while it is not.
pub fn ready_cloud_map_namespace(
    ctx: &Context,
    namespace: &str,
    name: &str,
    region: Option<&str>,
    role_arn: Option<&str>,
) -> Result<ReadyNamespace, String> {
    let key = ObjectRef::<CloudMapNamespace>::new(name).within(namespace);
    let Some(ns) = ctx.cloud_map_namespaces.get(&key) else {
        return Err(format!(
            "waiting for CloudMapNamespace {name} (not found in namespace {namespace})"
        ));
    };
    if ns.spec.region.as_deref() != region || ns.spec.role_arn.as_deref() != role_arn {
        return Err(format!(
            "CloudMapNamespace {name} is in another Region or account: its region and roleArn must be those of the objects that use it"
        ));
    }
    let status = ns.status.clone().unwrap_or_default();
    let ready = find_condition(&status.conditions, "Ready").is_some_and(|c| c.status == "True");
    match (
        status.namespace_id,
        status.arn,
        ready && status.observed_generation == ns.metadata.generation,
    ) {
        (Some(id), Some(arn), true) => Ok(ReadyNamespace {
            id,
            arn,
            name: ns.spec.name.clone(),
            type_: ns.spec.type_,
        }),
        _ => Err(format!("waiting for CloudMapNamespace {name} to be Ready")),
    }
}
