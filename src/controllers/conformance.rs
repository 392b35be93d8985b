//! Conformance of a kind's CRD with its AWS translation, walked from the generated schema so it
//! cannot go stale: every leaf path of the spec either reaches the SDK request (changing the
//! leaf changes the request) or is listed with a reason, and removing a managed field either
//! puts ECS's default into the next request or is a listed exception. A field added to a CRD
//! without a translation fails here.
//!
//! ECSService and ECSCluster are covered; each further kind adds its request builder, its
//! exceptions and, once it follows the three-way rule, its removal check.

use std::collections::BTreeSet;

use kube::CustomResourceExt;
use serde_json::{Map, Value};

/// One step of a leaf path: a property, or the (single) item of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Item,
}

/// A leaf of a spec schema and its path.
#[derive(Clone, Debug)]
struct Leaf {
    steps: Vec<Step>,
    schema: Value,
}

impl Leaf {
    /// `a.b[].c`, as written in the exception tables.
    fn path(&self) -> String {
        path_text(&self.steps)
    }
}

fn path_text(steps: &[Step]) -> String {
    let mut text = String::new();
    for step in steps {
        match step {
            Step::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Step::Item => text.push_str("[]"),
        }
    }
    text
}

/// The `spec` schema of a kind's generated CRD.
fn spec_schema<K: CustomResourceExt>() -> Value {
    let crd = serde_json::to_value(K::crd()).expect("CRD serialises");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
}

fn is_object_with_properties(schema: &Value) -> bool {
    schema.get("properties").is_some_and(Value::is_object)
}

/// Every leaf below `schema`: scalars, maps and lists of scalars.
fn leaves(schema: &Value, steps: Vec<Step>, out: &mut Vec<Leaf>) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (key, child) in properties {
            let mut next = steps.clone();
            next.push(Step::Key(key.clone()));
            leaves(child, next, out);
        }
        return;
    }
    if schema.get("type").and_then(Value::as_str) == Some("array")
        && let Some(items) = schema.get("items")
        && is_object_with_properties(items)
    {
        let mut next = steps;
        next.push(Step::Item);
        leaves(items, next, out);
        return;
    }
    out.push(Leaf {
        steps,
        schema: schema.clone(),
    });
}

/// A valid-by-type value for a scalar schema (patterns are not checked by deserialisation).
fn scalar(schema: &Value) -> Value {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.first().cloned().unwrap_or(Value::Null);
    }
    let minimum = schema.get("minimum").and_then(Value::as_i64).unwrap_or(0);
    let maximum = schema
        .get("maximum")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MAX);
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => Value::from(7_i64.clamp(minimum, maximum)),
        Some("number") => Value::from(1.5),
        Some("boolean") => Value::Bool(true),
        _ => Value::String("v1".into()),
    }
}

/// A fully populated instance of `schema`: every property, one item in every list.
fn populate(schema: &Value) -> Value {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        return Value::Object(
            properties
                .iter()
                .map(|(k, v)| (k.clone(), populate(v)))
                .collect(),
        );
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => Value::Array(vec![populate(schema.get("items").unwrap_or(&Value::Null))]),
        Some("object") => {
            let mut map = Map::new();
            if let Some(values) = schema.get("additionalProperties") {
                map.insert("k1".into(), populate(values));
            }
            Value::Object(map)
        }
        _ => scalar(schema),
    }
}

/// The value at `steps` (the first item of lists).
fn at<'a>(value: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    let mut here = value;
    for step in steps {
        here = match step {
            Step::Key(key) => here.get_mut(key)?,
            Step::Item => here.get_mut(0)?,
        };
    }
    Some(here)
}

