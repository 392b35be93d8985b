//! `ECSCluster`: an Amazon ECS cluster, its settings and the capacity providers it offers.
//!
//! Field names follow ECS's CreateCluster/UpdateCluster/PutClusterCapacityProviders so the ECS
//! documentation applies.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, LocalObjectReference, Tag};
use super::ecs_service::CapacityProviderStrategyItem;

/// Desired state of an ECS cluster.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "ecs-operator.dev",
    version = "v1alpha1",
    kind = "ECSCluster",
    plural = "ecsclusters",
    namespaced,
    status = "ECSClusterStatus",
    shortname = "ecscluster",
    shortname = "ecscl",
    category = "ecs",
    doc = "An Amazon ECS cluster managed from Kubernetes: its settings, Service Connect defaults and capacity providers, kept free of drift.",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".status.clusterName"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.clusterStatus"),
    printcolumn(name = "Services", type_ = "integer", json_path = ".status.activeServicesCount"),
    printcolumn(name = "Running", type_ = "integer", json_path = ".status.runningTasksCount"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("has(self.spec.clusterName) || self.metadata.name.matches('^[a-zA-Z0-9_-]{1,255}$')")
        .message("spec.clusterName must be set when metadata.name is not a valid ECS cluster name (letters, digits, '-' and '_' only)")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.defaultCapacityProviderStrategy) || self.defaultCapacityProviderStrategy.all(s, !(s.capacityProvider in ['FARGATE', 'FARGATE_SPOT']) || (has(self.capacityProviders) && s.capacityProvider in self.capacityProviders))")
        .message("defaultCapacityProviderStrategy names FARGATE or FARGATE_SPOT, which must also be listed in capacityProviders")
        .field_path(".defaultCapacityProviderStrategy"),
    validation = Rule::new("!has(self.defaultCapacityProviderStrategy) || has(self.capacityProviders) || has(self.capacityProviderRefs)")
        .message("defaultCapacityProviderStrategy needs capacityProviders or capacityProviderRefs: a strategy can only use providers associated with the cluster")
        .field_path(".defaultCapacityProviderStrategy"),
    validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)")
        .message("region cannot change after creation: create a new object in the other Region")
        .field_path(".region"),
)]
pub struct ECSClusterSpec {
    /// ECS cluster name (letters, digits, `-`, `_`; up to 255). Defaults to `metadata.name`.
    /// Cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]{1,255}$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterName cannot change: create a new ECSCluster instead"))]
    pub cluster_name: Option<String>,

    /// Cluster settings (CloudWatch Container Insights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<ClusterSettings>,

    /// Cluster configuration: ECS Exec logging and its KMS key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<ClusterConfiguration>,

    /// The Cloud Map namespace services of this cluster use for Service Connect by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_defaults: Option<ServiceConnectDefaults>,

    /// Capacity providers to associate with the cluster by name: `FARGATE`, `FARGATE_SPOT` or
    /// Auto Scaling group providers managed elsewhere (order does not matter). Together with
    /// `capacityProviderRefs` this is the complete list: providers associated in ECS but not
    /// listed are dissociated. When neither is set, the cluster's providers are left as they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[x_kube(validation = Rule::new("self.all(p, self.exists_one(q, q == p))").message("capacityProviders must be unique"))]
    pub capacity_providers: Vec<CapacityProviderName>,

    /// CapacityProvider objects in the same namespace to associate with the cluster; the
    /// cluster waits until each is Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[x_kube(validation = Rule::new("self.all(r, self.exists_one(s, s.name == r.name))").message("capacityProviderRefs must be unique"))]
    pub capacity_provider_refs: Vec<LocalObjectReference>,

    /// Strategy for services and tasks that name neither a launch type nor a strategy (up to
    /// 20 entries; at most one with a base; Fargate and Auto Scaling group providers cannot
    /// be mixed). Every provider it names must be associated with the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[x_kube(
        validation = Rule::new("self.filter(s, has(s.base) && s.base > 0).size() <= 1").message("at most one capacity provider may have a base"),
        validation = Rule::new("self.all(s, self.exists_one(t, t.capacityProvider == s.capacityProvider))").message("each capacity provider may appear only once in the strategy"),
        validation = Rule::new("self.all(s, s.capacityProvider in ['FARGATE', 'FARGATE_SPOT']) || self.all(s, !(s.capacityProvider in ['FARGATE', 'FARGATE_SPOT']))").message("a strategy cannot mix FARGATE/FARGATE_SPOT with Auto Scaling group capacity providers"),
    )]
    pub default_capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,

    /// Tags on the cluster (the operator adds its own `ecs-operator.dev/` tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 40))]
    #[x_kube(
        validation = Rule::new("self.all(t, self.exists_one(u, u.key == t.key))").message("tag keys must be unique"),
        validation = Rule::new("self.all(t, !t.key.startsWith('ecs-operator.dev/') && !t.key.startsWith('aws:'))").message("tag keys starting with ecs-operator.dev/ or aws: are reserved"),
    )]
    pub tags: Vec<Tag>,

    /// What happens to the ECS cluster when this object is deleted: `Delete` deletes it once
    /// no service runs in it; `Retain` leaves it. When unset, the operator's
    /// `--default-deletion-policy` applies (Delete unless configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Take over an existing ECS cluster of the same name that was not created by this object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt_existing: bool,

    /// AWS Region of the cluster, e.g. `eu-west-1`. Defaults to the operator's Region.
    /// Cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"))]
    pub region: Option<String>,

    /// IAM role (ARN) the operator assumes to manage this object's AWS resources, for another
    /// account; it must be granted to the namespace by an AWSAccessGrant (else `RoleNotGranted`).
    /// Unset: the grant's `defaultRoleArn`, else the operator's own identity. Moving to a role
    /// in another account leaves the resources in the old account behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: Option<String>,
}

