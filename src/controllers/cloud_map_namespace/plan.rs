//! Pure decisions for a CloudMapNamespace.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::api::cloud_map_namespace::CloudMapNamespaceSpec;
use crate::api::common::{Claim, NotOurs, claim};
use crate::aws::cloud_map::ObservedNamespace;

/// Hash of the settings Cloud Map can change in place (description, SOA TTL).
pub fn settings_hash(spec: &CloudMapNamespaceSpec) -> String {
    let text = format!("{:?}|{:?}", spec.description, spec.soa_ttl);
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// Whether the observed namespace differs from the spec in an updatable setting. Unset
/// fields are left to Cloud Map.
pub fn settings_differ(spec: &CloudMapNamespaceSpec, observed: &ObservedNamespace) -> bool {
    let description = spec
        .description
        .as_ref()
        .is_some_and(|d| observed.description.as_ref() != Some(d));
    let soa = spec
        .soa_ttl
        .is_some_and(|ttl| observed.soa_ttl.is_some_and(|have| have != ttl));
    description || soa
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Create,
    AlreadyExists {
        owner: NotOurs,
    },
    /// Our namespace (or one being adopted): update settings if needed.
    Sync {
        adopt: bool,
        update_settings: bool,
    },
}

pub fn plan(
    spec: &CloudMapNamespaceSpec,
    observed: Option<&ObservedNamespace>,
    uid: &str,
    applied_hash: Option<&str>,
) -> Plan {
    let Some(observed) = observed else {
        return Plan::Create;
    };
    let adopt = match claim(&observed.tags, uid, spec.adopt_existing) {
        Claim::Ours => false,
        Claim::Adopt => true,
        Claim::Refused(owner) => return Plan::AlreadyExists { owner },
    };
    // Settings are compared with what Cloud Map reports; the applied hash avoids updating
    // again for a value Cloud Map normalises (e.g. an empty description).
    let update_settings =
        settings_differ(spec, observed) && applied_hash != Some(settings_hash(spec).as_str());
    Plan::Sync {
        adopt,
        update_settings,
    }
}

/// Tags to set and to remove on a namespace the operator owns or adopts. Cloud Map's
/// TagResource supports no resource-level permission, so the IAM policy allows it only when
/// the request carries the operator's ownership tags: every set sends them along (on a
/// namespace already owned they are unchanged). `ecs-operator.dev/` tags are never removed.
pub fn tag_changes(
    observed: &BTreeMap<String, String>,
    user_tags: &BTreeMap<String, String>,
    ownership: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut desired = user_tags.clone();
    desired.extend(ownership.clone());
    let (mut to_set, to_remove) =
        crate::controllers::task_definition::plan::tag_changes(observed, &desired);
    if !to_set.is_empty() {
        to_set.extend(ownership.clone());
    }
    (to_set, to_remove)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cloud_map_namespace::NamespaceType;
    use crate::api::common::ownership_tags;

    fn spec() -> CloudMapNamespaceSpec {
        CloudMapNamespaceSpec {
            name: "internal.example".into(),
            type_: NamespaceType::DNS_PRIVATE,
            vpc: Some("vpc-12345678".into()),
            soa_ttl: Some(60),
            ..Default::default()
        }
    }

    fn observed(uid: Option<&str>) -> ObservedNamespace {
        ObservedNamespace {
            id: "ns-1".into(),
            name: "internal.example".into(),
            type_: "DNS_PRIVATE".into(),
            soa_ttl: Some(60),
            tags: uid
                .map(|u| ownership_tags("CloudMapNamespace", "ns", "n", u))
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    #[test]
    fn missing_namespace_is_created_and_ours_is_in_sync() {
        assert_eq!(plan(&spec(), None, "u", None), Plan::Create);
        assert_eq!(
            plan(&spec(), Some(&observed(Some("u"))), "u", None),
            Plan::Sync {
                adopt: false,
                update_settings: false
            }
        );
    }

    #[test]
    fn foreign_namespace_needs_opt_in() {
        assert!(matches!(
            plan(&spec(), Some(&observed(None)), "u", None),
            Plan::AlreadyExists { .. }
        ));
        let mut adopting = spec();
        adopting.adopt_existing = true;
        assert_eq!(
            plan(&adopting, Some(&observed(None)), "u", None),
            Plan::Sync {
                adopt: true,
                update_settings: false
            }
        );
    }

    #[test]
    fn another_objects_namespace_is_never_adopted() {
        let mut adopting = spec();
        adopting.adopt_existing = true;
        assert_eq!(
            plan(&adopting, Some(&observed(Some("other-uid"))), "u", None),
            Plan::AlreadyExists {
                owner: NotOurs::AnotherObject
            }
        );
    }

    #[test]
    fn changed_settings_are_updated_once() {
        let mut changed = spec();
        changed.soa_ttl = Some(300);
        assert_eq!(
            plan(&changed, Some(&observed(Some("u"))), "u", None),
            Plan::Sync {
                adopt: false,
                update_settings: true
            }
        );
        let applied = settings_hash(&changed);
        assert_eq!(
            plan(&changed, Some(&observed(Some("u"))), "u", Some(&applied)),
            Plan::Sync {
                adopt: false,
                update_settings: false
            }
        );
    }

    fn user(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_tag_request_carries_the_ownership_tags() {
        let ownership = ownership_tags("CloudMapNamespace", "ns", "n", "u");
        // A user tag changed on a namespace the operator owns: the ownership tags go along.
        let mut observed = observed(Some("u")).tags;
        observed.insert("team".into(), "a".into());
        observed.insert("old".into(), "x".into());
        let (set, remove) = tag_changes(&observed, &user(&[("team", "b")]), &ownership);
        let mut want = ownership.clone();
        want.insert("team".into(), "b".into());
        assert_eq!(set, want);
        assert_eq!(remove, vec!["old".to_string()]);
        // Adoption: the ownership tags and the user's in one request.
        let (set, remove) = tag_changes(
            &user(&[("owner", "ops")]),
            &user(&[("team", "b")]),
            &ownership,
        );
        assert_eq!(set, want);
        assert_eq!(remove, vec!["owner".to_string()]);
    }

    #[test]
    fn nothing_to_set_when_tags_match() {
        let ownership = ownership_tags("CloudMapNamespace", "ns", "n", "u");
        let mut observed = ownership.clone();
        observed.insert("team".into(), "a".into());
        let (set, remove) = tag_changes(&observed, &user(&[("team", "a")]), &ownership);
        assert!(set.is_empty());
        assert!(remove.is_empty());
        // Removing the last user tag sets nothing, so sends no ownership tags either.
        let (set, remove) = tag_changes(&observed, &BTreeMap::new(), &ownership);
        assert!(set.is_empty());
        assert_eq!(remove, vec!["team".to_string()]);
    }
}
