//! CloudMapNamespace and ECSService service discovery against the real kube-apiserver and
//! moto (whose simulation makes namespace operations asynchronous, registers an instance
//! per running task and refuses deletes that real Cloud Map refuses).

mod support;

use std::time::Duration;

use aws_sdk_servicediscovery::types::{FilterCondition, ServiceFilter, ServiceFilterName};
use ecs_operator::api::cloud_map_namespace::CloudMapNamespace;
use ecs_operator::api::{ECSService, TaskDefinition};
use kube::api::DeleteParams;
use support::{Network, TestContext, condition, get_opt, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn namespace_manifest(name: &str, aws_name: &str, type_: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: CloudMapNamespace
metadata:
  name: {name}
spec:
  name: {aws_name}
  type: {type_}
{extra}
"#
    )
}

async fn namespace_ready(ctx: &TestContext, name: &str) -> CloudMapNamespace {
    let api = ctx.api::<CloudMapNamespace>();
    wait_for(&format!("CloudMapNamespace {name} Ready"), WAIT, || async {
        let ns = get_opt(&api, name).await?;
        let status = ns.status.as_ref()?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True" && status.observed_generation == ns.metadata.generation).then_some(ns)
    })
    .await
}

async fn cloud_map(ctx: &TestContext) -> aws_sdk_servicediscovery::Client {
    ctx.bed.servicediscovery().await
}

