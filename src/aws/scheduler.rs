//! EventBridge Scheduler calls for `ECSScheduledTask`: GetSchedule, CreateSchedule,
//! UpdateSchedule (which replaces the whole schedule), DeleteSchedule, and the translation
//! between a schedule with an ECS RunTask target and [`ScheduleSettings`], the comparable
//! form both the spec and AWS's answer are brought to.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::types as sch;
use aws_smithy_types::DateTime;

use super::error::{AwsError, ErrorClass, aws_err};

/// Scheduler's retry policy when none is given: a day, 185 attempts.
pub const DEFAULT_MAX_EVENT_AGE: i32 = 86_400;
pub const DEFAULT_MAX_RETRIES: i32 = 185;

/// A schedule with an ECS RunTask target, normalised: defaults filled in, order-insensitive
/// lists sorted, so that equal settings mean nothing to update.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScheduleSettings {
    pub expression: String,
    /// IANA time zone (Scheduler's default: UTC).
    pub timezone: String,
    /// `Some(minutes)` for a FLEXIBLE window; `None` for OFF.
    pub flexible_window_minutes: Option<i32>,
    /// Epoch seconds.
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
    pub enabled: bool,
    pub description: Option<String>,
    pub target: EcsTarget,
}

/// The ECS RunTask target of a schedule.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EcsTarget {
    /// Cluster ARN (the target's `Arn`).
    pub cluster_arn: String,
    /// Role Scheduler assumes.
    pub role_arn: String,
    pub task_definition_arn: String,
    pub task_count: i32,
    /// `FARGATE`, `EC2` or `EXTERNAL`.
    pub launch_type: Option<String>,
    /// (capacity provider, weight, base), sorted.
    pub capacity_provider_strategy: Vec<(String, i32, i32)>,
    pub platform_version: Option<String>,
    pub network: Option<AwsVpc>,
    pub group: Option<String>,
    pub propagate_tags: Option<String>,
    pub enable_ecs_managed_tags: bool,
    pub enable_execute_command: bool,
    /// Tags on the tasks, ours included.
    pub tags: BTreeMap<String, String>,
    /// RunTask `overrides` as JSON (the target's `Input`).
    pub input: Option<serde_json::Value>,
    pub max_event_age_seconds: i32,
    pub max_retry_attempts: i32,
    pub dead_letter_arn: Option<String>,
}

/// `awsvpc` network configuration of the tasks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsVpc {
    /// Sorted.
    pub subnets: Vec<String>,
    /// Sorted.
    pub security_groups: Vec<String>,
    /// `ENABLED` or `DISABLED` (Scheduler's default).
    pub assign_public_ip: String,
}

/// A schedule as GetSchedule describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedSchedule {
    pub arn: String,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    /// Epoch seconds.
    pub created: Option<i64>,
    pub settings: ScheduleSettings,
}

fn seconds(t: Option<&DateTime>) -> Option<i64> {
    t.map(DateTime::secs)
}

/// Task tags from the target: each entry either `{"key": k, "value": v}` (ECS's tag shape,
/// which we write) or `{k: v}`.
fn tags_of(entries: &[HashMap<String, String>]) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for entry in entries {
        match (entry.get("key"), entry.get("value")) {
            (Some(key), value) if entry.len() <= 2 => {
                tags.insert(key.clone(), value.cloned().unwrap_or_default());
            }
            _ => tags.extend(entry.iter().map(|(k, v)| (k.clone(), v.clone()))),
        }
    }
    tags
}

fn observed_target(target: &sch::Target) -> EcsTarget {
    let ecs = target.ecs_parameters();
    let mut strategy: Vec<(String, i32, i32)> = ecs
        .map(|e| e.capacity_provider_strategy())
        .unwrap_or_default()
        .iter()
        .map(|s| (s.capacity_provider().to_string(), s.weight(), s.base()))
        .collect();
    strategy.sort();
    let network = ecs
        .and_then(|e| e.network_configuration())
        .and_then(|n| n.awsvpc_configuration())
        .map(|vpc| {
            let mut subnets = vpc.subnets().to_vec();
            subnets.sort();
            let mut security_groups = vpc.security_groups().to_vec();
            security_groups.sort();
            AwsVpc {
                subnets,
                security_groups,
                assign_public_ip: vpc
                    .assign_public_ip()
                    .map_or("DISABLED", |a| a.as_str())
                    .to_string(),
            }
        });
    let retry = target.retry_policy();
    EcsTarget {
        cluster_arn: target.arn().to_string(),
        role_arn: target.role_arn().to_string(),
        task_definition_arn: ecs
            .map(|e| e.task_definition_arn().to_string())
            .unwrap_or_default(),
        task_count: ecs.and_then(|e| e.task_count()).unwrap_or(1),
        launch_type: ecs
            .and_then(|e| e.launch_type())
            .map(|l| l.as_str().to_string()),
        capacity_provider_strategy: strategy,
        platform_version: ecs.and_then(|e| e.platform_version()).map(str::to_string),
        network,
        group: ecs.and_then(|e| e.group()).map(str::to_string),
        propagate_tags: ecs
            .and_then(|e| e.propagate_tags())
            .map(|p| p.as_str().to_string()),
        enable_ecs_managed_tags: ecs.and_then(|e| e.enable_ecs_managed_tags()) == Some(true),
        enable_execute_command: ecs.and_then(|e| e.enable_execute_command()) == Some(true),
        tags: ecs.map(|e| tags_of(e.tags())).unwrap_or_default(),
        // An input that is not JSON cannot be ours: kept as a string so it differs.
        input: target.input().map(|i| {
            serde_json::from_str(i).unwrap_or_else(|_| serde_json::Value::String(i.to_string()))
        }),
        max_event_age_seconds: retry
            .and_then(|r| r.maximum_event_age_in_seconds())
            .unwrap_or(DEFAULT_MAX_EVENT_AGE),
        max_retry_attempts: retry
            .and_then(|r| r.maximum_retry_attempts())
            .unwrap_or(DEFAULT_MAX_RETRIES),
        dead_letter_arn: target
            .dead_letter_config()
            .and_then(|d| d.arn())
            .map(str::to_string),
    }
}

