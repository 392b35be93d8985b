//! `TaskDefinition`: an ECS task definition family whose revisions this object registers.
//!
//! Field names follow ECS's RegisterTaskDefinition so the ECS documentation applies directly.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, Tag};

/// Desired state of an ECS task definition. Every change registers a new revision; a reconcile
/// of an unchanged spec registers nothing.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "ecs-operator.dev",
    version = "v1alpha1",
    kind = "TaskDefinition",
    namespaced,
    status = "TaskDefinitionStatus",
    shortname = "ecstd",
    shortname = "taskdef",
    category = "ecs",
    doc = "An Amazon ECS task definition family managed from Kubernetes. Each spec change registers a new revision.",
    printcolumn(name = "Family", type_ = "string", json_path = ".status.family"),
    printcolumn(name = "Revision", type_ = "integer", json_path = ".status.revision"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("has(self.spec.family) || self.metadata.name.matches('^[a-zA-Z0-9_-]{1,255}$')")
        .message("spec.family must be set when metadata.name is not a valid family name (letters, digits, '-' and '_' only)")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.requiresCompatibilities) || !self.requiresCompatibilities.exists(c, c == 'FARGATE') || (has(self.networkMode) && self.networkMode == 'awsvpc')")
        .message("networkMode must be awsvpc when requiresCompatibilities includes FARGATE")
        .field_path(".networkMode"),
    validation = Rule::new("!has(self.requiresCompatibilities) || !self.requiresCompatibilities.exists(c, c == 'FARGATE') || (has(self.cpu) && has(self.memory))")
        .message("cpu and memory are required at task level when requiresCompatibilities includes FARGATE")
        .field_path(".cpu"),
    validation = Rule::new(FARGATE_SIZES_RULE)
        .message("cpu/memory is not a valid FARGATE combination: cpu 256 takes memory 512, 1024 or 2048; 512 takes 1024-4096; 1024 takes 2048-8192; 2048 takes 4096-16384 (steps of 1024); 4096 takes 8192-30720 (steps of 1024); 8192 takes 16384-61440 (steps of 4096); 16384 takes 32768-122880 (steps of 8192)")
        .field_path(".memory"),
    validation = Rule::new("!has(self.memory) || self.containerDefinitions.all(c, (!has(c.memory) || c.memory <= int(self.memory)) && (!has(c.memoryReservation) || c.memoryReservation <= int(self.memory)))")
        .message("a container's memory or memoryReservation exceeds the task memory")
        .field_path(".containerDefinitions"),
    validation = Rule::new("self.containerDefinitions.all(c, !has(c.mountPoints) || c.mountPoints.all(m, has(self.volumes) && self.volumes.exists(v, v.name == m.sourceVolume)))")
        .message("a mountPoints[].sourceVolume names a volume that is not in volumes")
        .field_path(".containerDefinitions"),
    validation = Rule::new("!has(self.proxyConfiguration) || self.containerDefinitions.exists(c, c.name == self.proxyConfiguration.containerName)")
        .message("proxyConfiguration.containerName names a container that is not in containerDefinitions")
        .field_path(".proxyConfiguration.containerName"),
    validation = Rule::new("!has(self.networkMode) || !(self.networkMode in ['awsvpc', 'host']) || self.containerDefinitions.all(c, !has(c.portMappings) || c.portMappings.all(p, !has(p.hostPort) || !has(p.containerPort) || p.hostPort == p.containerPort))")
        .message("with networkMode awsvpc or host, a port mapping's hostPort must be left out or equal its containerPort")
        .field_path(".containerDefinitions"),
    validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)")
        .message("region cannot change after creation: create a new object in the other Region")
        .field_path(".region"),
)]
pub struct TaskDefinitionSpec {
    /// Task definition family. Defaults to `metadata.name`. Up to 255 letters, digits,
    /// hyphens and underscores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]{1,255}$"))]
    pub family: Option<String>,

