//! Batched observation of every managed ECS service.
//!
//! Instead of one DescribeServices per service per resync, the observer describes the
//! services of each cluster 10 at a time (ECS's batch size), spread over the resync interval,
//! and wakes the reconciler only for services whose observed state calls for it (drift, a
//! rollout moving, counts changing). Reconciles woken this way use the cached observation
//! instead of describing the service again.
//!
//! Services whose rollout is in progress are followed more closely, every [`ROLLOUT_POLL`],
//! in the same batches: 100 services rolling at once cost 10 DescribeServices per poll
//! rather than 100.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::api::ECSService;
use crate::aws::AwsClients;
use crate::aws::ecs_service::{self as ecs_svc, ObservedService};
use crate::controllers::observer::{Location, Rounds, locate};
use crate::runtime::Context;

/// How often services with a rollout in progress are observed.
pub const ROLLOUT_POLL: Duration = Duration::from_secs(2);
/// DescribeServices describes at most this many services of one cluster per call.
const DESCRIBE_BATCH: usize = 10;

/// The observation-cache key of service `name` in `cluster`, reached with `aws`.
pub fn service_key(aws: &AwsClients, cluster: &str, name: &str) -> String {
    Location::of(aws).key(&format!("{cluster}|{name}"))
}

/// The cluster a service is observed in: as written in the spec, or (with clusterRef) the
/// cluster it was created in. `None` until it was created by us, or while being deleted.
fn observed_cluster(svc: &ECSService) -> Option<String> {
    let status = svc.status.as_ref()?;
    status.service_arn.as_ref()?;
    if svc.metadata.deletion_timestamp.is_some() {
        return None;
    }
    svc.spec
        .cluster
        .clone()
        .or_else(|| status.cluster_arn.clone())
}

/// Services grouped by location and cluster: one DescribeServices call covers 10 of a group.
async fn groups(
    ctx: &Context,
    services: Vec<Arc<ECSService>>,
) -> BTreeMap<(Location, String), Vec<Arc<ECSService>>> {
    let observable: Vec<Arc<ECSService>> = services
        .into_iter()
        .filter(|svc| observed_cluster(svc).is_some())
        .collect();
    let located = locate(ctx, observable, |svc| {
        (svc.spec.region.clone(), svc.spec.role_arn.clone())
    })
    .await;
    let mut groups: BTreeMap<(Location, String), Vec<Arc<ECSService>>> = BTreeMap::new();
    for (location, services) in located {
        for svc in services {
            if let Some(cluster) = observed_cluster(&svc) {
                groups
                    .entry((location.clone(), cluster))
                    .or_default()
                    .push(svc);
            }
        }
    }
    groups
}

/// Services whose rollout the reconciler asked to follow closely.
#[derive(Debug, Default)]
pub struct Rollouts(Mutex<HashSet<ObjectRef<ECSService>>>);

impl Rollouts {
    /// Observe `svc` every [`ROLLOUT_POLL`] until [`Rollouts::forget`].
    pub fn follow(&self, svc: ObjectRef<ECSService>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(svc);
    }

    pub fn forget(&self, svc: &ObjectRef<ECSService>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(svc);
    }

    fn followed(&self) -> Vec<ObjectRef<ECSService>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// Runs until `stopped`: every resync interval, observes all managed services in batches and
/// sends the ones that need a reconcile to `trigger`.
pub async fn run(
    ctx: Arc<Context>,
    trigger: UnboundedSender<ObjectRef<ECSService>>,
    stopped: watch::Receiver<bool>,
) {
    let mut rounds = Rounds::new(ctx.config.resync_interval, stopped);
    while rounds.next().await {
        let groups = groups(&ctx, ctx.services.state()).await;
        let batches: usize = groups
            .values()
            .map(|g| g.len().div_ceil(DESCRIBE_BATCH))
            .sum();
        let pause = rounds.pause_between(batches);
        for ((location, cluster), services) in groups {
            for chunk in services.chunks(DESCRIBE_BATCH) {
                observe_batch(&ctx, &location, &cluster, chunk, &trigger).await;
                if !rounds.sleep(pause).await {
                    return;
                }
            }
        }
    }
}

/// Runs until `stopped`: every [`ROLLOUT_POLL`], observes the services whose rollout is
/// followed, in batches, and wakes those whose rollout moved.
pub async fn run_rollouts(
    ctx: Arc<Context>,
    trigger: UnboundedSender<ObjectRef<ECSService>>,
    stopped: watch::Receiver<bool>,
) {
    let mut rounds = Rounds::new(ROLLOUT_POLL, stopped);
    while rounds.next().await {
        let mut services = Vec::new();
        for reference in ctx.rollouts.followed() {
            match ctx.services.get(&reference) {
                Some(svc) => services.push(svc),
                None => ctx.rollouts.forget(&reference),
            }
        }
        if services.is_empty() {
            continue;
        }
        for ((location, cluster), services) in groups(&ctx, services).await {
            for chunk in services.chunks(DESCRIBE_BATCH) {
                observe_batch(&ctx, &location, &cluster, chunk, &trigger).await;
            }
        }
    }
}

async fn observe_batch(
    ctx: &Context,
    location: &Location,
    cluster: &str,
    services: &[Arc<ECSService>],
    trigger: &UnboundedSender<ObjectRef<ECSService>>,
) {
    let names: Vec<String> = services.iter().map(|s| s.service_name()).collect();
    let described = match location.clients(ctx).await {
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
        let observed: Option<&ObservedService> = described.found.get(&name);
        if super::needs_reconcile(svc, observed, ctx) {
            debug!(
                namespace = svc.namespace().unwrap_or_default(),
                name = svc.name_any(),
                "observation calls for a reconcile"
            );
            if let Some(observed) = observed {
                ctx.observations
                    .put(location.key(&format!("{cluster}|{name}")), observed.clone());
            }
            let _ = trigger.unbounded_send(ObjectRef::from(svc.as_ref()));
        }
    }
}
