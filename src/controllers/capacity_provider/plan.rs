//! Pure decisions for a CapacityProvider: compare the spec with the observed provider after
//! filling ECS's defaults, and say what to do.
//!
//! Only what the spec sets is compared. UpdateCapacityProvider resets what it is not given,
//! so an update always carries the complete settings: the spec's where it sets them, ECS's
//! current values elsewhere.

use std::collections::BTreeMap;

use crate::api::capacity_provider::{CapacityProviderSpec, ManagedScaling};
#[cfg(test)]
use crate::api::common::ownership_tags;
use crate::api::common::{Claim, NotOurs, adoption_tags, claim};
use crate::api::ecs_service::EnabledDisabled;
use crate::aws::ecs_cluster::{CapacityProviderUpdate, ObservedCapacityProvider};
use crate::controllers::task_definition::plan::tag_changes;

pub const KIND: &str = "CapacityProvider";

/// ECS's managed scaling defaults (status, target capacity, min/max step, warm-up).
pub const SCALING_DEFAULTS: ManagedScaling = ManagedScaling {
    status: Some(EnabledDisabled::DISABLED),
    target_capacity: Some(100),
    minimum_scaling_step_size: Some(1),
    maximum_scaling_step_size: Some(10000),
    instance_warmup_period: Some(300),
};

/// What the operator wants, resolved.
#[derive(Clone, Debug)]
pub struct Desired<'a> {
    pub spec: &'a CapacityProviderSpec,
    pub name: &'a str,
    /// The Kubernetes object: namespace, name, uid (for ownership tags).
    pub namespace: &'a str,
    pub object_name: &'a str,
    pub uid: &'a str,
    /// `status.managedFields`: what the spec set when it was last applied.
    pub managed_before: &'a [String],
}

/// Every capacity provider field the spec can manage. Removing one resets it to ECS's
/// default: `managedScaling` members to `SCALING_DEFAULTS`, `managedTerminationProtection`
/// to DISABLED, `managedDraining` to ENABLED.
pub const FIELDS: &[&str] = &[
    "managedScaling.status",
    "managedScaling.targetCapacity",
    "managedScaling.minimumScalingStepSize",
    "managedScaling.maximumScalingStepSize",
    "managedScaling.instanceWarmupPeriod",
    "managedTerminationProtection",
    "managedDraining",
];

/// The paths of `FIELDS` this spec sets.
pub fn managed_paths(spec: &CapacityProviderSpec) -> Vec<&'static str> {
    let scaling = spec.managed_scaling.clone().unwrap_or_default();
    let set = [
        scaling.status.is_some(),
        scaling.target_capacity.is_some(),
        scaling.minimum_scaling_step_size.is_some(),
        scaling.maximum_scaling_step_size.is_some(),
        scaling.instance_warmup_period.is_some(),
        spec.managed_termination_protection.is_some(),
        spec.managed_draining.is_some(),
    ];
    FIELDS
        .iter()
        .zip(set)
        .filter_map(|(path, managed)| managed.then_some(*path))
        .collect()
}

/// `status.managedFields` for this spec.
pub fn managed_fields(spec: &CapacityProviderSpec) -> Vec<String> {
    let mut fields: Vec<String> = managed_paths(spec)
        .into_iter()
        .map(str::to_string)
        .collect();
    fields.sort();
    fields
}

#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// No provider of that name (or only a deleted one): create it.
    Create,
    /// Someone else's provider has the name.
    AlreadyExists { owner: NotOurs },
    /// The provider exists for another Auto Scaling group, which ECS cannot change.
    Immutable { message: String },
    /// Our provider (or one being adopted): apply `update` (if anything changed) and tags.
    Sync {
        adopt: bool,
        update: Option<CapacityProviderUpdate>,
        /// Names of the changed fields, for Events and logs.
        changed: Vec<&'static str>,
        /// Fields removed from the spec that `update` resets to ECS's default.
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
            Plan::AlreadyExists { .. } | Plan::Immutable { .. } => false,
            Plan::Sync {
                update,
                tags_to_set,
                tags_to_remove,
                ..
            } => update.is_some() || !tags_to_set.is_empty() || !tags_to_remove.is_empty(),
        }
    }
}

