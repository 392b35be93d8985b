//! Counts every AWS API call attempt by service, operation and outcome. One SDK interceptor
//! sees every attempt (retries included), so the counts are what the account's API budget
//! sees. The Prometheus endpoint and the tests read the same counters.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Outcome of one attempt, as labelled in metrics.
pub fn outcome_label(status: Option<u16>, throttled: bool) -> &'static str {
    match status {
        _ if throttled => "throttled",
        Some(s) if (200..300).contains(&s) => "success",
        Some(429) => "throttled",
        Some(s) if s >= 500 => "server_error",
        Some(_) => "client_error",
        None => "network_error",
    }
}

/// (service, operation, outcome) → attempts.
pub type CallCounts = BTreeMap<(String, String, String), u64>;

/// Time spent waiting for the client-side rate limiter (`aws::budget`), per API category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimiterWaits {
    /// Attempts that took a token.
    pub acquired: u64,
    /// Attempts that had to wait for one.
    pub waited: u64,
    /// Total time waited.
    pub total_wait: Duration,
}

/// Shared call counters.
#[derive(Clone, Debug, Default)]
pub struct ApiCalls {
    counts: Arc<Mutex<CallCounts>>,
    waits: Arc<Mutex<BTreeMap<String, LimiterWaits>>>,
}

impl ApiCalls {
    /// Records one token taken from the rate limiter of `category` after waiting `waited`.
    pub fn record_wait(&self, category: &str, waited: Duration) {
        let mut waits = self.waits.lock().unwrap_or_else(|p| p.into_inner());
        let entry = waits.entry(category.to_string()).or_default();
        entry.acquired += 1;
        if !waited.is_zero() {
            entry.waited += 1;
            entry.total_wait += waited;
        }
    }

    /// Rate limiter waits by API category (e.g. `service-modify`).
    pub fn limiter_waits(&self) -> BTreeMap<String, LimiterWaits> {
        self.waits.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn record(&self, service: &str, operation: &str, outcome: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts
            .entry((
                service.to_string(),
                operation.to_string(),
                outcome.to_string(),
            ))
            .or_insert(0) += 1;
    }

    pub fn snapshot(&self) -> CallCounts {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Attempts of `operation` (any service, any outcome).
    pub fn count(&self, operation: &str) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((_, op, _), _)| op == operation)
            .map(|(_, n)| n)
            .sum()
    }

    /// Attempts of write operations (anything but Describe/List/Get/Discover).
    pub fn writes(&self) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((_, op, _), _)| is_write(op))
            .map(|(_, n)| n)
            .sum()
    }

    /// The interceptor to add to each SDK client.
    pub fn interceptor(&self) -> CallInterceptor {
        CallInterceptor {
            calls: self.clone(),
        }
    }
}

/// Whether an operation changes AWS state.
pub fn is_write(operation: &str) -> bool {
    !["Describe", "List", "Get", "Discover"]
        .iter()
        .any(|p| operation.starts_with(p))
}

#[derive(Clone, Debug)]
pub struct CallInterceptor {
    calls: ApiCalls,
}

impl Intercept for CallInterceptor {
    fn name(&self) -> &'static str {
        "ecs-operator-api-calls"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let status = context.response().map(|r| r.status().as_u16());
        let throttled = context
            .response()
            .and_then(|r| r.body().bytes())
            .is_some_and(|body| String::from_utf8_lossy(body).contains("Throttl"));
        self.calls
            .record(&service, &operation, outcome_label(status, throttled));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_told_from_reads() {
        assert!(is_write("RegisterTaskDefinition"));
        assert!(is_write("UpdateService"));
        assert!(!is_write("DescribeServices"));
        assert!(!is_write("ListTaskDefinitions"));
        assert!(!is_write("GetOperation"));
    }

    #[test]
    fn counts_by_operation() {
        let calls = ApiCalls::default();
        calls.record("ECS", "DescribeServices", "success");
        calls.record("ECS", "DescribeServices", "throttled");
        calls.record("ECS", "UpdateService", "success");
        assert_eq!(calls.count("DescribeServices"), 2);
        assert_eq!(calls.writes(), 1);
        assert_eq!(outcome_label(Some(400), true), "throttled");
        assert_eq!(outcome_label(Some(503), false), "server_error");
        assert_eq!(outcome_label(None, false), "network_error");
    }
}
