//! ECS cluster and capacity provider calls, and the translation between our spec types and
//! the SDK's.
//!
//! Observed clusters and providers are converted into our own vocabulary (`ObservedCluster`,
//! `ObservedCapacityProvider`, using the API types) so that the pure plans compare like with
//! like. Reads are batched: DescribeClusters and DescribeCapacityProviders take up to 100
//! names per call.

use std::collections::BTreeMap;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types as ecs;

use super::error::{AwsError, ErrorClass, aws_err, from_sdk};
use crate::api::capacity_provider as cp_api;
use crate::api::ecs_cluster as api;
use crate::api::ecs_service::{CapacityProviderStrategyItem, EnabledDisabled};

/// DescribeClusters and DescribeCapacityProviders take up to 100 names per call.
pub const DESCRIBE_BATCH: usize = 100;

/// What the operator knows about one ECS cluster after DescribeClusters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedCluster {
    pub arn: String,
    pub name: String,
    /// `ACTIVE`, `PROVISIONING`, `DEPROVISIONING`, `FAILED` or `INACTIVE`.
    pub status: String,
    pub registered_container_instances_count: i32,
    pub running_tasks_count: i32,
    pub pending_tasks_count: i32,
    pub active_services_count: i32,
    /// `None` when ECS does not report the setting.
    pub container_insights: Option<api::ContainerInsights>,
    pub execute_command_configuration: Option<api::ExecuteCommandConfiguration>,
    /// Service Connect default namespace (ECS reports an ARN).
    pub service_connect_namespace: Option<String>,
    pub capacity_providers: Vec<String>,
    pub default_capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    pub tags: BTreeMap<String, String>,
}

impl ObservedCluster {
    /// Whether the cluster exists for practical purposes (anything but INACTIVE).
    pub fn exists(&self) -> bool {
        self.status != "INACTIVE"
    }
}

/// What the operator knows about one capacity provider after DescribeCapacityProviders.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedCapacityProvider {
    pub arn: String,
    pub name: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// e.g. `UPDATE_COMPLETE`, `DELETE_IN_PROGRESS`, `DELETE_FAILED`.
    pub update_status: Option<String>,
    pub update_status_reason: Option<String>,
    pub auto_scaling_group_arn: String,
    /// Managed scaling with every field ECS reports.
    pub managed_scaling: Option<cp_api::ManagedScaling>,
    pub managed_termination_protection: Option<EnabledDisabled>,
    pub managed_draining: Option<EnabledDisabled>,
    pub tags: BTreeMap<String, String>,
}

impl ObservedCapacityProvider {
    /// Whether the provider exists for practical purposes (not deleted or being deleted).
    pub fn exists(&self) -> bool {
        self.status != "INACTIVE"
            && !matches!(
                self.update_status.as_deref(),
                Some("DELETE_COMPLETE" | "DELETE_IN_PROGRESS")
            )
    }
}

/// The serialized (wire) form of one of our enums, which is also ECS's spelling.
fn wire<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Parses ECS's spelling into one of our enums (`None` for values we do not model).
fn from_wire<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

