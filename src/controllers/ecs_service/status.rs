//! Pure status computation for an ECSService: mirrors the ECS service and its rollout.

use k8s_openapi::jiff::Timestamp;

use super::plan::task_definition_key;
use crate::api::common::{
    DeletionPolicy, DesiredCondition, NotOurs, condition_types as ct, merge_conditions,
};
use crate::api::ecs_service::{AutoScalingStatus, DeploymentStatus, ECSServiceStatus};
use crate::aws::ecs_service::ObservedService;
use crate::aws::error::{AwsError, ErrorClass};

/// Service events kept in status.
pub const EVENTS_IN_STATUS: usize = 5;
pub const PROGRESSING: &str = "Progressing";
/// True while the scalable target is registered and no scaling is suspended.
pub const SCALING_ACTIVE: &str = "ScalingActive";

/// How a reconcile ended.
// Outcomes are short-lived values passed once from the reconcile to the status code.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The service exists and the spec was applied (or nothing needed applying).
    Synced {
        observed: ObservedService,
        /// The desired task definition's rollout failed and is not re-applied.
        rollout_failed: bool,
    },
    /// The referenced TaskDefinition is missing or not Ready yet.
    WaitingForTaskDefinition(String),
    /// The referenced ECSCluster is missing or not Ready yet (or cannot be used: `stalled`).
    WaitingForCluster {
        message: String,
        stalled: bool,
    },
    /// Cloud Map discovery is not ready (namespace, a service switch) or is misconfigured.
    WaitingForDiscovery {
        message: String,
        stalled: bool,
    },
    /// A previous service of the same name is still draining.
    WaitingForDrain,
    AlreadyExists {
        owner: NotOurs,
    },
    Immutable {
        message: String,
    },
    Failed(AwsError),
    /// Deletion waits (the service is draining).
    Deleting(String),
}

pub struct Input<'a> {
    pub previous: Option<&'a ECSServiceStatus>,
    pub generation: Option<i64>,
    /// Resolved desired task definition ARN, when known.
    pub task_definition_arn: Option<&'a str>,
    pub deletion_policy: DeletionPolicy,
    /// Redeploy token and Service Connect hash now applied (None: unchanged from previous).
    pub applied_redeploy_token: Option<Option<String>>,
    pub applied_service_connect_hash: Option<Option<String>>,
    /// `status.autoScaling` after this reconcile (None: unchanged).
    pub auto_scaling: Option<Option<AutoScalingStatus>>,
    pub now: Timestamp,
}

/// The PRIMARY deployment, if ECS reports one.
pub fn primary(observed: &ObservedService) -> Option<&DeploymentStatus> {
    observed.deployments.iter().find(|d| d.status == "PRIMARY")
}

/// Whether the service runs the desired task definition at the desired count, rollout done.
pub fn is_ready(observed: &ObservedService, desired_td: &str) -> bool {
    let Some(primary) = primary(observed) else {
        return false;
    };
    observed.is_active()
        && primary.task_definition.as_deref().map(task_definition_key)
            == Some(task_definition_key(desired_td))
        && matches!(primary.rollout_state.as_deref(), None | Some("COMPLETED"))
        && observed.running_count == observed.desired_count
        && observed.pending_count == 0
}

