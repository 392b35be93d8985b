//! One controller per kind, each in its own folder with the same files: `mod.rs` (wiring and
//! IO), `plan.rs` (pure decisions), `status.rs` (pure status), plus kind-specific helpers.

pub mod capacity_provider;
pub mod cloud_map_namespace;
pub mod ecs_cluster;
pub mod ecs_service;
pub mod ecs_task;
pub mod task_definition;

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::common::FIELD_MANAGER;
use crate::aws::error::AwsError;

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
