//! `CloudMapNamespace`: an AWS Cloud Map namespace (HTTP, private DNS or public DNS) in which
//! ECSServices register for discovery.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, Tag};

/// Desired state of a Cloud Map namespace.
// clippy reads the repeated keys of kube's printcolumn(...) entries as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "ecs-operator.dev",
    version = "v1alpha1",
    kind = "CloudMapNamespace",
    namespaced,
    status = "CloudMapNamespaceStatus",
    shortname = "cmns",
    category = "ecs",
    doc = "An AWS Cloud Map namespace managed from Kubernetes; ECSServices register in it for discovery by DNS or API.",
    printcolumn(name = "Namespace Name", type_ = "string", json_path = ".spec.name"),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Id", type_ = "string", json_path = ".status.namespaceId"),
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
    validation = Rule::new("self.type != 'DNS_PRIVATE' || has(self.vpc)")
        .message("vpc is required for a DNS_PRIVATE namespace")
        .field_path(".vpc"),
    validation = Rule::new("self.type == 'DNS_PRIVATE' || !has(self.vpc)")
        .message("vpc applies only to DNS_PRIVATE namespaces")
        .field_path(".vpc"),
    validation = Rule::new("self.type != 'HTTP' || !has(self.soaTtl)")
        .message("soaTtl applies only to DNS namespaces")
        .field_path(".soaTtl"),
    validation = Rule::new("self.type == 'HTTP' || self.name.matches('^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\\\\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$')")
        .message("name must be a valid DNS domain name (labels of letters, digits and '-', separated by '.') for DNS namespaces")
        .field_path(".name"),
    validation = Rule::new("self.type == oldSelf.type")
        .message("type cannot be changed; create a new CloudMapNamespace"),
    validation = Rule::new("self.name == oldSelf.name")
        .message("name cannot be changed; create a new CloudMapNamespace")
        .field_path(".name"),
    validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)")
        .message("region cannot change after creation: create a new object in the other Region")
        .field_path(".region"),
)]
pub struct CloudMapNamespaceSpec {
    /// Namespace name: a domain name such as `internal.example.com` for DNS namespaces, any
    /// name (letters, digits, `-`, `_`, `.`) for HTTP namespaces. Cannot change.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub name: String,

    /// `HTTP` (discovery by API only), `DNS_PRIVATE` (Route 53 private hosted zone in `vpc`)
    /// or `DNS_PUBLIC`. Cannot change.
    #[serde(rename = "type")]
    pub type_: NamespaceType,

    /// VPC id for a `DNS_PRIVATE` namespace, e.g. `vpc-0123456789abcdef0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^vpc-[0-9a-f]{8,17}$"))]
    pub vpc: Option<String>,

    /// Description of the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// TTL in seconds of the hosted zone's SOA record (DNS namespaces only; 0-2147483647).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub soa_ttl: Option<i64>,

    /// Tags on the namespace (the operator adds its own `ecs-operator.dev/` tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 40))]
    #[x_kube(
        validation = Rule::new("self.all(t, self.exists_one(u, u.key == t.key))").message("tag keys must be unique"),
        validation = Rule::new("self.all(t, !t.key.startsWith('ecs-operator.dev/') && !t.key.startsWith('aws:'))").message("tag keys starting with ecs-operator.dev/ or aws: are reserved"),
    )]
    pub tags: Vec<Tag>,

    /// What happens to the namespace when this object is deleted: `Delete` deletes it once no
    /// Cloud Map services remain in it; `Retain` leaves it. When unset, the operator's
    /// `--default-deletion-policy` applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Take over an existing namespace of the same name and type not created by this object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt_existing: bool,

    /// AWS Region of the namespace, e.g. `eu-west-1`. Defaults to the operator's Region.
    /// Services and clusters that reference the namespace must be in the same Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"))]
    pub region: Option<String>,

    /// IAM role (ARN) the operator assumes to manage the namespace, for another account.
    /// It must be granted to the namespace by an AWSAccessGrant (else `RoleNotGranted`);
    /// unset: the grant's `defaultRoleArn`, else the operator's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: Option<String>,
}

/// Cloud Map namespace type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum NamespaceType {
    #[default]
    HTTP,
    DNS_PRIVATE,
    DNS_PUBLIC,
}

/// Observed state of the namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudMapNamespaceStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Namespace id, e.g. `ns-abcdefghijklmnop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_id: Option<String>,
    /// Namespace ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Route 53 hosted zone id (DNS namespaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
    /// A Cloud Map operation in flight (namespace create, update or delete). Kept here so a
    /// restarted operator resumes polling it instead of starting another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_operation: Option<PendingOperation>,
    /// Hash of the updatable settings (description, SOA TTL) last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_settings_hash: Option<String>,
    /// Deletion policy in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Ready, Reconciling and Stalled conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// An asynchronous Cloud Map operation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingOperation {
    /// Operation id returned by Cloud Map.
    pub id: String,
    /// `Create`, `Update` or `Delete`.
    pub kind: String,
    /// Hash of the settings the operation applies (for `Update`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_hash: Option<String>,
}
