//! Application Auto Scaling of ECS services (scalable targets, scaling policies, scheduled
//! actions, scaling activities) and the CloudWatch alarms that trigger step scaling, with the
//! translation from our spec types.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::types as aas;
use aws_sdk_cloudwatch::types as cw;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::error::{AwsError, ErrorClass, aws_err};
use crate::api::ecs_service::{
    CustomizedMetric, MetricDimension, ScalingAlarm, ScheduledScaling, StepScalingPolicy,
    SuspendedState, TargetTrackingPolicy,
};

/// The scalable dimension of an ECS service.
const DIMENSION: aas::ScalableDimension = aas::ScalableDimension::EcsServiceDesiredCount;
const NAMESPACE: aas::ServiceNamespace = aas::ServiceNamespace::Ecs;

/// `service/<cluster name>/<service name>`: the scalable target's resource id.
pub fn resource_id(cluster_name: &str, service_name: &str) -> String {
    format!("service/{cluster_name}/{service_name}")
}

/// A scalable target as observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedTarget {
    pub arn: Option<String>,
    pub min_capacity: i32,
    pub max_capacity: i32,
    pub suspended: SuspendedState,
}

fn invalid(operation: &'static str, message: String) -> AwsError {
    AwsError {
        operation,
        code: "InvalidRequest".into(),
        message,
        class: ErrorClass::Terminal,
    }
}

/// Not found counts as done for deletes.
fn ignore_not_found(result: Result<(), AwsError>) -> Result<(), AwsError> {
    match result {
        Err(err) if err.is_not_found() => Ok(()),
        other => other,
    }
}

pub async fn describe_target(
    client: &Client,
    resource_id: &str,
) -> Result<Option<ObservedTarget>, AwsError> {
    let out = client
        .describe_scalable_targets()
        .service_namespace(NAMESPACE)
        .scalable_dimension(DIMENSION)
        .resource_ids(resource_id)
        .send()
        .await
        .map_err(aws_err("DescribeScalableTargets"))?;
    Ok(out
        .scalable_targets()
        .iter()
        .find(|t| t.resource_id() == resource_id)
        .map(|t| {
            let s = t.suspended_state();
            ObservedTarget {
                arn: t.scalable_target_arn().map(str::to_string),
                min_capacity: t.min_capacity(),
                max_capacity: t.max_capacity(),
                suspended: SuspendedState {
                    dynamic_scaling_in_suspended: s
                        .and_then(|s| s.dynamic_scaling_in_suspended())
                        .unwrap_or(false),
                    dynamic_scaling_out_suspended: s
                        .and_then(|s| s.dynamic_scaling_out_suspended())
                        .unwrap_or(false),
                    scheduled_scaling_suspended: s
                        .and_then(|s| s.scheduled_scaling_suspended())
                        .unwrap_or(false),
                },
            }
        }))
}

/// Registers (or updates) the scalable target; returns its ARN when reported.
pub async fn register_target(
    client: &Client,
    resource_id: &str,
    min_capacity: i32,
    max_capacity: i32,
    suspended: &SuspendedState,
) -> Result<Option<String>, AwsError> {
    let state = aas::SuspendedState::builder()
        .dynamic_scaling_in_suspended(suspended.dynamic_scaling_in_suspended)
        .dynamic_scaling_out_suspended(suspended.dynamic_scaling_out_suspended)
        .scheduled_scaling_suspended(suspended.scheduled_scaling_suspended)
        .build();
    let out = client
        .register_scalable_target()
        .service_namespace(NAMESPACE)
        .scalable_dimension(DIMENSION)
        .resource_id(resource_id)
        .min_capacity(min_capacity)
        .max_capacity(max_capacity)
        .suspended_state(state)
        .send()
        .await
        .map_err(aws_err("RegisterScalableTarget"))?;
    Ok(out.scalable_target_arn().map(str::to_string))
}

/// Deregisters the target (which also deletes its policies and scheduled actions).
pub async fn deregister_target(client: &Client, resource_id: &str) -> Result<(), AwsError> {
    ignore_not_found(
        client
            .deregister_scalable_target()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .send()
            .await
            .map(|_| ())
            .map_err(aws_err("DeregisterScalableTarget")),
    )
}

/// Names of the scaling policies on the target.
pub async fn policy_names(client: &Client, resource_id: &str) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .describe_scaling_policies()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(aws_err("DescribeScalingPolicies"))?;
        names.extend(
            out.scaling_policies()
                .iter()
                .map(|p| p.policy_name().to_string()),
        );
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(names);
        }
    }
}

fn dimensions(dims: &[MetricDimension]) -> Result<Vec<aas::MetricDimension>, AwsError> {
    dims.iter()
        .map(|d| {
            aas::MetricDimension::builder()
                .name(&d.name)
                .value(&d.value)
                .build()
                .map_err(|e| invalid("PutScalingPolicy", e.to_string()))
        })
        .collect()
}

