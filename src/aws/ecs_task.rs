//! ECS task calls for `ECSTask`: RunTask (at most 10 tasks per call), DescribeTasks (at most
//! 100 per call), ListTasks by `startedBy`, StopTask, and the translation of described tasks
//! into our status vocabulary.

use std::collections::BTreeMap;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types as ecs;

use super::error::{AwsError, ErrorClass, aws_err};
use crate::api::ecs_service::{EnabledDisabled, LaunchType};
use crate::api::ecs_task::{
    ContainerRecord, ECSTaskSpec, TaskOutcome, TaskPropagateTags, TaskRecord,
};

/// RunTask starts at most this many tasks per call.
pub const RUN_TASK_MAX: i32 = 10;
/// DescribeTasks describes at most this many tasks per call.
pub const DESCRIBE_TASKS_MAX: usize = 100;

/// What the run needs to know about its task definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskDefinitionFacts {
    pub arn: String,
    /// `awsvpc`, `bridge`, `host`, `none` (empty when ECS leaves it to the default).
    pub network_mode: String,
    pub container_names: Vec<String>,
}

/// Describes a task definition by family, family:revision or ARN.
pub async fn task_definition_facts(
    client: &Client,
    reference: &str,
) -> Result<TaskDefinitionFacts, AwsError> {
    let output = client
        .describe_task_definition()
        .task_definition(reference)
        .send()
        .await
        .map_err(aws_err("DescribeTaskDefinition"))?;
    let td = output.task_definition().ok_or_else(|| AwsError {
        operation: "DescribeTaskDefinition",
        code: "ClientException".into(),
        message: format!("task definition {reference} not found"),
        class: ErrorClass::Terminal,
    })?;
    Ok(TaskDefinitionFacts {
        arn: td.task_definition_arn().unwrap_or(reference).to_string(),
        network_mode: td
            .network_mode()
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
        container_names: td
            .container_definitions()
            .iter()
            .filter_map(|c| c.name().map(str::to_string))
            .collect(),
    })
}

/// Whether a stopped task succeeded: it was not stopped from outside or failed to start, and
/// every container that reports an exit code exited with 0 (at least one did).
pub fn outcome(task: &TaskRecord) -> TaskOutcome {
    if task.last_status != "STOPPED" {
        return TaskOutcome::Running;
    }
    let clean_stop = matches!(
        task.stop_code.as_deref(),
        None | Some("EssentialContainerExited")
    );
    let codes: Vec<i32> = task.containers.iter().filter_map(|c| c.exit_code).collect();
    if clean_stop && !codes.is_empty() && codes.iter().all(|c| *c == 0) {
        TaskOutcome::Succeeded
    } else {
        TaskOutcome::Failed
    }
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

/// Our record of a described task.
pub fn record(task: &ecs::Task) -> TaskRecord {
    let mut record = TaskRecord {
        task_arn: task.task_arn().unwrap_or_default().to_string(),
        last_status: task.last_status().unwrap_or_default().to_string(),
        desired_status: task.desired_status().unwrap_or_default().to_string(),
        stop_code: task.stop_code().map(|c| c.as_str().to_string()),
        stopped_reason: task
            .stopped_reason()
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        started_at: time(task.started_at()),
        stopped_at: time(task.stopped_at()),
        containers: task
            .containers()
            .iter()
            .map(|c| ContainerRecord {
                name: c.name().unwrap_or_default().to_string(),
                last_status: c.last_status().map(str::to_string),
                exit_code: c.exit_code(),
                reason: c.reason().filter(|r| !r.is_empty()).map(str::to_string),
            })
            .collect(),
        outcome: TaskOutcome::Running,
    };
    record.outcome = outcome(&record);
    record
}

/// Describes tasks, 100 per call. Tasks ECS no longer knows (stopped long ago) are missing
/// from the answer.
pub async fn describe(
    client: &Client,
    cluster: &str,
    arns: &[String],
) -> Result<Vec<TaskRecord>, AwsError> {
    let mut found = Vec::new();
    for chunk in arns.chunks(DESCRIBE_TASKS_MAX) {
        let output = client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(aws_err("DescribeTasks"))?;
        found.extend(output.tasks().iter().map(record));
    }
    Ok(found)
}

/// ARNs of the tasks started with `started_by` whose desired status is RUNNING, and with
/// `include_stopped` also those stopped or stopping (ECS lists stopped tasks for about an
/// hour).
pub async fn list(
    client: &Client,
    cluster: &str,
    started_by: &str,
    include_stopped: bool,
) -> Result<Vec<String>, AwsError> {
    let mut arns = Vec::new();
    let statuses: &[ecs::DesiredStatus] = if include_stopped {
        &[ecs::DesiredStatus::Running, ecs::DesiredStatus::Stopped]
    } else {
        &[ecs::DesiredStatus::Running]
    };
    for desired in statuses.iter().cloned() {
        let mut pages = client
            .list_tasks()
            .cluster(cluster)
            .started_by(started_by)
            .desired_status(desired)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("ListTasks"))?;
            arns.extend(page.task_arns().iter().cloned());
        }
    }
    arns.sort();
    arns.dedup();
    Ok(arns)
}