pub fn compute(input: &Input<'_>, outcome: &Outcome) -> ECSServiceStatus {
    let previous = input.previous.cloned().unwrap_or_default();
    let mut status = ECSServiceStatus {
        observed_generation: input.generation,
        deletion_policy: Some(input.deletion_policy),
        ..previous.clone()
    };
    if let Some(token) = &input.applied_redeploy_token {
        status.applied_redeploy_token = token.clone();
    }
    if let Some(hash) = &input.applied_service_connect_hash {
        status.applied_service_connect_hash = hash.clone();
    }
    if let Some(td) = input.task_definition_arn {
        status.task_definition_arn = Some(td.to_string());
    }
    if let Some(scaling) = &input.auto_scaling {
        status.auto_scaling = scaling.clone();
    }
    if let Outcome::Synced {
        observed,
        rollout_failed,
    } = outcome
    {
        status.service_arn = Some(observed.arn.clone());
        status.cluster_arn = Some(observed.cluster_arn.clone());
        status.service_status = Some(observed.status.clone());
        status.desired_count = Some(observed.desired_count);
        if let Some(scaling) = status.auto_scaling.as_mut() {
            scaling.desired_count = Some(observed.desired_count);
        }
        status.running_count = Some(observed.running_count);
        status.pending_count = Some(observed.pending_count);
        status.rollout_state = primary(observed).and_then(|p| p.rollout_state.clone());
        status.deployments = observed.deployments.clone();
        status.events = observed
            .events
            .iter()
            .take(EVENTS_IN_STATUS)
            .cloned()
            .collect();
        let desired = input.task_definition_arn.unwrap_or_default();
        status.failed_task_definition = if *rollout_failed {
            Some(desired.to_string())
        } else if is_ready(observed, desired) {
            None
        } else {
            previous
                .failed_task_definition
                .filter(|f| task_definition_key(f) == task_definition_key(desired))
        };
    }
    let mut conditions = desired_conditions(input, outcome);
    conditions.extend(scaling_condition(status.auto_scaling.as_ref()));
    status.conditions = merge_conditions(
        &previous.conditions,
        &conditions,
        input.generation,
        input.now,
    );
    status
}

/// `ScalingActive`, while auto scaling is configured.
fn scaling_condition(scaling: Option<&AutoScalingStatus>) -> Option<DesiredCondition> {
    let scaling = scaling?;
    let range = format!(
        "{}-{} tasks",
        scaling.min_capacity.unwrap_or_default(),
        scaling.max_capacity.unwrap_or_default()
    );
    Some(if !scaling.registered {
        DesiredCondition::new(
            SCALING_ACTIVE,
            false,
            "NotRegistered",
            format!("scalable target {} is not registered", scaling.resource_id),
        )
    } else if scaling.suspended {
        DesiredCondition::new(
            SCALING_ACTIVE,
            false,
            "Suspended",
            format!("scaling of {} ({range}) is suspended", scaling.resource_id),
        )
    } else {
        DesiredCondition::new(
            SCALING_ACTIVE,
            true,
            "TargetRegistered",
            format!(
                "{} scales between {range} with {} policies",
                scaling.resource_id,
                scaling.policies.len()
            ),
        )
    })
}

fn failure_reason(observed: &ObservedService, desired_td: &str) -> String {
    observed
        .deployments
        .iter()
        .find(|d| {
            d.rollout_state.as_deref() == Some("FAILED")
                && d.task_definition.as_deref().map(task_definition_key)
                    == Some(task_definition_key(desired_td))
        })
        .and_then(|d| d.rollout_state_reason.clone())
        .unwrap_or_else(|| "the deployment failed and ECS rolled back".into())
}

