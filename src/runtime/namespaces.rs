//! Per-namespace settings from Namespace annotations: the IAM role objects in the namespace
//! act as. Read through a short cache so that reconciles do not get the Namespace each time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Client};
use tracing::warn;

/// Namespace annotation naming the IAM role (ARN) that objects in the namespace act as,
/// unless they set `spec.roleArn`.
pub const ROLE_ARN_ANNOTATION: &str = "ecs-operator.dev/aws-role-arn";

/// How long a namespace's annotations are used before being read again.
const TTL: Duration = Duration::from_secs(30);

/// Cached role annotations by namespace.
pub struct NamespaceRoles {
    api: Api<Namespace>,
    entries: Mutex<HashMap<String, (Option<String>, Instant)>>,
    /// Whether a refused read was logged (once is enough).
    forbidden_reported: AtomicBool,
}

impl NamespaceRoles {
    pub fn new(client: Client) -> Self {
        Self {
            api: Api::all(client),
            entries: Mutex::default(),
            forbidden_reported: AtomicBool::new(false),
        }
    }

    /// The role ARN annotated on `namespace`, if any.
    ///
    /// An operator confined to one namespace may not read Namespaces (they are cluster
    /// scoped); it then has no per-namespace role, as the chart documents.
    pub async fn role_arn(&self, namespace: &str) -> Result<Option<String>, kube::Error> {
        if let Some((role, at)) = self.lock().get(namespace)
            && at.elapsed() < TTL
        {
            return Ok(role.clone());
        }
        let role = match self.api.get_opt(namespace).await {
            Ok(ns) => ns.and_then(|ns| {
                ns.metadata
                    .annotations
                    .and_then(|mut a| a.remove(ROLE_ARN_ANNOTATION))
                    .map(|r| r.trim().to_string())
                    .filter(|r| !r.is_empty())
            }),
            Err(kube::Error::Api(status)) if status.is_forbidden() => {
                if !self.forbidden_reported.swap(true, Ordering::Relaxed) {
                    warn!(
                        namespace,
                        "cannot read Namespaces (forbidden): {ROLE_ARN_ANNOTATION} annotations are not applied"
                    );
                }
                None
            }
            Err(err) => return Err(err),
        };
        self.lock()
            .insert(namespace.to_string(), (role.clone(), Instant::now()));
        Ok(role)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<String>, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
