//! Pure decisions for an ECSService: compare the spec with the observed service after
//! normalising both sides, and say what to do.
//!
//! Three-way field semantics, like `kubectl apply`: a field the spec sets is managed (compared
//! with what ECS reports, after normalising both sides, and repaired); a field that was managed
//! (`status.managedFields`) and left the spec is reset once to ECS's default, or, where ECS
//! cannot go back, left as it is and named; a field never set is left to others, so defaults
//! ECS fills never look like drift.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

#[cfg(test)]
use crate::api::common::ownership_tags;
use crate::api::common::{Claim, NotOurs, adoption_tags, claim};
use crate::api::ecs_service::{
    CapacityProviderStrategyItem, DeploymentControllerType, ECSServiceSpec, ECSServiceStatus,
    EnabledDisabled, NetworkConfiguration, PropagateTags, SchedulingStrategy,
    ServiceConnectConfiguration,
};
use crate::aws::ecs_service::{ObservedService, Registry, ServiceUpdate};
use crate::controllers::task_definition::plan::tag_changes;

/// What the operator wants, resolved: names and the full task definition ARN.
#[derive(Clone, Debug)]
pub struct Desired<'a> {
    pub spec: &'a ECSServiceSpec,
    pub cluster: &'a str,
    pub name: &'a str,
    pub task_definition_arn: &'a str,
    /// The Kubernetes object: namespace, name, uid (for ownership tags).
    pub namespace: &'a str,
    pub object_name: &'a str,
    pub uid: &'a str,
    /// Cloud Map registries the service should carry; `None` leaves them to ECS (no
    /// discovery was ever configured).
    pub service_registries: Option<&'a [Registry]>,
}

// Plans are short-lived values passed once from the pure plan to the IO code.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// No service of that name (or only an INACTIVE one): create it.
    Create,
    /// A service of that name is DRAINING; ECS refuses a new one until it is INACTIVE.
    WaitForDrain,
    /// Someone else's service has the name.
    AlreadyExists { owner: NotOurs },
    /// A field ECS cannot change in place differs.
    Immutable {
        field: &'static str,
        message: String,
    },
    /// Our service (or one being adopted): apply `update` (if any field changed), and tags.
    Sync {
        adopt: bool,
        update: Option<ServiceUpdate>,
        /// Names of the changed fields, for Events and logs.
        changed: Vec<&'static str>,
        /// Fields removed from the spec that `update` resets to ECS's default.
        reset: Vec<&'static str>,
        /// Fields removed from the spec that ECS cannot reset: left as they are.
        kept: Vec<&'static str>,
        tags_to_set: BTreeMap<String, String>,
        tags_to_remove: Vec<String>,
        /// The desired task definition's rollout failed: it is not re-applied.
        rollout_failed: bool,
    },
}

/// `family:revision` of a task definition ARN or reference.
pub fn task_definition_key(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// The cluster name of a cluster name or ARN.
pub fn cluster_name(cluster: &str) -> &str {
    match cluster.split_once(":cluster/") {
        Some((_, name)) => name,
        None => cluster,
    }
}

/// Cluster and service names from a service ARN (`.../service/<cluster>/<name>`).
fn names_from_service_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.split_once(":service/")?.1;
    rest.split_once('/')
}

/// Hash of a pass-through JSON value, to know whether it changed since it was applied.
pub fn value_hash(value: &serde_json::Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    hex::encode(&digest[..12])
}

/// CreateService `clientToken` (36 characters, ECS's maximum): the same for the same create
/// intent (`uid`, what is sent, and how many services this object has had), so a create
/// repeated after a crash returns the service the first one made; different when the spec
/// changed or the service is created again after an out-of-band delete, which ECS would
/// otherwise refuse as "not idempotent".
pub fn create_token(uid: &str, intent: &serde_json::Value, creations: u32) -> String {
    let digest = Sha256::digest(format!("{uid}\n{creations}\n{intent}").as_bytes());
    hex::encode(&digest[..18])
}

/// Hash of the volume configurations, kept in status once applied.
pub fn volume_configurations_hash(
    volumes: &[crate::api::ecs_service::ServiceVolumeConfiguration],
) -> String {
    value_hash(&serde_json::to_value(volumes).unwrap_or_default())
}

/// Fields whose change would need a new service, judged from what status recorded.
pub fn immutable_from_status(desired: &Desired<'_>, status: &ECSServiceStatus) -> Option<Plan> {
    let (cluster, name) = names_from_service_arn(status.service_arn.as_deref()?)?;
    if cluster != cluster_name(desired.cluster) {
        return Some(Plan::Immutable {
            field: "cluster",
            message: format!(
                "spec.cluster changed from {cluster} to {}: ECS cannot move a service between clusters. Revert the change, or create a new ECSService for the new cluster (and delete this one)",
                cluster_name(desired.cluster)
            ),
        });
    }
    if name != desired.name {
        return Some(Plan::Immutable {
            field: "serviceName",
            message: format!(
                "spec.serviceName changed from {name} to {}: ECS cannot rename a service. Revert the change, or create a new ECSService with the new name (and delete this one)",
                desired.name
            ),
        });
    }
    None
}

/// Decides what to do about the service.
pub fn plan(
    desired: &Desired<'_>,
    observed: Option<&ObservedService>,
    status: &ECSServiceStatus,
) -> Plan {
    if let Some(immutable) = immutable_from_status(desired, status) {
        return immutable;
    }
    let observed = match observed {
        None => return Plan::Create,
        Some(o) if o.status == "INACTIVE" => return Plan::Create,
        Some(o) if o.status == "DRAINING" => return Plan::WaitForDrain,
        Some(o) => o,
    };
    let adopt = match claim(&observed.tags, desired.uid, desired.spec.adopt_existing) {
        Claim::Ours => false,
        Claim::Adopt => true,
        Claim::Refused(owner) => return Plan::AlreadyExists { owner },
    };
    if let Some(immutable) = immutable_fields(desired.spec, observed) {
        return immutable;
    }

    let spec = desired.spec;
    let previously: BTreeSet<&str> = status.managed_fields.iter().map(String::as_str).collect();
    let FieldDiff {
        mut update,
        mut changed,
        reset,
        kept,
    } = field_diff(desired, observed, &previously);

    let rollout_failed = rollout_failed(desired, observed, status);
    if !rollout_failed
        && task_definition_key(&observed.task_definition)
            != task_definition_key(desired.task_definition_arn)
    {
        update.task_definition = Some(desired.task_definition_arn.to_string());
        changed.insert(0, "taskDefinition");
    }
    // ECS reports volume configurations per deployment, not on the service: compare with
    // what was last applied.
    if !spec.volume_configurations.is_empty() || status.applied_volume_configurations_hash.is_some()
    {
        let hash = volume_configurations_hash(&spec.volume_configurations);
        if status.applied_volume_configurations_hash.as_deref() != Some(hash.as_str()) {
            update.volume_configurations = Some(spec.volume_configurations.clone());
            changed.push("volumeConfigurations");
        }
    }
    if let Some(token) = &spec.redeploy_token
        && status.applied_redeploy_token.as_ref() != Some(token)
    {
        update.force_new_deployment = true;
        changed.push("redeployToken");
    }

    let mut desired_tags: BTreeMap<String, String> = spec
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    if adopt {
        // Adoption puts our ownership tags on the service; from then on spec.tags is
        // authoritative for the user tags.
        desired_tags.extend(adoption_tags(
            "ECSService",
            desired.namespace,
            desired.object_name,
            desired.uid,
        ));
    }
    let (tags_to_set, tags_to_remove) = tag_changes(&observed.tags, &desired_tags);
    Plan::Sync {
        adopt,
        update: (!changed.is_empty() || !reset.is_empty()).then_some(update),
        changed,
        reset,
        kept,
        tags_to_set,
        tags_to_remove,
        rollout_failed,
    }
}

