//! Starts the controllers and runs them until shutdown.

use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{info, warn};

use super::{Config, Context};
use crate::api::{ECSService, TaskDefinition};
use crate::aws::metrics::ApiCalls;
use crate::aws::{AwsClients, AwsSettings};
use crate::controllers::{ecs_service, task_definition};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    #[error("AWS client: {0}")]
    Aws(#[from] crate::aws::ClientError),
}

/// Everything `ecs-operator run` needs.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub aws: AwsSettings,
    pub config: Config,
    /// Parallel reconciles per kind.
    pub concurrency: u16,
    /// Namespace to watch; `None` watches all namespaces.
    pub namespace: Option<String>,
    /// Label selector restricting the objects this instance manages.
    pub label_selector: Option<String>,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            aws: AwsSettings::default(),
            config: Config::default(),
            concurrency: 16,
            namespace: None,
            label_selector: None,
        }
    }
}

/// Runs the operator with the kubeconfig or in-cluster config until SIGTERM/SIGINT.
pub async fn run(settings: RunSettings) -> Result<(), RunError> {
    let client = Client::try_default().await?;
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutdown requested: finishing in-flight reconciles");
        let _ = stop.send(true);
    });
    run_with_client(client, settings, ApiCalls::default(), stopped).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Waits until `stopped` turns true (or its sender is dropped).
async fn stop_future(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Runs every controller with `client` until `stopped` turns true; in-flight reconciles
/// finish first. AWS calls are counted in `calls`.
pub async fn run_with_client(
    client: Client,
    settings: RunSettings,
    calls: ApiCalls,
    stopped: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let aws = AwsClients::new(&settings.aws, calls).await?;
    info!(region = %aws.region, namespace = settings.namespace.as_deref().unwrap_or("<all>"), "starting controllers");

    let mut watch_config = watcher::Config::default();
    if let Some(selector) = &settings.label_selector {
        watch_config = watch_config.labels(selector);
    }
    let namespace = settings.namespace.as_deref();
    let task_definitions: Api<TaskDefinition> = api(&client, namespace);
    let services: Api<ECSService> = api(&client, namespace);
    let controller_config =
        kube::runtime::controller::Config::default().concurrency(settings.concurrency);

    let td_controller = Controller::new(task_definitions.clone(), watch_config.clone())
        .with_config(controller_config.clone())
        // A service moving off a revision may let an old revision be pruned, and a service
        // going away may unblock the deletion of the TaskDefinition it used.
        .watches(services.clone(), watch_config.clone(), |svc: ECSService| {
            let namespace = svc.metadata.namespace.clone()?;
            svc.spec
                .task_definition_ref
                .as_ref()
                .map(|r| ObjectRef::new(&r.name).within(&namespace))
        });
    let td_store = td_controller.store();

    let (observed_tx, observed_rx) = futures::channel::mpsc::unbounded();
    let svc_controller =
        Controller::new(services, watch_config.clone()).with_config(controller_config);
    let svc_store = svc_controller.store();
    let referrers = svc_store.clone();
    // A new revision of a TaskDefinition rolls the services that reference it at once.
    let svc_controller = svc_controller
        .watches(task_definitions, watch_config, move |td: TaskDefinition| {
            let namespace = td.metadata.namespace.clone().unwrap_or_default();
            let name = td.metadata.name.clone().unwrap_or_default();
            referrers
                .state()
                .into_iter()
                .filter(|svc| svc.metadata.namespace.as_deref() == Some(namespace.as_str()))
                .filter(|svc| {
                    svc.spec
                        .task_definition_ref
                        .as_ref()
                        .is_some_and(|r| r.name == name)
                })
                .map(|svc| ObjectRef::from(svc.as_ref()))
                .collect::<Vec<_>>()
        })
        .reconcile_on(observed_rx);

    let ctx = Context::new(client, aws, settings.config, td_store, svc_store);
    let td_run = td_controller
        .graceful_shutdown_on(stop_future(stopped.clone()))
        .run(
            task_definition::reconcile,
            task_definition::error_policy,
            Arc::clone(&ctx),
        )
        .for_each(|result| async move {
            if let Err(err) = result {
                warn!(error = %err, "TaskDefinition reconcile failed");
            }
        });
    let svc_run = svc_controller
        .graceful_shutdown_on(stop_future(stopped.clone()))
        .run(
            ecs_service::reconcile,
            ecs_service::error_policy,
            Arc::clone(&ctx),
        )
        .for_each(|result| async move {
            if let Err(err) = result {
                warn!(error = %err, "ECSService reconcile failed");
            }
        });
    let observer = ecs_service::observer::run(Arc::clone(&ctx), observed_tx, stopped.clone());
    tokio::join!(td_run, svc_run, observer);
    info!("controllers stopped");
    Ok(())
}
