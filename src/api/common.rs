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
    /// Set on a resource the operator adopted (created outside it): deleted with the object
    /// only when `deletionPolicy: Delete` is set explicitly.
    pub const ADOPTED: &str = "ecs-operator.dev/adopted";
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Tagged with this object's uid.
    Ours,
    /// Tagged by ecs-operator for another Kubernetes object. Which one is deliberately not
    /// kept: it may be in a namespace the reader must not learn about.
    OtherObject,
    /// No ownership tags: created outside the operator.
    Foreign,
}

pub fn ownership_of(tags: &BTreeMap<String, String>, uid: &str) -> Ownership {
    match tags.get(tags::UID) {
        Some(found) if found == uid => Ownership::Ours,
        Some(_) => Ownership::OtherObject,
        None => Ownership::Foreign,
    }
}

/// Why an existing AWS resource of the wanted name is not this object's to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotOurs {
    /// Its ownership tags name another object: never taken over, whatever `adoptExisting` says.
    AnotherObject,
    /// Created outside ecs-operator and `adoptExisting` is not set.
    OutsideOperator,
}

impl NotOurs {
    /// The condition reason.
    pub fn reason(self) -> &'static str {
        match self {
            NotOurs::AnotherObject => "OwnedByAnotherObject",
            NotOurs::OutsideOperator => "AlreadyExists",
        }
    }

    /// The condition message about `what` (e.g. "an ECS cluster named web"), whose name the
    /// user picks with `name_field`.
    pub fn message(self, what: &str, name_field: &str) -> String {
        match self {
            NotOurs::AnotherObject => format!(
                "{what} exists and is owned by another ecs-operator object (its ownership tags name another uid); it is never taken over: choose another {name_field}"
            ),
            NotOurs::OutsideOperator => format!(
                "{what} exists, created outside ecs-operator; set spec.adoptExisting: true to take it over, or choose another {name_field}"
            ),
        }
    }
}

/// What an object may do with an existing AWS resource of its name. "Owned by another
/// object" is judged before adoption: `adoptExisting` only ever takes untagged resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    Ours,
    Adopt,
    Refused(NotOurs),
}

pub fn claim(tags: &BTreeMap<String, String>, uid: &str, adopt_existing: bool) -> Claim {
    match ownership_of(tags, uid) {
        Ownership::Ours => Claim::Ours,
        Ownership::OtherObject => Claim::Refused(NotOurs::AnotherObject),
        Ownership::Foreign if adopt_existing => Claim::Adopt,
        Ownership::Foreign => Claim::Refused(NotOurs::OutsideOperator),
    }
}

/// The tags put on a resource when it is adopted: ownership plus [`tags::ADOPTED`].
pub fn adoption_tags(
    kind: &str,
    namespace: &str,
    name: &str,
    uid: &str,
) -> BTreeMap<String, String> {
    let mut tags = ownership_tags(kind, namespace, name, uid);
    tags.insert(tags::ADOPTED.to_string(), "true".to_string());
    tags
}

/// The deletion policy for a resource with `tags`: an adopted resource is deleted only when
/// the spec says `Delete` explicitly (the operator's default never deletes what it did not
/// create).
pub fn deletion_policy_for(
    tags: &BTreeMap<String, String>,
    spec: Option<DeletionPolicy>,
    default: DeletionPolicy,
) -> DeletionPolicy {
    match spec {
        Some(policy) => policy,
        None if tags.contains_key(tags::ADOPTED) => DeletionPolicy::Retain,
        None => default,
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
        assert_eq!(ownership_of(&ours, "u2"), Ownership::OtherObject);
        assert_eq!(ownership_of(&BTreeMap::new(), "u1"), Ownership::Foreign);
    }

    #[test]
    fn another_objects_resource_is_never_claimed_even_with_adopt_existing() {
        let theirs = ownership_tags("ECSService", "a", "web", "u-a");
        for adopt in [false, true] {
            assert_eq!(
                claim(&theirs, "u-b", adopt),
                Claim::Refused(NotOurs::AnotherObject)
            );
        }
        assert_eq!(claim(&BTreeMap::new(), "u-b", true), Claim::Adopt);
        assert_eq!(
            claim(&BTreeMap::new(), "u-b", false),
            Claim::Refused(NotOurs::OutsideOperator)
        );
        assert_eq!(claim(&theirs, "u-a", false), Claim::Ours);
    }

    #[test]
    fn refusal_message_does_not_name_the_other_object() {
        let message =
            NotOurs::AnotherObject.message("an ECS service named web", "spec.serviceName");
        assert!(!message.contains("a/web") && message.contains("another uid"));
        assert_eq!(NotOurs::AnotherObject.reason(), "OwnedByAnotherObject");
    }

    #[test]
    fn adopted_resources_are_deleted_only_by_an_explicit_delete() {
        let adopted = adoption_tags("ECSCluster", "ns", "c", "u");
        let created = ownership_tags("ECSCluster", "ns", "c", "u");
        let delete = DeletionPolicy::Delete;
        assert_eq!(
            deletion_policy_for(&adopted, None, delete),
            DeletionPolicy::Retain
        );
        assert_eq!(deletion_policy_for(&adopted, Some(delete), delete), delete);
        assert_eq!(deletion_policy_for(&created, None, delete), delete);
        assert_eq!(
            deletion_policy_for(&created, Some(DeletionPolicy::Retain), delete),
            DeletionPolicy::Retain
        );
    }
}