fn tags_of(tags: &[ecs::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Vec<ecs::Tag> {
    tags.iter()
        .map(|(k, v)| ecs::Tag::builder().key(k).value(v).build())
        .collect()
}

fn build_error(
    operation: &'static str,
) -> impl Fn(aws_smithy_types::error::operation::BuildError) -> AwsError {
    move |err| AwsError {
        operation,
        code: "InvalidRequest".into(),
        message: err.to_string(),
        class: ErrorClass::Terminal,
    }
}

fn missing_in_response(operation: &'static str, what: &str) -> AwsError {
    AwsError {
        operation,
        code: "ResponseError".into(),
        message: format!("response lacks {what}"),
        class: ErrorClass::Retryable,
    }
}

/// Converts a described cluster into our vocabulary.
pub fn observed_cluster(c: &ecs::Cluster) -> ObservedCluster {
    let container_insights = c
        .settings()
        .iter()
        .find(|s| s.name() == Some(&ecs::ClusterSettingName::ContainerInsights))
        .and_then(|s| s.value())
        .and_then(from_wire);
    let execute_command_configuration = c
        .configuration()
        .and_then(|conf| conf.execute_command_configuration())
        .map(|e| api::ExecuteCommandConfiguration {
            kms_key_id: e.kms_key_id().map(str::to_string),
            logging: e.logging().and_then(|l| from_wire(l.as_str())),
            log_configuration: e
                .log_configuration()
                .map(|l| api::ExecuteCommandLogConfiguration {
                    cloud_watch_log_group_name: l.cloud_watch_log_group_name().map(str::to_string),
                    cloud_watch_encryption_enabled: Some(l.cloud_watch_encryption_enabled()),
                    s3_bucket_name: l.s3_bucket_name().map(str::to_string),
                    s3_encryption_enabled: Some(l.s3_encryption_enabled()),
                    s3_key_prefix: l.s3_key_prefix().map(str::to_string),
                }),
        });
    let mut capacity_providers = c.capacity_providers().to_vec();
    capacity_providers.sort();
    ObservedCluster {
        arn: c.cluster_arn().unwrap_or_default().to_string(),
        name: c.cluster_name().unwrap_or_default().to_string(),
        status: c.status().unwrap_or_default().to_string(),
        registered_container_instances_count: c.registered_container_instances_count(),
        running_tasks_count: c.running_tasks_count(),
        pending_tasks_count: c.pending_tasks_count(),
        active_services_count: c.active_services_count(),
        container_insights,
        execute_command_configuration,
        service_connect_namespace: c
            .service_connect_defaults()
            .and_then(|d| d.namespace())
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        capacity_providers,
        default_capacity_provider_strategy: c
            .default_capacity_provider_strategy()
            .iter()
            .map(|s| CapacityProviderStrategyItem {
                capacity_provider: s.capacity_provider().to_string(),
                weight: Some(s.weight()),
                base: Some(s.base()),
            })
            .collect(),
        tags: tags_of(c.tags()),
    }
}

/// The cluster name of a cluster name or ARN.
pub fn cluster_name_of(cluster: &str) -> &str {
    match cluster.split_once(":cluster/") {
        Some((_, name)) => name,
        None => cluster,
    }
}

/// Result of describing a batch of clusters.
#[derive(Clone, Debug, Default)]
pub struct DescribedClusters {
    /// Found clusters (INACTIVE ones included) by name.
    pub found: BTreeMap<String, ObservedCluster>,
    /// Names ECS reported as MISSING.
    pub missing: Vec<String>,
}

/// Describes clusters (names or ARNs), 100 per call, with settings, configuration and tags.
pub async fn describe_clusters(
    client: &Client,
    clusters: &[String],
) -> Result<DescribedClusters, AwsError> {
    let mut result = DescribedClusters::default();
    for chunk in clusters.chunks(DESCRIBE_BATCH) {
        let output = client
            .describe_clusters()
            .set_clusters(Some(chunk.to_vec()))
            .include(ecs::ClusterField::Settings)
            .include(ecs::ClusterField::Configurations)
            .include(ecs::ClusterField::Tags)
            .send()
            .await
            .map_err(aws_err("DescribeClusters"))?;
        for cluster in output.clusters() {
            let observed = observed_cluster(cluster);
            result.found.insert(observed.name.clone(), observed);
        }
        for failure in output.failures() {
            if failure.reason() == Some("MISSING")
                && let Some(name) = failure.arn().map(cluster_name_of)
            {
                result.missing.push(name.to_string());
            }
        }
    }
    Ok(result)
}

fn strategy(
    items: &[CapacityProviderStrategyItem],
    operation: &'static str,
) -> Result<Vec<ecs::CapacityProviderStrategyItem>, AwsError> {
    items
        .iter()
        .map(|c| {
            ecs::CapacityProviderStrategyItem::builder()
                .capacity_provider(&c.capacity_provider)
                .set_weight(c.weight)
                .set_base(c.base)
                .build()
                .map_err(build_error(operation))
        })
        .collect()
}

fn settings(insights: api::ContainerInsights) -> Vec<ecs::ClusterSetting> {
    vec![
        ecs::ClusterSetting::builder()
            .name(ecs::ClusterSettingName::ContainerInsights)
            .value(wire(&insights))
            .build(),
    ]
}

fn configuration(e: &api::ExecuteCommandConfiguration) -> ecs::ClusterConfiguration {
    let log = e.log_configuration.as_ref().map(|l| {
        ecs::ExecuteCommandLogConfiguration::builder()
            .set_cloud_watch_log_group_name(l.cloud_watch_log_group_name.clone())
            .set_cloud_watch_encryption_enabled(l.cloud_watch_encryption_enabled)
            .set_s3_bucket_name(l.s3_bucket_name.clone())
            .set_s3_encryption_enabled(l.s3_encryption_enabled)
            .set_s3_key_prefix(l.s3_key_prefix.clone())
            .build()
    });
    ecs::ClusterConfiguration::builder()
        .execute_command_configuration(
            ecs::ExecuteCommandConfiguration::builder()
                .set_kms_key_id(e.kms_key_id.clone())
                .set_logging(
                    e.logging
                        .map(|l| ecs::ExecuteCommandLogging::from(wire(&l).as_str())),
                )
                .set_log_configuration(log)
                .build(),
        )
        .build()
}

fn service_connect_defaults(
    namespace: &str,
    operation: &'static str,
) -> Result<ecs::ClusterServiceConnectDefaultsRequest, AwsError> {
    ecs::ClusterServiceConnectDefaultsRequest::builder()
        .namespace(namespace)
        .build()
        .map_err(build_error(operation))
}

/// Everything CreateCluster needs, resolved.
#[derive(Clone, Debug)]
pub struct CreateClusterRequest<'a> {
    pub name: &'a str,
    pub container_insights: Option<api::ContainerInsights>,
    pub execute_command_configuration: Option<&'a api::ExecuteCommandConfiguration>,
    pub service_connect_namespace: Option<&'a str>,
    /// Providers and default strategy; `None` leaves them to ECS.
    pub capacity_providers: Option<(&'a [String], &'a [CapacityProviderStrategyItem])>,
    pub tags: &'a BTreeMap<String, String>,
}

pub async fn create_cluster(
    client: &Client,
    req: &CreateClusterRequest<'_>,
) -> Result<ObservedCluster, AwsError> {
    const OP: &str = "CreateCluster";
    let output = create_cluster_request(client, req)?
        .send()
        .await
        .map_err(aws_err(OP))?;
    output
        .cluster()
        .map(observed_cluster)
        .ok_or_else(|| missing_in_response(OP, "cluster"))
}

/// The CreateCluster call for `req`, not sent yet (pure: the conformance test reads it).
pub fn create_cluster_request(
    client: &Client,
    req: &CreateClusterRequest<'_>,
) -> Result<aws_sdk_ecs::operation::create_cluster::builders::CreateClusterFluentBuilder, AwsError>
{
    const OP: &str = "CreateCluster";
    let (providers, default_strategy) = match req.capacity_providers {
        Some((providers, items)) => (Some(providers.to_vec()), Some(strategy(items, OP)?)),
        None => (None, None),
    };
    Ok(client
        .create_cluster()
        .cluster_name(req.name)
        .set_settings(req.container_insights.map(settings))
        .set_configuration(req.execute_command_configuration.map(configuration))
        .set_service_connect_defaults(
            req.service_connect_namespace
                .map(|n| service_connect_defaults(n, OP))
                .transpose()?,
        )
        .set_capacity_providers(providers)
        .set_default_capacity_provider_strategy(default_strategy)
        .set_tags(Some(sdk_tags(req.tags))))
}

/// The fields one UpdateCluster call changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterUpdate {
    pub container_insights: Option<api::ContainerInsights>,
    pub execute_command_configuration: Option<api::ExecuteCommandConfiguration>,
    pub service_connect_namespace: Option<String>,
}

