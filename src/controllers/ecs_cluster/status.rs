//! Pure status computation for an ECSCluster: mirrors the ECS cluster.

use k8s_openapi::jiff::Timestamp;

use crate::api::common::{
    DeletionPolicy, DesiredCondition, NotOurs, condition_types as ct, merge_conditions,
};
use crate::api::ecs_cluster::ECSClusterStatus;
use crate::aws::ecs_cluster::ObservedCluster;
use crate::aws::error::{AwsError, ErrorClass};

/// Something the cluster still waits for after the rest of the spec was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pending {
    /// `serviceConnectDefaults.namespaceRef` cannot be resolved.
    Namespace(String),
    /// Some `capacityProviderRefs` are not Ready.
    CapacityProviders(String),
}

/// How a reconcile ended.
// Outcomes are short-lived values passed once from the reconcile to the status code.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The cluster exists and the spec was applied (or nothing needed applying), except
    /// what is `pending`.
    Synced {
        observed: ObservedCluster,
        pending: Option<Pending>,
    },
    AlreadyExists {
        owner: NotOurs,
    },
    /// The spec cannot be applied as it stands.
    Invalid {
        message: String,
    },
    /// Dissociating capacity providers that services use (found by the operator, or refused
    /// by ECS with `ResourceInUseException`).
    ProviderInUse {
        message: String,
    },
    Failed(AwsError),
    /// Deletion waits for services (or tasks, or instances) in the cluster.
    DeletionBlocked {
        message: String,
    },
}

pub struct Input<'a> {
    pub previous: Option<&'a ECSClusterStatus>,
    pub generation: Option<i64>,
    pub name: &'a str,
    pub deletion_policy: DeletionPolicy,
    /// `spec.serviceConnectDefaults.namespace` now applied (None: unchanged from previous).
    pub applied_service_connect_namespace: Option<Option<String>>,
    /// `status.managedFields` after this reconcile (None: unchanged).
    pub managed_fields: Option<Vec<String>>,
    pub now: Timestamp,
}

/// Whether the observed cluster is usable and nothing is pending.
pub fn is_ready(observed: &ObservedCluster, pending: Option<&Pending>) -> bool {
    observed.status == "ACTIVE" && pending.is_none()
}

