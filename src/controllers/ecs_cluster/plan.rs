//! Pure decisions for an ECSCluster: compare the spec with the observed cluster after
//! normalising both sides, and say what to do.
//!
//! Three-way field semantics: what the spec sets is compared and repaired; what it set before
//! (`status.managedFields`) and no longer sets is reset once to ECS's default; what it never
//! set is ECS's (or another tool's) to decide, so defaults ECS fills never look like drift.
//! The capacity providers are managed as a whole once the spec names any
//! (PutClusterCapacityProviders always sets the complete list).

use std::collections::{BTreeMap, BTreeSet};

#[cfg(test)]
use crate::api::common::ownership_tags;
use crate::api::common::{Claim, NotOurs, adoption_tags, claim};
use crate::api::ecs_cluster::{
    ContainerInsights, ECSClusterSpec, ECSClusterStatus, ExecuteCommandConfiguration,
    ExecuteCommandLogConfiguration, ExecuteCommandLogging,
};
use crate::api::ecs_service::CapacityProviderStrategyItem;
use crate::aws::ecs_cluster::{ClusterUpdate, CreateClusterRequest, ObservedCluster};
use crate::controllers::task_definition::plan::tag_changes;

pub const KIND: &str = "ECSCluster";

/// The Service Connect namespace the spec asks for, as far as it can be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WantedNamespace {
    /// The spec leaves Service Connect defaults alone.
    None,
    /// A namespace name or ARN.
    Literal(String),
    /// A `namespaceRef` that cannot be resolved (yet): the message says why.
    Unresolved(String),
}

/// The capacity providers the spec asks for, as far as they can be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WantedProviders {
    /// The spec names no providers and no strategy: ECS's are left alone.
    Unmanaged,
    /// The complete, sorted list of provider names.
    Resolved(Vec<String>),
    /// Some `capacityProviderRefs` are not Ready: the message says which.
    Unresolved(String),
}

/// What the operator wants, resolved.
#[derive(Clone, Debug)]
pub struct Desired<'a> {
    pub spec: &'a ECSClusterSpec,
    pub name: &'a str,
    pub namespace_wanted: WantedNamespace,
    pub providers: WantedProviders,
    /// The Kubernetes object: namespace, name, uid (for ownership tags).
    pub namespace: &'a str,
    pub object_name: &'a str,
    pub uid: &'a str,
}

/// A PutClusterCapacityProviders call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvidersUpdate {
    pub capacity_providers: Vec<String>,
    pub default_strategy: Vec<CapacityProviderStrategyItem>,
    /// Providers the call dissociates from the cluster.
    pub removed: Vec<String>,
}

// Plans are short-lived values passed once from the decision to the reconcile.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// No cluster of that name (or only an INACTIVE one): create it.
    Create,
    /// Someone else's cluster has the name.
    AlreadyExists { owner: NotOurs },
    /// The spec cannot be applied as it stands (checked before calling ECS).
    Invalid { message: String },
    /// Our cluster (or one being adopted): apply `update`, `providers` and tags.
    Sync {
        adopt: bool,
        update: Option<ClusterUpdate>,
        providers: Option<ProvidersUpdate>,
        /// Names of the changed fields, for Events and logs.
        changed: Vec<&'static str>,
        /// Fields removed from the spec that `update`/`providers` reset to ECS's default.
        reset: Vec<&'static str>,
        tags_to_set: BTreeMap<String, String>,
        tags_to_remove: Vec<String>,
    },
}

impl Plan {
    /// Whether the plan makes any write call.
    pub fn writes(&self) -> bool {
        match self {
            Plan::Create => true,
            Plan::AlreadyExists { .. } | Plan::Invalid { .. } => false,
            Plan::Sync {
                update,
                providers,
                tags_to_set,
                tags_to_remove,
                ..
            } => {
                update.is_some()
                    || providers.is_some()
                    || !tags_to_set.is_empty()
                    || !tags_to_remove.is_empty()
            }
        }
    }
}

/// Capacity provider names the spec lists directly plus those resolved from references,
/// sorted and without duplicates.
pub fn provider_names(spec: &ECSClusterSpec, from_refs: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = spec
        .capacity_providers
        .iter()
        .map(|p| p.0.clone())
        .chain(from_refs.iter().cloned())
        .collect();
    set.into_iter().collect()
}

