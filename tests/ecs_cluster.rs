//! ECSCluster and CapacityProvider against the real kube-apiserver and moto, plus the ECS
//! behaviours moto does not reproduce (DeleteCluster refused while services run, a provider
//! in use, an Auto Scaling group that does not exist) against recorded ECS answers.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types::{ClusterField, ClusterSetting, ClusterSettingName};
use ecs_operator::api::{CapacityProvider, ECSCluster, ECSService};
use ecs_operator::runtime::Config;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};
use support::{Network, TestContext, condition, events_with_reason, get_opt, wait_for};

const WAIT: Duration = Duration::from_secs(40);
const ASG_ARN: &str = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b:autoScalingGroupName/";

fn cluster_manifest(name: &str, cluster_name: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSCluster
metadata:
  name: {name}
spec:
  clusterName: {cluster_name}
{extra}
"#
    )
}

fn provider_manifest(name: &str, provider_name: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: CapacityProvider
metadata:
  name: {name}
spec:
  name: {provider_name}
  autoScalingGroupArn: {ASG_ARN}{provider_name}
{extra}
"#
    )
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
"#
    )
}

/// An ECSService running in the ECSCluster object `cluster` (clusterRef).
fn service(name: &str, cluster: &str, net: &Network, extra: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSService
metadata:
  name: {name}
spec:
  clusterRef:
    name: {cluster}
  taskDefinitionRef:
    name: app
  desiredCount: 1
  networkConfiguration:
    awsvpcConfiguration:
      subnets: [{s0}, {s1}]
      securityGroups: [{sg}]
{extra}
"#,
        s0 = net.subnets[0],
        s1 = net.subnets[1],
        sg = net.security_group
    )
}

async fn ready_cluster(ctx: &TestContext, name: &str) -> ECSCluster {
    let api = ctx.api::<ECSCluster>();
    wait_for(&format!("ECSCluster {name} Ready"), WAIT, || async {
        let cluster = get_opt(&api, name).await?;
        let status = cluster.status.as_ref()?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True" && status.observed_generation == cluster.metadata.generation)
            .then_some(cluster)
    })
    .await
}

async fn ready_provider(ctx: &TestContext, name: &str) -> CapacityProvider {
    let api = ctx.api::<CapacityProvider>();
    wait_for(&format!("CapacityProvider {name} Ready"), WAIT, || async {
        let provider = get_opt(&api, name).await?;
        let status = provider.status.as_ref()?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True" && status.observed_generation == provider.metadata.generation)
            .then_some(provider)
    })
    .await
}

async fn ready_service(ctx: &TestContext, name: &str) -> ECSService {
    let api = ctx.api::<ECSService>();
    wait_for(&format!("ECSService {name} Ready"), WAIT, || async {
        let svc = get_opt(&api, name).await?;
        let status = svc.status.as_ref()?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True" && status.observed_generation == svc.metadata.generation).then_some(svc)
    })
    .await
}

/// Waits for condition `type_` of the ECSCluster to have `reason`; returns its message.
async fn cluster_condition(ctx: &TestContext, name: &str, type_: &str, reason: &str) -> String {
    let api = ctx.api::<ECSCluster>();
    wait_for(
        &format!("ECSCluster {name} {type_} {reason}"),
        WAIT,
        || async {
            let cluster = get_opt(&api, name).await?;
            let (_, found, message) = condition(&cluster.status?.conditions, type_)?;
            (found == reason).then_some(message)
        },
    )
    .await
}

async fn describe_cluster(ctx: &TestContext, name: &str) -> Option<aws_sdk_ecs::types::Cluster> {
    let out = ctx
        .bed
        .ecs()
        .await
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Settings)
        .include(ClusterField::Tags)
        .send()
        .await
        .ok()?;
    out.clusters().first().cloned()
}

