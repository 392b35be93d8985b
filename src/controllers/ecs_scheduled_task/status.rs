//! Pure status of an ECSScheduledTask: the schedule as Scheduler has it, its next run, and
//! the kstatus conditions.

use jiff::Timestamp;

use super::expression::{self, Window};
use crate::api::common::{DeletionPolicy, Phase, kstatus_conditions, merge_conditions};
use crate::api::ecs_scheduled_task::ECSScheduledTaskStatus;
use crate::aws::error::AwsError;
use crate::aws::scheduler::ScheduleSettings;

/// How this reconcile ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The schedule matches the spec.
    Scheduled {
        arn: String,
        settings: Box<ScheduleSettings>,
        /// When Scheduler created it (epoch seconds), if known.
        created: Option<i64>,
    },
    /// Waiting for a referenced object (`stalled: false`), or a spec that cannot work.
    Waiting {
        message: String,
        stalled: bool,
    },
    /// A schedule of that name exists and is not ours.
    NotOurs {
        reason: &'static str,
        message: String,
    },
    Aws(AwsError),
}

pub struct Input<'a> {
    pub previous: Option<&'a ECSScheduledTaskStatus>,
    pub generation: Option<i64>,
    pub schedule_name: &'a str,
    pub group_name: &'a str,
    pub deletion_policy: DeletionPolicy,
    pub now: Timestamp,
}

pub fn compute(input: &Input<'_>, outcome: &Outcome) -> ECSScheduledTaskStatus {
    let previous = input.previous.cloned().unwrap_or_default();
    let mut status = ECSScheduledTaskStatus {
        observed_generation: input.generation,
        schedule_name: Some(input.schedule_name.to_string()),
        group_name: Some(input.group_name.to_string()),
        deletion_policy: Some(input.deletion_policy),
        ..previous.clone()
    };
    let conditions = match outcome {
        Outcome::Scheduled {
            arn,
            settings,
            created,
        } => {
            status.schedule_arn = Some(arn.clone());
            status.state = Some(
                if settings.enabled {
                    "ENABLED"
                } else {
                    "DISABLED"
                }
                .into(),
            );
            status.cluster_arn = Some(settings.target.cluster_arn.clone());
            status.task_definition_arn = Some(settings.target.task_definition_arn.clone());
            status.next_run_time = next_run(settings, *created, input.now).map(|t| t.to_string());
            let (reason, message) = if settings.enabled {
                (
                    "Scheduled",
                    match &status.next_run_time {
                        Some(next) => format!("{}; next run {next}", settings.expression),
                        None => settings.expression.clone(),
                    },
                )
            } else {
                ("Suspended", format!("{} (suspended)", settings.expression))
            };
            kstatus_conditions(Phase::Ready, reason, message)
        }
        Outcome::Waiting { message, stalled } => {
            if *stalled {
                kstatus_conditions(Phase::Stalled, "InvalidConfiguration", message.clone())
            } else {
                kstatus_conditions(Phase::Reconciling, "Waiting", message.clone())
            }
        }
        Outcome::NotOurs { reason, message } => {
            kstatus_conditions(Phase::Stalled, reason, message.clone())
        }
        Outcome::Aws(err) => {
            let phase = if err.is_terminal() {
                Phase::Stalled
            } else {
                Phase::Reconciling
            };
            kstatus_conditions(phase, &err.code, err.to_string())
        }
    };
    status.conditions = merge_conditions(
        &previous.conditions,
        &conditions,
        input.generation,
        input.now,
    );
    status
}

/// The next run, when the expression and time zone allow knowing it.
fn next_run(
    settings: &ScheduleSettings,
    created: Option<i64>,
    now: Timestamp,
) -> Option<Timestamp> {
    if !settings.enabled {
        return None;
    }
    let zone = expression::time_zone(&settings.timezone)?;
    let at = |s: Option<i64>| s.and_then(|s| Timestamp::from_second(s).ok());
    expression::next_run(
        &settings.expression,
        &zone,
        &Window {
            now,
            start: at(settings.start_date),
            end: at(settings.end_date),
            created: at(created),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::error::ErrorClass;

    fn input(now: Timestamp) -> Input<'static> {
        Input {
            previous: None,
            generation: Some(2),
            schedule_name: "ns-nightly",
            group_name: "default",
            deletion_policy: DeletionPolicy::Delete,
            now,
        }
    }

    fn condition<'a>(status: &'a ECSScheduledTaskStatus, type_: &str) -> (&'a str, &'a str) {
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .expect("condition present");
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn a_schedule_in_sync_is_ready_with_its_next_run() {
        let now: Timestamp = "2026-11-22T03:17:00Z".parse().expect("time");
        let settings = ScheduleSettings {
            expression: "cron(0 2 * * ? *)".into(),
            timezone: "UTC".into(),
            enabled: true,
            ..ScheduleSettings::default()
        };
        let status = compute(
            &input(now),
            &Outcome::Scheduled {
                arn: "arn".into(),
                settings: Box::new(settings.clone()),
                created: None,
            },
        );
        assert_eq!(condition(&status, "Ready"), ("True", "Scheduled"));
        assert_eq!(condition(&status, "Stalled"), ("False", "Scheduled"));
        assert_eq!(status.state.as_deref(), Some("ENABLED"));
        assert_eq!(
            status.next_run_time.as_deref(),
            Some("2026-11-23T02:00:00Z")
        );
        assert_eq!(status.observed_generation, Some(2));

        let suspended = compute(
            &input(now),
            &Outcome::Scheduled {
                arn: "arn".into(),
                settings: Box::new(ScheduleSettings {
                    enabled: false,
                    ..settings
                }),
                created: None,
            },
        );
        assert_eq!(condition(&suspended, "Ready"), ("True", "Suspended"));
        assert_eq!(suspended.state.as_deref(), Some("DISABLED"));
        assert_eq!(suspended.next_run_time, None);
    }

    #[test]
    fn terminal_errors_stall_and_others_reconcile() {
        let now = Timestamp::UNIX_EPOCH;
        let terminal = AwsError {
            operation: "CreateSchedule",
            code: "ValidationException".into(),
            message: "role cannot be assumed".into(),
            class: ErrorClass::Terminal,
        };
        let status = compute(&input(now), &Outcome::Aws(terminal));
        assert_eq!(
            condition(&status, "Stalled"),
            ("True", "ValidationException")
        );
        assert!(
            status.conditions[0]
                .message
                .contains("role cannot be assumed")
        );
        let waiting = compute(
            &input(now),
            &Outcome::Waiting {
                message: "waiting for TaskDefinition job to be Ready".into(),
                stalled: false,
            },
        );
        assert_eq!(condition(&waiting, "Reconciling"), ("True", "Waiting"));
        assert_eq!(condition(&waiting, "Ready"), ("False", "Waiting"));
    }
}