pub fn compute(input: &Input<'_>, outcome: &Outcome) -> ECSClusterStatus {
    let previous = input.previous.cloned().unwrap_or_default();
    let mut status = ECSClusterStatus {
        observed_generation: input.generation,
        deletion_policy: Some(input.deletion_policy),
        ..previous.clone()
    };
    if let Some(applied) = &input.applied_service_connect_namespace {
        status.applied_service_connect_namespace = applied.clone();
    }
    if let Some(fields) = &input.managed_fields {
        status.managed_fields = fields.clone();
    }
    if let Outcome::Synced { observed, .. } = outcome {
        status.cluster_arn = Some(observed.arn.clone());
        status.cluster_name = Some(observed.name.clone());
        status.cluster_status = Some(observed.status.clone());
        status.registered_container_instances_count =
            Some(observed.registered_container_instances_count);
        status.running_tasks_count = Some(observed.running_tasks_count);
        status.pending_tasks_count = Some(observed.pending_tasks_count);
        status.active_services_count = Some(observed.active_services_count);
        let mut providers = observed.capacity_providers.clone();
        providers.sort();
        status.capacity_providers = providers;
        status.service_connect_namespace = observed.service_connect_namespace.clone();
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
        Outcome::Synced { observed, pending } => match (observed.status.as_str(), pending) {
            ("ACTIVE", None) => vec![DesiredCondition::new(
                ct::READY,
                true,
                "Active",
                format!("ECS cluster {} is ACTIVE", observed.name),
            )],
            ("ACTIVE", Some(Pending::Namespace(message))) => {
                not_ready("WaitingForNamespace", message.clone(), false)
            }
            ("ACTIVE", Some(Pending::CapacityProviders(message))) => {
                not_ready("WaitingForCapacityProvider", message.clone(), false)
            }
            ("FAILED", _) => not_ready(
                "ProvisioningFailed",
                format!(
                    "ECS reports cluster {} as FAILED (its capacity provider resources could not be created); see the cluster's attachments in ECS",
                    observed.name
                ),
                true,
            ),
            (other, _) => not_ready(
                "Provisioning",
                format!("ECS cluster {} is {other}", observed.name),
                false,
            ),
        },
        Outcome::AlreadyExists { owner } => not_ready(
            owner.reason(),
            owner.message(
                &format!("an ECS cluster named {}", input.name),
                "spec.clusterName",
            ),
            true,
        ),
        Outcome::Invalid { message } => not_ready("InvalidSpec", message.clone(), true),
        Outcome::ProviderInUse { message } => {
            not_ready("CapacityProviderInUse", message.clone(), true)
        }
        Outcome::Failed(err) => {
            let message = format!("{} failed: {}: {}", err.operation, err.code, err.message);
            match err.class {
                ErrorClass::Terminal => not_ready(err.terminal_reason(), message, true),
                ErrorClass::Throttled => not_ready("Throttled", message, false),
                _ => not_ready("AWSError", message, false),
            }
        }
        Outcome::DeletionBlocked { message } => {
            not_ready("DeletionBlocked", message.clone(), false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(status: &str) -> ObservedCluster {
        ObservedCluster {
            arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".into(),
            name: "prod".into(),
            status: status.into(),
            running_tasks_count: 3,
            active_services_count: 2,
            capacity_providers: vec!["FARGATE_SPOT".into(), "FARGATE".into()],
            ..Default::default()
        }
    }

    fn input(previous: Option<&ECSClusterStatus>, now: i64) -> Input<'_> {
        Input {
            previous,
            generation: Some(3),
            name: "prod",
            deletion_policy: DeletionPolicy::Delete,
            applied_service_connect_namespace: None,
            managed_fields: None,
            now: Timestamp::from_second(now).unwrap_or_default(),
        }
    }

    fn cond(status: &ECSClusterStatus, type_: &str) -> Option<(String, String)> {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| (c.status.clone(), c.reason.clone()))
    }

    #[test]
    fn active_cluster_is_ready_and_mirrored() {
        let status = compute(
            &input(None, 1),
            &Outcome::Synced {
                observed: cluster("ACTIVE"),
                pending: None,
            },
        );
        assert_eq!(
            cond(&status, "Ready"),
            Some(("True".into(), "Active".into()))
        );
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.running_tasks_count, Some(3));
        assert_eq!(status.active_services_count, Some(2));
        assert_eq!(status.capacity_providers, vec!["FARGATE", "FARGATE_SPOT"]);
        assert_eq!(status.cluster_status.as_deref(), Some("ACTIVE"));
    }

    #[test]
    fn pending_references_keep_it_reconciling() {
        let status = compute(
            &input(None, 1),
            &Outcome::Synced {
                observed: cluster("ACTIVE"),
                pending: Some(Pending::Namespace("no CloudMapNamespace kind".into())),
            },
        );
        assert_eq!(
            cond(&status, "Ready"),
            Some(("False".into(), "WaitingForNamespace".into()))
        );
        assert_eq!(
            cond(&status, "Reconciling"),
            Some(("True".into(), "WaitingForNamespace".into()))
        );
        assert!(cond(&status, "Stalled").is_none());
    }

    #[test]
    fn provisioning_is_not_ready_and_failed_stalls() {
        let status = compute(
            &input(None, 1),
            &Outcome::Synced {
                observed: cluster("PROVISIONING"),
                pending: None,
            },
        );
        assert_eq!(
            cond(&status, "Reconciling"),
            Some(("True".into(), "Provisioning".into()))
        );
        let status = compute(
            &input(None, 1),
            &Outcome::Synced {
                observed: cluster("FAILED"),
                pending: None,
            },
        );
        assert_eq!(
            cond(&status, "Stalled"),
            Some(("True".into(), "ProvisioningFailed".into()))
        );
    }

    #[test]
    fn terminal_aws_errors_stall_with_the_aws_message() {
        let status = compute(
            &input(None, 1),
            &Outcome::Failed(AwsError {
                operation: "PutClusterCapacityProviders",
                code: "ClientException".into(),
                message: "The specified capacity provider does not exist.".into(),
                class: ErrorClass::Terminal,
            }),
        );
        let stalled = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Stalled")
            .cloned()
            .unwrap_or_default();
        assert_eq!(stalled.reason, "InvalidSpec");
        assert!(
            stalled.message.contains("does not exist"),
            "{}",
            stalled.message
        );
    }

    #[test]
    fn steady_state_status_is_identical_on_repeat() {
        let outcome = Outcome::Synced {
            observed: cluster("ACTIVE"),
            pending: None,
        };
        let first = compute(&input(None, 1), &outcome);
        let second = compute(&input(Some(&first), 99), &outcome);
        assert_eq!(first, second);
    }
}
