//! Pure decisions for a TaskDefinition: what to do given what was observed in ECS.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::common::{Claim, NotOurs, Ownership, claim, ownership_of, tags};
use crate::api::task_definition::RegisteredRevision;
use crate::aws::ecs_task_definition::ObservedRevision;

/// Why a new revision is registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterReason {
    /// No revision of ours exists yet.
    Create,
    /// The spec changed.
    SpecChanged,
    /// The current revision was deregistered or deleted outside the operator.
    Drift,
    /// The family had revisions created outside the operator and the object opted in.
    Adopt,
}

/// What to do about the family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The current revision matches the spec and is ACTIVE.
    UpToDate(ObservedRevision),
    /// A revision of ours with the desired content exists but status does not know it yet
    /// (the operator stopped between registering and writing status).
    Recover(ObservedRevision),
    /// Register a new revision.
    Register(RegisterReason),
    /// The family belongs to someone else; do not touch it.
    AlreadyExists { family: String, owner: NotOurs },
}

/// Decision from the revision status points at, when its hash equals the desired hash.
/// `None` means the family has to be looked at (`decide_from_family`).
pub fn decide_from_current(
    current: Option<&ObservedRevision>,
    desired_hash: &str,
    uid: &str,
) -> Option<Decision> {
    let current = current?;
    let ours = ownership_of(&current.tags, uid) == Ownership::Ours;
    let same_content = current.tags.get(tags::SPEC_HASH).map(String::as_str) == Some(desired_hash);
    if !ours || !same_content {
        return None;
    }
    Some(if current.is_active() {
        Decision::UpToDate(current.clone())
    } else {
        Decision::Register(RegisterReason::Drift)
    })
}

/// Decision from the newest ACTIVE revision of the family (`None` when the family has none).
/// `had_revision` says whether status already recorded a revision of ours.
pub fn decide_from_family(
    newest: Option<&ObservedRevision>,
    family: &str,
    desired_hash: &str,
    uid: &str,
    adopt_existing: bool,
    had_revision: bool,
) -> Decision {
    let Some(newest) = newest else {
        return Decision::Register(if had_revision {
            RegisterReason::Drift
        } else {
            RegisterReason::Create
        });
    };
    match claim(&newest.tags, uid, adopt_existing) {
        Claim::Ours
            if newest.tags.get(tags::SPEC_HASH).map(String::as_str) == Some(desired_hash) =>
        {
            Decision::Recover(newest.clone())
        }
        Claim::Ours => Decision::Register(if had_revision {
            RegisterReason::SpecChanged
        } else {
            RegisterReason::Create
        }),
        Claim::Adopt => Decision::Register(RegisterReason::Adopt),
        Claim::Refused(owner) => Decision::AlreadyExists {
            family: family.to_string(),
            owner,
        },
    }
}

/// Records `current` at the head of the list of revisions this object registered, newest first.
pub fn record_revision(
    previous: &[RegisteredRevision],
    current: &ObservedRevision,
) -> Vec<RegisteredRevision> {
    let mut revisions = vec![RegisteredRevision {
        revision: current.revision,
        arn: current.arn.clone(),
        spec_hash: current
            .tags
            .get(tags::SPEC_HASH)
            .cloned()
            .unwrap_or_default(),
    }];
    revisions.extend(previous.iter().filter(|r| r.arn != current.arn).cloned());
    revisions.sort_by_key(|r| std::cmp::Reverse(r.revision));
    revisions
}

/// Old revisions to deregister: beyond the current one and `keep` more, and not used by any
/// ECSService the operator manages.
pub fn revisions_to_prune(
    revisions: &[RegisteredRevision],
    current_arn: &str,
    keep: usize,
    in_use: &BTreeSet<String>,
) -> Vec<String> {
    revisions
        .iter()
        .filter(|r| r.arn != current_arn)
        .skip(keep)
        .filter(|r| !in_use.contains(&r.arn))
        .map(|r| r.arn.clone())
        .collect()
}