fn desired_conditions(input: &Input<'_>, outcome: &Outcome) -> Vec<DesiredCondition> {
    let not_ready = |reason: &str, message: String, stalled: bool| {
        let second = if stalled {
            ct::STALLED
        } else {
            ct::RECONCILING
        };
        vec![
            DesiredCondition::new(ct::READY, false, reason, message.clone()),
            DesiredCondition::new(second, true, reason, message),
        ]
    };
    match outcome {
        Outcome::Synced { observed, rollout_failed } => {
            let desired = input.task_definition_arn.unwrap_or_default();
            if *rollout_failed {
                let message = format!(
                    "rollout of {} failed: {}; the service runs {}. Fix the task definition, or change spec.redeployToken to retry",
                    task_definition_key(desired),
                    failure_reason(observed, desired),
                    task_definition_key(&observed.task_definition)
                );
                return not_ready("RolloutFailed", message, true);
            }
            if is_ready(observed, desired) {
                return vec![DesiredCondition::new(
                    ct::READY,
                    true,
                    "RolloutComplete",
                    format!(
                        "{}/{} tasks running {}",
                        observed.running_count,
                        observed.desired_count,
                        task_definition_key(desired)
                    ),
                )];
            }
            let message = match primary(observed) {
                Some(p) => format!(
                    "rolling out {}: {} running, {} pending of {} desired (rollout {})",
                    p.task_definition.as_deref().map(task_definition_key).unwrap_or("?"),
                    observed.running_count,
                    observed.pending_count,
                    observed.desired_count,
                    p.rollout_state.as_deref().unwrap_or("IN_PROGRESS")
                ),
                None => format!("waiting for ECS to start a deployment of {}", task_definition_key(desired)),
            };
            vec![
                DesiredCondition::new(ct::READY, false, "RolloutInProgress", message.clone()),
                DesiredCondition::new(PROGRESSING, true, "RolloutInProgress", message.clone()),
                DesiredCondition::new(ct::RECONCILING, true, "RolloutInProgress", message),
            ]
        }
        Outcome::WaitingForTaskDefinition(message) => not_ready("WaitingForTaskDefinition", message.clone(), false),
        Outcome::WaitingForCluster { message, stalled } => not_ready("WaitingForCluster", message.clone(), *stalled),
        Outcome::WaitingForDiscovery { message, stalled } => not_ready(
            if *stalled { "InvalidServiceDiscovery" } else { "WaitingForServiceDiscovery" },
            message.clone(),
            *stalled,
        ),
        Outcome::WaitingForDrain => not_ready(
            "WaitingForDrain",
            "a previous ECS service of this name is DRAINING; it is created again once ECS reports it INACTIVE".into(),
            false,
        ),
        Outcome::AlreadyExists { owner } => not_ready(
            owner.reason(),
            owner.message("an ECS service of this name", "spec.serviceName"),
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
        Outcome::Deleting(message) => not_ready("Deleting", message.clone(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";
    const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";

    fn deployment(td: &str, state: &str, status: &str) -> DeploymentStatus {
        DeploymentStatus {
            id: format!("ecs-svc/{state}"),
            status: status.into(),
            task_definition: Some(td.into()),
            rollout_state: Some(state.into()),
            desired_count: 2,
            running_count: 2,
            ..Default::default()
        }
    }

    fn service(deployments: Vec<DeploymentStatus>, running: i32) -> ObservedService {
        ObservedService {
            arn: "arn:aws:ecs:us-east-1:123456789012:service/prod/web".into(),
            status: "ACTIVE".into(),
            task_definition: TD2.into(),
            desired_count: 2,
            running_count: running,
            deployments,
            ..Default::default()
        }
    }

    fn input<'a>(previous: Option<&'a ECSServiceStatus>, td: &'static str, now: i64) -> Input<'a> {
        Input {
            previous,
            generation: Some(4),
            task_definition_arn: Some(td),
            deletion_policy: DeletionPolicy::Delete,
            applied_redeploy_token: None,
            applied_service_connect_hash: None,
            auto_scaling: None,
            now: Timestamp::from_second(now).unwrap_or_default(),
        }
    }

    fn cond(status: &ECSServiceStatus, type_: &str) -> Option<(String, String)> {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| (c.status.clone(), c.reason.clone()))
    }

    #[test]
    fn completed_rollout_at_desired_count_is_ready() {
        let observed = service(vec![deployment(TD2, "COMPLETED", "PRIMARY")], 2);
        let status = compute(
            &input(None, TD2, 1),
            &Outcome::Synced {
                observed,
                rollout_failed: false,
            },
        );
        assert_eq!(
            cond(&status, "Ready"),
            Some(("True".into(), "RolloutComplete".into()))
        );
        assert_eq!(status.observed_generation, Some(4));
        assert_eq!(status.rollout_state.as_deref(), Some("COMPLETED"));
        assert!(cond(&status, "Reconciling").is_none());
    }

    #[test]
    fn running_rollout_is_progressing_not_ready() {
        let observed = service(
            vec![
                deployment(TD2, "IN_PROGRESS", "PRIMARY"),
                deployment(TD1, "COMPLETED", "ACTIVE"),
            ],
            2,
        );
        let status = compute(
            &input(None, TD2, 1),
            &Outcome::Synced {
                observed,
                rollout_failed: false,
            },
        );
        assert_eq!(
            cond(&status, "Ready"),
            Some(("False".into(), "RolloutInProgress".into()))
        );
        assert_eq!(
            cond(&status, "Progressing"),
            Some(("True".into(), "RolloutInProgress".into()))
        );
        assert_eq!(
            cond(&status, "Reconciling"),
            Some(("True".into(), "RolloutInProgress".into()))
        );
        assert_eq!(status.deployments.len(), 2);
    }

    #[test]
    fn primary_on_another_task_definition_is_not_ready() {
        let observed = service(vec![deployment(TD1, "COMPLETED", "PRIMARY")], 2);
        let status = compute(
            &input(None, TD2, 1),
            &Outcome::Synced {
                observed,
                rollout_failed: false,
            },
        );
        assert_eq!(cond(&status, "Ready").map(|c| c.0), Some("False".into()));
    }

    #[test]
    fn failed_rollout_stalls_and_is_remembered() {
        let mut failed = deployment(TD2, "FAILED", "ACTIVE");
        failed.rollout_state_reason =
            Some("ECS deployment circuit breaker: tasks failed to start.".into());
        let observed = service(vec![deployment(TD1, "COMPLETED", "PRIMARY"), failed], 2);
        let status = compute(
            &input(None, TD2, 1),
            &Outcome::Synced {
                observed,
                rollout_failed: true,
            },
        );
        assert_eq!(
            cond(&status, "Stalled"),
            Some(("True".into(), "RolloutFailed".into()))
        );
        assert_eq!(status.failed_task_definition.as_deref(), Some(TD2));
        let message = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Stalled")
            .map(|c| c.message.clone())
            .unwrap_or_default();
        assert!(message.contains("circuit breaker"), "{message}");
    }

    #[test]
    fn steady_state_status_is_identical_on_repeat() {
        let observed = service(vec![deployment(TD2, "COMPLETED", "PRIMARY")], 2);
        let outcome = Outcome::Synced {
            observed,
            rollout_failed: false,
        };
        let first = compute(&input(None, TD2, 1), &outcome);
        let second = compute(&input(Some(&first), TD2, 99), &outcome);
        assert_eq!(first, second);
    }

    #[test]
    fn scaling_active_follows_the_target_and_the_scaler_count_is_mirrored() {
        let observed = service(vec![deployment(TD2, "COMPLETED", "PRIMARY")], 2);
        let outcome = Outcome::Synced {
            observed,
            rollout_failed: false,
        };
        let mut with_scaling = input(None, TD2, 1);
        with_scaling.auto_scaling = Some(Some(AutoScalingStatus {
            resource_id: "service/prod/web".into(),
            registered: true,
            min_capacity: Some(1),
            max_capacity: Some(4),
            ..Default::default()
        }));
        let status = compute(&with_scaling, &outcome);
        assert_eq!(
            cond(&status, SCALING_ACTIVE),
            Some(("True".into(), "TargetRegistered".into()))
        );
        assert_eq!(
            status.auto_scaling.as_ref().and_then(|a| a.desired_count),
            Some(2)
        );
        // Kept on later reconciles that do not touch auto scaling.
        let again = compute(&input(Some(&status), TD2, 5), &outcome);
        assert_eq!(again, status);
        let mut suspended = input(Some(&status), TD2, 9);
        suspended.auto_scaling = Some(status.auto_scaling.clone().map(|mut a| {
            a.suspended = true;
            a
        }));
        assert_eq!(
            cond(&compute(&suspended, &outcome), SCALING_ACTIVE),
            Some(("False".into(), "Suspended".into()))
        );
        let mut removed = input(Some(&status), TD2, 9);
        removed.auto_scaling = Some(None);
        assert!(cond(&compute(&removed, &outcome), SCALING_ACTIVE).is_none());
    }
}