/// What removing a managed field from the spec does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Reset once to ECS's default, named in the comment of the field's rule.
    Reset,
    /// ECS has no way back: the field is left as it is (the reason, for Events and docs).
    Kept(&'static str),
}

/// One field the three-way semantics covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldRule {
    /// Path in the spec (dots between members), as kept in `status.managedFields`.
    pub path: &'static str,
    pub removal: Removal,
}

const NETWORK: &str = "networkConfiguration";
const SECURITY_GROUPS: &str = "networkConfiguration.awsvpcConfiguration.securityGroups";
const ASSIGN_PUBLIC_IP: &str = "networkConfiguration.awsvpcConfiguration.assignPublicIp";
const MINIMUM_HEALTHY: &str = "deploymentConfiguration.minimumHealthyPercent";
const MAXIMUM_PERCENT: &str = "deploymentConfiguration.maximumPercent";
const CIRCUIT_BREAKER: &str = "deploymentConfiguration.deploymentCircuitBreaker";
const ALARMS: &str = "deploymentConfiguration.alarms";

/// Every ECS service field the spec can manage, with what its removal does. (Service
/// registries follow `serviceDiscovery`, volume configurations what was last applied, tags
/// `spec.tags` as a whole: each has its own rule, see `plan`.)
pub const FIELDS: &[FieldRule] = &[
    FieldRule {
        path: "desiredCount",
        removal: Removal::Kept(
            "ECS has no default task count: the service keeps the count it has (with autoScaling, the scaler owns it)",
        ),
    },
    FieldRule {
        path: "launchType",
        removal: Removal::Kept(
            "ECS cannot change a service's launch type in place; set capacityProviderStrategy to move it",
        ),
    },
    // Reset: an empty strategy, which moves the service back to its launch type.
    FieldRule {
        path: "capacityProviderStrategy",
        removal: Removal::Reset,
    },
    // Reset: LATEST (Fargate services only; others have no platform version).
    FieldRule {
        path: "platformVersion",
        removal: Removal::Reset,
    },
    FieldRule {
        path: NETWORK,
        removal: Removal::Kept("ECS cannot remove the network configuration of an awsvpc service"),
    },
    // Reset: none, so ECS uses the VPC's default security group.
    FieldRule {
        path: SECURITY_GROUPS,
        removal: Removal::Reset,
    },
    // Reset: DISABLED.
    FieldRule {
        path: ASSIGN_PUBLIC_IP,
        removal: Removal::Reset,
    },
    // Reset: no load balancers.
    FieldRule {
        path: "loadBalancers",
        removal: Removal::Reset,
    },
    // Reset: 100 (0 for DAEMON services).
    FieldRule {
        path: MINIMUM_HEALTHY,
        removal: Removal::Reset,
    },
    // Reset: 200 (100 for DAEMON services).
    FieldRule {
        path: MAXIMUM_PERCENT,
        removal: Removal::Reset,
    },
    // Reset: enable false, rollback false.
    FieldRule {
        path: CIRCUIT_BREAKER,
        removal: Removal::Reset,
    },
    // Reset: no alarms, enable false, rollback false.
    FieldRule {
        path: ALARMS,
        removal: Removal::Reset,
    },
    FieldRule {
        path: "deploymentController",
        removal: Removal::Kept("ECS cannot change a service's deployment controller in place"),
    },
    // Reset: no constraints.
    FieldRule {
        path: "placementConstraints",
        removal: Removal::Reset,
    },
    // Reset: no strategy.
    FieldRule {
        path: "placementStrategy",
        removal: Removal::Reset,
    },
    // Reset: 0.
    FieldRule {
        path: "healthCheckGracePeriodSeconds",
        removal: Removal::Reset,
    },
    FieldRule {
        path: "schedulingStrategy",
        removal: Removal::Kept("ECS cannot change a service's scheduling strategy in place"),
    },
    // Reset: false.
    FieldRule {
        path: "enableExecuteCommand",
        removal: Removal::Reset,
    },
    // Reset: false.
    FieldRule {
        path: "enableEcsManagedTags",
        removal: Removal::Reset,
    },
    // Reset: NONE.
    FieldRule {
        path: "propagateTags",
        removal: Removal::Reset,
    },
    // Reset: ENABLED, CreateService's default; DISABLED for the services ECS cannot rebalance
    // (DAEMON, binpack placement, EXTERNAL launch type).
    FieldRule {
        path: "availabilityZoneRebalancing",
        removal: Removal::Reset,
    },
    // Reset: `enabled: false`.
    FieldRule {
        path: "serviceConnectConfiguration",
        removal: Removal::Reset,
    },
];

/// The rule of a path in `FIELDS`.
pub fn field_rule(path: &str) -> Option<&'static FieldRule> {
    FIELDS.iter().find(|f| f.path == path)
}

/// The paths of `FIELDS` this spec sets, i.e. manages.
pub fn managed_paths(spec: &ECSServiceSpec) -> BTreeSet<&'static str> {
    let network = spec.network_configuration.as_ref();
    let deployment = spec.deployment_configuration.as_ref();
    let set = [
        // With auto scaling the scaler owns the count: desiredCount is only the initial one.
        (
            "desiredCount",
            spec.desired_count.is_some() && spec.auto_scaling.is_none(),
        ),
        ("launchType", spec.launch_type.is_some()),
        (
            "capacityProviderStrategy",
            !spec.capacity_provider_strategy.is_empty(),
        ),
        ("platformVersion", spec.platform_version.is_some()),
        (NETWORK, network.is_some()),
        (
            SECURITY_GROUPS,
            network.is_some_and(|n| !n.awsvpc_configuration.security_groups.is_empty()),
        ),
        (
            ASSIGN_PUBLIC_IP,
            network.is_some_and(|n| n.awsvpc_configuration.assign_public_ip.is_some()),
        ),
        ("loadBalancers", !spec.load_balancers.is_empty()),
        (
            MINIMUM_HEALTHY,
            deployment.is_some_and(|d| d.minimum_healthy_percent.is_some()),
        ),
        (
            MAXIMUM_PERCENT,
            deployment.is_some_and(|d| d.maximum_percent.is_some()),
        ),
        (
            CIRCUIT_BREAKER,
            deployment.is_some_and(|d| d.deployment_circuit_breaker.is_some()),
        ),
        (ALARMS, deployment.is_some_and(|d| d.alarms.is_some())),
        ("deploymentController", spec.deployment_controller.is_some()),
        (
            "placementConstraints",
            !spec.placement_constraints.is_empty(),
        ),
        ("placementStrategy", !spec.placement_strategy.is_empty()),
        (
            "healthCheckGracePeriodSeconds",
            spec.health_check_grace_period_seconds.is_some(),
        ),
        ("schedulingStrategy", spec.scheduling_strategy.is_some()),
        (
            "enableExecuteCommand",
            spec.enable_execute_command.is_some(),
        ),
        (
            "enableEcsManagedTags",
            spec.enable_ecs_managed_tags.is_some(),
        ),
        ("propagateTags", spec.propagate_tags.is_some()),
        (
            "availabilityZoneRebalancing",
            spec.availability_zone_rebalancing.is_some(),
        ),
        (
            "serviceConnectConfiguration",
            spec.service_connect_configuration.is_some(),
        ),
    ];
    set.into_iter()
        .filter_map(|(path, managed)| managed.then_some(path))
        .collect()
}

