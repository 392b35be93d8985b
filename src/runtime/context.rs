//! The context handed to every reconcile.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use tracing::warn;

use super::backoff::Backoff;
use crate::api::common::DeletionPolicy;
use crate::api::{ECSService, TaskDefinition};
use crate::aws::AwsClients;
use crate::controllers::ecs_service::observer::ObservationCache;

/// Operator settings that shape reconciles.
#[derive(Clone, Debug)]
pub struct Config {
    /// How often each object is observed in AWS to detect drift.
    pub resync_interval: Duration,
    /// Policy for objects that do not set `deletionPolicy`.
    pub default_deletion_policy: DeletionPolicy,
    /// Revisions kept besides the current one, when a TaskDefinition does not say.
    pub revision_history_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            resync_interval: Duration::from_secs(60),
            default_deletion_policy: DeletionPolicy::Delete,
            revision_history_limit: 1,
        }
    }
}

/// Shared by all reconciles of all kinds.
pub struct Context {
    pub client: Client,
    pub aws: AwsClients,
    pub config: Config,
    pub recorder: Recorder,
    pub backoff: Backoff,
    /// Caches of the watched objects, for look-ups across kinds (who references whom).
    pub task_definitions: Store<TaskDefinition>,
    pub services: Store<ECSService>,
    /// ECS services observed by the batched observer, waiting for their reconcile.
    pub observations: ObservationCache,
}

impl Context {
    pub fn new(
        client: Client,
        aws: AwsClients,
        config: Config,
        task_definitions: Store<TaskDefinition>,
        services: Store<ECSService>,
    ) -> Arc<Self> {
        let reporter = Reporter {
            controller: "ecs-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            aws,
            config,
            backoff: Backoff::default(),
            task_definitions,
            services,
            observations: ObservationCache::default(),
        })
    }

    /// Publishes an Event on `obj`. A failure to publish is logged, never fatal.
    pub async fn event<K>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) where
        K: Resource<DynamicType = ()>,
    {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(truncate(note, 1000)),
            action: action.into(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            warn!(error = %err, reason, "could not publish event");
        }
    }

    /// Key of an object in per-object state (backoff).
    pub fn key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
        format!(
            "{}/{}/{}",
            K::kind(&()),
            obj.namespace().unwrap_or_default(),
            obj.name_any()
        )
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}
