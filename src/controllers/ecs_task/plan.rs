//! Pure decisions of the ECSTask controller: how many tasks to start, when the run is over,
//! which tasks to stop, and the idempotency tokens of RunTask calls.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::api::ecs_task::{ECSTaskSpec, TaskOutcome, TaskRecord};
use crate::aws::ecs_task::RUN_TASK_MAX;

/// Why a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finished {
    /// `count` tasks succeeded.
    Complete,
    /// The run gave up; `reason` is `BackoffLimitExceeded`, `DeadlineExceeded` or
    /// `CapacityUnavailable`.
    Failed { reason: String, message: String },
}

/// Tasks per outcome; RunTask placement failures count as failed tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub active: i32,
    pub succeeded: i32,
    pub failed: i32,
}

pub fn counts(tasks: &[TaskRecord], launch_failures: usize) -> Counts {
    let mut counts = Counts {
        failed: i32::try_from(launch_failures).unwrap_or(i32::MAX),
        ..Counts::default()
    };
    for task in tasks {
        match task.outcome {
            TaskOutcome::Running => counts.active += 1,
            TaskOutcome::Succeeded => counts.succeeded += 1,
            TaskOutcome::Failed => counts.failed += 1,
        }
    }
    counts
}

/// What the reconcile knows when it decides.
pub struct Input<'a> {
    pub spec: &'a ECSTaskSpec,
    pub tasks: &'a [TaskRecord],
    pub launch_failures: &'a [String],
    /// When the first task was started, if any was.
    pub start_time: Option<Timestamp>,
    /// How the run ended, when an earlier reconcile decided it (an ended run stays ended).
    pub finished: Option<Finished>,
    pub now: Timestamp,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Start this many tasks (in RunTask calls of at most 10).
    Run(i32),
    /// Tasks are running; look again within `next_check` (the deadline, if sooner).
    Wait { next_check: Option<Duration> },
    /// The run is over: stop these tasks (still running).
    Finish {
        finished: Finished,
        stop: Vec<String>,
    },
}

fn active_arns(tasks: &[TaskRecord]) -> Vec<String> {
    tasks
        .iter()
        .filter(|t| t.outcome == TaskOutcome::Running && t.desired_status != "STOPPED")
        .map(|t| t.task_arn.clone())
        .collect()
}

pub fn plan(input: &Input<'_>) -> Plan {
    let spec = input.spec;
    let counts = counts(input.tasks, input.launch_failures.len());
    if let Some(finished) = &input.finished {
        let stop = match finished {
            Finished::Complete => Vec::new(),
            Finished::Failed { .. } => active_arns(input.tasks),
        };
        return Plan::Finish {
            finished: finished.clone(),
            stop,
        };
    }
    if counts.succeeded >= spec.count {
        return Plan::Finish {
            finished: Finished::Complete,
            stop: Vec::new(),
        };
    }
    if counts.failed > spec.backoff_limit {
        // Placement failures alone (no task ever ran) mean no capacity, not a broken job.
        let last_task_failed = input.tasks.iter().any(|t| t.outcome == TaskOutcome::Failed);
        let (reason, message) = if !input.launch_failures.is_empty() && !last_task_failed {
            (
                "CapacityUnavailable",
                format!(
                    "ECS could not place the tasks: {}",
                    input.launch_failures.last().cloned().unwrap_or_default()
                ),
            )
        } else {
            (
                "BackoffLimitExceeded",
                format!(
                    "{} tasks failed, more than backoffLimit {}",
                    counts.failed, spec.backoff_limit
                ),
            )
        };
        return Plan::Finish {
            finished: Finished::Failed {
                reason: reason.into(),
                message,
            },
            stop: active_arns(input.tasks),
        };
    }
    let deadline = deadline_left(spec, input.start_time, input.now);
    if deadline == Some(Duration::ZERO) {
        return Plan::Finish {
            finished: Finished::Failed {
                reason: "DeadlineExceeded".into(),
                message: format!(
                    "the run was active longer than activeDeadlineSeconds {}",
                    spec.active_deadline_seconds.unwrap_or_default()
                ),
            },
            stop: active_arns(input.tasks),
        };
    }
    let to_start = spec.count - counts.succeeded - counts.active;
    if to_start > 0 {
        return Plan::Run(to_start);
    }
    Plan::Wait {
        next_check: deadline,
    }
}

/// Time left until `activeDeadlineSeconds` after the start (zero once passed); `None`
/// without a deadline or before the first task started.
pub fn deadline_left(
    spec: &ECSTaskSpec,
    start_time: Option<Timestamp>,
    now: Timestamp,
) -> Option<Duration> {
    let (seconds, start) = (spec.active_deadline_seconds?, start_time?);
    let elapsed = now.duration_since(start).as_secs_f64().max(0.0);
    Some(Duration::from_secs_f64((seconds as f64 - elapsed).max(0.0)))
}