/// Changes the leaf to another value its schema allows; false when there is none.
fn mutate(value: &mut Value, leaf: &Leaf) -> bool {
    let Some(here) = at(value, &leaf.steps) else {
        return false;
    };
    let schema = &leaf.schema;
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return match values.iter().find(|v| **v != *here) {
            Some(other) => {
                *here = other.clone();
                true
            }
            None => false,
        };
    }
    let changed = match here {
        Value::String(s) => Value::String(format!("{s}x")),
        Value::Bool(b) => Value::Bool(!*b),
        Value::Number(n) => {
            let maximum = schema.get("maximum").and_then(Value::as_i64);
            match n.as_i64() {
                Some(i) if maximum.is_some_and(|m| i >= m) => Value::from(i - 1),
                Some(i) => Value::from(i + 1),
                None => Value::from(n.as_f64().unwrap_or_default() + 1.0),
            }
        }
        Value::Object(map) => {
            let mut map = map.clone();
            let another = map.values().next().cloned().unwrap_or(Value::Null);
            map.insert("k2".into(), another);
            Value::Object(map)
        }
        Value::Array(items) => match items.first() {
            Some(Value::String(s)) => Value::Array(vec![Value::String(format!("{s}x"))]),
            Some(Value::Number(n)) => Value::Array(vec![Value::from(n.as_i64().unwrap_or(0) + 1)]),
            _ => return false,
        },
        Value::Null => return false,
    };
    *here = changed;
    true
}

/// Removes the member at a dotted path (no list steps).
fn remove(value: &mut Value, path: &str) -> bool {
    let mut keys: Vec<&str> = path.split('.').collect();
    let Some(last) = keys.pop() else {
        return false;
    };
    let steps: Vec<Step> = keys.iter().map(|k| Step::Key((*k).to_string())).collect();
    at(value, &steps)
        .and_then(Value::as_object_mut)
        .is_some_and(|o| o.remove(last).is_some())
}

/// Whether `path` is `prefix` or below it.
fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// Leaves that are listed as exceptions (`prefix`, reason) and leaves the request misses.
fn untranslated(
    leaves: &[Leaf],
    full: &Value,
    exceptions: &[(&str, &str)],
    request: &dyn Fn(&Value) -> String,
) -> Vec<String> {
    let base = request(full);
    let mut missing = Vec::new();
    for leaf in leaves {
        let path = leaf.path();
        if exceptions.iter().any(|(prefix, _)| under(&path, prefix)) {
            continue;
        }
        let mut changed = full.clone();
        if !mutate(&mut changed, leaf) || request(&changed) == base {
            missing.push(path);
        }
    }
    missing
}

mod ecs_service {
    use super::*;
    use crate::api::common::ownership_tags;
    use crate::api::ecs_service::{ECSService, ECSServiceSpec};
    use crate::aws::ecs_service::{
        CreateRequest, ObservedService, ServiceUpdate, create_request, update_request,
    };
    use crate::controllers::ecs_service::plan::{
        Desired, FIELDS, Removal, field_diff, managed_paths, unequal_fields,
    };

    const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";

    /// Leaves the CreateService/UpdateService request does not carry, and why.
    const EXCEPTIONS: &[(&str, &str)] = &[
        ("cluster", "where the request goes (the request's cluster)"),
        (
            "clusterRef",
            "resolved to the ECSCluster's ARN by the controller",
        ),
        (
            "serviceName",
            "the request's serviceName (default: metadata.name)",
        ),
        ("taskDefinition", "resolved to a full ARN by the controller"),
        (
            "taskDefinitionRef",
            "resolved to the TaskDefinition's current revision",
        ),
        (
            "redeployToken",
            "a change sends forceNewDeployment on UpdateService",
        ),
        (
            "deletionPolicy",
            "what deleting the object does; not an ECS field",
        ),
        (
            "progressDeadlineSeconds",
            "how long the operator lets a rollout run before it reports RolloutStuck; not an ECS field",
        ),
        (
            "adoptExisting",
            "whether a foreign service may be taken over; not an ECS field",
        ),
        ("region", "where the request goes (the client's Region)"),
        ("roleArn", "which credentials the request is signed with"),
        (
            "serviceDiscovery",
            "a Cloud Map service the controller creates; its ARN reaches serviceRegistries (tests in discovery.rs and tests/cloud_map.rs)",
        ),
        (
            "autoScaling",
            "Application Auto Scaling calls, not ECS's (tests in autoscaling.rs); not yet walked here",
        ),
        (
            "serviceConnectConfiguration.namespaceRef",
            "resolved into serviceConnectConfiguration.namespace by the controller",
        ),
    ];

