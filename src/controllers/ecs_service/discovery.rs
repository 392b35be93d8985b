//! Cloud Map service discovery for an ECSService: the Cloud Map service its tasks register
//! in, created and owned by the operator, and the `serviceRegistries` link on the ECS service.
//!
//! Cloud Map changes DNS TTLs in place. Anything else it fixes at creation (record types,
//! routing policy, health checks, namespace) needs a new Cloud Map service: in another
//! namespace the new one is created first and the old one deleted after the ECS service
//! switched; in the same namespace (names are unique there) the ECS service is detached, the
//! old one deleted once its instances are gone, then the new one created and attached.

use std::collections::BTreeMap;

use kube::ResourceExt;
use sha2::{Digest, Sha256};

use crate::api::ECSService;
use crate::api::cloud_map_namespace::NamespaceType;
use crate::api::common::{Ownership, ownership_of, ownership_tags};
use crate::api::ecs_service::{DiscoveryStatus, ServiceDiscovery};
use crate::aws::AwsClients;
use crate::aws::cloud_map as cm;
use crate::aws::error::{AwsError, ErrorClass};
use crate::controllers::ready_cloud_map_namespace;
use crate::runtime::{Context, crash};

/// The namespace a service registers in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedNamespace {
    pub id: String,
    pub name: String,
    pub arn: String,
    pub type_: NamespaceType,
}

/// What the ECS service should carry in `serviceRegistries`, and the discovery status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// No `spec.serviceDiscovery`: no registry (and nothing of ours left to clean up).
    None,
    /// Waiting for something before the ECS service can be synced with discovery.
    Waiting {
        message: String,
        status: Option<DiscoveryStatus>,
        stalled: bool,
    },
    /// Register the ECS service's tasks in `registry_arn` (`None`: detached for a switch).
    Ready {
        registry_arn: Option<String>,
        status: DiscoveryStatus,
    },
}