/// One RunTask call.
pub struct RunRequest<'a> {
    pub spec: &'a ECSTaskSpec,
    pub cluster: &'a str,
    pub task_definition: &'a str,
    pub count: i32,
    pub started_by: &'a str,
    /// Idempotency token: the same token within a few hours starts nothing new.
    pub client_token: &'a str,
    pub tags: &'a BTreeMap<String, String>,
}

/// What RunTask did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Started {
    pub tasks: Vec<TaskRecord>,
    /// `reason (arn)` for each task ECS could not place.
    pub failures: Vec<String>,
}

/// The SDK's overrides for the spec's.
pub fn task_override(spec: &ECSTaskSpec) -> Option<ecs::TaskOverride> {
    let overrides = spec.overrides.as_ref()?;
    let containers = overrides
        .container_overrides
        .iter()
        .map(|c| {
            ecs::ContainerOverride::builder()
                .name(&c.name)
                .set_command((!c.command.is_empty()).then(|| c.command.clone()))
                .set_environment((!c.environment.is_empty()).then(|| {
                    c.environment
                        .iter()
                        .map(|kv| {
                            ecs::KeyValuePair::builder()
                                .name(&kv.name)
                                .value(&kv.value)
                                .build()
                        })
                        .collect()
                }))
                .set_cpu(c.cpu)
                .set_memory(c.memory)
                .set_memory_reservation(c.memory_reservation)
                .build()
        })
        .collect::<Vec<_>>();
    Some(
        ecs::TaskOverride::builder()
            .set_container_overrides((!containers.is_empty()).then_some(containers))
            .set_cpu(overrides.cpu.clone())
            .set_memory(overrides.memory.clone())
            .set_task_role_arn(overrides.task_role_arn.clone())
            .set_execution_role_arn(overrides.execution_role_arn.clone())
            .build(),
    )
}

fn network_configuration(
    spec: &ECSTaskSpec,
) -> Result<Option<ecs::NetworkConfiguration>, AwsError> {
    let Some(net) = &spec.network_configuration else {
        return Ok(None);
    };
    let vpc = &net.awsvpc_configuration;
    let awsvpc = ecs::AwsVpcConfiguration::builder()
        .set_subnets(Some(vpc.subnets.iter().map(|s| s.0.clone()).collect()))
        .set_security_groups(
            (!vpc.security_groups.is_empty())
                .then(|| vpc.security_groups.iter().map(|s| s.0.clone()).collect()),
        )
        .set_assign_public_ip(vpc.assign_public_ip.map(|a| match a {
            EnabledDisabled::ENABLED => ecs::AssignPublicIp::Enabled,
            EnabledDisabled::DISABLED => ecs::AssignPublicIp::Disabled,
        }))
        .build()
        .map_err(|err| AwsError {
            operation: "RunTask",
            code: "InvalidParameterException".into(),
            message: err.to_string(),
            class: ErrorClass::Terminal,
        })?;
    Ok(Some(
        ecs::NetworkConfiguration::builder()
            .awsvpc_configuration(awsvpc)
            .build(),
    ))
}