/// The schedule `name` in `group`, or `None` when there is none.
pub async fn get(
    client: &Client,
    group: &str,
    name: &str,
) -> Result<Option<ObservedSchedule>, AwsError> {
    let output = match client
        .get_schedule()
        .group_name(group)
        .name(name)
        .send()
        .await
        .map_err(aws_err("GetSchedule"))
    {
        Ok(output) => output,
        Err(err) if err.is_not_found() => return Ok(None),
        Err(err) => return Err(err),
    };
    let flexible = output.flexible_time_window();
    let state = output.state().map_or("ENABLED", |s| s.as_str()).to_string();
    Ok(Some(ObservedSchedule {
        arn: output.arn().unwrap_or_default().to_string(),
        created: seconds(output.creation_date()),
        settings: ScheduleSettings {
            expression: output.schedule_expression().unwrap_or_default().to_string(),
            timezone: output
                .schedule_expression_timezone()
                .filter(|t| !t.is_empty())
                .unwrap_or("UTC")
                .to_string(),
            flexible_window_minutes: flexible
                .filter(|f| f.mode() == &sch::FlexibleTimeWindowMode::Flexible)
                .and_then(|f| f.maximum_window_in_minutes()),
            start_date: seconds(output.start_date()),
            end_date: seconds(output.end_date()),
            enabled: state != "DISABLED",
            description: output
                .description()
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            target: output.target().map(observed_target).unwrap_or_default(),
        },
        state,
    }))
}

fn build_error(
    operation: &'static str,
) -> impl Fn(aws_smithy_types::error::operation::BuildError) -> AwsError {
    move |err| AwsError {
        operation,
        code: "ValidationException".into(),
        message: err.to_string(),
        class: ErrorClass::Terminal,
    }
}

