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
    printcolumn(name = "Cluster", type_ = "string", json_path = ".status.clusterArn", priority = 1),
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
    validation = Rule::new("has(self.cluster) != has(self.clusterRef)")
        .message("set exactly one of cluster and clusterRef")
        .field_path(".clusterRef"),
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
    validation = Rule::new("!has(self.autoScaling) || !has(self.autoScaling.targetTracking) || has(self.loadBalancers) || !self.autoScaling.targetTracking.exists(p, has(p.predefinedMetric) && p.predefinedMetric.type == 'ALBRequestCountPerTarget')")
        .message("ALBRequestCountPerTarget needs a load balancer: set spec.loadBalancers")
        .field_path(".autoScaling.targetTracking"),
    validation = Rule::new("!has(self.autoScaling) || !has(self.schedulingStrategy) || self.schedulingStrategy != 'DAEMON'")
        .message("autoScaling cannot be set with schedulingStrategy DAEMON")
        .field_path(".autoScaling"),
    validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)")
        .message("region cannot change after creation: create a new object in the other Region")
        .field_path(".region"),
)]
pub struct ECSServiceSpec {
    /// Cluster the service runs in: a name or a cluster ARN. Set exactly one of `cluster` and
    /// `clusterRef`. Cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub cluster: Option<String>,

    /// An ECSCluster object in the same namespace to run in; the service waits until the
    /// cluster is Ready. Set exactly one of `cluster` and `clusterRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<LocalObjectReference>,

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

    /// Seconds a rollout may take before it is reported stuck (`Stalled`, reason
    /// `RolloutStuck`), like a Deployment's `progressDeadlineSeconds`. Counted from the
    /// start of ECS's PRIMARY deployment. Matters most without the deployment circuit
    /// breaker, where ECS replaces failing tasks for ever and the rollout never fails on its
    /// own; ECS is not told, and the rollout goes on. Default 600.
    #[serde(default = "default_progress_deadline_seconds")]
    #[schemars(range(min = 1))]
    pub progress_deadline_seconds: i32,

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

    /// ECS Service Connect: the service joins a Cloud Map namespace, reaches the other
    /// services in it by short names, and (with `services`) is reached by them. Compared with
    /// the PRIMARY deployment's configuration as ECS reports it. Removing it turns Service
    /// Connect off (`enabled: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_configuration: Option<ServiceConnectConfiguration>,

    /// Volumes configured when tasks are launched (Amazon EBS volumes managed by ECS), by the
    /// name of a volume the task definition declares with `configuredAtLaunch`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1))]
    pub volume_configurations: Vec<ServiceVolumeConfiguration>,

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

    /// Register the service's tasks in AWS Cloud Map so clients find them by DNS or by the
    /// DiscoverInstances API. The operator creates and owns the Cloud Map service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_discovery: Option<ServiceDiscovery>,

    /// Application Auto Scaling of the service's task count: the scalable target, target
    /// tracking and step scaling policies (with their CloudWatch alarms) and scheduled
    /// actions, all created and owned by the operator. While set, `desiredCount` is only the
    /// initial count; removing it deregisters the target and `desiredCount` applies again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AutoScaling>,

    /// AWS Region to run the service in, e.g. `eu-west-1`. Defaults to the operator's
    /// Region. Cannot change after creation.
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

/// ECS Service Connect configuration (ECS's `ServiceConnectConfiguration`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(has(self.namespace) && has(self.namespaceRef))")
        .message("set at most one of namespace and namespaceRef")
        .field_path(".namespaceRef"),
    validation = Rule::new("!has(self.accessLogConfiguration) || has(self.logConfiguration)")
        .message("accessLogConfiguration needs logConfiguration (where the access logs go)")
        .field_path(".accessLogConfiguration"),
)]
pub struct ServiceConnectConfiguration {
    /// Use Service Connect with this service.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Cloud Map namespace name or ARN (in the service's Region). Without it (and without
    /// `namespaceRef`), the cluster's Service Connect default namespace is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub namespace: Option<String>,
    /// A CloudMapNamespace object in the same namespace, instead of `namespace`; the service
    /// waits until it is Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_ref: Option<LocalObjectReference>,
    /// The endpoints other services reach this one by. Omit for a client-only service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 30))]
    #[x_kube(validation = Rule::new("self.all(s, self.exists_one(t, t.portName == s.portName))").message("portName must be unique"))]
    pub services: Vec<ServiceConnectService>,
    /// Log configuration of the Service Connect proxy container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<super::task_definition::LogConfiguration>,
    /// Access logs of the Service Connect proxy (needs `logConfiguration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_configuration: Option<ServiceConnectAccessLogConfiguration>,
}