/// Whether the spec manages the cluster's capacity providers at all.
pub fn manages_providers(spec: &ECSClusterSpec) -> bool {
    !spec.capacity_providers.is_empty()
        || !spec.capacity_provider_refs.is_empty()
        || !spec.default_capacity_provider_strategy.is_empty()
}

/// Strategy entries with ECS's defaults filled (weight 0, base 0), sorted by provider.
pub fn normalized_strategy(
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

/// A strategy entry naming a provider the cluster will not have: ECS refuses those, so the
/// spec is reported before any call.
pub fn strategy_problem(spec: &ECSClusterSpec, providers: &[String]) -> Option<String> {
    let missing: Vec<&str> = spec
        .default_capacity_provider_strategy
        .iter()
        .map(|s| s.capacity_provider.as_str())
        .filter(|p| !providers.iter().any(|q| q == p))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "defaultCapacityProviderStrategy names {} which the cluster would not have: add it to spec.capacityProviders or spec.capacityProviderRefs",
            missing.join(", ")
        )
    })
}

/// A cluster name change after creation, judged from what status recorded.
const CONTAINER_INSIGHTS: &str = "settings.containerInsights";
const EXECUTE_COMMAND: &str = "configuration.executeCommandConfiguration";
const SERVICE_CONNECT: &str = "serviceConnectDefaults";
/// `capacityProviders`, `capacityProviderRefs` and `defaultCapacityProviderStrategy`, which ECS
/// sets together.
const CAPACITY_PROVIDERS: &str = "capacityProviders";

/// Every cluster field the spec can manage; removing one resets it: container insights to
/// `disabled`, ECS Exec to `logging: DEFAULT` without key or log destination, Service
/// Connect defaults to none (an empty namespace), capacity providers and the default strategy
/// to none.
pub const FIELDS: &[&str] = &[
    CONTAINER_INSIGHTS,
    EXECUTE_COMMAND,
    SERVICE_CONNECT,
    CAPACITY_PROVIDERS,
];

/// The paths of `FIELDS` this spec sets.
pub fn managed_paths(spec: &ECSClusterSpec) -> BTreeSet<&'static str> {
    let set = [
        (
            CONTAINER_INSIGHTS,
            spec.settings
                .as_ref()
                .is_some_and(|s| s.container_insights.is_some()),
        ),
        (
            EXECUTE_COMMAND,
            spec.configuration
                .as_ref()
                .is_some_and(|c| c.execute_command_configuration.is_some()),
        ),
        (SERVICE_CONNECT, spec.service_connect_defaults.is_some()),
        (CAPACITY_PROVIDERS, manages_providers(spec)),
    ];
    set.into_iter()
        .filter_map(|(path, managed)| managed.then_some(path))
        .collect()
}

/// `status.managedFields` for this spec.
pub fn managed_fields(spec: &ECSClusterSpec) -> Vec<String> {
    managed_paths(spec)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The CreateCluster request for a spec: `namespace` is the literal Service Connect namespace
/// (a reference resolved), `providers` the capacity providers when the spec manages them.
pub fn create_request<'a>(
    spec: &'a ECSClusterSpec,
    name: &'a str,
    namespace: Option<&'a str>,
    providers: Option<&'a [String]>,
    tags: &'a BTreeMap<String, String>,
) -> CreateClusterRequest<'a> {
    CreateClusterRequest {
        name,
        container_insights: spec.settings.as_ref().and_then(|s| s.container_insights),
        execute_command_configuration: spec
            .configuration
            .as_ref()
            .and_then(|c| c.execute_command_configuration.as_ref()),
        service_connect_namespace: namespace,
        capacity_providers: providers
            .map(|p| (p, spec.default_capacity_provider_strategy.as_slice())),
        tags,
    }
}

/// ECS Exec as a cluster without the setting has it.
fn default_execute_command() -> ExecuteCommandConfiguration {
    ExecuteCommandConfiguration {
        logging: Some(ExecuteCommandLogging::DEFAULT),
        ..Default::default()
    }
}