    /// Containers of the task (1 to 10). Names must be unique and at least one must be essential.
    #[schemars(length(min = 1, max = 10))]
    #[x_kube(
        validation = Rule::new("self.all(c, self.exists_one(d, d.name == c.name))").message("container names must be unique"),
        validation = Rule::new("self.exists(c, !has(c.essential) || c.essential)").message("at least one container must be essential"),
        validation = Rule::new("self.all(c, !has(c.dependsOn) || c.dependsOn.all(d, self.exists(o, o.name == d.containerName)))").message("dependsOn names a container that is not in containerDefinitions"),
        validation = Rule::new("self.all(c, !has(c.volumesFrom) || c.volumesFrom.all(v, self.exists(o, o.name == v.sourceContainer)))").message("volumesFrom names a container that is not in containerDefinitions"),
    )]
    pub container_definitions: Vec<ContainerDefinition>,

    /// ARN of the IAM role the task's containers assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$"))]
    pub task_role_arn: Option<String>,

    /// ARN of the IAM role the ECS agent uses to pull images and write logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$"))]
    pub execution_role_arn: Option<String>,

    /// Docker networking mode: `awsvpc` (required for FARGATE), `bridge`, `host` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,

    /// Launch types the task definition is validated against: `EC2`, `FARGATE`, `EXTERNAL`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3))]
    pub requires_compatibilities: Vec<Compatibility>,

    /// Task CPU in CPU units (1024 = 1 vCPU), as an integer string, e.g. `"256"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,5}$"))]
    pub cpu: Option<String>,

    /// Task memory in MiB, as an integer string, e.g. `"512"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,6}$"))]
    pub memory: Option<String>,

    /// Operating system and CPU architecture the task runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,

    /// Ephemeral storage for FARGATE tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,

    /// Process namespace shared by the containers: `host` or `task`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<PidMode>,

    /// IPC resource namespace: `host`, `task` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<IpcMode>,

    /// Placement constraints for tasks on EC2 (up to 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub placement_constraints: Vec<TaskPlacementConstraint>,

    /// App Mesh proxy configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_configuration: Option<ProxyConfiguration>,

    /// Data volumes the containers can mount (up to 20; names unique).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[x_kube(validation = Rule::new("self.all(v, self.exists_one(w, w.name == v.name))").message("volume names must be unique"))]
    pub volumes: Vec<Volume>,

    /// Tags for each registered revision (the operator adds its own `ecs-operator.dev/` tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 40))]
    #[x_kube(
        validation = Rule::new("self.all(t, self.exists_one(u, u.key == t.key))").message("tag keys must be unique"),
        validation = Rule::new("self.all(t, !t.key.startsWith('ecs-operator.dev/') && !t.key.startsWith('aws:'))").message("tag keys starting with ecs-operator.dev/ or aws: are reserved"),
    )]
    pub tags: Vec<Tag>,

    /// What happens to the registered revisions when this object is deleted. `Delete`
    /// deregisters and deletes them; `Retain` leaves them ACTIVE. When unset, the operator's
    /// `--default-deletion-policy` applies (Delete unless configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Take over a family that already has ACTIVE revisions not created by this object.
    /// Without it, such a family is left untouched and the object reports `AlreadyExists`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt_existing: bool,

    /// How many revisions registered by this object to keep ACTIVE besides the current one.
    /// Older ones are deregistered once no ECSService managed by the operator uses them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub revision_history_limit: Option<i32>,

    /// AWS Region to register the revisions in, e.g. `eu-west-1`. Defaults to the operator's
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

/// CEL rule for the FARGATE cpu/memory table (the ECS developer guide's "Task CPU and memory").
const FARGATE_SIZES_RULE: &str = "!has(self.requiresCompatibilities) || !self.requiresCompatibilities.exists(c, c == 'FARGATE') || !has(self.cpu) || !has(self.memory) || (\
(self.cpu == '256' && int(self.memory) in [512, 1024, 2048]) || \
(self.cpu == '512' && int(self.memory) >= 1024 && int(self.memory) <= 4096 && int(self.memory) % 1024 == 0) || \
(self.cpu == '1024' && int(self.memory) >= 2048 && int(self.memory) <= 8192 && int(self.memory) % 1024 == 0) || \
(self.cpu == '2048' && int(self.memory) >= 4096 && int(self.memory) <= 16384 && int(self.memory) % 1024 == 0) || \
(self.cpu == '4096' && int(self.memory) >= 8192 && int(self.memory) <= 30720 && int(self.memory) % 1024 == 0) || \
(self.cpu == '8192' && int(self.memory) >= 16384 && int(self.memory) <= 61440 && int(self.memory) % 4096 == 0) || \
(self.cpu == '16384' && int(self.memory) >= 32768 && int(self.memory) <= 122880 && int(self.memory) % 8192 == 0))";