fn tags_of(tags: &[aws_sdk_ecs::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn insights(cluster: &aws_sdk_ecs::types::Cluster) -> Option<String> {
    cluster
        .settings()
        .iter()
        .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
        .and_then(|s| s.value().map(str::to_string))
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

/// Writes the operator made to clusters and capacity providers.
fn cluster_writes(calls: &ecs_operator::aws::metrics::ApiCalls) -> u64 {
    [
        "CreateCluster",
        "UpdateCluster",
        "PutClusterCapacityProviders",
        "DeleteCluster",
        "CreateCapacityProvider",
        "UpdateCapacityProvider",
        "DeleteCapacityProvider",
        "TagResource",
        "UntagResource",
    ]
    .iter()
    .map(|op| calls.count(op))
    .sum()
}

#[tokio::test]
async fn cluster_is_created_updated_kept_free_of_drift_and_quiet_when_converged() {
    let ctx = TestContext::new("cl-lifecycle").await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
    let name = ctx.aws_name("main");
    let first = r#"  settings:
    containerInsights: enabled
  configuration:
    executeCommandConfiguration:
      logging: DEFAULT
  capacityProviders: [FARGATE]
  defaultCapacityProviderStrategy:
    - capacityProvider: FARGATE
      weight: 1
  tags:
    - key: team
      value: platform"#;
    ctx.apply_yaml(&cluster_manifest("main", &name, first))
        .await
        .expect("apply");
    let cluster = ready_cluster(&ctx, "main").await;
    let status = cluster.status.clone().expect("status");
    assert!(
        status
            .cluster_arn
            .as_deref()
            .is_some_and(|a| a.ends_with(&format!(":cluster/{name}")))
    );
    assert_eq!(status.cluster_status.as_deref(), Some("ACTIVE"));
    assert_eq!(status.cluster_name.as_deref(), Some(name.as_str()));
    assert_eq!(status.active_services_count, Some(0));
    assert_eq!(status.running_tasks_count, Some(0));
    assert_eq!(status.capacity_providers, vec!["FARGATE".to_string()]);
    assert_eq!(
        cluster.spec.cluster_name.as_deref(),
        Some(name.as_str()),
        "spec untouched"
    );

    let ecs = describe_cluster(&ctx, &name).await.expect("cluster in ECS");
    assert_eq!(insights(&ecs).as_deref(), Some("enabled"));
    assert_eq!(ecs.capacity_providers(), ["FARGATE".to_string()]);
    let tags = tags_of(ecs.tags());
    assert_eq!(
        tags.get("ecs-operator.dev/uid").map(String::as_str),
        cluster.metadata.uid.as_deref()
    );
    assert_eq!(
        tags.get("ecs-operator.dev/kind").map(String::as_str),
        Some("ECSCluster")
    );
    assert_eq!(tags.get("team").map(String::as_str), Some("platform"));
    assert_eq!(operator.calls.count("CreateCluster"), 1);
    assert!(!events_with_reason(&ctx, "Created").await.is_empty());

    // Unchanged spec, many reconciles and observations (resync 1 s): no write call at all.
    let writes = operator.calls.writes();
    let api = ctx.api::<ECSCluster>();
    for i in 0..10 {
        let patch = serde_json::json!({"metadata": {"annotations": {"test/poke": i.to_string()}}});
        api.patch("main", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("poke");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        operator.calls.writes(),
        writes,
        "a converged cluster makes no write calls: {:?}",
        operator.calls.snapshot()
    );
    assert!(
        operator.calls.count("DescribeClusters") > 0,
        "observed periodically"
    );

    // Settings, providers, strategy and tags in one change.
    let second = r#"  settings:
    containerInsights: enhanced
  configuration:
    executeCommandConfiguration:
      logging: DEFAULT
  capacityProviders: [FARGATE_SPOT, FARGATE]
  defaultCapacityProviderStrategy:
    - capacityProvider: FARGATE
      base: 1
      weight: 1
    - capacityProvider: FARGATE_SPOT
      weight: 3
  tags:
    - key: team
      value: payments"#;
    ctx.apply_yaml(&cluster_manifest("main", &name, second))
        .await
        .expect("update");
    let cluster = ready_cluster(&ctx, "main").await;
    let ecs = describe_cluster(&ctx, &name).await.expect("cluster in ECS");
    assert_eq!(insights(&ecs).as_deref(), Some("enhanced"));
    assert_eq!(
        sorted(ecs.capacity_providers().to_vec()),
        vec!["FARGATE".to_string(), "FARGATE_SPOT".to_string()]
    );
    let strategy: BTreeMap<String, (i32, i32)> = ecs
        .default_capacity_provider_strategy()
        .iter()
        .map(|s| (s.capacity_provider().to_string(), (s.weight(), s.base())))
        .collect();
    assert_eq!(strategy.get("FARGATE"), Some(&(1, 1)));
    assert_eq!(strategy.get("FARGATE_SPOT"), Some(&(3, 0)));
    assert_eq!(
        tags_of(ecs.tags()).get("team").map(String::as_str),
        Some("payments")
    );
    assert_eq!(
        cluster
            .status
            .as_ref()
            .map(|s| s.capacity_providers.clone()),
        Some(vec!["FARGATE".to_string(), "FARGATE_SPOT".to_string()])
    );
    assert_eq!(
        operator.calls.count("UpdateCluster"),
        1,
        "one UpdateCluster"
    );
    assert_eq!(operator.calls.count("PutClusterCapacityProviders"), 1);
    let updates = events_with_reason(&ctx, "Updated").await;
    assert!(
        updates
            .iter()
            .any(|n| n.contains("settings.containerInsights") && n.contains("capacityProviders")),
        "{updates:?}"
    );

    // A change made in ECS by hand is put back on the periodic observation.
    ctx.bed
        .ecs()
        .await
        .update_cluster()
        .cluster(&name)
        .settings(
            ClusterSetting::builder()
                .name(ClusterSettingName::ContainerInsights)
                .value("disabled")
                .build(),
        )
        .send()
        .await
        .expect("change by hand");
    wait_for("containerInsights repaired", WAIT, || async {
        (insights(&describe_cluster(&ctx, &name).await?).as_deref() == Some("enhanced"))
            .then_some(())
    })
    .await;
    let notes = wait_for("DriftRepaired event", WAIT, || async {
        let notes = events_with_reason(&ctx, "DriftRepaired").await;
        (!notes.is_empty()).then_some(notes)
    })
    .await;
    assert!(notes[0].contains("containerInsights"), "{notes:?}");

    // Converged again: quiet again.
    ready_cluster(&ctx, "main").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes = operator.calls.writes();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        operator.calls.writes(),
        writes,
        "{:?}",
        operator.calls.snapshot()
    );
    operator.stop().await;
}

#[tokio::test]
async fn removed_cluster_fields_are_reset_and_fields_never_set_are_left_alone() {
    let ctx = TestContext::new("cl-reset").await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
    let name = ctx.aws_name("reset");
    let fields = "  settings: {containerInsights: enhanced}
  configuration:
    executeCommandConfiguration: {kmsKeyId: alias/exec, logging: OVERRIDE, logConfiguration: {cloudWatchLogGroupName: /ecs/exec}}
  serviceConnectDefaults: {namespace: internal}
  capacityProviders: [FARGATE, FARGATE_SPOT]
  defaultCapacityProviderStrategy: [{capacityProvider: FARGATE, weight: 1}]";
    ctx.apply_yaml(&cluster_manifest("main", &name, fields))
        .await
        .expect("apply with every field");
    let cluster = ready_cluster(&ctx, "main").await;
    let managed = cluster.status.expect("status").managed_fields;
    assert_eq!(
        managed,
        vec![
            "capacityProviders",
            "configuration.executeCommandConfiguration",
            "serviceConnectDefaults",
            "settings.containerInsights"
        ]
    );
    let ecs = describe_cluster(&ctx, &name).await.expect("cluster");
    assert_eq!(insights(&ecs).as_deref(), Some("enhanced"));
    assert_eq!(ecs.capacity_providers().len(), 2);

    // Every field removed: ECS goes back to its defaults before the object is Ready again.
    ctx.apply_yaml(&cluster_manifest("main", &name, ""))
        .await
        .expect("apply without them");
    let cluster = ready_cluster(&ctx, "main").await;
    assert!(cluster.status.expect("status").managed_fields.is_empty());
    let ecs = describe_cluster(&ctx, &name).await.expect("cluster");
    assert_eq!(insights(&ecs).as_deref(), Some("disabled"));
    let exec = ecs
        .configuration()
        .and_then(|c| c.execute_command_configuration())
        .expect("exec configuration");
    assert_eq!(
        (
            exec.kms_key_id(),
            exec.logging().map(|l| l.as_str()),
            exec.log_configuration().is_some()
        ),
        (None, Some("DEFAULT"), false)
    );
    assert!(
        ecs.service_connect_defaults()
            .and_then(|d| d.namespace())
            .is_none_or(str::is_empty),
        "{:?}",
        ecs.service_connect_defaults()
    );
    assert!(ecs.capacity_providers().is_empty());
    assert!(ecs.default_capacity_provider_strategy().is_empty());
    let notes = events_with_reason(&ctx, "FieldsReset").await.join(" ");
    for field in [
        "settings.containerInsights",
        "configuration.executeCommandConfiguration",
        "serviceConnectDefaults",
        "capacityProviders",
    ] {
        assert!(notes.contains(field), "{field} in {notes}");
    }

    // Never set now, changed by hand: left alone (once the operator has seen it).
    let generation = cluster.metadata.generation;
    ctx.bed
        .ecs()
        .await
        .update_cluster()
        .cluster(&name)
        .settings(
            ClusterSetting::builder()
                .name(ClusterSettingName::ContainerInsights)
                .value("enabled")
                .build(),
        )
        .send()
        .await
        .expect("change by hand");
    let describes = operator.calls.count("DescribeClusters");
    wait_for("the observer reads the cluster again", WAIT, || async {
        (operator.calls.count("DescribeClusters") > describes + 1).then_some(())
    })
    .await;
    let cluster = ready_cluster(&ctx, "main").await;
    assert_eq!(cluster.metadata.generation, generation);
    let ecs = describe_cluster(&ctx, &name).await.expect("cluster");
    assert_eq!(insights(&ecs).as_deref(), Some("enabled"));
    assert_eq!(
        operator.calls.count("UpdateCluster"),
        1,
        "only the reset updated"
    );
    operator.stop().await;
}

#[tokio::test]
async fn removed_capacity_provider_fields_are_reset_to_the_ecs_defaults() {
    let ctx = TestContext::new("cp-reset").await;
    let operator = ctx.start_operator().await;
    let provider_name = ctx.aws_name("asg");
    let fields = "  managedScaling:\n    status: ENABLED\n    targetCapacity: 80\n    instanceWarmupPeriod: 60\n  managedDraining: DISABLED";
    ctx.apply_yaml(&provider_manifest("asg", &provider_name, fields))
        .await
        .expect("apply");
    ready_provider(&ctx, "asg").await;
    // Removed: targetCapacity and managedDraining; instanceWarmupPeriod and status stay set.
    let fewer = "  managedScaling:\n    status: ENABLED\n    instanceWarmupPeriod: 60";
    ctx.apply_yaml(&provider_manifest("asg", &provider_name, fewer))
        .await
        .expect("apply without them");
    let provider = ready_provider(&ctx, "asg").await;
    assert_eq!(
        provider.status.expect("status").managed_fields,
        vec![
            "managedScaling.instanceWarmupPeriod",
            "managedScaling.status"
        ]
    );
    let described = ctx
        .bed
        .ecs()
        .await
        .describe_capacity_providers()
        .capacity_providers(&provider_name)
        .send()
        .await
        .expect("describe")
        .capacity_providers()
        .first()
        .cloned()
        .expect("provider");
    let asg = described
        .auto_scaling_group_provider()
        .expect("ASG provider");
    let scaling = asg.managed_scaling().expect("managed scaling");
    assert_eq!(
        (scaling.target_capacity(), scaling.instance_warmup_period()),
        (Some(100), Some(60))
    );
    assert_eq!(asg.managed_draining().map(|d| d.as_str()), Some("ENABLED"));
    let notes = events_with_reason(&ctx, "FieldsReset").await.join(" ");
    assert!(
        notes.contains("managedScaling.targetCapacity") && notes.contains("managedDraining"),
        "{notes}"
    );
    operator.stop().await;
}

#[tokio::test]
async fn service_with_cluster_ref_waits_for_the_cluster_and_runs_in_it() {
    let ctx = TestContext::new("cl-ref").await;
    let net = ctx.network().await;
    // A long resync: only the watch relation can start the service in time.
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(3600),
            ..Config::default()
        })
        .await;
    ctx.apply_yaml(&task_definition(&ctx.aws_name("app")))
        .await
        .expect("apply TaskDefinition");
    ctx.apply_yaml(&service("web", "shared", &net, "  launchType: FARGATE"))
        .await
        .expect("apply ECSService");
    let message = wait_for("ECSService WaitingForCluster", WAIT, || async {
        let svc = get_opt(&ctx.api::<ECSService>(), "web").await?;
        let (_, reason, message) = condition(&svc.status?.conditions, "Ready")?;
        (reason == "WaitingForCluster").then_some(message)
    })
    .await;
    assert!(message.contains("shared"), "{message}");
    assert_eq!(operator.calls.count("CreateService"), 0);

    let name = ctx.aws_name("shared");
    ctx.apply_yaml(&cluster_manifest("shared", &name, ""))
        .await
        .expect("apply ECSCluster");
    let cluster = ready_cluster(&ctx, "shared").await;
    let svc = ready_service(&ctx, "web").await;
    let cluster_arn = cluster.status.and_then(|s| s.cluster_arn);
    assert_eq!(
        svc.status.as_ref().and_then(|s| s.cluster_arn.clone()),
        cluster_arn,
        "the service runs in the referenced cluster"
    );
    let described = ctx
        .bed
        .ecs()
        .await
        .describe_services()
        .cluster(&name)
        .services("web")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        described.services().first().and_then(|s| s.status()),
        Some("ACTIVE")
    );
    assert!(svc.spec.cluster.is_none(), "spec is never written");
    operator.stop().await;
}

