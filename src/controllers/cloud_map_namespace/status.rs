//! Pure status computation for a CloudMapNamespace.

use k8s_openapi::jiff::Timestamp;

use crate::api::cloud_map_namespace::{CloudMapNamespaceStatus, PendingOperation};
use crate::api::common::{
    DeletionPolicy, DesiredCondition, NotOurs, condition_types as ct, merge_conditions,
};
use crate::aws::cloud_map::ObservedNamespace;
use crate::aws::error::{AwsError, ErrorClass};

#[derive(Clone, Debug)]
pub enum Outcome {
    Ready(ObservedNamespace),
    /// An operation is in flight.
    InProgress(PendingOperation),
    /// The create or update operation ended in FAIL.
    OperationFailed {
        code: String,
        message: String,
    },
    AlreadyExists {
        owner: NotOurs,
    },
    Failed(AwsError),
    /// Deletion waits for services in the namespace, or for the delete operation.
    Deleting(String),
}

pub struct Input<'a> {
    pub previous: Option<&'a CloudMapNamespaceStatus>,
    pub generation: Option<i64>,
    pub deletion_policy: DeletionPolicy,
    /// The operation in flight after this reconcile (`None`: none).
    pub pending_operation: Option<PendingOperation>,
    /// Settings hash applied, when this reconcile applied or confirmed it.
    pub applied_settings_hash: Option<String>,
    pub now: Timestamp,
}

pub fn compute(input: &Input<'_>, outcome: &Outcome) -> CloudMapNamespaceStatus {
    let previous = input.previous.cloned().unwrap_or_default();
    let mut status = CloudMapNamespaceStatus {
        observed_generation: input.generation,
        deletion_policy: Some(input.deletion_policy),
        pending_operation: input.pending_operation.clone(),
        ..previous.clone()
    };
    if input.applied_settings_hash.is_some() {
        status.applied_settings_hash = input.applied_settings_hash.clone();
    }
    if let Outcome::Ready(ns) = outcome {
        status.namespace_id = Some(ns.id.clone());
        status.arn = Some(ns.arn.clone());
        status.hosted_zone_id = ns.hosted_zone_id.clone();
    }
    let not_ready = |reason: &str, message: String, stalled: bool| {
        vec![
            DesiredCondition::new(ct::READY, false, reason, message.clone()),
            DesiredCondition::new(
                if stalled {
                    ct::STALLED
                } else {
                    ct::RECONCILING
                },
                true,
                reason,
                message,
            ),
        ]
    };
    let conditions = match outcome {
        Outcome::Ready(ns) => vec![DesiredCondition::new(
            ct::READY,
            true,
            "Available",
            format!("namespace {} ({}) is available", ns.name, ns.id),
        )],
        Outcome::InProgress(op) => not_ready(
            &format!("{}InProgress", op.kind),
            format!(
                "Cloud Map operation {} ({}) is in progress",
                op.id,
                op.kind.to_lowercase()
            ),
            false,
        ),
        Outcome::OperationFailed { code, message } => not_ready(
            "OperationFailed",
            format!(
                "the Cloud Map operation failed: {code}: {message}. Fix the spec (a change retries at once)"
            ),
            true,
        ),
        Outcome::AlreadyExists { owner } => not_ready(
            owner.reason(),
            owner.message("a namespace of this name and type", "spec.name"),
            true,
        ),
        Outcome::Failed(err) => {
            let message = format!("{} failed: {}: {}", err.operation, err.code, err.message);
            match err.class {
                ErrorClass::Terminal => not_ready(err.terminal_reason(), message, true),
                ErrorClass::Throttled => not_ready("Throttled", message, false),
                _ => not_ready("AWSError", message, false),
            }
        }
        Outcome::Deleting(message) => not_ready("Deleting", message.clone(), false),
    };
    status.conditions = merge_conditions(
        &previous.conditions,
        &conditions,
        input.generation,
        input.now,
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(
        previous: Option<&CloudMapNamespaceStatus>,
        op: Option<PendingOperation>,
    ) -> Input<'_> {
        Input {
            previous,
            generation: Some(1),
            deletion_policy: DeletionPolicy::Delete,
            pending_operation: op,
            applied_settings_hash: None,
            now: Timestamp::from_second(10).unwrap_or_default(),
        }
    }

    #[test]
    fn operation_in_flight_is_recorded_for_a_restart() {
        let op = PendingOperation {
            id: "op-1".into(),
            kind: "Create".into(),
            settings_hash: None,
        };
        let status = compute(
            &input(None, Some(op.clone())),
            &Outcome::InProgress(op.clone()),
        );
        assert_eq!(status.pending_operation, Some(op));
        assert!(
            status
                .conditions
                .iter()
                .any(|c| c.type_ == "Reconciling" && c.reason == "CreateInProgress")
        );
    }

    #[test]
    fn ready_records_ids_and_failed_operation_stalls() {
        let ns = ObservedNamespace {
            id: "ns-1".into(),
            arn: "arn:ns".into(),
            name: "x".into(),
            hosted_zone_id: Some("Z1".into()),
            ..Default::default()
        };
        let ready = compute(&input(None, None), &Outcome::Ready(ns));
        assert_eq!(ready.namespace_id.as_deref(), Some("ns-1"));
        assert_eq!(ready.hosted_zone_id.as_deref(), Some("Z1"));
        let failed = compute(
            &input(Some(&ready), None),
            &Outcome::OperationFailed {
                code: "CANNOT_CREATE_HOSTED_ZONE".into(),
                message: "The VPC does not exist".into(),
            },
        );
        assert!(
            failed
                .conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.message.contains("VPC does not exist"))
        );
    }
}
