//! `ECSScheduledTask`: Amazon ECS tasks run on a schedule, like a Kubernetes CronJob.
//!
//! Implemented with an EventBridge Scheduler schedule whose target is ECS RunTask. Field names
//! follow the Scheduler and ECS APIs so their documentation applies. Schedules cannot carry
//! tags; the operator marks a schedule as its own by the ownership tags it puts on the tasks
//! the schedule starts (the target's ECS tags), which also lets the tasks be traced back.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, LocalObjectReference, Tag};
use super::ecs_service::{CapacityProviderStrategyItem, LaunchType, NetworkConfiguration};
use super::ecs_task::{TaskOverrides, TaskPropagateTags};

/// Scheduler's schedule expressions: `at(yyyy-mm-ddThh:mm:ss)`, `rate(n unit)` and
/// `cron(minutes hours day-of-month month day-of-week year)`.
const SCHEDULE_SHAPE: &str = r"^(at\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\)|rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|cron\([0-9*,/-]+ [0-9*,/-]+ [0-9*,/?LW-]+ [0-9A-Za-z*,/-]+ [0-9A-Za-z*,/?L#-]+ [0-9*,/-]+\))$";

/// Desired schedule of ECS tasks.
// clippy reads the repeated keys of kube's printcolumn(...) entries as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "ecs-operator.dev",
    version = "v1alpha1",
    kind = "ECSScheduledTask",
    plural = "ecsscheduledtasks",
    namespaced,
    status = "ECSScheduledTaskStatus",
    shortname = "ecssched",
    category = "ecs",
    doc = "Amazon ECS tasks run on a schedule from Kubernetes, like a CronJob: an EventBridge Scheduler schedule whose target is ECS RunTask.",
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(name = "Suspend", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Next Run", type_ = "string", json_path = ".status.nextRunTime"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
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
    validation = Rule::new("!has(self.startDate) || !has(self.endDate) || timestamp(self.endDate) > timestamp(self.startDate)")
        .message("endDate must be after startDate")
        .field_path(".endDate"),
    validation = Rule::new("has(self.scheduleName) == has(oldSelf.scheduleName) && (!has(self.scheduleName) || self.scheduleName == oldSelf.scheduleName)")
        .message("scheduleName is immutable: create a new ECSScheduledTask for another schedule")
        .field_path(".scheduleName"),
    validation = Rule::new("has(self.groupName) == has(oldSelf.groupName) && (!has(self.groupName) || self.groupName == oldSelf.groupName)")
        .message("groupName is immutable: create a new ECSScheduledTask for another group")
        .field_path(".groupName"),
    validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)")
        .message("region is immutable")
        .field_path(".region"),
)]
pub struct ECSScheduledTaskSpec {
    /// When to run: `cron(minutes hours day-of-month month day-of-week year)` (one of the day
    /// fields must be `?`), `rate(value unit)` with unit minute(s), hour(s) or day(s), or
    /// `at(yyyy-mm-ddThh:mm:ss)` for one run.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(
        validation = Rule::new(format!("self.matches(r'{SCHEDULE_SHAPE}')")).message("schedule must be cron(minutes hours day-of-month month day-of-week year), rate(value unit) or at(yyyy-mm-ddThh:mm:ss)"),
        validation = Rule::new(r"!self.startsWith('cron(') || self.matches(r'^cron\(\S+ \S+ (\? \S+ [^?\s]+|[^?\s]+ \S+ \?) \S+\)$')").message("a cron schedule needs ? in exactly one of day-of-month and day-of-week"),
        validation = Rule::new(r"!self.startsWith('rate(') || self.matches(r'^rate\(1 (minute|hour|day)\)$') || self.matches(r'^rate\(([2-9]|[1-9][0-9]+) (minutes|hours|days)\)$')").message("a rate schedule uses the singular unit for 1 (rate(1 hour)) and the plural otherwise (rate(5 minutes))"),
    )]
    pub schedule: String,

    /// IANA time zone the cron or at expression is read in, e.g. `Europe/Paris`. Default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 50))]
    #[x_kube(
        validation = Rule::new("self == 'UTC' || self.matches('^[A-Z][A-Za-z_+-]*(/[A-Za-z0-9_+-]+){0,2}$')").message("timezone must be an IANA time zone name such as Europe/Paris or UTC"),
        validation = Rule::new("timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0").message("timezone must be an IANA time zone name such as Europe/Paris or UTC"),
    )]
    pub timezone: Option<String>,

    /// How late a run may start: `mode: OFF` (default, on time) or `mode: FLEXIBLE` with
    /// `maximumWindowInMinutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flexible_time_window: Option<FlexibleTimeWindow>,

    /// No run before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub start_date: Option<String>,

    /// No run after this time (RFC 3339); must be after `startDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub end_date: Option<String>,

    /// Pause the schedule (its state becomes DISABLED); runs already started go on.
    #[serde(default)]
    pub suspend: bool,

    /// Description of the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub description: Option<String>,

    /// Name of the schedule in EventBridge Scheduler. Default: `<namespace>-<name>`,
    /// shortened with a hash when longer than 64 characters. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[0-9a-zA-Z_.-]+$"))]
    pub schedule_name: Option<String>,

    /// Schedule group the schedule belongs to (it must exist). Default: `default`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[0-9a-zA-Z_.-]+$"))]
    pub group_name: Option<String>,

    /// The tasks each run starts.
    pub task: ScheduledTaskTemplate,

    /// IAM role (ARN) EventBridge Scheduler assumes to call ECS RunTask (it needs
    /// `ecs:RunTask` and `iam:PassRole` for the task's roles).
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: String,

    /// How long and how often Scheduler retries a run ECS refused. Scheduler's defaults: a
    /// day, 185 attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,

    /// SQS queue (ARN) that receives the runs Scheduler gave up on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:[0-9]{12}:.+$"))]
    pub dead_letter_queue_arn: Option<String>,

    /// Tags on every task the schedule starts (the operator adds its own
    /// `ecs-operator.dev/` tags; schedules themselves cannot be tagged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 40))]
    #[x_kube(
        validation = Rule::new("self.all(t, self.exists_one(u, u.key == t.key))").message("tag keys must be unique"),
        validation = Rule::new("self.all(t, !t.key.startsWith('ecs-operator.dev/') && !t.key.startsWith('aws:'))").message("tag keys starting with ecs-operator.dev/ or aws: are reserved"),
    )]
    pub tags: Vec<Tag>,

    /// Take over a schedule of the same name that this operator did not create.
    #[serde(default)]
    pub adopt_existing: bool,

    /// What happens to the schedule when this object is deleted: `Delete` deletes it;
    /// `Retain` leaves it running. When unset, the operator's `--default-deletion-policy`
    /// applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// AWS Region of the schedule and the cluster, e.g. `eu-west-1`. Defaults to the
    /// operator's Region. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"))]
    pub region: Option<String>,
}