/// Managed scaling as ECS has it, with ECS's defaults for what it does not report.
fn effective_scaling(observed: Option<&ManagedScaling>) -> ManagedScaling {
    let have = observed.cloned().unwrap_or_default();
    ManagedScaling {
        status: have.status.or(SCALING_DEFAULTS.status),
        target_capacity: have.target_capacity.or(SCALING_DEFAULTS.target_capacity),
        minimum_scaling_step_size: have
            .minimum_scaling_step_size
            .or(SCALING_DEFAULTS.minimum_scaling_step_size),
        maximum_scaling_step_size: have
            .maximum_scaling_step_size
            .or(SCALING_DEFAULTS.maximum_scaling_step_size),
        instance_warmup_period: have
            .instance_warmup_period
            .or(SCALING_DEFAULTS.instance_warmup_period),
    }
}

/// Decides what to do about the capacity provider.
pub fn plan(desired: &Desired<'_>, observed: Option<&ObservedCapacityProvider>) -> Plan {
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
    if observed.auto_scaling_group_arn != spec.auto_scaling_group_arn {
        return Plan::Immutable {
            message: format!(
                "capacity provider {} uses Auto Scaling group {}, not {}: ECS cannot move a capacity provider to another group. Use the group it has, or create a new CapacityProvider with another name",
                desired.name, observed.auto_scaling_group_arn, spec.auto_scaling_group_arn
            ),
        };
    }

    let mut changed = Vec::new();
    let mut reset = Vec::new();
    let managed = managed_paths(spec);
    let removed =
        |path: &str| desired.managed_before.iter().any(|m| m == path) && !managed.contains(&path);
    let mut note = |path: &'static str, differs: bool| {
        if differs {
            if managed.contains(&path) {
                changed.push(path);
            } else {
                reset.push(path);
            }
        }
    };
    let have_scaling = effective_scaling(observed.managed_scaling.as_ref());
    // Removed members go back to ECS's defaults; members never set stay as ECS has them.
    let pick = |path: &str, want: Option<i32>, default: Option<i32>, have: Option<i32>| {
        want.or(if removed(path) { default } else { have })
    };
    let want = spec.managed_scaling.clone().unwrap_or_default();
    let want_scaling = ManagedScaling {
        status: want.status.or(if removed(FIELDS[0]) {
            SCALING_DEFAULTS.status
        } else {
            have_scaling.status
        }),
        target_capacity: pick(
            FIELDS[1],
            want.target_capacity,
            SCALING_DEFAULTS.target_capacity,
            have_scaling.target_capacity,
        ),
        minimum_scaling_step_size: pick(
            FIELDS[2],
            want.minimum_scaling_step_size,
            SCALING_DEFAULTS.minimum_scaling_step_size,
            have_scaling.minimum_scaling_step_size,
        ),
        maximum_scaling_step_size: pick(
            FIELDS[3],
            want.maximum_scaling_step_size,
            SCALING_DEFAULTS.maximum_scaling_step_size,
            have_scaling.maximum_scaling_step_size,
        ),
        instance_warmup_period: pick(
            FIELDS[4],
            want.instance_warmup_period,
            SCALING_DEFAULTS.instance_warmup_period,
            have_scaling.instance_warmup_period,
        ),
    };
    note(FIELDS[0], want_scaling.status != have_scaling.status);
    note(
        FIELDS[1],
        want_scaling.target_capacity != have_scaling.target_capacity,
    );
    note(
        FIELDS[2],
        want_scaling.minimum_scaling_step_size != have_scaling.minimum_scaling_step_size,
    );
    note(
        FIELDS[3],
        want_scaling.maximum_scaling_step_size != have_scaling.maximum_scaling_step_size,
    );
    note(
        FIELDS[4],
        want_scaling.instance_warmup_period != have_scaling.instance_warmup_period,
    );
    let have_protection = observed
        .managed_termination_protection
        .unwrap_or(EnabledDisabled::DISABLED);
    let want_protection = spec
        .managed_termination_protection
        .unwrap_or(if removed(FIELDS[5]) {
            EnabledDisabled::DISABLED
        } else {
            have_protection
        });
    note(FIELDS[5], want_protection != have_protection);
    // ECS reports managedDraining for every provider (ENABLED unless turned off).
    let have_draining = observed
        .managed_draining
        .unwrap_or(EnabledDisabled::ENABLED);
    let want_draining = spec.managed_draining.unwrap_or(if removed(FIELDS[6]) {
        EnabledDisabled::ENABLED
    } else {
        have_draining
    });
    note(FIELDS[6], want_draining != have_draining);
    let update = (!changed.is_empty() || !reset.is_empty()).then_some(CapacityProviderUpdate {
        managed_scaling: Some(want_scaling),
        managed_termination_protection: Some(want_protection),
        managed_draining: Some(want_draining),
    });

    let mut desired_tags: BTreeMap<String, String> = spec
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    if adopt {
        desired_tags.extend(adoption_tags(
            KIND,
            desired.namespace,
            desired.object_name,
            desired.uid,
        ));
    }
    let (tags_to_set, tags_to_remove) = tag_changes(&observed.tags, &desired_tags);
    Plan::Sync {
        adopt,
        update,
        changed,
        reset,
        tags_to_set,
        tags_to_remove,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::Tag;

    const ASG: &str = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0f1e2d3c-aaaa-bbbb-cccc-111122223333:autoScalingGroupName/web";

    fn spec() -> CapacityProviderSpec {
        CapacityProviderSpec {
            auto_scaling_group_arn: ASG.into(),
            managed_scaling: Some(ManagedScaling {
                status: Some(EnabledDisabled::ENABLED),
                target_capacity: Some(80),
                ..Default::default()
            }),
            tags: vec![Tag {
                key: "team".into(),
                value: "platform".into(),
            }],
            ..Default::default()
        }
    }

    fn observed() -> ObservedCapacityProvider {
        let mut tags = ownership_tags(KIND, "ns", "web", "uid-1");
        tags.insert("team".into(), "platform".into());
        ObservedCapacityProvider {
            arn: "arn:aws:ecs:us-east-1:123456789012:capacity-provider/web".into(),
            name: "web".into(),
            status: "ACTIVE".into(),
            auto_scaling_group_arn: ASG.into(),
            managed_scaling: Some(ManagedScaling {
                status: Some(EnabledDisabled::ENABLED),
                target_capacity: Some(80),
                minimum_scaling_step_size: Some(1),
                maximum_scaling_step_size: Some(10000),
                instance_warmup_period: Some(300),
            }),
            managed_termination_protection: Some(EnabledDisabled::DISABLED),
            managed_draining: Some(EnabledDisabled::ENABLED),
            tags,
            ..Default::default()
        }
    }

    fn desired(spec: &CapacityProviderSpec) -> Desired<'_> {
        Desired {
            spec,
            name: "web",
            namespace: "ns",
            object_name: "web",
            uid: "uid-1",
            managed_before: &[],
        }
    }

    #[test]
    fn converged_provider_needs_no_write() {
        let spec = spec();
        let plan = plan(&desired(&spec), Some(&observed()));
        assert!(!plan.writes(), "{plan:?}");
    }

    #[test]
    fn ecs_defaults_are_not_drift() {
        let spec = CapacityProviderSpec {
            auto_scaling_group_arn: ASG.into(),
            managed_draining: Some(EnabledDisabled::ENABLED),
            tags: spec().tags,
            ..Default::default()
        };
        let mut bare = observed();
        bare.managed_scaling = None;
        bare.managed_draining = None;
        bare.managed_termination_protection = None;
        assert!(!plan(&desired(&spec), Some(&bare)).writes());
    }

    #[test]
    fn removed_fields_are_reset_once_and_fields_never_set_are_left() {
        let mut full = spec();
        full.managed_termination_protection = Some(EnabledDisabled::ENABLED);
        full.managed_draining = Some(EnabledDisabled::DISABLED);
        let mut ecs = observed();
        ecs.managed_termination_protection = Some(EnabledDisabled::ENABLED);
        ecs.managed_draining = Some(EnabledDisabled::DISABLED);
        ecs.managed_scaling = Some(ManagedScaling {
            instance_warmup_period: Some(60),
            ..ecs.managed_scaling.clone().unwrap_or_default()
        });
        let before = managed_fields(&full);
        let mut bare = spec();
        bare.managed_scaling = None;
        let mut d = desired(&bare);
        d.managed_before = &before;
        match plan(&d, Some(&ecs)) {
            Plan::Sync {
                update: Some(update),
                changed,
                reset,
                ..
            } => {
                assert!(changed.is_empty(), "{changed:?}");
                assert_eq!(
                    reset,
                    vec![
                        "managedScaling.status",
                        "managedScaling.targetCapacity",
                        "managedTerminationProtection",
                        "managedDraining"
                    ]
                );
                let scaling = update.managed_scaling.expect("scaling");
                assert_eq!(scaling.status, Some(EnabledDisabled::DISABLED));
                assert_eq!(scaling.target_capacity, Some(100));
                assert_eq!(scaling.instance_warmup_period, Some(60), "never set: kept");
                assert_eq!(
                    update.managed_termination_protection,
                    Some(EnabledDisabled::DISABLED)
                );
                assert_eq!(update.managed_draining, Some(EnabledDisabled::ENABLED));
            }
            other => panic!("{other:?}"),
        }
        // Once reset they are no longer managed: what ECS has stays.
        let after = managed_fields(&bare);
        d.managed_before = &after;
        assert!(!plan(&d, Some(&ecs)).writes());
    }

    #[test]
    fn an_update_carries_the_complete_settings() {
        let mut spec = spec();
        spec.managed_scaling = Some(ManagedScaling {
            target_capacity: Some(90),
            ..Default::default()
        });
        match plan(&desired(&spec), Some(&observed())) {
            Plan::Sync {
                update: Some(update),
                changed,
                ..
            } => {
                assert_eq!(changed, vec!["managedScaling.targetCapacity"]);
                let scaling = update.managed_scaling.expect("scaling");
                assert_eq!(scaling.target_capacity, Some(90));
                assert_eq!(
                    scaling.status,
                    Some(EnabledDisabled::ENABLED),
                    "kept from ECS"
                );
                assert_eq!(scaling.instance_warmup_period, Some(300));
                assert_eq!(
                    update.managed_draining,
                    Some(EnabledDisabled::ENABLED),
                    "sent as ECS has it"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lifecycle_and_ownership() {
        let spec = spec();
        assert_eq!(plan(&desired(&spec), None), Plan::Create);
        let mut inactive = observed();
        inactive.status = "INACTIVE".into();
        assert_eq!(plan(&desired(&spec), Some(&inactive)), Plan::Create);
        let mut foreign = observed();
        foreign.tags.clear();
        assert!(matches!(
            plan(&desired(&spec), Some(&foreign)),
            Plan::AlreadyExists { .. }
        ));
        let mut adopting = spec.clone();
        adopting.adopt_existing = true;
        assert!(matches!(
            plan(&desired(&adopting), Some(&foreign)),
            Plan::Sync { adopt: true, .. }
        ));
    }

    #[test]
    fn another_objects_provider_is_never_adopted() {
        let mut spec = spec();
        spec.adopt_existing = true;
        let mut theirs = observed();
        theirs.tags = ownership_tags(KIND, "other-ns", "theirs", "uid-2");
        assert_eq!(
            plan(&desired(&spec), Some(&theirs)),
            Plan::AlreadyExists {
                owner: NotOurs::AnotherObject
            }
        );
        let mut foreign = observed();
        foreign.tags.clear();
        let Plan::Sync { tags_to_set, .. } = plan(&desired(&spec), Some(&foreign)) else {
            panic!("a foreign provider is adopted with adoptExisting");
        };
        assert_eq!(
            tags_to_set
                .get(crate::api::common::tags::ADOPTED)
                .map(String::as_str),
            Some("true"),
            "adoption is marked so that deletion leaves the provider"
        );
    }

    #[test]
    fn another_auto_scaling_group_is_immutable() {
        let spec = spec();
        let mut other = observed();
        other.auto_scaling_group_arn = ASG.replace("/web", "/other");
        assert!(matches!(
            plan(&desired(&spec), Some(&other)),
            Plan::Immutable { .. }
        ));
    }
}