async fn namespace_exists(ctx: &TestContext, id: &str) -> bool {
    cloud_map(ctx)
        .await
        .get_namespace()
        .id(id)
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn each_namespace_type_is_created_and_deleted_per_policy() {
    let ctx = TestContext::new("cm-types").await;
    let net: Network = ctx.network().await;
    let operator = ctx.start_operator().await;
    let vpc = net.vpc.clone();
    let http = ctx.aws_name("http");
    let private = format!("{}.internal", ctx.aws_name("private"));
    let public = format!("{}.example.com", ctx.aws_name("public"));
    ctx.apply_yaml(&namespace_manifest(
        "http",
        &http,
        "HTTP",
        "  description: for API discovery\n  tags:\n    - key: team\n      value: platform",
    ))
    .await
    .expect("apply");
    ctx.apply_yaml(&namespace_manifest(
        "private",
        &private,
        "DNS_PRIVATE",
        &format!("  vpc: {vpc}\n  soaTtl: 60"),
    ))
    .await
    .expect("apply");
    ctx.apply_yaml(&namespace_manifest(
        "public",
        &public,
        "DNS_PUBLIC",
        "  deletionPolicy: Retain",
    ))
    .await
    .expect("apply");

    let mut ids = Vec::new();
    for name in ["http", "private", "public"] {
        let ns = namespace_ready(&ctx, name).await;
        let status = ns.status.expect("status");
        let id = status.namespace_id.expect("namespace id");
        assert!(status.arn.is_some_and(|a| a.contains(&id)));
        assert!(
            status.pending_operation.is_none(),
            "the operation is finished"
        );
        if name != "http" {
            assert!(status.hosted_zone_id.is_some(), "{name} has a hosted zone");
        }
        let described = cloud_map(&ctx)
            .await
            .get_namespace()
            .id(&id)
            .send()
            .await
            .expect("exists in Cloud Map");
        assert_eq!(
            described.namespace().and_then(|n| n.name()),
            Some(ns.spec.name.as_str())
        );
        ids.push(id);
    }

    // Settings Cloud Map changes in place (each an asynchronous update operation) and a
    // removed tag.
    ctx.apply_yaml(&namespace_manifest(
        "http",
        &http,
        "HTTP",
        "  description: changed",
    ))
    .await
    .expect("apply");
    ctx.apply_yaml(&namespace_manifest(
        "private",
        &private,
        "DNS_PRIVATE",
        &format!("  vpc: {vpc}\n  soaTtl: 120"),
    ))
    .await
    .expect("apply");
    ctx.apply_yaml(&namespace_manifest(
        "public",
        &public,
        "DNS_PUBLIC",
        "  deletionPolicy: Retain\n  description: public names",
    ))
    .await
    .expect("apply");
    for name in ["http", "private", "public"] {
        namespace_ready(&ctx, name).await;
    }
    let cm = cloud_map(&ctx).await;
    let http_ns = cm
        .get_namespace()
        .id(&ids[0])
        .send()
        .await
        .expect("http namespace");
    assert_eq!(
        http_ns.namespace().and_then(|n| n.description()),
        Some("changed")
    );
    let arn = http_ns
        .namespace()
        .and_then(|n| n.arn())
        .expect("arn")
        .to_string();
    let tags = cm
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("tags");
    assert!(
        tags.tags().iter().all(|t| t.key() != "team"),
        "the removed tag is gone"
    );
    let private_ns = cm
        .get_namespace()
        .id(&ids[1])
        .send()
        .await
        .expect("private namespace");
    let soa = private_ns
        .namespace()
        .and_then(|n| n.properties())
        .and_then(|p| p.dns_properties())
        .and_then(|d| d.soa())
        .map(|s| s.ttl());
    assert_eq!(soa, Some(120));
    let public_ns = cm
        .get_namespace()
        .id(&ids[2])
        .send()
        .await
        .expect("public namespace");
    assert_eq!(
        public_ns.namespace().and_then(|n| n.description()),
        Some("public names")
    );
    for op in [
        "UpdateHttpNamespace",
        "UpdatePrivateDnsNamespace",
        "UpdatePublicDnsNamespace",
        "UntagResource",
    ] {
        assert_eq!(operator.calls.count(op), 1, "{op} once");
    }
    let api = ctx.api::<CloudMapNamespace>();
    for name in ["http", "private", "public"] {
        api.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    for name in ["http", "private", "public"] {
        wait_for(&format!("{name} removed"), WAIT, || async {
            get_opt(&api, name).await.is_none().then_some(())
        })
        .await;
    }
    assert!(
        !namespace_exists(&ctx, &ids[0]).await,
        "Delete policy deletes the HTTP namespace"
    );
    assert!(
        !namespace_exists(&ctx, &ids[1]).await,
        "Delete policy deletes the private namespace"
    );
    assert!(
        namespace_exists(&ctx, &ids[2]).await,
        "Retain keeps the public namespace"
    );
    operator.stop().await;
}

#[tokio::test]
async fn foreign_namespace_needs_opt_in() {
    let ctx = TestContext::new("cm-adopt").await;
    let name = ctx.aws_name("legacy");
    let op = cloud_map(&ctx)
        .await
        .create_http_namespace()
        .name(&name)
        .send()
        .await
        .expect("create by hand");
    let op_id = op.operation_id().expect("operation").to_string();
    wait_for("foreign namespace created", WAIT, || async {
        let out = cloud_map(&ctx)
            .await
            .get_operation()
            .operation_id(&op_id)
            .send()
            .await
            .ok()?;
        (out.operation()?.status()?.as_str() == "SUCCESS").then_some(())
    })
    .await;

    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&namespace_manifest("legacy", &name, "HTTP", ""))
        .await
        .expect("apply");
    let api = ctx.api::<CloudMapNamespace>();
    let (_, reason, _) = wait_for("Stalled AlreadyExists", WAIT, || async {
        let status = get_opt(&api, "legacy").await?.status?;
        condition(&status.conditions, "Stalled").filter(|c| c.0 == "True")
    })
    .await;
    assert_eq!(reason, "AlreadyExists");
    ctx.apply_yaml(&namespace_manifest(
        "legacy",
        &name,
        "HTTP",
        "  adoptExisting: true",
    ))
    .await
    .expect("opt in");
    let ns = namespace_ready(&ctx, "legacy").await;
    let arn = ns.status.and_then(|s| s.arn).expect("arn");
    let tags = cloud_map(&ctx)
        .await
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("tags");
    assert!(tags.tags().iter().any(
        |t| t.key() == "ecs-operator.dev/uid" && Some(t.value()) == ns.metadata.uid.as_deref()
    ));
    operator.stop().await;
}

#[tokio::test]
async fn operator_restart_during_an_operation_resumes_it() {
    let ctx = TestContext::new("cm-restart").await;
    let operator = ctx.start_operator().await;
    let name = ctx.aws_name("restart");
    ctx.apply_yaml(&namespace_manifest("restart", &name, "HTTP", ""))
        .await
        .expect("apply");
    let api = ctx.api::<CloudMapNamespace>();
    // Stop while the (simulated asynchronous) create is in flight.
    let pending = wait_for("operation recorded in status", WAIT, || async {
        get_opt(&api, "restart").await?.status?.pending_operation
    })
    .await;
    operator.kill();
    let operator = ctx.start_operator().await;
    let ns = namespace_ready(&ctx, "restart").await;
    assert!(ns.status.and_then(|s| s.namespace_id).is_some());
    assert_eq!(
        operator.calls.count("CreateHttpNamespace"),
        0,
        "the restarted operator polls operation {} instead of creating again",
        pending.id
    );
    let listed = cloud_map(&ctx)
        .await
        .list_namespaces()
        .send()
        .await
        .expect("list");
    assert_eq!(
        listed
            .namespaces()
            .iter()
            .filter(|n| n.name() == Some(name.as_str()))
            .count(),
        1
    );
    operator.stop().await;
}

#[tokio::test]
async fn failed_operation_stalls_with_its_message() {
    let ctx = TestContext::new("cm-fail").await;
    let operator = ctx.start_operator().await;
    // The test bed's simulation fails namespace creation for names containing this marker
    // (standing in for e.g. a VPC that cannot host the zone).
    let name = format!("{}-simulate-fail", ctx.aws_name("bad"));
    ctx.apply_yaml(&namespace_manifest("bad", &name, "HTTP", ""))
        .await
        .expect("apply");
    let api = ctx.api::<CloudMapNamespace>();
    let (_, reason, message) = wait_for("Stalled OperationFailed", WAIT, || async {
        let status = get_opt(&api, "bad").await?.status?;
        condition(&status.conditions, "Stalled").filter(|c| c.0 == "True")
    })
    .await;
    assert_eq!(reason, "OperationFailed");
    assert!(!message.is_empty());
    let creates = operator.calls.count("CreateHttpNamespace");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        operator.calls.count("CreateHttpNamespace"),
        creates,
        "no retry loop for the same spec"
    );
    operator.stop().await;
}