/// Applies settings, configuration and Service Connect defaults with one UpdateCluster (which
/// takes settings too; UpdateClusterSettings is not needed).
pub async fn update_cluster(
    client: &Client,
    cluster: &str,
    u: &ClusterUpdate,
) -> Result<ObservedCluster, AwsError> {
    const OP: &str = "UpdateCluster";
    let output = client
        .update_cluster()
        .cluster(cluster)
        .set_settings(u.container_insights.map(settings))
        .set_configuration(u.execute_command_configuration.as_ref().map(configuration))
        .set_service_connect_defaults(
            u.service_connect_namespace
                .as_deref()
                .map(|n| service_connect_defaults(n, OP))
                .transpose()?,
        )
        .send()
        .await
        .map_err(aws_err(OP))?;
    output
        .cluster()
        .map(observed_cluster)
        .ok_or_else(|| missing_in_response(OP, "cluster"))
}

/// Sets the complete list of capacity providers and the default strategy. ECS refuses
/// (`ResourceInUseException`) to dissociate a provider that a service's strategy uses.
pub async fn put_capacity_providers(
    client: &Client,
    cluster: &str,
    providers: &[String],
    default_strategy: &[CapacityProviderStrategyItem],
) -> Result<ObservedCluster, AwsError> {
    const OP: &str = "PutClusterCapacityProviders";
    let output = client
        .put_cluster_capacity_providers()
        .cluster(cluster)
        .set_capacity_providers(Some(providers.to_vec()))
        .set_default_capacity_provider_strategy(Some(strategy(default_strategy, OP)?))
        .send()
        .await
        .map_err(aws_err(OP))?;
    output
        .cluster()
        .map(observed_cluster)
        .ok_or_else(|| missing_in_response(OP, "cluster"))
}