fn enabled_by_default() -> bool {
    true
}

/// One Service Connect endpoint of the service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectService {
    /// Name of a `portMappings` entry in the task definition.
    #[schemars(length(min = 1, max = 64))]
    pub port_name: String,
    /// Name of the Cloud Map service ECS creates (default: `portName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9_][a-z0-9_-]{0,63}$"))]
    pub discovery_name: Option<String>,
    /// The name and port clients use (at most 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1))]
    pub client_aliases: Vec<ServiceConnectClientAlias>,
    /// Port the proxy listens on (default: the container port in awsvpc mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub ingress_port_override: Option<i32>,
    /// Idle and per-request timeouts of the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ServiceConnectTimeout>,
    /// TLS between the proxies, with an AWS Private CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServiceConnectTls>,
}

/// A name and port clients use to reach a Service Connect service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectClientAlias {
    /// Port the proxy listens on in client tasks.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// DNS name clients use (default: `discoveryName.namespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,126}$"))]
    pub dns_name: Option<String>,
    /// Test traffic routing during blue/green deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_traffic_rules: Option<ServiceConnectTestTrafficRules>,
}

/// Which requests are test traffic during a blue/green deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectTestTrafficRules {
    /// Requests with this header are test traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<ServiceConnectTestTrafficHeaderRules>,
}

/// A header that marks test traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectTestTrafficHeaderRules {
    /// Header name, e.g. `x-canary`.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// How its value must match (without it, any value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ServiceConnectTestTrafficHeaderMatchRules>,
}

/// How a header value matches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectTestTrafficHeaderMatchRules {
    /// The exact value.
    #[schemars(length(min = 1, max = 1024))]
    pub exact: String,
}

/// Service Connect proxy timeouts (0 turns one off).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectTimeout {
    /// Seconds a connection stays open while idle (ECS default: 300 for HTTP, 3600 for TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub idle_timeout_seconds: Option<i32>,
    /// Seconds to wait for a complete response (not for TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub per_request_timeout_seconds: Option<i32>,
}

/// TLS for a Service Connect service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectTls {
    /// The AWS Private CA that signs the certificates.
    pub issuer_certificate_authority: ServiceConnectTlsCertificateAuthority,
    /// KMS key (ARN or id) for the certificates' private keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub kms_key: Option<String>,
    /// IAM role ECS uses for TLS (ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: Option<String>,
}

/// The certificate authority of Service Connect TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectTlsCertificateAuthority {
    /// ARN of the AWS Private CA.
    #[schemars(regex(
        pattern = r"^arn:aws[a-zA-Z-]*:acm-pca:[a-z0-9-]+:[0-9]{12}:certificate-authority/.+$"
    ))]
    pub aws_pca_authority_arn: String,
}

/// Service Connect access logs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectAccessLogConfiguration {
    /// `TEXT` or `JSON`.
    pub format: AccessLogFormat,
    /// Include query parameters (`ENABLED`) or not (`DISABLED`, ECS default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_query_parameters: Option<EnabledDisabled>,
}

/// Format of Service Connect access logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum AccessLogFormat {
    #[default]
    TEXT,
    JSON,
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
    /// Spec fields the operator manages (paths, sorted): the ones the spec set when it was
    /// last applied. A path that leaves the spec is reset once to ECS's default; a field never
    /// in this list is left to others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields: Vec<String>,
    /// Hash of the `volumeConfigurations` last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_volume_configurations_hash: Option<String>,
    /// A task definition whose rollout failed (circuit breaker); it is not re-applied until
    /// the spec names another one or `redeployToken` changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_task_definition: Option<String>,
    /// Deletion policy in effect (spec or operator default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// AWS account the resources are in: the `roleArn`'s (or the namespace's role's), or the
    /// operator's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account_id: Option<String>,
    /// How many ECS services the operator has created (or found) for this object: 1, more
    /// after the service was deleted outside the operator and created again. Part of
    /// CreateService's `clientToken`, so that a create repeated after a crash is idempotent
    /// and a later re-create is a new request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_creations: Option<u32>,
    /// Cloud Map registration (with `spec.serviceDiscovery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_discovery: Option<DiscoveryStatus>,
    /// Application Auto Scaling as applied (with `spec.autoScaling`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AutoScalingStatus>,
    /// Ready, Progressing, Reconciling, Stalled and ScalingActive conditions.
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
    /// When ECS started the deployment (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
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

