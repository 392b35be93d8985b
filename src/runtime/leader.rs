//! Leader election on a `coordination.k8s.io/v1` Lease, so that only one replica reconciles.
//!
//! Every write carries the resourceVersion this instance last saw, so of two instances that
//! race for the Lease one gets 409 Conflict and reads again: there is no read-then-blind-write
//! window. Expiry is judged on this instance's own clock: how long the Lease record has not
//! changed since we saw it change. The holder's `renewTime` only refines when, between our
//! previous read and this one, the change happened ([`MAX_BACKDATE`] at most), so a skewed
//! clock cannot shorten a lease by more than that, which the leader's margin covers.
//!
//! The leader stops leading once it could not renew for `renew_deadline`, which is shorter
//! than `lease_duration`: it has stopped reconciling before any other instance may consider
//! the Lease expired. On shutdown the leader clears `holderIdentity` so that a standby takes
//! over at its next poll instead of waiting for expiry.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// The most a change of the Lease is dated back before we read it, from its `renewTime`.
/// Smaller than the leader's margin (`lease_duration - renew_deadline`), so that a standby
/// never takes over before the old leader stopped.
const MAX_BACKDATE: Duration = Duration::from_secs(2);

/// Where the Lease lives, who we are, and the timing.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// Unique per process: see [`default_identity`].
    pub identity: String,
    /// How long others wait after the last renewal before taking over.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal. Shorter than
    /// `lease_duration`; the difference is the margin for stopping in-flight work.
    pub renew_deadline: Duration,
    /// How often the leader renews.
    pub renew_interval: Duration,
    /// How often a standby looks at the Lease, and the leader retries a failed renewal.
    pub retry_interval: Duration,
}

impl LeaseConfig {
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            // A standby takes over at most lease_duration (+ one retry) after the leader's
            // last renewal, so within 13 s of a crash; the leader stops reconciling at
            // renew_deadline, 2 s (MAX_BACKDATE) before anyone may take over.
            lease_duration: Duration::from_secs(12),
            renew_deadline: Duration::from_secs(8),
            renew_interval: Duration::from_secs(3),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// `<POD_NAME or host name>_<random suffix>`: unique even when a container restarts in the
/// same Pod, so that a new process never mistakes the old one's Lease for its own.
pub fn default_identity() -> String {
    use rand::Rng;
    let base = std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "ecs-operator".into());
    let suffix: String = (0..6)
        .map(|_| char::from(b'a' + rand::rng().random_range(0..26u8)))
        .collect();
    format!("{base}_{suffix}")
}

