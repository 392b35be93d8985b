//! ECS task definition calls and the translation from our spec types to the SDK's.

use std::collections::BTreeMap;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types as ecs;
use aws_smithy_types::error::operation::BuildError;
use serde::Serialize;

use super::error::{AwsError, ErrorClass, aws_err};
use crate::api::task_definition as api;

/// What the operator needs to know about one registered revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedRevision {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    /// `ACTIVE`, `INACTIVE` or `DELETE_IN_PROGRESS`.
    pub status: String,
    pub tags: BTreeMap<String, String>,
}

impl ObservedRevision {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// The serialized (wire) form of one of our enums, which is also ECS's spelling.
fn wire<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn build_error(err: BuildError) -> AwsError {
    AwsError {
        operation: "RegisterTaskDefinition",
        code: "InvalidRequest".into(),
        message: err.to_string(),
        class: ErrorClass::Terminal,
    }
}

fn key_values(pairs: &[api::KeyValuePair]) -> Option<Vec<ecs::KeyValuePair>> {
    (!pairs.is_empty()).then(|| {
        pairs
            .iter()
            .map(|p| {
                ecs::KeyValuePair::builder()
                    .name(&p.name)
                    .value(&p.value)
                    .build()
            })
            .collect()
    })
}

fn secrets(secrets: &[api::Secret]) -> Result<Option<Vec<ecs::Secret>>, BuildError> {
    if secrets.is_empty() {
        return Ok(None);
    }
    secrets
        .iter()
        .map(|s| {
            ecs::Secret::builder()
                .name(&s.name)
                .value_from(&s.value_from)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn string_map(map: &BTreeMap<String, String>) -> Option<std::collections::HashMap<String, String>> {
    (!map.is_empty()).then(|| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn port_mapping(p: &api::PortMapping) -> ecs::PortMapping {
    ecs::PortMapping::builder()
        .set_container_port(p.container_port)
        .set_host_port(p.host_port)
        .set_protocol(
            p.protocol
                .map(|v| ecs::TransportProtocol::from(wire(&v).as_str())),
        )
        .set_name(p.name.clone())
        .set_app_protocol(
            p.app_protocol
                .map(|v| ecs::ApplicationProtocol::from(wire(&v).as_str())),
        )
        .set_container_port_range(p.container_port_range.clone())
        .build()
}

fn linux_parameters(l: &api::LinuxParameters) -> Result<ecs::LinuxParameters, BuildError> {
    let tmpfs = l
        .tmpfs
        .iter()
        .map(|t| {
            ecs::Tmpfs::builder()
                .container_path(&t.container_path)
                .size(t.size)
                .set_mount_options(non_empty(&t.mount_options))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let devices = l
        .devices
        .iter()
        .map(|d| {
            ecs::Device::builder()
                .host_path(&d.host_path)
                .set_container_path(d.container_path.clone())
                .set_permissions(non_empty(
                    &d.permissions
                        .iter()
                        .map(|p| ecs::DeviceCgroupPermission::from(p.as_str()))
                        .collect::<Vec<_>>(),
                ))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ecs::LinuxParameters::builder()
        .set_capabilities(l.capabilities.as_ref().map(|c| {
            ecs::KernelCapabilities::builder()
                .set_add(non_empty(&c.add))
                .set_drop(non_empty(&c.drop))
                .build()
        }))
        .set_init_process_enabled(l.init_process_enabled)
        .set_shared_memory_size(l.shared_memory_size)
        .set_tmpfs((!tmpfs.is_empty()).then_some(tmpfs))
        .set_devices((!devices.is_empty()).then_some(devices))
        .set_max_swap(l.max_swap)
        .set_swappiness(l.swappiness)
        .build())
}

/// A log configuration (of a container, or of the Service Connect proxy) as the SDK's.
pub fn log_configuration(l: &api::LogConfiguration) -> Result<ecs::LogConfiguration, BuildError> {
    ecs::LogConfiguration::builder()
        .log_driver(ecs::LogDriver::from(wire(&l.log_driver).as_str()))
        .set_options(string_map(&l.options))
        .set_secret_options(secrets(&l.secret_options)?)
        .build()
}

/// A log configuration ECS reports, in our vocabulary (`None` for a driver we do not model).
pub fn observed_log_configuration(l: &ecs::LogConfiguration) -> Option<api::LogConfiguration> {
    Some(api::LogConfiguration {
        log_driver: serde_json::from_value(serde_json::Value::String(
            l.log_driver().as_str().to_string(),
        ))
        .ok()?,
        options: l
            .options()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        secret_options: l
            .secret_options()
            .iter()
            .map(|s| api::Secret {
                name: s.name().to_string(),
                value_from: s.value_from().to_string(),
            })
            .collect(),
    })
}

/// Translates one container definition.
pub fn container_definition(
    c: &api::ContainerDefinition,
) -> Result<ecs::ContainerDefinition, BuildError> {
    let health_check = c
        .health_check
        .as_ref()
        .map(|h| {
            ecs::HealthCheck::builder()
                .set_command(Some(h.command.clone()))
                .set_interval(h.interval)
                .set_timeout(h.timeout)
                .set_retries(h.retries)
                .set_start_period(h.start_period)
                .build()
        })
        .transpose()?;
    let log_configuration = c
        .log_configuration
        .as_ref()
        .map(log_configuration)
        .transpose()?;
    let depends_on = c
        .depends_on
        .iter()
        .map(|d| {
            ecs::ContainerDependency::builder()
                .container_name(&d.container_name)
                .condition(ecs::ContainerCondition::from(wire(&d.condition).as_str()))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ulimits = c
        .ulimits
        .iter()
        .map(|u| {
            ecs::Ulimit::builder()
                .name(ecs::UlimitName::from(u.name.as_str()))
                .soft_limit(u.soft_limit)
                .hard_limit(u.hard_limit)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let environment_files = c
        .environment_files
        .iter()
        .map(|f| {
            ecs::EnvironmentFile::builder()
                .value(&f.value)
                .r#type(ecs::EnvironmentFileType::from(f.type_.as_str()))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let restart_policy = c
        .restart_policy
        .as_ref()
        .map(|r| {
            ecs::ContainerRestartPolicy::builder()
                .enabled(r.enabled)
                .set_ignored_exit_codes(non_empty(&r.ignored_exit_codes))
                .set_restart_attempt_period(r.restart_attempt_period)
                .build()
        })
        .transpose()?;
    let firelens = c
        .firelens_configuration
        .as_ref()
        .map(|f| {
            ecs::FirelensConfiguration::builder()
                .r#type(ecs::FirelensConfigurationType::from(
                    wire(&f.type_).as_str(),
                ))
                .set_options(string_map(&f.options))
                .build()
        })
        .transpose()?;
    let repository_credentials = c
        .repository_credentials
        .as_ref()
        .map(|r| {
            ecs::RepositoryCredentials::builder()
                .credentials_parameter(&r.credentials_parameter)
                .build()
        })
        .transpose()?;

    Ok(ecs::ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .set_cpu(c.cpu)
        .set_memory(c.memory)
        .set_memory_reservation(c.memory_reservation)
        .set_essential(c.essential)
        .set_port_mappings(non_empty(
            &c.port_mappings.iter().map(port_mapping).collect::<Vec<_>>(),
        ))
        .set_environment(key_values(&c.environment))
        .set_environment_files((!environment_files.is_empty()).then_some(environment_files))
        .set_secrets(secrets(&c.secrets)?)
        .set_command(non_empty(&c.command))
        .set_entry_point(non_empty(&c.entry_point))
        .set_working_directory(c.working_directory.clone())
        .set_user(c.user.clone())
        .set_health_check(health_check)
        .set_log_configuration(log_configuration)
        .set_depends_on((!depends_on.is_empty()).then_some(depends_on))
        .set_mount_points(non_empty(
            &c.mount_points
                .iter()
                .map(|m| {
                    ecs::MountPoint::builder()
                        .source_volume(&m.source_volume)
                        .container_path(&m.container_path)
                        .set_read_only(m.read_only)
                        .build()
                })
                .collect::<Vec<_>>(),
        ))
        .set_volumes_from(non_empty(
            &c.volumes_from
                .iter()
                .map(|v| {
                    ecs::VolumeFrom::builder()
                        .source_container(&v.source_container)
                        .set_read_only(v.read_only)
                        .build()
                })
                .collect::<Vec<_>>(),
        ))
        .set_ulimits((!ulimits.is_empty()).then_some(ulimits))
        .set_linux_parameters(
            c.linux_parameters
                .as_ref()
                .map(linux_parameters)
                .transpose()?,
        )
        .set_readonly_root_filesystem(c.readonly_root_filesystem)
        .set_privileged(c.privileged)
        .set_stop_timeout(c.stop_timeout)
        .set_start_timeout(c.start_timeout)
        .set_docker_labels(string_map(&c.docker_labels))
        .set_restart_policy(restart_policy)
        .set_firelens_configuration(firelens)
        .set_repository_credentials(repository_credentials)
        .build())
}

fn volume(v: &api::Volume) -> Result<ecs::Volume, BuildError> {
    let efs = v
        .efs_volume_configuration
        .as_ref()
        .map(|e| {
            ecs::EfsVolumeConfiguration::builder()
                .file_system_id(&e.file_system_id)
                .set_root_directory(e.root_directory.clone())
                .set_transit_encryption(
                    e.transit_encryption
                        .map(|t| ecs::EfsTransitEncryption::from(wire(&t).as_str())),
                )
                .set_transit_encryption_port(e.transit_encryption_port)
                .set_authorization_config(e.authorization_config.as_ref().map(|a| {
                    ecs::EfsAuthorizationConfig::builder()
                        .set_access_point_id(a.access_point_id.clone())
                        .set_iam(
                            a.iam
                                .map(|i| ecs::EfsAuthorizationConfigIam::from(wire(&i).as_str())),
                        )
                        .build()
                }))
                .build()
        })
        .transpose()?;
    Ok(ecs::Volume::builder()
        .name(&v.name)
        .set_host(v.host.as_ref().map(|h| {
            ecs::HostVolumeProperties::builder()
                .set_source_path(h.source_path.clone())
                .build()
        }))
        .set_efs_volume_configuration(efs)
        .set_docker_volume_configuration(v.docker_volume_configuration.as_ref().map(|d| {
            ecs::DockerVolumeConfiguration::builder()
                .set_scope(d.scope.map(|s| ecs::Scope::from(wire(&s).as_str())))
                .set_autoprovision(d.autoprovision)
                .set_driver(d.driver.clone())
                .set_driver_opts(string_map(&d.driver_opts))
                .set_labels(string_map(&d.labels))
                .build()
        }))
        .build())
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Vec<ecs::Tag> {
    tags.iter()
        .map(|(k, v)| ecs::Tag::builder().key(k).value(v).build())
        .collect()
}

/// Registers a revision of `family` with the content of `spec` and the given tags.
pub async fn register(
    client: &Client,
    family: &str,
    spec: &api::TaskDefinitionSpec,
    tags: &BTreeMap<String, String>,
) -> Result<ObservedRevision, AwsError> {
    let containers = spec
        .container_definitions
        .iter()
        .map(container_definition)
        .collect::<Result<Vec<_>, _>>()
        .map_err(build_error)?;
    let volumes = spec
        .volumes
        .iter()
        .map(volume)
        .collect::<Result<Vec<_>, _>>()
        .map_err(build_error)?;
    let placement_constraints = spec
        .placement_constraints
        .iter()
        .map(|p| {
            ecs::TaskDefinitionPlacementConstraint::builder()
                .r#type(ecs::TaskDefinitionPlacementConstraintType::from(
                    p.type_.as_str(),
                ))
                .expression(&p.expression)
                .build()
        })
        .collect::<Vec<_>>();
    let proxy = spec
        .proxy_configuration
        .as_ref()
        .map(|p| {
            ecs::ProxyConfiguration::builder()
                .set_type(p.type_.as_deref().map(ecs::ProxyConfigurationType::from))
                .container_name(&p.container_name)
                .set_properties(key_values(&p.properties))
                .build()
        })
        .transpose()
        .map_err(build_error)?;
    let ephemeral = spec.ephemeral_storage.as_ref().map(|e| {
        ecs::EphemeralStorage::builder()
            .size_in_gib(e.size_in_gib)
            .build()
    });

    let output = client
        .register_task_definition()
        .family(family)
        .set_container_definitions(Some(containers))
        .set_task_role_arn(spec.task_role_arn.clone())
        .set_execution_role_arn(spec.execution_role_arn.clone())
        .set_network_mode(
            spec.network_mode
                .map(|m| ecs::NetworkMode::from(wire(&m).as_str())),
        )
        .set_requires_compatibilities(non_empty(
            &spec
                .requires_compatibilities
                .iter()
                .map(|c| ecs::Compatibility::from(wire(c).as_str()))
                .collect::<Vec<_>>(),
        ))
        .set_cpu(spec.cpu.clone())
        .set_memory(spec.memory.clone())
        .set_runtime_platform(spec.runtime_platform.as_ref().map(|r| {
            ecs::RuntimePlatform::builder()
                .set_cpu_architecture(
                    r.cpu_architecture
                        .map(|a| ecs::CpuArchitecture::from(wire(&a).as_str())),
                )
                .set_operating_system_family(
                    r.operating_system_family
                        .map(|o| ecs::OsFamily::from(wire(&o).as_str())),
                )
                .build()
        }))
        .set_ephemeral_storage(ephemeral)
        .set_pid_mode(spec.pid_mode.map(|m| ecs::PidMode::from(wire(&m).as_str())))
        .set_ipc_mode(spec.ipc_mode.map(|m| ecs::IpcMode::from(wire(&m).as_str())))
        .set_placement_constraints(
            (!placement_constraints.is_empty()).then_some(placement_constraints),
        )
        .set_proxy_configuration(proxy)
        .set_volumes((!volumes.is_empty()).then_some(volumes))
        .set_tags(Some(sdk_tags(tags)))
        .send()
        .await
        .map_err(aws_err("RegisterTaskDefinition"))?;
    let td = output
        .task_definition()
        .ok_or_else(|| missing("RegisterTaskDefinition", "taskDefinition"))?;
    Ok(observed(td, output.tags()))
}

fn missing(operation: &'static str, field: &str) -> AwsError {
    AwsError {
        operation,
        code: "ResponseError".into(),
        message: format!("response lacks {field}"),
        class: ErrorClass::Retryable,
    }
}

fn observed(td: &ecs::TaskDefinition, tags: &[ecs::Tag]) -> ObservedRevision {
    ObservedRevision {
        arn: td.task_definition_arn().unwrap_or_default().to_string(),
        family: td.family().unwrap_or_default().to_string(),
        revision: td.revision(),
        status: td
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        tags: tags
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    }
}

/// Describes one revision with its tags. `Ok(None)` when ECS does not know it.
pub async fn describe(client: &Client, arn: &str) -> Result<Option<ObservedRevision>, AwsError> {
    let result = client
        .describe_task_definition()
        .task_definition(arn)
        .include(ecs::TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(aws_err("DescribeTaskDefinition"));
    match result {
        Ok(output) => Ok(output
            .task_definition()
            .map(|td| observed(td, output.tags()))),
        // ECS answers an unknown revision with ClientException "Unable to describe task definition."
        Err(err) if err.code == "ClientException" && err.message.contains("Unable to describe") => {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// ARNs of the ACTIVE revisions of `family`, newest first (at most `limit`).
pub async fn list_active(
    client: &Client,
    family: &str,
    limit: i32,
) -> Result<Vec<String>, AwsError> {
    let output = client
        .list_task_definitions()
        .family_prefix(family)
        .status(ecs::TaskDefinitionStatus::Active)
        .sort(ecs::SortOrder::Desc)
        .max_results(limit)
        .send()
        .await
        .map_err(aws_err("ListTaskDefinitions"))?;
    // familyPrefix matches by prefix: keep only this exact family.
    let prefix = format!(":task-definition/{family}:");
    Ok(output
        .task_definition_arns()
        .iter()
        .filter(|arn| arn.contains(&prefix))
        .cloned()
        .collect())
}

/// The revision number at the end of a task definition ARN.
pub fn revision_of(arn: &str) -> Option<i32> {
    arn.rsplit(':').next()?.parse().ok()
}

/// The newest of some revision ARNs (by revision number, whatever order they came in).
pub fn newest(arns: &[String]) -> Option<&String> {
    arns.iter().max_by_key(|arn| revision_of(arn).unwrap_or(0))
}

/// Every ACTIVE revision ARN in the account and Region (paginated; 100 per call). The drift
/// observer uses it to check all managed revisions with a few calls instead of one each.
pub async fn list_all_active(client: &Client) -> Result<Vec<String>, AwsError> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let output = client
            .list_task_definitions()
            .status(ecs::TaskDefinitionStatus::Active)
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .map_err(aws_err("ListTaskDefinitions"))?;
        arns.extend(output.task_definition_arns().iter().cloned());
        match output.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(arns),
        }
    }
}

/// Deregisters a revision. Already INACTIVE or unknown counts as done.
pub async fn deregister(client: &Client, arn: &str) -> Result<(), AwsError> {
    match client
        .deregister_task_definition()
        .task_definition(arn)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) => {
            let err = super::error::from_sdk("DeregisterTaskDefinition", err);
            if err.code == "ClientException"
                && (err.message.contains("INACTIVE") || err.message.contains("Unable to"))
            {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// Deletes INACTIVE revisions (up to 10 per call, as ECS allows).
pub async fn delete(client: &Client, arns: &[String]) -> Result<(), AwsError> {
    for chunk in arns.chunks(10) {
        client
            .delete_task_definitions()
            .set_task_definitions(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(aws_err("DeleteTaskDefinitions"))?;
    }
    Ok(())
}

/// Sets user tags on a revision and removes user tags no longer wanted. Operator tags are
/// never removed here.
pub async fn sync_tags(
    client: &Client,
    arn: &str,
    to_set: &BTreeMap<String, String>,
    to_remove: &[String],
) -> Result<(), AwsError> {
    if !to_set.is_empty() {
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(sdk_tags(to_set)))
            .send()
            .await
            .map_err(aws_err("TagResource"))?;
    }
    if !to_remove.is_empty() {
        client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(to_remove.to_vec()))
            .send()
            .await
            .map_err(aws_err("UntagResource"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_is_chosen_by_revision_number_not_order() {
        let arns: Vec<String> = ["web:2", "web:10", "web:9"]
            .iter()
            .map(|r| format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{r}"))
            .collect();
        assert_eq!(newest(&arns).map(|a| a.ends_with("web:10")), Some(true));
        assert_eq!(
            revision_of("arn:aws:ecs:us-east-1:1:task-definition/a-b:7"),
            Some(7)
        );
        assert!(newest(&[]).is_none());
    }
}