/// The RunTask each run of the schedule makes.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
)]
pub struct ScheduledTaskTemplate {
    /// Name or ARN of an existing ECS cluster. Set exactly one of `cluster` and `clusterRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub cluster: Option<String>,

    /// ECSCluster object in the same namespace whose cluster runs the tasks (once Ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<LocalObjectReference>,

    /// TaskDefinition object in the same namespace: the schedule follows its current
    /// revision, updated as soon as a new one is registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_ref: Option<LocalObjectReference>,

    /// Task definition by `family`, `family:revision` or full ARN (not managed by this
    /// operator). Set exactly one of `taskDefinition` and `taskDefinitionRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub task_definition: Option<String>,

    /// Tasks each run starts (1-10). Default 1.
    #[serde(default = "default_count")]
    #[schemars(range(min = 1, max = 10))]
    pub count: i32,

    /// Launch type. Set at most one of `launchType` and `capacityProviderStrategy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,

    /// Capacity provider strategy (up to 6 entries; at most one with a base).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 6))]
    #[x_kube(validation = Rule::new("self.filter(s, has(s.base) && s.base > 0).size() <= 1").message("at most one capacity provider may have a base"))]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,

    /// Fargate platform version, e.g. `LATEST` or `1.4.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub platform_version: Option<String>,