/// A running election. Dropping it stops campaigning without releasing the Lease (as a crash
/// would); [`LeaderElector::release`] hands the Lease over.
pub struct LeaderElector {
    leading: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl LeaderElector {
    /// Starts campaigning for the Lease in the background.
    pub fn start(client: Client, config: LeaseConfig) -> Self {
        let (leading_tx, leading) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let lease = LeaseLock::new(client, config);
        let task = tokio::spawn(campaign(lease, leading_tx, stop_rx));
        Self {
            leading,
            stop,
            task: Some(task),
        }
    }

    /// True while this instance holds the Lease.
    pub fn leading(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Stops campaigning and, when leading, clears the holder so that a standby takes over at
    /// once. Call it after the reconciles stopped.
    pub async fn release(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LeaderElector {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn campaign(
    mut lease: LeaseLock,
    leading: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let config = lease.config.clone();
    info!(lease = %config.name, namespace = %config.namespace, identity = %config.identity, "campaigning for leadership");
    loop {
        // Standby: poll until the Lease is free or expired.
        loop {
            if *stop.borrow() {
                return;
            }
            let started = Instant::now();
            let attempt = tokio::time::timeout(config.lease_duration, lease.try_acquire_or_renew());
            match attempt.await {
                Ok(Ok(true)) => {
                    lease.last_renewal = started;
                    break;
                }
                Ok(Ok(false)) => {}
                Ok(Err(err)) => warn!(error = %err, "could not read or take the lease"),
                Err(_) => warn!("reading the lease timed out"),
            }
            // Look again at the next poll, or right when the holder's lease runs out.
            let pause = match lease.until_expiry() {
                Some(left) if !left.is_zero() => {
                    jittered(config.retry_interval).min(left + EXPIRY_SLACK)
                }
                _ => jittered(config.retry_interval),
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => return,
            }
        }
        info!(identity = %config.identity, "acquired the lease: leading");
        let _ = leading.send(true);

        // Leading: renew until stopped or until renewals fail for renew_deadline.
        loop {
            tokio::select! {
                _ = tokio::time::sleep(config.renew_interval) => {}
                _ = stop.changed() => {
                    lease.release().await;
                    let _ = leading.send(false);
                    return;
                }
            }
            if !renew_before_deadline(&mut lease, &mut stop).await {
                let _ = leading.send(false);
                warn!(identity = %config.identity, "lost the lease: stopped leading");
                break;
            }
        }
    }
}

/// Renews, retrying, until `last_renewal + renew_deadline`. False when leadership is lost.
async fn renew_before_deadline(lease: &mut LeaseLock, stop: &mut watch::Receiver<bool>) -> bool {
    let deadline = lease.last_renewal + lease.config.renew_deadline;
    loop {
        let started = Instant::now();
        match tokio::time::timeout_at(deadline, lease.try_acquire_or_renew()).await {
            Err(_) => {
                warn!("lease renewal did not finish before the renew deadline");
                return false;
            }
            Ok(Ok(true)) => {
                // Measured from before the request: the write may have landed at any point
                // after it was sent, and others count from when they see it.
                lease.last_renewal = started;
                return true;
            }
            Ok(Ok(false)) => return false,
            Ok(Err(err)) => warn!(error = %err, "could not renew the lease; retrying"),
        }
        let retry_at = Instant::now() + lease.config.retry_interval;
        if retry_at >= deadline {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(retry_at) => {}
            // Keep the Lease while shutting down; the caller releases it.
            _ = stop.changed() => {}
        }
    }
}

/// Lets a check right at expiry find the lease expired.
const EXPIRY_SLACK: Duration = Duration::from_millis(20);

fn jittered(period: Duration) -> Duration {
    use rand::Rng;
    period.mul_f64(rand::rng().random_range(0.9..1.2))
}

/// The Lease as this instance last saw it, and when it last changed on our clock.
struct LeaseLock {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The last Lease read or written, carrying its resourceVersion.
    observed: Option<Lease>,
    /// When `observed.spec` last changed, on our clock.
    observed_at: Instant,
    /// When the request that returned `observed` was sent.
    observed_read_at: Option<Instant>,
    /// When the last successful renewal (or acquisition) was sent.
    last_renewal: Instant,
}

impl LeaseLock {
    fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
            observed_at: Instant::now(),
            observed_read_at: None,
            last_renewal: Instant::now(),
        }
    }

    fn holder(lease: &Lease) -> Option<&str> {
        lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            .filter(|h| !h.is_empty())
    }

    fn is_ours(&self, lease: &Lease) -> bool {
        Self::holder(lease) == Some(self.config.identity.as_str())
    }

    /// Records `lease` as returned by a request sent at `sent`.
    fn observe(&mut self, lease: Lease, sent: Instant) {
        let changed = self.observed.as_ref().map(|o| &o.spec) != Some(&lease.spec);
        if changed {
            let now = Instant::now();
            // The change happened after our previous read was sent; its renewTime says when,
            // if our clocks agree.
            let backdate = match (self.observed_read_at, renewed_ago(&lease)) {
                (Some(previous), Some(ago)) => ago.min(now - previous).min(MAX_BACKDATE),
                _ => Duration::ZERO,
            };
            self.observed_at = now.checked_sub(backdate).unwrap_or(now);
        }
        self.observed = Some(lease);
        self.observed_read_at = Some(sent);
    }

    /// How long until the lease of another holder runs out, as far as we know.
    fn until_expiry(&self) -> Option<Duration> {
        let lease = self.observed.as_ref()?;
        Self::holder(lease).filter(|h| *h != self.config.identity)?;
        let expires = self.observed_at + self.lease_duration_of(lease);
        Some(expires.saturating_duration_since(Instant::now()))
    }

    fn lease_duration_of(&self, lease: &Lease) -> Duration {
        lease
            .spec
            .as_ref()
            .and_then(|s| s.lease_duration_seconds)
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.config.lease_duration)
    }

    /// Takes the Lease when it is free, expired or ours, renewing it in the last case. Ok(false)
    /// when someone else holds it (or won a race for it).
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        // Fast path for the leader: write over our own last write. A conflict means someone
        // else wrote since; read and decide again.
        if let Some(ours) = self.observed.clone().filter(|l| self.is_ours(l))
            && self.write(self.claim(&ours)).await?
        {
            return Ok(true);
        }
        let sent = Instant::now();
        let current = match self.api.get_opt(&self.config.name).await? {
            Some(current) => current,
            None => return self.create().await,
        };
        self.observe(current.clone(), sent);
        if let Some(holder) = Self::holder(&current)
            && holder != self.config.identity
            && !self.expired(&current)
        {
            debug!(%holder, "lease held by another instance");
            return Ok(false);
        }
        self.write(self.claim(&current)).await
    }

    fn expired(&self, lease: &Lease) -> bool {
        self.observed_at.elapsed() > self.lease_duration_of(lease)
    }

    /// `current` with us as the holder, renewed now.
    fn claim(&self, current: &Lease) -> Lease {
        let now = MicroTime(Timestamp::now());
        let previous = current.spec.clone().unwrap_or_default();
        let ours = self.is_ours(current);
        let mut lease = current.clone();
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(duration_seconds(self.config.lease_duration)),
            renew_time: Some(now.clone()),
            acquire_time: if ours {
                previous.acquire_time.clone()
            } else {
                Some(now)
            },
            lease_transitions: if ours {
                previous.lease_transitions
            } else {
                Some(previous.lease_transitions.unwrap_or(0).saturating_add(1))
            },
            ..previous
        });
        lease
    }

    /// Replaces the Lease, conditional on the resourceVersion in `lease`.
    async fn write(&mut self, lease: Lease) -> Result<bool, kube::Error> {
        let sent = Instant::now();
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.observe(written, sent);
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                debug!("lost a race for the lease");
                // Forget our copy so that the next attempt reads the Lease again.
                self.observed = None;
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }

    async fn create(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(duration_seconds(self.config.lease_duration)),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        let sent = Instant::now();
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(created) => {
                self.observe(created, sent);
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Clears the holder if we still hold the Lease (conditional on our last write).
    async fn release(&mut self) {
        let Some(mut lease) = self.observed.clone().filter(|l| self.is_ours(l)) else {
            return;
        };
        let now = MicroTime(Timestamp::now());
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(now);
        }
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => info!("released the lease"),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                info!("the lease changed hands before release; nothing to release");
            }
            Err(err) => {
                warn!(error = %err, "could not release the lease; others take over when it expires")
            }
        }
    }
}

/// How long ago, by our wall clock, the holder renewed; `None` if in the future or unknown.
fn renewed_ago(lease: &Lease) -> Option<Duration> {
    let renewed = lease.spec.as_ref()?.renew_time.as_ref()?.0;
    Duration::try_from(Timestamp::now().duration_since(renewed)).ok()
}

fn duration_seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs().max(1)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_unique_per_process() {
        let a = default_identity();
        let b = default_identity();
        assert_ne!(a, b);
        assert!(a.rsplit_once('_').is_some_and(|(_, s)| s.len() == 6));
    }

    #[test]
    fn the_leader_stops_before_others_may_take_over() {
        let config = LeaseConfig::new("ns", "lease", "me");
        assert!(config.renew_deadline + MAX_BACKDATE < config.lease_duration);
        assert!(config.renew_deadline + config.retry_interval < config.lease_duration);
        assert!(config.renew_interval < config.renew_deadline);
    }
}