/// Docker networking mode of the task.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    Bridge,
    Host,
    Awsvpc,
    None,
}

/// Launch type a task definition is validated against.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[allow(clippy::upper_case_acronyms)]
pub enum Compatibility {
    EC2,
    FARGATE,
    EXTERNAL,
}

/// Process namespace mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PidMode {
    Host,
    Task,
}

/// IPC namespace mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IpcMode {
    Host,
    Task,
    None,
}

/// Operating system and CPU architecture.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    /// `X86_64` or `ARM64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<CpuArchitecture>,
    /// `LINUX` or a Windows Server family such as `WINDOWS_SERVER_2022_CORE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<OperatingSystemFamily>,
}

/// CPU architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum CpuArchitecture {
    X86_64,
    ARM64,
}

/// Operating system family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum OperatingSystemFamily {
    LINUX,
    WINDOWS_SERVER_2019_FULL,
    WINDOWS_SERVER_2019_CORE,
    WINDOWS_SERVER_2022_FULL,
    WINDOWS_SERVER_2022_CORE,
    WINDOWS_SERVER_2025_FULL,
    WINDOWS_SERVER_2025_CORE,
}

/// Ephemeral storage size for FARGATE tasks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralStorage {
    /// Size in GiB, 21 to 200.
    #[serde(rename = "sizeInGiB")]
    #[schemars(range(min = 21, max = 200))]
    pub size_in_gib: i32,
}

/// A task placement constraint.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct TaskPlacementConstraint {
    /// Constraint type; ECS supports `memberOf` for task definitions.
    #[serde(rename = "type")]
    #[schemars(regex(pattern = r"^memberOf$"))]
    pub type_: String,
    /// Cluster query language expression, e.g. `attribute:ecs.instance-type =~ t3.*`.
    #[schemars(length(min = 1, max = 2000))]
    pub expression: String,
}

/// App Mesh proxy configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfiguration {
    /// Proxy type; only `APPMESH` exists.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^APPMESH$"))]
    pub type_: Option<String>,
    /// Name of the container that serves as the App Mesh proxy.
    #[schemars(length(min = 1, max = 255))]
    pub container_name: String,
    /// Proxy settings as name/value pairs (e.g. `IgnoredUID`, `ProxyIngressPort`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub properties: Vec<KeyValuePair>,
}

/// A name/value pair.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct KeyValuePair {
    /// Name.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Value.
    #[serde(default)]
    #[schemars(length(max = 32768))]
    pub value: String,
}

/// A data volume. Set at most one of `host`, `efsVolumeConfiguration`,
/// `dockerVolumeConfiguration`; with none, ECS creates an empty bind-mount volume.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.host), has(self.efsVolumeConfiguration), has(self.dockerVolumeConfiguration)].filter(x, x).size() <= 1")
    .message("set at most one of host, efsVolumeConfiguration, dockerVolumeConfiguration"))]
pub struct Volume {
    /// Volume name, referenced by `mountPoints[].sourceVolume`.
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]{1,255}$"))]
    pub name: String,
    /// Bind mount of a path on the host (EC2 and EXTERNAL only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolume>,
    /// Amazon EFS file system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<EfsVolumeConfiguration>,
    /// Docker volume (EC2 and EXTERNAL only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_volume_configuration: Option<DockerVolumeConfiguration>,
}

/// A host bind mount.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostVolume {
    /// Path on the host. When empty, the Docker daemon chooses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub source_path: Option<String>,
}