fn target(t: &EcsTarget, operation: &'static str) -> Result<sch::Target, AwsError> {
    let strategy = t
        .capacity_provider_strategy
        .iter()
        .map(|(name, weight, base)| {
            sch::CapacityProviderStrategyItem::builder()
                .capacity_provider(name)
                .weight(*weight)
                .base(*base)
                .build()
                .map_err(build_error(operation))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let network = match &t.network {
        None => None,
        Some(vpc) => Some(
            sch::NetworkConfiguration::builder()
                .awsvpc_configuration(
                    sch::AwsVpcConfiguration::builder()
                        .set_subnets(Some(vpc.subnets.clone()))
                        .set_security_groups(
                            (!vpc.security_groups.is_empty()).then(|| vpc.security_groups.clone()),
                        )
                        .assign_public_ip(sch::AssignPublicIp::from(vpc.assign_public_ip.as_str()))
                        .build()
                        .map_err(build_error(operation))?,
                )
                .build(),
        ),
    };
    let tags: Vec<HashMap<String, String>> = t
        .tags
        .iter()
        .map(|(k, v)| {
            HashMap::from([
                ("key".to_string(), k.clone()),
                ("value".to_string(), v.clone()),
            ])
        })
        .collect();
    let ecs = sch::EcsParameters::builder()
        .task_definition_arn(&t.task_definition_arn)
        .task_count(t.task_count)
        .set_launch_type(t.launch_type.as_deref().map(sch::LaunchType::from))
        .set_capacity_provider_strategy((!strategy.is_empty()).then_some(strategy))
        .set_platform_version(t.platform_version.clone())
        .set_network_configuration(network)
        .set_group(t.group.clone())
        .set_propagate_tags(t.propagate_tags.as_deref().map(sch::PropagateTags::from))
        .enable_ecs_managed_tags(t.enable_ecs_managed_tags)
        .enable_execute_command(t.enable_execute_command)
        .set_tags((!tags.is_empty()).then_some(tags))
        .build()
        .map_err(build_error(operation))?;
    sch::Target::builder()
        .arn(&t.cluster_arn)
        .role_arn(&t.role_arn)
        .ecs_parameters(ecs)
        .set_input(t.input.as_ref().map(|i| i.to_string()))
        .retry_policy(
            sch::RetryPolicy::builder()
                .maximum_event_age_in_seconds(t.max_event_age_seconds)
                .maximum_retry_attempts(t.max_retry_attempts)
                .build(),
        )
        .set_dead_letter_config(
            t.dead_letter_arn
                .as_ref()
                .map(|arn| sch::DeadLetterConfig::builder().arn(arn).build()),
        )
        .build()
        .map_err(build_error(operation))
}

fn flexible_window(
    minutes: Option<i32>,
    operation: &'static str,
) -> Result<sch::FlexibleTimeWindow, AwsError> {
    let mode = if minutes.is_some() {
        sch::FlexibleTimeWindowMode::Flexible
    } else {
        sch::FlexibleTimeWindowMode::Off
    };
    sch::FlexibleTimeWindow::builder()
        .mode(mode)
        .set_maximum_window_in_minutes(minutes)
        .build()
        .map_err(build_error(operation))
}

fn state(enabled: bool) -> sch::ScheduleState {
    if enabled {
        sch::ScheduleState::Enabled
    } else {
        sch::ScheduleState::Disabled
    }
}

/// Creates the schedule; returns its ARN. `client_token` makes a repeated call (after a
/// crash) create nothing new within Scheduler's idempotency window.
pub async fn create(
    client: &Client,
    group: &str,
    name: &str,
    settings: &ScheduleSettings,
    client_token: &str,
) -> Result<String, AwsError> {
    const OP: &str = "CreateSchedule";
    let output = client
        .create_schedule()
        .group_name(group)
        .name(name)
        .schedule_expression(&settings.expression)
        .schedule_expression_timezone(&settings.timezone)
        .flexible_time_window(flexible_window(settings.flexible_window_minutes, OP)?)
        .set_start_date(settings.start_date.map(DateTime::from_secs))
        .set_end_date(settings.end_date.map(DateTime::from_secs))
        .state(state(settings.enabled))
        .set_description(settings.description.clone())
        .target(target(&settings.target, OP)?)
        .client_token(client_token)
        .send()
        .await
        .map_err(aws_err(OP))?;
    Ok(output.schedule_arn().to_string())
}

/// Replaces the schedule's settings (UpdateSchedule takes the whole schedule); returns its ARN.
pub async fn update(
    client: &Client,
    group: &str,
    name: &str,
    settings: &ScheduleSettings,
) -> Result<String, AwsError> {
    const OP: &str = "UpdateSchedule";
    let output = client
        .update_schedule()
        .group_name(group)
        .name(name)
        .schedule_expression(&settings.expression)
        .schedule_expression_timezone(&settings.timezone)
        .flexible_time_window(flexible_window(settings.flexible_window_minutes, OP)?)
        .set_start_date(settings.start_date.map(DateTime::from_secs))
        .set_end_date(settings.end_date.map(DateTime::from_secs))
        .state(state(settings.enabled))
        .set_description(settings.description.clone())
        .target(target(&settings.target, OP)?)
        .send()
        .await
        .map_err(aws_err(OP))?;
    Ok(output.schedule_arn().to_string())
}

/// Deletes the schedule; one already gone counts as deleted.
pub async fn delete(client: &Client, group: &str, name: &str) -> Result<(), AwsError> {
    match client
        .delete_schedule()
        .group_name(group)
        .name(name)
        .send()
        .await
        .map_err(aws_err("DeleteSchedule"))
    {
        Ok(_) => Ok(()),
        Err(err) if err.is_not_found() => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_tags_are_read_in_both_shapes() {
        let ours = HashMap::from([
            ("key".to_string(), "team".to_string()),
            ("value".to_string(), "data".to_string()),
        ]);
        let plain = HashMap::from([("env".to_string(), "prod".to_string())]);
        assert_eq!(
            tags_of(&[ours, plain]),
            BTreeMap::from([
                ("env".to_string(), "prod".to_string()),
                ("team".to_string(), "data".to_string()),
            ])
        );
    }

    #[test]
    fn a_target_survives_the_round_trip_through_the_sdk_types() {
        let wanted = EcsTarget {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/batch".into(),
            role_arn: "arn:aws:iam::123456789012:role/scheduler".into(),
            task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/job:3".into(),
            task_count: 2,
            launch_type: Some("FARGATE".into()),
            network: Some(AwsVpc {
                subnets: vec!["subnet-0a".into(), "subnet-0b".into()],
                security_groups: vec!["sg-01".into()],
                assign_public_ip: "DISABLED".into(),
            }),
            tags: BTreeMap::from([("ecs-operator.dev/uid".into(), "u-1".into())]),
            input: Some(serde_json::json!({"containerOverrides": [{"name": "app"}]})),
            max_event_age_seconds: 3600,
            max_retry_attempts: 3,
            dead_letter_arn: Some("arn:aws:sqs:us-east-1:123456789012:dlq".into()),
            ..EcsTarget::default()
        };
        let built = target(&wanted, "CreateSchedule").expect("valid target");
        assert_eq!(observed_target(&built), wanted);
    }
}