/// Hash of the settings fixed when a Cloud Map service is created.
pub fn created_with(namespace_id: &str, discovery: &ServiceDiscovery) -> String {
    let mut types: Vec<&str> = discovery
        .dns_config
        .iter()
        .flat_map(|d| d.dns_records.iter().map(|r| cm::record_type(r.type_)))
        .collect();
    types.sort();
    let text = format!(
        "{namespace_id}|{:?}|{types:?}|{:?}|{:?}",
        discovery.dns_config.as_ref().and_then(|d| d.routing_policy),
        discovery.health_check_config,
        discovery.health_check_custom_config.is_some(),
    );
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// Name clients use to find the service.
pub fn discovery_name(service: &str, namespace: &ResolvedNamespace) -> String {
    match namespace.type_ {
        NamespaceType::HTTP => format!("{}/{service}", namespace.name),
        _ => format!("{service}.{}", namespace.name),
    }
}

/// Resolves `namespaceRef` (a Ready CloudMapNamespace) or `namespaceId`.
async fn resolve_namespace(
    svc: &ECSService,
    discovery: &ServiceDiscovery,
    ctx: &Context,
    aws: &AwsClients,
) -> Result<Result<ResolvedNamespace, String>, AwsError> {
    if let Some(reference) = &discovery.namespace_ref {
        return Ok(ready_cloud_map_namespace(
            ctx,
            &svc.namespace().unwrap_or_default(),
            &reference.name,
            svc.spec.region.as_deref(),
            svc.spec.role_arn.as_deref(),
        )
        .map(|ns| ResolvedNamespace {
            id: ns.id,
            name: ns.name,
            arn: ns.arn,
            type_: ns.type_,
        }));
    }
    let Some(id) = &discovery.namespace_id else {
        return Ok(Err("spec.serviceDiscovery names no namespace".into()));
    };
    // A namespace the operator does not manage.
    match cm::get_namespace(&aws.servicediscovery, id).await? {
        Some(ns) => {
            let type_ = match ns.type_.as_str() {
                "DNS_PRIVATE" => NamespaceType::DNS_PRIVATE,
                "DNS_PUBLIC" => NamespaceType::DNS_PUBLIC,
                _ => NamespaceType::HTTP,
            };
            Ok(Ok(ResolvedNamespace {
                id: ns.id,
                name: ns.name,
                arn: ns.arn,
                type_,
            }))
        }
        None => Err(AwsError {
            operation: "GetNamespace",
            code: "NamespaceNotFound".into(),
            message: format!("Cloud Map namespace {id} does not exist"),
            class: ErrorClass::Terminal,
        }),
    }
}

/// Ensures the Cloud Map service exists as the spec says and returns the registry to set on
/// the ECS service. `ecs_registries` are the registries the ECS service carries now.
pub async fn ensure(
    svc: &ECSService,
    ctx: &Context,
    aws: &AwsClients,
    ecs_registries: &[String],
) -> Result<Discovery, AwsError> {
    let previous = svc
        .status
        .as_ref()
        .and_then(|s| s.service_discovery.clone());
    let Some(discovery) = &svc.spec.service_discovery else {
        return Ok(match previous {
            // Discovery was removed from the spec: detach, then delete ours once unused.
            Some(mut status) => {
                if !status.service_id.is_empty() {
                    status
                        .retired_service_ids
                        .push(std::mem::take(&mut status.service_id));
                    status.service_arn.clear();
                }
                Discovery::Ready {
                    registry_arn: None,
                    status,
                }
            }
            None => Discovery::None,
        });
    };
    let namespace = match resolve_namespace(svc, discovery, ctx, aws).await? {
        Ok(namespace) => namespace,
        Err(message) => {
            return Ok(Discovery::Waiting {
                message,
                status: previous,
                stalled: false,
            });
        }
    };
    if namespace.type_ == NamespaceType::HTTP && discovery.dns_config.is_some() {
        return Ok(Discovery::Waiting {
            message: format!(
                "namespace {} is an HTTP namespace: remove spec.serviceDiscovery.dnsConfig (DNS records need a DNS namespace)",
                namespace.name
            ),
            status: previous,
            stalled: true,
        });
    }
    if namespace.type_ != NamespaceType::DNS_PUBLIC && discovery.health_check_config.is_some() {
        return Ok(Discovery::Waiting {
            message: "healthCheckConfig (Route 53 health checks) needs a DNS_PUBLIC namespace; use healthCheckCustomConfig".into(),
            status: previous,
            stalled: true,
        });
    }

    let client = &aws.servicediscovery;
    let name = discovery.name.clone().unwrap_or_else(|| svc.service_name());
    let want = created_with(&namespace.id, discovery);
    let uid = svc.uid().unwrap_or_default();
    let mut status = previous.clone().unwrap_or_default();
    status.discovery_name = discovery_name(&name, &namespace);

    let current_ok =
        !status.service_id.is_empty() && status.created_with.as_deref() == Some(want.as_str());
    if current_ok {
        // Exists as wanted? (Also repairs a Cloud Map service deleted by hand.)
        match cm::get_service(client, &status.service_id).await? {
            Some(observed) => {
                if let Some(dns) = &discovery.dns_config {
                    let ttls: BTreeMap<String, i64> = dns
                        .dns_records
                        .iter()
                        .map(|r| (cm::record_type(r.type_).to_string(), r.ttl))
                        .collect();
                    if ttls != observed.dns_ttls {
                        cm::update_service_ttls(client, &observed.id, dns).await?;
                    }
                }
                status.namespace_id = namespace.id.clone();
                return Ok(Discovery::Ready {
                    registry_arn: Some(observed.arn),
                    status,
                });
            }
            None => {
                status.service_id.clear();
                status.service_arn.clear();
            }
        }
    } else if !status.service_id.is_empty() {
        // Settings Cloud Map fixes at creation changed: retire the current service.
        status
            .retired_service_ids
            .push(std::mem::take(&mut status.service_id));
        status.service_arn.clear();
    }

    // Same namespace and a retired service still there: names are unique in a namespace, so
    // the old one has to go first (detached from ECS, its instances deregistered).
    let same_namespace_retired: Vec<String> = if status.namespace_id == namespace.id {
        status.retired_service_ids.clone()
    } else {
        Vec::new()
    };
    if !same_namespace_retired.is_empty() {
        if ecs_registries.iter().any(|arn| {
            same_namespace_retired
                .iter()
                .any(|id| arn.ends_with(id.as_str()))
        }) {
            return Ok(Discovery::Ready {
                registry_arn: None,
                status,
            });
        }
        for id in &same_namespace_retired {
            match cm::delete_service(client, id).await {
                Ok(()) => status.retired_service_ids.retain(|r| r != id),
                Err(err) if err.code == "ResourceInUse" => {
                    return Ok(Discovery::Waiting {
                        message: format!(
                            "waiting for the tasks to deregister from the previous Cloud Map service {id} before creating its replacement"
                        ),
                        status: Some(status),
                        stalled: false,
                    });
                }
                Err(err) => return Err(err),
            }
        }
    }

    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    tags.extend(ownership_tags(
        "ECSService",
        &svc.namespace().unwrap_or_default(),
        &svc.name_any(),
        &uid,
    ));
    let mut request_id = format!("{uid}-{want}");
    request_id.truncate(64);
    let created = match cm::create_service(
        client,
        &namespace.id,
        &name,
        discovery,
        &tags,
        &request_id,
    )
    .await
    {
        Ok(created) => {
            crash::crash_point(
                crash::CREATE_CLOUD_MAP_SERVICE,
                &svc.namespace().unwrap_or_default(),
            );
            created
        }
        Err(err) if err.code == "ServiceAlreadyExists" => {
            // Ours from an interrupted reconcile, or someone else's.
            let existing = cm::services_in_namespace(client, &namespace.id)
                .await?
                .into_iter()
                .find(|s| s.name == name);
            let existing = match existing {
                Some(s) => cm::get_service(client, &s.id).await?,
                None => None,
            };
            match existing {
                Some(s) if ownership_of(&s.tags, &uid) == Ownership::Ours => s,
                _ => {
                    return Ok(Discovery::Waiting {
                        message: format!(
                            "a Cloud Map service named {name} already exists in namespace {} and is not ours: choose another spec.serviceDiscovery.name",
                            namespace.name
                        ),
                        status: Some(status),
                        stalled: true,
                    });
                }
            }
        }
        Err(err) => return Err(err),
    };
    status.namespace_id = namespace.id.clone();
    status.service_id = created.id.clone();
    status.service_arn = created.arn.clone();
    status.created_with = Some(want);
    Ok(Discovery::Ready {
        registry_arn: Some(created.arn),
        status,
    })
}

/// Deletes retired Cloud Map services the ECS service no longer uses. Returns a message when
/// one still has instances (real Cloud Map refuses with `ResourceInUse`).
pub async fn delete_retired(
    aws: &AwsClients,
    status: &mut DiscoveryStatus,
    ecs_registries: &[String],
) -> Result<Option<String>, AwsError> {
    let mut waiting = None;
    for id in status.retired_service_ids.clone() {
        if ecs_registries.iter().any(|arn| arn.ends_with(id.as_str())) {
            continue;
        }
        match cm::delete_service(&aws.servicediscovery, &id).await {
            Ok(()) => status.retired_service_ids.retain(|r| r != &id),
            Err(err) if err.code == "ResourceInUse" => {
                waiting = Some(format!(
                    "the previous Cloud Map service {id} still has registered instances; it is deleted once they are gone"
                ));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(waiting)
}

/// Deletes every Cloud Map service of ours for a deleted ECS service. `Some(message)` while
/// instances are still registered.
pub async fn delete_all(
    aws: &AwsClients,
    status: &DiscoveryStatus,
) -> Result<Option<String>, AwsError> {
    let mut ids = status.retired_service_ids.clone();
    if !status.service_id.is_empty() {
        ids.push(status.service_id.clone());
    }
    for id in ids {
        match cm::delete_service(&aws.servicediscovery, &id).await {
            Ok(()) => {}
            Err(err) if err.code == "ResourceInUse" => {
                return Ok(Some(format!(
                    "waiting for the tasks' instances to deregister from Cloud Map service {id} before deleting it"
                )));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(None)
}

/// The spec with `serviceConnectConfiguration.namespaceRef: {name}` replaced by the ARN of
/// that (Ready) CloudMapNamespace as `namespace`, which is what ECS takes. `Err` while waiting.
pub fn resolve_service_connect(
    svc: &ECSService,
    ctx: &Context,
) -> Result<crate::api::ECSServiceSpec, String> {
    let mut spec = svc.spec.clone();
    let Some(connect) = spec.service_connect_configuration.as_mut() else {
        return Ok(spec);
    };
    let Some(reference) = connect.namespace_ref.take().map(|r| r.name) else {
        return Ok(spec);
    };
    let arn = ready_cloud_map_namespace(
        ctx,
        &svc.namespace().unwrap_or_default(),
        &reference,
        svc.spec.region.as_deref(),
        svc.spec.role_arn.as_deref(),
    )
    .map_err(|message| format!("Service Connect: {message}"))?
    .arn;
    connect.namespace = Some(arn);
    Ok(spec)
}
