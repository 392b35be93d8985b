//! Starts the controllers and runs them until shutdown.
//!
//! The caches of all kinds run from start to end, so that a standby replica is ready to take
//! over at once. The controllers (reconcilers and the batched observer) run only while this
//! instance leads: they start when the Lease is taken, are cut off at once when it is lost
//! (reconciles are idempotent under crash), and finish their in-flight reconciles on shutdown
//! before the Lease is released.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use kube::Client;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::context::Stores;
use super::crds::{self, InstallError};
use super::health::{self, Guard, Health, MetricsServing};
use super::leader::{LeaderElector, LeaseConfig};
use super::metrics::Metrics;
use super::metrics_access::MetricsAccess;
use super::tls::{self, TlsError};
use super::watch::{WatchScope, Watched, watch};
use super::{Config, Context};
use crate::api::{
    CapacityProvider, CloudMapNamespace, ECSCluster, ECSScheduledTask, ECSService, ECSTask,
    TaskDefinition,
};
use crate::aws::metrics::ApiCalls;
use crate::aws::{AwsSettings, ClientPool};
use crate::controllers::Error as ControllerError;
use crate::controllers::{
    capacity_provider, cloud_map_namespace, ecs_cluster, ecs_scheduled_task, ecs_service, ecs_task,
    task_definition,
};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    #[error("AWS client: {0}")]
    Aws(#[from] crate::aws::ClientError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("installing CRDs: {0}")]
    Crds(#[from] InstallError),
    #[error("metrics serving certificate: {0}")]
    Tls(#[from] TlsError),
}

/// Everything `ecs-operator run` needs.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub aws: AwsSettings,
    pub config: Config,
    /// Parallel reconciles per kind.
    pub concurrency: u16,
    /// Namespaces to watch; empty watches all namespaces.
    pub namespaces: Vec<String>,
    /// Label selector restricting the objects this instance manages.
    pub label_selector: Option<String>,
    /// Reconcile only while holding this Lease; `None` reconciles at once (one instance).
    pub leader_election: Option<LeaseConfig>,
    /// Serve Prometheus metrics on `/metrics` here.
    pub metrics_addr: Option<SocketAddr>,
    /// TLS and access checks on `/metrics`, or plain HTTP.
    pub metrics_serving: MetricsServing,
    /// Serve `/healthz` and `/readyz` here.
    pub health_addr: Option<SocketAddr>,
    /// Apply the CRDs at start-up and wait until they are Established.
    pub install_crds: bool,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            aws: AwsSettings::default(),
            config: Config::default(),
            concurrency: 16,
            namespaces: Vec::new(),
            label_selector: None,
            leader_election: None,
            metrics_addr: None,
            metrics_serving: MetricsServing::default(),
            health_addr: None,
            install_crds: false,
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

/// Waits until `stopped` turns true (or its sender is dropped).
async fn stop_future(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Tasks that live as long as the run; aborted when it ends, also when the run itself is
/// aborted.
#[derive(Default)]
struct Background(Vec<JoinHandle<()>>);

impl Background {
    fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.0.push(tokio::spawn(task));
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

async fn listen(addr: Option<SocketAddr>) -> Result<Option<TcpListener>, RunError> {
    match addr {
        None => Ok(None),
        Some(addr) => health::bind(addr)
            .await
            .map(Some)
            .map_err(|source| RunError::Listen { addr, source }),
    }
}

/// The caches of every kind, shared by the controllers and the cross-kind look-ups.
struct Caches {
    task_definitions: Watched<TaskDefinition>,
    services: Watched<ECSService>,
    clusters: Watched<ECSCluster>,
    capacity_providers: Watched<CapacityProvider>,
    cloud_map_namespaces: Watched<CloudMapNamespace>,
    tasks: Watched<ECSTask>,
    scheduled_tasks: Watched<ECSScheduledTask>,
}

impl Caches {
    /// Waits until every cache holds its first complete listing. Only one task may wait
    /// like this at a time: `Store::wait_until_ready` wakes a single waiter; others wait on
    /// the `synced` channel of `run_with_client`.
    async fn synced(&self) {
        let (task_definitions, services) = (self.task_definitions.store(), self.services.store());
        let (clusters, capacity_providers) =
            (self.clusters.store(), self.capacity_providers.store());
        let cloud_map_namespaces = self.cloud_map_namespaces.store();
        let tasks = self.tasks.store();
        let scheduled_tasks = self.scheduled_tasks.store();
        let _ = tokio::join!(
            task_definitions.wait_until_ready(),
            services.wait_until_ready(),
            clusters.wait_until_ready(),
            capacity_providers.wait_until_ready(),
            cloud_map_namespaces.wait_until_ready(),
            tasks.wait_until_ready(),
            scheduled_tasks.wait_until_ready(),
        );
    }
}

/// Runs the operator with `client` until `stopped` turns true: in-flight reconciles finish
/// first, then the Lease (if any) is released. AWS calls are counted in `calls`.
pub async fn run_with_client(
    client: Client,
    settings: RunSettings,
    calls: ApiCalls,
    stopped: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let pool = ClientPool::new(&settings.aws, calls.clone()).await?;
    // Listen first, so that a port in use fails the start at once.
    let metrics_listener = listen(settings.metrics_addr).await?;
    let health_listener = listen(settings.health_addr).await?;
    // A certificate that cannot be read fails the start, like a port in use.
    let metrics_guard = match (&metrics_listener, &settings.metrics_serving) {
        (Some(_), MetricsServing::Secure(certificate)) => Some(Guard {
            tls: tls::acceptor(certificate)?,
            access: Arc::new(MetricsAccess::new(client.clone(), "/metrics")),
        }),
        _ => None,
    };
    if settings.install_crds {
        crds::install(&client).await?;
    }
    let namespaces = if settings.namespaces.is_empty() {
        "<all>".to_string()
    } else {
        settings.namespaces.join(",")
    };
    info!(region = %pool.default_region(), %namespaces, selector = settings.label_selector.as_deref().unwrap_or_default(), "starting");

    let mut background = Background::default();
    let scope = WatchScope {
        namespaces: settings.namespaces.clone(),
        label_selector: settings.label_selector.clone(),
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "ecs-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    );
    let (task_definitions, cache) = watch::<TaskDefinition>(&client, &scope, recorder.clone());
    background.spawn(cache);
    let (services, cache) = watch::<ECSService>(&client, &scope, recorder.clone());
    background.spawn(cache);
    let (clusters, cache) = watch::<ECSCluster>(&client, &scope, recorder.clone());
    background.spawn(cache);
    let (capacity_providers, cache) = watch::<CapacityProvider>(&client, &scope, recorder.clone());
    background.spawn(cache);
    let (cloud_map_namespaces, cache) =
        watch::<CloudMapNamespace>(&client, &scope, recorder.clone());
    background.spawn(cache);
    let (tasks, cache) = watch::<ECSTask>(&client, &scope, recorder.clone());
    background.spawn(cache);
    let (scheduled_tasks, cache) = watch::<ECSScheduledTask>(&client, &scope, recorder);
    background.spawn(cache);
    let caches = Arc::new(Caches {
        task_definitions,
        services,
        clusters,
        capacity_providers,
        cloud_map_namespaces,
        tasks,
        scheduled_tasks,
    });

    let ctx = Context::new(
        client.clone(),
        pool,
        settings.config.clone(),
        Stores {
            task_definitions: caches.task_definitions.store(),
            services: caches.services.store(),
            clusters: caches.clusters.store(),
            capacity_providers: caches.capacity_providers.store(),
            cloud_map_namespaces: caches.cloud_map_namespaces.store(),
        },
    );

    let metrics = Metrics::new(calls);
    metrics.count_managed("TaskDefinition", caches.task_definitions.store(), |td| {
        td.status.as_ref().map(|s| s.conditions.as_slice())
    });
    metrics.count_managed("ECSService", caches.services.store(), |svc| {
        svc.status.as_ref().map(|s| s.conditions.as_slice())
    });
    metrics.count_managed("ECSTask", caches.tasks.store(), |task| {
        task.status.as_ref().map(|s| s.conditions.as_slice())
    });
    metrics.count_managed("ECSScheduledTask", caches.scheduled_tasks.store(), |task| {
        task.status.as_ref().map(|s| s.conditions.as_slice())
    });
    metrics.count_managed("ECSCluster", caches.clusters.store(), |cluster| {
        cluster.status.as_ref().map(|s| s.conditions.as_slice())
    });
    metrics.count_managed(
        "CapacityProvider",
        caches.capacity_providers.store(),
        |cp| cp.status.as_ref().map(|s| s.conditions.as_slice()),
    );
    metrics.count_managed(
        "CloudMapNamespace",
        caches.cloud_map_namespaces.store(),
        |ns| ns.status.as_ref().map(|s| s.conditions.as_slice()),
    );
    let health = Health::new(ctx.aws.ecs.clone());
    let (synced_tx, mut synced) = watch::channel(false);
    background.spawn({
        let caches = Arc::clone(&caches);
        let health = Arc::clone(&health);
        async move {
            caches.synced().await;
            info!("caches synced");
            health.set_caches_synced();
            let _ = synced_tx.send(true);
        }
    });
    if let Some(listener) = metrics_listener {
        if let Ok(addr) = listener.local_addr() {
            if metrics_guard.is_some() {
                info!(%addr, "serving metrics on /metrics over HTTPS to callers allowed to get /metrics");
            } else {
                if !addr.ip().is_loopback() {
                    warn!(%addr, "serving metrics over plain HTTP without authentication");
                }
                info!(%addr, "serving metrics on /metrics over plain HTTP");
            }
        }
        background.spawn(health::serve(
            listener,
            health::metrics_routes(metrics.clone()),
            metrics_guard,
        ));
    }
    if let Some(listener) = health_listener {
        if let Ok(addr) = listener.local_addr() {
            info!(%addr, "serving /healthz and /readyz");
        }
        background.spawn(health::serve(
            listener,
            health::health_routes(Arc::clone(&health)),
            None,
        ));
    }

    let elector = settings
        .leader_election
        .clone()
        .map(|config| LeaderElector::start(client.clone(), config));
    // Without leader election this instance always leads.
    let (_always, always_leading) = watch::channel(true);
    let mut leading = elector
        .as_ref()
        .map(LeaderElector::leading)
        .unwrap_or(always_leading);

    loop {
        tokio::select! {
            _ = leading.wait_for(|leading| *leading) => {}
            _ = stop_future(stopped.clone()) => break,
        }
        tokio::select! {
            _ = synced.wait_for(|synced| *synced) => {}
            _ = stop_future(stopped.clone()) => break,
        }
        metrics.set_leader(true);
        info!("leading: starting controllers");
        let controllers = run_controllers(
            Arc::clone(&ctx),
            Arc::clone(&caches),
            &settings,
            &metrics,
            stopped.clone(),
        );
        let mut lost = leading.clone();
        tokio::select! {
            // Ends only on shutdown, after in-flight reconciles.
            _ = controllers => break,
            _ = lost.wait_for(|leading| !*leading) => {
                // Dropping the controllers aborts their in-flight reconciles now, before
                // another instance may take over.
                metrics.set_leader(false);
                warn!("lost leadership: reconciles stopped; standing by");
            }
        }
    }
    metrics.set_leader(false);
    info!("controllers stopped");
    if let Some(elector) = elector {
        elector.release().await;
    }
    Ok(())
}

/// The controllers of every kind, fed by the shared caches, until `stopped`.
async fn run_controllers(
    ctx: Arc<Context>,
    caches: Arc<Caches>,
    settings: &RunSettings,
    metrics: &Metrics,
    stopped: watch::Receiver<bool>,
) {
    let config = kube::runtime::controller::Config::default().concurrency(settings.concurrency);
    // Everything is looked at once when leadership starts; changes trigger from then on.
    let everything_now = || futures::stream::once(async {});

    let (td_observed_tx, td_observed_rx) = futures::channel::mpsc::unbounded();
    let td_controller = Controller::for_shared_stream(
        caches.task_definitions.subscribe_changes(),
        caches.task_definitions.store(),
    )
    .with_config(config.clone())
    // A service moving off a revision may let an old revision be pruned, and a service
    // going away may unblock the deletion of the TaskDefinition it used. A service settled
    // on the current revision changes nothing for its TaskDefinition: not woken (rollout
    // polls would otherwise reconcile it every few seconds).
    .watches_shared_stream(
        caches.services.subscribe(),
        unsettled_users(caches.task_definitions.store()),
    )
    .reconcile_all_on(everything_now())
    .reconcile_on(td_observed_rx);

    let (observed_tx, observed_rx) = futures::channel::mpsc::unbounded();
    let referrers = caches.services.store();
    // A new revision of a TaskDefinition rolls the services that reference it at once.
    let svc_controller =
        Controller::for_shared_stream(caches.services.subscribe_changes(), caches.services.store())
            .with_config(config.clone())
            .watches_shared_stream(
                caches.task_definitions.subscribe_by(current_revision),
                move |td: Arc<TaskDefinition>| {
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
                },
            )
            .reconcile_on(observed_rx)
            .reconcile_all_on(everything_now());
    // A cluster becoming Ready starts the services that reference it; so does a Cloud Map
    // namespace.
    let svc_controller = svc_controller
        .watches_shared_stream(
            caches.clusters.subscribe(),
            referencing(caches.services.store(), |svc| svc.spec.cluster_ref.as_ref()),
        )
        .watches_shared_stream(
            caches.cloud_map_namespaces.subscribe(),
            referencing(caches.services.store(), |svc| {
                svc.spec.service_discovery.as_ref()?.namespace_ref.as_ref()
            }),
        );

    let namespace_controller = Controller::for_shared_stream(
        caches.cloud_map_namespaces.subscribe_changes(),
        caches.cloud_map_namespaces.store(),
    )
    .with_config(config.clone())
    // A service leaving the namespace may unblock the namespace's deletion.
    .watches_shared_stream(caches.services.subscribe(), |svc: Arc<ECSService>| {
        let namespace = svc.metadata.namespace.clone()?;
        svc.spec
            .service_discovery
            .as_ref()?
            .namespace_ref
            .as_ref()
            .map(|r| ObjectRef::new(&r.name).within(&namespace))
    })
    // So may a cluster dropping it as its Service Connect default.
    .watches_shared_stream(caches.clusters.subscribe(), |cluster: Arc<ECSCluster>| {
        let namespace = cluster.metadata.namespace.clone()?;
        cluster
            .spec
            .service_connect_defaults
            .as_ref()?
            .namespace_ref
            .as_ref()
            .map(|r| ObjectRef::new(&r.name).within(&namespace))
    })
    .reconcile_all_on(everything_now());

    let (cluster_observed_tx, cluster_observed_rx) = futures::channel::mpsc::unbounded();
    let cluster_controller =
        Controller::for_shared_stream(caches.clusters.subscribe_changes(), caches.clusters.store())
            .with_config(config.clone())
            // A service going away may unblock the deletion of its cluster; a service's
            // strategy may block dissociating a provider.
            .watches_shared_stream(caches.services.subscribe(), |svc: Arc<ECSService>| {
                let namespace = svc.metadata.namespace.clone()?;
                svc.spec
                    .cluster_ref
                    .as_ref()
                    .map(|r| ObjectRef::new(&r.name).within(&namespace))
            })
            // A provider becoming Ready (or going away) changes the clusters that use it.
            .watches_shared_stream(
                caches.capacity_providers.subscribe(),
                users_of_provider(caches.clusters.store()),
            )
            // So does the Cloud Map namespace of the Service Connect defaults.
            .watches_shared_stream(
                caches.cloud_map_namespaces.subscribe(),
                referencing(caches.clusters.store(), |c| {
                    c.spec
                        .service_connect_defaults
                        .as_ref()?
                        .namespace_ref
                        .as_ref()
                }),
            )
            .reconcile_on(cluster_observed_rx)
            .reconcile_all_on(everything_now());

    let (provider_observed_tx, provider_observed_rx) = futures::channel::mpsc::unbounded();
    let provider_controller = Controller::for_shared_stream(
        caches.capacity_providers.subscribe_changes(),
        caches.capacity_providers.store(),
    )
    .with_config(config.clone())
    // A cluster no longer referencing a provider may unblock the provider's deletion.
    .watches_shared_stream(caches.clusters.subscribe(), |cluster: Arc<ECSCluster>| {
        let namespace = cluster.metadata.namespace.clone().unwrap_or_default();
        cluster
            .spec
            .capacity_provider_refs
            .iter()
            .map(|r| ObjectRef::new(&r.name).within(&namespace))
            .collect::<Vec<_>>()
    })
    .reconcile_on(provider_observed_rx)
    .reconcile_all_on(everything_now());

    // A referenced ECSCluster or TaskDefinition becoming Ready starts the runs waiting for it;
    // the task observer wakes the runs whose tasks changed.
    let (task_observed_tx, task_observed_rx) = futures::channel::mpsc::unbounded();
    let task_controller =
        Controller::for_shared_stream(caches.tasks.subscribe_changes(), caches.tasks.store())
            .with_config(config.clone())
            .watches_shared_stream(
                caches.clusters.subscribe(),
                referencing(caches.tasks.store(), |t| t.spec.cluster_ref.as_ref()),
            )
            .watches_shared_stream(
                caches.task_definitions.subscribe_by(current_revision),
                referencing(caches.tasks.store(), |t| {
                    t.spec.task_definition_ref.as_ref()
                }),
            )
            .reconcile_on(task_observed_rx)
            .reconcile_all_on(everything_now());

    // A new revision of a referenced TaskDefinition updates the schedule's target at once; a
    // referenced ECSCluster becoming Ready creates the schedules waiting for it.
    let scheduled_controller = Controller::for_shared_stream(
        caches.scheduled_tasks.subscribe_changes(),
        caches.scheduled_tasks.store(),
    )
    .with_config(config.clone())
    .watches_shared_stream(
        caches.clusters.subscribe(),
        referencing(caches.scheduled_tasks.store(), |t| {
            t.spec.task.cluster_ref.as_ref()
        }),
    )
    .watches_shared_stream(
        caches.task_definitions.subscribe_by(current_revision),
        referencing(caches.scheduled_tasks.store(), |t| {
            t.spec.task.task_definition_ref.as_ref()
        }),
    )
    .reconcile_all_on(everything_now());

    let td_run = drive(
        td_controller,
        "TaskDefinition",
        task_definition::reconcile,
        task_definition::error_policy,
        &ctx,
        metrics,
        &stopped,
    );
    let svc_run = drive(
        svc_controller,
        "ECSService",
        ecs_service::reconcile,
        ecs_service::error_policy,
        &ctx,
        metrics,
        &stopped,
    );
    let cluster_run = drive(
        cluster_controller,
        "ECSCluster",
        ecs_cluster::reconcile,
        ecs_cluster::error_policy,
        &ctx,
        metrics,
        &stopped,
    );
    let provider_run = drive(
        provider_controller,
        "CapacityProvider",
        capacity_provider::reconcile,
        capacity_provider::error_policy,
        &ctx,
        metrics,
        &stopped,
    );
    let namespace_run = drive(
        namespace_controller,
        "CloudMapNamespace",
        cloud_map_namespace::reconcile,
        cloud_map_namespace::error_policy,
        &ctx,
        metrics,
        &stopped,
    );
    let task_run = drive(
        task_controller,
        "ECSTask",
        ecs_task::reconcile,
        ecs_task::error_policy,
        &ctx,
        metrics,
        &stopped,
    );
    let scheduled_run = drive(
        scheduled_controller,
        "ECSScheduledTask",
        ecs_scheduled_task::reconcile,
        ecs_scheduled_task::error_policy,
        &ctx,
        metrics,
        &stopped,
    );
    let cluster_observer =
        ecs_cluster::observer::run(Arc::clone(&ctx), cluster_observed_tx, stopped.clone());
    let provider_observer =
        capacity_provider::observer::run(Arc::clone(&ctx), provider_observed_tx, stopped.clone());
    let td_observer =
        task_definition::observer::run(Arc::clone(&ctx), td_observed_tx, stopped.clone());
    let task_observer = ecs_task::observer::run(
        Arc::clone(&ctx),
        caches.tasks.store(),
        task_observed_tx,
        stopped.clone(),
    );
    let rollout_observer =
        ecs_service::observer::run_rollouts(Arc::clone(&ctx), observed_tx.clone(), stopped.clone());
    let observer = ecs_service::observer::run(Arc::clone(&ctx), observed_tx, stopped);
    tokio::join!(
        td_run,
        td_observer,
        svc_run,
        namespace_run,
        cluster_run,
        provider_run,
        task_run,
        scheduled_run,
        observer,
        rollout_observer,
        cluster_observer,
        provider_observer,
        task_observer
    );
}

/// Runs `controller` until `stopped` (in-flight reconciles finish first), reconciling with
/// `reconcile` and `error_policy`, counted in `metrics` as `kind`; failures are logged.
fn drive<K, Fut>(
    controller: Controller<K>,
    kind: &'static str,
    reconcile: fn(Arc<K>, Arc<Context>) -> Fut,
    error_policy: fn(Arc<K>, &ControllerError, Arc<Context>) -> Action,
    ctx: &Arc<Context>,
    metrics: &Metrics,
    stopped: &watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + use<K, Fut>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    Fut: std::future::Future<Output = Result<Action, ControllerError>> + Send + 'static,
{
    controller
        .graceful_shutdown_on(stop_future(stopped.clone()))
        .run(
            metrics.instrument(kind, reconcile),
            error_policy,
            Arc::clone(ctx),
        )
        .for_each(move |result| async move {
            if let Err(err) = result {
                warn!(error = %err, "{kind} reconcile failed");
            }
        })
}

/// Maps a changed object to the objects of kind `R` in its namespace whose `reference`
/// names it.
fn referencing<K, R>(
    referrers: kube::runtime::reflector::Store<R>,
    reference: fn(&R) -> Option<&crate::api::common::LocalObjectReference>,
) -> impl Fn(Arc<K>) -> Vec<ObjectRef<R>>
where
    K: kube::Resource,
    R: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    move |obj: Arc<K>| {
        let meta = obj.meta();
        let namespace = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        referrers
            .state()
            .into_iter()
            .filter(|r| r.meta().namespace.as_deref() == Some(namespace.as_str()))
            .filter(|r| reference(r).is_some_and(|r| r.name == name))
            .map(|r| ObjectRef::from(r.as_ref()))
            .collect()
    }
}

/// What a TaskDefinition means to the objects that reference it: its current revision and
/// whether it is Ready for its spec. Its other status changes wake none of them.
fn current_revision(td: &TaskDefinition) -> (Option<String>, Option<String>, bool) {
    let status = td.status.as_ref();
    let ready = status.is_some_and(|s| {
        s.observed_generation == td.metadata.generation
            && crate::api::common::find_condition(&s.conditions, "Ready")
                .is_some_and(|c| c.status == "True")
    });
    (
        td.metadata.uid.clone(),
        status.and_then(|s| s.task_definition_arn.clone()),
        ready,
    )
}

/// Maps a changed ECSService to the TaskDefinition it references, unless the service is
/// settled on that TaskDefinition's current revision (not being deleted, every deployment on
/// the current revision).
fn unsettled_users(
    task_definitions: kube::runtime::reflector::Store<TaskDefinition>,
) -> impl Fn(Arc<ECSService>) -> Option<ObjectRef<TaskDefinition>> {
    move |svc: Arc<ECSService>| {
        let namespace = svc.metadata.namespace.clone()?;
        let key = ObjectRef::new(&svc.spec.task_definition_ref.as_ref()?.name).within(&namespace);
        let current = task_definitions
            .get(&key)
            .and_then(|td| td.status.as_ref()?.task_definition_arn.clone());
        let settled = svc.metadata.deletion_timestamp.is_none()
            && current.is_some()
            && svc.status.as_ref().is_some_and(|s| {
                s.task_definition_arn == current
                    && s.deployments.iter().all(|d| d.task_definition == current)
            });
        (!settled).then_some(key)
    }
}

/// Maps a changed CapacityProvider to the ECSClusters of its namespace that reference it.
fn users_of_provider(
    clusters: kube::runtime::reflector::Store<ECSCluster>,
) -> impl Fn(Arc<CapacityProvider>) -> Vec<ObjectRef<ECSCluster>> {
    move |provider: Arc<CapacityProvider>| {
        let namespace = provider.metadata.namespace.clone().unwrap_or_default();
        let name = provider.metadata.name.clone().unwrap_or_default();
        clusters
            .state()
            .into_iter()
            .filter(|c| c.metadata.namespace.as_deref() == Some(namespace.as_str()))
            .filter(|c| c.spec.capacity_provider_refs.iter().any(|r| r.name == name))
            .map(|c| ObjectRef::from(c.as_ref()))
            .collect()
    }
}