/// A capacity provider name: `FARGATE`, `FARGATE_SPOT` or an Auto Scaling group provider.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct CapacityProviderName(
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]{1,255}$"))] pub String,
);

/// Cluster settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSettings {
    /// CloudWatch Container Insights: `enabled`, `enhanced` (with task and container level
    /// metrics) or `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_insights: Option<ContainerInsights>,
}

/// CloudWatch Container Insights level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContainerInsights {
    Enabled,
    Enhanced,
    Disabled,
}

/// Cluster configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfiguration {
    /// How ECS Exec sessions are encrypted and logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_command_configuration: Option<ExecuteCommandConfiguration>,
}

/// ECS Exec configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.logConfiguration) == (has(self.logging) && self.logging == 'OVERRIDE')")
        .message("logConfiguration is required with logging OVERRIDE and only allowed with it")
        .field_path(".logConfiguration"),
)]
pub struct ExecuteCommandConfiguration {
    /// KMS key (id or ARN) that encrypts the data between the client and the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub kms_key_id: Option<String>,
    /// `NONE`, `DEFAULT` (the awslogs configuration of the task definition; ECS default) or
    /// `OVERRIDE` (the `logConfiguration` below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<ExecuteCommandLogging>,
    /// Where session logs go, with `logging: OVERRIDE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<ExecuteCommandLogConfiguration>,
}

/// ECS Exec logging mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum ExecuteCommandLogging {
    NONE,
    DEFAULT,
    OVERRIDE,
}

/// Destinations of ECS Exec session logs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteCommandLogConfiguration {
    /// CloudWatch Logs log group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub cloud_watch_log_group_name: Option<String>,
    /// Require the log group to be encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_encryption_enabled: Option<bool>,
    /// S3 bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 63))]
    pub s3_bucket_name: Option<String>,
    /// Require the bucket to be encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_encryption_enabled: Option<bool>,
    /// Key prefix in the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub s3_key_prefix: Option<String>,
}

/// Service Connect defaults: the Cloud Map namespace, by name or ARN, or by reference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.namespace) != has(self.namespaceRef)")
        .message("set exactly one of namespace and namespaceRef")
        .field_path(".namespace"),
)]
pub struct ServiceConnectDefaults {
    /// Cloud Map namespace name or ARN (ECS creates an HTTP namespace of that name if none exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub namespace: Option<String>,
    /// A CloudMapNamespace object in the same namespace; the cluster reports
    /// `WaitingForNamespace` until it is Ready, then uses its ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_ref: Option<LocalObjectReference>,
}

/// Observed state of the ECS cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ECSClusterStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Cluster ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// Cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// ECS status: `ACTIVE`, `PROVISIONING`, `DEPROVISIONING`, `FAILED` or `INACTIVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_status: Option<String>,
    /// Container instances registered with the cluster (EC2 and external).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_container_instances_count: Option<i32>,
    /// Tasks in the RUNNING state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_tasks_count: Option<i32>,
    /// Tasks in the PENDING state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_tasks_count: Option<i32>,
    /// Services in the ACTIVE state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_services_count: Option<i32>,
    /// Capacity providers associated with the cluster, as ECS reports them (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_providers: Vec<String>,
    /// Service Connect default namespace as ECS reports it (an ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_namespace: Option<String>,
    /// `spec.serviceConnectDefaults.namespace` as last applied (ECS reports an ARN for a name,
    /// so the name is remembered to know whether it changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_service_connect_namespace: Option<String>,
    /// Spec fields the operator manages (paths, sorted): the ones the spec set when it was
    /// last applied. A path that leaves the spec is reset once to ECS's default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields: Vec<String>,
    /// Deletion policy in effect (spec or operator default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// AWS account the resources are in: the `roleArn`'s (or the namespace's role's), or the
    /// operator's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account_id: Option<String>,
    /// Ready, Reconciling and Stalled conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl ECSCluster {
    /// The ECS cluster name this object manages.
    pub fn cluster_name(&self) -> String {
        match &self.spec.cluster_name {
            Some(name) => name.clone(),
            None => self.metadata.name.clone().unwrap_or_default(),
        }
    }
}