pub fn immutable_from_status(desired: &Desired<'_>, status: &ECSClusterStatus) -> Option<String> {
    let recorded = status.cluster_name.as_deref()?;
    (recorded != desired.name).then(|| {
        format!(
            "the ECS cluster name changed from {recorded} to {}: ECS cannot rename a cluster. Revert the change, or create a new ECSCluster (and delete this one)",
            desired.name
        )
    })
}

/// Decides what to do about the cluster.
pub fn plan(
    desired: &Desired<'_>,
    observed: Option<&ObservedCluster>,
    status: &ECSClusterStatus,
) -> Plan {
    if let Some(message) = immutable_from_status(desired, status) {
        return Plan::Invalid { message };
    }
    if let WantedProviders::Resolved(providers) = &desired.providers
        && let Some(message) = strategy_problem(desired.spec, providers)
    {
        return Plan::Invalid { message };
    }
    let observed = match observed {
        Some(o) if o.exists() => o,
        _ => return Plan::Create,
    };
    let adopt = match claim(&observed.tags, desired.uid, desired.spec.adopt_existing) {
        Claim::Ours => false,
        Claim::Adopt => true,
        Claim::Refused(owner) => return Plan::AlreadyExists { owner },
    };

    let spec = desired.spec;
    let mut update = ClusterUpdate::default();
    let mut changed = Vec::new();
    let mut reset = Vec::new();
    let managed = managed_paths(spec);
    let removed =
        |path: &str| status.managed_fields.iter().any(|m| m == path) && !managed.contains(path);
    if removed(CONTAINER_INSIGHTS)
        && observed
            .container_insights
            .is_some_and(|c| c != ContainerInsights::Disabled)
    {
        update.container_insights = Some(ContainerInsights::Disabled);
        reset.push(CONTAINER_INSIGHTS);
    }
    let exec_is_default = observed
        .execute_command_configuration
        .as_ref()
        .is_none_or(|e| {
            e.kms_key_id.is_none()
                && e.log_configuration.is_none()
                && e.logging.unwrap_or(ExecuteCommandLogging::DEFAULT)
                    == ExecuteCommandLogging::DEFAULT
        });
    if removed(EXECUTE_COMMAND) && !exec_is_default {
        update.execute_command_configuration = Some(default_execute_command());
        reset.push(EXECUTE_COMMAND);
    }
    if removed(SERVICE_CONNECT) && observed.service_connect_namespace.is_some() {
        // ECS removes the Service Connect defaults when given an empty namespace.
        update.service_connect_namespace = Some(String::new());
        reset.push(SERVICE_CONNECT);
    }

    if let Some(insights) = spec.settings.as_ref().and_then(|s| s.container_insights)
        && observed.container_insights != Some(insights)
    {
        update.container_insights = Some(insights);
        changed.push("settings.containerInsights");
    }
    if let Some(exec) = spec
        .configuration
        .as_ref()
        .and_then(|c| c.execute_command_configuration.as_ref())
        && !execute_command_matches(exec, observed.execute_command_configuration.as_ref())
    {
        update.execute_command_configuration = Some(exec.clone());
        changed.push("configuration.executeCommandConfiguration");
    }
    if let WantedNamespace::Literal(namespace) = &desired.namespace_wanted
        && !namespace_matches(
            namespace,
            observed.service_connect_namespace.as_deref(),
            status,
        )
    {
        update.service_connect_namespace = Some(namespace.clone());
        changed.push("serviceConnectDefaults");
    }

    let mut providers = None;
    if removed(CAPACITY_PROVIDERS)
        && (!observed.capacity_providers.is_empty()
            || !observed.default_capacity_provider_strategy.is_empty())
    {
        reset.push(CAPACITY_PROVIDERS);
        providers = Some(ProvidersUpdate {
            capacity_providers: vec![],
            default_strategy: vec![],
            removed: observed.capacity_providers.clone(),
        });
    }
    if let WantedProviders::Resolved(want) = &desired.providers {
        let strategy_same = normalized_strategy(&spec.default_capacity_provider_strategy)
            == normalized_strategy(&observed.default_capacity_provider_strategy);
        let mut have = observed.capacity_providers.clone();
        have.sort();
        if *want != have || !strategy_same {
            changed.push("capacityProviders");
            providers = Some(ProvidersUpdate {
                capacity_providers: want.clone(),
                default_strategy: spec.default_capacity_provider_strategy.clone(),
                removed: have.into_iter().filter(|p| !want.contains(p)).collect(),
            });
        }
    }

    let mut desired_tags: BTreeMap<String, String> = spec
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    if adopt {
        // Adoption puts our ownership tags on the cluster; from then on spec.tags is
        // authoritative for the user tags.
        desired_tags.extend(adoption_tags(
            KIND,
            desired.namespace,
            desired.object_name,
            desired.uid,
        ));
    }
    let (tags_to_set, tags_to_remove) = tag_changes(&observed.tags, &desired_tags);
    let has_update = update != ClusterUpdate::default();
    Plan::Sync {
        adopt,
        update: has_update.then_some(update),
        providers,
        changed,
        reset,
        tags_to_set,
        tags_to_remove,
    }
}

