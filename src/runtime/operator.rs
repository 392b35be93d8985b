//! Starts the controllers and runs them until shutdown.

use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::controller::Controller;
use kube::runtime::watcher;
use kube::{Api, Client};
use tracing::{info, warn};

use super::{Config, Context};
use crate::api::{ECSService, TaskDefinition};
use crate::aws::{AwsClients, AwsSettings};
use crate::controllers::task_definition;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    #[error("AWS client: {0}")]
    Aws(#[from] crate::aws::ClientError),
}

/// Everything `ecs-operator run` needs.
#[derive(Clone, Debug, Default)]
pub struct RunSettings {
    pub aws: AwsSettings,
    pub config: Config,
    pub concurrency: u16,
}

pub async fn run(settings: RunSettings) -> Result<(), RunError> {
    let client = Client::try_default().await?;
    let aws = AwsClients::new(&settings.aws).await?;
    info!(region = %aws.region, "starting controllers");

    let task_definitions: Api<TaskDefinition> = Api::all(client.clone());
    let services: Api<ECSService> = Api::all(client.clone());
    let controller_config =
        kube::runtime::controller::Config::default().concurrency(settings.concurrency);

    let td_controller = Controller::new(task_definitions, watcher::Config::default())
        .with_config(controller_config.clone())
        .watches(
            services.clone(),
            watcher::Config::default(),
            |svc: ECSService| {
                // A service moving off a revision may let an old revision be pruned.
                svc.spec.task_definition_ref.as_ref().and_then(|r| {
                    svc.metadata
                        .namespace
                        .as_ref()
                        .map(|ns| kube::runtime::reflector::ObjectRef::new(&r.name).within(ns))
                })
            },
        );
    let td_store = td_controller.store();
    let svc_watch = kube::runtime::reflector::store::<ECSService>();
    let (svc_store, svc_writer) = svc_watch;
    let svc_reflector =
        kube::runtime::reflector(svc_writer, watcher(services, watcher::Config::default()));

    let ctx = Context::new(client, aws, settings.config, td_store, svc_store);
    let td_run = td_controller
        .shutdown_on_signal()
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
    let svc_cache = svc_reflector.for_each(|_| async {});
    tokio::select! {
        _ = td_run => {},
        _ = svc_cache => {},
    }
    info!("controllers stopped");
    Ok(())
}