#[tokio::test]
async fn deletion_waits_for_the_services_in_the_cluster_then_completes() {
    let ctx = TestContext::new("cl-delete-busy").await;
    let net = ctx.network().await;
    let operator = ctx.start_operator().await;
    let name = ctx.aws_name("busy");
    ctx.apply_yaml(&cluster_manifest("busy", &name, ""))
        .await
        .expect("apply ECSCluster");
    ctx.apply_yaml(&task_definition(&ctx.aws_name("app")))
        .await
        .expect("apply TaskDefinition");
    ctx.apply_yaml(&service("web", "busy", &net, "  launchType: FARGATE"))
        .await
        .expect("apply ECSService");
    ready_service(&ctx, "web").await;
    // A service the operator does not manage, in the same cluster.
    let ecs = ctx.bed.ecs().await;
    let td = ecs
        .describe_task_definition()
        .task_definition(ctx.aws_name("app"))
        .send()
        .await
        .expect("task definition")
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("arn")
        .to_string();
    ecs.create_service()
        .cluster(&name)
        .service_name("manual")
        .task_definition(&td)
        .desired_count(0)
        .send()
        .await
        .expect("create by hand");

    let clusters = ctx.api::<ECSCluster>();
    clusters
        .delete("busy", &DeleteParams::default())
        .await
        .expect("delete ECSCluster");
    let message = cluster_condition(&ctx, "busy", "Ready", "DeletionBlocked").await;
    assert!(
        message.contains("web") && message.contains("manual"),
        "names the blocking services: {message}"
    );
    assert_eq!(
        describe_cluster(&ctx, &name)
            .await
            .and_then(|c| c.status().map(str::to_string))
            .as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(operator.calls.count("DeleteCluster"), 0);
    assert!(!events_with_reason(&ctx, "DeletionBlocked").await.is_empty());

    ctx.api::<ECSService>()
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete ECSService");
    ecs.delete_service()
        .cluster(&name)
        .service("manual")
        .force(true)
        .send()
        .await
        .expect("delete by hand");
    wait_for("ECSCluster removed", WAIT, || async {
        get_opt(&clusters, "busy").await.is_none().then_some(())
    })
    .await;
    assert_eq!(
        describe_cluster(&ctx, &name)
            .await
            .and_then(|c| c.status().map(str::to_string))
            .as_deref(),
        Some("INACTIVE")
    );
    assert_eq!(operator.calls.count("DeleteCluster"), 1);
    operator.stop().await;
}

#[tokio::test]
async fn deletion_policies_and_a_cluster_already_gone() {
    let ctx = TestContext::new("cl-delete").await;
    let operator = ctx.start_operator().await;
    let names: BTreeMap<&str, String> = ["gone", "kept", "vanished"]
        .into_iter()
        .map(|n| (n, ctx.aws_name(n)))
        .collect();
    ctx.apply_yaml(&cluster_manifest("gone", &names["gone"], ""))
        .await
        .expect("apply");
    ctx.apply_yaml(&cluster_manifest(
        "kept",
        &names["kept"],
        "  deletionPolicy: Retain",
    ))
    .await
    .expect("apply");
    ctx.apply_yaml(&cluster_manifest("vanished", &names["vanished"], ""))
        .await
        .expect("apply");
    for name in names.keys() {
        ready_cluster(&ctx, name).await;
    }
    ctx.bed
        .ecs()
        .await
        .delete_cluster()
        .cluster(&names["vanished"])
        .send()
        .await
        .expect("delete by hand");

    let api = ctx.api::<ECSCluster>();
    for name in names.keys() {
        api.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    for name in names.keys() {
        wait_for(&format!("{name} removed"), WAIT, || async {
            get_opt(&api, name).await.is_none().then_some(())
        })
        .await;
    }
    let status_of = |cluster: Option<aws_sdk_ecs::types::Cluster>| {
        cluster.and_then(|c| c.status().map(str::to_string))
    };
    assert_eq!(
        status_of(describe_cluster(&ctx, &names["gone"]).await).as_deref(),
        Some("INACTIVE")
    );
    assert_eq!(
        status_of(describe_cluster(&ctx, &names["kept"]).await).as_deref(),
        Some("ACTIVE"),
        "Retain leaves the cluster"
    );
    assert_eq!(
        operator.calls.count("DeleteCluster"),
        1,
        "a cluster already gone is not deleted again"
    );
    assert!(!events_with_reason(&ctx, "Retained").await.is_empty());
    operator.stop().await;
}

#[tokio::test]
async fn existing_cluster_needs_opt_in_to_be_adopted() {
    let ctx = TestContext::new("cl-adopt").await;
    let name = ctx.cluster("legacy").await;
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&cluster_manifest("legacy", &name, ""))
        .await
        .expect("apply");
    let message = cluster_condition(&ctx, "legacy", "Stalled", "AlreadyExists").await;
    assert!(message.contains("adoptExisting"), "{message}");
    assert_eq!(
        cluster_writes(&operator.calls),
        0,
        "a foreign cluster is not touched"
    );

    ctx.apply_yaml(&cluster_manifest(
        "legacy",
        &name,
        "  adoptExisting: true\n  settings:\n    containerInsights: enabled",
    ))
    .await
    .expect("opt in");
    let cluster = ready_cluster(&ctx, "legacy").await;
    let ecs = describe_cluster(&ctx, &name).await.expect("cluster");
    assert_eq!(
        tags_of(ecs.tags())
            .get("ecs-operator.dev/uid")
            .map(String::as_str),
        cluster.metadata.uid.as_deref()
    );
    assert_eq!(insights(&ecs).as_deref(), Some("enabled"));
    assert_eq!(operator.calls.count("CreateCluster"), 0);
    assert!(!events_with_reason(&ctx, "Adopted").await.is_empty());
    operator.stop().await;
}

#[tokio::test]
async fn capacity_providers_are_managed_associated_and_released_in_order() {
    let ctx = TestContext::new("cl-providers").await;
    let net = ctx.network().await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
    let provider_name = ctx.aws_name("asg");
    let scaling = "  managedScaling:\n    status: ENABLED\n    targetCapacity: 80\n    minimumScalingStepSize: 2\n  managedDraining: ENABLED\n  tags:\n    - key: team\n      value: platform";
    ctx.apply_yaml(&provider_manifest("asg", &provider_name, scaling))
        .await
        .expect("apply CapacityProvider");
    let provider = ready_provider(&ctx, "asg").await;
    let status = provider.status.clone().expect("status");
    assert_eq!(status.name.as_deref(), Some(provider_name.as_str()));
    assert_eq!(status.provider_status.as_deref(), Some("ACTIVE"));
    let ecs = ctx.bed.ecs().await;
    let describe_provider = || async {
        ecs.describe_capacity_providers()
            .capacity_providers(&provider_name)
            .include(aws_sdk_ecs::types::CapacityProviderField::Tags)
            .send()
            .await
            .ok()
            .and_then(|o| o.capacity_providers().first().cloned())
    };
    let described = describe_provider().await.expect("provider in ECS");
    let scaling_of = |p: &aws_sdk_ecs::types::CapacityProvider| {
        p.auto_scaling_group_provider()
            .and_then(|a| a.managed_scaling())
            .map(|m| (m.target_capacity(), m.minimum_scaling_step_size()))
    };
    assert_eq!(scaling_of(&described), Some((Some(80), Some(2))));
    assert_eq!(
        tags_of(described.tags())
            .get("ecs-operator.dev/uid")
            .map(String::as_str),
        provider.metadata.uid.as_deref()
    );

    // A cluster using it by reference (and Fargate by name).
    let cluster_name = ctx.aws_name("ec2");
    let refs = "  capacityProviders: [FARGATE]\n  capacityProviderRefs:\n    - name: asg";
    ctx.apply_yaml(&cluster_manifest("ec2", &cluster_name, refs))
        .await
        .expect("apply ECSCluster");
    let cluster = ready_cluster(&ctx, "ec2").await;
    assert_eq!(
        cluster.status.map(|s| s.capacity_providers),
        Some(sorted(vec!["FARGATE".into(), provider_name.clone()]))
    );

    // Only the changed setting changes; the others are kept.
    ctx.apply_yaml(&provider_manifest(
        "asg",
        &provider_name,
        &scaling.replace("targetCapacity: 80", "targetCapacity: 90"),
    ))
    .await
    .expect("update CapacityProvider");
    ready_provider(&ctx, "asg").await;
    wait_for("targetCapacity 90 in ECS", WAIT, || async {
        (scaling_of(&describe_provider().await?) == Some((Some(90), Some(2)))).then_some(())
    })
    .await;
    assert_eq!(operator.calls.count("UpdateCapacityProvider"), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes = operator.calls.writes();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        operator.calls.writes(),
        writes,
        "converged providers and clusters make no write calls: {:?}",
        operator.calls.snapshot()
    );

    // A service whose strategy uses the provider keeps it on the cluster.
    ctx.apply_yaml(&task_definition(&ctx.aws_name("app")))
        .await
        .expect("apply TaskDefinition");
    ctx.apply_yaml(&service(
        "web",
        "ec2",
        &net,
        &format!(
            "  capacityProviderStrategy:\n    - capacityProvider: {provider_name}\n      weight: 1"
        ),
    ))
    .await
    .expect("apply ECSService");
    ready_service(&ctx, "web").await;
    let puts = operator.calls.count("PutClusterCapacityProviders");
    ctx.apply_yaml(&cluster_manifest(
        "ec2",
        &cluster_name,
        "  capacityProviders: [FARGATE]",
    ))
    .await
    .expect("drop the provider");
    let message = cluster_condition(&ctx, "ec2", "Stalled", "CapacityProviderInUse").await;
    assert!(
        message.contains(&provider_name) && message.contains("web"),
        "names the provider and the service: {message}"
    );
    assert_eq!(operator.calls.count("PutClusterCapacityProviders"), puts);

    // The provider's deletion waits for the cluster that references it.
    ctx.apply_yaml(&cluster_manifest("ec2", &cluster_name, refs))
        .await
        .expect("restore");
    ready_cluster(&ctx, "ec2").await;
    let providers = ctx.api::<CapacityProvider>();
    providers
        .delete("asg", &DeleteParams::default())
        .await
        .expect("delete CapacityProvider");
    let message = wait_for("CapacityProvider deletion waits", WAIT, || async {
        let provider = get_opt(&providers, "asg").await?;
        let (_, reason, message) = condition(&provider.status?.conditions, "Ready")?;
        (reason == "Deleting").then_some(message)
    })
    .await;
    assert!(message.contains("ec2"), "names the cluster: {message}");
    assert_eq!(
        describe_provider().await.and_then(|p| p.status().cloned()),
        Some(aws_sdk_ecs::types::CapacityProviderStatus::Active)
    );

    // Service, then cluster, then provider.
    ctx.api::<ECSService>()
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete ECSService");
    ctx.api::<ECSCluster>()
        .delete("ec2", &DeleteParams::default())
        .await
        .expect("delete ECSCluster");
    wait_for("CapacityProvider removed", WAIT, || async {
        get_opt(&providers, "asg").await.is_none().then_some(())
    })
    .await;
    assert!(
        describe_provider().await.is_none_or(
            |p| p.status() == Some(&aws_sdk_ecs::types::CapacityProviderStatus::Inactive)
        ),
        "the provider is deleted in ECS"
    );
    assert_eq!(operator.calls.count("DeleteCapacityProvider"), 1);
    operator.stop().await;
}

#[tokio::test]
async fn cluster_waits_for_an_unready_capacity_provider_reference() {
    let ctx = TestContext::new("cl-wait-cp").await;
    let operator = ctx.start_operator().await;
    let cluster_name = ctx.aws_name("waits");
    ctx.apply_yaml(&cluster_manifest(
        "waits",
        &cluster_name,
        "  capacityProviderRefs:\n    - name: later",
    ))
    .await
    .expect("apply ECSCluster");
    let message = cluster_condition(&ctx, "waits", "Ready", "WaitingForCapacityProvider").await;
    assert!(message.contains("later"), "{message}");
    let provider_name = ctx.aws_name("later");
    ctx.apply_yaml(&provider_manifest("later", &provider_name, ""))
        .await
        .expect("apply CapacityProvider");
    let cluster = ready_cluster(&ctx, "waits").await;
    assert_eq!(
        cluster.status.map(|s| s.capacity_providers),
        Some(vec![provider_name])
    );
    operator.stop().await;
}

#[tokio::test]
async fn service_connect_defaults_follow_a_cloud_map_namespace_reference() {
    let ctx = TestContext::new("cl-namespace").await;
    let operator = ctx.start_operator().await;
    let cluster_name = ctx.aws_name("connect");
    ctx.apply_yaml(&cluster_manifest(
        "connect",
        &cluster_name,
        "  serviceConnectDefaults:\n    namespaceRef:\n      name: internal",
    ))
    .await
    .expect("apply ECSCluster");
    let message = cluster_condition(&ctx, "connect", "Ready", "WaitingForNamespace").await;
    assert!(message.contains("internal"), "{message}");
    assert_eq!(
        describe_cluster(&ctx, &cluster_name)
            .await
            .and_then(|c| c.status().map(str::to_string))
            .as_deref(),
        Some("ACTIVE"),
        "the rest of the cluster is created meanwhile"
    );

    let namespace = format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: CloudMapNamespace
metadata:
  name: internal
spec:
  name: {}
  type: HTTP
"#,
        ctx.aws_name("internal")
    );
    ctx.apply_yaml(&namespace)
        .await
        .expect("apply CloudMapNamespace");
    let cluster = ready_cluster(&ctx, "connect").await;
    let namespace_arn = wait_for("CloudMapNamespace ARN", WAIT, || async {
        get_opt(
            &ctx.api::<ecs_operator::api::CloudMapNamespace>(),
            "internal",
        )
        .await?
        .status?
        .arn
    })
    .await;
    assert_eq!(
        cluster.status.and_then(|s| s.service_connect_namespace),
        Some(namespace_arn.clone())
    );
    let ecs = describe_cluster(&ctx, &cluster_name)
        .await
        .expect("cluster");
    assert_eq!(
        ecs.service_connect_defaults().and_then(|d| d.namespace()),
        Some(namespace_arn.as_str())
    );
    assert_eq!(operator.calls.count("UpdateCluster"), 1);
    operator.stop().await;
}