fn default_progress_deadline_seconds() -> i32 {
    600
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

/// Cloud Map service discovery for an ECS service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.namespaceRef) != has(self.namespaceId)")
        .message("set exactly one of namespaceRef and namespaceId")
        .field_path(".namespaceRef"),
    validation = Rule::new("!(has(self.healthCheckCustomConfig) && has(self.healthCheckConfig))")
        .message("set at most one of healthCheckCustomConfig and healthCheckConfig")
        .field_path(".healthCheckConfig"),
    validation = Rule::new("!has(self.dnsConfig) || !self.dnsConfig.dnsRecords.exists(r, r.type == 'SRV') || (has(self.containerName) && has(self.containerPort))")
        .message("SRV records need containerName and containerPort (the port clients connect to)")
        .field_path(".containerPort"),
    validation = Rule::new("has(self.containerName) == has(self.containerPort)")
        .message("set containerName and containerPort together")
        .field_path(".containerName"),
)]
pub struct ServiceDiscovery {
    /// A CloudMapNamespace object in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_ref: Option<LocalObjectReference>,
    /// Id of a Cloud Map namespace the operator does not manage, e.g. `ns-abcdefghijklmnop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^ns-[a-z0-9]{16,64}$"))]
    pub namespace_id: Option<String>,
    /// Cloud Map service name (the DNS label clients use). Defaults to the ECS service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?$")
    )]
    pub name: Option<String>,
    /// DNS records Cloud Map keeps for each task (DNS namespaces only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<DnsConfig>,
    /// Let ECS report task health to Cloud Map (recommended for private namespaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_custom_config: Option<HealthCheckCustomConfig>,
    /// Route 53 health checks (public DNS namespaces only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_config: Option<HealthCheckConfig>,
    /// Container whose port is registered (needed for SRV records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub container_name: Option<String>,
    /// Container port registered with the instances (needed for SRV records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: Option<i32>,
}

/// DNS configuration of a Cloud Map service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.dnsRecords.all(r, self.dnsRecords.exists_one(s, s.type == r.type))")
    .message("each record type may appear once")
    .field_path(".dnsRecords"))]
pub struct DnsConfig {
    /// `MULTIVALUE` (default; up to eight healthy records) or `WEIGHTED` (one at random).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_policy: Option<RoutingPolicy>,
    /// Records to create for each task: `A`, `AAAA` or `SRV`, each at most once.
    #[schemars(length(min = 1, max = 3))]
    pub dns_records: Vec<DnsRecord>,
}

/// DNS routing policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum RoutingPolicy {
    MULTIVALUE,
    WEIGHTED,
}

/// One DNS record type with its TTL.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecord {
    /// `A`, `AAAA` or `SRV`.
    #[serde(rename = "type")]
    pub type_: DnsRecordType,
    /// TTL in seconds (0-2147483647).
    #[serde(rename = "ttl")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub ttl: i64,
}

/// DNS record type.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[allow(clippy::upper_case_acronyms)]
pub enum DnsRecordType {
    #[default]
    A,
    AAAA,
    SRV,
}

/// Health reported by ECS to Cloud Map.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckCustomConfig {
    /// Deprecated by Cloud Map (always 1); accepted for compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub failure_threshold: Option<i32>,
}

/// Route 53 health check (public DNS namespaces).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckConfig {
    /// `HTTP`, `HTTPS` or `TCP`.
    #[serde(rename = "type")]
    pub type_: HealthCheckType,
    /// Path requested by HTTP(S) checks, e.g. `/health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub resource_path: Option<String>,
    /// Consecutive failures before unhealthy (1-10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub failure_threshold: Option<i32>,
}

