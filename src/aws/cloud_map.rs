//! AWS Cloud Map calls: namespaces (asynchronous operations) and the services ECS registers
//! tasks in, with the translation from our spec types.

use std::collections::BTreeMap;

use aws_sdk_servicediscovery::Client;
use aws_sdk_servicediscovery::operation as sd_ops;
use aws_sdk_servicediscovery::types as sd;

use super::error::{AwsError, ErrorClass, aws_err};
use crate::api::cloud_map_namespace::NamespaceType;
use crate::api::ecs_service as api;

/// A namespace as observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedNamespace {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub type_: String,
    pub description: Option<String>,
    pub hosted_zone_id: Option<String>,
    pub soa_ttl: Option<i64>,
    pub tags: BTreeMap<String, String>,
}

/// State of an asynchronous Cloud Map operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationState {
    /// SUBMITTED or PENDING.
    Running,
    /// SUCCESS, with the namespace id it targeted (if any).
    Succeeded(Option<String>),
    /// FAIL with Cloud Map's code and message.
    Failed { code: String, message: String },
}

fn missing(operation: &'static str, what: &str) -> AwsError {
    AwsError {
        operation,
        code: "ResponseError".into(),
        message: format!("response lacks {what}"),
        class: ErrorClass::Retryable,
    }
}

fn sd_tags(tags: &BTreeMap<String, String>) -> Result<Vec<sd::Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| {
            sd::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError {
                    operation: "TagResource",
                    code: "InvalidRequest".into(),
                    message: e.to_string(),
                    class: ErrorClass::Terminal,
                })
        })
        .collect()
}

/// What CreateXNamespace needs.
#[derive(Clone, Debug)]
pub struct NamespaceRequest<'a> {
    pub type_: NamespaceType,
    pub name: &'a str,
    pub vpc: Option<&'a str>,
    pub description: Option<&'a str>,
    pub soa_ttl: Option<i64>,
    pub tags: &'a BTreeMap<String, String>,
    /// Makes the request idempotent across retries and restarts.
    pub creator_request_id: &'a str,
}

