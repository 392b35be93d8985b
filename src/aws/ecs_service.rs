//! ECS service calls and the translation between our spec types and the SDK's.
//!
//! Observed services are converted into our own vocabulary (`ObservedService`, using the API
//! types) so that the pure plan compares like with like.

use std::collections::BTreeMap;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types as ecs;
use serde::Serialize;

use super::error::{AwsError, ErrorClass, aws_err};
use crate::api::common::tags;
use crate::api::ecs_service as api;

/// What the operator knows about one ECS service after DescribeServices.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedService {
    pub arn: String,
    pub name: String,
    pub cluster_arn: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub launch_type: Option<api::LaunchType>,
    pub capacity_provider_strategy: Vec<api::CapacityProviderStrategyItem>,
    pub platform_version: Option<String>,
    pub network_configuration: Option<api::NetworkConfiguration>,
    pub load_balancers: Vec<api::LoadBalancer>,
    pub deployment_configuration: Option<api::DeploymentConfiguration>,
    /// `None` when ECS omits it, which means `ECS`.
    pub deployment_controller: Option<api::DeploymentControllerType>,
    pub placement_constraints: Vec<api::PlacementConstraint>,
    pub placement_strategy: Vec<api::PlacementStrategy>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub scheduling_strategy: Option<api::SchedulingStrategy>,
    pub enable_execute_command: bool,
    pub enable_ecs_managed_tags: bool,
    pub propagate_tags: Option<api::PropagateTags>,
    pub availability_zone_rebalancing: Option<api::EnabledDisabled>,
    /// Cloud Map registries (`serviceRegistries[].registryArn`).
    pub service_registries: Vec<String>,
    /// Service Connect as the PRIMARY deployment runs it (ECS reports it per deployment).
    pub service_connect_configuration: Option<api::ServiceConnectConfiguration>,
    pub deployments: Vec<api::DeploymentStatus>,
    pub events: Vec<api::ServiceEvent>,
    pub tags: BTreeMap<String, String>,
}