fn task_definition(family: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: TaskDefinition
metadata:
  name: app
spec:
  family: {family}
  requiresCompatibilities: [FARGATE]
  networkMode: awsvpc
  cpu: "256"
  memory: "512"
  containerDefinitions:
    - name: app
      image: nginx:1.27
      portMappings:
        - containerPort: 8080
"#
    )
}

fn service(cluster: &str, net: &Network, discovery: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSService
metadata:
  name: web
spec:
  cluster: {cluster}
  taskDefinitionRef:
    name: app
  desiredCount: 2
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration:
      subnets: [{s0}]
      securityGroups: [{sg}]
  serviceDiscovery:
{discovery}
"#,
        s0 = net.subnets[0],
        sg = net.security_group
    )
}

async fn service_ready(ctx: &TestContext) -> ECSService {
    let api = ctx.api::<ECSService>();
    wait_for("ECSService web Ready", WAIT, || async {
        let svc = get_opt(&api, "web").await?;
        let status = svc.status.as_ref()?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True" && status.observed_generation == svc.metadata.generation).then_some(svc)
    })
    .await
}

#[tokio::test]
async fn service_discovery_registers_tasks_and_follows_changes_and_deletion_order() {
    let ctx = TestContext::new("cm-svc").await;
    let net = ctx.network().await;
    let cluster = ctx.cluster("c").await;
    let operator = ctx.start_operator().await;
    let dns_name = format!("{}.internal", ctx.aws_name("svc"));
    ctx.apply_yaml(&namespace_manifest(
        "internal",
        &dns_name,
        "DNS_PRIVATE",
        &format!("  vpc: {}", net.vpc),
    ))
    .await
    .expect("namespace");
    ctx.apply_yaml(&task_definition(&ctx.aws_name("app")))
        .await
        .expect("task definition");
    let discovery = "    namespaceRef:\n      name: internal\n    dnsConfig:\n      dnsRecords:\n        - type: A\n          ttl: 10\n    healthCheckCustomConfig:\n      failureThreshold: 1\n";
    ctx.apply_yaml(&service(&cluster, &net, discovery))
        .await
        .expect("service");

    let svc = service_ready(&ctx).await;
    let sd = svc
        .status
        .clone()
        .and_then(|s| s.service_discovery)
        .expect("discovery status");
    assert_eq!(sd.discovery_name, format!("web.{dns_name}"));
    let ns_id = get_opt(&ctx.api::<CloudMapNamespace>(), "internal")
        .await
        .and_then(|n| n.status)
        .and_then(|s| s.namespace_id)
        .expect("ns id");
    assert_eq!(sd.namespace_id, ns_id);

    // Cloud Map shows the service, ECS links it, and the tasks are discoverable.
    let cm = cloud_map(&ctx).await;
    let filter = ServiceFilter::builder()
        .name(ServiceFilterName::NamespaceId)
        .values(&ns_id)
        .condition(FilterCondition::Eq)
        .build()
        .expect("filter");
    let listed = cm
        .list_services()
        .filters(filter.clone())
        .send()
        .await
        .expect("list services");
    assert_eq!(
        listed
            .services()
            .iter()
            .filter(|s| s.name() == Some("web"))
            .count(),
        1
    );
    let ecs = ctx.bed.ecs().await;
    let described = ecs
        .describe_services()
        .cluster(&cluster)
        .services("web")
        .send()
        .await
        .expect("describe");
    let registries: Vec<_> = described.services()[0]
        .service_registries()
        .iter()
        .filter_map(|r| r.registry_arn())
        .collect();
    assert_eq!(registries, vec![sd.service_arn.as_str()]);
    // One instance per running task. (ListInstances rather than DiscoverInstances: the SDK
    // sends DiscoverInstances to a `data-` host prefix, which a loopback endpoint lacks.)
    let instances = wait_for("two instances registered", WAIT, || async {
        let out = cm
            .list_instances()
            .service_id(&sd.service_id)
            .send()
            .await
            .ok()?;
        (out.instances().len() == 2).then(|| out.instances().to_vec())
    })
    .await;
    assert!(instances.iter().all(|i| {
        i.attributes()
            .is_some_and(|a| a.contains_key("AWS_INSTANCE_IPV4"))
    }));

    // TTL changes in place: same Cloud Map service.
    ctx.apply_yaml(&service(
        &cluster,
        &net,
        &discovery.replace("ttl: 10", "ttl: 30"),
    ))
    .await
    .expect("ttl change");
    let svc = service_ready(&ctx).await;
    let after_ttl = svc
        .status
        .and_then(|s| s.service_discovery)
        .expect("discovery");
    assert_eq!(
        after_ttl.service_id, sd.service_id,
        "a TTL change keeps the Cloud Map service"
    );
    let got = cm
        .get_service()
        .id(&sd.service_id)
        .send()
        .await
        .expect("get");
    let ttl = got
        .service()
        .and_then(|s| s.dns_config())
        .map(|d| d.dns_records()[0].ttl());
    assert_eq!(ttl, Some(30));

    // A record type change needs a new Cloud Map service: switched, old one deleted.
    ctx.apply_yaml(&service(
        &cluster,
        &net,
        &discovery.replace("- type: A", "- type: AAAA"),
    ))
    .await
    .expect("record change");
    let switched = wait_for("switched to a new Cloud Map service", WAIT, || async {
        let svc = get_opt(&ctx.api::<ECSService>(), "web").await?;
        let status = svc.status?;
        let sd2 = status.service_discovery?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True"
            && sd2.service_id != sd.service_id
            && !sd2.service_id.is_empty()
            && sd2.retired_service_ids.is_empty())
        .then_some(sd2)
    })
    .await;
    assert!(
        cm.get_service().id(&sd.service_id).send().await.is_err(),
        "the old Cloud Map service is deleted"
    );
    let described = ecs
        .describe_services()
        .cluster(&cluster)
        .services("web")
        .send()
        .await
        .expect("describe");
    let registries: Vec<_> = described.services()[0]
        .service_registries()
        .iter()
        .filter_map(|r| r.registry_arn())
        .collect();
    assert_eq!(registries, vec![switched.service_arn.as_str()]);

    // Deletion order: the ECS service goes first, the Cloud Map service after its instances,
    // and the namespace waits for its services.
    let namespaces = ctx.api::<CloudMapNamespace>();
    namespaces
        .delete("internal", &DeleteParams::default())
        .await
        .expect("delete namespace");
    let (_, _, blocked) = wait_for("namespace deletion waits for services", WAIT, || async {
        let status = get_opt(&namespaces, "internal").await?.status?;
        condition(&status.conditions, "Ready").filter(|c| c.2.contains("services remain"))
    })
    .await;
    assert!(
        blocked.contains("web"),
        "the condition names the service: {blocked}"
    );
    ctx.api::<ECSService>()
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete service");
    wait_for("ECSService removed", WAIT, || async {
        get_opt(&ctx.api::<ECSService>(), "web")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        cm.get_service()
            .id(&switched.service_id)
            .send()
            .await
            .is_err(),
        "Cloud Map service deleted with the ECS service"
    );
    wait_for("namespace removed", WAIT, || async {
        get_opt(&namespaces, "internal")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert!(!namespace_exists(&ctx, &ns_id).await);
    let _ = ctx
        .api::<TaskDefinition>()
        .delete("app", &DeleteParams::default())
        .await;
    operator.stop().await;
}

#[tokio::test]
async fn service_connect_names_its_namespace_by_reference() {
    let ctx = TestContext::new("cm-connect").await;
    let net = ctx.network().await;
    let cluster = ctx.cluster("c").await;
    let operator = ctx
        .start_operator_with(ecs_operator::runtime::Config {
            resync_interval: Duration::from_secs(1),
            ..Default::default()
        })
        .await;
    ctx.apply_yaml(&task_definition(&ctx.aws_name("app")))
        .await
        .expect("task definition");
    let connect = format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSService
metadata:
  name: web
spec:
  cluster: {cluster}
  taskDefinitionRef:
    name: app
  desiredCount: 1
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration:
      subnets: [{s0}]
      securityGroups: [{sg}]
  serviceConnectConfiguration:
    enabled: true
    namespaceRef:
      name: mesh
"#,
        s0 = net.subnets[0],
        sg = net.security_group
    );
    ctx.apply_yaml(&connect).await.expect("service");
    // Without the namespace the service waits, and says for what.
    let (_, reason, message) = wait_for("waiting for the namespace", WAIT, || async {
        let status = get_opt(&ctx.api::<ECSService>(), "web").await?.status?;
        condition(&status.conditions, "Ready").filter(|c| c.2.contains("mesh"))
    })
    .await;
    assert_eq!(reason, "WaitingForServiceDiscovery", "{message}");
    assert_eq!(operator.calls.count("CreateService"), 0);

    ctx.apply_yaml(&namespace_manifest(
        "mesh",
        &ctx.aws_name("mesh"),
        "HTTP",
        "",
    ))
    .await
    .expect("namespace");
    service_ready(&ctx).await;
    let creates = operator.calls.count("CreateService");
    // Resolved once: steady state (several observer passes) sends no update.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        operator.calls.count("UpdateService"),
        0,
        "no update loop from the resolved reference"
    );
    assert_eq!(operator.calls.count("CreateService"), creates);
    operator.stop().await;
}

