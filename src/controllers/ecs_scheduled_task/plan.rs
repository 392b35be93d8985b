//! Pure decisions of the ECSScheduledTask controller: the schedule the spec asks for, and
//! what to do about the one Scheduler has.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::api::common::{Claim, NotOurs, claim, tags};
use crate::api::ecs_scheduled_task::{ECSScheduledTaskSpec, FlexibleTimeWindowMode};
use crate::api::ecs_service::{EnabledDisabled, LaunchType, NetworkConfiguration};
use crate::api::ecs_task::{TaskOverrides, TaskPropagateTags};
use crate::aws::scheduler::{
    AwsVpc, DEFAULT_MAX_EVENT_AGE, DEFAULT_MAX_RETRIES, EcsTarget, ObservedSchedule,
    ScheduleSettings,
};

pub const KIND: &str = "ECSScheduledTask";

/// What the spec resolves to outside itself.
pub struct Resolved<'a> {
    pub cluster_arn: &'a str,
    pub task_definition_arn: &'a str,
    /// Our ownership tags, put on every task the schedule starts.
    pub ownership: BTreeMap<String, String>,
}

fn epoch_seconds(text: &str, field: &str) -> Result<i64, String> {
    text.parse::<Timestamp>()
        .map(|t| t.as_second())
        .map_err(|err| format!("{field} {text:?} is not an RFC 3339 time: {err}"))
}

/// The schedule the spec asks for. `Err` for what admission could not judge (a date it let
/// through that is not a time).
pub fn desired(
    spec: &ECSScheduledTaskSpec,
    resolved: &Resolved<'_>,
) -> Result<ScheduleSettings, String> {
    let task = &spec.task;
    let mut tags: BTreeMap<String, String> = spec
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    tags.extend(resolved.ownership.clone());
    let mut strategy: Vec<(String, i32, i32)> = task
        .capacity_provider_strategy
        .iter()
        .map(|s| {
            (
                s.capacity_provider.clone(),
                s.weight.unwrap_or(0),
                s.base.unwrap_or(0),
            )
        })
        .collect();
    strategy.sort();
    let flexible = spec.flexible_time_window.as_ref().and_then(|w| {
        (w.mode == FlexibleTimeWindowMode::FLEXIBLE).then_some(w.maximum_window_in_minutes)?
    });
    Ok(ScheduleSettings {
        expression: spec.schedule.clone(),
        timezone: spec.timezone.clone().unwrap_or_else(|| "UTC".into()),
        flexible_window_minutes: flexible,
        start_date: spec
            .start_date
            .as_deref()
            .map(|d| epoch_seconds(d, "startDate"))
            .transpose()?,
        end_date: spec
            .end_date
            .as_deref()
            .map(|d| epoch_seconds(d, "endDate"))
            .transpose()?,
        enabled: !spec.suspend,
        description: spec.description.clone().filter(|d| !d.is_empty()),
        target: EcsTarget {
            cluster_arn: resolved.cluster_arn.to_string(),
            role_arn: spec.role_arn.clone(),
            task_definition_arn: resolved.task_definition_arn.to_string(),
            task_count: task.count,
            launch_type: task.launch_type.map(|l| {
                match l {
                    LaunchType::FARGATE => "FARGATE",
                    LaunchType::EC2 => "EC2",
                    LaunchType::EXTERNAL => "EXTERNAL",
                }
                .to_string()
            }),
            capacity_provider_strategy: strategy,
            platform_version: task.platform_version.clone(),
            network: task.network_configuration.as_ref().map(network),
            group: task.group.clone(),
            propagate_tags: task.propagate_tags.map(|p| {
                match p {
                    TaskPropagateTags::TASK_DEFINITION => "TASK_DEFINITION",
                    TaskPropagateTags::NONE => "NONE",
                }
                .to_string()
            }),
            enable_ecs_managed_tags: task.enable_ecs_managed_tags == Some(true),
            enable_execute_command: task.enable_execute_command == Some(true),
            tags,
            input: overrides_input(task.overrides.as_ref()),
            max_event_age_seconds: spec
                .retry_policy
                .as_ref()
                .and_then(|r| r.maximum_event_age_in_seconds)
                .unwrap_or(DEFAULT_MAX_EVENT_AGE),
            max_retry_attempts: spec
                .retry_policy
                .as_ref()
                .and_then(|r| r.maximum_retry_attempts)
                .unwrap_or(DEFAULT_MAX_RETRIES),
            dead_letter_arn: spec.dead_letter_queue_arn.clone(),
        },
    })
}