/// Whether the namespace ECS reports is the one the spec asks for. ECS reports an ARN even
/// when given a name, so a name is compared with what was last applied (in status) and the
/// ARN ECS reported after applying it.
pub fn namespace_matches(wanted: &str, observed: Option<&str>, status: &ECSClusterStatus) -> bool {
    let Some(observed) = observed else {
        return false;
    };
    if wanted.starts_with("arn:") || observed == wanted {
        return observed == wanted;
    }
    status.applied_service_connect_namespace.as_deref() == Some(wanted)
        && status.service_connect_namespace.as_deref() == Some(observed)
}

fn normalized_log(l: &ExecuteCommandLogConfiguration) -> ExecuteCommandLogConfiguration {
    ExecuteCommandLogConfiguration {
        cloud_watch_encryption_enabled: Some(l.cloud_watch_encryption_enabled.unwrap_or(false)),
        s3_encryption_enabled: Some(l.s3_encryption_enabled.unwrap_or(false)),
        ..l.clone()
    }
}

/// Compares only the parts of the ECS Exec configuration the spec sets.
fn execute_command_matches(
    want: &ExecuteCommandConfiguration,
    have: Option<&ExecuteCommandConfiguration>,
) -> bool {
    let have = have.cloned().unwrap_or_default();
    let kms_same = want.kms_key_id.is_none() || want.kms_key_id == have.kms_key_id;
    let logging_same = want.logging.is_none()
        || want.logging == Some(have.logging.unwrap_or(ExecuteCommandLogging::DEFAULT));
    let log_same = match (&want.log_configuration, &have.log_configuration) {
        (None, _) => true,
        (Some(w), Some(h)) => normalized_log(w) == normalized_log(h),
        (Some(_), None) => false,
    };
    kms_same && logging_same && log_same
}