/// An Amazon EFS volume.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.authorizationConfig) || !has(self.authorizationConfig.iam) || self.authorizationConfig.iam != 'ENABLED' || (has(self.transitEncryption) && self.transitEncryption == 'ENABLED')")
    .message("authorizationConfig.iam ENABLED requires transitEncryption ENABLED"))]
pub struct EfsVolumeConfiguration {
    /// EFS file system id, e.g. `fs-0123456789abcdef0`.
    #[schemars(regex(pattern = r"^fs-[0-9a-f]{8,40}$"))]
    pub file_system_id: String,
    /// Directory of the file system to mount (ignored when an access point is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub root_directory: Option<String>,
    /// Encryption in transit between the host and the EFS server: `ENABLED` or `DISABLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_encryption: Option<EnabledDisabled>,
    /// Port for encrypted traffic to the EFS server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub transit_encryption_port: Option<i32>,
    /// Access point and IAM authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<EfsAuthorizationConfig>,
}

/// EFS access point and IAM authorization.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EfsAuthorizationConfig {
    /// EFS access point id, e.g. `fsap-0123456789abcdef0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^fsap-[0-9a-f]{8,40}$"))]
    pub access_point_id: Option<String>,
    /// Use the task's IAM role when mounting: `ENABLED` or `DISABLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<EnabledDisabled>,
}

/// `ENABLED` or `DISABLED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum EnabledDisabled {
    ENABLED,
    DISABLED,
}

/// A Docker volume.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DockerVolumeConfiguration {
    /// `task` (removed when the task stops) or `shared` (persists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<DockerVolumeScope>,
    /// Create the volume if it does not exist (only with `shared` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoprovision: Option<bool>,
    /// Volume driver, e.g. `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub driver: Option<String>,
    /// Driver-specific options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    /// Labels for the volume.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Scope of a Docker volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DockerVolumeScope {
    Task,
    Shared,
}

/// One container of the task.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.memory) || !has(self.memoryReservation) || self.memoryReservation <= self.memory")
        .message("memoryReservation must not exceed memory"),
)]
pub struct ContainerDefinition {
    /// Container name, unique in the task (letters, digits, `-`, `_`; up to 255).
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]{1,255}$"))]
    pub name: String,
    /// Image reference, e.g. `public.ecr.aws/nginx/nginx:1.27`.
    #[schemars(length(min = 1, max = 1024))]
    pub image: String,
    /// CPU units reserved for the container (ECS's default is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 196608))]
    pub cpu: Option<i32>,
    /// Hard memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 6, max = 1048576))]
    pub memory: Option<i32>,
    /// Soft memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 6, max = 1048576))]
    pub memory_reservation: Option<i32>,
    /// Whether the task stops when this container stops (ECS's default is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    /// Ports the container exposes (up to 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub port_mappings: Vec<PortMapping>,
    /// Environment variables (order does not matter; names unique).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10000))]
    pub environment: Vec<KeyValuePair>,
    /// Files in S3 holding environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub environment_files: Vec<EnvironmentFile>,
    /// Secrets exposed as environment variables, from SSM Parameter Store or Secrets Manager.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub secrets: Vec<Secret>,
    /// Command passed to the container (Docker CMD).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub command: Vec<String>,
    /// Entry point (Docker ENTRYPOINT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub entry_point: Vec<String>,
    /// Working directory for the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub working_directory: Option<String>,
    /// User to run as (`user`, `uid`, `user:group`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub user: Option<String>,
    /// Container health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Log driver configuration (e.g. `awslogs`, `awsfirelens`, `splunk`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// Containers that must reach a condition before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub depends_on: Vec<ContainerDependency>,
    /// Volumes mounted into the container (up to 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub mount_points: Vec<MountPoint>,
    /// Containers whose volumes are mounted into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub volumes_from: Vec<VolumeFrom>,
    /// Resource limits (ulimits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub ulimits: Vec<Ulimit>,
    /// Linux-specific settings (capabilities, init process, tmpfs, devices, swap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_parameters: Option<LinuxParameters>,
    /// Mount the root file system read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    /// Run privileged (EC2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Seconds to wait before the container is killed after SIGTERM (up to 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 120))]
    pub stop_timeout: Option<i32>,
    /// Seconds to wait for dependencies to reach their condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 600))]
    pub start_timeout: Option<i32>,
    /// Docker labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub docker_labels: BTreeMap<String, String>,
    /// Restart policy for the container within the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<ContainerRestartPolicy>,
    /// FireLens log router configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firelens_configuration: Option<FirelensConfiguration>,
    /// Private registry credentials (Secrets Manager secret ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_credentials: Option<RepositoryCredentials>,
}

