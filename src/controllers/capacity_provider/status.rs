//! Pure status computation for a CapacityProvider: mirrors the ECS capacity provider.

use k8s_openapi::jiff::Timestamp;

use crate::api::capacity_provider::CapacityProviderStatus;
use crate::api::common::{
    DeletionPolicy, DesiredCondition, NotOurs, condition_types as ct, merge_conditions,
};
use crate::aws::ecs_cluster::ObservedCapacityProvider;
use crate::aws::error::{AwsError, ErrorClass};

/// How a reconcile ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The provider exists and the spec was applied (or nothing needed applying).
    Synced {
        observed: ObservedCapacityProvider,
    },
    AlreadyExists {
        owner: NotOurs,
    },
    Immutable {
        message: String,
    },
    Failed(AwsError),
    /// Deletion waits for the clusters that use the provider, or for ECS.
    Deleting {
        message: String,
    },
}

pub struct Input<'a> {
    pub previous: Option<&'a CapacityProviderStatus>,
    pub generation: Option<i64>,
    pub name: &'a str,
    pub deletion_policy: DeletionPolicy,
    pub now: Timestamp,
}

/// Whether the provider is usable: ACTIVE with no update running or failed.
pub fn is_ready(observed: &ObservedCapacityProvider) -> bool {
    observed.status == "ACTIVE"
        && !matches!(
            observed.update_status.as_deref(),
            Some("UPDATE_IN_PROGRESS" | "UPDATE_FAILED" | "CREATE_IN_PROGRESS" | "CREATE_FAILED")
        )
}

pub fn compute(input: &Input<'_>, outcome: &Outcome) -> CapacityProviderStatus {
    let previous = input.previous.cloned().unwrap_or_default();
    let mut status = CapacityProviderStatus {
        observed_generation: input.generation,
        deletion_policy: Some(input.deletion_policy),
        ..previous.clone()
    };
    if let Outcome::Synced { observed } = outcome {
        status.capacity_provider_arn = Some(observed.arn.clone());
        status.name = Some(observed.name.clone());
        status.provider_status = Some(observed.status.clone());
        status.update_status = observed.update_status.clone();
        status.update_status_reason = observed.update_status_reason.clone();
    }
    status.conditions = merge_conditions(
        &previous.conditions,
        &desired_conditions(input, outcome),
        input.generation,
        input.now,
    );
    status
}

fn not_ready(reason: &str, message: String, stalled: bool) -> Vec<DesiredCondition> {
    let second = if stalled {
        ct::STALLED
    } else {
        ct::RECONCILING
    };
    vec![
        DesiredCondition::new(ct::READY, false, reason, message.clone()),
        DesiredCondition::new(second, true, reason, message),
    ]
}

fn desired_conditions(input: &Input<'_>, outcome: &Outcome) -> Vec<DesiredCondition> {
    match outcome {
        Outcome::Synced { observed } => {
            if is_ready(observed) {
                return vec![DesiredCondition::new(
                    ct::READY,
                    true,
                    "Active",
                    format!("capacity provider {} is ACTIVE", observed.name),
                )];
            }
            let reason_text = observed
                .update_status_reason
                .clone()
                .unwrap_or_else(|| "no reason given".into());
            match observed.update_status.as_deref() {
                Some(failed @ ("UPDATE_FAILED" | "CREATE_FAILED")) => not_ready(
                    "UpdateFailed",
                    format!(
                        "ECS reports {failed} for capacity provider {}: {reason_text}",
                        observed.name
                    ),
                    true,
                ),
                Some(state) => not_ready(
                    "Updating",
                    format!(
                        "capacity provider {} is {} ({state})",
                        observed.name, observed.status
                    ),
                    false,
                ),
                None => not_ready(
                    "Updating",
                    format!("capacity provider {} is {}", observed.name, observed.status),
                    false,
                ),
            }
        }
        Outcome::AlreadyExists { owner } => not_ready(
            owner.reason(),
            owner.message(
                &format!("a capacity provider named {}", input.name),
                "spec.name",
            ),
            true,
        ),
        Outcome::Immutable { message } => not_ready("ImmutableFieldChanged", message.clone(), true),
        Outcome::Failed(err) => {
            let message = format!("{} failed: {}: {}", err.operation, err.code, err.message);
            match err.class {
                ErrorClass::Terminal => not_ready(err.terminal_reason(), message, true),
                ErrorClass::Throttled => not_ready("Throttled", message, false),
                _ => not_ready("AWSError", message, false),
            }
        }
        Outcome::Deleting { message } => not_ready("Deleting", message.clone(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(update_status: Option<&str>) -> ObservedCapacityProvider {
        ObservedCapacityProvider {
            arn: "arn:aws:ecs:us-east-1:123456789012:capacity-provider/web".into(),
            name: "web".into(),
            status: "ACTIVE".into(),
            update_status: update_status.map(str::to_string),
            update_status_reason: Some("the Auto Scaling group is gone".into()),
            ..Default::default()
        }
    }

    fn input(previous: Option<&CapacityProviderStatus>, now: i64) -> Input<'_> {
        Input {
            previous,
            generation: Some(2),
            name: "web",
            deletion_policy: DeletionPolicy::Delete,
            now: Timestamp::from_second(now).unwrap_or_default(),
        }
    }

    fn cond(status: &CapacityProviderStatus, type_: &str) -> Option<(String, String, String)> {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    }

    #[test]
    fn active_provider_is_ready_and_mirrored() {
        let status = compute(
            &input(None, 1),
            &Outcome::Synced {
                observed: provider(Some("UPDATE_COMPLETE")),
            },
        );
        assert_eq!(cond(&status, "Ready").map(|c| c.0), Some("True".into()));
        assert_eq!(status.name.as_deref(), Some("web"));
        assert_eq!(status.update_status.as_deref(), Some("UPDATE_COMPLETE"));
        assert_eq!(status.observed_generation, Some(2));
    }

    #[test]
    fn failed_update_stalls_with_ecs_reason() {
        let status = compute(
            &input(None, 1),
            &Outcome::Synced {
                observed: provider(Some("UPDATE_FAILED")),
            },
        );
        let (stalled, reason, message) = cond(&status, "Stalled").expect("Stalled");
        assert_eq!(
            (stalled.as_str(), reason.as_str()),
            ("True", "UpdateFailed")
        );
        assert!(message.contains("Auto Scaling group is gone"), "{message}");
    }

    #[test]
    fn auto_scaling_group_not_found_stalls_with_the_aws_message() {
        let status = compute(
            &input(None, 1),
            &Outcome::Failed(AwsError {
                operation: "CreateCapacityProvider",
                code: "ClientException".into(),
                message: "The specified Auto Scaling group ARN does not exist.".into(),
                class: ErrorClass::Terminal,
            }),
        );
        let (stalled, reason, message) = cond(&status, "Stalled").expect("Stalled");
        assert_eq!((stalled.as_str(), reason.as_str()), ("True", "InvalidSpec"));
        assert!(
            message.contains("Auto Scaling group ARN does not exist"),
            "{message}"
        );
    }

    #[test]
    fn steady_state_status_is_identical_on_repeat() {
        let outcome = Outcome::Synced {
            observed: provider(None),
        };
        let first = compute(&input(None, 1), &outcome);
        let second = compute(&input(Some(&first), 99), &outcome);
        assert_eq!(first, second);
    }
}
