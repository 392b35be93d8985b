//! `ECSService`: an Amazon ECS service, its rollouts and its drift.
//!
//! Field names follow ECS's CreateService/UpdateService so the ECS documentation applies.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, LocalObjectReference, Tag};

/// Desired state of an ECS service.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "ecs-operator.dev",
    version = "v1alpha1",
    kind = "ECSService",
    plural = "ecsservices",
    namespaced,
    status = "ECSServiceStatus",
    shortname = "ecssvc",
    category = "ecs",
    doc = "An Amazon ECS service managed from Kubernetes: created, updated in place, rolled out and kept free of drift.",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster", priority = 1),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".status.desiredCount"),
    printcolumn(name = "Running", type_ = "integer", json_path = ".status.runningCount"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.serviceStatus"),
    printcolumn(name = "Rollout", type_ = "string", json_path = ".status.rolloutState"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("has(self.spec.serviceName) || self.metadata.name.matches('^[a-zA-Z][a-zA-Z0-9_-]{0,254}$')")
        .message("spec.serviceName must be set when metadata.name is not a valid ECS service name")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.taskDefinitionRef) != has(self.taskDefinition)")
        .message("set exactly one of taskDefinitionRef and taskDefinition")
        .field_path(".taskDefinitionRef"),
    validation = Rule::new("!(has(self.launchType) && has(self.capacityProviderStrategy))")
        .message("set at most one of launchType and capacityProviderStrategy")
        .field_path(".launchType"),
    validation = Rule::new("!has(self.schedulingStrategy) || self.schedulingStrategy != 'DAEMON' || !has(self.desiredCount)")
        .message("desiredCount cannot be set with schedulingStrategy DAEMON")
        .field_path(".desiredCount"),
    validation = Rule::new("!has(self.schedulingStrategy) || self.schedulingStrategy != 'DAEMON' || !has(self.launchType) || self.launchType != 'FARGATE'")
        .message("schedulingStrategy DAEMON is not supported with launchType FARGATE")
        .field_path(".schedulingStrategy"),
    validation = Rule::new("!has(self.schedulingStrategy) || self.schedulingStrategy != 'DAEMON' || !has(self.deploymentController) || self.deploymentController == 'ECS'")
        .message("schedulingStrategy DAEMON is only supported with the ECS deployment controller")
        .field_path(".schedulingStrategy"),
    validation = Rule::new("!has(self.launchType) || self.launchType != 'FARGATE' || !has(self.placementStrategy)")
        .message("placementStrategy is not supported with launchType FARGATE")
        .field_path(".placementStrategy"),
    validation = Rule::new("!has(self.launchType) || self.launchType != 'FARGATE' || !has(self.placementConstraints)")
        .message("placementConstraints are not supported with launchType FARGATE")
        .field_path(".placementConstraints"),
    validation = Rule::new("!has(self.deploymentController) || self.deploymentController == 'ECS' || !has(self.deploymentConfiguration) || !has(self.deploymentConfiguration.deploymentCircuitBreaker)")
        .message("deploymentCircuitBreaker is only supported with the ECS deployment controller")
        .field_path(".deploymentConfiguration.deploymentCircuitBreaker"),
)]
pub struct ECSServiceSpec {
    /// Cluster the service runs in: a name or a cluster ARN. Cannot change after creation.
    #[schemars(length(min = 1, max = 2048))]
    pub cluster: String,

