//! Pure decisions for an ECSService: compare the spec with the observed service after
//! normalising both sides, and say what to do.
//!
//! Only fields the spec sets are compared ("drift in the fields the spec sets"): a field left
//! unset is ECS's to decide, so defaults ECS fills never look like drift.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

#[cfg(test)]
use crate::api::common::ownership_tags;
use crate::api::common::{Claim, NotOurs, adoption_tags, claim};
use crate::api::ecs_service::{
    CapacityProviderStrategyItem, DeploymentConfiguration, DeploymentControllerType,
    ECSServiceSpec, ECSServiceStatus, EnabledDisabled, NetworkConfiguration, PropagateTags,
    SchedulingStrategy,
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
    let mut update = ServiceUpdate::default();
    let mut changed = Vec::new();

    let rollout_failed = rollout_failed(desired, observed, status);
    if !rollout_failed
        && task_definition_key(&observed.task_definition)
            != task_definition_key(desired.task_definition_arn)
    {
        update.task_definition = Some(desired.task_definition_arn.to_string());
        changed.push("taskDefinition");
    }
    // With auto scaling the scaler owns the count: desiredCount is only the initial one.
    if spec.auto_scaling.is_none()
        && let Some(count) = spec.desired_count
        && count != observed.desired_count
    {
        update.desired_count = Some(count);
        changed.push("desiredCount");
    }
    if !spec.capacity_provider_strategy.is_empty()
        && normalized_strategy(&spec.capacity_provider_strategy)
            != normalized_strategy(&observed.capacity_provider_strategy)
    {
        update.capacity_provider_strategy = Some(spec.capacity_provider_strategy.clone());
        changed.push("capacityProviderStrategy");
    }
    if let Some(version) = &spec.platform_version
        && observed.platform_version.as_ref() != Some(version)
    {
        update.platform_version = Some(version.clone());
        changed.push("platformVersion");
    }
    if let Some(network) = &spec.network_configuration
        && Some(normalized_network(network))
            != observed
                .network_configuration
                .as_ref()
                .map(normalized_network)
    {
        update.network_configuration = Some(network.clone());
        changed.push("networkConfiguration");
    }
    if !spec.load_balancers.is_empty() {
        let mut want = spec.load_balancers.clone();
        let mut have = observed.load_balancers.clone();
        want.sort();
        have.sort();
        if want != have {
            update.load_balancers = Some(spec.load_balancers.clone());
            changed.push("loadBalancers");
        }
    }
    if let Some(config) = &spec.deployment_configuration
        && !deployment_configuration_matches(config, observed.deployment_configuration.as_ref())
    {
        update.deployment_configuration = Some(config.clone());
        changed.push("deploymentConfiguration");
    }
    if !spec.placement_constraints.is_empty() {
        let mut want = spec.placement_constraints.clone();
        let mut have = observed.placement_constraints.clone();
        want.sort();
        have.sort();
        if want != have {
            update.placement_constraints = Some(spec.placement_constraints.clone());
            changed.push("placementConstraints");
        }
    }
    // Placement strategy order is meaningful (applied in order): compared as a list.
    if !spec.placement_strategy.is_empty() && spec.placement_strategy != observed.placement_strategy
    {
        update.placement_strategy = Some(spec.placement_strategy.clone());
        changed.push("placementStrategy");
    }
    if let Some(grace) = spec.health_check_grace_period_seconds
        && observed.health_check_grace_period_seconds.unwrap_or(0) != grace
    {
        update.health_check_grace_period_seconds = Some(grace);
        changed.push("healthCheckGracePeriodSeconds");
    }
    if let Some(exec) = spec.enable_execute_command
        && exec != observed.enable_execute_command
    {
        update.enable_execute_command = Some(exec);
        changed.push("enableExecuteCommand");
    }
    if let Some(managed) = spec.enable_ecs_managed_tags
        && managed != observed.enable_ecs_managed_tags
    {
        update.enable_ecs_managed_tags = Some(managed);
        changed.push("enableECSManagedTags");
    }
    if let Some(propagate) = spec.propagate_tags
        && observed.propagate_tags.unwrap_or(PropagateTags::NONE) != propagate
    {
        update.propagate_tags = Some(propagate);
        changed.push("propagateTags");
    }
    if let Some(rebalancing) = spec.availability_zone_rebalancing {
        // ECS reports the effective value; older services omit it (DISABLED).
        if observed
            .availability_zone_rebalancing
            .unwrap_or(EnabledDisabled::DISABLED)
            != rebalancing
        {
            update.availability_zone_rebalancing = Some(rebalancing);
            changed.push("availabilityZoneRebalancing");
        }
    }
    if let Some(connect) = &spec.service_connect_configuration
        && status.applied_service_connect_hash.as_deref() != Some(value_hash(connect).as_str())
    {
        update.service_connect_configuration = Some(connect.clone());
        changed.push("serviceConnectConfiguration");
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
            changed.push("serviceRegistries");
        }
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
        update: (!changed.is_empty()).then_some(update),
        changed,
        tags_to_set,
        tags_to_remove,
        rollout_failed,
    }
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

/// Compares only the parts of the deployment configuration the spec sets.
fn deployment_configuration_matches(
    want: &DeploymentConfiguration,
    have: Option<&DeploymentConfiguration>,
) -> bool {
    let have = have.cloned().unwrap_or_default();
    let same = |w: Option<i32>, h: Option<i32>| w.is_none() || w == h;
    let breaker_same = match (
        &want.deployment_circuit_breaker,
        &have.deployment_circuit_breaker,
    ) {
        (None, _) => true,
        (Some(w), Some(h)) => w == h,
        (Some(w), None) => !w.enable && !w.rollback,
    };
    let alarms_same = match (&want.alarms, &have.alarms) {
        (None, _) => true,
        (Some(w), Some(h)) => {
            let (mut wn, mut hn) = (w.alarm_names.clone(), h.alarm_names.clone());
            wn.sort();
            hn.sort();
            wn == hn && w.enable == h.enable && w.rollback == h.rollback
        }
        (Some(w), None) => !w.enable,
    };
    same(want.minimum_healthy_percent, have.minimum_healthy_percent)
        && same(want.maximum_percent, have.maximum_percent)
        && breaker_same
        && alarms_same
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::Tag;
    use crate::api::ecs_service::{
        AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentStatus, LaunchType,
        SecurityGroupId, SubnetId,
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
        let (_, changed) = sync_update(plan(
            &desired(&spec, TD1),
            Some(&observed()),
            &ECSServiceStatus::default(),
        ));
        assert_eq!(changed, vec!["deploymentConfiguration"]);
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
