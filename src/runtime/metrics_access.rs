//! Who may read `/metrics`: the request's bearer token is authenticated with a TokenReview,
//! then the user it names is authorised with a SubjectAccessReview for `get` on the
//! non-resource URL `/metrics` (what controller-runtime's `WithAuthenticationAndAuthorization`
//! and kube-rbac-proxy do). A ClusterRole granting `nonResourceURLs: ["/metrics"]` `get`
//! therefore decides who scrapes. Decisions are cached briefly, so that a scrape every few
//! seconds costs the apiserver two requests a minute per scraper.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

/// How long an allowed token stays allowed without asking the apiserver again (a revoked
/// token or binding can read metrics this much longer).
const ALLOWED_TTL: Duration = Duration::from_secs(60);
/// How long a refused token stays refused (a new binding takes effect this much later).
const REFUSED_TTL: Duration = Duration::from_secs(10);
/// Tokens remembered at most; a flood of distinct tokens cannot grow memory beyond this.
const CACHE_CAPACITY: usize = 1024;
/// Reviews asked of the apiserver at once; a flood of unknown tokens waits here instead of
/// loading the apiserver (a cached decision never waits).
const CONCURRENT_REVIEWS: usize = 4;

/// What the endpoint answers for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// No bearer token, or one the apiserver does not authenticate: 401.
    Unauthenticated,
    /// Authenticated, but not allowed `get` on the path: 403.
    Forbidden,
}

#[derive(Debug, thiserror::Error)]
#[error("asking the apiserver: {0}")]
pub struct ReviewError(#[from] kube::Error);

/// Checks bearer tokens against the apiserver for one non-resource path.
pub struct MetricsAccess {
    client: Client,
    path: String,
    cache: Mutex<DecisionCache>,
    reviews: tokio::sync::Semaphore,
}

impl MetricsAccess {
    pub fn new(client: Client, path: &str) -> Self {
        Self {
            client,
            path: path.to_string(),
            cache: Mutex::new(DecisionCache::new(CACHE_CAPACITY)),
            reviews: tokio::sync::Semaphore::new(CONCURRENT_REVIEWS),
        }
    }

    /// The decision for a request carrying `authorization` (the header's value, if any).
    /// Errors (the apiserver unreachable) are not cached.
    pub async fn check(&self, authorization: Option<&str>) -> Result<Access, ReviewError> {
        let Some(token) = bearer_token(authorization) else {
            return Ok(Access::Unauthenticated);
        };
        // Only a hash of the token is kept in memory.
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(access) = self.cached(&key) {
            return Ok(access);
        }
        // The semaphore is never closed; a permit error cannot happen.
        let _permit = self.reviews.acquire().await.ok();
        // Decided by another request while this one waited (a scraper's concurrent requests).
        if let Some(access) = self.cached(&key) {
            return Ok(access);
        }
        let access = self.review(token).await?;
        let ttl = if access == Access::Allowed {
            ALLOWED_TTL
        } else {
            REFUSED_TTL
        };
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            key,
            access,
            Instant::now() + ttl,
        );
        Ok(access)
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Access> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key, Instant::now())
    }

    async fn review(&self, token: &str) -> Result<Access, ReviewError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await?;
        let status = reviewed.status.unwrap_or_default();
        let user = match (status.authenticated, status.user) {
            (Some(true), Some(user)) => user,
            _ => {
                debug!(
                    error = status.error.unwrap_or_default(),
                    "metrics request with a token the apiserver does not accept"
                );
                return Ok(Access::Unauthenticated);
            }
        };
        let question = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                groups: user.groups,
                uid: user.uid,
                extra: user.extra,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(self.path.clone()),
                    verb: Some("get".into()),
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let answer = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &question)
            .await?;
        if answer.status.is_some_and(|s| s.allowed) {
            Ok(Access::Allowed)
        } else {
            debug!(user = user.username.unwrap_or_default(), path = %self.path, "metrics request not allowed");
            Ok(Access::Forbidden)
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    let value = authorization?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Decisions by token hash, each until its expiry, at most `capacity` of them.
struct DecisionCache {
    capacity: usize,
    entries: HashMap<[u8; 32], (Access, Instant)>,
}

impl DecisionCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
        }
    }

    fn get(&self, key: &[u8; 32], now: Instant) -> Option<Access> {
        self.entries
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(access, _)| *access)
    }

    fn insert(&mut self, key: [u8; 32], access: Access, expires: Instant) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let now = Instant::now();
            self.entries.retain(|_, (_, until)| *until > now);
            if self.entries.len() >= self.capacity {
                // Still full of live decisions (a flood of distinct tokens): the one closest
                // to expiring makes room; legitimate scrapers are asked about again at worst.
                warn!(capacity = self.capacity, "metrics access cache full");
                if let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(k, _)| *k)
                {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(key, (access, expires));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_token_is_a_token() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer   abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(Some("abc")), None);
        assert_eq!(bearer_token(None), None);
    }

    #[test]
    fn decisions_expire() {
        let mut cache = DecisionCache::new(4);
        let now = Instant::now();
        cache.insert([1; 32], Access::Allowed, now + Duration::from_secs(60));
        cache.insert([2; 32], Access::Forbidden, now + Duration::from_secs(10));
        assert_eq!(cache.get(&[1; 32], now), Some(Access::Allowed));
        assert_eq!(cache.get(&[2; 32], now), Some(Access::Forbidden));
        assert_eq!(cache.get(&[2; 32], now + Duration::from_secs(11)), None);
        assert_eq!(cache.get(&[3; 32], now), None);
    }

    #[test]
    fn the_cache_never_grows_beyond_its_capacity() {
        let mut cache = DecisionCache::new(8);
        let now = Instant::now();
        for i in 0..100u8 {
            let expires = now + Duration::from_secs(60 + u64::from(i));
            cache.insert([i; 32], Access::Unauthenticated, expires);
            assert!(cache.entries.len() <= 8);
        }
        // The newest decisions are kept, the ones closest to expiring made room.
        assert_eq!(cache.get(&[99; 32], now), Some(Access::Unauthenticated));
        assert_eq!(cache.get(&[0; 32], now), None);
    }
}