#[tokio::test]
async fn a_namespace_lives_in_its_region_and_waits_for_the_clusters_using_it() {
    let ctx = TestContext::new("cm-region").await;
    let operator = ctx.start_operator().await;
    let aws_name = ctx.aws_name("west");
    ctx.apply_yaml(&namespace_manifest(
        "west",
        &aws_name,
        "HTTP",
        "  region: us-west-2",
    ))
    .await
    .expect("namespace");
    let ns = namespace_ready(&ctx, "west").await;
    let status = ns.status.clone().expect("status");
    let arn = status.arn.clone().expect("arn");
    assert!(arn.contains(":us-west-2:"), "{arn}");
    let id = status.namespace_id.clone().expect("id");
    // It is in us-west-2.
    let west = aws_sdk_servicediscovery::Client::from_conf(
        cloud_map(&ctx)
            .await
            .config()
            .to_builder()
            .region(aws_sdk_servicediscovery::config::Region::new("us-west-2"))
            .build(),
    );
    let west_exists = |id: String| {
        let west = west.clone();
        async move { west.get_namespace().id(id).send().await.is_ok() }
    };
    assert!(west_exists(id.clone()).await);

    // A cluster in the default Region cannot use it: it says why.
    let cluster_name = ctx.aws_name("c");
    let cluster = |extra: &str| {
        format!(
            r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSCluster
metadata:
  name: users
spec:
  clusterName: {cluster_name}
  serviceConnectDefaults:
    namespaceRef:
      name: west
{extra}
"#
        )
    };
    ctx.apply_yaml(&cluster("")).await.expect("cluster");
    let clusters = ctx.api::<ecs_operator::api::ECSCluster>();
    wait_for(
        "cluster refuses a namespace of another Region",
        WAIT,
        || async {
            let status = get_opt(&clusters, "users").await?.status?;
            let (_, _, message) = condition(&status.conditions, "Ready")?;
            message.contains("another Region").then_some(())
        },
    )
    .await;
    // In us-west-2 it becomes Ready with the namespace as its default.
    ctx.apply_yaml(&cluster("  region: us-west-2"))
        .await
        .expect_err("region is immutable");
    clusters
        .delete("users", &DeleteParams::default())
        .await
        .expect("delete cluster");
    wait_for("cluster gone", WAIT, || async {
        get_opt(&clusters, "users").await.is_none().then_some(())
    })
    .await;
    ctx.apply_yaml(&cluster("  region: us-west-2"))
        .await
        .expect("cluster in us-west-2");
    wait_for("cluster Ready", WAIT, || async {
        let status = get_opt(&clusters, "users").await?.status?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True").then_some(())
    })
    .await;

    // Deleting the namespace waits while the cluster uses it, and says which.
    let api = ctx.api::<CloudMapNamespace>();
    api.delete("west", &DeleteParams::default())
        .await
        .expect("delete namespace");
    wait_for("deletion waits for the cluster", WAIT, || async {
        let status = get_opt(&api, "west").await?.status?;
        let (_, _, message) = condition(&status.conditions, "Ready")?;
        message.contains("users").then_some(())
    })
    .await;
    assert!(west_exists(id.clone()).await, "namespace kept while used");
    clusters
        .delete("users", &DeleteParams::default())
        .await
        .expect("delete cluster");
    wait_for("namespace deleted after the cluster", WAIT, || async {
        (get_opt(&api, "west").await.is_none() && !west_exists(id.clone()).await).then_some(())
    })
    .await;
    operator.stop().await;
}