    /// ECS service name (letters, digits, `-`, `_`; up to 255; starts with a letter).
    /// Defaults to `metadata.name`. Cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_-]{0,254}$")
    )]
    pub service_name: Option<String>,

    /// A TaskDefinition object in the same namespace whose current revision the service runs.
    /// A new revision of it rolls the service at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_ref: Option<LocalObjectReference>,

    /// A task definition the operator does not manage: a full ARN or `family:revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^(arn:aws[a-zA-Z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task-definition/[a-zA-Z0-9_-]{1,255}:[0-9]+|[a-zA-Z0-9_-]{1,255}:[0-9]+)$"
    ))]
    pub task_definition: Option<String>,

    /// Number of tasks to keep running. When unset, ECS keeps what it has (1 at creation).
    /// With `autoScaling`, this is only the initial count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub desired_count: Option<i32>,

    /// `FARGATE`, `EC2` or `EXTERNAL`. Mutually exclusive with `capacityProviderStrategy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,

    /// Capacity provider strategy (up to 20 entries; at most one with a base).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[x_kube(validation = Rule::new("self.filter(s, has(s.base) && s.base > 0).size() <= 1").message("at most one capacity provider may have a base"))]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,

    /// FARGATE platform version, e.g. `LATEST` or `1.4.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(LATEST|[0-9]+\.[0-9]+\.[0-9]+)$"))]
    pub platform_version: Option<String>,

    /// Network configuration for tasks using the `awsvpc` network mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,

    /// Load balancer target groups the service registers its tasks with (up to 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub load_balancers: Vec<LoadBalancer>,

    /// Rolling update parameters, circuit breaker and alarms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_configuration: Option<DeploymentConfiguration>,

    /// Deployment controller: `ECS` (rolling update, default), `CODE_DEPLOY` or `EXTERNAL`.
    /// Cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_controller: Option<DeploymentControllerType>,

    /// Placement constraints for tasks on EC2 (up to 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub placement_constraints: Vec<PlacementConstraint>,

    /// Placement strategy for tasks on EC2 (up to 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub placement_strategy: Vec<PlacementStrategy>,

    /// Seconds ECS ignores failing load balancer health checks after a task starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub health_check_grace_period_seconds: Option<i32>,

    /// `REPLICA` (default) or `DAEMON`. Cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling_strategy: Option<SchedulingStrategy>,

    /// Allow ECS Exec into the service's tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_execute_command: Option<bool>,

    /// Let ECS add its managed tags to the tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ecs_managed_tags: Option<bool>,

    /// Copy tags to tasks from the `SERVICE` or the `TASK_DEFINITION`, or `NONE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<PropagateTags>,

    /// ECS Service Connect configuration, passed to ECS as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub service_connect_configuration: Option<serde_json::Value>,

    /// Volumes configured at deployment time (EBS), passed to ECS as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "free_form_object_list")]
    pub volume_configurations: Vec<serde_json::Value>,

    /// `ENABLED` or `DISABLED`: let ECS rebalance tasks across Availability Zones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone_rebalancing: Option<EnabledDisabled>,

    /// Tags on the service (the operator adds its own `ecs-operator.dev/` tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 40))]
    #[x_kube(
        validation = Rule::new("self.all(t, self.exists_one(u, u.key == t.key))").message("tag keys must be unique"),
        validation = Rule::new("self.all(t, !t.key.startsWith('ecs-operator.dev/') && !t.key.startsWith('aws:'))").message("tag keys starting with ecs-operator.dev/ or aws: are reserved"),
    )]
    pub tags: Vec<Tag>,

    /// Any change of this value forces a new deployment (`forceNewDeployment`), e.g. to
    /// pick up a new image behind the same tag. Set it from Git to redeploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub redeploy_token: Option<String>,

    /// What happens to the ECS service when this object is deleted: `Delete` deletes it
    /// (scaling it to 0 first); `Retain` leaves it running. When unset, the operator's
    /// `--default-deletion-policy` applies (Delete unless configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Take over an existing ECS service of the same name that was not created by this object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt_existing: bool,
}

fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

fn free_form_object_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
    })
}

/// Launch type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum LaunchType {
    FARGATE,
    EC2,
    EXTERNAL,
}

/// One entry of a capacity provider strategy.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderStrategyItem {
    /// Capacity provider name, e.g. `FARGATE`, `FARGATE_SPOT` or an Auto Scaling group provider.
    #[schemars(length(min = 1, max = 255))]
    pub capacity_provider: String,
    /// Relative share of tasks (0-1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub weight: Option<i32>,
    /// Minimum number of tasks on this provider (0-100000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub base: Option<i32>,
}

/// Network configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfiguration {
    /// VPC subnets and security groups for `awsvpc` tasks.
    pub awsvpc_configuration: AwsVpcConfiguration,
}

/// VPC configuration for `awsvpc` tasks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsVpcConfiguration {
    /// Subnet ids (1 to 16), e.g. `subnet-0123456789abcdef0`. Order does not matter.
    #[schemars(length(min = 1, max = 16))]
    pub subnets: Vec<SubnetId>,
    /// Security group ids (up to 5). Order does not matter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub security_groups: Vec<SecurityGroupId>,
    /// `ENABLED` or `DISABLED` (ECS default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<EnabledDisabled>,
}

/// A subnet id.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct SubnetId(#[schemars(regex(pattern = r"^subnet-[0-9a-f]{8,17}$"))] pub String);

/// A security group id.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct SecurityGroupId(#[schemars(regex(pattern = r"^sg-[0-9a-f]{8,17}$"))] pub String);

/// `ENABLED` or `DISABLED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum EnabledDisabled {
    ENABLED,
    DISABLED,
}