/// `status.managedFields` for this spec.
pub fn managed_fields(spec: &ECSServiceSpec) -> Vec<String> {
    managed_paths(spec)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The fields to write, and why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldDiff {
    pub update: ServiceUpdate,
    /// Managed fields that differ from what ECS reports.
    pub changed: Vec<&'static str>,
    /// Fields removed from the spec that differ from ECS's default.
    pub reset: Vec<&'static str>,
    /// Fields removed from the spec that ECS cannot reset.
    pub kept: Vec<&'static str>,
}

/// Managed fields (other than the task definition) that differ from what ECS reports: the
/// service is not Ready while there are any.
pub fn unequal_fields(desired: &Desired<'_>, observed: &ObservedService) -> Vec<&'static str> {
    let managed = managed_paths(desired.spec);
    field_diff(desired, observed, &managed).changed
}

/// Compares every field of `FIELDS` three ways: managed now (spec), managed before (`previously`,
/// from status), and what ECS reports.
pub fn field_diff(
    desired: &Desired<'_>,
    observed: &ObservedService,
    previously: &BTreeSet<&str>,
) -> FieldDiff {
    let spec = desired.spec;
    let managed = managed_paths(spec);
    let removed = |path: &str| previously.contains(path) && !managed.contains(path);
    let mut diff = FieldDiff::default();
    for rule in FIELDS {
        if let Removal::Kept(_) = rule.removal
            && removed(rule.path)
        {
            diff.kept.push(rule.path);
        }
    }
    let update = &mut diff.update;
    let changed = |diff_changed: &mut Vec<&'static str>,
                   diff_reset: &mut Vec<&'static str>,
                   path: &'static str| {
        if managed.contains(path) {
            diff_changed.push(path);
        } else {
            diff_reset.push(path);
        }
    };
    let (ch, rs) = (&mut diff.changed, &mut diff.reset);

    if let Some(count) = spec.desired_count
        && managed.contains("desiredCount")
        && count != observed.desired_count
    {
        update.desired_count = Some(count);
        changed(ch, rs, "desiredCount");
    }

    let strategy = "capacityProviderStrategy";
    if (managed.contains(strategy) || removed(strategy))
        && normalized_strategy(&spec.capacity_provider_strategy)
            != normalized_strategy(&observed.capacity_provider_strategy)
    {
        update.capacity_provider_strategy = Some(spec.capacity_provider_strategy.clone());
        changed(ch, rs, strategy);
    }

    match &spec.platform_version {
        Some(version) if observed.platform_version.as_ref() != Some(version) => {
            update.platform_version = Some(version.clone());
            changed(ch, rs, "platformVersion");
        }
        None if removed("platformVersion")
            && observed
                .platform_version
                .as_deref()
                .is_some_and(|v| v != LATEST_PLATFORM) =>
        {
            update.platform_version = Some(LATEST_PLATFORM.into());
            changed(ch, rs, "platformVersion");
        }
        _ => {}
    }

    if let Some(network) = &spec.network_configuration {
        let have = observed
            .network_configuration
            .as_ref()
            .map(|n| &n.awsvpc_configuration);
        let mut want = network.clone();
        let vpc = &mut want.awsvpc_configuration;
        if !managed.contains(SECURITY_GROUPS) && !removed(SECURITY_GROUPS) {
            vpc.security_groups = have.map(|h| h.security_groups.clone()).unwrap_or_default();
        }
        if !managed.contains(ASSIGN_PUBLIC_IP) {
            vpc.assign_public_ip = if removed(ASSIGN_PUBLIC_IP) {
                Some(EnabledDisabled::DISABLED)
            } else {
                have.and_then(|h| h.assign_public_ip)
            };
        }
        let have_normalized = observed
            .network_configuration
            .as_ref()
            .map(normalized_network);
        if Some(normalized_network(&want)) != have_normalized {
            let (w, h) = (
                &want.awsvpc_configuration,
                have.cloned().unwrap_or_default(),
            );
            let sorted = |v: &[crate::api::ecs_service::SecurityGroupId]| {
                let mut v = v.to_vec();
                v.sort();
                v
            };
            let mut subnets_w = w.subnets.clone();
            let mut subnets_h = h.subnets.clone();
            subnets_w.sort();
            subnets_w.dedup();
            subnets_h.sort();
            subnets_h.dedup();
            if subnets_w != subnets_h {
                ch.push(NETWORK);
            }
            if sorted(&w.security_groups) != sorted(&h.security_groups) {
                changed(ch, rs, SECURITY_GROUPS);
            }
            if w.assign_public_ip.unwrap_or(EnabledDisabled::DISABLED)
                != h.assign_public_ip.unwrap_or(EnabledDisabled::DISABLED)
            {
                changed(ch, rs, ASSIGN_PUBLIC_IP);
            }
            update.network_configuration = Some(want);
        }
    }

    let lbs = "loadBalancers";
    if managed.contains(lbs) || removed(lbs) {
        let mut want = spec.load_balancers.clone();
        let mut have = observed.load_balancers.clone();
        want.sort();
        have.sort();
        if want != have {
            update.load_balancers = Some(spec.load_balancers.clone());
            changed(ch, rs, lbs);
        }
    }

    deployment_configuration_diff(spec, observed, &managed, &removed, update, ch, rs);

    let constraints = "placementConstraints";
    if managed.contains(constraints) || removed(constraints) {
        let mut want = spec.placement_constraints.clone();
        let mut have = observed.placement_constraints.clone();
        want.sort();
        have.sort();
        if want != have {
            update.placement_constraints = Some(spec.placement_constraints.clone());
            changed(ch, rs, constraints);
        }
    }
    // Placement strategy order is meaningful (applied in order): compared as a list.
    let strategy = "placementStrategy";
    if (managed.contains(strategy) || removed(strategy))
        && spec.placement_strategy != observed.placement_strategy
    {
        update.placement_strategy = Some(spec.placement_strategy.clone());
        changed(ch, rs, strategy);
    }

    let grace = "healthCheckGracePeriodSeconds";
    let want_grace = spec
        .health_check_grace_period_seconds
        .or(removed(grace).then_some(0));
    if let Some(want) = want_grace
        && observed.health_check_grace_period_seconds.unwrap_or(0) != want
    {
        update.health_check_grace_period_seconds = Some(want);
        changed(ch, rs, grace);
    }

    let exec = "enableExecuteCommand";
    if let Some(want) = spec
        .enable_execute_command
        .or(removed(exec).then_some(false))
        && want != observed.enable_execute_command
    {
        update.enable_execute_command = Some(want);
        changed(ch, rs, exec);
    }
    let managed_tags = "enableEcsManagedTags";
    if let Some(want) = spec
        .enable_ecs_managed_tags
        .or(removed(managed_tags).then_some(false))
        && want != observed.enable_ecs_managed_tags
    {
        update.enable_ecs_managed_tags = Some(want);
        changed(ch, rs, managed_tags);
    }
    let propagate = "propagateTags";
    if let Some(want) = spec
        .propagate_tags
        .or(removed(propagate).then_some(PropagateTags::NONE))
        && observed.propagate_tags.unwrap_or(PropagateTags::NONE) != want
    {
        update.propagate_tags = Some(want);
        changed(ch, rs, propagate);
    }
    let rebalancing = "availabilityZoneRebalancing";
    if let Some(want) = spec
        .availability_zone_rebalancing
        .or(removed(rebalancing).then(|| default_rebalancing(spec, observed)))
        // ECS reports the effective value; older services omit it (DISABLED).
        && observed
            .availability_zone_rebalancing
            .unwrap_or(EnabledDisabled::DISABLED)
            != want
    {
        update.availability_zone_rebalancing = Some(want);
        changed(ch, rs, rebalancing);
    }

    let connect = "serviceConnectConfiguration";
    match &spec.service_connect_configuration {
        Some(want)
            if !service_connect_matches(want, observed.service_connect_configuration.as_ref()) =>
        {
            update.service_connect_configuration = Some(want.clone());
            changed(ch, rs, connect);
        }
        None if removed(connect)
            && observed
                .service_connect_configuration
                .as_ref()
                .is_some_and(|c| c.enabled) =>
        {
            update.service_connect_configuration = Some(ServiceConnectConfiguration {
                enabled: false,
                ..Default::default()
            });
            changed(ch, rs, connect);
        }
        _ => {}
    }

    if let Some(registries) = desired.service_registries {
        let mut want: Vec<&str> = registries.iter().map(|r| r.registry_arn.as_str()).collect();
        let mut have: Vec<&str> = observed
            .service_registries
            .iter()
            .map(String::as_str)
            .collect();
        want.sort();
        have.sort();
        if want != have {
            update.service_registries = Some(registries.to_vec());
            ch.push("serviceRegistries");
        }
    }
    diff
}

const LATEST_PLATFORM: &str = "LATEST";

/// CreateService's default for Availability Zone rebalancing: ENABLED, except for the services
/// ECS cannot rebalance.
fn default_rebalancing(spec: &ECSServiceSpec, observed: &ObservedService) -> EnabledDisabled {
    let daemon = observed.scheduling_strategy == Some(SchedulingStrategy::DAEMON);
    let binpack = observed
        .placement_strategy
        .iter()
        .any(|p| p.type_ == "binpack")
        || spec.placement_strategy.iter().any(|p| p.type_ == "binpack");
    let external = observed.launch_type == Some(crate::api::ecs_service::LaunchType::EXTERNAL);
    if daemon || binpack || external {
        EnabledDisabled::DISABLED
    } else {
        EnabledDisabled::ENABLED
    }
}

/// The deployment configuration to send: managed parts from the spec, removed parts at ECS's
/// defaults, the rest as ECS reports it (ECS replaces the whole object on update).
#[allow(clippy::too_many_arguments)]
fn deployment_configuration_diff(
    spec: &ECSServiceSpec,
    observed: &ObservedService,
    managed: &BTreeSet<&'static str>,
    removed: &dyn Fn(&str) -> bool,
    update: &mut ServiceUpdate,
    changed: &mut Vec<&'static str>,
    reset: &mut Vec<&'static str>,
) {
    let want_spec = spec.deployment_configuration.clone().unwrap_or_default();
    let have = observed
        .deployment_configuration
        .clone()
        .unwrap_or_default();
    let daemon = observed.scheduling_strategy == Some(SchedulingStrategy::DAEMON);
    let (default_min, default_max) = if daemon { (0, 100) } else { (100, 200) };
    let mut want = have.clone();
    let mut differs = Vec::new();
    let mut consider = |path: &'static str, equal: bool| {
        if !equal {
            differs.push(path);
        }
    };
    if managed.contains(MINIMUM_HEALTHY) || removed(MINIMUM_HEALTHY) {
        want.minimum_healthy_percent =
            Some(want_spec.minimum_healthy_percent.unwrap_or(default_min));
        consider(
            MINIMUM_HEALTHY,
            want.minimum_healthy_percent == have.minimum_healthy_percent,
        );
    }
    if managed.contains(MAXIMUM_PERCENT) || removed(MAXIMUM_PERCENT) {
        want.maximum_percent = Some(want_spec.maximum_percent.unwrap_or(default_max));
        consider(
            MAXIMUM_PERCENT,
            want.maximum_percent == have.maximum_percent,
        );
    }
    if managed.contains(CIRCUIT_BREAKER) || removed(CIRCUIT_BREAKER) {
        let breaker = want_spec.deployment_circuit_breaker.unwrap_or_default();
        let current = have.deployment_circuit_breaker.clone().unwrap_or_default();
        consider(CIRCUIT_BREAKER, breaker == current);
        want.deployment_circuit_breaker = Some(breaker);
    }
    if managed.contains(ALARMS) || removed(ALARMS) {
        let alarms = want_spec.alarms.unwrap_or_default();
        let current = have.alarms.clone().unwrap_or_default();
        let sorted = |a: &crate::api::ecs_service::DeploymentAlarms| {
            let mut names = a.alarm_names.clone();
            names.sort();
            (names, a.enable, a.rollback)
        };
        consider(ALARMS, sorted(&alarms) == sorted(&current));
        want.alarms = Some(alarms);
    }
    if differs.is_empty() {
        return;
    }
    for path in differs {
        if managed.contains(path) {
            changed.push(path);
        } else {
            reset.push(path);
        }
    }
    update.deployment_configuration = Some(want);
}