/// Error codes with which ECS refuses to delete a cluster that still has work in it.
pub const CLUSTER_IN_USE_CODES: &[&str] = &[
    "ClusterContainsServicesException",
    "ClusterContainsTasksException",
    "ClusterContainsContainerInstancesException",
    "ClusterContainsCapacityProviderException",
    "UpdateInProgressException",
];

/// How a DeleteCluster ended.
#[derive(Clone, Debug)]
pub enum ClusterDeletion {
    /// ECS accepted: the cluster is INACTIVE (or DEPROVISIONING on its way there).
    Deleted(String),
    /// There was no such cluster.
    Gone,
    /// ECS refused because the cluster is still in use; the AWS error says by what.
    InUse(AwsError),
}

pub async fn delete_cluster(client: &Client, cluster: &str) -> Result<ClusterDeletion, AwsError> {
    match client.delete_cluster().cluster(cluster).send().await {
        Ok(output) => Ok(ClusterDeletion::Deleted(
            output
                .cluster()
                .and_then(|c| c.status())
                .unwrap_or("INACTIVE")
                .to_string(),
        )),
        Err(err) => {
            let err = from_sdk("DeleteCluster", err);
            if err.code == "ClusterNotFoundException" || err.is_not_found() {
                Ok(ClusterDeletion::Gone)
            } else if CLUSTER_IN_USE_CODES.contains(&err.code.as_str()) {
                Ok(ClusterDeletion::InUse(err))
            } else {
                Err(err)
            }
        }
    }
}