// ---------------------------------------------------------------------------------------
// Admission

/// Dry-run create of one manifest in `namespace`.
async fn dry_run_create(
    client: &Client,
    namespace: &str,
    yaml: &str,
) -> Result<DynamicObject, kube::Error> {
    let obj: DynamicObject =
        serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("bad test manifest: {e}\n{yaml}"));
    let types = obj.types.clone().expect("apiVersion and kind");
    let (group, version) = types.api_version.split_once('/').expect("custom resource");
    let gvk = GroupVersionKind::gvk(group, version, &types.kind);
    let resource =
        ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", types.kind.to_lowercase()));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    api.create(
        &PostParams {
            dry_run: true,
            field_manager: None,
        },
        &obj,
    )
    .await
}

fn cluster_with(spec: &str) -> String {
    format!(
        "apiVersion: ecs-operator.dev/v1alpha1\nkind: ECSCluster\nmetadata:\n  name: bad\nspec: {{{spec}}}\n"
    )
}

fn provider_with(name: &str, spec: &str) -> String {
    let rest = if spec.is_empty() {
        String::new()
    } else {
        format!(", {spec}")
    };
    format!(
        "apiVersion: ecs-operator.dev/v1alpha1\nkind: CapacityProvider\nmetadata:\n  name: {name}\nspec: {{autoScalingGroupArn: \"{ASG_ARN}web\"{rest}}}\n"
    )
}

