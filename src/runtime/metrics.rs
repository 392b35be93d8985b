//! Prometheus metrics, prefixed `ecs_operator_`, served on `/metrics` in the OpenMetrics text
//! format.
//!
//! Counters owned elsewhere are read at scrape time: AWS calls and rate limiter waits from
//! [`ApiCalls`](crate::aws::metrics::ApiCalls) (filled by the SDK interceptor and the budget's
//! HTTP client), managed objects from the watch caches.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::common::{Condition, find_condition};
use crate::aws::metrics::ApiCalls;
use crate::runtime::watch::Watchable;

/// Content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn reconcile_histogram() -> Histogram {
    // 5 ms .. ~82 s
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// The operator's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_duration: HistogramFamily<KindLabels>,
    in_flight: Family<KindLabels, Gauge>,
    /// Distinct objects reconciled without error since start, and which they were.
    objects_reconciled: Family<KindLabels, Gauge>,
    reconciled: Mutex<HashSet<(&'static str, String)>>,
    leader: Gauge,
    managed: Arc<Mutex<Vec<ManagedKind>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics reading AWS call counts from `calls`.
    pub fn new(calls: ApiCalls) -> Self {
        let mut registry = Registry::with_prefix("ecs_operator");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by kind and result: success (done until the object changes), requeue \
             (done, runs again after a delay: periodic resync or waiting), error (failed, \
             retried with backoff)",
            reconciles.clone(),
        );
        let reconcile_duration: HistogramFamily<KindLabels> =
            Family::new_with_constructor(reconcile_histogram as fn() -> Histogram);
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciles by kind",
            reconcile_duration.clone(),
        );
        let in_flight = Family::<KindLabels, Gauge>::default();
        registry.register(
            "reconciles_in_flight",
            "Reconciles running now, by kind",
            in_flight.clone(),
        );
        let objects_reconciled = Family::<KindLabels, Gauge>::default();
        registry.register(
            "objects_reconciled",
            "Distinct objects reconciled without error since the operator started, by kind \
             (how far a restarted operator has got through its objects)",
            objects_reconciled.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this instance leads (holds the Lease, or runs without leader election)",
            leader.clone(),
        );
        registry.register_collector(Box::new(AwsCallsCollector { calls }));
        let managed = Arc::new(Mutex::new(Vec::new()));
        registry.register_collector(Box::new(ManagedCollector {
            kinds: Arc::clone(&managed),
        }));
        Self {
            inner: Arc::new(Inner {
                registry,
                reconciles,
                reconcile_duration,
                in_flight,
                objects_reconciled,
                reconciled: Mutex::new(HashSet::new()),
                leader,
                managed,
            }),
        }
    }

    /// Counts the objects of `kind` in `store` by their Ready condition at each scrape.
    pub fn count_managed<K: Watchable>(
        &self,
        kind: &'static str,
        store: Store<K>,
        conditions: fn(&K) -> Option<&[Condition]>,
    ) {
        let count = move || {
            let mut counts = ReadyCounts::default();
            for obj in store.state() {
                let ready = conditions(&obj).and_then(|c| find_condition(c, "Ready"));
                match ready.map(|c| c.status.as_str()) {
                    Some("True") => counts.ready += 1,
                    Some("False") => counts.not_ready += 1,
                    _ => counts.unknown += 1,
                }
            }
            counts
        };
        self.inner
            .managed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ManagedKind {
                kind,
                count: Box::new(count),
            });
    }

    pub fn set_leader(&self, leading: bool) {
        self.inner.leader.set(i64::from(leading));
    }

    /// Wraps a reconcile function so that each call is timed and counted.
    pub fn instrument<K, Ctx, E, F, Fut>(
        &self,
        kind: &'static str,
        reconcile: F,
    ) -> impl FnMut(Arc<K>, Arc<Ctx>) -> BoxFuture<'static, Result<Action, E>>
    + Send
    + 'static
    + use<K, Ctx, E, F, Fut>
    where
        K: kube::Resource + Send + Sync + 'static,
        Ctx: Send + Sync + 'static,
        E: Send + 'static,
        F: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
    {
        let metrics = self.clone();
        move |obj, ctx| {
            let running = metrics.start(kind);
            let object = format!(
                "{}/{}",
                obj.meta().namespace.as_deref().unwrap_or_default(),
                obj.meta().name.as_deref().unwrap_or_default()
            );
            let reconcile = reconcile(obj, ctx);
            let metrics = metrics.clone();
            Box::pin(async move {
                let result = reconcile.await;
                if result.is_ok() {
                    metrics.reconciled(kind, object);
                }
                running.finish(match &result {
                    Err(_) => "error",
                    Ok(action) if *action == Action::await_change() => "success",
                    Ok(_) => "requeue",
                });
                result
            })
        }
    }

    fn reconciled(&self, kind: &'static str, object: String) {
        let inner = &self.inner;
        let first = inner
            .reconciled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((kind, object));
        if first {
            inner
                .objects_reconciled
                .get_or_create(&KindLabels { kind })
                .inc();
        }
    }

    fn start(&self, kind: &'static str) -> Running {
        self.inner
            .in_flight
            .get_or_create(&KindLabels { kind })
            .inc();
        Running {
            metrics: self.clone(),
            kind,
            started: Instant::now(),
            finished: false,
        }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.inner.registry).is_err() {
            out.clear();
            let _ = writeln!(out, "# EOF");
        }
        out
    }
}

/// One reconcile in progress; counted as cut off when dropped unfinished (aborted).
struct Running {
    metrics: Metrics,
    kind: &'static str,
    started: Instant,
    finished: bool,
}