/// Starts creating a namespace; returns the operation id. When a create of this namespace is
/// already running (a retry, or a reconcile that ran before its status write was seen),
/// Cloud Map answers DuplicateRequest with that operation's id, which is returned instead:
/// the caller tracks the running create as its own.
pub async fn create_namespace(
    client: &Client,
    req: &NamespaceRequest<'_>,
) -> Result<String, AwsError> {
    let NamespaceRequest {
        type_,
        name,
        vpc,
        description,
        soa_ttl,
        tags,
        creator_request_id,
    } = *req;
    let tags = sd_tags(tags)?;
    let soa = |ttl: i64| sd::Soa::builder().ttl(ttl).build();
    let operation_id = match type_ {
        NamespaceType::HTTP => match client
            .create_http_namespace()
            .name(name)
            .set_description(description.map(str::to_string))
            .set_tags(Some(tags))
            .creator_request_id(creator_request_id)
            .send()
            .await
        {
            Ok(output) => output.operation_id().map(str::to_string),
            Err(err) => match err.as_service_error() {
                Some(
                    sd_ops::create_http_namespace::CreateHttpNamespaceError::DuplicateRequest(
                        running,
                    ),
                ) if running.duplicate_operation_id().is_some() => {
                    running.duplicate_operation_id().map(str::to_string)
                }
                _ => return Err(aws_err("CreateHttpNamespace")(err)),
            },
        },
        NamespaceType::DNS_PRIVATE => {
            let properties = soa_ttl
                .map(|ttl| -> Result<_, AwsError> {
                    let soa = soa(ttl).map_err(|e| invalid("CreatePrivateDnsNamespace", e))?;
                    let dns = sd::PrivateDnsPropertiesMutable::builder().soa(soa).build();
                    Ok(sd::PrivateDnsNamespaceProperties::builder()
                        .dns_properties(dns)
                        .build())
                })
                .transpose()?;
            match client
                .create_private_dns_namespace()
                .name(name)
                .set_vpc(vpc.map(str::to_string))
                .set_description(description.map(str::to_string))
                .set_properties(properties)
                .set_tags(Some(tags))
                .creator_request_id(creator_request_id)
                .send()
                .await
            {
                Ok(output) => output.operation_id().map(str::to_string),
                Err(err) => match err.as_service_error() {
                    Some(sd_ops::create_private_dns_namespace::CreatePrivateDnsNamespaceError::DuplicateRequest(running))
                        if running.duplicate_operation_id().is_some() =>
                    {
                        running.duplicate_operation_id().map(str::to_string)
                    }
                    _ => return Err(aws_err("CreatePrivateDnsNamespace")(err)),
                },
            }
        }
        NamespaceType::DNS_PUBLIC => {
            let properties = soa_ttl
                .map(|ttl| -> Result<_, AwsError> {
                    let soa = soa(ttl).map_err(|e| invalid("CreatePublicDnsNamespace", e))?;
                    let dns = sd::PublicDnsPropertiesMutable::builder().soa(soa).build();
                    Ok(sd::PublicDnsNamespaceProperties::builder()
                        .dns_properties(dns)
                        .build())
                })
                .transpose()?;
            match client
                .create_public_dns_namespace()
                .name(name)
                .set_description(description.map(str::to_string))
                .set_properties(properties)
                .set_tags(Some(tags))
                .creator_request_id(creator_request_id)
                .send()
                .await
            {
                Ok(output) => output.operation_id().map(str::to_string),
                Err(err) => match err.as_service_error() {
                    Some(sd_ops::create_public_dns_namespace::CreatePublicDnsNamespaceError::DuplicateRequest(running))
                        if running.duplicate_operation_id().is_some() =>
                    {
                        running.duplicate_operation_id().map(str::to_string)
                    }
                    _ => return Err(aws_err("CreatePublicDnsNamespace")(err)),
                },
            }
        }
    };
    operation_id.ok_or_else(|| missing("CreateNamespace", "OperationId"))
}

fn invalid(
    operation: &'static str,
    err: aws_smithy_types::error::operation::BuildError,
) -> AwsError {
    AwsError {
        operation,
        code: "InvalidRequest".into(),
        message: err.to_string(),
        class: ErrorClass::Terminal,
    }
}

/// Starts updating a namespace's description and SOA TTL; returns the operation id.
pub async fn update_namespace(
    client: &Client,
    type_: NamespaceType,
    id: &str,
    description: Option<&str>,
    soa_ttl: Option<i64>,
    update_request_id: &str,
) -> Result<String, AwsError> {
    let operation_id = match type_ {
        NamespaceType::HTTP => {
            let change = sd::HttpNamespaceChange::builder()
                .description(description.unwrap_or_default())
                .build()
                .map_err(|e| invalid("UpdateHttpNamespace", e))?;
            client
                .update_http_namespace()
                .id(id)
                .namespace(change)
                .updater_request_id(update_request_id)
                .send()
                .await
                .map_err(aws_err("UpdateHttpNamespace"))?
                .operation_id()
                .map(str::to_string)
        }
        NamespaceType::DNS_PRIVATE => {
            let properties = soa_ttl
                .map(|ttl| -> Result<_, AwsError> {
                    let soa = sd::SoaChange::builder()
                        .ttl(ttl)
                        .build()
                        .map_err(|e| invalid("UpdatePrivateDnsNamespace", e))?;
                    let dns = sd::PrivateDnsPropertiesMutableChange::builder()
                        .soa(soa)
                        .build();
                    Ok(sd::PrivateDnsNamespacePropertiesChange::builder()
                        .dns_properties(dns)
                        .build())
                })
                .transpose()?;
            let change = sd::PrivateDnsNamespaceChange::builder()
                .set_description(description.map(str::to_string))
                .set_properties(properties)
                .build();
            client
                .update_private_dns_namespace()
                .id(id)
                .namespace(change)
                .updater_request_id(update_request_id)
                .send()
                .await
                .map_err(aws_err("UpdatePrivateDnsNamespace"))?
                .operation_id()
                .map(str::to_string)
        }
        NamespaceType::DNS_PUBLIC => {
            let properties = soa_ttl
                .map(|ttl| -> Result<_, AwsError> {
                    let soa = sd::SoaChange::builder()
                        .ttl(ttl)
                        .build()
                        .map_err(|e| invalid("UpdatePublicDnsNamespace", e))?;
                    let dns = sd::PublicDnsPropertiesMutableChange::builder()
                        .soa(soa)
                        .build();
                    Ok(sd::PublicDnsNamespacePropertiesChange::builder()
                        .dns_properties(dns)
                        .build())
                })
                .transpose()?;
            let change = sd::PublicDnsNamespaceChange::builder()
                .set_description(description.map(str::to_string))
                .set_properties(properties)
                .build();
            client
                .update_public_dns_namespace()
                .id(id)
                .namespace(change)
                .updater_request_id(update_request_id)
                .send()
                .await
                .map_err(aws_err("UpdatePublicDnsNamespace"))?
                .operation_id()
                .map(str::to_string)
        }
    };
    operation_id.ok_or_else(|| missing("UpdateNamespace", "OperationId"))
}