impl ObservedService {
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

/// Parses ECS's spelling into one of our enums (`None` for values we do not model).
fn from_wire<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

fn time_text(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

/// Converts a described service into our vocabulary.
pub fn observed(s: &ecs::Service) -> ObservedService {
    ObservedService {
        arn: s.service_arn().unwrap_or_default().to_string(),
        name: s.service_name().unwrap_or_default().to_string(),
        cluster_arn: s.cluster_arn().unwrap_or_default().to_string(),
        status: s.status().unwrap_or_default().to_string(),
        task_definition: s.task_definition().unwrap_or_default().to_string(),
        desired_count: s.desired_count(),
        running_count: s.running_count(),
        pending_count: s.pending_count(),
        launch_type: s.launch_type().and_then(|l| from_wire(l.as_str())),
        capacity_provider_strategy: s
            .capacity_provider_strategy()
            .iter()
            .map(|c| api::CapacityProviderStrategyItem {
                capacity_provider: c.capacity_provider().to_string(),
                weight: Some(c.weight()),
                base: Some(c.base()),
            })
            .collect(),
        platform_version: s.platform_version().map(str::to_string),
        network_configuration: s
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .map(|a| api::NetworkConfiguration {
                awsvpc_configuration: api::AwsVpcConfiguration {
                    subnets: a
                        .subnets()
                        .iter()
                        .map(|s| api::SubnetId(s.clone()))
                        .collect(),
                    security_groups: a
                        .security_groups()
                        .iter()
                        .map(|s| api::SecurityGroupId(s.clone()))
                        .collect(),
                    assign_public_ip: a.assign_public_ip().and_then(|p| from_wire(p.as_str())),
                },
            }),
        load_balancers: s
            .load_balancers()
            .iter()
            .map(|l| api::LoadBalancer {
                target_group_arn: l.target_group_arn().unwrap_or_default().to_string(),
                container_name: l.container_name().unwrap_or_default().to_string(),
                container_port: l.container_port().unwrap_or_default(),
            })
            .collect(),
        deployment_configuration: s.deployment_configuration().map(|d| {
            api::DeploymentConfiguration {
                minimum_healthy_percent: d.minimum_healthy_percent(),
                maximum_percent: d.maximum_percent(),
                deployment_circuit_breaker: d.deployment_circuit_breaker().map(|c| {
                    api::DeploymentCircuitBreaker {
                        enable: c.enable(),
                        rollback: c.rollback(),
                    }
                }),
                alarms: d.alarms().map(|a| api::DeploymentAlarms {
                    alarm_names: a.alarm_names().to_vec(),
                    enable: a.enable(),
                    rollback: a.rollback(),
                }),
            }
        }),
        deployment_controller: s
            .deployment_controller()
            .and_then(|d| from_wire(d.r#type().as_str())),
        placement_constraints: s
            .placement_constraints()
            .iter()
            .map(|p| api::PlacementConstraint {
                type_: p
                    .r#type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                expression: p.expression().map(str::to_string),
            })
            .collect(),
        placement_strategy: s
            .placement_strategy()
            .iter()
            .map(|p| api::PlacementStrategy {
                type_: p
                    .r#type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                field: p.field().map(str::to_string),
            })
            .collect(),
        health_check_grace_period_seconds: s.health_check_grace_period_seconds(),
        scheduling_strategy: s.scheduling_strategy().and_then(|v| from_wire(v.as_str())),
        enable_execute_command: s.enable_execute_command(),
        enable_ecs_managed_tags: s.enable_ecs_managed_tags(),
        propagate_tags: s.propagate_tags().and_then(|v| from_wire(v.as_str())),
        availability_zone_rebalancing: s
            .availability_zone_rebalancing()
            .and_then(|v| from_wire(v.as_str())),
        service_registries: s
            .service_registries()
            .iter()
            .filter_map(|r| r.registry_arn().map(str::to_string))
            .collect(),
        service_connect_configuration: s
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .and_then(|d| d.service_connect_configuration())
            .map(observed_service_connect),
        deployments: s
            .deployments()
            .iter()
            .map(|d| api::DeploymentStatus {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                task_definition: d.task_definition().map(str::to_string),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                desired_count: d.desired_count(),
                running_count: d.running_count(),
                pending_count: d.pending_count(),
                failed_tasks: d.failed_tasks(),
                created_at: time_text(d.created_at()),
            })
            .collect(),
        events: s
            .events()
            .iter()
            .map(|e| api::ServiceEvent {
                id: e.id().unwrap_or_default().to_string(),
                created_at: time_text(e.created_at()),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect(),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    }
}

/// Result of describing a batch of services in one cluster.
#[derive(Clone, Debug, Default)]
pub struct DescribedServices {
    /// Found services by name.
    pub found: BTreeMap<String, ObservedService>,
    /// Names ECS reported as MISSING.
    pub missing: Vec<String>,
}

/// Describes up to 10 services of one cluster in one call (ECS's batch size), with tags.
pub async fn describe(
    client: &Client,
    cluster: &str,
    names: &[String],
) -> Result<DescribedServices, AwsError> {
    let mut result = DescribedServices::default();
    for chunk in names.chunks(10) {
        let output = client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .include(ecs::ServiceField::Tags)
            .send()
            .await
            .map_err(aws_err("DescribeServices"))?;
        for service in output.services() {
            let observed = observed(service);
            result.found.insert(observed.name.clone(), observed);
        }
        for failure in output.failures() {
            // The failure ARN ends with the service name (with or without a cluster segment).
            if let Some(name) = failure.arn().and_then(|arn| arn.rsplit('/').next())
                && failure.reason() == Some("MISSING")
            {
                result.missing.push(name.to_string());
            }
        }
    }
    Ok(result)
}

fn build_error(err: aws_smithy_types::error::operation::BuildError) -> AwsError {
    AwsError {
        operation: "UpdateService",
        code: "InvalidRequest".into(),
        message: err.to_string(),
        class: ErrorClass::Terminal,
    }
}

fn network_configuration(
    n: &api::NetworkConfiguration,
) -> Result<ecs::NetworkConfiguration, AwsError> {
    let a = &n.awsvpc_configuration;
    let vpc = ecs::AwsVpcConfiguration::builder()
        .set_subnets(Some(a.subnets.iter().map(|s| s.0.clone()).collect()))
        .set_security_groups(
            (!a.security_groups.is_empty())
                .then(|| a.security_groups.iter().map(|s| s.0.clone()).collect()),
        )
        .set_assign_public_ip(
            a.assign_public_ip
                .map(|p| ecs::AssignPublicIp::from(wire(&p).as_str())),
        )
        .build()
        .map_err(build_error)?;
    Ok(ecs::NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build())
}

fn capacity_provider_strategy(
    items: &[api::CapacityProviderStrategyItem],
) -> Result<Vec<ecs::CapacityProviderStrategyItem>, AwsError> {
    items
        .iter()
        .map(|c| {
            ecs::CapacityProviderStrategyItem::builder()
                .capacity_provider(&c.capacity_provider)
                .set_weight(c.weight)
                .set_base(c.base)
                .build()
                .map_err(build_error)
        })
        .collect()
}

fn load_balancers(items: &[api::LoadBalancer]) -> Vec<ecs::LoadBalancer> {
    items
        .iter()
        .map(|l| {
            ecs::LoadBalancer::builder()
                .target_group_arn(&l.target_group_arn)
                .container_name(&l.container_name)
                .container_port(l.container_port)
                .build()
        })
        .collect()
}

fn deployment_configuration(
    d: &api::DeploymentConfiguration,
) -> Result<ecs::DeploymentConfiguration, AwsError> {
    let breaker = d.deployment_circuit_breaker.as_ref().map(|c| {
        ecs::DeploymentCircuitBreaker::builder()
            .enable(c.enable)
            .rollback(c.rollback)
            .build()
    });
    let alarms = d
        .alarms
        .as_ref()
        .map(|a| {
            ecs::DeploymentAlarms::builder()
                .set_alarm_names(Some(a.alarm_names.clone()))
                .enable(a.enable)
                .rollback(a.rollback)
                .build()
        })
        .transpose()
        .map_err(build_error)?;
    Ok(ecs::DeploymentConfiguration::builder()
        .set_minimum_healthy_percent(d.minimum_healthy_percent)
        .set_maximum_percent(d.maximum_percent)
        .set_deployment_circuit_breaker(breaker)
        .set_alarms(alarms)
        .build())
}

fn placement_constraints(items: &[api::PlacementConstraint]) -> Vec<ecs::PlacementConstraint> {
    items
        .iter()
        .map(|p| {
            ecs::PlacementConstraint::builder()
                .r#type(ecs::PlacementConstraintType::from(p.type_.as_str()))
                .set_expression(p.expression.clone())
                .build()
        })
        .collect()
}

fn placement_strategy(items: &[api::PlacementStrategy]) -> Vec<ecs::PlacementStrategy> {
    items
        .iter()
        .map(|p| {
            ecs::PlacementStrategy::builder()
                .r#type(ecs::PlacementStrategyType::from(p.type_.as_str()))
                .set_field(p.field.clone())
                .build()
        })
        .collect()
}

/// Service Connect as the SDK's type. A `namespaceRef` must have been resolved into
/// `namespace` before (see the controller's `resolve_service_connect`).
pub fn service_connect(
    c: &api::ServiceConnectConfiguration,
) -> Result<ecs::ServiceConnectConfiguration, AwsError> {
    let services = c
        .services
        .iter()
        .map(|s| {
            let aliases = s
                .client_aliases
                .iter()
                .map(|a| {
                    let rules = a
                        .test_traffic_rules
                        .as_ref()
                        .map(|r| {
                            let header = r
                                .header
                                .as_ref()
                                .map(|h| {
                                    let value = h
                                        .value
                                        .as_ref()
                                        .map(|v| {
                                            ecs::ServiceConnectTestTrafficHeaderMatchRules::builder(
                                            )
                                            .exact(&v.exact)
                                            .build()
                                        })
                                        .transpose()?;
                                    ecs::ServiceConnectTestTrafficHeaderRules::builder()
                                        .name(&h.name)
                                        .set_value(value)
                                        .build()
                                })
                                .transpose()?;
                            Ok::<_, aws_smithy_types::error::operation::BuildError>(
                                ecs::ServiceConnectTestTrafficRules::builder()
                                    .set_header(header)
                                    .build(),
                            )
                        })
                        .transpose()?;
                    ecs::ServiceConnectClientAlias::builder()
                        .port(a.port)
                        .set_dns_name(a.dns_name.clone())
                        .set_test_traffic_rules(rules)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let timeout = s.timeout.as_ref().map(|t| {
                ecs::TimeoutConfiguration::builder()
                    .set_idle_timeout_seconds(t.idle_timeout_seconds)
                    .set_per_request_timeout_seconds(t.per_request_timeout_seconds)
                    .build()
            });
            let tls = s.tls.as_ref().map(|t| {
                ecs::ServiceConnectTlsConfiguration::builder()
                    .issuer_certificate_authority(
                        ecs::ServiceConnectTlsCertificateAuthority::builder()
                            .aws_pca_authority_arn(
                                &t.issuer_certificate_authority.aws_pca_authority_arn,
                            )
                            .build(),
                    )
                    .set_kms_key(t.kms_key.clone())
                    .set_role_arn(t.role_arn.clone())
                    .build()
            });
            ecs::ServiceConnectService::builder()
                .port_name(&s.port_name)
                .set_discovery_name(s.discovery_name.clone())
                .set_client_aliases((!aliases.is_empty()).then_some(aliases))
                .set_ingress_port_override(s.ingress_port_override)
                .set_timeout(timeout)
                .set_tls(tls)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(build_error)?;
    let log_configuration = c
        .log_configuration
        .as_ref()
        .map(super::ecs_task_definition::log_configuration)
        .transpose()
        .map_err(build_error)?;
    let access_log_configuration =
        c.access_log_configuration
            .as_ref()
            .map(|a| {
                ecs::ServiceConnectAccessLogConfiguration::builder()
                    .format(ecs::ServiceConnectAccessLoggingFormat::from(
                        wire(&a.format).as_str(),
                    ))
                    .set_include_query_parameters(a.include_query_parameters.map(|i| {
                        ecs::ServiceConnectIncludeQueryParameters::from(wire(&i).as_str())
                    }))
                    .build()
            })
            .transpose()
            .map_err(build_error)?;
    Ok(ecs::ServiceConnectConfiguration::builder()
        .enabled(c.enabled)
        .set_namespace(c.namespace.clone())
        .set_services((!services.is_empty()).then_some(services))
        .set_log_configuration(log_configuration)
        .set_access_log_configuration(access_log_configuration)
        .build())
}

/// Service Connect as ECS reports it, in our vocabulary.
pub fn observed_service_connect(
    c: &ecs::ServiceConnectConfiguration,
) -> api::ServiceConnectConfiguration {
    api::ServiceConnectConfiguration {
        enabled: c.enabled(),
        namespace: c.namespace().map(str::to_string),
        namespace_ref: None,
        services: c
            .services()
            .iter()
            .map(|s| api::ServiceConnectService {
                port_name: s.port_name().to_string(),
                discovery_name: s.discovery_name().map(str::to_string),
                client_aliases: s
                    .client_aliases()
                    .iter()
                    .map(|a| api::ServiceConnectClientAlias {
                        port: a.port(),
                        dns_name: a.dns_name().map(str::to_string),
                        test_traffic_rules: a.test_traffic_rules().map(|r| {
                            api::ServiceConnectTestTrafficRules {
                                header: r.header().map(|h| {
                                    api::ServiceConnectTestTrafficHeaderRules {
                                        name: h.name().to_string(),
                                        value: h.value().map(|v| {
                                            api::ServiceConnectTestTrafficHeaderMatchRules {
                                                exact: v.exact().to_string(),
                                            }
                                        }),
                                    }
                                }),
                            }
                        }),
                    })
                    .collect(),
                ingress_port_override: s.ingress_port_override(),
                timeout: s.timeout().map(|t| api::ServiceConnectTimeout {
                    idle_timeout_seconds: t.idle_timeout_seconds(),
                    per_request_timeout_seconds: t.per_request_timeout_seconds(),
                }),
                tls: s.tls().map(|t| api::ServiceConnectTls {
                    issuer_certificate_authority: api::ServiceConnectTlsCertificateAuthority {
                        aws_pca_authority_arn: t
                            .issuer_certificate_authority()
                            .and_then(|a| a.aws_pca_authority_arn())
                            .unwrap_or_default()
                            .to_string(),
                    },
                    kms_key: t.kms_key().map(str::to_string),
                    role_arn: t.role_arn().map(str::to_string),
                }),
            })
            .collect(),
        log_configuration: c
            .log_configuration()
            .and_then(super::ecs_task_definition::observed_log_configuration),
        access_log_configuration: c.access_log_configuration().map(|a| {
            api::ServiceConnectAccessLogConfiguration {
                format: from_wire(a.format().as_str()).unwrap_or_default(),
                include_query_parameters: a
                    .include_query_parameters()
                    .and_then(|i| from_wire(i.as_str())),
            }
        }),
    }
}

/// The tags to set, in TagResource calls: the operator's own (`ecs-operator.dev/`) first, on
/// their own, then the user's. The IAM policy lets the operator tag a resource it does not own
/// yet (adoption) only with its own tag keys; once those are on, the user's tags are a change
/// to a resource it owns.
fn operator_tags_first(to_set: &BTreeMap<String, String>) -> Vec<BTreeMap<String, String>> {
    let (operator, user): (BTreeMap<_, _>, BTreeMap<_, _>) = to_set
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(k, _)| k.starts_with(tags::PREFIX));
    [operator, user]
        .into_iter()
        .filter(|batch| !batch.is_empty())
        .collect()
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Vec<ecs::Tag> {
    tags.iter()
        .map(|(k, v)| ecs::Tag::builder().key(k).value(v).build())
        .collect()
}

fn volume_configurations(
    items: &[api::ServiceVolumeConfiguration],
) -> Result<Vec<ecs::ServiceVolumeConfiguration>, AwsError> {
    items
        .iter()
        .map(|v| {
            let ebs = &v.managed_ebs_volume;
            let managed = ecs::ServiceManagedEbsVolumeConfiguration::builder()
                .role_arn(&ebs.role_arn)
                .set_encrypted(ebs.encrypted)
                .set_kms_key_id(ebs.kms_key_id.clone())
                .set_volume_type(ebs.volume_type.clone())
                .set_size_in_gib(ebs.size_in_gib)
                .set_snapshot_id(ebs.snapshot_id.clone())
                .set_iops(ebs.iops)
                .set_throughput(ebs.throughput)
                .set_filesystem_type(
                    ebs.filesystem_type
                        .as_deref()
                        .map(ecs::TaskFilesystemType::from),
                )
                .build()
                .map_err(build_error)?;
            ecs::ServiceVolumeConfiguration::builder()
                .name(&v.name)
                .managed_ebs_volume(managed)
                .build()
                .map_err(build_error)
        })
        .collect()
}

/// A Cloud Map registry for the ECS service's tasks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    pub registry_arn: String,
    pub container_name: Option<String>,
    pub container_port: Option<i32>,
}

fn registries(items: &[Registry]) -> Vec<ecs::ServiceRegistry> {
    items
        .iter()
        .map(|r| {
            ecs::ServiceRegistry::builder()
                .registry_arn(&r.registry_arn)
                .set_container_name(r.container_name.clone())
                .set_container_port(r.container_port)
                .build()
        })
        .collect()
}

/// Everything CreateService needs, resolved.
#[derive(Clone, Debug)]
pub struct CreateRequest<'a> {
    pub cluster: &'a str,
    pub name: &'a str,
    pub task_definition: &'a str,
    pub spec: &'a api::ECSServiceSpec,
    pub tags: &'a BTreeMap<String, String>,
    /// Idempotency token (at most 36 ASCII characters).
    pub client_token: &'a str,
    /// Cloud Map registries.
    pub service_registries: &'a [Registry],
}

pub async fn create(client: &Client, req: &CreateRequest<'_>) -> Result<ObservedService, AwsError> {
    let output = create_request(client, req)?
        .send()
        .await
        .map_err(aws_err("CreateService"))?;
    output.service().map(observed).ok_or_else(|| AwsError {
        operation: "CreateService",
        code: "ResponseError".into(),
        message: "response lacks service".into(),
        class: ErrorClass::Retryable,
    })
}

/// The CreateService call for `req`, not sent yet (pure: the conformance test reads it).
pub fn create_request(
    client: &Client,
    req: &CreateRequest<'_>,
) -> Result<aws_sdk_ecs::operation::create_service::builders::CreateServiceFluentBuilder, AwsError>
{
    let spec = req.spec;
    Ok(client
        .create_service()
        .cluster(req.cluster)
        .service_name(req.name)
        .task_definition(req.task_definition)
        .set_desired_count(spec.desired_count)
        .set_launch_type(
            spec.launch_type
                .map(|l| ecs::LaunchType::from(wire(&l).as_str())),
        )
        .set_capacity_provider_strategy(
            (!spec.capacity_provider_strategy.is_empty())
                .then(|| capacity_provider_strategy(&spec.capacity_provider_strategy))
                .transpose()?,
        )
        .set_platform_version(spec.platform_version.clone())
        .set_network_configuration(
            spec.network_configuration
                .as_ref()
                .map(network_configuration)
                .transpose()?,
        )
        .set_load_balancers(
            (!spec.load_balancers.is_empty()).then(|| load_balancers(&spec.load_balancers)),
        )
        .set_deployment_configuration(
            spec.deployment_configuration
                .as_ref()
                .map(deployment_configuration)
                .transpose()?,
        )
        .set_deployment_controller(
            spec.deployment_controller
                .map(|d| {
                    ecs::DeploymentController::builder()
                        .r#type(ecs::DeploymentControllerType::from(wire(&d).as_str()))
                        .build()
                })
                .transpose()
                .map_err(build_error)?,
        )
        .set_placement_constraints(
            (!spec.placement_constraints.is_empty())
                .then(|| placement_constraints(&spec.placement_constraints)),
        )
        .set_placement_strategy(
            (!spec.placement_strategy.is_empty())
                .then(|| placement_strategy(&spec.placement_strategy)),
        )
        .set_health_check_grace_period_seconds(spec.health_check_grace_period_seconds)
        .set_scheduling_strategy(
            spec.scheduling_strategy
                .map(|s| ecs::SchedulingStrategy::from(wire(&s).as_str())),
        )
        .set_enable_execute_command(spec.enable_execute_command)
        .set_enable_ecs_managed_tags(spec.enable_ecs_managed_tags)
        .set_propagate_tags(
            spec.propagate_tags
                .map(|p| ecs::PropagateTags::from(wire(&p).as_str())),
        )
        .set_service_connect_configuration(
            spec.service_connect_configuration
                .as_ref()
                .map(service_connect)
                .transpose()?,
        )
        .set_availability_zone_rebalancing(
            spec.availability_zone_rebalancing
                .map(|a| ecs::AvailabilityZoneRebalancing::from(wire(&a).as_str())),
        )
        .set_tags(Some(sdk_tags(req.tags)))
        .set_service_registries(
            (!req.service_registries.is_empty()).then(|| registries(req.service_registries)),
        )
        .set_volume_configurations(
            (!spec.volume_configurations.is_empty())
                .then(|| volume_configurations(&spec.volume_configurations))
                .transpose()?,
        )
        .client_token(req.client_token))
}

/// The fields one UpdateService call changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceUpdate {
    pub task_definition: Option<String>,
    pub desired_count: Option<i32>,
    pub capacity_provider_strategy: Option<Vec<api::CapacityProviderStrategyItem>>,
    pub platform_version: Option<String>,
    pub network_configuration: Option<api::NetworkConfiguration>,
    pub load_balancers: Option<Vec<api::LoadBalancer>>,
    pub deployment_configuration: Option<api::DeploymentConfiguration>,
    pub placement_constraints: Option<Vec<api::PlacementConstraint>>,
    pub placement_strategy: Option<Vec<api::PlacementStrategy>>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub enable_execute_command: Option<bool>,
    pub enable_ecs_managed_tags: Option<bool>,
    pub propagate_tags: Option<api::PropagateTags>,
    pub service_connect_configuration: Option<api::ServiceConnectConfiguration>,
    pub availability_zone_rebalancing: Option<api::EnabledDisabled>,
    /// Cloud Map registries (an empty list detaches the service).
    pub service_registries: Option<Vec<Registry>>,
    pub volume_configurations: Option<Vec<api::ServiceVolumeConfiguration>>,
    pub force_new_deployment: bool,
}

pub async fn update(
    client: &Client,
    cluster: &str,
    name: &str,
    u: &ServiceUpdate,
) -> Result<ObservedService, AwsError> {
    let output = update_request(client, cluster, name, u)?
        .send()
        .await
        .map_err(aws_err("UpdateService"))?;
    output.service().map(observed).ok_or_else(|| AwsError {
        operation: "UpdateService",
        code: "ResponseError".into(),
        message: "response lacks service".into(),
        class: ErrorClass::Retryable,
    })
}

/// The UpdateService call for `u`, not sent yet (pure: the conformance test reads it).
pub fn update_request(
    client: &Client,
    cluster: &str,
    name: &str,
    u: &ServiceUpdate,
) -> Result<aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder, AwsError>
{
    Ok(client
        .update_service()
        .cluster(cluster)
        .service(name)
        .set_task_definition(u.task_definition.clone())
        .set_desired_count(u.desired_count)
        .set_capacity_provider_strategy(
            u.capacity_provider_strategy
                .as_deref()
                .map(capacity_provider_strategy)
                .transpose()?,
        )
        .set_platform_version(u.platform_version.clone())
        .set_network_configuration(
            u.network_configuration
                .as_ref()
                .map(network_configuration)
                .transpose()?,
        )
        .set_load_balancers(u.load_balancers.as_deref().map(load_balancers))
        .set_deployment_configuration(
            u.deployment_configuration
                .as_ref()
                .map(deployment_configuration)
                .transpose()?,
        )
        .set_placement_constraints(
            u.placement_constraints
                .as_deref()
                .map(placement_constraints),
        )
        .set_placement_strategy(u.placement_strategy.as_deref().map(placement_strategy))
        .set_health_check_grace_period_seconds(u.health_check_grace_period_seconds)
        .set_enable_execute_command(u.enable_execute_command)
        .set_enable_ecs_managed_tags(u.enable_ecs_managed_tags)
        .set_propagate_tags(
            u.propagate_tags
                .map(|p| ecs::PropagateTags::from(wire(&p).as_str())),
        )
        .set_service_connect_configuration(
            u.service_connect_configuration
                .as_ref()
                .map(service_connect)
                .transpose()?,
        )
        .set_availability_zone_rebalancing(
            u.availability_zone_rebalancing
                .map(|a| ecs::AvailabilityZoneRebalancing::from(wire(&a).as_str())),
        )
        .set_service_registries(u.service_registries.as_deref().map(registries))
        .set_volume_configurations(
            u.volume_configurations
                .as_deref()
                .map(volume_configurations)
                .transpose()?,
        )
        .force_new_deployment(u.force_new_deployment))
}

/// Deletes a service even while it runs tasks (`force`); ECS drains it (DRAINING → INACTIVE).
pub async fn delete(client: &Client, cluster: &str, name: &str) -> Result<(), AwsError> {
    match client
        .delete_service()
        .cluster(cluster)
        .service(name)
        .force(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) => {
            let err = super::error::from_sdk("DeleteService", err);
            if err.is_not_found() { Ok(()) } else { Err(err) }
        }
    }
}

/// Sets and removes tags on a service, cluster or capacity provider.
pub async fn sync_tags(
    client: &Client,
    arn: &str,
    to_set: &BTreeMap<String, String>,
    to_remove: &[String],
) -> Result<(), AwsError> {
    for batch in operator_tags_first(to_set) {
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(sdk_tags(&batch)))
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

/// Resolves `family:revision` to the full ARN (ECS reports services with full ARNs, and the
/// operator always passes full ARNs). Full ARNs are returned as they are.
pub async fn resolve_task_definition(client: &Client, reference: &str) -> Result<String, AwsError> {
    if reference.starts_with("arn:") {
        return Ok(reference.to_string());
    }
    let output = client
        .describe_task_definition()
        .task_definition(reference)
        .send()
        .await
        .map_err(aws_err("DescribeTaskDefinition"))?;
    output
        .task_definition()
        .and_then(|td| td.task_definition_arn())
        .map(str::to_string)
        .ok_or_else(|| AwsError {
            operation: "DescribeTaskDefinition",
            code: "ClientException".into(),
            message: format!("task definition {reference} not found"),
            class: ErrorClass::Terminal,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn adoption_sets_the_operator_tags_before_the_users() {
        let to_set = map(&[
            ("team", "a"),
            ("ecs-operator.dev/uid", "u"),
            ("ecs-operator.dev/namespace", "ns"),
        ]);
        assert_eq!(
            operator_tags_first(&to_set),
            vec![
                map(&[
                    ("ecs-operator.dev/namespace", "ns"),
                    ("ecs-operator.dev/uid", "u")
                ]),
                map(&[("team", "a")]),
            ]
        );
    }

    #[test]
    fn one_call_when_only_one_kind_of_tag_changes() {
        let user = map(&[("team", "a"), ("env", "prod")]);
        assert_eq!(operator_tags_first(&user), vec![user.clone()]);
        assert!(operator_tags_first(&BTreeMap::new()).is_empty());
    }
}