impl Running {
    fn finish(mut self, result: &'static str) {
        self.finished = true;
        let inner = &self.metrics.inner;
        inner
            .reconciles
            .get_or_create(&ReconcileLabels {
                kind: self.kind,
                result,
            })
            .inc();
        inner
            .reconcile_duration
            .get_or_create(&KindLabels { kind: self.kind })
            .observe(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.metrics
            .inner
            .in_flight
            .get_or_create(&KindLabels { kind: self.kind })
            .dec();
        if !self.finished {
            self.metrics
                .inner
                .reconciles
                .get_or_create(&ReconcileLabels {
                    kind: self.kind,
                    result: "cancelled",
                })
                .inc();
        }
    }
}

#[derive(Debug)]
struct AwsCallsCollector {
    calls: ApiCalls,
}

impl Collector for AwsCallsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let calls = self
            .calls
            .snapshot()
            .into_iter()
            .map(|((s, o, r), n)| (vec![("service", s), ("operation", o), ("outcome", r)], n));
        counter_family(
            &mut encoder,
            "aws_api_calls",
            "AWS API call attempts (retries included) by service, operation and outcome",
            calls,
        )?;
        let waits = self.calls.limiter_waits();
        let category = |c: &String| vec![("category", c.clone())];
        counter_family(
            &mut encoder,
            "ratelimit_requests",
            "AWS call attempts that took a token from the client-side rate limiter, by API category",
            waits.iter().map(|(c, w)| (category(c), w.acquired)),
        )?;
        counter_family(
            &mut encoder,
            "ratelimit_waited_requests",
            "AWS call attempts that had to wait for the rate limiter, by API category",
            waits.iter().map(|(c, w)| (category(c), w.waited)),
        )?;
        counter_family(
            &mut encoder,
            "ratelimit_wait_seconds",
            "Time AWS call attempts waited for the rate limiter, by API category",
            waits
                .iter()
                .map(|(c, w)| (category(c), w.total_wait.as_secs_f64())),
        )
    }
}

type Labels = Vec<(&'static str, String)>;

/// One counter family read at scrape time.
fn counter_family<N: EncodeCounterValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, N)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

#[derive(Default)]
struct ReadyCounts {
    ready: i64,
    not_ready: i64,
    unknown: i64,
}

struct ManagedKind {
    kind: &'static str,
    count: Box<dyn Fn() -> ReadyCounts + Send + Sync>,
}

#[derive(Debug)]
struct ManagedCollector {
    kinds: Arc<Mutex<Vec<ManagedKind>>>,
}

impl std::fmt::Debug for ManagedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedKind")
            .field("kind", &self.kind)
            .finish()
    }
}

impl Collector for ManagedCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(
            "managed_resources",
            "Objects this instance watches, by kind and Ready condition (True, False, Unknown)",
            None,
            MetricType::Gauge,
        )?;
        let kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        for kind in kinds.iter() {
            let counts = (kind.count)();
            for (ready, n) in [
                ("True", counts.ready),
                ("False", counts.not_ready),
                ("Unknown", counts.unknown),
            ] {
                let labels = [("kind", kind.kind), ("ready", ready)];
                ConstGauge::new(n).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;

    use super::*;

    #[tokio::test]
    async fn exposes_reconciles_aws_calls_and_waits() {
        let calls = ApiCalls::default();
        calls.record("ECS", "RegisterTaskDefinition", "success");
        calls.record("ECS", "RegisterTaskDefinition", "success");
        calls.record_wait("service-read", std::time::Duration::from_millis(1500));
        let metrics = Metrics::new(calls);
        metrics.set_leader(true);
        let object = |name: &str| {
            let mut obj = ConfigMap::default();
            obj.metadata.namespace = Some("apps".into());
            obj.metadata.name = Some(name.into());
            Arc::new(obj)
        };
        let mut reconcile =
            metrics.instrument("TaskDefinition", |_: Arc<ConfigMap>, _: Arc<()>| async {
                Ok::<_, std::io::Error>(Action::await_change())
            });
        // Two reconciles of one object, one of another: two distinct objects.
        for name in ["a", "a", "b"] {
            reconcile(object(name), Arc::new(())).await.expect("ok");
        }
        let mut failing = metrics.instrument("ECSService", |_: Arc<ConfigMap>, _: Arc<()>| async {
            Err::<Action, _>(std::io::Error::other("boom"))
        });
        assert!(failing(object("a"), Arc::new(())).await.is_err());
        // A reconcile cut off (lost leadership) still leaves the in-flight gauge at zero.
        drop(failing(object("a"), Arc::new(())));

        let text = metrics.encode();
        assert!(text.contains(r#"ecs_operator_aws_api_calls_total{service="ECS",operation="RegisterTaskDefinition",outcome="success"} 2"#), "{text}");
        assert!(
            text.contains(
                r#"ecs_operator_reconciles_total{kind="TaskDefinition",result="success"} 3"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"ecs_operator_reconciles_total{kind="ECSService",result="error"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ecs_operator_reconciles_total{kind="ECSService",result="cancelled"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"ecs_operator_reconciles_in_flight{kind="ECSService"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ecs_operator_reconcile_duration_seconds_count{kind="TaskDefinition"} 3"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"ecs_operator_objects_reconciled{kind="TaskDefinition"} 2"#),
            "{text}"
        );
        assert!(
            !text.contains(r#"ecs_operator_objects_reconciled{kind="ECSService"}"#),
            "a failed reconcile does not count: {text}"
        );
        assert!(
            text.contains(r#"ecs_operator_ratelimit_requests_total{category="service-read"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ecs_operator_ratelimit_wait_seconds_total{category="service-read"} 1.5"#
            ),
            "{text}"
        );
        assert!(text.contains("ecs_operator_leader 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