/// Whether ECS runs the Service Connect configuration the spec asks for. Members the spec leaves
/// out that ECS fills (discovery and DNS names, the ingress port, timeouts, the namespace from the
/// cluster's default) are taken from what ECS reports; a namespace given by name is not compared
/// with one ECS reports as an ARN (the ARN holds the namespace id, not its name).
fn service_connect_matches(
    want: &ServiceConnectConfiguration,
    have: Option<&ServiceConnectConfiguration>,
) -> bool {
    let Some(have) = have else {
        return !want.enabled;
    };
    if !want.enabled || !have.enabled {
        return want.enabled == have.enabled;
    }
    let mut want = want.clone();
    let mut have = have.clone();
    let is_arn = |n: &Option<String>| n.as_deref().is_some_and(|n| n.starts_with("arn:"));
    if want.namespace.is_none() || is_arn(&want.namespace) != is_arn(&have.namespace) {
        want.namespace = have.namespace.clone();
    }
    want.namespace_ref = None;
    want.services.sort_by(|a, b| a.port_name.cmp(&b.port_name));
    have.services.sort_by(|a, b| a.port_name.cmp(&b.port_name));
    for (w, h) in want.services.iter_mut().zip(&have.services) {
        if w.discovery_name.is_none() {
            w.discovery_name = h.discovery_name.clone();
        }
        if w.ingress_port_override.is_none() {
            w.ingress_port_override = h.ingress_port_override;
        }
        match (&mut w.timeout, &h.timeout) {
            (None, t) => w.timeout = t.clone(),
            (Some(w), Some(h)) => {
                w.idle_timeout_seconds = w.idle_timeout_seconds.or(h.idle_timeout_seconds);
                w.per_request_timeout_seconds = w
                    .per_request_timeout_seconds
                    .or(h.per_request_timeout_seconds);
            }
            _ => {}
        }
        for (a, b) in w.client_aliases.iter_mut().zip(&h.client_aliases) {
            if a.dns_name.is_none() {
                a.dns_name = b.dns_name.clone();
            }
        }
    }
    for side in [&mut want, &mut have] {
        if let Some(access) = side.access_log_configuration.as_mut() {
            access
                .include_query_parameters
                .get_or_insert(EnabledDisabled::DISABLED);
        }
    }
    want == have
}

/// Whether the desired task definition already failed to roll out (circuit breaker), so
/// applying it again would only fail again.
fn rollout_failed(
    desired: &Desired<'_>,
    observed: &ObservedService,
    status: &ECSServiceStatus,
) -> bool {
    let want = task_definition_key(desired.task_definition_arn);
    let failed_now = observed.deployments.iter().any(|d| {
        d.rollout_state.as_deref() == Some("FAILED")
            && d.task_definition.as_deref().map(task_definition_key) == Some(want)
    });
    let failed_before = status
        .failed_task_definition
        .as_deref()
        .map(task_definition_key)
        == Some(want)
        && status.applied_redeploy_token == desired.spec.redeploy_token;
    failed_now || failed_before
}