fn network(net: &NetworkConfiguration) -> AwsVpc {
    let vpc = &net.awsvpc_configuration;
    let mut subnets: Vec<String> = vpc.subnets.iter().map(|s| s.0.clone()).collect();
    subnets.sort();
    let mut security_groups: Vec<String> =
        vpc.security_groups.iter().map(|s| s.0.clone()).collect();
    security_groups.sort();
    AwsVpc {
        subnets,
        security_groups,
        assign_public_ip: match vpc.assign_public_ip {
            Some(EnabledDisabled::ENABLED) => "ENABLED",
            _ => "DISABLED",
        }
        .to_string(),
    }
}

/// Scheduler passes a templated ECS target's input to RunTask as its `overrides`; our
/// overrides type has RunTask's JSON field names.
fn overrides_input(overrides: Option<&TaskOverrides>) -> Option<serde_json::Value> {
    let overrides = overrides?;
    if overrides == &TaskOverrides::default() {
        return None;
    }
    serde_json::to_value(overrides).ok()
}

/// What to do about the schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Create,
    /// Replace the schedule's settings (it differs from the spec).
    Update,
    InSync,
    /// A schedule of that name exists and is not ours to change.
    NotOurs {
        owner: NotOurs,
    },
}

impl Plan {
    pub fn writes(&self) -> bool {
        matches!(self, Plan::Create | Plan::Update)
    }
}

/// The desired settings with the adoption mark when the schedule is being adopted or was
/// adopted: an adopted schedule keeps [`tags::ADOPTED`] so that deleting the object leaves it.
pub fn with_adoption_mark(
    desired: &ScheduleSettings,
    observed: Option<&ObservedSchedule>,
    uid: &str,
    adopt_existing: bool,
) -> ScheduleSettings {
    let mut desired = desired.clone();
    let adopted = observed.is_some_and(|o| {
        let have = &o.settings.target.tags;
        match claim(have, uid, adopt_existing) {
            Claim::Adopt => true,
            Claim::Ours => have.contains_key(tags::ADOPTED),
            Claim::Refused(_) => false,
        }
    });
    if adopted {
        desired
            .target
            .tags
            .insert(tags::ADOPTED.to_string(), "true".to_string());
    }
    desired
}

pub fn plan(
    desired: &ScheduleSettings,
    observed: Option<&ObservedSchedule>,
    uid: &str,
    adopt_existing: bool,
) -> Plan {
    let Some(observed) = observed else {
        return Plan::Create;
    };
    if let Claim::Refused(owner) = claim(&observed.settings.target.tags, uid, adopt_existing) {
        return Plan::NotOurs { owner };
    }
    if &observed.settings == desired {
        Plan::InSync
    } else {
        Plan::Update
    }
}

