//! Pure status of an ECSTask: counts, task records and conditions (`Complete`, `Failed`,
//! `Ready`, `Reconciling`, `Stalled`).

use k8s_openapi::jiff::Timestamp;

use super::plan::{Finished, counts};
use crate::api::common::{
    DeletionPolicy, DesiredCondition, condition_types as kstatus, merge_conditions,
};
use crate::api::ecs_task::{ECSTaskStatus, TaskRecord, condition_types};
use crate::aws::error::AwsError;

/// Where the run stands after this reconcile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    pub cluster: Option<String>,
    pub task_definition_arn: Option<String>,
    pub started_by: String,
    pub tasks: Vec<TaskRecord>,
    pub launch_failures: Vec<String>,
    pub start_time: Option<Timestamp>,
    pub completion_time: Option<Timestamp>,
    pub finished: Option<Finished>,
}

/// What kept this reconcile from going on.
#[derive(Clone, Debug)]
pub enum Problem {
    /// Waiting for a referenced object, or (`stalled`) a spec that cannot work.
    Waiting {
        message: String,
        stalled: bool,
    },
    Aws(AwsError),
}

pub struct Input<'a> {
    pub previous: Option<&'a ECSTaskStatus>,
    pub generation: Option<i64>,
    pub count: i32,
    pub deletion_policy: DeletionPolicy,
    pub now: Timestamp,
}

/// How an earlier reconcile ended the run, read back from its conditions.
pub fn finished_from(status: &ECSTaskStatus) -> Option<Finished> {
    let find = |t: &str| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == t && c.status == "True")
    };
    if find(condition_types::COMPLETE).is_some() {
        return Some(Finished::Complete);
    }
    find(condition_types::FAILED).map(|c| Finished::Failed {
        reason: c.reason.clone(),
        message: c.message.clone(),
    })
}

fn rfc3339(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| t.to_string())
}