/// Names of the services of a cluster that still count (ACTIVE or DRAINING), sorted.
/// ListServices may also report INACTIVE ones, so the list is checked with DescribeServices.
pub async fn services_in_cluster(client: &Client, cluster: &str) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut pages = client
        .list_services()
        .cluster(cluster)
        .max_results(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => names.extend(
                page.service_arns()
                    .iter()
                    .filter_map(|arn| arn.rsplit('/').next())
                    .map(str::to_string),
            ),
            Err(err) => {
                let err = from_sdk("ListServices", err);
                if err.code == "ClusterNotFoundException" {
                    return Ok(Vec::new());
                }
                return Err(err);
            }
        }
    }
    if names.is_empty() {
        return Ok(names);
    }
    let described = super::ecs_service::describe(client, cluster, &names).await?;
    let mut live: Vec<String> = described
        .found
        .into_values()
        .filter(|s| s.status == "ACTIVE" || s.status == "DRAINING")
        .map(|s| s.name)
        .collect();
    live.sort();
    Ok(live)
}

// ---------------------------------------------------------------------------------------
// Capacity providers

/// Converts a described capacity provider into our vocabulary.
pub fn observed_capacity_provider(p: &ecs::CapacityProvider) -> ObservedCapacityProvider {
    let asg = p.auto_scaling_group_provider();
    ObservedCapacityProvider {
        arn: p.capacity_provider_arn().unwrap_or_default().to_string(),
        name: p.name().unwrap_or_default().to_string(),
        status: p
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        update_status: p.update_status().map(|s| s.as_str().to_string()),
        update_status_reason: p.update_status_reason().map(str::to_string),
        auto_scaling_group_arn: asg
            .map(|a| a.auto_scaling_group_arn().to_string())
            .unwrap_or_default(),
        managed_scaling: asg
            .and_then(|a| a.managed_scaling())
            .map(|m| cp_api::ManagedScaling {
                status: m.status().and_then(|s| from_wire(s.as_str())),
                target_capacity: m.target_capacity(),
                minimum_scaling_step_size: m.minimum_scaling_step_size(),
                maximum_scaling_step_size: m.maximum_scaling_step_size(),
                instance_warmup_period: m.instance_warmup_period(),
            }),
        managed_termination_protection: asg
            .and_then(|a| a.managed_termination_protection())
            .and_then(|m| from_wire(m.as_str())),
        managed_draining: asg
            .and_then(|a| a.managed_draining())
            .and_then(|m| from_wire(m.as_str())),
        tags: tags_of(p.tags()),
    }
}

/// Result of describing a batch of capacity providers.
#[derive(Clone, Debug, Default)]
pub struct DescribedCapacityProviders {
    /// Found providers (INACTIVE ones included) by name.
    pub found: BTreeMap<String, ObservedCapacityProvider>,
    /// Names ECS reported as MISSING.
    pub missing: Vec<String>,
}

/// Describes capacity providers by name or ARN, 100 per call, with tags. (Always with names:
/// without them ECS lists every provider of the account, page by page.)
pub async fn describe_capacity_providers(
    client: &Client,
    names: &[String],
) -> Result<DescribedCapacityProviders, AwsError> {
    let mut result = DescribedCapacityProviders::default();
    for chunk in names.chunks(DESCRIBE_BATCH) {
        let output = client
            .describe_capacity_providers()
            .set_capacity_providers(Some(chunk.to_vec()))
            .include(ecs::CapacityProviderField::Tags)
            .send()
            .await
            .map_err(aws_err("DescribeCapacityProviders"))?;
        for provider in output.capacity_providers() {
            let observed = observed_capacity_provider(provider);
            result.found.insert(observed.name.clone(), observed);
        }
        for failure in output.failures() {
            if failure.reason() == Some("MISSING")
                && let Some(name) = failure.arn().and_then(|arn| arn.rsplit('/').next())
            {
                result.missing.push(name.to_string());
            }
        }
    }
    Ok(result)
}

fn managed_scaling(m: &cp_api::ManagedScaling) -> ecs::ManagedScaling {
    ecs::ManagedScaling::builder()
        .set_status(
            m.status
                .map(|s| ecs::ManagedScalingStatus::from(wire(&s).as_str())),
        )
        .set_target_capacity(m.target_capacity)
        .set_minimum_scaling_step_size(m.minimum_scaling_step_size)
        .set_maximum_scaling_step_size(m.maximum_scaling_step_size)
        .set_instance_warmup_period(m.instance_warmup_period)
        .build()
}