/// Checks the run's overrides and network configuration against its task definition.
pub fn check_task_definition(
    overrides: Option<&TaskOverrides>,
    network_configuration: Option<&NetworkConfiguration>,
    network_mode: &str,
    container_names: &[String],
) -> Result<(), String> {
    if network_mode == "awsvpc" && network_configuration.is_none() {
        return Err(
            "the task definition uses network mode awsvpc: set task.networkConfiguration".into(),
        );
    }
    let unknown: Vec<&str> = overrides
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
    use crate::api::common::{Tag, ownership_tags};
    use crate::api::ecs_scheduled_task::{FlexibleTimeWindow, ScheduledTaskTemplate};
    use crate::api::ecs_task::ContainerOverride;
    use crate::api::task_definition::KeyValuePair;

    fn spec() -> ECSScheduledTaskSpec {
        ECSScheduledTaskSpec {
            schedule: "cron(0 2 * * ? *)".into(),
            role_arn: "arn:aws:iam::123456789012:role/scheduler".into(),
            task: ScheduledTaskTemplate {
                cluster: Some("batch".into()),
                task_definition: Some("job".into()),
                count: 1,
                ..ScheduledTaskTemplate::default()
            },
            ..ECSScheduledTaskSpec::default()
        }
    }

    fn resolved() -> Resolved<'static> {
        Resolved {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/batch",
            task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/job:1",
            ownership: ownership_tags(KIND, "ns", "nightly", "uid-1"),
        }
    }

    fn observed(settings: ScheduleSettings) -> ObservedSchedule {
        ObservedSchedule {
            arn: "arn:aws:scheduler:us-east-1:123456789012:schedule/default/ns-nightly".into(),
            state: "ENABLED".into(),
            created: None,
            settings,
        }
    }

    #[test]
    fn defaults_are_filled_in_so_an_unchanged_spec_writes_nothing() {
        let want = desired(&spec(), &resolved()).expect("valid");
        assert_eq!(want.timezone, "UTC");
        assert_eq!(want.target.max_retry_attempts, 185);
        assert_eq!(want.target.max_event_age_seconds, 86_400);
        assert!(want.enabled);
        assert_eq!(want.target.input, None);
        assert_eq!(
            plan(&want, Some(&observed(want.clone())), "uid-1", false),
            Plan::InSync
        );
        assert_eq!(plan(&want, None, "uid-1", false), Plan::Create);
    }

    #[test]
    fn suspend_a_new_revision_or_overrides_update_the_schedule() {
        let before = desired(&spec(), &resolved()).expect("valid");
        let mut suspended = spec();
        suspended.suspend = true;
        let after = desired(&suspended, &resolved()).expect("valid");
        assert!(!after.enabled);
        assert_eq!(
            plan(&after, Some(&observed(before.clone())), "uid-1", false),
            Plan::Update
        );

        let newer = Resolved {
            task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/job:2",
            ..resolved()
        };
        let after = desired(&spec(), &newer).expect("valid");
        assert_eq!(
            plan(&after, Some(&observed(before.clone())), "uid-1", false),
            Plan::Update
        );

        let mut with_overrides = spec();
        with_overrides.task.overrides = Some(TaskOverrides {
            container_overrides: vec![ContainerOverride {
                name: "app".into(),
                command: vec!["report".into(), "--daily".into()],
                environment: vec![KeyValuePair {
                    name: "MODE".into(),
                    value: "full".into(),
                }],
                ..ContainerOverride::default()
            }],
            ..TaskOverrides::default()
        });
        let after = desired(&with_overrides, &resolved()).expect("valid");
        assert_eq!(
            after.target.input,
            Some(serde_json::json!({"containerOverrides": [{
                "name": "app",
                "command": ["report", "--daily"],
                "environment": [{"name": "MODE", "value": "full"}],
            }]}))
        );
        assert_eq!(
            plan(&after, Some(&observed(before)), "uid-1", false),
            Plan::Update
        );
    }

    #[test]
    fn user_tags_and_ours_go_on_the_tasks_and_windows_and_dates_are_translated() {
        let mut spec = spec();
        spec.tags = vec![Tag {
            key: "team".into(),
            value: "data".into(),
        }];
        spec.flexible_time_window = Some(FlexibleTimeWindow {
            mode: FlexibleTimeWindowMode::FLEXIBLE,
            maximum_window_in_minutes: Some(15),
        });
        spec.start_date = Some("2027-01-01T00:00:00Z".into());
        let want = desired(&spec, &resolved()).expect("valid");
        assert_eq!(
            want.target.tags.get("team").map(String::as_str),
            Some("data")
        );
        assert_eq!(
            want.target
                .tags
                .get("ecs-operator.dev/uid")
                .map(String::as_str),
            Some("uid-1")
        );
        assert_eq!(want.flexible_window_minutes, Some(15));
        assert_eq!(want.start_date, Some(1_798_761_600));
        spec.end_date = Some("not a time".into());
        assert!(
            desired(&spec, &resolved())
                .expect_err("bad date")
                .contains("endDate")
        );
    }

    #[test]
    fn schedules_of_others_are_not_touched() {
        let want = desired(&spec(), &resolved()).expect("valid");
        let mut foreign = want.clone();
        foreign.target.tags.clear();
        assert!(matches!(
            plan(&want, Some(&observed(foreign.clone())), "uid-1", false),
            Plan::NotOurs { .. }
        ));
        assert_eq!(
            plan(&want, Some(&observed(foreign)), "uid-1", true),
            Plan::Update
        );
        let mut other = want.clone();
        other.target.tags = ownership_tags(KIND, "ns2", "other", "uid-2");
        assert_eq!(
            plan(&want, Some(&observed(other.clone())), "uid-1", true),
            Plan::NotOurs {
                owner: NotOurs::AnotherObject
            },
            "another object's schedule must not be adopted"
        );
        assert_eq!(
            with_adoption_mark(&want, Some(&observed(other)), "uid-1", true),
            want,
            "another object's schedule is not marked adopted"
        );
    }

    #[test]
    fn task_definition_checks_name_the_problem() {
        assert!(
            check_task_definition(None, None, "awsvpc", &[])
                .expect_err("needs network")
                .contains("networkConfiguration")
        );
        let overrides = TaskOverrides {
            container_overrides: vec![ContainerOverride {
                name: "sidecar".into(),
                ..ContainerOverride::default()
            }],
            ..TaskOverrides::default()
        };
        let err = check_task_definition(Some(&overrides), None, "bridge", &["app".into()])
            .expect_err("unknown container");
        assert!(err.contains("sidecar") && err.contains("app"), "{err}");
        assert!(check_task_definition(None, None, "bridge", &["app".into()]).is_ok());
    }
}