fn immutable_fields(spec: &ECSServiceSpec, observed: &ObservedService) -> Option<Plan> {
    if let Some(launch_type) = spec.launch_type
        && observed.launch_type != Some(launch_type)
    {
        return Some(Plan::Immutable {
            field: "launchType",
            message: format!(
                "spec.launchType is {launch_type:?} but the service runs with {}: ECS cannot switch a service to a launch type in place. Create a new ECSService (another serviceName) and delete this one, or use capacityProviderStrategy",
                observed
                    .launch_type
                    .map(|l| format!("launch type {l:?}"))
                    .unwrap_or_else(|| "a capacity provider strategy".into())
            ),
        });
    }
    if let Some(controller) = spec.deployment_controller {
        let current = observed
            .deployment_controller
            .unwrap_or(DeploymentControllerType::ECS);
        if current != controller {
            return Some(Plan::Immutable {
                field: "deploymentController",
                message: format!(
                    "spec.deploymentController is {controller:?} but the service uses {current:?}: ECS cannot change it in place. Create a new ECSService and delete this one"
                ),
            });
        }
    }
    if let Some(strategy) = spec.scheduling_strategy {
        let current = observed
            .scheduling_strategy
            .unwrap_or(SchedulingStrategy::REPLICA);
        if current != strategy {
            return Some(Plan::Immutable {
                field: "schedulingStrategy",
                message: format!(
                    "spec.schedulingStrategy is {strategy:?} but the service uses {current:?}: ECS cannot change it in place. Create a new ECSService and delete this one"
                ),
            });
        }
    }
    None
}

fn normalized_strategy(
    items: &[CapacityProviderStrategyItem],
) -> Vec<CapacityProviderStrategyItem> {
    let mut items: Vec<_> = items
        .iter()
        .map(|i| CapacityProviderStrategyItem {
            capacity_provider: i.capacity_provider.clone(),
            weight: Some(i.weight.unwrap_or(0)),
            base: Some(i.base.unwrap_or(0)),
        })
        .collect();
    items.sort();
    items
}

