//! `CapacityProvider`: an ECS capacity provider backed by an EC2 Auto Scaling group.
//!
//! Field names follow ECS's CreateCapacityProvider/UpdateCapacityProvider so the ECS
//! documentation applies.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, Tag};
use super::ecs_service::EnabledDisabled;

/// Desired state of an Auto Scaling group capacity provider.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "ecs-operator.dev",
    version = "v1alpha1",
    kind = "CapacityProvider",
    plural = "capacityproviders",
    namespaced,
    status = "CapacityProviderStatus",
    shortname = "ecscp",
    category = "ecs",
    doc = "An Amazon ECS capacity provider for an EC2 Auto Scaling group, managed from Kubernetes and kept free of drift.",
    printcolumn(name = "Provider", type_ = "string", json_path = ".status.name"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.providerStatus"),
    printcolumn(name = "Update", type_ = "string", json_path = ".status.updateStatus", priority = 1),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("has(self.spec.name) || (self.metadata.name.matches('^[a-zA-Z0-9_-]{1,255}$') && !self.metadata.name.startsWith('aws') && !self.metadata.name.startsWith('ecs') && !self.metadata.name.startsWith('fargate'))")
        .message("spec.name must be set when metadata.name is not a valid capacity provider name (letters, digits, '-' and '_'; not starting with aws, ecs or fargate)")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.managedTerminationProtection) || self.managedTerminationProtection == 'DISABLED' || (has(self.managedScaling) && has(self.managedScaling.status) && self.managedScaling.status == 'ENABLED')")
        .message("managedTerminationProtection ENABLED needs managedScaling.status ENABLED")
        .field_path(".managedTerminationProtection"),
    validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)")
        .message("region cannot change after creation: create a new object in the other Region")
        .field_path(".region"),
)]
pub struct CapacityProviderSpec {
    /// Capacity provider name (letters, digits, `-`, `_`; up to 255; not starting with `aws`,
    /// `ecs` or `fargate`). Defaults to `metadata.name`. Cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]{1,255}$"))]
    #[x_kube(
        validation = Rule::new("!self.lowerAscii().startsWith('aws') && !self.lowerAscii().startsWith('ecs') && !self.lowerAscii().startsWith('fargate')").message("a capacity provider name cannot start with aws, ecs or fargate"),
        validation = Rule::new("self == oldSelf").message("name cannot change: create a new CapacityProvider instead"),
    )]
    pub name: Option<String>,

    /// ARN of the EC2 Auto Scaling group that provides the capacity. Cannot change after
    /// creation (ECS binds a provider to its group for life).
    #[schemars(regex(
        pattern = r"^arn:aws[a-zA-Z-]*:autoscaling:[a-z0-9-]+:[0-9]{12}:autoScalingGroup:[^:]+:autoScalingGroupName/.{1,255}$"
    ))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("autoScalingGroupArn cannot change: create a new CapacityProvider instead"))]
    pub auto_scaling_group_arn: String,

    /// Managed scaling: ECS scales the Auto Scaling group to the tasks' needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_scaling: Option<ManagedScaling>,

    /// `ENABLED` keeps ECS from terminating instances that run tasks when the group scales in
    /// (needs managed scaling and scale-in protection on the group). ECS default `DISABLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_termination_protection: Option<EnabledDisabled>,

    /// `ENABLED` lets ECS drain instances before the group terminates them (ECS default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_draining: Option<EnabledDisabled>,

    /// Tags on the capacity provider (the operator adds its own `ecs-operator.dev/` tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 40))]
    #[x_kube(
        validation = Rule::new("self.all(t, self.exists_one(u, u.key == t.key))").message("tag keys must be unique"),
        validation = Rule::new("self.all(t, !t.key.startsWith('ecs-operator.dev/') && !t.key.startsWith('aws:'))").message("tag keys starting with ecs-operator.dev/ or aws: are reserved"),
    )]
    pub tags: Vec<Tag>,

    /// What happens to the capacity provider when this object is deleted: `Delete` deletes it
    /// once no ECSCluster of this namespace references it; `Retain` leaves it. When unset, the
    /// operator's `--default-deletion-policy` applies (Delete unless configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Take over an existing capacity provider of the same name that was not created by this
    /// object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt_existing: bool,

    /// AWS Region of the capacity provider, e.g. `eu-west-1`. Defaults to the operator's Region.
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

/// Managed scaling of the Auto Scaling group. Fields left out keep what ECS has (ECS
/// defaults at creation: DISABLED, 100, 1, 10000, 300).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.minimumScalingStepSize) || !has(self.maximumScalingStepSize) || self.minimumScalingStepSize <= self.maximumScalingStepSize")
        .message("minimumScalingStepSize must not exceed maximumScalingStepSize")
        .field_path(".minimumScalingStepSize"),
)]
pub struct ManagedScaling {
    /// `ENABLED` or `DISABLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<EnabledDisabled>,
    /// Target utilisation of the group's capacity, in percent (1-100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_capacity: Option<i32>,
    /// Fewest instances to add or remove at a time (1-10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub minimum_scaling_step_size: Option<i32>,
    /// Most instances to add or remove at a time (1-10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub maximum_scaling_step_size: Option<i32>,
    /// Seconds a new instance takes to contribute metrics (0-10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub instance_warmup_period: Option<i32>,
}

/// Observed state of the capacity provider.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Capacity provider ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_arn: Option<String>,
    /// Capacity provider name, as clusters name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ECS status: `ACTIVE` or `INACTIVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
    /// Status of the last update or deletion, e.g. `UPDATE_COMPLETE`, `DELETE_FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status: Option<String>,
    /// ECS's reason for the update status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status_reason: Option<String>,
    /// Deletion policy in effect (spec or operator default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// AWS account the resources are in: the `roleArn`'s (or the namespace's role's), or the
    /// operator's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account_id: Option<String>,
    /// Spec fields the operator manages (paths, sorted): the ones the spec set when it was
    /// last applied. A path that leaves the spec is reset once to ECS's default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields: Vec<String>,
    /// Ready, Reconciling and Stalled conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl CapacityProvider {
    /// The ECS capacity provider name this object manages.
    pub fn provider_name(&self) -> String {
        match &self.spec.name {
            Some(name) => name.clone(),
            None => self.metadata.name.clone().unwrap_or_default(),
        }
    }
}
