//! Normalisation of a task definition spec into the canonical content that identifies a
//! revision. Two specs that ECS would register identically normalise to the same content
//! (ECS defaults filled, order-insensitive lists sorted), so their hashes are equal and an
//! unchanged spec never registers a new revision.

use sha2::{Digest, Sha256};

use crate::api::task_definition::{
    ContainerDefinition, NetworkMode, PortMapping, TaskDefinitionSpec, TransportProtocol,
};

/// The revision-defining content of `spec`: ECS defaults filled in, lists whose order ECS
/// ignores sorted, and fields that do not shape a revision (tags, policies) cleared.
pub fn normalized_content(spec: &TaskDefinitionSpec) -> TaskDefinitionSpec {
    let awsvpc = spec.network_mode == Some(NetworkMode::Awsvpc);
    let mut content = TaskDefinitionSpec {
        family: None,
        tags: Vec::new(),
        deletion_policy: None,
        adopt_existing: false,
        revision_history_limit: None,
        region: None,
        role_arn: None,
        ..spec.clone()
    };
    content.requires_compatibilities.sort();
    content.requires_compatibilities.dedup();
    content.placement_constraints.sort();
    content.volumes.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(proxy) = content.proxy_configuration.as_mut() {
        proxy.properties.sort();
    }
    for container in &mut content.container_definitions {
        normalize_container(container, awsvpc);
    }
    content
        .container_definitions
        .sort_by(|a, b| a.name.cmp(&b.name));
    content
}

fn normalize_container(c: &mut ContainerDefinition, awsvpc: bool) {
    c.essential.get_or_insert(true);
    c.cpu.get_or_insert(0);
    // Environment order is meaningless to ECS; with duplicate names the last one wins in
    // Docker, so keep a stable sort (the later entry stays later).
    c.environment.sort_by(|a, b| a.name.cmp(&b.name));
    c.secrets.sort();
    c.environment_files.sort();
    c.depends_on.sort();
    c.mount_points.sort();
    c.volumes_from.sort();
    c.ulimits.sort();
    for mapping in &mut c.port_mappings {
        normalize_port_mapping(mapping, awsvpc);
    }
    c.port_mappings.sort_by(|a, b| {
        (a.container_port, &a.container_port_range, a.protocol).cmp(&(
            b.container_port,
            &b.container_port_range,
            b.protocol,
        ))
    });
    if let Some(log) = c.log_configuration.as_mut() {
        log.secret_options.sort();
    }
    if let Some(linux) = c.linux_parameters.as_mut() {
        linux.tmpfs.sort();
        linux.devices.sort();
        if let Some(caps) = linux.capabilities.as_mut() {
            caps.add.sort();
            caps.drop.sort();
        }
    }
}

fn normalize_port_mapping(p: &mut PortMapping, awsvpc: bool) {
    p.protocol.get_or_insert(TransportProtocol::Tcp);
    if awsvpc && p.host_port.is_none() {
        p.host_port = p.container_port;
    }
}

/// Hash of the normalised content; stored as a tag on each revision to identify it.
pub fn spec_hash(spec: &TaskDefinitionSpec) -> String {
    let content = normalized_content(spec);
    // Serialising our own types cannot fail (no maps with non-string keys); fall back to the
    // Debug form so a hash is always produced.
    let bytes =
        serde_json::to_vec(&content).unwrap_or_else(|_| format!("{content:?}").into_bytes());
    let digest = Sha256::digest(&bytes);
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::task_definition::{Compatibility, KeyValuePair, Secret};

    fn container(name: &str) -> ContainerDefinition {
        ContainerDefinition {
            name: name.into(),
            image: "nginx:1.27".into(),
            ..Default::default()
        }
    }

    fn base() -> TaskDefinitionSpec {
        let mut web = container("web");
        web.environment = vec![
            KeyValuePair {
                name: "B".into(),
                value: "2".into(),
            },
            KeyValuePair {
                name: "A".into(),
                value: "1".into(),
            },
        ];
        web.port_mappings = vec![PortMapping {
            container_port: Some(80),
            ..Default::default()
        }];
        TaskDefinitionSpec {
            container_definitions: vec![web, container("sidecar")],
            network_mode: Some(NetworkMode::Awsvpc),
            requires_compatibilities: vec![Compatibility::FARGATE],
            cpu: Some("256".into()),
            memory: Some("512".into()),
            ..Default::default()
        }
    }

    #[test]
    fn environment_order_does_not_change_the_hash() {
        let a = base();
        let mut b = base();
        b.container_definitions[0].environment.reverse();
        assert_eq!(spec_hash(&a), spec_hash(&b));
    }

    #[test]
    fn ecs_defaults_do_not_change_the_hash() {
        let a = base();
        let mut b = base();
        b.container_definitions[0].essential = Some(true);
        b.container_definitions[0].cpu = Some(0);
        b.container_definitions[0].port_mappings[0].protocol = Some(TransportProtocol::Tcp);
        b.container_definitions[0].port_mappings[0].host_port = Some(80);
        assert_eq!(spec_hash(&a), spec_hash(&b));
    }

    #[test]
    fn container_and_secret_order_do_not_change_the_hash() {
        let mut a = base();
        a.container_definitions[0].secrets = vec![
            Secret {
                name: "X".into(),
                value_from: "arn:aws:ssm:us-east-1:123456789012:parameter/x".into(),
            },
            Secret {
                name: "Y".into(),
                value_from: "arn:aws:ssm:us-east-1:123456789012:parameter/y".into(),
            },
        ];
        let mut b = a.clone();
        b.container_definitions.reverse();
        b.container_definitions[1].secrets.reverse();
        assert_eq!(spec_hash(&a), spec_hash(&b));
    }

    #[test]
    fn tags_and_policies_do_not_change_the_hash() {
        let a = base();
        let mut b = base();
        b.tags = vec![crate::api::common::Tag {
            key: "team".into(),
            value: "x".into(),
        }];
        b.adopt_existing = true;
        b.revision_history_limit = Some(3);
        assert_eq!(spec_hash(&a), spec_hash(&b));
    }

    #[test]
    fn real_changes_change_the_hash() {
        let a = base();
        let mut image = base();
        image.container_definitions[0].image = "nginx:1.28".into();
        let mut env = base();
        env.container_definitions[0].environment[0].value = "3".into();
        let mut essential = base();
        essential.container_definitions[1].essential = Some(false);
        let mut bridge_port = base();
        bridge_port.network_mode = Some(NetworkMode::Bridge);
        for changed in [image, env, essential, bridge_port] {
            assert_ne!(spec_hash(&a), spec_hash(&changed));
        }
    }

    #[test]
    fn hash_is_stable_text() {
        let h = spec_hash(&base());
        assert_eq!(h.len(), 32);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
