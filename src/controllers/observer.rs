//! What the batched observers share: where objects are observed together (one account and
//! Region), the cache that hands an observation to the reconcile it woke, and the rhythm of
//! rounds and batches.
//!
//! An observer runs a round every interval: it groups the objects of its kind by location,
//! describes them with the batch API of their kind, and sends to its controller's trigger
//! channel only the objects whose observed state calls for a reconcile, after putting what it
//! saw into an [`ObservationCache`] so that the woken reconcile does not ask AWS again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::{Resource, ResourceExt};
use tokio::sync::watch;
use tracing::debug;

use crate::aws::AwsClients;
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

    /// Clients for this location.
    pub async fn clients(&self, ctx: &Context) -> Result<AwsClients, crate::aws::ClientError> {
        ctx.pool
            .clients_for(Some(&self.region), self.role_arn.as_deref())
            .await
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
    let mut granted: HashMap<(String, Option<String>, Option<String>), Option<String>> =
        HashMap::new();
    let mut groups: BTreeMap<Location, Vec<Arc<K>>> = BTreeMap::new();
    for obj in objects {
        let (region, role) = spec_location(&obj);
        let namespace = obj.namespace().unwrap_or_default();
        let key = (namespace.clone(), region.clone(), role.clone());
        let role_arn = match granted.get(&key) {
            Some(role) => role.clone(),
            None => match ctx
                .granted_role(&namespace, region.as_deref(), role.as_deref(), &[])
                .await
            {
                Ok(role) => {
                    granted.insert(key, role.clone());
                    role
                }
                Err(err) => {
                    // The object's own reconcile reports the refusal.
                    debug!(%namespace, error = %err, "not granted; its objects are not observed");
                    continue;
                }
            },
        };
        let location = Location {
            region: region.unwrap_or_else(|| ctx.pool.default_region().to_string()),
            role_arn,
        };
        groups.entry(location).or_default().push(obj);
    }
    groups
}

/// Observations waiting for the reconcile they triggered, by key (an AWS name at a location,
/// or an object's uid).
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

/// The rhythm of an observer: a round every `interval`, the batch calls of a round spread
/// over its first half rather than sent in a burst; it ends as soon as `stopped` changes.
pub struct Rounds {
    interval: Duration,
    stopped: watch::Receiver<bool>,
    /// Tokio's clock, like the sleeps (and paused in tests).
    started: Option<tokio::time::Instant>,
}

impl Rounds {
    pub fn new(interval: Duration, stopped: watch::Receiver<bool>) -> Self {
        Self {
            interval,
            stopped,
            started: None,
        }
    }

    /// Waits until the next round is due (the first one is due at once); `false` once the
    /// observer is to stop.
    pub async fn next(&mut self) -> bool {
        if let Some(started) = self.started {
            let rest = self.interval.saturating_sub(started.elapsed());
            if !self.sleep(rest).await {
                return false;
            }
        }
        self.started = Some(tokio::time::Instant::now());
        !*self.stopped.borrow()
    }

    /// The pause after each batch call when a round makes `batches` of them.
    pub fn pause_between(&self, batches: usize) -> Duration {
        pause_between(self.interval, batches)
    }

    /// Sleeps for `duration` unless told to stop first; `false` once the observer is to stop.
    pub async fn sleep(&mut self, duration: Duration) -> bool {
        if *self.stopped.borrow() {
            return false;
        }
        if duration.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(duration) => !*self.stopped.borrow(),
            _ = self.stopped.changed() => false,
        }
    }
}

/// `batches` calls spread over the first half of `interval`: the pause after each.
pub fn pause_between(interval: Duration, batches: usize) -> Duration {
    if batches > 1 {
        (interval / 2) / u32::try_from(batches).unwrap_or(u32::MAX)
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_spread_over_half_the_interval() {
        let interval = Duration::from_secs(60);
        assert_eq!(pause_between(interval, 0), Duration::ZERO);
        assert_eq!(pause_between(interval, 1), Duration::ZERO);
        assert_eq!(pause_between(interval, 3), Duration::from_secs(10));
    }

    #[test]
    fn observations_are_taken_once_and_only_while_fresh() {
        let cache = ObservationCache::default();
        cache.put("a".into(), 1);
        assert_eq!(cache.take_fresh("a", Duration::from_secs(10)), Some(1));
        assert_eq!(cache.take_fresh("a", Duration::from_secs(10)), None);
        cache.put("b".into(), 2);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(cache.take_fresh("b", Duration::from_millis(1)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn rounds_come_every_interval_until_stopped() {
        let (stop, stopped) = watch::channel(false);
        let mut rounds = Rounds::new(Duration::from_secs(3), stopped);
        let start = tokio::time::Instant::now();
        assert!(rounds.next().await);
        assert!(rounds.sleep(Duration::from_secs(1)).await);
        assert!(rounds.next().await);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        let _ = stop.send(true);
        assert!(!rounds.next().await);
    }
}