fn service_with(spec: &str) -> String {
    format!(
        "apiVersion: ecs-operator.dev/v1alpha1\nkind: ECSService\nmetadata:\n  name: bad\nspec: {{taskDefinition: \"web:1\", {spec}}}\n"
    )
}

#[tokio::test]
async fn invalid_manifests_are_rejected_at_admission_naming_the_field() {
    let ctx = TestContext::new("cl-admission").await;
    let rows: Vec<(&str, String, &[&str])> = vec![
        (
            "cluster name from an invalid metadata.name",
            "apiVersion: ecs-operator.dev/v1alpha1\nkind: ECSCluster\nmetadata:\n  name: my.cluster\nspec: {}\n".to_string(),
            &["spec.clusterName must be set"],
        ),
        ("invalid clusterName", cluster_with("clusterName: \"a b\""), &["spec.clusterName"]),
        ("clusterName too long", cluster_with(&format!("clusterName: {}", "a".repeat(256))), &["spec.clusterName"]),
        (
            "weight above 1000",
            cluster_with("capacityProviders: [FARGATE], defaultCapacityProviderStrategy: [{capacityProvider: FARGATE, weight: 1001}]"),
            &["spec.defaultCapacityProviderStrategy[0].weight"],
        ),
        (
            "negative base",
            cluster_with("capacityProviders: [FARGATE], defaultCapacityProviderStrategy: [{capacityProvider: FARGATE, base: -1}]"),
            &["spec.defaultCapacityProviderStrategy[0].base"],
        ),
        (
            "two providers with a base",
            cluster_with("capacityProviders: [FARGATE, FARGATE_SPOT], defaultCapacityProviderStrategy: [{capacityProvider: FARGATE, base: 1}, {capacityProvider: FARGATE_SPOT, base: 2}]"),
            &["spec.defaultCapacityProviderStrategy", "at most one capacity provider may have a base"],
        ),
        (
            "Fargate mixed with an Auto Scaling group provider",
            cluster_with("capacityProviders: [FARGATE, web-asg], defaultCapacityProviderStrategy: [{capacityProvider: FARGATE, weight: 1}, {capacityProvider: web-asg, weight: 1}]"),
            &["spec.defaultCapacityProviderStrategy", "cannot mix FARGATE/FARGATE_SPOT"],
        ),
        (
            "strategy naming Fargate without associating it",
            cluster_with("capacityProviders: [FARGATE_SPOT], defaultCapacityProviderStrategy: [{capacityProvider: FARGATE, weight: 1}]"),
            &["spec.defaultCapacityProviderStrategy", "capacityProviders"],
        ),
        (
            "strategy without any provider",
            cluster_with("defaultCapacityProviderStrategy: [{capacityProvider: web-asg, weight: 1}]"),
            &["spec.defaultCapacityProviderStrategy", "capacityProviderRefs"],
        ),
        ("duplicate providers", cluster_with("capacityProviders: [FARGATE, FARGATE]"), &["spec.capacityProviders", "unique"]),
        ("invalid provider name", cluster_with("capacityProviders: [\"not ok\"]"), &["spec.capacityProviders[0]"]),
        ("unknown Container Insights level", cluster_with("settings: {containerInsights: on}"), &["spec.settings.containerInsights"]),
        (
            "OVERRIDE logging without a log configuration",
            cluster_with("configuration: {executeCommandConfiguration: {logging: OVERRIDE}}"),
            &["spec.configuration.executeCommandConfiguration.logConfiguration"],
        ),
        (
            "namespace and namespaceRef",
            cluster_with("serviceConnectDefaults: {namespace: internal, namespaceRef: {name: ns}}"),
            &["spec.serviceConnectDefaults.namespace", "exactly one"],
        ),
        ("reserved tag", cluster_with("tags: [{key: \"aws:owner\", value: x}]"), &["spec.tags", "reserved"]),
        ("invalid region", cluster_with("region: Mars-1"), &["spec.region"]),
        ("target capacity 0", provider_with("web", "managedScaling: {targetCapacity: 0}"), &["spec.managedScaling.targetCapacity"]),
        ("target capacity 101", provider_with("web", "managedScaling: {targetCapacity: 101}"), &["spec.managedScaling.targetCapacity"]),
        ("step size 0", provider_with("web", "managedScaling: {maximumScalingStepSize: 0}"), &["spec.managedScaling.maximumScalingStepSize"]),
        (
            "minimum step above maximum",
            provider_with("web", "managedScaling: {minimumScalingStepSize: 20, maximumScalingStepSize: 10}"),
            &["spec.managedScaling.minimumScalingStepSize"],
        ),
        ("warm-up above 10000", provider_with("web", "managedScaling: {instanceWarmupPeriod: 10001}"), &["spec.managedScaling.instanceWarmupPeriod"]),
        (
            "termination protection without managed scaling",
            provider_with("web", "managedTerminationProtection: ENABLED"),
            &["spec.managedTerminationProtection"],
        ),
        ("reserved provider name prefix", provider_with("ecs-web", ""), &["spec.name must be set"]),
        ("reserved spec.name prefix", provider_with("web", "name: FargateWeb"), &["spec.name", "aws, ecs or fargate"]),
        (
            "not an Auto Scaling group ARN",
            "apiVersion: ecs-operator.dev/v1alpha1\nkind: CapacityProvider\nmetadata:\n  name: web\nspec: {autoScalingGroupArn: \"arn:aws:ec2:us-east-1:123456789012:instance/i-1\"}\n".to_string(),
            &["spec.autoScalingGroupArn"],
        ),
        ("service with cluster and clusterRef", service_with("cluster: prod, clusterRef: {name: prod}"), &["spec.clusterRef", "exactly one of cluster and clusterRef"]),
        ("service without a cluster", service_with("desiredCount: 1"), &["spec.clusterRef", "exactly one of cluster and clusterRef"]),
    ];
    let mut failures = Vec::new();
    for (what, manifest, expect) in &rows {
        match dry_run_create(&ctx.client, &ctx.namespace, manifest).await {
            Ok(_) => failures.push(format!("{what}: accepted, expected a rejection")),
            Err(kube::Error::Api(status)) => {
                if status.code != 422 {
                    failures.push(format!(
                        "{what}: expected 422, got {}: {}",
                        status.code, status.message
                    ));
                }
                for want in *expect {
                    if !status.message.contains(want) {
                        failures.push(format!(
                            "{what}: message lacks {want:?}: {}",
                            status.message
                        ));
                    }
                }
            }
            Err(other) => failures.push(format!("{what}: unexpected error {other}")),
        }
    }
    for (what, manifest) in [
        (
            "a complete cluster",
            cluster_with(
                "clusterName: ok_1, settings: {containerInsights: enhanced}, configuration: {executeCommandConfiguration: {kmsKeyId: alias/exec, logging: OVERRIDE, logConfiguration: {cloudWatchLogGroupName: /ecs/exec, s3BucketName: logs-bucket}}}, serviceConnectDefaults: {namespace: internal}, capacityProviders: [FARGATE, FARGATE_SPOT], defaultCapacityProviderStrategy: [{capacityProvider: FARGATE, base: 1, weight: 1}, {capacityProvider: FARGATE_SPOT, weight: 4}], deletionPolicy: Retain, adoptExisting: true",
            ),
        ),
        (
            "an Auto Scaling group strategy by reference",
            cluster_with(
                "capacityProviderRefs: [{name: asg}], defaultCapacityProviderStrategy: [{capacityProvider: web-asg, weight: 1}]",
            ),
        ),
        (
            "a complete provider",
            provider_with(
                "web",
                "managedScaling: {status: ENABLED, targetCapacity: 100, minimumScalingStepSize: 1, maximumScalingStepSize: 10000, instanceWarmupPeriod: 0}, managedTerminationProtection: ENABLED, managedDraining: DISABLED",
            ),
        ),
        (
            "a service by clusterRef",
            service_with("clusterRef: {name: prod}"),
        ),
    ] {
        if let Err(err) = dry_run_create(&ctx.client, &ctx.namespace, &manifest).await {
            failures.push(format!("{what}: rejected: {err}"));
        }
    }

    // Names and the Auto Scaling group cannot change once set.
    ctx.apply_yaml(&cluster_manifest("fixed", "fixed-name", ""))
        .await
        .expect("create ECSCluster");
    ctx.apply_yaml(&provider_manifest("fixedcp", "fixed-cp", ""))
        .await
        .expect("create CapacityProvider");
    for (what, manifest, want) in [
        (
            "clusterName changed",
            cluster_manifest("fixed", "other-name", ""),
            "clusterName cannot change",
        ),
        (
            "region added",
            cluster_manifest("fixed", "fixed-name", "  region: eu-west-1"),
            "region cannot change",
        ),
        (
            "provider name changed",
            provider_manifest("fixedcp", "other-cp", ""),
            "name cannot change",
        ),
    ] {
        let mut params = PatchParams::apply("integration-test").force();
        params.dry_run = true;
        let obj: DynamicObject = serde_yaml_ng::from_str(&manifest).expect("yaml");
        let types = obj.types.clone().expect("types");
        let gvk = GroupVersionKind::gvk("ecs-operator.dev", "v1alpha1", &types.kind);
        let resource =
            ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", types.kind.to_lowercase()));
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource);
        let name = obj.metadata.name.clone().expect("name");
        match api.patch(&name, &params, &Patch::Apply(&obj)).await {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(err) if err.to_string().contains(want) => {}
            Err(err) => failures.push(format!("{what}: message lacks {want:?}: {err}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------
// Recorded ECS answers for what moto does not reproduce

mod recorded {
    use std::time::Duration;

    use aws_sdk_ecs::Client;
    use aws_sdk_ecs::config::retry::RetryConfig;
    use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_runtime_api::http::{Request, Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use ecs_operator::api::CapacityProviderSpec;
    use ecs_operator::aws::ecs_cluster::{
        ClusterDeletion, CreateCapacityProviderRequest, create_capacity_provider, delete_cluster,
        describe_clusters, put_capacity_providers,
    };
    use ecs_operator::aws::error::ErrorClass;
    use serde_json::{Value, json};

    const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";

    fn replay(operation: &str, responses: Vec<Response>) -> (Client, StaticReplayClient) {
        let events = responses
            .into_iter()
            .map(|response| {
                let mut request = Request::new(SdkBody::empty());
                request
                    .set_uri("https://ecs.us-east-1.amazonaws.com/")
                    .expect("uri");
                request
                    .headers_mut()
                    .insert("x-amz-target", format!("{TARGET_PREFIX}{operation}"));
                ReplayEvent::new(request, response)
            })
            .collect();
        let http = StaticReplayClient::new(events);
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "AKIDRECORDED",
                "secret",
                None,
                None,
                "recorded",
            ))
            .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
            .http_client(http.clone())
            .build();
        (Client::from_conf(config), http)
    }

    fn json_response(status: u16, body: Value) -> Response {
        let mut response = Response::new(
            StatusCode::try_from(status).expect("status"),
            SdkBody::from(body.to_string()),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        response
    }

    fn ecs_error(code: &str, message: &str) -> Response {
        let mut response = json_response(400, json!({ "__type": code, "message": message }));
        response
            .headers_mut()
            .insert("x-amzn-errortype", code.to_string());
        response
    }

    fn first_request_body(http: &StaticReplayClient) -> Value {
        let request = http.actual_requests().next().expect("a request was sent");
        serde_json::from_slice(request.body().bytes().expect("body")).expect("JSON body")
    }

    #[tokio::test]
    async fn delete_cluster_with_services_is_refused_and_reported_as_in_use() {
        // ECS refuses to delete a cluster that still has services (moto deletes it anyway).
        let (client, http) = replay(
            "DeleteCluster",
            vec![ecs_error(
                "ClusterContainsServicesException",
                "The Cluster cannot be deleted while Services are active.",
            )],
        );
        match delete_cluster(&client, "prod").await {
            Ok(ClusterDeletion::InUse(err)) => {
                assert_eq!(err.code, "ClusterContainsServicesException");
                assert!(
                    err.message.contains("Services are active"),
                    "{}",
                    err.message
                );
            }
            other => panic!("expected InUse, got {other:?}"),
        }
        assert_eq!(http.actual_requests().count(), 1, "not retried by the SDK");
    }

    #[tokio::test]
    async fn delete_of_a_cluster_that_does_not_exist_is_done() {
        let (client, _) = replay(
            "DeleteCluster",
            vec![ecs_error("ClusterNotFoundException", "Cluster not found.")],
        );
        assert!(matches!(
            delete_cluster(&client, "gone").await,
            Ok(ClusterDeletion::Gone)
        ));
    }

    #[tokio::test]
    async fn dissociating_a_provider_in_use_is_terminal_with_the_aws_message() {
        let (client, http) = replay(
            "PutClusterCapacityProviders",
            vec![ecs_error(
                "ResourceInUseException",
                "The specified capacity provider is in use and cannot be removed.",
            )],
        );
        let err = put_capacity_providers(&client, "prod", &["FARGATE".into()], &[])
            .await
            .expect_err("refused");
        assert_eq!(err.code, "ResourceInUseException");
        assert_eq!(err.class, ErrorClass::Terminal);
        assert!(err.message.contains("in use"), "{}", err.message);
        let body = first_request_body(&http);
        assert_eq!(body["capacityProviders"], json!(["FARGATE"]));
        assert_eq!(
            body["defaultCapacityProviderStrategy"],
            json!([]),
            "the complete (empty) strategy is always sent"
        );
    }

    #[tokio::test]
    async fn an_auto_scaling_group_that_does_not_exist_is_terminal_with_the_aws_message() {
        // ECS answers a ClientException naming the group; the exact wording is ECS's to
        // choose, so the test checks that it reaches the error unchanged.
        let message = "The specified Auto Scaling group ARN does not exist or is not valid.";
        let (client, http) = replay(
            "CreateCapacityProvider",
            vec![ecs_error("ClientException", message)],
        );
        let spec = CapacityProviderSpec {
            auto_scaling_group_arn: format!("{}missing", super::ASG_ARN),
            ..Default::default()
        };
        let tags = [("ecs-operator.dev/uid".to_string(), "u1".to_string())].into();
        let err = create_capacity_provider(
            &client,
            &CreateCapacityProviderRequest {
                name: "web",
                spec: &spec,
                tags: &tags,
            },
        )
        .await
        .expect_err("refused");
        assert_eq!(err.class, ErrorClass::Terminal);
        assert_eq!(err.message, message);
        let body = first_request_body(&http);
        assert_eq!(body["name"], "web");
        assert_eq!(
            body["tags"],
            json!([{ "key": "ecs-operator.dev/uid", "value": "u1" }]),
            "ownership tags on create"
        );
    }

    #[tokio::test]
    async fn describe_clusters_reports_missing_clusters_in_one_batched_call() {
        let (client, http) = replay(
            "DescribeClusters",
            vec![json_response(
                200,
                json!({
                    "clusters": [{
                        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
                        "clusterName": "prod",
                        "status": "ACTIVE",
                        "registeredContainerInstancesCount": 2,
                        "runningTasksCount": 5,
                        "pendingTasksCount": 1,
                        "activeServicesCount": 3,
                        "settings": [{ "name": "containerInsights", "value": "enhanced" }],
                        "capacityProviders": ["FARGATE_SPOT", "FARGATE"],
                        "defaultCapacityProviderStrategy": [{ "capacityProvider": "FARGATE", "weight": 1, "base": 0 }],
                        "serviceConnectDefaults": { "namespace": "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-abcdefghijklmnop" },
                        "tags": [{ "key": "team", "value": "platform" }]
                    }],
                    "failures": [{ "arn": "arn:aws:ecs:us-east-1:123456789012:cluster/gone", "reason": "MISSING" }]
                }),
            )],
        );
        let described = describe_clusters(&client, &["prod".into(), "gone".into()])
            .await
            .expect("described");
        let prod = described.found.get("prod").expect("prod");
        assert_eq!(
            (
                prod.running_tasks_count,
                prod.pending_tasks_count,
                prod.active_services_count
            ),
            (5, 1, 3)
        );
        assert_eq!(prod.capacity_providers, vec!["FARGATE", "FARGATE_SPOT"]);
        assert_eq!(
            prod.container_insights,
            Some(ecs_operator::api::ecs_cluster::ContainerInsights::Enhanced)
        );
        assert_eq!(described.missing, vec!["gone".to_string()]);
        let body = first_request_body(&http);
        assert_eq!(body["clusters"], json!(["prod", "gone"]));
        assert_eq!(
            body["include"],
            json!(["SETTINGS", "CONFIGURATIONS", "TAGS"])
        );
    }
}