    /// Subnets, security groups and public IP for `awsvpc` task definitions (required with
    /// them; checked when the task definition is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,

    /// Changes to the task definition for every run: per-container command, environment,
    /// CPU and memory; task CPU, memory and roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<TaskOverrides>,

    /// Task group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub group: Option<String>,

    /// Copy the task definition's tags to the tasks: `TASK_DEFINITION` (or `NONE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<TaskPropagateTags>,

    /// Turn on ECS managed tags on the tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ecs_managed_tags: Option<bool>,

    /// Allow ECS Exec into the tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_execute_command: Option<bool>,
}

fn default_count() -> i32 {
    1
}

/// Whether runs start exactly on time.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(self.mode == 'FLEXIBLE') == has(self.maximumWindowInMinutes)")
        .message("maximumWindowInMinutes is required with mode FLEXIBLE and not allowed with OFF")
        .field_path(".maximumWindowInMinutes"),
)]
pub struct FlexibleTimeWindow {
    /// `OFF` or `FLEXIBLE`.
    pub mode: FlexibleTimeWindowMode,
    /// With `FLEXIBLE`: a run starts within this many minutes of its time (1-1440).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1440))]
    pub maximum_window_in_minutes: Option<i32>,
}

/// `OFF` or `FLEXIBLE`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum FlexibleTimeWindowMode {
    #[default]
    OFF,
    FLEXIBLE,
}

/// Scheduler's retries of a run the target refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Give up on a run this many seconds after its time (60-86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 86400))]
    pub maximum_event_age_in_seconds: Option<i32>,
    /// Retries of a run (0-185).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 185))]
    pub maximum_retry_attempts: Option<i32>,
}

/// Observed state of the schedule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ECSScheduledTaskStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// ARN of the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_arn: Option<String>,
    /// Name of the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_name: Option<String>,
    /// Schedule group of the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// `ENABLED` or `DISABLED`, as Scheduler reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Cluster (ARN) the runs start tasks in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// Task definition revision (ARN) the runs start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// Next run (RFC 3339), when it can be known: computed from the expression, time zone and
    /// dates; absent when suspended, finished or for cron features not evaluated (`L`, `W`, `#`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_time: Option<String>,
    /// Deletion policy in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// `Ready`, `Reconciling` and `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl ECSScheduledTask {
    /// The schedule's name: `spec.scheduleName`, else `<namespace>-<name>`, shortened to 64
    /// characters with a hash of the full name when longer.
    pub fn schedule_name(&self) -> String {
        if let Some(name) = &self.spec.schedule_name {
            return name.clone();
        }
        let full = format!(
            "{}-{}",
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default()
        );
        shorten_name(&full, 64)
    }

    /// The schedule group: `spec.groupName`, else `default`.
    pub fn group_name(&self) -> String {
        self.spec
            .group_name
            .clone()
            .unwrap_or_else(|| "default".to_string())
    }
}

/// `name` when it fits in `max` characters, else its start and a hash of the whole.
pub fn shorten_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    use sha2::{Digest, Sha256};
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    let keep = max - 11;
    format!("{}-{}", &name[..keep], &hash[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_shortened_with_a_hash() {
        assert_eq!(shorten_name("team-a-nightly", 64), "team-a-nightly");
        let long = format!("ns-{}", "x".repeat(80));
        let short = shorten_name(&long, 64);
        assert_eq!(short.len(), 64);
        assert!(short.starts_with("ns-xxx"));
        assert_ne!(short, shorten_name(&format!("ns-{}y", "x".repeat(80)), 64));
    }
}
