//! `AWSAccessGrant`: what the objects of some namespaces may do in AWS, decided by cluster
//! administrators. Cluster scoped: a namespace's users cannot write it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Which namespaces a grant applies to and what it lets their objects do.
// clippy reads the repeated keys of kube's printcolumn(...) entries as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "ecs-operator.dev",
    version = "v1alpha1",
    kind = "AWSAccessGrant",
    shortname = "awsgrant",
    doc = "Grants the ecs-operator objects of some namespaces IAM roles, Regions and pass roles. Written by cluster administrators; a namespace without a grant acts as the operator's own identity and cannot name a roleArn.",
    printcolumn(name = "Namespaces", type_ = "string", json_path = ".spec.namespaces"),
    printcolumn(
        name = "Default Role",
        type_ = "string",
        json_path = ".spec.defaultRoleArn"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("size(self.namespaces) > 0 || has(self.namespaceSelector)")
        .message("select namespaces by name (namespaces) or by label (namespaceSelector)")
        .field_path(".namespaces")
)]
pub struct AWSAccessGrantSpec {
    /// Namespaces the grant applies to, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub namespaces: Vec<String>,
    /// Namespaces the grant applies to, by label. A namespace selected by name or by label is
    /// covered. An empty selector (`{}`) selects every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// IAM roles (ARN patterns; `*` matches any run of characters) the objects may name in
    /// `spec.roleArn`. The operator's own identity needs no entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub role_arns: Vec<String>,
    /// The role objects act as when they set no `spec.roleArn`. Unset: the operator's own
    /// identity. Need not be listed in `roleArns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$"))]
    pub default_role_arn: Option<String>,
    /// Regions the objects may use (`spec.region`). Empty: only the operator's Region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub regions: Vec<String>,
    /// Task and execution roles (ARN patterns) that task definitions and tasks may name
    /// (`taskRoleArn`, `executionRoleArn`, `overrides.taskRoleArn`). Empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub pass_role_arns: Vec<String>,
}