/// Takes fresh records (an observation, or tasks found after a crash) into the run's: a
/// task not yet stopped takes its fresh record, an unknown task is added. A stopped task's
/// record is final, and so is a stop the run asked for, so that an observation made before
/// them cannot undo them. Returns how many tasks were added.
pub fn merge(tasks: &mut Vec<TaskRecord>, fresh: Vec<TaskRecord>) -> usize {
    let mut added = 0;
    for mut record in fresh {
        match tasks.iter_mut().find(|t| t.task_arn == record.task_arn) {
            Some(known) if known.outcome != TaskOutcome::Running => {}
            Some(known) => {
                if known.desired_status == "STOPPED" {
                    record.desired_status = known.desired_status.clone();
                }
                *known = record;
            }
            None => {
                tasks.push(record);
                added += 1;
            }
        }
    }
    added
}

/// Sizes of the RunTask calls that start `n` tasks.
pub fn batches(n: i32) -> Vec<i32> {
    let mut left = n.max(0);
    let mut out = Vec::new();
    while left > 0 {
        let size = left.min(RUN_TASK_MAX);
        out.push(size);
        left -= size;
    }
    out
}

/// RunTask `clientToken` for the call that starts tasks from launch number `launched` on
/// (every task and placement failure of the run so far counts one). After a crash the next
/// reconcile derives the same token for the same launch, so ECS starts nothing twice even
/// when ListTasks has not caught up yet. ECS allows 64 characters; a uid is 36.
pub fn client_token(uid: &str, launched: usize) -> String {
    let mut token = format!("{uid}-{launched}");
    token.truncate(64);
    token
}

