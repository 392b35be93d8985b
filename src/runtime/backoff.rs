//! Per-object retry delays: exponential with jitter for retryable errors, slow for terminal
//! ones (a terminal condition is never a dead end: object changes retrigger at once, and a
//! slow retry notices a cause fixed outside Kubernetes).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

use crate::aws::error::ErrorClass;

const BASE: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(300);
/// How often an object stuck on a terminal error is looked at again without a change.
pub const TERMINAL_RETRY: Duration = Duration::from_secs(600);

/// Consecutive failures per object key.
#[derive(Default, Debug)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Delay before retrying `key` after an error of `class`, counting the failure.
    pub fn next_delay(&self, key: &str, class: ErrorClass) -> Duration {
        if class == ErrorClass::Terminal {
            return TERMINAL_RETRY;
        }
        let attempt = {
            let mut failures = self
                .failures
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let count = failures.entry(key.to_string()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        delay_for_attempt(attempt, class, rand::rng().random_range(0.5..1.0))
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset(&self, key: &str) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.remove(key);
    }
}

/// Exponential delay with "equal jitter": `jitter` in [0.5, 1) scales the exponential step.
/// Throttled work starts from a longer base: the account's bucket needs time to refill.
pub fn delay_for_attempt(attempt: u32, class: ErrorClass, jitter: f64) -> Duration {
    let base = if class == ErrorClass::Throttled {
        BASE * 2
    } else {
        BASE
    };
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(16)));
    exp.min(MAX).mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_and_are_capped() {
        let d: Vec<_> = (1..=12)
            .map(|a| delay_for_attempt(a, ErrorClass::Retryable, 1.0))
            .collect();
        assert_eq!(d[0], Duration::from_secs(1));
        assert_eq!(d[1], Duration::from_secs(2));
        assert_eq!(d[4], Duration::from_secs(16));
        assert_eq!(d[11], MAX);
        assert_eq!(
            delay_for_attempt(1, ErrorClass::Throttled, 1.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            delay_for_attempt(3, ErrorClass::Retryable, 0.5),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn success_resets_and_terminal_is_slow() {
        let b = Backoff::default();
        let first = b.next_delay("k", ErrorClass::Retryable);
        let _ = b.next_delay("k", ErrorClass::Retryable);
        let third = b.next_delay("k", ErrorClass::Retryable);
        assert!(third > first);
        b.reset("k");
        assert!(b.next_delay("k", ErrorClass::Retryable) <= Duration::from_secs(1));
        assert_eq!(b.next_delay("k", ErrorClass::Terminal), TERMINAL_RETRY);
    }
}
