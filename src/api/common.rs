//! Types shared by every kind: conditions, references, deletion policy and tags.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every kind this operator serves.
pub const GROUP: &str = "ecs-operator.dev";
/// Finalizer that holds an object until its AWS resources are released per the deletion policy.
pub const FINALIZER: &str = "ecs-operator.dev/finalizer";
/// Field manager used for every write the operator makes.
pub const FIELD_MANAGER: &str = "ecs-operator";

/// Tag keys naming the Kubernetes object that owns an AWS resource.
pub mod tags {
    pub const PREFIX: &str = "ecs-operator.dev/";
    pub const NAMESPACE: &str = "ecs-operator.dev/namespace";
    pub const NAME: &str = "ecs-operator.dev/name";
    pub const UID: &str = "ecs-operator.dev/uid";
    pub const KIND: &str = "ecs-operator.dev/kind";
    /// Hash of the normalised desired content that produced a task definition revision.
    pub const SPEC_HASH: &str = "ecs-operator.dev/spec-hash";
}

/// What happens to the AWS resource when the Kubernetes object is deleted: `Delete` removes
/// it (for task definitions: deregisters and deletes every revision this object registered);
/// `Retain` leaves it as it is, untouched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    #[default]
    Delete,
    Retain,
}

/// A reference to another object of this operator in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the object, in the same namespace as the referring object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// An AWS resource tag.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Tag {
    /// Tag key (1-128 characters). Keys starting with `aws:` or `ecs-operator.dev/` are reserved.
    #[schemars(length(min = 1, max = 128))]
    pub key: String,
    /// Tag value (0-256 characters).
    #[schemars(length(max = 256))]
    pub value: String,
}

/// A Kubernetes-style condition (`metav1.Condition` shape) as read by kubectl, kstatus,
/// Argo CD and Flux.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of the condition: `Ready`, `Reconciling`, `Stalled`, or a kind-specific type.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason in CamelCase, e.g. `Registered`, `AlreadyExists`.
    pub reason: String,
    /// Human-readable details, including the AWS message for AWS errors.
    #[serde(default)]
    pub message: String,
    /// Generation of the object this condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the condition's status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

pub mod condition_types {
    pub const READY: &str = "Ready";
    pub const RECONCILING: &str = "Reconciling";
    pub const STALLED: &str = "Stalled";
}

/// A condition as the pure status code wants it, before transition times are merged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredCondition {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl DesiredCondition {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Where an object stands, as the three kstatus conditions say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Ready True.
    Ready,
    /// Reconciling True: work in progress or waiting for something that will come.
    Reconciling,
    /// Stalled True: cannot go on until the spec (or something outside) changes.
    Stalled,
}

/// `Ready`, `Reconciling` and `Stalled` for `phase`, all with `reason`; the message goes on
/// the conditions that are True (and on Ready).
pub fn kstatus_conditions(
    phase: Phase,
    reason: &str,
    message: impl Into<String>,
) -> [DesiredCondition; 3] {
    let message = message.into();
    let on = |p: Phase| {
        if phase == p {
            message.clone()
        } else {
            String::new()
        }
    };
    [
        DesiredCondition::new(
            condition_types::READY,
            phase == Phase::Ready,
            reason,
            message.clone(),
        ),
        DesiredCondition::new(
            condition_types::RECONCILING,
            phase == Phase::Reconciling,
            reason,
            on(Phase::Reconciling),
        ),
        DesiredCondition::new(
            condition_types::STALLED,
            phase == Phase::Stalled,
            reason,
            on(Phase::Stalled),
        ),
    ]
}

/// Merges desired conditions into the previous list: `lastTransitionTime` moves only when a
/// condition's status changes, so a repeated reconcile produces an identical list.
/// Conditions of other types that were present before are dropped unless listed.
pub fn merge_conditions(
    previous: &[Condition],
    desired: &[DesiredCondition],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    desired
        .iter()
        .map(|want| {
            let status = if want.status { "True" } else { "False" }.to_string();
            let old = previous.iter().find(|c| c.type_ == want.type_);
            let last_transition_time = match old {
                Some(old) if old.status == status => old.last_transition_time.clone(),
                _ => Some(Time(now)),
            };
            Condition {
                type_: want.type_.to_string(),
                status,
                reason: want.reason.clone(),
                message: want.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// Finds a condition by type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Tags that name the owning Kubernetes object.
pub fn ownership_tags(
    kind: &str,
    namespace: &str,
    name: &str,
    uid: &str,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (tags::KIND.to_string(), kind.to_string()),
        (tags::NAMESPACE.to_string(), namespace.to_string()),
        (tags::NAME.to_string(), name.to_string()),
        (tags::UID.to_string(), uid.to_string()),
    ])
}

/// Who owns an AWS resource, judged from its tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Tagged with this object's uid.
    Ours,
    /// Tagged by ecs-operator for another Kubernetes object (namespace/name).
    OtherObject(String),
    /// No ownership tags: created outside the operator.
    Foreign,
}

pub fn ownership_of(tags: &BTreeMap<String, String>, uid: &str) -> Ownership {
    match tags.get(tags::UID) {
        Some(found) if found == uid => Ownership::Ours,
        Some(_) => Ownership::OtherObject(format!(
            "{}/{}",
            tags.get(tags::NAMESPACE).map(String::as_str).unwrap_or("?"),
            tags.get(tags::NAME).map(String::as_str).unwrap_or("?")
        )),
        None => Ownership::Foreign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap_or_default();
        let t1 = Timestamp::from_second(1_700_000_300).unwrap_or_default();
        let first = merge_conditions(
            &[],
            &[DesiredCondition::new("Ready", false, "Registering", "")],
            Some(1),
            t0,
        );
        let same = merge_conditions(
            &first,
            &[DesiredCondition::new("Ready", false, "Waiting", "x")],
            Some(2),
            t1,
        );
        assert_eq!(same[0].last_transition_time, Some(Time(t0)));
        assert_eq!(same[0].reason, "Waiting");
        let flipped = merge_conditions(
            &same,
            &[DesiredCondition::new("Ready", true, "Registered", "")],
            Some(2),
            t1,
        );
        assert_eq!(flipped[0].last_transition_time, Some(Time(t1)));
        assert_eq!(flipped[0].status, "True");
    }

    #[test]
    fn ownership_is_judged_by_uid() {
        let ours = ownership_tags("TaskDefinition", "ns", "web", "u1");
        assert_eq!(ownership_of(&ours, "u1"), Ownership::Ours);
        assert_eq!(
            ownership_of(&ours, "u2"),
            Ownership::OtherObject("ns/web".into())
        );
        assert_eq!(ownership_of(&BTreeMap::new(), "u1"), Ownership::Foreign);
    }
}