/// Route 53 health check type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum HealthCheckType {
    #[default]
    HTTP,
    HTTPS,
    TCP,
}

/// Cloud Map registration of the service, as observed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryStatus {
    /// Cloud Map namespace id.
    pub namespace_id: String,
    /// Cloud Map service id.
    pub service_id: String,
    /// Cloud Map service ARN (the ECS service's registry).
    pub service_arn: String,
    /// Name clients use: `<service>.<namespace>` for DNS namespaces; for HTTP namespaces,
    /// DiscoverInstances with this namespace and service name.
    pub discovery_name: String,
    /// Hash of the settings the Cloud Map service was created with (record types, routing,
    /// health check type); a change of those needs a new Cloud Map service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_with: Option<String>,
    /// Previous Cloud Map services to delete once no instances remain in them (after a
    /// change that needed a new one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_service_ids: Vec<String>,
}

/// Application Auto Scaling of the service's desired count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.minCapacity <= self.maxCapacity")
        .message("minCapacity must not exceed maxCapacity")
        .field_path(".minCapacity"),
    validation = Rule::new("!has(self.targetTracking) || !has(self.stepScaling) || self.targetTracking.all(p, !self.stepScaling.exists(q, q.name == p.name))")
        .message("policy names must be unique across targetTracking and stepScaling")
        .field_path(".stepScaling"),
)]
pub struct AutoScaling {
    /// Fewest tasks the scaler may set (0-100000).
    #[schemars(range(min = 0, max = 100000))]
    pub min_capacity: i32,
    /// Most tasks the scaler may set (0-100000).
    #[schemars(range(min = 0, max = 100000))]
    pub max_capacity: i32,
    /// Suspend scaling activities (Application Auto Scaling's SuspendedState).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<SuspendedState>,
    /// Target tracking policies (up to 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[x_kube(validation = Rule::new("self.all(p, self.exists_one(q, q.name == p.name))").message("targetTracking policy names must be unique"))]
    pub target_tracking: Vec<TargetTrackingPolicy>,
    /// Step scaling policies, each triggered by a CloudWatch alarm the operator creates (up to 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[x_kube(validation = Rule::new("self.all(p, self.exists_one(q, q.name == p.name))").message("stepScaling policy names must be unique"))]
    pub step_scaling: Vec<StepScalingPolicy>,
    /// Scheduled actions that change the capacity range at given times (up to 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    #[x_kube(validation = Rule::new("self.all(a, self.exists_one(b, b.name == a.name))").message("scheduled action names must be unique"))]
    pub scheduled: Vec<ScheduledScaling>,
}

/// Which scaling activities are suspended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuspendedState {
    /// Policies do not scale in.
    #[serde(default)]
    pub dynamic_scaling_in_suspended: bool,
    /// Policies do not scale out.
    #[serde(default)]
    pub dynamic_scaling_out_suspended: bool,
    /// Scheduled actions do not run.
    #[serde(default)]
    pub scheduled_scaling_suspended: bool,
}

impl SuspendedState {
    pub fn any(&self) -> bool {
        self.dynamic_scaling_in_suspended
            || self.dynamic_scaling_out_suspended
            || self.scheduled_scaling_suspended
    }
}

/// A target tracking policy: keep a metric at `targetValue`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.predefinedMetric) != has(self.customizedMetric)")
    .message("set exactly one of predefinedMetric and customizedMetric")
    .field_path(".predefinedMetric"))]
pub struct TargetTrackingPolicy {
    /// Policy name, unique in this object (the AWS name is derived from it).
    #[schemars(
        length(min = 1, max = 64),
        regex(pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")
    )]
    pub name: String,
    /// One of the predefined ECS metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predefined_metric: Option<PredefinedMetric>,
    /// A CloudWatch metric of your own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customized_metric: Option<CustomizedMetric>,
    /// Value to keep the metric at (e.g. 50 for 50 % CPU).
    pub target_value: f64,
    /// Seconds after a scale-in before another may start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub scale_in_cooldown: Option<i32>,
    /// Seconds after a scale-out before another may start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub scale_out_cooldown: Option<i32>,
    /// Only scale out: never remove tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_scale_in: Option<bool>,
}