/// Providers the spec would dissociate while an ECSService's strategy (of a service in this
/// cluster) uses them: ECS refuses that, so it is reported before the call. Returns
/// (provider, service) pairs, sorted.
pub fn providers_in_use(
    removed: &[String],
    service_strategies: &[(String, Vec<String>)],
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = service_strategies
        .iter()
        .flat_map(|(service, providers)| {
            providers
                .iter()
                .filter(|p| removed.contains(p))
                .map(move |p| (p.clone(), service.clone()))
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::Tag;
    use crate::api::ecs_cluster::{
        CapacityProviderName, ClusterConfiguration, ClusterSettings, ContainerInsights,
    };

    const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";

    fn spec() -> ECSClusterSpec {
        ECSClusterSpec {
            settings: Some(ClusterSettings {
                container_insights: Some(ContainerInsights::Enabled),
            }),
            capacity_providers: vec![
                CapacityProviderName("FARGATE_SPOT".into()),
                CapacityProviderName("FARGATE".into()),
            ],
            default_capacity_provider_strategy: vec![CapacityProviderStrategyItem {
                capacity_provider: "FARGATE".into(),
                weight: Some(1),
                base: None,
            }],
            tags: vec![Tag {
                key: "team".into(),
                value: "platform".into(),
            }],
            ..Default::default()
        }
    }

    fn observed() -> ObservedCluster {
        let mut tags = ownership_tags(KIND, "ns", "prod", "uid-1");
        tags.insert("team".into(), "platform".into());
        ObservedCluster {
            arn: ARN.into(),
            name: "prod".into(),
            status: "ACTIVE".into(),
            container_insights: Some(ContainerInsights::Enabled),
            capacity_providers: vec!["FARGATE".into(), "FARGATE_SPOT".into()],
            default_capacity_provider_strategy: vec![CapacityProviderStrategyItem {
                capacity_provider: "FARGATE".into(),
                weight: Some(1),
                base: Some(0),
            }],
            tags,
            ..Default::default()
        }
    }

    fn desired(spec: &ECSClusterSpec) -> Desired<'_> {
        Desired {
            spec,
            name: "prod",
            namespace_wanted: WantedNamespace::None,
            providers: if manages_providers(spec) {
                WantedProviders::Resolved(provider_names(spec, &[]))
            } else {
                WantedProviders::Unmanaged
            },
            namespace: "ns",
            object_name: "prod",
            uid: "uid-1",
        }
    }

    fn sync_parts(
        plan: Plan,
    ) -> (
        Option<ClusterUpdate>,
        Option<ProvidersUpdate>,
        Vec<&'static str>,
    ) {
        match plan {
            Plan::Sync {
                update,
                providers,
                changed,
                ..
            } => (update, providers, changed),
            other => panic!("expected Sync, got {other:?}"),
        }
    }

    #[test]
    fn converged_cluster_needs_no_write() {
        let spec = spec();
        let plan = plan(
            &desired(&spec),
            Some(&observed()),
            &ECSClusterStatus::default(),
        );
        assert!(!plan.writes(), "{plan:?}");
    }

    fn reset_of(plan: Plan) -> Vec<&'static str> {
        match plan {
            Plan::Sync { reset, .. } => reset,
            other => panic!("expected Sync, got {other:?}"),
        }
    }

    #[test]
    fn fields_removed_from_the_spec_are_reset_once_and_fields_never_set_are_left() {
        let mut full = spec();
        full.configuration = Some(ClusterConfiguration {
            execute_command_configuration: Some(ExecuteCommandConfiguration {
                kms_key_id: Some("alias/exec".into()),
                logging: Some(ExecuteCommandLogging::OVERRIDE),
                ..Default::default()
            }),
        });
        let mut ecs = observed();
        ecs.execute_command_configuration = full
            .configuration
            .as_ref()
            .and_then(|c| c.execute_command_configuration.clone());
        ecs.service_connect_namespace =
            Some("arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-1".into());
        let applied = ECSClusterStatus {
            managed_fields: managed_fields(&full),
            ..Default::default()
        };
        // The service connect namespace was never in the spec: left alone.
        assert!(
            !applied
                .managed_fields
                .iter()
                .any(|m| m == "serviceConnectDefaults")
        );
        let bare = ECSClusterSpec {
            tags: full.tags.clone(),
            ..Default::default()
        };
        let plan_removed = plan(&desired(&bare), Some(&ecs), &applied);
        let (update, providers, changed) = sync_parts(plan_removed.clone());
        assert!(changed.is_empty(), "{changed:?}");
        let update = update.expect("reset");
        assert_eq!(update.container_insights, Some(ContainerInsights::Disabled));
        assert_eq!(
            update.execute_command_configuration,
            Some(ExecuteCommandConfiguration {
                logging: Some(ExecuteCommandLogging::DEFAULT),
                ..Default::default()
            })
        );
        assert_eq!(update.service_connect_namespace, None);
        let providers = providers.expect("providers reset");
        assert!(providers.capacity_providers.is_empty() && providers.default_strategy.is_empty());
        assert_eq!(
            reset_of(plan_removed),
            vec![
                "settings.containerInsights",
                "configuration.executeCommandConfiguration",
                "capacityProviders"
            ]
        );
        // Once reset the fields are no longer managed: nothing more is sent.
        let after = ECSClusterStatus {
            managed_fields: managed_fields(&bare),
            ..Default::default()
        };
        assert!(!plan(&desired(&bare), Some(&ecs), &after).writes());
    }

    #[test]
    fn removed_service_connect_defaults_are_removed_with_an_empty_namespace() {
        let mut with = spec();
        with.service_connect_defaults = Some(crate::api::ecs_cluster::ServiceConnectDefaults {
            namespace: Some("internal".into()),
            ..Default::default()
        });
        let mut ecs = observed();
        ecs.service_connect_namespace =
            Some("arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-1".into());
        let applied = ECSClusterStatus {
            managed_fields: managed_fields(&with),
            ..Default::default()
        };
        let plan_removed = plan(&desired(&spec()), Some(&ecs), &applied);
        let (update, _, _) = sync_parts(plan_removed.clone());
        assert_eq!(
            update.and_then(|u| u.service_connect_namespace),
            Some(String::new())
        );
        assert_eq!(reset_of(plan_removed), vec!["serviceConnectDefaults"]);
    }

    #[test]
    fn missing_or_inactive_cluster_is_created() {
        let spec = spec();
        let status = ECSClusterStatus::default();
        assert_eq!(plan(&desired(&spec), None, &status), Plan::Create);
        let mut inactive = observed();
        inactive.status = "INACTIVE".into();
        assert_eq!(
            plan(&desired(&spec), Some(&inactive), &status),
            Plan::Create
        );
    }

    #[test]
    fn only_changed_settings_are_sent() {
        let mut spec = spec();
        spec.settings = Some(ClusterSettings {
            container_insights: Some(ContainerInsights::Enhanced),
        });
        let (update, providers, changed) = sync_parts(plan(
            &desired(&spec),
            Some(&observed()),
            &ECSClusterStatus::default(),
        ));
        assert_eq!(
            update,
            Some(ClusterUpdate {
                container_insights: Some(ContainerInsights::Enhanced),
                ..Default::default()
            })
        );
        assert!(providers.is_none());
        assert_eq!(changed, vec!["settings.containerInsights"]);
    }

    #[test]
    fn provider_order_and_ecs_defaults_are_not_changes() {
        let spec = spec();
        let mut reordered = observed();
        reordered.capacity_providers = vec!["FARGATE_SPOT".into(), "FARGATE".into()];
        let (_, providers, _) = sync_parts(plan(
            &desired(&spec),
            Some(&reordered),
            &ECSClusterStatus::default(),
        ));
        assert!(providers.is_none());
    }

    #[test]
    fn provider_changes_put_the_complete_list_and_say_what_is_removed() {
        let mut spec = spec();
        spec.capacity_providers = vec![CapacityProviderName("FARGATE".into())];
        let (_, providers, changed) = sync_parts(plan(
            &desired(&spec),
            Some(&observed()),
            &ECSClusterStatus::default(),
        ));
        let providers = providers.expect("a PutClusterCapacityProviders");
        assert_eq!(providers.capacity_providers, vec!["FARGATE".to_string()]);
        assert_eq!(providers.removed, vec!["FARGATE_SPOT".to_string()]);
        assert_eq!(changed, vec!["capacityProviders"]);
    }

    #[test]
    fn unmanaged_providers_are_left_alone() {
        let spec = ECSClusterSpec::default();
        let (update, providers, _) = sync_parts(plan(
            &desired(&spec),
            Some(&observed()),
            &ECSClusterStatus::default(),
        ));
        assert!(update.is_none());
        assert!(providers.is_none());
    }

    #[test]
    fn unresolved_provider_refs_change_no_providers() {
        let mut spec = spec();
        spec.capacity_providers.clear();
        let mut want = desired(&spec);
        want.providers = WantedProviders::Unresolved("waiting".into());
        let (_, providers, _) =
            sync_parts(plan(&want, Some(&observed()), &ECSClusterStatus::default()));
        assert!(providers.is_none());
    }

    #[test]
    fn strategy_naming_a_provider_the_cluster_lacks_is_invalid() {
        let mut spec = spec();
        spec.default_capacity_provider_strategy = vec![CapacityProviderStrategyItem {
            capacity_provider: "asg-provider".into(),
            weight: Some(1),
            base: None,
        }];
        match plan(&desired(&spec), None, &ECSClusterStatus::default()) {
            Plan::Invalid { message } => assert!(message.contains("asg-provider"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn foreign_cluster_needs_opt_in() {
        let spec_plain = spec();
        let mut foreign = observed();
        foreign.tags.clear();
        assert!(matches!(
            plan(
                &desired(&spec_plain),
                Some(&foreign),
                &ECSClusterStatus::default()
            ),
            Plan::AlreadyExists { .. }
        ));
        let mut spec_adopt = spec();
        spec_adopt.adopt_existing = true;
        match plan(
            &desired(&spec_adopt),
            Some(&foreign),
            &ECSClusterStatus::default(),
        ) {
            Plan::Sync {
                adopt, tags_to_set, ..
            } => {
                assert!(adopt);
                assert_eq!(
                    tags_to_set.get("ecs-operator.dev/uid").map(String::as_str),
                    Some("uid-1")
                );
                assert_eq!(
                    tags_to_set
                        .get("ecs-operator.dev/adopted")
                        .map(String::as_str),
                    Some("true")
                );
            }
            other => panic!("{other:?}"),
        }
        let mut theirs = foreign.clone();
        theirs.tags = ownership_tags(KIND, "other-ns", "prod", "uid-2");
        assert_eq!(
            plan(
                &desired(&spec_adopt),
                Some(&theirs),
                &ECSClusterStatus::default()
            ),
            Plan::AlreadyExists {
                owner: NotOurs::AnotherObject
            },
            "another object's cluster is never adopted"
        );
    }

    #[test]
    fn execute_command_configuration_compares_what_the_spec_sets() {
        let mut spec = spec();
        spec.configuration = Some(ClusterConfiguration {
            execute_command_configuration: Some(ExecuteCommandConfiguration {
                logging: Some(ExecuteCommandLogging::DEFAULT),
                ..Default::default()
            }),
        });
        // ECS reports no configuration: DEFAULT logging is ECS's default.
        let (update, _, _) = sync_parts(plan(
            &desired(&spec),
            Some(&observed()),
            &ECSClusterStatus::default(),
        ));
        assert!(update.is_none());
        spec.configuration = Some(ClusterConfiguration {
            execute_command_configuration: Some(ExecuteCommandConfiguration {
                kms_key_id: Some("alias/exec".into()),
                logging: Some(ExecuteCommandLogging::OVERRIDE),
                log_configuration: Some(ExecuteCommandLogConfiguration {
                    cloud_watch_log_group_name: Some("/ecs/exec".into()),
                    ..Default::default()
                }),
            }),
        });
        let mut have = observed();
        have.execute_command_configuration = Some(ExecuteCommandConfiguration {
            kms_key_id: Some("alias/exec".into()),
            logging: Some(ExecuteCommandLogging::OVERRIDE),
            log_configuration: Some(ExecuteCommandLogConfiguration {
                cloud_watch_log_group_name: Some("/ecs/exec".into()),
                cloud_watch_encryption_enabled: Some(false),
                s3_encryption_enabled: Some(false),
                ..Default::default()
            }),
        });
        let (update, _, _) = sync_parts(plan(
            &desired(&spec),
            Some(&have),
            &ECSClusterStatus::default(),
        ));
        assert!(update.is_none(), "ECS's false booleans equal unset ones");
    }

    #[test]
    fn a_namespace_name_is_compared_with_what_was_applied() {
        let ns_arn = "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-abc";
        let applied = ECSClusterStatus {
            applied_service_connect_namespace: Some("internal".into()),
            service_connect_namespace: Some(ns_arn.into()),
            ..Default::default()
        };
        assert!(namespace_matches("internal", Some(ns_arn), &applied));
        assert!(!namespace_matches("other", Some(ns_arn), &applied));
        assert!(!namespace_matches("internal", None, &applied));
        assert!(!namespace_matches(
            "internal",
            Some("arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-zzz"),
            &applied
        ));
        assert!(namespace_matches(
            ns_arn,
            Some(ns_arn),
            &ECSClusterStatus::default()
        ));
    }

    #[test]
    fn renaming_after_creation_is_refused() {
        let spec = spec();
        let status = ECSClusterStatus {
            cluster_name: Some("old".into()),
            ..Default::default()
        };
        assert!(matches!(
            plan(&desired(&spec), Some(&observed()), &status),
            Plan::Invalid { .. }
        ));
    }

    #[test]
    fn providers_used_by_service_strategies_are_found() {
        let strategies = vec![
            ("web".to_string(), vec!["spot-asg".to_string()]),
            ("api".to_string(), vec!["FARGATE".to_string()]),
        ];
        assert_eq!(
            providers_in_use(&["spot-asg".into()], &strategies),
            vec![("spot-asg".to_string(), "web".to_string())]
        );
        assert!(providers_in_use(&["other".into()], &strategies).is_empty());
    }
}