/// A load balancer target group.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    /// Target group ARN.
    #[schemars(regex(
        pattern = r"^arn:aws[a-zA-Z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/.+$"
    ))]
    pub target_group_arn: String,
    /// Container to register.
    #[schemars(length(min = 1, max = 255))]
    pub container_name: String,
    /// Container port to register.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
}

/// Rolling update parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.minimumHealthyPercent) || !has(self.maximumPercent) || self.minimumHealthyPercent <= self.maximumPercent")
    .message("minimumHealthyPercent must not exceed maximumPercent")
    .field_path(".minimumHealthyPercent"))]
pub struct DeploymentConfiguration {
    /// Lower bound of running tasks during a deployment, in percent of desiredCount (ECS default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub minimum_healthy_percent: Option<i32>,
    /// Upper bound of running tasks during a deployment, in percent of desiredCount (ECS default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 200))]
    pub maximum_percent: Option<i32>,
    /// Stop a failing deployment and optionally roll back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<DeploymentCircuitBreaker>,
    /// CloudWatch alarms that fail a deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<DeploymentAlarms>,
}

/// Deployment circuit breaker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCircuitBreaker {
    /// Stop a deployment whose tasks keep failing.
    pub enable: bool,
    /// Roll back to the last completed deployment when it stops.
    pub rollback: bool,
}

/// Deployment alarms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentAlarms {
    /// CloudWatch alarm names (order does not matter).
    #[schemars(length(min = 1, max = 10))]
    pub alarm_names: Vec<String>,
    /// Watch the alarms.
    pub enable: bool,
    /// Roll back when an alarm fires.
    pub rollback: bool,
}

/// Deployment controller type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum DeploymentControllerType {
    ECS,
    CODE_DEPLOY,
    EXTERNAL,
}

/// A placement constraint.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct PlacementConstraint {
    /// `distinctInstance` or `memberOf`.
    #[serde(rename = "type")]
    #[schemars(regex(pattern = r"^(distinctInstance|memberOf)$"))]
    pub type_: String,
    /// Cluster query language expression (for `memberOf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2000))]
    pub expression: Option<String>,
}

/// A placement strategy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementStrategy {
    /// `spread`, `binpack` or `random`.
    #[serde(rename = "type")]
    #[schemars(regex(pattern = r"^(spread|binpack|random)$"))]
    pub type_: String,
    /// Field to apply the strategy to, e.g. `attribute:ecs.availability-zone` or `memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub field: Option<String>,
}

/// Scheduling strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum SchedulingStrategy {
    REPLICA,
    DAEMON,
}

/// Where tasks copy tags from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum PropagateTags {
    TASK_DEFINITION,
    SERVICE,
    NONE,
}

/// Observed state of the ECS service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ECSServiceStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Service ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    /// Cluster ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// ECS status: `ACTIVE`, `DRAINING` or `INACTIVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_status: Option<String>,
    /// Task definition ARN the service runs (resolved from the reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// Desired task count as ECS reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i32>,
    /// Running task count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_count: Option<i32>,
    /// Pending task count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_count: Option<i32>,
    /// Rollout state of the PRIMARY deployment: `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state: Option<String>,
    /// Deployments as ECS reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<DeploymentStatus>,
    /// The most recent service events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ServiceEvent>,
    /// Value of `spec.redeployToken` last applied with forceNewDeployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_redeploy_token: Option<String>,
    /// Hash of the `serviceConnectConfiguration` last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_service_connect_hash: Option<String>,
    /// A task definition whose rollout failed (circuit breaker); it is not re-applied until
    /// the spec names another one or `redeployToken` changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_task_definition: Option<String>,
    /// Deletion policy in effect (spec or operator default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Ready, Progressing, Reconciling and Stalled conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One ECS deployment of the service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// Deployment id.
    pub id: String,
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// Task definition ARN of the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state: Option<String>,
    /// Why the rollout is in that state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state_reason: Option<String>,
    /// Desired tasks.
    pub desired_count: i32,
    /// Running tasks.
    pub running_count: i32,
    /// Pending tasks.
    pub pending_count: i32,
    /// Tasks that failed to start.
    pub failed_tasks: i32,
}

/// A service event from ECS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEvent {
    /// Event id.
    pub id: String,
    /// When it happened (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Event text.
    pub message: String,
}

impl ECSService {
    /// The ECS service name this object manages.
    pub fn service_name(&self) -> String {
        match &self.spec.service_name {
            Some(name) => name.clone(),
            None => self.metadata.name.clone().unwrap_or_default(),
        }
    }
}

/// Tags as a map, for comparisons.
pub fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}