pub fn compute(input: &Input<'_>, progress: &Progress, problem: Option<&Problem>) -> ECSTaskStatus {
    let previous = input.previous.cloned().unwrap_or_default();
    let c = counts(&progress.tasks, progress.launch_failures.len());
    let summary = format!(
        "{} active, {} succeeded, {} failed of {}",
        c.active, c.succeeded, c.failed, input.count
    );
    let mut desired = Vec::new();
    match (&progress.finished, problem) {
        (Some(Finished::Complete), _) => {
            desired.push(DesiredCondition::new(
                condition_types::COMPLETE,
                true,
                "Completed",
                summary.clone(),
            ));
            desired.push(DesiredCondition::new(
                kstatus::READY,
                true,
                "Completed",
                summary,
            ));
            desired.push(DesiredCondition::new(
                kstatus::RECONCILING,
                false,
                "Completed",
                "",
            ));
            desired.push(DesiredCondition::new(
                kstatus::STALLED,
                false,
                "Completed",
                "",
            ));
        }
        (Some(Finished::Failed { reason, message }), _) => {
            desired.push(DesiredCondition::new(
                condition_types::FAILED,
                true,
                reason.clone(),
                message.clone(),
            ));
            desired.push(DesiredCondition::new(
                kstatus::READY,
                false,
                reason.clone(),
                message.clone(),
            ));
            desired.push(DesiredCondition::new(
                kstatus::RECONCILING,
                false,
                reason.clone(),
                "",
            ));
            desired.push(DesiredCondition::new(
                kstatus::STALLED,
                true,
                reason.clone(),
                message.clone(),
            ));
        }
        (None, Some(Problem::Waiting { message, stalled })) => {
            let reason = if *stalled {
                "InvalidConfiguration"
            } else {
                "Waiting"
            };
            desired.push(DesiredCondition::new(
                kstatus::READY,
                false,
                reason,
                message.clone(),
            ));
            desired.push(DesiredCondition::new(
                kstatus::RECONCILING,
                !*stalled,
                reason,
                message.clone(),
            ));
            desired.push(DesiredCondition::new(
                kstatus::STALLED,
                *stalled,
                reason,
                if *stalled {
                    message.clone()
                } else {
                    String::new()
                },
            ));
        }
        (None, Some(Problem::Aws(err))) => {
            let message = err.to_string();
            desired.push(DesiredCondition::new(
                kstatus::READY,
                false,
                err.code.clone(),
                message.clone(),
            ));
            desired.push(DesiredCondition::new(
                kstatus::RECONCILING,
                !err.is_terminal(),
                err.code.clone(),
                message.clone(),
            ));
            desired.push(DesiredCondition::new(
                kstatus::STALLED,
                err.is_terminal(),
                err.code.clone(),
                if err.is_terminal() {
                    message
                } else {
                    String::new()
                },
            ));
        }
        (None, None) => {
            desired.push(DesiredCondition::new(
                kstatus::READY,
                false,
                "Running",
                summary.clone(),
            ));
            desired.push(DesiredCondition::new(
                kstatus::RECONCILING,
                true,
                "Running",
                summary,
            ));
            desired.push(DesiredCondition::new(
                kstatus::STALLED,
                false,
                "Running",
                "",
            ));
        }
    }
    ECSTaskStatus {
        observed_generation: input.generation,
        cluster_arn: progress.cluster.clone().or(previous.cluster_arn),
        task_definition_arn: progress
            .task_definition_arn
            .clone()
            .or(previous.task_definition_arn),
        started_by: Some(progress.started_by.clone()),
        start_time: rfc3339(progress.start_time).or(previous.start_time),
        completion_time: rfc3339(progress.completion_time).or(previous.completion_time),
        active: c.active,
        succeeded: c.succeeded,
        failed: c.failed,
        tasks: progress.tasks.clone(),
        launch_failures: progress.launch_failures.clone(),
        deletion_policy: Some(input.deletion_policy),
        conditions: merge_conditions(&previous.conditions, &desired, input.generation, input.now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::find_condition;
    use crate::api::ecs_task::TaskOutcome;
    use crate::aws::error::ErrorClass;

    fn input(previous: Option<&ECSTaskStatus>) -> Input<'_> {
        Input {
            previous,
            generation: Some(1),
            count: 2,
            deletion_policy: DeletionPolicy::Delete,
            now: Timestamp::from_second(1_700_000_000).unwrap_or_default(),
        }
    }

    fn progress(outcomes: &[TaskOutcome], finished: Option<Finished>) -> Progress {
        Progress {
            started_by: "ecs-operator/u".into(),
            tasks: outcomes
                .iter()
                .enumerate()
                .map(|(i, o)| TaskRecord {
                    task_arn: format!("arn{i}"),
                    outcome: *o,
                    ..TaskRecord::default()
                })
                .collect(),
            finished,
            ..Progress::default()
        }
    }

    #[test]
    fn running_run_is_reconciling_with_counts() {
        let p = progress(&[TaskOutcome::Running, TaskOutcome::Failed], None);
        let status = compute(&input(None), &p, None);
        assert_eq!((status.active, status.succeeded, status.failed), (1, 0, 1));
        let ready = find_condition(&status.conditions, "Ready").unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.message, "1 active, 0 succeeded, 1 failed of 2");
        assert_eq!(
            find_condition(&status.conditions, "Reconciling")
                .unwrap()
                .status,
            "True"
        );
        assert!(find_condition(&status.conditions, "Complete").is_none());
        assert_eq!(status.started_by.as_deref(), Some("ecs-operator/u"));
    }

    #[test]
    fn complete_and_failed_runs_have_their_conditions() {
        let done = progress(
            &[TaskOutcome::Succeeded, TaskOutcome::Succeeded],
            Some(Finished::Complete),
        );
        let status = compute(&input(None), &done, None);
        assert_eq!(
            find_condition(&status.conditions, "Complete")
                .unwrap()
                .status,
            "True"
        );
        assert_eq!(
            find_condition(&status.conditions, "Ready").unwrap().status,
            "True"
        );
        assert_eq!(finished_from(&status), Some(Finished::Complete));

        let failed = Finished::Failed {
            reason: "BackoffLimitExceeded".into(),
            message: "2 tasks failed".into(),
        };
        let p = progress(&[TaskOutcome::Failed], Some(failed.clone()));
        let status = compute(&input(None), &p, None);
        let cond = find_condition(&status.conditions, "Failed").unwrap();
        assert_eq!(cond.reason, "BackoffLimitExceeded");
        assert_eq!(
            find_condition(&status.conditions, "Stalled")
                .unwrap()
                .status,
            "True"
        );
        assert_eq!(finished_from(&status), Some(failed));
        // A repeated reconcile gives the same status.
        assert_eq!(compute(&input(Some(&status)), &p, None), status);
    }

    #[test]
    fn terminal_aws_errors_stall_with_the_aws_message() {
        let err = AwsError {
            operation: "RunTask",
            code: "ClusterNotFoundException".into(),
            message: "Cluster not found.".into(),
            class: ErrorClass::Terminal,
        };
        let status = compute(&input(None), &progress(&[], None), Some(&Problem::Aws(err)));
        let stalled = find_condition(&status.conditions, "Stalled").unwrap();
        assert_eq!(stalled.status, "True");
        assert_eq!(stalled.reason, "ClusterNotFoundException");
        assert!(stalled.message.contains("Cluster not found."));
    }
}
