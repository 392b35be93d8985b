//! The context handed to every reconcile.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use tracing::warn;

use super::backoff::Backoff;
use super::grants::{AccessRequest, Grants};
use crate::api::capacity_provider::CapacityProvider;
use crate::api::common::DeletionPolicy;
use crate::api::ecs_cluster::ECSCluster;
use crate::api::{CloudMapNamespace, ECSService, TaskDefinition};
use crate::aws::ecs_cluster::{ObservedCapacityProvider, ObservedCluster};
use crate::aws::ecs_service::ObservedService;
use crate::aws::error::{AwsError, ErrorClass};
use crate::aws::{AwsClients, ClientPool};
use crate::controllers::ecs_service::observer::Rollouts;
use crate::controllers::ecs_task::observer::TaskObservation;
use crate::controllers::observer::ObservationCache as AwsObservations;

/// The operation name of a refusal by the AWSAccessGrants (see [`AwsError::terminal_reason`]).
pub const GRANT_CHECK: &str = "CheckAccessGrant";

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
    /// Clients for the default Region and the operator's own identity. Reconciles of objects
    /// use [`Context::aws_for`], which honours their `region` and role.
    pub aws: AwsClients,
    /// Clients per (Region, IAM role), created on first use.
    pub pool: ClientPool,
    /// The AWSAccessGrants: which roles, Regions and pass roles each namespace may use.
    pub grants: Grants,
    pub config: Config,
    pub recorder: Recorder,
    pub backoff: Backoff,
    /// Caches of the watched objects, for look-ups across kinds (who references whom).
    pub task_definitions: Store<TaskDefinition>,
    pub services: Store<ECSService>,
    pub clusters: Store<ECSCluster>,
    pub capacity_providers: Store<CapacityProvider>,
    pub cloud_map_namespaces: Store<CloudMapNamespace>,
    /// ECS services observed by the batched observer, waiting for their reconcile.
    pub observations: AwsObservations<ObservedService>,
    /// Services whose rollout the ECSService observer follows closely.
    pub rollouts: Rollouts,
    /// ECS clusters and capacity providers observed by their batched observers.
    pub cluster_observations: AwsObservations<ObservedCluster>,
    pub capacity_provider_observations: AwsObservations<ObservedCapacityProvider>,
    /// The tasks of ECSTasks observed by their batched observer, by the ECSTask's uid.
    pub task_observations: AwsObservations<TaskObservation>,
}

/// The caches of every kind, handed to [`Context::new`].
pub struct Stores {
    pub task_definitions: Store<TaskDefinition>,
    pub services: Store<ECSService>,
    pub clusters: Store<ECSCluster>,
    pub capacity_providers: Store<CapacityProvider>,
    pub cloud_map_namespaces: Store<CloudMapNamespace>,
}

impl Context {
    pub fn new(client: Client, pool: ClientPool, config: Config, stores: Stores) -> Arc<Self> {
        let Stores {
            task_definitions,
            services,
            clusters,
            capacity_providers,
            cloud_map_namespaces,
        } = stores;
        let reporter = Reporter {
            controller: "ecs-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), reporter),
            grants: Grants::new(client.clone()),
            client,
            aws: pool.default_clients(),
            pool,
            config,
            backoff: Backoff::default(),
            task_definitions,
            services,
            clusters,
            capacity_providers,
            cloud_map_namespaces,
            observations: AwsObservations::default(),
            rollouts: Rollouts::default(),
            cluster_observations: AwsObservations::default(),
            capacity_provider_observations: AwsObservations::default(),
            task_observations: AwsObservations::default(),
        })
    }

    /// The AWS clients for an object in `namespace` with the spec's `region` and `roleArn`,
    /// as its namespace's grants allow: its Region or the operator's, its role, else the
    /// grant's default role, else the operator's own identity. Refused (no AWS call is made)
    /// when the grants do not allow it or cannot be read.
    pub async fn aws_for(
        &self,
        namespace: &str,
        region: Option<&str>,
        role_arn: Option<&str>,
    ) -> Result<AwsClients, AwsError> {
        self.aws_passing(namespace, region, role_arn, &[]).await
    }

    /// [`Context::aws_for`] for an object that also names task or execution roles
    /// (`pass_roles`), which its grant must allow too.
    pub async fn aws_passing(
        &self,
        namespace: &str,
        region: Option<&str>,
        role_arn: Option<&str>,
        pass_roles: &[&str],
    ) -> Result<AwsClients, AwsError> {
        let role = self
            .granted_role(namespace, region, role_arn, pass_roles)
            .await?;
        Ok(self.pool.clients_for(region, role.as_deref()).await?)
    }

    /// The role an object acts as (`None`: the operator's own identity), if its grants allow
    /// its `region`, `roleArn` and `pass_roles`.
    pub async fn granted_role(
        &self,
        namespace: &str,
        region: Option<&str>,
        role_arn: Option<&str>,
        pass_roles: &[&str],
    ) -> Result<Option<String>, AwsError> {
        let operator_region = self.pool.default_region();
        let request = AccessRequest {
            namespace,
            region: region.unwrap_or(operator_region),
            operator_region,
            role_arn,
            pass_roles,
        };
        match self.grants.decide(&request).await {
            Ok(access) => Ok(access.role_arn),
            Err(refusal) => Err(AwsError {
                operation: GRANT_CHECK,
                code: refusal.reason.to_string(),
                message: refusal.message,
                // Stalled until a grant, the spec or the operator's RBAC changes; retried slowly.
                class: ErrorClass::Terminal,
            }),
        }
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