/// A container port mapping. Set `containerPort` or `containerPortRange`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.containerPort) != has(self.containerPortRange)")
        .message("set exactly one of containerPort and containerPortRange"),
    validation = Rule::new("!has(self.containerPortRange) || (int(self.containerPortRange.split('-')[0]) >= 1 && int(self.containerPortRange.split('-')[1]) <= 65535 && int(self.containerPortRange.split('-')[0]) < int(self.containerPortRange.split('-')[1]))")
        .message("containerPortRange must be start-end with 1 <= start < end <= 65535")
        .field_path(".containerPortRange"),
)]
pub struct PortMapping {
    /// Port the container listens on (1-65535).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: Option<i32>,
    /// Host port (0 for a dynamic port in `bridge` mode; equals `containerPort` in `awsvpc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub host_port: Option<i32>,
    /// `tcp` (default) or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
    /// Name of the mapping, used by Service Connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$"))]
    pub name: Option<String>,
    /// Application protocol for Service Connect: `http`, `http2` or `grpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<AppProtocol>,
    /// Port range `start-end`, e.g. `8000-8010` (1 <= start < end <= 65535).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 11), regex(pattern = r"^[0-9]{1,5}-[0-9]{1,5}$"))]
    pub container_port_range: Option<String>,
}

/// Transport protocol.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TransportProtocol {
    Tcp,
    Udp,
}

/// Application protocol of a port mapping.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    Http,
    Http2,
    Grpc,
}

/// A file of environment variables.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentFile {
    /// ARN of the S3 object, e.g. `arn:aws:s3:::bucket/app.env`.
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:s3:::.+$"))]
    pub value: String,
    /// File type; only `s3`.
    #[serde(rename = "type")]
    #[schemars(regex(pattern = r"^s3$"))]
    pub type_: String,
}

/// A secret exposed to the container.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Environment variable name (or log option name in `secretOptions`).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// ARN (or name, in the same Region) of an SSM parameter or Secrets Manager secret.
    #[schemars(length(min = 1, max = 2048))]
    pub value_from: String,
}

/// Container health check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// Command, e.g. `["CMD-SHELL", "curl -f http://localhost/ || exit 1"]`.
    #[schemars(length(min = 1, max = 100))]
    pub command: Vec<String>,
    /// Seconds between checks (5-300; ECS default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 300))]
    pub interval: Option<i32>,
    /// Seconds a check may take (2-60; ECS default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 60))]
    pub timeout: Option<i32>,
    /// Failures before unhealthy (1-10; ECS default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub retries: Option<i32>,
    /// Grace period in seconds before failures count (0-300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 300))]
    pub start_period: Option<i32>,
}

/// Log driver configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    /// Log driver.
    pub log_driver: LogDriver,
    /// Driver options, e.g. `awslogs-group`, `awslogs-region`, `awslogs-stream-prefix`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Driver options whose values come from secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub secret_options: Vec<Secret>,
}

/// Log driver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogDriver {
    #[serde(rename = "json-file")]
    JsonFile,
    Syslog,
    Journald,
    Gelf,
    Fluentd,
    #[default]
    Awslogs,
    Splunk,
    Awsfirelens,
}

/// A dependency on another container of the task.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    /// Name of the container depended on.
    #[schemars(length(min = 1, max = 255))]
    pub container_name: String,
    /// `START`, `COMPLETE`, `SUCCESS` or `HEALTHY`.
    pub condition: DependencyCondition,
}

/// Condition of a container dependency.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[allow(clippy::upper_case_acronyms)]
pub enum DependencyCondition {
    #[default]
    START,
    COMPLETE,
    SUCCESS,
    HEALTHY,
}