/// Polls an operation.
pub async fn operation(client: &Client, id: &str) -> Result<OperationState, AwsError> {
    let output = client
        .get_operation()
        .operation_id(id)
        .send()
        .await
        .map_err(aws_err("GetOperation"))?;
    let op = output
        .operation()
        .ok_or_else(|| missing("GetOperation", "Operation"))?;
    Ok(match op.status() {
        Some(sd::OperationStatus::Success) => OperationState::Succeeded(
            op.targets()
                .and_then(|t| t.get(&sd::OperationTargetType::Namespace))
                .cloned(),
        ),
        Some(sd::OperationStatus::Fail) => OperationState::Failed {
            code: op.error_code().unwrap_or("FAIL").to_string(),
            message: op
                .error_message()
                .unwrap_or("the operation failed")
                .to_string(),
        },
        _ => OperationState::Running,
    })
}

/// Gets a namespace with its tags; `Ok(None)` when it does not exist.
pub async fn get_namespace(
    client: &Client,
    id: &str,
) -> Result<Option<ObservedNamespace>, AwsError> {
    let output = match client.get_namespace().id(id).send().await {
        Ok(output) => output,
        Err(err) => {
            let err = super::error::from_sdk("GetNamespace", err);
            return if err.is_not_found() {
                Ok(None)
            } else {
                Err(err)
            };
        }
    };
    let Some(ns) = output.namespace() else {
        return Ok(None);
    };
    let mut observed = observed_namespace(ns);
    observed.tags = list_tags(client, &observed.arn).await?;
    Ok(Some(observed))
}

fn observed_namespace(ns: &sd::Namespace) -> ObservedNamespace {
    let dns = ns.properties().and_then(|p| p.dns_properties());
    ObservedNamespace {
        id: ns.id().unwrap_or_default().to_string(),
        arn: ns.arn().unwrap_or_default().to_string(),
        name: ns.name().unwrap_or_default().to_string(),
        type_: ns
            .r#type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        description: ns.description().map(str::to_string),
        hosted_zone_id: dns.and_then(|d| d.hosted_zone_id()).map(str::to_string),
        soa_ttl: dns.and_then(|d| d.soa()).map(|s| s.ttl()),
        tags: BTreeMap::new(),
    }
}

/// Finds a namespace by name and type (with its tags).
pub async fn find_namespace(
    client: &Client,
    name: &str,
    type_: NamespaceType,
) -> Result<Option<ObservedNamespace>, AwsError> {
    let wanted = match type_ {
        NamespaceType::HTTP => "HTTP",
        NamespaceType::DNS_PRIVATE => "DNS_PRIVATE",
        NamespaceType::DNS_PUBLIC => "DNS_PUBLIC",
    };
    let mut token = None;
    loop {
        let output = client
            .list_namespaces()
            .set_next_token(token)
            .max_results(100)
            .send()
            .await
            .map_err(aws_err("ListNamespaces"))?;
        for summary in output.namespaces() {
            if summary.name() == Some(name) && summary.r#type().map(|t| t.as_str()) == Some(wanted)
            {
                let id = summary.id().unwrap_or_default();
                return get_namespace(client, id).await;
            }
        }
        match output.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(None),
        }
    }
}