/// A predefined metric for target tracking.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.type != 'ALBRequestCountPerTarget' || has(self.resourceLabel) || has(self.loadBalancerArn)")
        .message("ALBRequestCountPerTarget needs resourceLabel or loadBalancerArn")
        .field_path(".resourceLabel"),
    validation = Rule::new("self.type == 'ALBRequestCountPerTarget' || (!has(self.resourceLabel) && !has(self.loadBalancerArn) && !has(self.targetGroupArn))")
        .message("resourceLabel, loadBalancerArn and targetGroupArn are only for ALBRequestCountPerTarget")
        .field_path(".resourceLabel"),
)]
pub struct PredefinedMetric {
    /// `ECSServiceAverageCPUUtilization`, `ECSServiceAverageMemoryUtilization` or
    /// `ALBRequestCountPerTarget`.
    #[serde(rename = "type")]
    pub type_: PredefinedMetricType,
    /// For ALBRequestCountPerTarget: the full label,
    /// `app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id>`. Alternatively set
    /// `loadBalancerArn` and the operator derives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^app/[^/]+/[^/]+/targetgroup/[^/]+/[^/]+$"))]
    pub resource_label: Option<String>,
    /// For ALBRequestCountPerTarget: the Application Load Balancer in front of the target
    /// group (the label's load balancer part is not in the target group ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^arn:aws[a-zA-Z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:loadbalancer/app/[^/]+/[^/]+$"
    ))]
    pub load_balancer_arn: Option<String>,
    /// For ALBRequestCountPerTarget with `loadBalancerArn`: which of `spec.loadBalancers`'
    /// target groups; defaults to the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^arn:aws[a-zA-Z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[^/]+/[^/]+$"
    ))]
    pub target_group_arn: Option<String>,
}

/// Predefined metric type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::enum_variant_names)]
pub enum PredefinedMetricType {
    #[default]
    ECSServiceAverageCPUUtilization,
    ECSServiceAverageMemoryUtilization,
    ALBRequestCountPerTarget,
}

impl PredefinedMetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ECSServiceAverageCPUUtilization => "ECSServiceAverageCPUUtilization",
            Self::ECSServiceAverageMemoryUtilization => "ECSServiceAverageMemoryUtilization",
            Self::ALBRequestCountPerTarget => "ALBRequestCountPerTarget",
        }
    }
}

/// A CloudWatch metric for target tracking.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomizedMetric {
    /// Metric name.
    #[schemars(length(min = 1, max = 255))]
    pub metric_name: String,
    /// Metric namespace, e.g. `MyApp`.
    #[schemars(length(min = 1, max = 255))]
    pub namespace: String,
    /// Dimensions of the metric (up to 30).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 30))]
    pub dimensions: Vec<MetricDimension>,
    /// Statistic: `Average`, `Minimum`, `Maximum`, `SampleCount` or `Sum`.
    pub statistic: MetricStatistic,
    /// Unit of the metric, e.g. `Percent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub unit: Option<String>,
}

/// A metric dimension.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct MetricDimension {
    /// Dimension name, e.g. `ServiceName`.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Dimension value.
    #[schemars(length(min = 1, max = 1024))]
    pub value: String,
}

/// A CloudWatch statistic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MetricStatistic {
    #[default]
    Average,
    Minimum,
    Maximum,
    SampleCount,
    Sum,
}

impl MetricStatistic {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Average => "Average",
            Self::Minimum => "Minimum",
            Self::Maximum => "Maximum",
            Self::SampleCount => "SampleCount",
            Self::Sum => "Sum",
        }
    }
}

/// A step scaling policy and the CloudWatch alarm that triggers it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepScalingPolicy {
    /// Policy name, unique in this object (the AWS names are derived from it).
    #[schemars(
        length(min = 1, max = 64),
        regex(pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")
    )]
    pub name: String,
    /// How `scalingAdjustment` is read: `ChangeInCapacity`, `ExactCapacity` or
    /// `PercentChangeInCapacity`.
    pub adjustment_type: AdjustmentType,
    /// Steps by the metric's distance from the alarm threshold (1-20; the intervals must not
    /// overlap; a missing bound is infinity).
    #[schemars(schema_with = "step_adjustments_schema")]
    pub step_adjustments: Vec<StepAdjustment>,
    /// Seconds after a scaling activity before another may start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub cooldown: Option<i32>,
    /// `Average` (default), `Minimum` or `Maximum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_aggregation_type: Option<MetricAggregationType>,
    /// With `PercentChangeInCapacity`: the smallest change in tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub min_adjustment_magnitude: Option<i32>,
    /// The alarm that triggers the policy; the operator creates and owns it.
    pub alarm: ScalingAlarm,
}

