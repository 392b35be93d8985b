//! Batched periodic observation of every managed capacity provider: DescribeCapacityProviders
//! for up to 100 providers per call, spread over the resync interval, waking the reconciler
//! only for providers whose observed state calls for it.

use std::sync::Arc;

use futures::channel::mpsc::UnboundedSender;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::api::CapacityProvider;
use crate::aws::ecs_cluster::{self as ecs_cl, DESCRIBE_BATCH};
use crate::controllers::observer::{Location, Rounds, locate};
use crate::runtime::Context;

/// Providers to observe: created by us (status has an ARN) and not being deleted.
pub fn observable(providers: &[Arc<CapacityProvider>]) -> Vec<Arc<CapacityProvider>> {
    providers
        .iter()
        .filter(|p| {
            p.status
                .as_ref()
                .is_some_and(|s| s.capacity_provider_arn.is_some())
        })
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .cloned()
        .collect()
}

/// Runs until `stopped`: every resync interval, observes all managed providers in batches
/// and sends the ones that need a reconcile to `trigger`.
pub async fn run(
    ctx: Arc<Context>,
    trigger: UnboundedSender<ObjectRef<CapacityProvider>>,
    stopped: watch::Receiver<bool>,
) {
    let mut rounds = Rounds::new(ctx.config.resync_interval, stopped);
    while rounds.next().await {
        let groups = locate(&ctx, observable(&ctx.capacity_providers.state()), |p| {
            (p.spec.region.clone(), p.spec.role_arn.clone())
        })
        .await;
        let batches: usize = groups
            .values()
            .map(|g| g.len().div_ceil(DESCRIBE_BATCH))
            .sum();
        let pause = rounds.pause_between(batches);
        for (location, providers) in groups {
            for chunk in providers.chunks(DESCRIBE_BATCH) {
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
    providers: &[Arc<CapacityProvider>],
    trigger: &UnboundedSender<ObjectRef<CapacityProvider>>,
) {
    let names: Vec<String> = providers.iter().map(|p| p.provider_name()).collect();
    let described = match location.clients(ctx).await {
        Ok(aws) => ecs_cl::describe_capacity_providers(&aws.ecs, &names).await,
        Err(err) => Err(err.into()),
    };
    let described = match described {
        Ok(described) => described,
        Err(err) => {
            warn!(region = %location.region, error = %err, "periodic capacity provider observation failed; the affected providers are reconciled");
            for provider in providers {
                let _ = trigger.unbounded_send(ObjectRef::from(provider.as_ref()));
            }
            return;
        }
    };
    for provider in providers {
        let name = provider.provider_name();
        let observed = described.found.get(&name);
        if super::needs_reconcile(provider, observed) {
            debug!(
                namespace = provider.namespace().unwrap_or_default(),
                name = provider.name_any(),
                "observation calls for a reconcile"
            );
            if let Some(observed) = observed {
                ctx.capacity_provider_observations
                    .put(location.key(&name), observed.clone());
            }
            let _ = trigger.unbounded_send(ObjectRef::from(provider.as_ref()));
        }
    }
}
