//! Pure status computation for a TaskDefinition.

use k8s_openapi::jiff::Timestamp;

use super::plan::RegisterReason;
use crate::api::common::{
    DeletionPolicy, DesiredCondition, NotOurs, condition_types as ct, merge_conditions,
};
use crate::api::task_definition::{RegisteredRevision, TaskDefinitionStatus};
use crate::aws::ecs_task_definition::ObservedRevision;
use crate::aws::error::{AwsError, ErrorClass};

/// How a reconcile ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The current revision matches the spec and is ACTIVE.
    Synced {
        current: ObservedRevision,
        revisions: Vec<RegisteredRevision>,
        registered: Option<RegisterReason>,
    },
    /// The family belongs to someone else and the object did not opt into adoption.
    AlreadyExists { family: String, owner: NotOurs },
    /// An AWS call failed.
    Failed(AwsError),
    /// Deletion waits for ECSServices that still use this task definition.
    DeletionBlocked { users: Vec<String> },
}

pub struct Input<'a> {
    pub previous: Option<&'a TaskDefinitionStatus>,
    pub generation: Option<i64>,
    pub family: &'a str,
    pub spec_hash: &'a str,
    pub deletion_policy: DeletionPolicy,
    pub now: Timestamp,
}

pub fn compute(input: &Input<'_>, outcome: &Outcome) -> TaskDefinitionStatus {
    let previous = input.previous.cloned().unwrap_or_default();
    let conditions = desired_conditions(input.family, outcome);
    let mut status = TaskDefinitionStatus {
        observed_generation: input.generation,
        family: Some(input.family.to_string()),
        deletion_policy: Some(input.deletion_policy),
        conditions: merge_conditions(
            &previous.conditions,
            &conditions,
            input.generation,
            input.now,
        ),
        ..previous.clone()
    };
    if let Outcome::Synced {
        current, revisions, ..
    } = outcome
    {
        status.revision = Some(current.revision);
        status.task_definition_arn = Some(current.arn.clone());
        status.spec_hash = Some(input.spec_hash.to_string());
        status.revisions = revisions.clone();
    }
    status
}

fn desired_conditions(family: &str, outcome: &Outcome) -> Vec<DesiredCondition> {
    match outcome {
        Outcome::Synced {
            current,
            registered: Some(RegisterReason::Drift),
            ..
        } => vec![DesiredCondition::new(
            ct::READY,
            true,
            "DriftRepaired",
            format!(
                "the previous revision was deregistered outside the operator; registered revision {} of family {family}",
                current.revision
            ),
        )],
        Outcome::Synced { current, .. } => vec![DesiredCondition::new(
            ct::READY,
            true,
            "Registered",
            format!("revision {} of family {family} is ACTIVE", current.revision),
        )],
        Outcome::AlreadyExists { family, owner } => {
            let message = owner.message(
                &format!("task definition family {family} with ACTIVE revisions"),
                "spec.family",
            );
            vec![
                DesiredCondition::new(ct::READY, false, owner.reason(), message.clone()),
                DesiredCondition::new(ct::STALLED, true, owner.reason(), message),
            ]
        }
        Outcome::Failed(err) => {
            let message = format!("{} failed: {}: {}", err.operation, err.code, err.message);
            let reason = match err.class {
                ErrorClass::Throttled => "Throttled",
                ErrorClass::Terminal => err.terminal_reason(),
                _ => "AWSError",
            };
            let mut conditions = vec![DesiredCondition::new(
                ct::READY,
                false,
                reason,
                message.clone(),
            )];
            if err.class == ErrorClass::Terminal {
                conditions.push(DesiredCondition::new(ct::STALLED, true, reason, message));
            } else {
                conditions.push(DesiredCondition::new(
                    ct::RECONCILING,
                    true,
                    reason,
                    message,
                ));
            }
            conditions
        }
        Outcome::DeletionBlocked { users } => {
            let message = format!(
                "deletion waits: the task definition is still used by ECSService {}; delete those services or point them at another task definition",
                users.join(", ")
            );
            vec![
                DesiredCondition::new(ct::READY, false, "DeletionBlocked", message.clone()),
                DesiredCondition::new(ct::RECONCILING, true, "DeletionBlocked", message),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn input(previous: Option<&TaskDefinitionStatus>, generation: i64, now: i64) -> Input<'_> {
        Input {
            previous,
            generation: Some(generation),
            family: "web",
            spec_hash: "h",
            deletion_policy: DeletionPolicy::Delete,
            now: Timestamp::from_second(now).unwrap_or_default(),
        }
    }

    fn synced() -> Outcome {
        let current = ObservedRevision {
            arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2".into(),
            family: "web".into(),
            revision: 2,
            status: "ACTIVE".into(),
            tags: BTreeMap::new(),
        };
        Outcome::Synced {
            revisions: vec![],
            current,
            registered: None,
        }
    }

    #[test]
    fn synced_status_is_ready_and_records_the_revision() {
        let status = compute(&input(None, 3, 100), &synced());
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.revision, Some(2));
        assert_eq!(status.conditions.len(), 1);
        assert_eq!(status.conditions[0].type_, "Ready");
        assert_eq!(status.conditions[0].status, "True");
    }

    #[test]
    fn repeated_reconcile_produces_an_identical_status() {
        let first = compute(&input(None, 3, 100), &synced());
        let second = compute(&input(Some(&first), 3, 200), &synced());
        assert_eq!(first, second, "a steady state must not rewrite status");
    }

    #[test]
    fn terminal_errors_stall_and_keep_the_last_good_revision() {
        let good = compute(&input(None, 1, 100), &synced());
        let err = AwsError {
            operation: "RegisterTaskDefinition",
            code: "ClientException".into(),
            message: "Role is not valid".into(),
            class: ErrorClass::Terminal,
        };
        let bad = compute(&input(Some(&good), 2, 200), &Outcome::Failed(err));
        assert_eq!(bad.revision, Some(2));
        let stalled = bad
            .conditions
            .iter()
            .find(|c| c.type_ == "Stalled")
            .map(|c| c.message.clone());
        assert!(stalled.unwrap_or_default().contains("Role is not valid"));
        let ready = bad
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status.clone());
        assert_eq!(ready.as_deref(), Some("False"));
    }

    #[test]
    fn already_exists_names_the_family() {
        let status = compute(
            &input(None, 1, 100),
            &Outcome::AlreadyExists {
                family: "web".into(),
                owner: NotOurs::OutsideOperator,
            },
        );
        assert!(status.conditions.iter().any(|c| c.type_ == "Stalled"
            && c.reason == "AlreadyExists"
            && c.message.contains("web")));
        let status = compute(
            &input(None, 1, 100),
            &Outcome::AlreadyExists {
                family: "web".into(),
                owner: NotOurs::AnotherObject,
            },
        );
        assert!(status.conditions.iter().any(|c| c.type_ == "Stalled"
            && c.reason == "OwnedByAnotherObject"
            && c.message.contains("web")));
    }
}
