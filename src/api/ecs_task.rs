//! `ECSTask`: Amazon ECS tasks run to completion, like a Kubernetes Job.
//!
//! Field names follow ECS's RunTask so the ECS documentation applies. The spec is immutable:
//! a different run is a new object.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, LocalObjectReference, Tag};
use super::ecs_service::{CapacityProviderStrategyItem, LaunchType, NetworkConfiguration};
use super::task_definition::KeyValuePair;

/// Condition types of an ECSTask besides the kstatus ones.
pub mod condition_types {
    /// Every task finished successfully.
    pub const COMPLETE: &str = "Complete";
    /// The run gave up: reason `BackoffLimitExceeded`, `DeadlineExceeded` or
    /// `CapacityUnavailable`.
    pub const FAILED: &str = "Failed";
}

/// Desired run of ECS tasks.
// clippy reads the repeated keys of kube's printcolumn(...) entries as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "ecs-operator.dev",
    version = "v1alpha1",
    kind = "ECSTask",
    plural = "ecstasks",
    namespaced,
    status = "ECSTaskStatus",
    shortname = "ecstask",
    category = "ecs",
    doc = "Amazon ECS tasks run to completion from Kubernetes, like a Job: started in parallel, retried on failure up to a limit, stopped at a deadline.",
    printcolumn(name = "Count", type_ = "integer", json_path = ".spec.count"),
    printcolumn(name = "Active", type_ = "integer", json_path = ".status.active"),
    printcolumn(name = "Succeeded", type_ = "integer", json_path = ".status.succeeded"),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.failed"),
    printcolumn(
        name = "Complete",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Complete\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self == oldSelf")
        .message("spec is immutable: create a new ECSTask for another run"),
    validation = Rule::new("has(self.cluster) != has(self.clusterRef)")
        .message("set exactly one of cluster and clusterRef")
        .field_path(".clusterRef"),
    validation = Rule::new("has(self.taskDefinitionRef) != has(self.taskDefinition)")
        .message("set exactly one of taskDefinitionRef and taskDefinition")
        .field_path(".taskDefinitionRef"),
    validation = Rule::new("!(has(self.launchType) && has(self.capacityProviderStrategy))")
        .message("set at most one of launchType and capacityProviderStrategy")
        .field_path(".launchType"),
)]
pub struct ECSTaskSpec {
    /// Name or ARN of an existing ECS cluster. Set exactly one of `cluster` and `clusterRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub cluster: Option<String>,

    /// ECSCluster object in the same namespace whose cluster runs the tasks (once Ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<LocalObjectReference>,

    /// TaskDefinition object in the same namespace: its current revision when the run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_ref: Option<LocalObjectReference>,

    /// Task definition by `family`, `family:revision` or full ARN (not managed by this
    /// operator). Set exactly one of `taskDefinition` and `taskDefinitionRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub task_definition: Option<String>,

    /// Number of tasks that must succeed, all started in parallel (RunTask starts at most 10
    /// per call; larger counts are started in several calls). Default 1.
    #[serde(default = "default_count")]
    #[schemars(range(min = 1, max = 1000))]
    pub count: i32,

    /// Failed tasks are run again until this many have failed; one more failure fails the
    /// run (`Failed`, reason `BackoffLimitExceeded`). Default 0: no retry.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub backoff_limit: i32,

    /// Seconds after the run started when every running task is stopped and the run fails
    /// (`Failed`, reason `DeadlineExceeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,

    /// Seconds after the run finished (Complete or Failed) when this object deletes itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i64>,

    /// Launch type. Set at most one of `launchType` and `capacityProviderStrategy`; with
    /// neither, the cluster's default capacity provider strategy applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,

    /// Capacity provider strategy (up to 20 entries; at most one with a base).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[x_kube(validation = Rule::new("self.filter(s, has(s.base) && s.base > 0).size() <= 1").message("at most one capacity provider may have a base"))]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,

    /// Fargate platform version, e.g. `LATEST` or `1.4.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub platform_version: Option<String>,

    /// Subnets, security groups and public IP for `awsvpc` task definitions (required
    /// with them; checked when the task definition is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,

    /// Changes to the task definition for this run: per-container command, environment,
    /// CPU and memory; task CPU, memory and roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<TaskOverrides>,

    /// Task group name (ECS default: `family:<task definition family>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub group: Option<String>,