/// Everything CreateCapacityProvider needs, resolved.
#[derive(Clone, Debug)]
pub struct CreateCapacityProviderRequest<'a> {
    pub name: &'a str,
    pub spec: &'a cp_api::CapacityProviderSpec,
    pub tags: &'a BTreeMap<String, String>,
}

pub async fn create_capacity_provider(
    client: &Client,
    req: &CreateCapacityProviderRequest<'_>,
) -> Result<ObservedCapacityProvider, AwsError> {
    const OP: &str = "CreateCapacityProvider";
    let spec = req.spec;
    let provider = ecs::AutoScalingGroupProvider::builder()
        .auto_scaling_group_arn(&spec.auto_scaling_group_arn)
        .set_managed_scaling(spec.managed_scaling.as_ref().map(managed_scaling))
        .set_managed_termination_protection(
            spec.managed_termination_protection
                .map(|m| ecs::ManagedTerminationProtection::from(wire(&m).as_str())),
        )
        .set_managed_draining(
            spec.managed_draining
                .map(|m| ecs::ManagedDraining::from(wire(&m).as_str())),
        )
        .build()
        .map_err(build_error(OP))?;
    let output = client
        .create_capacity_provider()
        .name(req.name)
        .auto_scaling_group_provider(provider)
        .set_tags(Some(sdk_tags(req.tags)))
        .send()
        .await
        .map_err(aws_err(OP))?;
    output
        .capacity_provider()
        .map(observed_capacity_provider)
        .ok_or_else(|| missing_in_response(OP, "capacityProvider"))
}

/// The settings one UpdateCapacityProvider call sends: always complete (taken from the spec,
/// or from what ECS has for fields the spec leaves out), because ECS resets what is omitted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CapacityProviderUpdate {
    pub managed_scaling: Option<cp_api::ManagedScaling>,
    pub managed_termination_protection: Option<EnabledDisabled>,
    pub managed_draining: Option<EnabledDisabled>,
}

pub async fn update_capacity_provider(
    client: &Client,
    name: &str,
    u: &CapacityProviderUpdate,
) -> Result<ObservedCapacityProvider, AwsError> {
    const OP: &str = "UpdateCapacityProvider";
    let provider = ecs::AutoScalingGroupProviderUpdate::builder()
        .set_managed_scaling(u.managed_scaling.as_ref().map(managed_scaling))
        .set_managed_termination_protection(
            u.managed_termination_protection
                .map(|m| ecs::ManagedTerminationProtection::from(wire(&m).as_str())),
        )
        .set_managed_draining(
            u.managed_draining
                .map(|m| ecs::ManagedDraining::from(wire(&m).as_str())),
        )
        .build();
    let output = client
        .update_capacity_provider()
        .name(name)
        .auto_scaling_group_provider(provider)
        .send()
        .await
        .map_err(aws_err(OP))?;
    output
        .capacity_provider()
        .map(observed_capacity_provider)
        .ok_or_else(|| missing_in_response(OP, "capacityProvider"))
}

/// Asks ECS to delete a capacity provider. ECS deletes asynchronously: the answer carries the
/// update status (`DELETE_IN_PROGRESS`, or `DELETE_FAILED` with a reason, e.g. while a
/// cluster still has it). `None` when there was no such provider.
pub async fn delete_capacity_provider(
    client: &Client,
    name: &str,
) -> Result<Option<ObservedCapacityProvider>, AwsError> {
    match client
        .delete_capacity_provider()
        .capacity_provider(name)
        .send()
        .await
    {
        Ok(output) => Ok(output.capacity_provider().map(observed_capacity_provider)),
        Err(err) => {
            let err = from_sdk("DeleteCapacityProvider", err);
            if err.is_not_found() {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}