fn customized(metric: &CustomizedMetric) -> Result<aas::CustomizedMetricSpecification, AwsError> {
    Ok(aas::CustomizedMetricSpecification::builder()
        .metric_name(&metric.metric_name)
        .namespace(&metric.namespace)
        .set_dimensions(Some(dimensions(&metric.dimensions)?))
        .statistic(aas::MetricStatistic::from(metric.statistic.as_str()))
        .set_unit(metric.unit.clone())
        .build())
}

/// Puts a target tracking policy; `resource_label` is the resolved ALB label. Returns the ARN.
pub async fn put_target_tracking(
    client: &Client,
    resource_id: &str,
    policy_name: &str,
    policy: &TargetTrackingPolicy,
    resource_label: Option<&str>,
) -> Result<String, AwsError> {
    let mut config = aas::TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(policy.target_value)
        .set_scale_in_cooldown(policy.scale_in_cooldown)
        .set_scale_out_cooldown(policy.scale_out_cooldown)
        .set_disable_scale_in(policy.disable_scale_in);
    if let Some(predefined) = &policy.predefined_metric {
        let spec = aas::PredefinedMetricSpecification::builder()
            .predefined_metric_type(aas::MetricType::from(predefined.type_.as_str()))
            .set_resource_label(resource_label.map(str::to_string))
            .build()
            .map_err(|e| invalid("PutScalingPolicy", e.to_string()))?;
        config = config.predefined_metric_specification(spec);
    }
    if let Some(metric) = &policy.customized_metric {
        config = config.customized_metric_specification(customized(metric)?);
    }
    let config = config
        .build()
        .map_err(|e| invalid("PutScalingPolicy", e.to_string()))?;
    let out = client
        .put_scaling_policy()
        .policy_name(policy_name)
        .service_namespace(NAMESPACE)
        .scalable_dimension(DIMENSION)
        .resource_id(resource_id)
        .policy_type(aas::PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(config)
        .send()
        .await
        .map_err(aws_err("PutScalingPolicy"))?;
    Ok(out.policy_arn().to_string())
}

/// Puts a step scaling policy. Returns the ARN.
pub async fn put_step_scaling(
    client: &Client,
    resource_id: &str,
    policy_name: &str,
    policy: &StepScalingPolicy,
) -> Result<String, AwsError> {
    let steps = policy
        .step_adjustments
        .iter()
        .map(|s| {
            aas::StepAdjustment::builder()
                .set_metric_interval_lower_bound(s.metric_interval_lower_bound)
                .set_metric_interval_upper_bound(s.metric_interval_upper_bound)
                .scaling_adjustment(s.scaling_adjustment)
                .build()
                .map_err(|e| invalid("PutScalingPolicy", e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config = aas::StepScalingPolicyConfiguration::builder()
        .adjustment_type(aas::AdjustmentType::from(policy.adjustment_type.as_str()))
        .set_step_adjustments(Some(steps))
        .set_cooldown(policy.cooldown)
        .set_min_adjustment_magnitude(policy.min_adjustment_magnitude)
        .set_metric_aggregation_type(
            policy
                .metric_aggregation_type
                .map(|m| aas::MetricAggregationType::from(m.as_str())),
        )
        .build();
    let out = client
        .put_scaling_policy()
        .policy_name(policy_name)
        .service_namespace(NAMESPACE)
        .scalable_dimension(DIMENSION)
        .resource_id(resource_id)
        .policy_type(aas::PolicyType::StepScaling)
        .step_scaling_policy_configuration(config)
        .send()
        .await
        .map_err(aws_err("PutScalingPolicy"))?;
    Ok(out.policy_arn().to_string())
}

pub async fn delete_policy(
    client: &Client,
    resource_id: &str,
    policy_name: &str,
) -> Result<(), AwsError> {
    ignore_not_found(
        client
            .delete_scaling_policy()
            .policy_name(policy_name)
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .send()
            .await
            .map(|_| ())
            .map_err(aws_err("DeleteScalingPolicy")),
    )
}

/// Names of the scheduled actions on the target.
pub async fn scheduled_action_names(
    client: &Client,
    resource_id: &str,
) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .describe_scheduled_actions()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(aws_err("DescribeScheduledActions"))?;
        names.extend(
            out.scheduled_actions()
                .iter()
                .map(|a| a.scheduled_action_name().to_string()),
        );
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(names);
        }
    }
}

fn timestamp(operation: &'static str, field: &str, value: &str) -> Result<DateTime, AwsError> {
    DateTime::from_str(value, Format::DateTimeWithOffset)
        .or_else(|_| DateTime::from_str(value, Format::DateTime))
        .map_err(|e| {
            invalid(
                operation,
                format!("{field} {value:?} is not an RFC 3339 time: {e}"),
            )
        })
}

pub async fn put_scheduled_action(
    client: &Client,
    resource_id: &str,
    action_name: &str,
    action: &ScheduledScaling,
) -> Result<(), AwsError> {
    const OP: &str = "PutScheduledAction";
    let start = action
        .start_time
        .as_deref()
        .map(|t| timestamp(OP, "startTime", t))
        .transpose()?;
    let end = action
        .end_time
        .as_deref()
        .map(|t| timestamp(OP, "endTime", t))
        .transpose()?;
    let target = aas::ScalableTargetAction::builder()
        .set_min_capacity(action.min_capacity)
        .set_max_capacity(action.max_capacity)
        .build();
    client
        .put_scheduled_action()
        .service_namespace(NAMESPACE)
        .scalable_dimension(DIMENSION)
        .resource_id(resource_id)
        .scheduled_action_name(action_name)
        .schedule(&action.schedule)
        .set_timezone(action.timezone.clone())
        .set_start_time(start)
        .set_end_time(end)
        .scalable_target_action(target)
        .send()
        .await
        .map_err(aws_err(OP))?;
    Ok(())
}

pub async fn delete_scheduled_action(
    client: &Client,
    resource_id: &str,
    action_name: &str,
) -> Result<(), AwsError> {
    ignore_not_found(
        client
            .delete_scheduled_action()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .scheduled_action_name(action_name)
            .send()
            .await
            .map(|_| ())
            .map_err(aws_err("DeleteScheduledAction")),
    )
}

/// The latest scaling activity, in one line: `<status> at <time>: <description>`.
pub async fn last_activity(client: &Client, resource_id: &str) -> Result<Option<String>, AwsError> {
    let out = client
        .describe_scaling_activities()
        .service_namespace(NAMESPACE)
        .scalable_dimension(DIMENSION)
        .resource_id(resource_id)
        .max_results(1)
        .send()
        .await
        .map_err(aws_err("DescribeScalingActivities"))?;
    Ok(out.scaling_activities().first().map(|a| {
        let when = a
            .start_time()
            .fmt(Format::DateTime)
            .unwrap_or_else(|_| "?".into());
        let text = format!(
            "{} at {when}: {}",
            a.status_code().as_str(),
            a.description()
        );
        truncate(text, 256)
    }))
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// Puts the CloudWatch alarm of a step scaling policy, with `action_arn` (the policy) as
/// its alarm action. Tags apply when the alarm is created.
pub async fn put_alarm(
    client: &aws_sdk_cloudwatch::Client,
    alarm_name: &str,
    alarm: &ScalingAlarm,
    dimensions: &[MetricDimension],
    action_arn: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    const OP: &str = "PutMetricAlarm";
    let dims = dimensions
        .iter()
        .map(|d| {
            cw::Dimension::builder()
                .name(&d.name)
                .value(&d.value)
                .build()
        })
        .collect();
    let tags = tags
        .iter()
        .map(|(k, v)| cw::Tag::builder().key(k).value(v).build())
        .collect();
    client
        .put_metric_alarm()
        .alarm_name(alarm_name)
        .alarm_description("Step scaling alarm managed by ecs-operator")
        .metric_name(&alarm.metric_name)
        .namespace(&alarm.namespace)
        .set_dimensions(Some(dims))
        .statistic(cw::Statistic::from(alarm.statistic.as_str()))
        .threshold(alarm.threshold)
        .comparison_operator(cw::ComparisonOperator::from(
            alarm.comparison_operator.as_str(),
        ))
        .evaluation_periods(alarm.evaluation_periods)
        .period(alarm.period.unwrap_or(60))
        .set_datapoints_to_alarm(alarm.datapoints_to_alarm)
        .alarm_actions(action_arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(aws_err(OP))?;
    Ok(())
}

/// The alarms whose name starts with `prefix`, as (name, ARN).
pub async fn alarms(
    client: &aws_sdk_cloudwatch::Client,
    prefix: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    let mut alarms = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .alarm_types(cw::AlarmType::MetricAlarm)
            .set_next_token(token)
            .send()
            .await
            .map_err(aws_err("DescribeAlarms"))?;
        alarms.extend(
            out.metric_alarms()
                .iter()
                .filter_map(|a| Some((a.alarm_name()?.to_string(), a.alarm_arn()?.to_string()))),
        );
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(alarms);
        }
    }
}

/// The `ecs-operator.dev/uid` tag of the alarm `arn` (None: untagged or gone).
pub async fn alarm_uid(
    client: &aws_sdk_cloudwatch::Client,
    arn: &str,
) -> Result<Option<String>, AwsError> {
    let out = match client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
    {
        Ok(out) => out,
        Err(err) => {
            let err = aws_err("ListTagsForResource")(err);
            return if err.is_not_found() {
                Ok(None)
            } else {
                Err(err)
            };
        }
    };
    Ok(out
        .tags()
        .iter()
        .find(|t| t.key() == Some(crate::api::common::tags::UID))
        .and_then(|t| t.value().map(str::to_string)))
}

/// Deletes alarms (up to 100 per call).
pub async fn delete_alarms(
    client: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<(), AwsError> {
    for chunk in names.chunks(100) {
        ignore_not_found(
            client
                .delete_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("DeleteAlarms")),
        )?;
    }
    Ok(())
}