fn step_adjustments_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let item = generator.subschema_for::<StepAdjustment>();
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "maxItems": 20,
        "items": item,
        "x-kubernetes-validations": [
            {
                "rule": "self.all(a, self.exists_one(b, b == a))",
                "message": "step adjustments must be distinct"
            },
            {
                "rule": "self.all(a, self.all(b, a == b || (has(a.metricIntervalUpperBound) && has(b.metricIntervalLowerBound) && a.metricIntervalUpperBound <= b.metricIntervalLowerBound) || (has(b.metricIntervalUpperBound) && has(a.metricIntervalLowerBound) && b.metricIntervalUpperBound <= a.metricIntervalLowerBound)))",
                "message": "step adjustments overlap: their metric intervals must not overlap (a missing bound is infinity)"
            }
        ]
    })
}

/// Adjustment type of a step scaling policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AdjustmentType {
    #[default]
    ChangeInCapacity,
    ExactCapacity,
    PercentChangeInCapacity,
}

impl AdjustmentType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChangeInCapacity => "ChangeInCapacity",
            Self::ExactCapacity => "ExactCapacity",
            Self::PercentChangeInCapacity => "PercentChangeInCapacity",
        }
    }
}

/// Aggregation of the metric for a step scaling policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MetricAggregationType {
    Average,
    Minimum,
    Maximum,
}

impl MetricAggregationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Average => "Average",
            Self::Minimum => "Minimum",
            Self::Maximum => "Maximum",
        }
    }
}

/// One step: when the metric is between the bounds (relative to the alarm threshold), adjust
/// by `scalingAdjustment`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.metricIntervalLowerBound) || !has(self.metricIntervalUpperBound) || self.metricIntervalLowerBound < self.metricIntervalUpperBound")
    .message("metricIntervalLowerBound must be below metricIntervalUpperBound")
    .field_path(".metricIntervalLowerBound"))]
pub struct StepAdjustment {
    /// Lower bound (inclusive) of the interval; unset is minus infinity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_interval_lower_bound: Option<f64>,
    /// Upper bound (exclusive) of the interval; unset is infinity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_interval_upper_bound: Option<f64>,
    /// Change in tasks (or percent, or the exact count, per `adjustmentType`).
    pub scaling_adjustment: i32,
}

/// The CloudWatch alarm of a step scaling policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingAlarm {
    /// Metric name, e.g. `CPUUtilization`.
    #[schemars(length(min = 1, max = 255))]
    pub metric_name: String,
    /// Metric namespace, e.g. `AWS/ECS`.
    #[schemars(length(min = 1, max = 255))]
    pub namespace: String,
    /// Dimensions; when empty and the namespace is `AWS/ECS`, the service's `ClusterName` and
    /// `ServiceName`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 30))]
    pub dimensions: Vec<MetricDimension>,
    /// Statistic: `Average`, `Minimum`, `Maximum`, `SampleCount` or `Sum`.
    pub statistic: MetricStatistic,
    /// Threshold the metric is compared with.
    pub threshold: f64,
    /// `GreaterThanOrEqualToThreshold`, `GreaterThanThreshold`, `LessThanThreshold` or
    /// `LessThanOrEqualToThreshold`.
    pub comparison_operator: ComparisonOperator,
    /// Periods over which the metric is compared (1-100).
    #[schemars(range(min = 1, max = 100))]
    pub evaluation_periods: i32,
    /// Length of a period in seconds: 10, 30 or a multiple of 60 (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 86400))]
    #[x_kube(validation = Rule::new("self == 10 || self == 30 || self % 60 == 0").message("period must be 10, 30 or a multiple of 60"))]
    pub period: Option<i32>,
    /// Breaching periods out of `evaluationPeriods` that fire the alarm (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub datapoints_to_alarm: Option<i32>,
}

