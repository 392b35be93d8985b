//! Batched periodic observation of every managed ECS cluster.
//!
//! Instead of one DescribeClusters per cluster per resync, the observer describes all
//! clusters 100 at a time (ECS's batch size), spread over the resync interval, and wakes the
//! reconciler only for clusters whose observed state calls for it (drift, counts changing).
//! Reconciles woken this way use the cached observation instead of describing again.

use std::sync::Arc;

use futures::channel::mpsc::UnboundedSender;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::api::ECSCluster;
use crate::aws::ecs_cluster::{self as ecs_cl, DESCRIBE_BATCH, ObservedCluster};
use crate::controllers::observer::{Location, Rounds, locate};
use crate::runtime::Context;

/// Clusters to observe: created by us (status has an ARN) and not being deleted.
pub fn observable(clusters: &[Arc<ECSCluster>]) -> Vec<Arc<ECSCluster>> {
    clusters
        .iter()
        .filter(|c| c.status.as_ref().is_some_and(|s| s.cluster_arn.is_some()))
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .cloned()
        .collect()
}

/// Runs until `stopped`: every resync interval, observes all managed clusters in batches and
/// sends the ones that need a reconcile to `trigger`.
pub async fn run(
    ctx: Arc<Context>,
    trigger: UnboundedSender<ObjectRef<ECSCluster>>,
    stopped: watch::Receiver<bool>,
) {
    let mut rounds = Rounds::new(ctx.config.resync_interval, stopped);
    while rounds.next().await {
        let groups = locate(&ctx, observable(&ctx.clusters.state()), |c| {
            (c.spec.region.clone(), c.spec.role_arn.clone())
        })
        .await;
        let batches: usize = groups
            .values()
            .map(|g| g.len().div_ceil(DESCRIBE_BATCH))
            .sum();
        let pause = rounds.pause_between(batches);
        for (location, clusters) in groups {
            for chunk in clusters.chunks(DESCRIBE_BATCH) {
                observe_batch(&ctx, &location, chunk, &trigger).await;
                if !rounds.sleep(pause).await {
                    return;
                }
            }
        }
    }
}

async fn observe_batch(
    ctx: &Context,
    location: &Location,
    clusters: &[Arc<ECSCluster>],
    trigger: &UnboundedSender<ObjectRef<ECSCluster>>,
) {
    let names: Vec<String> = clusters.iter().map(|c| c.cluster_name()).collect();
    let described = match location.clients(ctx).await {
        Ok(aws) => ecs_cl::describe_clusters(&aws.ecs, &names).await,
        Err(err) => Err(err.into()),
    };
    let described = match described {
        Ok(described) => described,
        Err(err) => {
            warn!(region = %location.region, error = %err, "periodic cluster observation failed; the affected clusters are reconciled");
            for cluster in clusters {
                let _ = trigger.unbounded_send(ObjectRef::from(cluster.as_ref()));
            }
            return;
        }
    };
    for cluster in clusters {
        let name = cluster.cluster_name();
        let observed: Option<&ObservedCluster> = described.found.get(&name);
        if super::needs_reconcile(cluster, observed, ctx) {
            debug!(
                namespace = cluster.namespace().unwrap_or_default(),
                name = cluster.name_any(),
                "observation calls for a reconcile"
            );
            if let Some(observed) = observed {
                ctx.cluster_observations
                    .put(location.key(&name), observed.clone());
            }
            let _ = trigger.unbounded_send(ObjectRef::from(cluster.as_ref()));
        }
    }
}