/// Starts up to [`RUN_TASK_MAX`] tasks.
pub async fn run(client: &Client, req: &RunRequest<'_>) -> Result<Started, AwsError> {
    let spec = req.spec;
    let strategy = spec
        .capacity_provider_strategy
        .iter()
        .map(|s| {
            ecs::CapacityProviderStrategyItem::builder()
                .capacity_provider(&s.capacity_provider)
                .set_weight(s.weight)
                .set_base(s.base)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| AwsError {
            operation: "RunTask",
            code: "InvalidParameterException".into(),
            message: err.to_string(),
            class: ErrorClass::Terminal,
        })?;
    let tags = req
        .tags
        .iter()
        .map(|(k, v)| ecs::Tag::builder().key(k).value(v).build())
        .collect::<Vec<_>>();
    let output = client
        .run_task()
        .cluster(req.cluster)
        .task_definition(req.task_definition)
        .count(req.count.clamp(1, RUN_TASK_MAX))
        .started_by(req.started_by)
        .client_token(req.client_token)
        .set_launch_type(spec.launch_type.map(|l| {
            ecs::LaunchType::from(match l {
                LaunchType::FARGATE => "FARGATE",
                LaunchType::EC2 => "EC2",
                LaunchType::EXTERNAL => "EXTERNAL",
            })
        }))
        .set_capacity_provider_strategy((!strategy.is_empty()).then_some(strategy))
        .set_platform_version(spec.platform_version.clone())
        .set_network_configuration(network_configuration(spec)?)
        .set_overrides(task_override(spec))
        .set_group(spec.group.clone())
        .set_tags((!tags.is_empty()).then_some(tags))
        .set_propagate_tags(spec.propagate_tags.map(|p| {
            ecs::PropagateTags::from(match p {
                TaskPropagateTags::TASK_DEFINITION => "TASK_DEFINITION",
                TaskPropagateTags::NONE => "NONE",
            })
        }))
        .set_enable_ecs_managed_tags(spec.enable_ecs_managed_tags)
        .set_enable_execute_command(spec.enable_execute_command)
        .send()
        .await
        .map_err(aws_err("RunTask"))?;
    Ok(Started {
        tasks: output.tasks().iter().map(record).collect(),
        failures: output
            .failures()
            .iter()
            .map(|f| {
                let reason = f.reason().unwrap_or("unknown");
                match f.detail() {
                    Some(detail) if !detail.is_empty() => format!("{reason}: {detail}"),
                    _ => reason.to_string(),
                }
            })
            .collect(),
    })
}

/// Stops a task; a task ECS no longer knows counts as stopped.
pub async fn stop(client: &Client, cluster: &str, arn: &str, reason: &str) -> Result<(), AwsError> {
    match client
        .stop_task()
        .cluster(cluster)
        .task(arn)
        .reason(reason)
        .send()
        .await
        .map_err(aws_err("StopTask"))
    {
        Ok(_) => Ok(()),
        Err(err) if err.is_not_found() || err.code == "InvalidParameterException" => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(stop_code: Option<&str>, codes: &[Option<i32>]) -> TaskRecord {
        TaskRecord {
            task_arn: "arn".into(),
            last_status: "STOPPED".into(),
            desired_status: "STOPPED".into(),
            stop_code: stop_code.map(str::to_string),
            containers: codes
                .iter()
                .map(|c| ContainerRecord {
                    name: "app".into(),
                    exit_code: *c,
                    ..ContainerRecord::default()
                })
                .collect(),
            ..TaskRecord::default()
        }
    }

    #[test]
    fn outcome_follows_exit_codes_and_stop_code() {
        let running = TaskRecord {
            last_status: "RUNNING".into(),
            ..TaskRecord::default()
        };
        assert_eq!(outcome(&running), TaskOutcome::Running);
        assert_eq!(
            outcome(&stopped(
                Some("EssentialContainerExited"),
                &[Some(0), Some(0)]
            )),
            TaskOutcome::Succeeded
        );
        assert_eq!(
            outcome(&stopped(
                Some("EssentialContainerExited"),
                &[Some(0), Some(2)]
            )),
            TaskOutcome::Failed
        );
        assert_eq!(
            outcome(&stopped(Some("TaskFailedToStart"), &[None])),
            TaskOutcome::Failed
        );
        assert_eq!(
            outcome(&stopped(Some("UserInitiated"), &[Some(0)])),
            TaskOutcome::Failed
        );
        assert_eq!(outcome(&stopped(None, &[None])), TaskOutcome::Failed);
    }
}