/// User tags to set and remove on a revision so that it carries exactly `desired` besides
/// the operator's own tags.
pub fn tag_changes(
    observed: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let to_set = desired
        .iter()
        .filter(|(k, v)| observed.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let to_remove = observed
        .keys()
        .filter(|k| {
            !k.starts_with(tags::PREFIX) && !k.starts_with("aws:") && !desired.contains_key(*k)
        })
        .cloned()
        .collect();
    (to_set, to_remove)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::ownership_tags;

    fn revision(n: i32, uid: Option<&str>, hash: &str, status: &str) -> ObservedRevision {
        let mut tags = uid
            .map(|u| ownership_tags("TaskDefinition", "ns", "web", u))
            .unwrap_or_default();
        tags.insert(tags::SPEC_HASH.into(), hash.into());
        ObservedRevision {
            arn: format!("arn:aws:ecs:us-east-1:123456789012:task-definition/web:{n}"),
            family: "web".into(),
            revision: n,
            status: status.into(),
            tags,
        }
    }

    #[test]
    fn unchanged_active_revision_is_up_to_date() {
        let r = revision(3, Some("u"), "h", "ACTIVE");
        assert_eq!(
            decide_from_current(Some(&r), "h", "u"),
            Some(Decision::UpToDate(r.clone()))
        );
    }

    #[test]
    fn deregistered_current_revision_is_drift() {
        let r = revision(3, Some("u"), "h", "INACTIVE");
        assert_eq!(
            decide_from_current(Some(&r), "h", "u"),
            Some(Decision::Register(RegisterReason::Drift))
        );
    }

    #[test]
    fn changed_spec_looks_at_the_family() {
        let r = revision(3, Some("u"), "old", "ACTIVE");
        assert_eq!(decide_from_current(Some(&r), "new", "u"), None);
        assert_eq!(decide_from_current(None, "new", "u"), None);
        assert_eq!(
            decide_from_family(Some(&r), "web", "new", "u", false, true),
            Decision::Register(RegisterReason::SpecChanged)
        );
    }

    #[test]
    fn revision_registered_before_a_crash_is_recovered_not_duplicated() {
        let r = revision(1, Some("u"), "h", "ACTIVE");
        assert_eq!(
            decide_from_family(Some(&r), "web", "h", "u", false, false),
            Decision::Recover(r.clone())
        );
    }

    #[test]
    fn foreign_family_needs_opt_in() {
        let foreign = revision(7, None, "", "ACTIVE");
        assert!(matches!(
            decide_from_family(Some(&foreign), "web", "h", "u", false, false),
            Decision::AlreadyExists { .. }
        ));
        assert_eq!(
            decide_from_family(Some(&foreign), "web", "h", "u", true, false),
            Decision::Register(RegisterReason::Adopt)
        );
        let other = revision(7, Some("someone-else"), "h", "ACTIVE");
        for adopt in [false, true] {
            assert_eq!(
                decide_from_family(Some(&other), "web", "h", "u", adopt, false),
                Decision::AlreadyExists {
                    family: "web".into(),
                    owner: NotOurs::AnotherObject
                },
                "another object's family is never adopted"
            );
        }
    }

    #[test]
    fn empty_family_registers() {
        assert_eq!(
            decide_from_family(None, "web", "h", "u", false, false),
            Decision::Register(RegisterReason::Create)
        );
        assert_eq!(
            decide_from_family(None, "web", "h", "u", false, true),
            Decision::Register(RegisterReason::Drift)
        );
    }

    #[test]
    fn pruning_keeps_history_and_revisions_in_use() {
        let revs: Vec<RegisteredRevision> = (1..=5)
            .rev()
            .map(|n| RegisteredRevision {
                revision: n,
                arn: format!("a:{n}"),
                spec_hash: String::new(),
            })
            .collect();
        let none = BTreeSet::new();
        assert_eq!(
            revisions_to_prune(&revs, "a:5", 1, &none),
            vec!["a:3", "a:2", "a:1"]
        );
        let used = BTreeSet::from(["a:2".to_string()]);
        assert_eq!(
            revisions_to_prune(&revs, "a:5", 1, &used),
            vec!["a:3", "a:1"]
        );
        assert_eq!(
            revisions_to_prune(&revs, "a:5", 10, &none),
            Vec::<String>::new()
        );
    }

    #[test]
    fn record_revision_puts_newest_first_without_duplicates() {
        let prev = vec![RegisteredRevision {
            revision: 1,
            arn: "arn:1".into(),
            spec_hash: "a".into(),
        }];
        let mut current = revision(2, Some("u"), "b", "ACTIVE");
        current.arn = "arn:2".into();
        let list = record_revision(&prev, &current);
        assert_eq!(
            list.iter().map(|r| r.revision).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert_eq!(record_revision(&list, &current).len(), 2);
    }

    #[test]
    fn tag_changes_leave_operator_tags_alone() {
        let mut observed = ownership_tags("TaskDefinition", "ns", "web", "u");
        observed.insert("team".into(), "a".into());
        observed.insert("old".into(), "x".into());
        let desired = BTreeMap::from([("team".to_string(), "b".to_string())]);
        let (set, remove) = tag_changes(&observed, &desired);
        assert_eq!(set, desired);
        assert_eq!(remove, vec!["old".to_string()]);
    }
}