    fn client() -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::Config::builder()
                .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
                .build(),
        )
    }

    fn spec_of(value: &Value) -> ECSServiceSpec {
        serde_json::from_value(value.clone()).expect("the populated spec deserialises")
    }

    /// The CreateService request for a spec, as text.
    fn create_text(value: &Value) -> String {
        let spec = spec_of(value);
        let tags = crate::api::ecs_service::tag_map(&spec.tags);
        let request = CreateRequest {
            cluster: "c",
            name: "web",
            task_definition: TD,
            spec: &spec,
            tags: &tags,
            client_token: "token",
            service_registries: &[],
        };
        let builder = create_request(&client(), &request).expect("request builds");
        format!("{:?}", builder.as_input())
    }

    fn update_text(update: &ServiceUpdate) -> String {
        let builder = update_request(&client(), "c", "web", update).expect("request builds");
        format!("{:?}", builder.as_input())
    }

    /// ECS as it would report a service created from `spec`.
    fn as_ecs_reports(spec: &ECSServiceSpec) -> ObservedService {
        ObservedService {
            status: "ACTIVE".into(),
            task_definition: TD.into(),
            desired_count: spec.desired_count.unwrap_or(1),
            launch_type: spec.launch_type,
            capacity_provider_strategy: spec.capacity_provider_strategy.clone(),
            platform_version: spec.platform_version.clone(),
            network_configuration: spec.network_configuration.clone(),
            load_balancers: spec.load_balancers.clone(),
            deployment_configuration: spec.deployment_configuration.clone(),
            deployment_controller: spec.deployment_controller,
            placement_constraints: spec.placement_constraints.clone(),
            placement_strategy: spec.placement_strategy.clone(),
            health_check_grace_period_seconds: spec.health_check_grace_period_seconds,
            scheduling_strategy: spec.scheduling_strategy,
            enable_execute_command: spec.enable_execute_command.unwrap_or(false),
            enable_ecs_managed_tags: spec.enable_ecs_managed_tags.unwrap_or(false),
            propagate_tags: spec.propagate_tags,
            availability_zone_rebalancing: spec.availability_zone_rebalancing,
            service_connect_configuration: spec.service_connect_configuration.clone().map(
                |mut c| {
                    c.namespace_ref = None;
                    c
                },
            ),
            tags: ownership_tags("ECSService", "ns", "web", "uid"),
            ..Default::default()
        }
    }

    fn desired(spec: &ECSServiceSpec) -> Desired<'_> {
        Desired {
            spec,
            cluster: "c",
            name: "web",
            task_definition_arn: TD,
            namespace: "ns",
            object_name: "web",
            uid: "uid",
            service_registries: None,
        }
    }

    fn schema_and_full_spec() -> (Vec<Leaf>, Value) {
        let schema = spec_schema::<ECSService>();
        let mut all = Vec::new();
        leaves(&schema, Vec::new(), &mut all);
        assert!(
            all.len() > 60,
            "the walk found the spec's leaves: {}",
            all.len()
        );
        (all, populate(&schema))
    }

    #[test]
    fn every_spec_leaf_reaches_the_ecs_request_or_is_an_exception() {
        let (all, full) = schema_and_full_spec();
        let missing = untranslated(&all, &full, EXCEPTIONS, &create_text);
        assert!(
            missing.is_empty(),
            "spec fields CreateService does not carry (translate them in src/aws/ecs_service.rs, or list them with a reason): {missing:?}"
        );
        // The exceptions name fields that exist.
        for (prefix, _) in EXCEPTIONS {
            assert!(
                all.iter().any(|l| under(&l.path(), prefix)),
                "exception {prefix} names no field"
            );
        }
    }

    #[test]
    fn every_managed_field_is_a_spec_field_and_every_ecs_field_is_managed() {
        let (all, full) = schema_and_full_spec();
        let paths: Vec<String> = all.iter().map(Leaf::path).collect();
        for rule in FIELDS {
            assert!(
                paths.iter().any(|p| under(p, rule.path)),
                "{} is not a spec field",
                rule.path
            );
        }
        // Every leaf that reaches ECS belongs to a field with a removal rule, or to one with
        // its own (serviceRegistries via serviceDiscovery, volumeConfigurations, tags).
        let own_rules = ["volumeConfigurations", "tags"];
        let unruled: Vec<&String> = paths
            .iter()
            .filter(|p| !EXCEPTIONS.iter().any(|(prefix, _)| under(p, prefix)))
            .filter(|p| !own_rules.iter().any(|prefix| under(p, prefix)))
            .filter(|p| !FIELDS.iter().any(|rule| under(p, rule.path)))
            .collect();
        assert!(
            unruled.is_empty(),
            "fields without a removal rule: {unruled:?}"
        );
        // The fully populated spec is what ECS reports: nothing differs.
        let mut converged = full;
        remove(&mut converged, "autoScaling");
        let spec = spec_of(&converged);
        assert_eq!(
            unequal_fields(&desired(&spec), &as_ecs_reports(&spec)),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn removing_a_managed_field_resets_it_in_the_next_request_or_is_an_exception() {
        let (all, mut full) = schema_and_full_spec();
        // With autoScaling the scaler owns desiredCount (a documented exception).
        remove(&mut full, "autoScaling");
        let empty_update = update_text(&ServiceUpdate::default());
        let mut failures = Vec::new();
        for rule in FIELDS {
            // The spec as populated, and with each leaf of the field changed once: a removal
            // resets whenever ECS is not at the default already.
            let mut variants = vec![full.clone()];
            for leaf in all.iter().filter(|l| under(&l.path(), rule.path)) {
                let mut variant = full.clone();
                if mutate(&mut variant, leaf) {
                    variants.push(variant);
                }
            }
            let mut reset_seen = false;
            for variant in &variants {
                let before = spec_of(variant);
                let previously: BTreeSet<&str> = managed_paths(&before);
                assert!(previously.contains(rule.path), "{} is managed", rule.path);
                let mut without = variant.clone();
                assert!(remove(&mut without, rule.path), "{} removable", rule.path);
                let after = spec_of(&without);
                let diff = field_diff(&desired(&after), &as_ecs_reports(&before), &previously);
                match rule.removal {
                    Removal::Kept(_) => {
                        if !diff.kept.contains(&rule.path) || diff.reset.contains(&rule.path) {
                            failures.push(format!("{}: not named as kept: {diff:?}", rule.path));
                        }
                        reset_seen = true;
                    }
                    Removal::Reset => {
                        if diff.reset.contains(&rule.path) {
                            reset_seen = true;
                            if update_text(&diff.update) == empty_update {
                                failures.push(format!("{}: reset sends nothing", rule.path));
                            }
                        }
                        if !diff.changed.is_empty() {
                            failures.push(format!(
                                "{}: removal changed other fields: {:?}",
                                rule.path, diff.changed
                            ));
                        }
                    }
                }
            }
            if !reset_seen {
                failures.push(format!(
                    "{}: no variant of the spec resets it on removal",
                    rule.path
                ));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }
}

mod ecs_cluster {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::common::ownership_tags;
    use crate::api::ecs_cluster::{ECSCluster, ECSClusterSpec, ECSClusterStatus};
    use crate::aws::ecs_cluster::{ObservedCluster, create_cluster_request};
    use crate::controllers::ecs_cluster::plan::{
        Desired, FIELDS, KIND, Plan, WantedNamespace, WantedProviders, create_request,
        managed_fields, manages_providers, plan, provider_names,
    };

    /// Leaves the CreateCluster request does not carry, and why.
    const EXCEPTIONS: &[(&str, &str)] = &[
        (
            "clusterName",
            "the request's clusterName (default: metadata.name)",
        ),
        (
            "capacityProviderRefs",
            "resolved to the CapacityProvider objects' names by the controller",
        ),
        (
            "serviceConnectDefaults.namespaceRef",
            "resolved to the CloudMapNamespace's ARN by the controller",
        ),
        (
            "deletionPolicy",
            "what deleting the object does; not an ECS field",
        ),
        (
            "adoptExisting",
            "whether a foreign cluster may be taken over; not an ECS field",
        ),
        ("region", "where the request goes (the client's Region)"),
        ("roleArn", "which credentials the request is signed with"),
    ];

    fn client() -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::Config::builder()
                .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
                .build(),
        )
    }

    fn spec_of(value: &Value) -> ECSClusterSpec {
        serde_json::from_value(value.clone()).expect("the populated spec deserialises")
    }

    fn create_text(value: &Value) -> String {
        let spec = spec_of(value);
        let tags: BTreeMap<String, String> = spec
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        let providers = provider_names(&spec, &[]);
        let namespace = spec
            .service_connect_defaults
            .as_ref()
            .and_then(|d| d.namespace.clone());
        let request = create_request(
            &spec,
            "c",
            namespace.as_deref(),
            manages_providers(&spec).then_some(providers.as_slice()),
            &tags,
        );
        let builder = create_cluster_request(&client(), &request).expect("request builds");
        format!("{:?}", builder.as_input())
    }

    fn schema_and_full_spec() -> (Vec<Leaf>, Value) {
        let schema = spec_schema::<ECSCluster>();
        let mut all = Vec::new();
        leaves(&schema, Vec::new(), &mut all);
        assert!(
            all.len() > 15,
            "the walk found the spec's leaves: {}",
            all.len()
        );
        (all, populate(&schema))
    }

    #[test]
    fn every_spec_leaf_reaches_the_ecs_request_or_is_an_exception() {
        let (all, full) = schema_and_full_spec();
        let missing = untranslated(&all, &full, EXCEPTIONS, &create_text);
        assert!(
            missing.is_empty(),
            "spec fields CreateCluster does not carry (translate them, or list them with a reason): {missing:?}"
        );
        for (prefix, _) in EXCEPTIONS {
            assert!(
                all.iter().any(|l| under(&l.path(), prefix)),
                "exception {prefix} names no field"
            );
        }
        let paths: Vec<String> = all.iter().map(Leaf::path).collect();
        for field in FIELDS {
            assert!(
                paths.iter().any(|p| under(p, field)),
                "{field} is not a spec field"
            );
        }
    }

    /// ECS as it would report a cluster created from `spec`.
    fn as_ecs_reports(spec: &ECSClusterSpec) -> ObservedCluster {
        ObservedCluster {
            arn: "arn:aws:ecs:us-east-1:123456789012:cluster/c".into(),
            name: "c".into(),
            status: "ACTIVE".into(),
            container_insights: spec.settings.as_ref().and_then(|s| s.container_insights),
            execute_command_configuration: spec
                .configuration
                .as_ref()
                .and_then(|c| c.execute_command_configuration.clone()),
            service_connect_namespace: spec
                .service_connect_defaults
                .as_ref()
                .and_then(|d| d.namespace.clone()),
            capacity_providers: provider_names(spec, &[]),
            default_capacity_provider_strategy: spec.default_capacity_provider_strategy.clone(),
            tags: ownership_tags(KIND, "ns", "c", "uid"),
            ..Default::default()
        }
    }

    #[test]
    fn removing_a_managed_field_resets_it_in_the_next_request() {
        let (all, full) = schema_and_full_spec();
        let mut failures = Vec::new();
        for field in FIELDS {
            let mut variants = vec![full.clone()];
            for leaf in all.iter().filter(|l| under(&l.path(), field)) {
                let mut variant = full.clone();
                if mutate(&mut variant, leaf) {
                    variants.push(variant);
                }
            }
            let mut reset_seen = false;
            for variant in &variants {
                let before = spec_of(variant);
                let status = ECSClusterStatus {
                    managed_fields: managed_fields(&before),
                    ..Default::default()
                };
                let mut without = variant.clone();
                // The capacity providers are one field in three members.
                let members: &[&str] = if *field == "capacityProviders" {
                    &[
                        "capacityProviders",
                        "capacityProviderRefs",
                        "defaultCapacityProviderStrategy",
                    ]
                } else {
                    &[field]
                };
                for member in members {
                    assert!(remove(&mut without, member), "{member} removable");
                }
                let after = spec_of(&without);
                let desired = Desired {
                    spec: &after,
                    name: "c",
                    namespace_wanted: WantedNamespace::None,
                    providers: WantedProviders::Unmanaged,
                    namespace: "ns",
                    object_name: "c",
                    uid: "uid",
                };
                match plan(&desired, Some(&as_ecs_reports(&before)), &status) {
                    Plan::Sync {
                        reset,
                        changed,
                        update,
                        providers,
                        ..
                    } => {
                        if reset.contains(field) {
                            reset_seen = true;
                            if update.is_none() && providers.is_none() {
                                failures.push(format!("{field}: reset sends nothing"));
                            }
                        }
                        if !changed.is_empty() {
                            failures.push(format!("{field}: removal changed {changed:?}"));
                        }
                    }
                    other => failures.push(format!("{field}: {other:?}")),
                }
            }
            if !reset_seen {
                failures.push(format!("{field}: no variant resets it on removal"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
