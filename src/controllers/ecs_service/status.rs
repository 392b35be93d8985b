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
/// Reason while a managed field differs from what ECS reports after it was applied.
pub const FIELDS_DIFFER: &str = "FieldsDiffer";
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
        /// Managed fields ECS does not report as the spec has them (after the update).
        unequal: Vec<&'static str>,
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
    /// Redeploy token now applied (None: unchanged from previous).
    pub applied_redeploy_token: Option<Option<String>>,
    /// `status.managedFields` after this reconcile (None: unchanged).
    pub managed_fields: Option<Vec<String>>,
    /// `status.autoScaling` after this reconcile (None: unchanged).
    pub auto_scaling: Option<Option<AutoScalingStatus>>,
    /// `spec.progressDeadlineSeconds`.
    pub progress_deadline_seconds: i64,
    pub now: Timestamp,
}

/// The PRIMARY deployment, if ECS reports one.
pub fn primary(observed: &ObservedService) -> Option<&DeploymentStatus> {
    observed.deployments.iter().find(|d| d.status == "PRIMARY")
}

/// Seconds left until the PRIMARY deployment's rollout, still IN_PROGRESS, passes the
/// progress deadline (zero or less: passed). None when no rollout is in progress or ECS did
/// not say when it started. A scale of a COMPLETED deployment is not a rollout.
pub fn rollout_deadline_left(
    observed: &ObservedService,
    deadline_seconds: i64,
    now: Timestamp,
) -> Option<i64> {
    let primary = primary(observed)?;
    if primary.rollout_state.as_deref() != Some("IN_PROGRESS") {
        return None;
    }
    let started: Timestamp = primary.created_at.as_deref()?.parse().ok()?;
    Some(deadline_seconds - (now.as_second() - started.as_second()))
}

