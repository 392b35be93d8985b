//! Batched periodic observation of every managed ECS cluster.
//!
//! Instead of one DescribeClusters per cluster per resync, the observer describes all
//! clusters 100 at a time (ECS's batch size), spread over the resync interval, and wakes the
//! reconciler only for clusters whose observed state calls for it (drift, counts changing).
//! Reconciles woken this way use the cached observation instead of describing again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::mpsc::UnboundedSender;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::api::ECSCluster;
use crate::aws::AwsClients;
use crate::aws::ecs_cluster::{self as ecs_cl, DESCRIBE_BATCH, ObservedCluster};
use crate::runtime::Context;

/// Where objects are observed together: one Describe call covers one account and Region.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub region: String,
    /// IAM role the clients act as (`None`: the operator's own identity).
    pub role_arn: Option<String>,
}

impl Location {
    /// The cache key of the AWS resource `name` at this location.
    pub fn key(&self, name: &str) -> String {
        format!(
            "{}|{}|{name}",
            self.region,
            self.role_arn.as_deref().unwrap_or_default()
        )
    }

    /// The location `aws` reaches.
    pub fn of(aws: &AwsClients) -> Self {
        Self {
            region: aws.region.clone(),
            role_arn: aws.role_arn.clone(),
        }
    }
}

/// Groups objects by location: their `region` or the operator's, their `roleArn` or their
/// namespace's role. Objects whose namespace cannot be read are skipped this round.
pub async fn locate<K>(
    ctx: &Context,
    objects: Vec<Arc<K>>,
    spec_location: impl Fn(&K) -> (Option<String>, Option<String>),
) -> BTreeMap<Location, Vec<Arc<K>>>
where
    K: Resource,
{
    let mut namespace_roles: HashMap<String, Option<String>> = HashMap::new();
    let mut groups: BTreeMap<Location, Vec<Arc<K>>> = BTreeMap::new();
    for obj in objects {
        let (region, role) = spec_location(&obj);
        let role_arn = match role {
            Some(role) => Some(role),
            None => {
                let namespace = obj.namespace().unwrap_or_default();
                if !namespace_roles.contains_key(&namespace) {
                    match ctx.namespace_roles.role_arn(&namespace).await {
                        Ok(role) => {
                            namespace_roles.insert(namespace.clone(), role);
                        }
                        Err(err) => {
                            warn!(%namespace, error = %err, "cannot read the namespace's IAM role; its objects are observed later");
                            continue;
                        }
                    }
                }
                namespace_roles.get(&namespace).cloned().flatten()
            }
        };
        let location = Location {
            region: region.unwrap_or_else(|| ctx.pool.default_region().to_string()),
            role_arn,
        };
        groups.entry(location).or_default().push(obj);
    }
    groups
}

/// Observations waiting for the reconcile they triggered, by AWS name.
#[derive(Debug)]
pub struct ObservationCache<T> {
    entries: Mutex<HashMap<String, (T, Instant)>>,
}

impl<T> Default for ObservationCache<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> ObservationCache<T> {
    pub fn put(&self, key: String, observed: T) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(key, (observed, Instant::now()));
    }

    /// Takes an observation younger than `max_age`, so that it is used at most once.
    pub fn take_fresh(&self, key: &str, max_age: Duration) -> Option<T> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (observed, at) = entries.remove(key)?;
        (at.elapsed() <= max_age).then_some(observed)
    }

    pub fn invalidate(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
    }
}

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
    mut stopped: watch::Receiver<bool>,
) {
    let interval = ctx.config.resync_interval;
    loop {
        let started = Instant::now();
        let groups = locate(&ctx, observable(&ctx.clusters.state()), |c| {
            (c.spec.region.clone(), c.spec.role_arn.clone())
        })
        .await;
        let batches: usize = groups
            .values()
            .map(|g| g.len().div_ceil(DESCRIBE_BATCH))
            .sum();
        // Spread the batches over the first half of the interval rather than bursting.
        let pause = if batches > 1 {
            (interval / 2) / u32::try_from(batches).unwrap_or(u32::MAX)
        } else {
            Duration::ZERO
        };
        for (location, clusters) in groups {
            for chunk in clusters.chunks(DESCRIBE_BATCH) {
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
    clusters: &[Arc<ECSCluster>],
    trigger: &UnboundedSender<ObjectRef<ECSCluster>>,
) {
    let names: Vec<String> = clusters.iter().map(|c| c.cluster_name()).collect();
    let described = match ctx
        .pool
        .clients_for(Some(&location.region), location.role_arn.as_deref())
        .await
    {
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