fn normalized_network(n: &NetworkConfiguration) -> NetworkConfiguration {
    let mut n = n.clone();
    let vpc = &mut n.awsvpc_configuration;
    vpc.subnets.sort();
    vpc.subnets.dedup();
    vpc.security_groups.sort();
    vpc.security_groups.dedup();
    vpc.assign_public_ip
        .get_or_insert(EnabledDisabled::DISABLED);
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::Tag;
    use crate::api::ecs_service::{
        AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentStatus,
        LaunchType, LoadBalancer, PlacementStrategy, SecurityGroupId, ServiceConnectClientAlias,
        ServiceConnectService, ServiceConnectTimeout, SubnetId,
    };

    const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";
    const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";

    fn spec() -> ECSServiceSpec {
        ECSServiceSpec {
            cluster: Some("prod".into()),
            task_definition: Some("web:1".into()),
            desired_count: Some(2),
            launch_type: Some(LaunchType::FARGATE),
            network_configuration: Some(NetworkConfiguration {
                awsvpc_configuration: AwsVpcConfiguration {
                    subnets: vec![
                        SubnetId("subnet-bbbbbbbb".into()),
                        SubnetId("subnet-aaaaaaaa".into()),
                    ],
                    security_groups: vec![SecurityGroupId("sg-11111111".into())],
                    assign_public_ip: None,
                },
            }),
            tags: vec![Tag {
                key: "team".into(),
                value: "web".into(),
            }],
            ..Default::default()
        }
    }

    fn observed() -> ObservedService {
        let mut tags = ownership_tags("ECSService", "ns", "web", "uid-1");
        tags.insert("team".into(), "web".into());
        ObservedService {
            arn: "arn:aws:ecs:us-east-1:123456789012:service/prod/web".into(),
            name: "web".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".into(),
            status: "ACTIVE".into(),
            task_definition: TD1.into(),
            desired_count: 2,
            running_count: 2,
            launch_type: Some(LaunchType::FARGATE),
            network_configuration: Some(NetworkConfiguration {
                awsvpc_configuration: AwsVpcConfiguration {
                    subnets: vec![
                        SubnetId("subnet-aaaaaaaa".into()),
                        SubnetId("subnet-bbbbbbbb".into()),
                    ],
                    security_groups: vec![SecurityGroupId("sg-11111111".into())],
                    assign_public_ip: Some(EnabledDisabled::DISABLED),
                },
            }),
            // ECS fills these defaults; the spec does not set them.
            deployment_configuration: Some(DeploymentConfiguration {
                minimum_healthy_percent: Some(100),
                maximum_percent: Some(200),
                deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                    enable: false,
                    rollback: false,
                }),
                alarms: None,
            }),
            deployment_controller: None,
            tags,
            ..Default::default()
        }
    }

    fn desired<'a>(spec: &'a ECSServiceSpec, td: &'a str) -> Desired<'a> {
        Desired {
            spec,
            cluster: "prod",
            name: "web",
            task_definition_arn: td,
            namespace: "ns",
            object_name: "web",
            uid: "uid-1",
            service_registries: None,
        }
    }

    fn sync_update(plan: Plan) -> (Option<ServiceUpdate>, Vec<&'static str>) {
        match plan {
            Plan::Sync {
                update, changed, ..
            } => (update, changed),
            other => panic!("expected Sync, got {other:?}"),
        }
    }

    #[test]
    fn converged_service_needs_no_write() {
        let spec = spec();
        let plan = plan(
            &desired(&spec, TD1),
            Some(&observed()),
            &ECSServiceStatus::default(),
        );
        assert_eq!(
            plan,
            Plan::Sync {
                adopt: false,
                update: None,
                changed: vec![],
                reset: vec![],
                kept: vec![],
                tags_to_set: BTreeMap::new(),
                tags_to_remove: vec![],
                rollout_failed: false
            }
        );
    }

    #[test]
    fn full_arn_and_family_revision_are_the_same_task_definition() {
        assert_eq!(task_definition_key(TD1), "web:1");
        assert_eq!(task_definition_key("web:1"), "web:1");
    }

    #[test]
    fn only_changed_fields_are_sent() {
        let mut spec = spec();
        spec.desired_count = Some(3);
        let (update, changed) = sync_update(plan(
            &desired(&spec, TD2),
            Some(&observed()),
            &ECSServiceStatus::default(),
        ));
        let update = update.expect("an update");
        assert_eq!(changed, vec!["taskDefinition", "desiredCount"]);
        assert_eq!(update.task_definition.as_deref(), Some(TD2));
        assert_eq!(update.desired_count, Some(3));
        assert!(update.network_configuration.is_none());
        assert!(update.deployment_configuration.is_none());
    }

    #[test]
    fn drift_in_desired_count_is_repaired_and_unset_count_is_left_to_ecs() {
        let spec_with = spec();
        let mut drifted = observed();
        drifted.desired_count = 7;
        let (update, _) = sync_update(plan(
            &desired(&spec_with, TD1),
            Some(&drifted),
            &ECSServiceStatus::default(),
        ));
        assert_eq!(update.and_then(|u| u.desired_count), Some(2));
        let mut spec_without = spec();
        spec_without.desired_count = None;
        let (update, _) = sync_update(plan(
            &desired(&spec_without, TD1),
            Some(&drifted),
            &ECSServiceStatus::default(),
        ));
        assert!(update.is_none());
    }

    #[test]
    fn desired_count_is_only_the_initial_count_with_auto_scaling() {
        let mut spec = spec();
        spec.auto_scaling = Some(crate::api::ecs_service::AutoScaling {
            min_capacity: 1,
            max_capacity: 10,
            ..Default::default()
        });
        let mut scaled = observed();
        scaled.desired_count = 7;
        let (update, changed) = sync_update(plan(
            &desired(&spec, TD1),
            Some(&scaled),
            &ECSServiceStatus::default(),
        ));
        assert!(
            update.is_none(),
            "the scaler's count is not drift: {changed:?}"
        );
        spec.desired_count = Some(3);
        let (update, _) = sync_update(plan(
            &desired(&spec, TD2),
            Some(&scaled),
            &ECSServiceStatus::default(),
        ));
        let update = update.expect("the task definition changed");
        assert_eq!(
            update.desired_count, None,
            "a changed desiredCount is not sent"
        );
        spec.auto_scaling = None;
        let (update, _) = sync_update(plan(
            &desired(&spec, TD1),
            Some(&scaled),
            &ECSServiceStatus::default(),
        ));
        assert_eq!(
            update.and_then(|u| u.desired_count),
            Some(3),
            "without auto scaling desiredCount applies again"
        );
    }

    #[test]
    fn partial_deployment_configuration_compares_only_what_is_set() {
        let mut spec = spec();
        spec.deployment_configuration = Some(DeploymentConfiguration {
            maximum_percent: Some(200),
            ..Default::default()
        });
        let (update, _) = sync_update(plan(
            &desired(&spec, TD1),
            Some(&observed()),
            &ECSServiceStatus::default(),
        ));
        assert!(update.is_none());
        spec.deployment_configuration = Some(DeploymentConfiguration {
            maximum_percent: Some(150),
            ..Default::default()
        });
        let (update, changed) = sync_update(plan(
            &desired(&spec, TD1),
            Some(&observed()),
            &ECSServiceStatus::default(),
        ));
        assert_eq!(changed, vec!["deploymentConfiguration.maximumPercent"]);
        // The parts the spec leaves out are sent as ECS has them (ECS replaces the object).
        assert_eq!(
            update.and_then(|u| u.deployment_configuration),
            Some(DeploymentConfiguration {
                minimum_healthy_percent: Some(100),
                maximum_percent: Some(150),
                deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                    enable: false,
                    rollback: false
                }),
                alarms: None,
            })
        );
    }

    /// Status as the operator leaves it after applying `spec`.
    fn applied(spec: &ECSServiceSpec) -> ECSServiceStatus {
        ECSServiceStatus {
            managed_fields: managed_fields(spec),
            ..Default::default()
        }
    }

    fn sync_parts(plan: Plan) -> (Option<ServiceUpdate>, Vec<&'static str>, Vec<&'static str>) {
        match plan {
            Plan::Sync {
                update,
                reset,
                kept,
                ..
            } => (update, reset, kept),
            other => panic!("expected Sync, got {other:?}"),
        }
    }

    fn with_everything() -> (ECSServiceSpec, ObservedService) {
        let mut spec = spec();
        spec.load_balancers = vec![LoadBalancer {
            target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef".into(),
            container_name: "app".into(),
            container_port: 8080,
        }];
        spec.health_check_grace_period_seconds = Some(30);
        spec.enable_execute_command = Some(true);
        spec.propagate_tags = Some(PropagateTags::SERVICE);
        spec.platform_version = Some("1.4.0".into());
        spec.availability_zone_rebalancing = Some(EnabledDisabled::DISABLED);
        spec.deployment_configuration = Some(DeploymentConfiguration {
            maximum_percent: Some(150),
            deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                enable: true,
                rollback: true,
            }),
            ..Default::default()
        });
        let mut observed = observed();
        observed.load_balancers = spec.load_balancers.clone();
        observed.health_check_grace_period_seconds = Some(30);
        observed.enable_execute_command = true;
        observed.propagate_tags = Some(PropagateTags::SERVICE);
        observed.platform_version = Some("1.4.0".into());
        observed.availability_zone_rebalancing = Some(EnabledDisabled::DISABLED);
        observed.deployment_configuration = Some(DeploymentConfiguration {
            minimum_healthy_percent: Some(100),
            maximum_percent: Some(150),
            deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                enable: true,
                rollback: true,
            }),
            alarms: None,
        });
        (spec, observed)
    }

    #[test]
    fn a_converged_service_with_every_field_needs_no_write() {
        let (spec, observed) = with_everything();
        let (update, reset, kept) =
            sync_parts(plan(&desired(&spec, TD1), Some(&observed), &applied(&spec)));
        assert_eq!((update, reset, kept), (None, vec![], vec![]));
        assert!(unequal_fields(&desired(&spec, TD1), &observed).is_empty());
    }

    #[test]
    fn fields_removed_from_the_spec_are_reset_once_to_the_ecs_defaults() {
        let (full, observed) = with_everything();
        let status = applied(&full);
        let removed = spec();
        let (update, reset, kept) =
            sync_parts(plan(&desired(&removed, TD1), Some(&observed), &status));
        let update = update.expect("an update resets the removed fields");
        assert_eq!(update.load_balancers, Some(vec![]));
        assert_eq!(update.health_check_grace_period_seconds, Some(0));
        assert_eq!(update.enable_execute_command, Some(false));
        assert_eq!(update.propagate_tags, Some(PropagateTags::NONE));
        assert_eq!(update.platform_version.as_deref(), Some("LATEST"));
        assert_eq!(
            update.availability_zone_rebalancing,
            Some(EnabledDisabled::ENABLED)
        );
        assert_eq!(
            update.deployment_configuration,
            Some(DeploymentConfiguration {
                minimum_healthy_percent: Some(100),
                maximum_percent: Some(200),
                deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                    enable: false,
                    rollback: false
                }),
                alarms: None,
            })
        );
        assert_eq!(
            reset,
            vec![
                "platformVersion",
                "loadBalancers",
                "deploymentConfiguration.maximumPercent",
                "deploymentConfiguration.deploymentCircuitBreaker",
                "healthCheckGracePeriodSeconds",
                "enableExecuteCommand",
                "propagateTags",
                "availabilityZoneRebalancing",
            ]
        );
        assert!(kept.is_empty());
        // Once reset, the fields are no longer managed: what others set stays.
        let (update, reset, _) = sync_parts(plan(
            &desired(&removed, TD1),
            Some(&observed),
            &applied(&removed),
        ));
        assert_eq!((update, reset), (None, vec![]));
    }

    #[test]
    fn fields_never_set_are_left_to_others() {
        let (_, observed) = with_everything();
        let spec = spec();
        let (update, reset, kept) =
            sync_parts(plan(&desired(&spec, TD1), Some(&observed), &applied(&spec)));
        assert_eq!((update, reset, kept), (None, vec![], vec![]));
        // Also for an object whose status predates managedFields.
        let (update, _, _) = sync_parts(plan(
            &desired(&spec, TD1),
            Some(&observed),
            &ECSServiceStatus::default(),
        ));
        assert_eq!(update, None);
    }

    #[test]
    fn drift_in_a_managed_field_is_repaired() {
        let (spec, mut observed) = with_everything();
        observed.load_balancers.clear();
        observed.health_check_grace_period_seconds = Some(5);
        let (update, changed) =
            sync_update(plan(&desired(&spec, TD1), Some(&observed), &applied(&spec)));
        assert_eq!(
            changed,
            vec!["loadBalancers", "healthCheckGracePeriodSeconds"]
        );
        let update = update.expect("repair");
        assert_eq!(update.load_balancers, Some(spec.load_balancers.clone()));
        assert_eq!(update.health_check_grace_period_seconds, Some(30));
        assert_eq!(
            unequal_fields(&desired(&spec, TD1), &observed),
            vec!["loadBalancers", "healthCheckGracePeriodSeconds"]
        );
    }

    #[test]
    fn fields_ecs_cannot_reset_are_named_and_left() {
        let spec_with = spec();
        let mut spec_without = spec();
        spec_without.launch_type = None;
        spec_without.network_configuration = None;
        spec_without.desired_count = None;
        let (update, reset, kept) = sync_parts(plan(
            &desired(&spec_without, TD1),
            Some(&observed()),
            &applied(&spec_with),
        ));
        assert_eq!(update, None);
        assert!(reset.is_empty());
        assert_eq!(
            kept,
            vec!["desiredCount", "launchType", "networkConfiguration"]
        );
        for path in kept {
            assert!(matches!(
                field_rule(path).map(|r| r.removal),
                Some(Removal::Kept(_))
            ));
        }
    }

    #[test]
    fn network_parts_removed_are_reset_and_parts_never_set_are_kept_as_ecs_has_them() {
        let mut spec_with = spec();
        spec_with
            .network_configuration
            .as_mut()
            .expect("network")
            .awsvpc_configuration
            .assign_public_ip = Some(EnabledDisabled::ENABLED);
        let mut observed = observed();
        observed
            .network_configuration
            .as_mut()
            .expect("network")
            .awsvpc_configuration
            .assign_public_ip = Some(EnabledDisabled::ENABLED);
        let mut spec_without = spec();
        spec_without
            .network_configuration
            .as_mut()
            .expect("network")
            .awsvpc_configuration
            .security_groups
            .clear();
        let (update, reset, _) = sync_parts(plan(
            &desired(&spec_without, TD1),
            Some(&observed),
            &applied(&spec_with),
        ));
        let sent = update
            .and_then(|u| u.network_configuration)
            .expect("network update")
            .awsvpc_configuration;
        assert_eq!(sent.assign_public_ip, Some(EnabledDisabled::DISABLED));
        assert!(sent.security_groups.is_empty(), "ECS's default group");
        assert_eq!(
            reset,
            vec![
                "networkConfiguration.awsvpcConfiguration.securityGroups",
                "networkConfiguration.awsvpcConfiguration.assignPublicIp"
            ]
        );
        // Never set: the security groups ECS has are sent back as they are.
        let (update, _, _) = sync_parts(plan(
            &desired(&spec_without, TD1),
            Some(&observed),
            &applied(&spec_without),
        ));
        assert_eq!(update, None);
    }

    #[test]
    fn rebalancing_resets_to_disabled_where_ecs_cannot_rebalance() {
        let mut spec_with = spec();
        spec_with.availability_zone_rebalancing = Some(EnabledDisabled::ENABLED);
        spec_with.placement_strategy = vec![PlacementStrategy {
            type_: "binpack".into(),
            field: Some("memory".into()),
        }];
        let mut observed = observed();
        observed.availability_zone_rebalancing = Some(EnabledDisabled::ENABLED);
        observed.placement_strategy = spec_with.placement_strategy.clone();
        let mut spec_without = spec_with.clone();
        spec_without.availability_zone_rebalancing = None;
        let (update, reset, _) = sync_parts(plan(
            &desired(&spec_without, TD1),
            Some(&observed),
            &applied(&spec_with),
        ));
        assert_eq!(
            update.and_then(|u| u.availability_zone_rebalancing),
            Some(EnabledDisabled::DISABLED)
        );
        assert_eq!(reset, vec!["availabilityZoneRebalancing"]);
    }

    fn connect() -> ServiceConnectConfiguration {
        ServiceConnectConfiguration {
            enabled: true,
            namespace: Some("apps".into()),
            services: vec![ServiceConnectService {
                port_name: "http".into(),
                client_aliases: vec![ServiceConnectClientAlias {
                    port: 80,
                    ..Default::default()
                }],
                timeout: Some(ServiceConnectTimeout {
                    per_request_timeout_seconds: Some(15),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// Service Connect as ECS reports it: ARN namespace, the names and timeouts it fills.
    fn connect_reported() -> ServiceConnectConfiguration {
        let mut c = connect();
        c.namespace =
            Some("arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-abc".into());
        let s = &mut c.services[0];
        s.discovery_name = Some("http".into());
        s.client_aliases[0].dns_name = Some("http.apps".into());
        s.ingress_port_override = Some(8080);
        if let Some(t) = s.timeout.as_mut() {
            t.idle_timeout_seconds = Some(300);
        }
        c
    }

    #[test]
    fn service_connect_is_compared_with_the_primary_deployment_after_ecs_fills_defaults() {
        let mut spec = spec();
        spec.service_connect_configuration = Some(connect());
        let mut observed = observed();
        observed.service_connect_configuration = Some(connect_reported());
        let (update, changed) =
            sync_update(plan(&desired(&spec, TD1), Some(&observed), &applied(&spec)));
        assert_eq!((update, changed), (None, vec![]));

        // Drift on the primary deployment is repaired.
        let mut drifted = observed.clone();
        if let Some(c) = drifted.service_connect_configuration.as_mut() {
            c.services[0].timeout = Some(ServiceConnectTimeout {
                per_request_timeout_seconds: Some(60),
                idle_timeout_seconds: Some(300),
            });
        }
        let (update, changed) =
            sync_update(plan(&desired(&spec, TD1), Some(&drifted), &applied(&spec)));
        assert_eq!(changed, vec!["serviceConnectConfiguration"]);
        assert_eq!(
            update.and_then(|u| u.service_connect_configuration),
            Some(connect())
        );
        // Not yet running at all: also a difference.
        let mut none = observed.clone();
        none.service_connect_configuration = None;
        assert_eq!(
            unequal_fields(&desired(&spec, TD1), &none),
            vec!["serviceConnectConfiguration"]
        );

        // Removed from the spec: turned off once.
        let without = self::spec();
        let (update, reset, _) = sync_parts(plan(
            &desired(&without, TD1),
            Some(&observed),
            &applied(&spec),
        ));
        assert_eq!(
            update.and_then(|u| u.service_connect_configuration),
            Some(ServiceConnectConfiguration {
                enabled: false,
                ..Default::default()
            })
        );
        assert_eq!(reset, vec!["serviceConnectConfiguration"]);
    }

    #[test]
    fn foreign_service_needs_opt_in() {
        let spec_plain = spec();
        let mut foreign = observed();
        foreign.tags.clear();
        assert!(matches!(
            plan(
                &desired(&spec_plain, TD1),
                Some(&foreign),
                &ECSServiceStatus::default()
            ),
            Plan::AlreadyExists { .. }
        ));
        let mut spec_adopt = spec();
        spec_adopt.adopt_existing = true;
        match plan(
            &desired(&spec_adopt, TD1),
            Some(&foreign),
            &ECSServiceStatus::default(),
        ) {
            Plan::Sync {
                adopt, tags_to_set, ..
            } => {
                assert!(adopt);
                assert_eq!(
                    tags_to_set.get("ecs-operator.dev/uid").map(String::as_str),
                    Some("uid-1")
                );
                assert_eq!(tags_to_set.get("team").map(String::as_str), Some("web"));
                assert_eq!(
                    tags_to_set
                        .get("ecs-operator.dev/adopted")
                        .map(String::as_str),
                    Some("true")
                );
            }
            other => panic!("{other:?}"),
        }
        let mut theirs = observed();
        theirs.tags = ownership_tags("ECSService", "other-ns", "web", "uid-2");
        assert!(
            matches!(
                plan(
                    &desired(&spec_adopt, TD1),
                    Some(&theirs),
                    &ECSServiceStatus::default()
                ),
                Plan::AlreadyExists {
                    owner: NotOurs::AnotherObject
                }
            ),
            "another object's service is never adopted"
        );
    }

    #[test]
    fn lifecycle_states() {
        let spec = spec();
        assert_eq!(
            plan(&desired(&spec, TD1), None, &ECSServiceStatus::default()),
            Plan::Create
        );
        let mut inactive = observed();
        inactive.status = "INACTIVE".into();
        assert_eq!(
            plan(
                &desired(&spec, TD1),
                Some(&inactive),
                &ECSServiceStatus::default()
            ),
            Plan::Create
        );
        let mut draining = observed();
        draining.status = "DRAINING".into();
        assert_eq!(
            plan(
                &desired(&spec, TD1),
                Some(&draining),
                &ECSServiceStatus::default()
            ),
            Plan::WaitForDrain
        );
    }

    #[test]
    fn immutable_fields_stall_with_a_way_out() {
        let mut spec = spec();
        spec.launch_type = Some(LaunchType::EC2);
        match plan(
            &desired(&spec, TD1),
            Some(&observed()),
            &ECSServiceStatus::default(),
        ) {
            Plan::Immutable { field, message } => {
                assert_eq!(field, "launchType");
                assert!(message.contains("new ECSService"));
            }
            other => panic!("{other:?}"),
        }
        let spec = self::spec();
        let status = ECSServiceStatus {
            service_arn: Some("arn:aws:ecs:us-east-1:123456789012:service/staging/web".into()),
            ..Default::default()
        };
        assert!(matches!(
            plan(&desired(&spec, TD1), Some(&observed()), &status),
            Plan::Immutable {
                field: "cluster",
                ..
            }
        ));
    }

    #[test]
    fn failed_rollout_is_not_reapplied_until_the_spec_changes() {
        let spec = spec();
        let mut rolled_back = observed();
        rolled_back.deployments = vec![DeploymentStatus {
            id: "ecs-svc/2".into(),
            status: "ACTIVE".into(),
            task_definition: Some(TD2.into()),
            rollout_state: Some("FAILED".into()),
            ..Default::default()
        }];
        match plan(
            &desired(&spec, TD2),
            Some(&rolled_back),
            &ECSServiceStatus::default(),
        ) {
            Plan::Sync {
                update,
                rollout_failed,
                ..
            } => {
                assert!(rollout_failed);
                assert!(update.is_none());
            }
            other => panic!("{other:?}"),
        }
        let status = ECSServiceStatus {
            failed_task_definition: Some(TD2.into()),
            ..Default::default()
        };
        let (update, _) = sync_update(plan(&desired(&spec, TD2), Some(&observed()), &status));
        assert!(
            update.is_none(),
            "still failed after the FAILED deployment is gone"
        );
        let mut retry = spec.clone();
        retry.redeploy_token = Some("retry-1".into());
        let (update, changed) =
            sync_update(plan(&desired(&retry, TD2), Some(&observed()), &status));
        assert!(
            update.is_some_and(
                |u| u.force_new_deployment && u.task_definition.as_deref() == Some(TD2)
            )
        );
        assert!(changed.contains(&"redeployToken"));
    }

    #[test]
    fn registries_are_compared_as_sets_and_detach_is_an_update() {
        let spec = spec();
        let registry = Registry {
            registry_arn: "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1".into(),
            ..Default::default()
        };
        let wanted = [registry.clone()];
        let mut d = desired(&spec, TD1);
        d.service_registries = Some(&wanted);
        let (update, changed) =
            sync_update(plan(&d, Some(&observed()), &ECSServiceStatus::default()));
        assert_eq!(changed, vec!["serviceRegistries"]);
        assert_eq!(
            update.and_then(|u| u.service_registries),
            Some(vec![registry.clone()])
        );
        let mut registered = observed();
        registered.service_registries = vec![registry.registry_arn.clone()];
        let (update, _) = sync_update(plan(&d, Some(&registered), &ECSServiceStatus::default()));
        assert!(update.is_none());
        d.service_registries = Some(&[]);
        let (update, _) = sync_update(plan(&d, Some(&registered), &ECSServiceStatus::default()));
        assert_eq!(update.and_then(|u| u.service_registries), Some(vec![]));
    }

    #[test]
    fn volume_configurations_are_applied_once_and_removal_is_applied() {
        use crate::api::ecs_service::{ManagedEbsVolume, ServiceVolumeConfiguration};
        let mut spec = spec();
        spec.volume_configurations = vec![ServiceVolumeConfiguration {
            name: "data".into(),
            managed_ebs_volume: ManagedEbsVolume {
                role_arn: "arn:aws:iam::123456789012:role/ebs".into(),
                size_in_gib: Some(20),
                ..Default::default()
            },
        }];
        let (update, changed) = sync_update(plan(
            &desired(&spec, TD1),
            Some(&observed()),
            &ECSServiceStatus::default(),
        ));
        assert_eq!(changed, vec!["volumeConfigurations"]);
        assert_eq!(
            update
                .and_then(|u| u.volume_configurations)
                .map(|v| v.len()),
            Some(1)
        );
        let applied = ECSServiceStatus {
            applied_volume_configurations_hash: Some(volume_configurations_hash(
                &spec.volume_configurations,
            )),
            ..Default::default()
        };
        let (update, _) = sync_update(plan(&desired(&spec, TD1), Some(&observed()), &applied));
        assert!(update.is_none(), "applied volumes are not sent again");
        let without = self::spec();
        let (update, _) = sync_update(plan(&desired(&without, TD1), Some(&observed()), &applied));
        assert_eq!(update.and_then(|u| u.volume_configurations), Some(vec![]));
    }

    #[test]
    fn create_token_repeats_for_the_same_intent_only() {
        let uid = "0b6f3c1e-5a4d-4e8f-9c2b-7d1a6e5f4c3b";
        let intent = serde_json::json!({"name": "web", "taskDefinition": "app:1"});
        let token = create_token(uid, &intent, 0);
        assert_eq!(token.len(), 36, "ECS allows 36 characters");
        assert_eq!(
            token,
            create_token(uid, &intent, 0),
            "a retry is idempotent"
        );
        let changed = serde_json::json!({"name": "web", "taskDefinition": "app:2"});
        assert_ne!(token, create_token(uid, &changed, 0), "a changed spec");
        assert_ne!(token, create_token(uid, &intent, 1), "a re-create");
        assert_ne!(
            token,
            create_token("another-uid", &intent, 0),
            "another object"
        );
    }

    #[test]
    fn redeploy_token_forces_a_deployment_once() {
        let mut spec = spec();
        spec.redeploy_token = Some("2026-01-01".into());
        let (update, _) = sync_update(plan(
            &desired(&spec, TD1),
            Some(&observed()),
            &ECSServiceStatus::default(),
        ));
        assert!(update.is_some_and(|u| u.force_new_deployment));
        let status = ECSServiceStatus {
            applied_redeploy_token: Some("2026-01-01".into()),
            ..Default::default()
        };
        let (update, _) = sync_update(plan(&desired(&spec, TD1), Some(&observed()), &status));
        assert!(update.is_none());
    }
}