    /// Tags on every task (the operator adds its own `ecs-operator.dev/` tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 40))]
    #[x_kube(
        validation = Rule::new("self.all(t, self.exists_one(u, u.key == t.key))").message("tag keys must be unique"),
        validation = Rule::new("self.all(t, !t.key.startsWith('ecs-operator.dev/') && !t.key.startsWith('aws:'))").message("tag keys starting with ecs-operator.dev/ or aws: are reserved"),
    )]
    pub tags: Vec<Tag>,

    /// Copy the task definition's tags to the tasks: `TASK_DEFINITION` or `NONE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<TaskPropagateTags>,

    /// Turn on ECS managed tags (`aws:ecs:clusterName`) on the tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ecs_managed_tags: Option<bool>,

    /// Allow ECS Exec into the tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_execute_command: Option<bool>,

    /// What happens to running tasks when this object is deleted: `Delete` stops them;
    /// `Retain` leaves them running. When unset, the operator's `--default-deletion-policy`
    /// applies (Delete unless configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// AWS Region of the cluster, e.g. `eu-west-1`. Defaults to the operator's Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"))]
    pub region: Option<String>,

    /// IAM role (ARN) the operator assumes to run the tasks, for another account. It must
    /// be granted to the namespace by an AWSAccessGrant (else `RoleNotGranted`); unset: the
    /// grant's `defaultRoleArn`, else the operator's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: Option<String>,
}

fn default_count() -> i32 {
    1
}

/// Where tasks copy tags from (RunTask knows no `SERVICE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum TaskPropagateTags {
    TASK_DEFINITION,
    NONE,
}

/// Changes to the task definition for one run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskOverrides {
    /// Per-container changes, by container name (each name once; every name must be a
    /// container of the task definition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub container_overrides: Vec<ContainerOverride>,
    /// Task CPU units, e.g. `256` or `1 vCPU`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub cpu: Option<String>,
    /// Task memory, e.g. `512` (MiB) or `1 GB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub memory: Option<String>,
    /// IAM role (ARN) the containers of the tasks act as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$"))]
    pub task_role_arn: Option<String>,
    /// IAM role (ARN) ECS uses to pull images and write logs for the tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$"))]
    pub execution_role_arn: Option<String>,
}

/// Changes to one container for this run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerOverride {
    /// Container name, as in the task definition.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Command replacing the image's or task definition's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Environment variables added to (or replacing those of) the task definition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<KeyValuePair>,
    /// CPU units of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cpu: Option<i32>,
    /// Hard memory limit of the container (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 4))]
    pub memory: Option<i32>,
    /// Soft memory limit of the container (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 4))]
    pub memory_reservation: Option<i32>,
}

/// Observed state of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ECSTaskStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Cluster the tasks run in (ARN or name as resolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// Task definition revision the tasks run (full ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// `startedBy` of every task of this run: `ecs-operator/<uid>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// When the first task was started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When the run finished, Complete or Failed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    /// Tasks not yet stopped.
    #[serde(default)]
    pub active: i32,
    /// Tasks stopped with every container's exit code 0.
    #[serde(default)]
    pub succeeded: i32,
    /// Tasks stopped otherwise (non-zero exit, failed to start, stopped by someone), plus
    /// tasks ECS refused to place.
    #[serde(default)]
    pub failed: i32,
    /// Every task started for this run, in the order they were started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskRecord>,
    /// The last failures RunTask reported (e.g. capacity not available).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub launch_failures: Vec<String>,
    /// Deletion policy in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// `Complete`, `Failed`, `Ready`, `Reconciling` and `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One ECS task of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    /// Task ARN.
    pub task_arn: String,
    /// `PROVISIONING`, `PENDING`, `RUNNING`, ..., `STOPPED`.
    #[serde(default)]
    pub last_status: String,
    /// `RUNNING` or `STOPPED`.
    #[serde(default)]
    pub desired_status: String,
    /// `EssentialContainerExited`, `TaskFailedToStart`, `UserInitiated`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    /// Why ECS stopped the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    /// When the task started running (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the task stopped (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// The containers' exit codes and reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerRecord>,
    /// `Running`, `Succeeded` or `Failed`.
    #[serde(default)]
    pub outcome: TaskOutcome,
}

/// How a task ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TaskOutcome {
    #[default]
    Running,
    Succeeded,
    Failed,
}

/// One container of a task.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    /// Container name.
    pub name: String,
    /// Container state as ECS reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    /// Exit code, once the container exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why the container stopped, when ECS says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ECSTask {
    /// The `startedBy` of this run's tasks (ECS allows 128 characters; a uid is 36).
    pub fn started_by(&self) -> String {
        format!(
            "ecs-operator/{}",
            self.metadata.uid.as_deref().unwrap_or_default()
        )
    }
}
