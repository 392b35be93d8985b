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
use crate::aws::ecs_service::{self as ecs_svc, ObservedService};
use crate::runtime::Context;

/// (cluster as written in the spec, service name).
pub type ServiceKey = (String, String);

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
/// cluster.
pub fn group_by_cluster(services: &[Arc<ECSService>]) -> BTreeMap<String, Vec<Arc<ECSService>>> {
    let mut groups: BTreeMap<String, Vec<Arc<ECSService>>> = BTreeMap::new();
    for svc in services {
        let created = svc.status.as_ref().is_some_and(|s| s.service_arn.is_some());
        if created && svc.metadata.deletion_timestamp.is_none() {
            groups
                .entry(svc.spec.cluster.clone())
                .or_default()
                .push(Arc::clone(svc));
        }
    }
    groups
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
        let groups = group_by_cluster(&ctx.services.state());
        let batches: usize = groups.values().map(|g| g.len().div_ceil(10)).sum();
        // Spread the batches over the first half of the interval rather than bursting.
        let pause = if batches > 1 {
            (interval / 2) / u32::try_from(batches).unwrap_or(u32::MAX)
        } else {
            Duration::ZERO
        };
        for (cluster, services) in groups {
            for chunk in services.chunks(10) {
                if *stopped.borrow() {
                    return;
                }
                observe_batch(&ctx, &cluster, chunk, &trigger).await;
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
    cluster: &str,
    services: &[Arc<ECSService>],
    trigger: &UnboundedSender<ObjectRef<ECSService>>,
) {
    let names: Vec<String> = services.iter().map(|s| s.service_name()).collect();
    let described = match ecs_svc::describe(&ctx.aws.ecs, cluster, &names).await {
        Ok(described) => described,
        Err(err) => {
            warn!(%cluster, error = %err, "periodic observation failed; the affected services are reconciled");
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
        if super::needs_reconcile(svc, observed) {
            debug!(
                namespace = svc.namespace().unwrap_or_default(),
                name = svc.name_any(),
                "observation calls for a reconcile"
            );
            if let Some(observed) = observed {
                ctx.observations
                    .put((cluster.to_string(), name), observed.clone());
            }
            let _ = trigger.unbounded_send(ObjectRef::from(svc.as_ref()));
        }
    }
}