/// Starts deleting a namespace; `Ok(None)` when it is already gone.
pub async fn delete_namespace(client: &Client, id: &str) -> Result<Option<String>, AwsError> {
    match client.delete_namespace().id(id).send().await {
        Ok(output) => Ok(output.operation_id().map(str::to_string)),
        Err(err) => {
            let err = super::error::from_sdk("DeleteNamespace", err);
            if err.is_not_found() {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

pub async fn list_tags(client: &Client, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let output = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(aws_err("ListTagsForResource"))?;
    Ok(output
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect())
}

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
            .set_tags(Some(sd_tags(to_set)?))
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

/// Names of the Cloud Map services in a namespace.
pub async fn services_in_namespace(
    client: &Client,
    namespace_id: &str,
) -> Result<Vec<ObservedDiscoveryService>, AwsError> {
    let filter = sd::ServiceFilter::builder()
        .name(sd::ServiceFilterName::NamespaceId)
        .values(namespace_id)
        .condition(sd::FilterCondition::Eq)
        .build()
        .map_err(|e| invalid("ListServices", e))?;
    let mut services = Vec::new();
    let mut token = None;
    loop {
        let output = client
            .list_services()
            .filters(filter.clone())
            .set_next_token(token)
            .max_results(100)
            .send()
            .await
            .map_err(aws_err("ListServices"))?;
        for s in output.services() {
            services.push(ObservedDiscoveryService {
                id: s.id().unwrap_or_default().to_string(),
                arn: s.arn().unwrap_or_default().to_string(),
                name: s.name().unwrap_or_default().to_string(),
                namespace_id: namespace_id.to_string(),
                ..Default::default()
            });
        }
        match output.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(services),
        }
    }
}

/// A Cloud Map service as observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedDiscoveryService {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub namespace_id: String,
    pub dns_ttls: BTreeMap<String, i64>,
    pub tags: BTreeMap<String, String>,
}

/// Gets a Cloud Map service with its tags; `Ok(None)` when it does not exist.
pub async fn get_service(
    client: &Client,
    id: &str,
) -> Result<Option<ObservedDiscoveryService>, AwsError> {
    let output = match client.get_service().id(id).send().await {
        Ok(output) => output,
        Err(err) => {
            let err = super::error::from_sdk("GetService", err);
            return if err.is_not_found() {
                Ok(None)
            } else {
                Err(err)
            };
        }
    };
    let Some(s) = output.service() else {
        return Ok(None);
    };
    let arn = s.arn().unwrap_or_default().to_string();
    Ok(Some(ObservedDiscoveryService {
        id: s.id().unwrap_or_default().to_string(),
        tags: list_tags(client, &arn).await?,
        arn,
        name: s.name().unwrap_or_default().to_string(),
        namespace_id: s.namespace_id().unwrap_or_default().to_string(),
        dns_ttls: s
            .dns_config()
            .map(|d| {
                d.dns_records()
                    .iter()
                    .map(|r| (r.r#type().as_str().to_string(), r.ttl()))
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

fn dns_config(config: &api::DnsConfig, namespace_id: &str) -> Result<sd::DnsConfig, AwsError> {
    let records = config
        .dns_records
        .iter()
        .map(|r| {
            sd::DnsRecord::builder()
                .r#type(sd::RecordType::from(record_type(r.type_)))
                .ttl(r.ttl)
                .build()
                .map_err(|e| invalid("CreateService", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    #[allow(deprecated)]
    let builder = sd::DnsConfig::builder().namespace_id(namespace_id);
    builder
        .set_routing_policy(config.routing_policy.map(|p| match p {
            api::RoutingPolicy::MULTIVALUE => sd::RoutingPolicy::Multivalue,
            api::RoutingPolicy::WEIGHTED => sd::RoutingPolicy::Weighted,
        }))
        .set_dns_records(Some(records))
        .build()
        .map_err(|e| invalid("CreateService", e))
}

pub fn record_type(t: api::DnsRecordType) -> &'static str {
    match t {
        api::DnsRecordType::A => "A",
        api::DnsRecordType::AAAA => "AAAA",
        api::DnsRecordType::SRV => "SRV",
    }
}

/// Creates the Cloud Map service an ECS service registers in.
pub async fn create_service(
    client: &Client,
    namespace_id: &str,
    name: &str,
    discovery: &api::ServiceDiscovery,
    tags: &BTreeMap<String, String>,
    creator_request_id: &str,
) -> Result<ObservedDiscoveryService, AwsError> {
    let health_custom = discovery.health_check_custom_config.as_ref().map(|h| {
        #[allow(deprecated)]
        sd::HealthCheckCustomConfig::builder()
            .set_failure_threshold(h.failure_threshold)
            .build()
    });
    let health = discovery
        .health_check_config
        .as_ref()
        .map(|h| {
            sd::HealthCheckConfig::builder()
                .r#type(match h.type_ {
                    api::HealthCheckType::HTTP => sd::HealthCheckType::Http,
                    api::HealthCheckType::HTTPS => sd::HealthCheckType::Https,
                    api::HealthCheckType::TCP => sd::HealthCheckType::Tcp,
                })
                .set_resource_path(h.resource_path.clone())
                .set_failure_threshold(h.failure_threshold)
                .build()
                .map_err(|e| invalid("CreateService", e))
        })
        .transpose()?;
    let output = client
        .create_service()
        .name(name)
        .namespace_id(namespace_id)
        .set_dns_config(
            discovery
                .dns_config
                .as_ref()
                .map(|d| dns_config(d, namespace_id))
                .transpose()?,
        )
        .set_health_check_custom_config(health_custom)
        .set_health_check_config(health)
        .set_tags(Some(sd_tags(tags)?))
        .creator_request_id(creator_request_id)
        .send()
        .await
        .map_err(aws_err("CreateService"))?;
    let s = output
        .service()
        .ok_or_else(|| missing("CreateService", "Service"))?;
    Ok(ObservedDiscoveryService {
        id: s.id().unwrap_or_default().to_string(),
        arn: s.arn().unwrap_or_default().to_string(),
        name: s.name().unwrap_or_default().to_string(),
        namespace_id: namespace_id.to_string(),
        dns_ttls: BTreeMap::new(),
        tags: tags.clone(),
    })
}

/// Updates the DNS record TTLs of a Cloud Map service (what Cloud Map changes in place).
pub async fn update_service_ttls(
    client: &Client,
    id: &str,
    config: &api::DnsConfig,
) -> Result<(), AwsError> {
    let records = config
        .dns_records
        .iter()
        .map(|r| {
            sd::DnsRecord::builder()
                .r#type(sd::RecordType::from(record_type(r.type_)))
                .ttl(r.ttl)
                .build()
                .map_err(|e| invalid("UpdateService", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dns = sd::DnsConfigChange::builder()
        .set_dns_records(Some(records))
        .build()
        .map_err(|e| invalid("UpdateService", e))?;
    let change = sd::ServiceChange::builder().dns_config(dns).build();
    client
        .update_service()
        .id(id)
        .service(change)
        .send()
        .await
        .map_err(aws_err("UpdateService"))?;
    Ok(())
}

/// Deletes a Cloud Map service. Already gone counts as done; `ResourceInUse` (instances
/// still registered) is returned as a retryable error.
pub async fn delete_service(client: &Client, id: &str) -> Result<(), AwsError> {
    match client.delete_service().id(id).send().await {
        Ok(_) => Ok(()),
        Err(err) => {
            let err = super::error::from_sdk("DeleteService", err);
            if err.is_not_found() { Ok(()) } else { Err(err) }
        }
    }
}