/// Comparison of an alarm's metric with its threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::enum_variant_names)]
pub enum ComparisonOperator {
    #[default]
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl ComparisonOperator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Self::GreaterThanThreshold => "GreaterThanThreshold",
            Self::LessThanThreshold => "LessThanThreshold",
            Self::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
        }
    }
}

/// A scheduled action: sets the capacity range at given times.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.minCapacity) || has(self.maxCapacity)")
        .message("set minCapacity, maxCapacity or both")
        .field_path(".minCapacity"),
    validation = Rule::new("!has(self.minCapacity) || !has(self.maxCapacity) || self.minCapacity <= self.maxCapacity")
        .message("minCapacity must not exceed maxCapacity")
        .field_path(".minCapacity"),
)]
pub struct ScheduledScaling {
    /// Action name, unique in this object (the AWS name is derived from it).
    #[schemars(
        length(min = 1, max = 64),
        regex(pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")
    )]
    pub name: String,
    /// `cron(<minutes> <hours> <day of month> <month> <day of week> <year>)`,
    /// `rate(<value> <unit>)` or `at(yyyy-mm-ddThh:mm:ss)`.
    #[schemars(regex(
        pattern = r"^(cron\(\S+( \S+){5}\)|rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|at\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\))$"
    ))]
    pub schedule: String,
    /// IANA time zone the schedule is in, e.g. `Europe/Paris` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub timezone: Option<String>,
    /// The action runs from this time on (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
    ))]
    pub start_time: Option<String>,
    /// The action runs until this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
    ))]
    pub end_time: Option<String>,
    /// New minimum capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub min_capacity: Option<i32>,
    /// New maximum capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub max_capacity: Option<i32>,
}

/// Application Auto Scaling as applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoScalingStatus {
    /// Scalable target: `service/<cluster>/<service>` in namespace `ecs`.
    pub resource_id: String,
    /// Scalable target ARN, when Application Auto Scaling reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalable_target_arn: Option<String>,
    /// Whether the scalable target is registered.
    pub registered: bool,
    /// Minimum capacity of the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_capacity: Option<i32>,
    /// Maximum capacity of the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_capacity: Option<i32>,
    /// Whether any scaling activity is suspended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspended: bool,
    /// Desired count the scaler (or the initial spec) left on the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i32>,
    /// Scaling policies the operator put.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<ScalingPolicyStatus>,
    /// Scheduled actions the operator put (AWS names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduled_actions: Vec<String>,
    /// The latest scaling activity, in short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scaling_activity: Option<String>,
    /// Hash of the auto scaling configuration last applied; an unchanged spec is not put again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_hash: Option<String>,
}

/// A scaling policy the operator put.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingPolicyStatus {
    /// Name in the spec.
    pub name: String,
    /// AWS policy name.
    pub policy_name: String,
    /// Policy ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_arn: Option<String>,
    /// CloudWatch alarms the operator created for it (step scaling).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarm_names: Vec<String>,
}

/// A volume configured at launch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceVolumeConfiguration {
    /// Name of the volume in the task definition.
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]{1,255}$"))]
    pub name: String,
    /// The EBS volume ECS creates for each task.
    #[serde(rename = "managedEBSVolume")]
    pub managed_ebs_volume: ManagedEbsVolume,
}

/// An Amazon EBS volume ECS creates and attaches for each task.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedEbsVolume {
    /// IAM role ECS uses to manage the volume (with AmazonECSInfrastructureRolePolicyForVolumes).
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: String,
    /// Encrypt the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// KMS key for encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub kms_key_id: Option<String>,
    /// EBS volume type, e.g. `gp3`, `io2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(gp2|gp3|io1|io2|sc1|st1|standard)$"))]
    pub volume_type: Option<String>,
    /// Size in GiB.
    #[serde(rename = "sizeInGiB", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65536))]
    pub size_in_gib: Option<i32>,
    /// Snapshot to create the volume from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^snap-[0-9a-f]{8,17}$"))]
    pub snapshot_id: Option<String>,
    /// Provisioned IOPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 256000))]
    pub iops: Option<i32>,
    /// Throughput in MiB/s (gp3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 125, max = 2000))]
    pub throughput: Option<i32>,
    /// File system type: `ext3`, `ext4`, `xfs` or `ntfs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(ext3|ext4|xfs|ntfs)$"))]
    pub filesystem_type: Option<String>,
}