/// Problems with the spec that only the task definition reveals.
pub fn check_task_definition(
    spec: &ECSTaskSpec,
    network_mode: &str,
    container_names: &[String],
) -> Result<(), String> {
    if network_mode == "awsvpc" && spec.network_configuration.is_none() {
        return Err(
            "the task definition uses network mode awsvpc: set networkConfiguration".into(),
        );
    }
    let unknown: Vec<&str> = spec
        .overrides
        .iter()
        .flat_map(|o| o.container_overrides.iter())
        .map(|c| c.name.as_str())
        .filter(|name| !container_names.iter().any(|c| c == name))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "overrides name containers the task definition lacks: {} (it has: {})",
            unknown.join(", "),
            container_names.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ecs_task::{ContainerOverride, TaskOverrides};

    fn task(arn: &str, outcome: TaskOutcome) -> TaskRecord {
        TaskRecord {
            task_arn: arn.into(),
            last_status: if outcome == TaskOutcome::Running {
                "RUNNING"
            } else {
                "STOPPED"
            }
            .into(),
            desired_status: "RUNNING".into(),
            outcome,
            ..TaskRecord::default()
        }
    }

    fn spec(count: i32, backoff_limit: i32) -> ECSTaskSpec {
        ECSTaskSpec {
            count,
            backoff_limit,
            ..ECSTaskSpec::default()
        }
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap_or_default()
    }

    fn decide(
        spec: &ECSTaskSpec,
        tasks: &[TaskRecord],
        failures: &[String],
        start: Option<i64>,
        now: i64,
    ) -> Plan {
        plan(&Input {
            spec,
            tasks,
            launch_failures: failures,
            start_time: start.map(t),
            finished: None,
            now: t(now),
        })
    }

    #[test]
    fn starts_what_is_missing_in_batches_of_ten() {
        assert_eq!(decide(&spec(12, 0), &[], &[], None, 0), Plan::Run(12));
        assert_eq!(batches(12), vec![10, 2]);
        assert_eq!(batches(10), vec![10]);
        assert_eq!(batches(0), Vec::<i32>::new());
        let tasks = [
            task("a", TaskOutcome::Running),
            task("b", TaskOutcome::Succeeded),
        ];
        assert_eq!(decide(&spec(3, 0), &tasks, &[], Some(0), 1), Plan::Run(1));
        assert_eq!(
            decide(&spec(2, 0), &tasks, &[], Some(0), 1),
            Plan::Wait { next_check: None }
        );
    }

    #[test]
    fn failed_tasks_are_retried_up_to_the_limit() {
        let one_failed = [task("a", TaskOutcome::Failed)];
        assert_eq!(
            decide(&spec(1, 1), &one_failed, &[], Some(0), 1),
            Plan::Run(1)
        );
        let two_failed = [
            task("a", TaskOutcome::Failed),
            task("b", TaskOutcome::Failed),
        ];
        match decide(&spec(1, 1), &two_failed, &[], Some(0), 1) {
            Plan::Finish {
                finished: Finished::Failed { reason, .. },
                stop,
            } => {
                assert_eq!(reason, "BackoffLimitExceeded");
                assert!(stop.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn placement_failures_alone_mean_no_capacity() {
        match decide(&spec(1, 0), &[], &["RESOURCE:MEMORY".into()], None, 0) {
            Plan::Finish {
                finished: Finished::Failed { reason, message },
                ..
            } => {
                assert_eq!(reason, "CapacityUnavailable");
                assert!(message.contains("RESOURCE:MEMORY"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn deadline_stops_running_tasks() {
        let mut s = spec(2, 0);
        s.active_deadline_seconds = Some(10);
        let tasks = [
            task("a", TaskOutcome::Running),
            task("b", TaskOutcome::Succeeded),
        ];
        assert_eq!(
            decide(&s, &tasks, &[], Some(0), 4),
            Plan::Wait {
                next_check: Some(Duration::from_secs(6))
            }
        );
        assert_eq!(
            decide(&s, &tasks, &[], Some(0), 10),
            Plan::Finish {
                finished: Finished::Failed {
                    reason: "DeadlineExceeded".into(),
                    message: "the run was active longer than activeDeadlineSeconds 10".into()
                },
                stop: vec!["a".into()],
            }
        );
    }

    #[test]
    fn success_completes_and_an_ended_run_stays_ended() {
        let tasks = [task("a", TaskOutcome::Succeeded)];
        assert_eq!(
            decide(&spec(1, 0), &tasks, &[], Some(0), 1),
            Plan::Finish {
                finished: Finished::Complete,
                stop: vec![]
            }
        );
        let running = [task("a", TaskOutcome::Running)];
        let failed = Finished::Failed {
            reason: "DeadlineExceeded".into(),
            message: String::new(),
        };
        let p = plan(&Input {
            spec: &spec(3, 0),
            tasks: &running,
            launch_failures: &[],
            start_time: Some(t(0)),
            finished: Some(failed.clone()),
            now: t(1),
        });
        assert_eq!(
            p,
            Plan::Finish {
                finished: failed,
                stop: vec!["a".into()]
            }
        );
    }

    #[test]
    fn fresh_records_update_running_tasks_only() {
        let mut stopping = task("b", TaskOutcome::Running);
        stopping.desired_status = "STOPPED".into();
        let mut tasks = vec![task("a", TaskOutcome::Succeeded), stopping];
        let mut stale_a = task("a", TaskOutcome::Running);
        stale_a.last_status = "PENDING".into();
        let mut b = task("b", TaskOutcome::Running);
        b.last_status = "DEPROVISIONING".into();
        let added = merge(
            &mut tasks,
            vec![stale_a, b, task("c", TaskOutcome::Running)],
        );
        assert_eq!(added, 1);
        assert_eq!(tasks[0].outcome, TaskOutcome::Succeeded);
        assert_eq!(tasks[1].last_status, "DEPROVISIONING");
        assert_eq!(tasks[1].desired_status, "STOPPED");
        assert_eq!(tasks[2].task_arn, "c");
    }

    #[test]
    fn deadline_counts_from_the_start() {
        let mut s = spec(1, 0);
        assert_eq!(deadline_left(&s, Some(t(0)), t(5)), None);
        s.active_deadline_seconds = Some(10);
        assert_eq!(deadline_left(&s, None, t(5)), None);
        assert_eq!(
            deadline_left(&s, Some(t(0)), t(4)),
            Some(Duration::from_secs(6))
        );
        assert_eq!(deadline_left(&s, Some(t(0)), t(12)), Some(Duration::ZERO));
    }

    #[test]
    fn tokens_are_stable_and_short() {
        let uid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(client_token(uid, 10), client_token(uid, 10));
        assert_ne!(client_token(uid, 0), client_token(uid, 10));
        assert!(client_token(uid, usize::MAX).len() <= 64);
    }

    #[test]
    fn task_definition_mismatches_are_reported() {
        let mut s = spec(1, 0);
        assert!(check_task_definition(&s, "awsvpc", &["app".into()]).is_err());
        assert!(check_task_definition(&s, "bridge", &["app".into()]).is_ok());
        s.overrides = Some(TaskOverrides {
            container_overrides: vec![ContainerOverride {
                name: "sidecar".into(),
                ..ContainerOverride::default()
            }],
            ..TaskOverrides::default()
        });
        let err = check_task_definition(&s, "bridge", &["app".into()]).unwrap_err();
        assert!(err.contains("sidecar"), "{err}");
    }
}
