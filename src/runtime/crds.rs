//! `--install-crds`: the operator applies its own CustomResourceDefinitions at start-up.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use tracing::info;

use crate::api::all_crds;
use crate::api::common::FIELD_MANAGER;

const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("applying CRD {name}: {source}")]
    Apply {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("reading CRD {name}: {source}")]
    Get {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("CRD {0} not Established after 60s")]
    NotEstablished(String),
}

fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

/// Server-side applies every CRD of `all_crds()` (field manager `ecs-operator`, forcing
/// ownership: the running version knows its schema best), then waits until each is
/// Established. Polls with get: the chart grants get/patch on these CRDs, not watch.
pub async fn install(client: &Client) -> Result<(), InstallError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut names = Vec::new();
    for crd in all_crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .map_err(|source| InstallError::Apply {
                name: name.clone(),
                source,
            })?;
        names.push(name);
    }
    let deadline = tokio::time::Instant::now() + ESTABLISH_TIMEOUT;
    for name in names {
        loop {
            let crd = api.get(&name).await.map_err(|source| InstallError::Get {
                name: name.clone(),
                source,
            })?;
            if established(&crd) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(InstallError::NotEstablished(name));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        info!(crd = %name, "CRD applied and Established");
    }
    Ok(())
}