/// Whether ECS's deployment circuit breaker is on for the service.
fn circuit_breaker_on(observed: &ObservedService) -> bool {
    observed
        .deployment_configuration
        .as_ref()
        .and_then(|d| d.deployment_circuit_breaker.as_ref())
        .is_some_and(|b| b.enable)
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
    if let Some(fields) = &input.managed_fields {
        status.managed_fields = fields.clone();
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
        ..
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
        Outcome::Synced { observed, rollout_failed, unequal } => {
            let desired = input.task_definition_arn.unwrap_or_default();
            if !unequal.is_empty() && !*rollout_failed {
                let message = format!(
                    "ECS does not report the spec's {} yet; applying again",
                    unequal.join(", ")
                );
                return vec![
                    DesiredCondition::new(ct::READY, false, FIELDS_DIFFER, message.clone()),
                    DesiredCondition::new(ct::RECONCILING, true, FIELDS_DIFFER, message),
                ];
            }
            if *rollout_failed {
                let runs = if task_definition_key(&observed.task_definition)
                    == task_definition_key(desired)
                {
                    "ECS did not roll back (the circuit breaker's rollback is off): the previous deployment's tasks keep running".to_string()
                } else {
                    format!("the service runs {}", task_definition_key(&observed.task_definition))
                };
                let message = format!(
                    "rollout of {} failed: {}; {runs}. Fix the task definition, or change spec.redeployToken to retry",
                    task_definition_key(desired),
                    failure_reason(observed, desired),
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
            let failed = |p: &DeploymentStatus| match p.failed_tasks {
                0 => String::new(),
                1 => "; 1 task failed to start".to_string(),
                n => format!("; {n} tasks failed to start"),
            };
            if let Some(p) = primary(observed)
                && rollout_deadline_left(observed, input.progress_deadline_seconds, input.now)
                    .is_some_and(|left| left <= 0)
            {
                let hint = if circuit_breaker_on(observed) {
                    "ECS is still trying. Fix the task definition, or change spec.redeployToken to start over"
                } else {
                    "ECS keeps replacing failed tasks for ever without the deployment circuit breaker. Fix the task definition, or set spec.deploymentConfiguration.deploymentCircuitBreaker to have ECS fail (and roll back) such rollouts"
                };
                let message = format!(
                    "rollout of {} has not completed within progressDeadlineSeconds ({} s): {} running, {} pending of {} desired{}. {hint}",
                    p.task_definition.as_deref().map(task_definition_key).unwrap_or("?"),
                    input.progress_deadline_seconds,
                    observed.running_count,
                    observed.pending_count,
                    observed.desired_count,
                    failed(p),
                );
                let mut conditions = not_ready("RolloutStuck", message.clone(), true);
                conditions.push(DesiredCondition::new(PROGRESSING, false, "RolloutStuck", message));
                return conditions;
            }
            let message = match primary(observed) {
                Some(p) => format!(
                    "rolling out {}: {} running, {} pending of {} desired (rollout {}){}",
                    p.task_definition.as_deref().map(task_definition_key).unwrap_or("?"),
                    observed.running_count,
                    observed.pending_count,
                    observed.desired_count,
                    p.rollout_state.as_deref().unwrap_or("IN_PROGRESS"),
                    failed(p),
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
    use crate::api::ecs_service::{DeploymentCircuitBreaker, DeploymentConfiguration};

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
            managed_fields: None,
            auto_scaling: None,
            progress_deadline_seconds: 600,
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
                unequal: vec![],
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
                unequal: vec![],
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
                unequal: vec![],
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
                unequal: vec![],
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
    fn failed_rollout_without_rollback_says_the_old_tasks_keep_running() {
        let mut failed = deployment(TD2, "FAILED", "PRIMARY");
        failed.rollout_state_reason =
            Some("ECS deployment circuit breaker: tasks failed to start.".into());
        let observed = service(vec![failed, deployment(TD1, "COMPLETED", "ACTIVE")], 2);
        let status = compute(
            &input(None, TD2, 1),
            &Outcome::Synced {
                observed,
                rollout_failed: true,
                unequal: vec![],
            },
        );
        assert_eq!(
            cond(&status, "Stalled"),
            Some(("True".into(), "RolloutFailed".into()))
        );
        let message = message_of(&status, "Stalled");
        assert!(message.contains("did not roll back"), "{message}");
        assert!(!message.contains("the service runs"), "{message}");
    }

    /// An IN_PROGRESS PRIMARY on TD2 that ECS started at second 1000, with `failed` failed
    /// tasks and the circuit breaker `breaker`.
    fn stuck_service(failed: i32, breaker: Option<bool>) -> ObservedService {
        let mut new = deployment(TD2, "IN_PROGRESS", "PRIMARY");
        new.running_count = 0;
        new.failed_tasks = failed;
        new.created_at = Some("1970-01-01T00:16:40Z".into());
        let mut observed = service(vec![new, deployment(TD1, "COMPLETED", "ACTIVE")], 2);
        observed.deployment_configuration = breaker.map(|enable| DeploymentConfiguration {
            deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                enable,
                rollback: enable,
            }),
            ..Default::default()
        });
        observed
    }

    fn message_of(status: &ECSServiceStatus, type_: &str) -> String {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| c.message.clone())
            .unwrap_or_default()
    }

    #[test]
    fn failing_rollout_is_progressing_with_the_failed_task_count_until_the_deadline() {
        let outcome = Outcome::Synced {
            observed: stuck_service(4, None),
            rollout_failed: false,
            unequal: vec![],
        };
        // 599 s after the deployment started, with a 600 s deadline.
        let status = compute(&input(None, TD2, 1599), &outcome);
        assert_eq!(
            cond(&status, "Progressing"),
            Some(("True".into(), "RolloutInProgress".into()))
        );
        assert!(cond(&status, "Stalled").is_none());
        let message = message_of(&status, "Progressing");
        assert!(message.contains("4 tasks failed to start"), "{message}");

        let stuck = compute(&input(Some(&status), TD2, 1600), &outcome);
        assert_eq!(
            cond(&stuck, "Stalled"),
            Some(("True".into(), "RolloutStuck".into()))
        );
        assert_eq!(
            cond(&stuck, "Ready"),
            Some(("False".into(), "RolloutStuck".into()))
        );
        assert_eq!(
            cond(&stuck, "Progressing"),
            Some(("False".into(), "RolloutStuck".into()))
        );
        assert!(cond(&stuck, "Reconciling").is_none());
        let message = message_of(&stuck, "Stalled");
        assert!(message.contains("4 tasks failed to start"), "{message}");
        assert!(
            message.contains("progressDeadlineSeconds (600 s)"),
            "{message}"
        );
        assert!(message.contains("deploymentCircuitBreaker"), "{message}");
        // The rollout is not the operator's failure: it may still complete.
        assert!(stuck.failed_task_definition.is_none());
    }

    #[test]
    fn the_deadline_is_the_spec_s_and_the_hint_follows_the_circuit_breaker() {
        let outcome = Outcome::Synced {
            observed: stuck_service(0, Some(true)),
            rollout_failed: false,
            unequal: vec![],
        };
        let mut short = input(None, TD2, 1030);
        short.progress_deadline_seconds = 30;
        let stuck = compute(&short, &outcome);
        assert_eq!(
            cond(&stuck, "Stalled"),
            Some(("True".into(), "RolloutStuck".into()))
        );
        let message = message_of(&stuck, "Stalled");
        assert!(message.contains("ECS is still trying"), "{message}");
        assert!(!message.contains("failed to start"), "{message}");
    }

    #[test]
    fn no_deadline_without_a_rollout_start_or_for_a_scale() {
        let mut unknown = stuck_service(3, None);
        unknown.deployments[0].created_at = None;
        let status = compute(
            &input(None, TD2, 99_999),
            &Outcome::Synced {
                observed: unknown,
                rollout_failed: false,
                unequal: vec![],
            },
        );
        assert_eq!(
            cond(&status, "Progressing"),
            Some(("True".into(), "RolloutInProgress".into()))
        );
        // A COMPLETED deployment scaling up long after it started is not a stuck rollout.
        let mut scaling = deployment(TD2, "COMPLETED", "PRIMARY");
        scaling.created_at = Some("1970-01-01T00:16:40Z".into());
        let observed = service(vec![scaling], 1);
        assert_eq!(
            rollout_deadline_left(
                &observed,
                600,
                Timestamp::from_second(99_999).unwrap_or_default()
            ),
            None
        );
        let status = compute(
            &input(None, TD2, 99_999),
            &Outcome::Synced {
                observed,
                rollout_failed: false,
                unequal: vec![],
            },
        );
        assert_eq!(
            cond(&status, "Progressing"),
            Some(("True".into(), "RolloutInProgress".into()))
        );
    }

    #[test]
    fn a_managed_field_ecs_does_not_report_keeps_the_service_from_ready() {
        let observed = service(vec![deployment(TD2, "COMPLETED", "PRIMARY")], 2);
        let mut applied = input(None, TD2, 1);
        applied.managed_fields = Some(vec!["loadBalancers".into()]);
        let status = compute(
            &applied,
            &Outcome::Synced {
                observed: observed.clone(),
                rollout_failed: false,
                unequal: vec!["loadBalancers"],
            },
        );
        assert_eq!(
            cond(&status, "Ready"),
            Some(("False".into(), FIELDS_DIFFER.into()))
        );
        assert_eq!(
            cond(&status, "Reconciling"),
            Some(("True".into(), FIELDS_DIFFER.into()))
        );
        assert_eq!(status.managed_fields, vec!["loadBalancers".to_string()]);
        // Equal again: Ready; managedFields kept when a reconcile does not touch them.
        let status = compute(
            &input(Some(&status), TD2, 2),
            &Outcome::Synced {
                observed,
                rollout_failed: false,
                unequal: vec![],
            },
        );
        assert_eq!(cond(&status, "Ready").map(|c| c.0), Some("True".into()));
        assert_eq!(status.managed_fields, vec!["loadBalancers".to_string()]);
    }

    #[test]
    fn steady_state_status_is_identical_on_repeat() {
        let observed = service(vec![deployment(TD2, "COMPLETED", "PRIMARY")], 2);
        let outcome = Outcome::Synced {
            observed,
            rollout_failed: false,
            unequal: vec![],
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
            unequal: vec![],
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
