//! Batched periodic observation of every managed ECS service.
//!
//! Instead of one DescribeServices per service per resync, the observer describes the
//! services of each cluster 10 at a time (ECS's batch size), spread over the resync interval,
//! and wakes the reconciler only for services whose observed state calls for it (drift, a
//! rollout moving, counts changing). Reconciles woken this way use the cached observation
//! instead of describing the service again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::mpsc::UnboundedSender;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::api::ECSService;
use crate::aws::AwsClients;
use crate::aws::ecs_service::{self as ecs_svc, ObservedService};
use crate::runtime::Context;

/// Services observed together: one DescribeServices call covers one cluster of one account
/// and Region.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub region: String,
    /// IAM role the clients act as (`None`: the operator's own identity).
    pub role_arn: Option<String>,
    /// Cluster as written in the spec.
    pub cluster: String,
}

/// One service's observation: its location and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceKey {
    pub location: Location,
    pub name: String,
}

impl ServiceKey {
    /// The key of service `name` in `cluster`, reached with `aws`.
    pub fn new(aws: &AwsClients, cluster: &str, name: &str) -> Self {
        Self {
            location: Location {
                region: aws.region.clone(),
                role_arn: aws.role_arn.clone(),
                cluster: cluster.to_string(),
            },
            name: name.to_string(),
        }
    }
}

/// Observations waiting for the reconcile they triggered.
#[derive(Default, Debug)]
pub struct ObservationCache {
    entries: Mutex<HashMap<ServiceKey, (ObservedService, Instant)>>,
}

impl ObservationCache {
    pub fn put(&self, key: ServiceKey, observed: ObservedService) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(key, (observed, Instant::now()));
    }

    /// Takes an observation younger than `max_age`, so that it is used at most once.
    pub fn take_fresh(&self, key: &ServiceKey, max_age: Duration) -> Option<ObservedService> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (observed, at) = entries.remove(key)?;
        (at.elapsed() <= max_age).then_some(observed)
    }

    pub fn invalidate(&self, key: &ServiceKey) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
    }
}

/// Services to observe: created by us (status has an ARN) and not being deleted, grouped by
/// location (`location` gives a service's; `None` skips it this round).
pub fn group_by_location(
    services: &[Arc<ECSService>],
    location: impl Fn(&ECSService) -> Option<Location>,
) -> BTreeMap<Location, Vec<Arc<ECSService>>> {
    let mut groups: BTreeMap<Location, Vec<Arc<ECSService>>> = BTreeMap::new();
    for svc in services {
        let created = svc.status.as_ref().is_some_and(|s| s.service_arn.is_some());
        if created
            && svc.metadata.deletion_timestamp.is_none()
            && let Some(location) = location(svc)
        {
            groups.entry(location).or_default().push(Arc::clone(svc));
        }
    }
    groups
}

/// The services' locations: their Region or the operator's, their role or their namespace's.
/// Services whose namespace cannot be read are skipped this round.
async fn locate(
    ctx: &Context,
    services: &[Arc<ECSService>],
) -> BTreeMap<Location, Vec<Arc<ECSService>>> {
    let mut namespace_roles: HashMap<String, Option<String>> = HashMap::new();
    for svc in services.iter().filter(|svc| svc.spec.role_arn.is_none()) {
        let namespace = svc.namespace().unwrap_or_default();
        if namespace_roles.contains_key(&namespace) {
            continue;
        }
        match ctx.namespace_roles.role_arn(&namespace).await {
            Ok(role) => {
                namespace_roles.insert(namespace, role);
            }
            Err(err) => {
                warn!(%namespace, error = %err, "cannot read the namespace's IAM role; its services are observed later")
            }
        }
    }
    let default_region = ctx.pool.default_region();
    group_by_location(services, |svc| {
        let role_arn = match &svc.spec.role_arn {
            Some(role) => Some(role.clone()),
            None => namespace_roles.get(&svc.namespace()?)?.clone(),
        };
        Some(Location {
            region: svc
                .spec
                .region
                .clone()
                .unwrap_or_else(|| default_region.to_string()),
            role_arn,
            // With clusterRef, the cluster the service was created in.
            cluster: svc
                .spec
                .cluster
                .clone()
                .or_else(|| svc.status.as_ref()?.cluster_arn.clone())?,
        })
    })
}

/// Runs until `stopped`: every resync interval, observes all managed services in batches and
/// sends the ones that need a reconcile to `trigger`.
pub async fn run(
    ctx: Arc<Context>,
    trigger: UnboundedSender<ObjectRef<ECSService>>,
    mut stopped: watch::Receiver<bool>,
) {
    let interval = ctx.config.resync_interval;
    loop {
        let started = Instant::now();
        let groups = locate(&ctx, &ctx.services.state()).await;
        let batches: usize = groups.values().map(|g| g.len().div_ceil(10)).sum();
        // Spread the batches over the first half of the interval rather than bursting.
        let pause = if batches > 1 {
            (interval / 2) / u32::try_from(batches).unwrap_or(u32::MAX)
        } else {
            Duration::ZERO
        };
        for (location, services) in groups {
            for chunk in services.chunks(10) {
                if *stopped.borrow() {
                    return;
                }
                observe_batch(&ctx, &location, chunk, &trigger).await;
                if !pause.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {},
                        _ = stopped.changed() => return,
                    }
                }
            }
        }
        let rest = interval.saturating_sub(started.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(rest) => {},
            _ = stopped.changed() => return,
        }
    }
}

async fn observe_batch(
    ctx: &Context,
    location: &Location,
    services: &[Arc<ECSService>],
    trigger: &UnboundedSender<ObjectRef<ECSService>>,
) {
    let cluster = location.cluster.as_str();
    let names: Vec<String> = services.iter().map(|s| s.service_name()).collect();
    let described = match ctx
        .pool
        .clients_for(Some(&location.region), location.role_arn.as_deref())
        .await
    {
        Ok(aws) => ecs_svc::describe(&aws.ecs, cluster, &names).await,
        Err(err) => Err(err.into()),
    };
    let described = match described {
        Ok(described) => described,
        Err(err) => {
            warn!(%cluster, region = %location.region, error = %err, "periodic observation failed; the affected services are reconciled");
            // Let each reconcile observe and report the problem itself.
            for svc in services {
                let _ = trigger.unbounded_send(ObjectRef::from(svc.as_ref()));
            }
            return;
        }
    };
    for svc in services {
        let name = svc.service_name();
        let observed = described.found.get(&name);
        if super::needs_reconcile(svc, observed, ctx) {
            debug!(
                namespace = svc.namespace().unwrap_or_default(),
                name = svc.name_any(),
                "observation calls for a reconcile"
            );
            if let Some(observed) = observed {
                let key = ServiceKey {
                    location: location.clone(),
                    name,
                };
                ctx.observations.put(key, observed.clone());
            }
            let _ = trigger.unbounded_send(ObjectRef::from(svc.as_ref()));
        }
    }
}