/// A volume mounted into the container.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    /// Name of a volume in `volumes`.
    #[schemars(length(min = 1, max = 255))]
    pub source_volume: String,
    /// Path in the container.
    #[schemars(length(min = 1, max = 4096))]
    pub container_path: String,
    /// Mount read-only (ECS default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// Volumes from another container.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct VolumeFrom {
    /// Name of the container whose volumes are mounted.
    #[schemars(length(min = 1, max = 255))]
    pub source_container: String,
    /// Mount read-only (ECS default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// A ulimit.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Ulimit {
    /// Ulimit name, e.g. `nofile`.
    #[schemars(regex(
        pattern = r"^(core|cpu|data|fsize|locks|memlock|msgqueue|nice|nofile|nproc|rss|rtprio|rttime|sigpending|stack)$"
    ))]
    pub name: String,
    /// Soft limit.
    pub soft_limit: i32,
    /// Hard limit.
    pub hard_limit: i32,
}

/// Linux-specific container settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinuxParameters {
    /// Linux capabilities to add or drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<KernelCapabilities>,
    /// Run an init process that forwards signals and reaps processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_process_enabled: Option<bool>,
    /// Size of /dev/shm in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub shared_memory_size: Option<i32>,
    /// tmpfs mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub tmpfs: Vec<Tmpfs>,
    /// Host devices exposed to the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub devices: Vec<Device>,
    /// Swap memory in MiB the container may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_swap: Option<i32>,
    /// Swappiness 0-100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub swappiness: Option<i32>,
}

/// Linux capabilities.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KernelCapabilities {
    /// Capabilities to add, e.g. `SYS_PTRACE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 40))]
    pub add: Vec<String>,
    /// Capabilities to drop, e.g. `ALL`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 40))]
    pub drop: Vec<String>,
}

/// A tmpfs mount.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Tmpfs {
    /// Path in the container.
    #[schemars(length(min = 1, max = 4096))]
    pub container_path: String,
    /// Size in MiB.
    #[schemars(range(min = 1))]
    pub size: i32,
    /// Mount options, e.g. `noexec`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub mount_options: Vec<String>,
}

/// A host device.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Path on the host.
    #[schemars(length(min = 1, max = 4096))]
    pub host_path: String,
    /// Path in the container (defaults to the host path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub container_path: Option<String>,
    /// `read`, `write`, `mknod`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3))]
    pub permissions: Vec<String>,
}

/// Container restart policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRestartPolicy {
    /// Restart the container when it exits.
    pub enabled: bool,
    /// Exit codes that do not trigger a restart (up to 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub ignored_exit_codes: Vec<i32>,
    /// Seconds a container must run before a restart is attempted (60-1800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 1800))]
    pub restart_attempt_period: Option<i32>,
}

/// FireLens log router.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirelensConfiguration {
    /// `fluentd` or `fluentbit`.
    #[serde(rename = "type")]
    pub type_: FirelensType,
    /// Options, e.g. `enable-ecs-log-metadata`, `config-file-type`, `config-file-value`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// FireLens router type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FirelensType {
    #[default]
    Fluentbit,
    Fluentd,
}

/// Private registry credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryCredentials {
    /// ARN of the Secrets Manager secret holding the credentials.
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:secretsmanager:.+$"))]
    pub credentials_parameter: String,
}

/// Observed state of the task definition family.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Family the revisions are registered in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Current revision number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i32>,
    /// ARN of the current revision; ECSServices referencing this object run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// Hash of the normalised spec the current revision was registered from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    /// Revisions this object registered that are still ACTIVE, newest first (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<RegisteredRevision>,
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

/// A revision registered by this object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredRevision {
    /// Revision number.
    pub revision: i32,
    /// Revision ARN.
    pub arn: String,
    /// Hash of the normalised spec it was registered from.
    pub spec_hash: String,
}

impl TaskDefinition {
    /// The family this object registers into.
    pub fn family(&self) -> String {
        match &self.spec.family {
            Some(family) => family.clone(),
            None => self.metadata.name.clone().unwrap_or_default(),
        }
    }
}
