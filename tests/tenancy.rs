//! Tenancy: what one namespace may do to the AWS resources of another, against the real
//! kube-apiserver and moto. Two namespaces, each with its own operator instance, share one
//! AWS account as two teams of a management cluster would.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types::{ClusterField, ServiceField, TaskDefinitionField};
use ecs_operator::api::common::Condition;
use ecs_operator::api::{ECSCluster, ECSService, TaskDefinition};
use kube::api::DeleteParams;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use support::{Network, TestContext, condition, events_with_reason, get_opt, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn task_definition(name: &str, family: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: TaskDefinition
metadata:
  name: {name}
spec:
  family: {family}
  requiresCompatibilities: [FARGATE]
  networkMode: awsvpc
  cpu: "256"
  memory: "512"
  containerDefinitions:
    - name: app
      image: nginx:1.27
{extra}
"#
    )
}

fn service(
    name: &str,
    service_name: &str,
    cluster: &str,
    task_definition: &str,
    net: &Network,
    extra: &str,
) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSService
metadata:
  name: {name}
spec:
  serviceName: {service_name}
  cluster: {cluster}
  taskDefinitionRef:
    name: {task_definition}
  desiredCount: 1
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration:
      subnets: [{s0}]
      securityGroups: [{sg}]
{extra}
"#,
        s0 = net.subnets[0],
        sg = net.security_group
    )
}

fn cluster(name: &str, cluster_name: &str, extra: &str) -> String {
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

/// An object's conditions and the generation they describe.
type ConditionsOf<K> = fn(&K) -> Option<(Vec<Condition>, Option<i64>)>;

/// Waits until `name` is Ready for its current generation.
async fn ready<K>(ctx: &TestContext, name: &str, conditions: ConditionsOf<K>) -> K
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = ctx.api();
    wait_for(&format!("{} {name} Ready", K::kind(&())), WAIT, || async {
        let obj = get_opt(&api, name).await?;
        let (conditions, observed) = conditions(&obj)?;
        let (ready, _, _) = condition(&conditions, "Ready")?;
        (ready == "True" && observed == obj.meta().generation).then_some(obj)
    })
    .await
}

/// Waits until `name` is Stalled with `reason` for its current generation; the message.
async fn stalled<K>(
    ctx: &TestContext,
    name: &str,
    reason: &str,
    conditions: ConditionsOf<K>,
) -> String
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = ctx.api();
    wait_for(
        &format!("{} {name} Stalled {reason}", K::kind(&())),
        WAIT,
        || async {
            let obj = get_opt(&api, name).await?;
            let (conditions, observed) = conditions(&obj)?;
            let (value, found, message) = condition(&conditions, "Stalled")?;
            (value == "True" && found == reason && observed == obj.meta().generation)
                .then_some(message)
        },
    )
    .await
}

fn td_conditions(td: &TaskDefinition) -> Option<(Vec<Condition>, Option<i64>)> {
    let s = td.status.as_ref()?;
    Some((s.conditions.clone(), s.observed_generation))
}

fn svc_conditions(svc: &ECSService) -> Option<(Vec<Condition>, Option<i64>)> {
    let s = svc.status.as_ref()?;
    Some((s.conditions.clone(), s.observed_generation))
}

fn cluster_conditions(cl: &ECSCluster) -> Option<(Vec<Condition>, Option<i64>)> {
    let s = cl.status.as_ref()?;
    Some((s.conditions.clone(), s.observed_generation))
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

async fn revision_tags(ctx: &TestContext, arn: &str) -> BTreeMap<String, String> {
    let out = ctx
        .bed
        .ecs()
        .await
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .expect("describe revision");
    tags_of(out.tags())
}

async fn service_in_ecs(
    ctx: &TestContext,
    cluster: &str,
    name: &str,
) -> aws_sdk_ecs::types::Service {
    let out = ctx
        .bed
        .ecs()
        .await
        .describe_services()
        .cluster(cluster)
        .services(name)
        .include(ServiceField::Tags)
        .send()
        .await
        .expect("describe service");
    out.services().first().cloned().expect("service in ECS")
}

async fn cluster_in_ecs(ctx: &TestContext, name: &str) -> aws_sdk_ecs::types::Cluster {
    let out = ctx
        .bed
        .ecs()
        .await
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Tags)
        .send()
        .await
        .expect("describe cluster");
    out.clusters().first().cloned().expect("cluster in ECS")
}

#[tokio::test]
async fn adopt_existing_never_takes_another_namespaces_resources() {
    // Namespace A owns a task definition family, an ECS cluster and an ECS service.
    let a = TestContext::new("ten-owner").await;
    let net = a.network().await;
    let operator_a = a.start_operator().await;
    let family = a.aws_name("app");
    let cluster_name = a.aws_name("shared");
    a.apply_yaml(&task_definition("app", &family, ""))
        .await
        .expect("apply A's TaskDefinition");
    a.apply_yaml(&cluster("shared", &cluster_name, ""))
        .await
        .expect("apply A's ECSCluster");
    let service_name = a.aws_name("web");
    let a_td = ready(&a, "app", td_conditions).await;
    ready(&a, "shared", cluster_conditions).await;
    a.apply_yaml(&service(
        "web",
        &service_name,
        &cluster_name,
        "app",
        &net,
        "",
    ))
    .await
    .expect("apply A's ECSService");
    ready(&a, "web", svc_conditions).await;
    operator_a.stop().await;
    let a_revision = a_td
        .status
        .and_then(|s| s.task_definition_arn)
        .expect("A's revision");
    let before_revision = revision_tags(&a, &a_revision).await;
    let before_service = tags_of(
        service_in_ecs(&a, &cluster_name, &service_name)
            .await
            .tags(),
    );
    let before_cluster = tags_of(cluster_in_ecs(&a, &cluster_name).await.tags());

    // Namespace B names the same family, cluster and service, asking to adopt them.
    let b = TestContext::new("ten-taker").await;
    let operator_b = b.start_operator().await;
    b.apply_yaml(&task_definition("own", &b.aws_name("own"), ""))
        .await
        .expect("apply B's own TaskDefinition");
    ready(&b, "own", td_conditions).await;
    b.apply_yaml(&task_definition("app", &family, "  adoptExisting: true"))
        .await
        .expect("apply B's TaskDefinition");
    b.apply_yaml(&cluster("shared", &cluster_name, "  adoptExisting: true"))
        .await
        .expect("apply B's ECSCluster");
    b.apply_yaml(&service(
        "web",
        &service_name,
        &cluster_name,
        "own",
        &net,
        "  adoptExisting: true",
    ))
    .await
    .expect("apply B's ECSService");
    let mut messages = vec![
        stalled(&b, "app", "OwnedByAnotherObject", td_conditions).await,
        stalled(&b, "shared", "OwnedByAnotherObject", cluster_conditions).await,
        stalled(&b, "web", "OwnedByAnotherObject", svc_conditions).await,
    ];
    for message in &messages {
        assert!(
            !message.contains(&a.namespace),
            "the condition must not reveal the owner's namespace: {message}"
        );
    }
    messages.extend(events_with_reason(&b, "OwnedByAnotherObject").await);
    assert!(
        messages.iter().all(|m| !m.contains(&a.namespace)),
        "no condition or Event reveals the owner's namespace: {messages:?}"
    );

    assert_eq!(
        revision_tags(&a, &a_revision).await,
        before_revision,
        "A's revision keeps its tags, tag by tag"
    );
    assert_eq!(
        tags_of(
            service_in_ecs(&a, &cluster_name, &service_name)
                .await
                .tags()
        ),
        before_service,
        "A's service keeps its tags, tag by tag"
    );
    assert_eq!(
        tags_of(cluster_in_ecs(&a, &cluster_name).await.tags()),
        before_cluster,
        "A's cluster keeps its tags, tag by tag"
    );
    assert_eq!(
        operator_b.calls.count("RegisterTaskDefinition"),
        1,
        "B registered its own family only"
    );
    for write in [
        "TagResource",
        "UntagResource",
        "UpdateService",
        "UpdateCluster",
        "CreateService",
        "CreateCluster",
    ] {
        assert_eq!(
            operator_b.calls.count(write),
            0,
            "B's operator called {write}"
        );
    }

    // Deleting B's objects leaves A's resources.
    for (name, api) in [("app", "td"), ("shared", "cluster"), ("web", "svc")] {
        let deleted = match api {
            "td" => b
                .api::<TaskDefinition>()
                .delete(name, &DeleteParams::default())
                .await
                .map(|_| ()),
            "cluster" => b
                .api::<ECSCluster>()
                .delete(name, &DeleteParams::default())
                .await
                .map(|_| ()),
            _ => b
                .api::<ECSService>()
                .delete(name, &DeleteParams::default())
                .await
                .map(|_| ()),
        };
        deleted.expect("delete B's object");
    }
    wait_for("B's objects gone", WAIT, || async {
        let td = get_opt(&b.api::<TaskDefinition>(), "app").await;
        let cl = get_opt(&b.api::<ECSCluster>(), "shared").await;
        let svc = get_opt(&b.api::<ECSService>(), "web").await;
        (td.is_none() && cl.is_none() && svc.is_none()).then_some(())
    })
    .await;
    let service = service_in_ecs(&a, &cluster_name, &service_name).await;
    assert_eq!(
        service.status(),
        Some("ACTIVE"),
        "A's service is left running"
    );
    assert_eq!(
        cluster_in_ecs(&a, &cluster_name).await.status(),
        Some("ACTIVE"),
        "A's cluster is left"
    );
    let revision = a
        .bed
        .ecs()
        .await
        .describe_task_definition()
        .task_definition(&a_revision)
        .send()
        .await
        .expect("describe A's revision");
    assert_eq!(
        revision
            .task_definition()
            .and_then(|t| t.status())
            .map(|s| s.as_str()),
        Some("ACTIVE"),
        "A's revision is left"
    );
    for write in ["DeleteService", "DeleteCluster", "DeregisterTaskDefinition"] {
        assert_eq!(
            operator_b.calls.count(write),
            0,
            "B's operator called {write}"
        );
    }
    operator_b.stop().await;
}

#[tokio::test]
async fn an_adopted_cluster_is_deleted_only_with_an_explicit_delete() {
    let ctx = TestContext::new("ten-adopted").await;
    let kept = ctx.cluster("kept").await;
    let gone = ctx.cluster("gone").await;
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&cluster("kept", &kept, "  adoptExisting: true"))
        .await
        .expect("apply");
    ctx.apply_yaml(&cluster(
        "gone",
        &gone,
        "  adoptExisting: true\n  deletionPolicy: Delete",
    ))
    .await
    .expect("apply");
    ready(&ctx, "kept", cluster_conditions).await;
    ready(&ctx, "gone", cluster_conditions).await;
    assert_eq!(
        tags_of(cluster_in_ecs(&ctx, &kept).await.tags())
            .get("ecs-operator.dev/adopted")
            .map(String::as_str),
        Some("true"),
        "adoption is recorded on the cluster"
    );
    let api = ctx.api::<ECSCluster>();
    for name in ["kept", "gone"] {
        api.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    wait_for("both ECSClusters removed", WAIT, || async {
        (get_opt(&api, "kept").await.is_none() && get_opt(&api, "gone").await.is_none())
            .then_some(())
    })
    .await;
    assert_eq!(
        cluster_in_ecs(&ctx, &kept).await.status(),
        Some("ACTIVE"),
        "an adopted cluster without an explicit deletionPolicy: Delete is left"
    );
    assert_eq!(
        cluster_in_ecs(&ctx, &gone).await.status(),
        Some("INACTIVE"),
        "deletionPolicy: Delete set explicitly deletes an adopted cluster"
    );
    assert!(!events_with_reason(&ctx, "Retained").await.is_empty());
    operator.stop().await;
}

const ROLE_A: &str = "arn:aws:iam::111111111111:role/team-a/deployer";
const ROLE_B: &str = "arn:aws:iam::222222222222:role/team-b/deployer";

/// Whether family `family` has any revision in the account of `role` (None: the test bed's
/// own) and `region` (None: the default Region), as moto's per-account backends see it.
async fn family_exists(
    ctx: &TestContext,
    region: Option<&str>,
    role: Option<&str>,
    family: &str,
) -> bool {
    let pool = ecs_operator::aws::ClientPool::new(
        &ctx.bed.aws_settings(),
        ecs_operator::aws::metrics::ApiCalls::default(),
    )
    .await
    .expect("client pool");
    let aws = pool.clients_for(region, role).await.expect("clients");
    let listed = aws
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .send()
        .await
        .expect("list task definitions");
    !listed.task_definition_arns().is_empty()
}

#[tokio::test]
async fn without_a_grant_a_namespace_names_no_role() {
    let ctx = TestContext::new("ten-nogrant").await;
    let operator = ctx.start_operator().await;
    let family = ctx.aws_name("taken");
    ctx.apply_yaml(&task_definition(
        "other-team",
        &family,
        &format!("  roleArn: {ROLE_B}"),
    ))
    .await
    .expect("apply");
    let message = stalled(&ctx, "other-team", "RoleNotGranted", td_conditions).await;
    assert!(message.contains(ROLE_B), "the role is named: {message}");
    assert_eq!(
        operator.calls.count("AssumeRole"),
        0,
        "no call as that role"
    );
    assert_eq!(operator.calls.count("RegisterTaskDefinition"), 0);
    wait_for("an Event telling the refusal", WAIT, || async {
        (!events_with_reason(&ctx, "RoleNotGranted").await.is_empty()).then_some(())
    })
    .await;
    assert!(!family_exists(&ctx, None, Some(ROLE_B), &family).await);
    operator.stop().await;
}

#[tokio::test]
async fn a_namespace_acts_only_as_the_roles_regions_and_pass_roles_granted_to_it() {
    let a = TestContext::new("ten-grant-a").await;
    let b = TestContext::new("ten-grant-b").await;
    b.grant(serde_json::json!({ "roleArns": [ROLE_B] })).await;
    a.grant(serde_json::json!({
        "roleArns": ["arn:aws:iam::111111111111:role/team-a/*"],
        "regions": ["us-east-1"],
        "passRoleArns": ["arn:aws:iam::111111111111:role/team-a/tasks/*"],
    }))
    .await;
    let operator = a.start_operator().await;
    let family = |base: &str| a.aws_name(base);
    let with = |role: &str, extra: &str| format!("  roleArn: {role}\n{extra}");
    a.apply_yaml(&task_definition(
        "b-role",
        &family("b-role"),
        &with(ROLE_B, ""),
    ))
    .await
    .expect("apply");
    a.apply_yaml(&task_definition(
        "west",
        &family("west"),
        &with(ROLE_A, "  region: us-west-2"),
    ))
    .await
    .expect("apply");
    a.apply_yaml(&task_definition(
        "admin-pass",
        &family("admin-pass"),
        &with(
            ROLE_A,
            "  taskRoleArn: arn:aws:iam::111111111111:role/admin",
        ),
    ))
    .await
    .expect("apply");
    a.apply_yaml(&task_definition(
        "granted",
        &family("granted"),
        &with(
            ROLE_A,
            "  taskRoleArn: arn:aws:iam::111111111111:role/team-a/tasks/web",
        ),
    ))
    .await
    .expect("apply");

    let message = stalled(&a, "b-role", "RoleNotGranted", td_conditions).await;
    assert!(message.contains(ROLE_B), "{message}");
    let message = stalled(&a, "west", "RegionNotGranted", td_conditions).await;
    assert!(message.contains("us-west-2"), "{message}");
    let message = stalled(&a, "admin-pass", "PassRoleNotGranted", td_conditions).await;
    assert!(message.contains("role/admin"), "{message}");
    let granted = ready(&a, "granted", td_conditions).await;
    assert_eq!(
        granted.status.and_then(|s| s.aws_account_id).as_deref(),
        Some("111111111111"),
        "the granted role's account"
    );

    // Nothing was created where the grant does not reach.
    assert!(!family_exists(&a, None, Some(ROLE_B), &family("b-role")).await);
    assert!(!family_exists(&a, Some("us-west-2"), Some(ROLE_A), &family("west")).await);
    assert!(!family_exists(&a, None, Some(ROLE_A), &family("admin-pass")).await);
    assert!(family_exists(&a, None, Some(ROLE_A), &family("granted")).await);
    assert_eq!(
        operator.calls.count("RegisterTaskDefinition"),
        1,
        "only the granted object registered"
    );
    operator.stop().await;
    drop(b);
}

#[tokio::test]
async fn grants_that_cannot_be_read_refuse_access() {
    let ctx = TestContext::new("ten-unreadable").await;
    // An operator identity with every right on its namespace's objects but none on
    // AWSAccessGrants, as when the chart's grant reader is missing.
    let user = "ecs-operator-without-grants";
    let rbac = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": { "name": "operator", "namespace": ctx.namespace },
        "rules": [
            {
                "apiGroups": ["ecs-operator.dev"],
                "resources": ["taskdefinitions", "ecsservices", "ecsclusters", "capacityproviders",
                    "cloudmapnamespaces", "ecstasks", "ecsscheduledtasks"],
                "verbs": ["get", "list", "watch", "patch", "update"]
            },
            {
                "apiGroups": ["ecs-operator.dev"],
                "resources": ["taskdefinitions/status", "taskdefinitions/finalizers",
                    "ecsservices/status", "ecsclusters/status", "capacityproviders/status",
                    "cloudmapnamespaces/status", "ecstasks/status", "ecsscheduledtasks/status"],
                "verbs": ["patch", "update"]
            },
            { "apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"] }
        ]
    });
    let binding = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": { "name": "operator", "namespace": ctx.namespace },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "operator" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user }]
    });
    let pp = kube::api::PatchParams::apply("integration-test").force();
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = ctx.api();
    roles
        .patch("operator", &pp, &kube::api::Patch::Apply(&rbac))
        .await
        .expect("Role");
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> = ctx.api();
    bindings
        .patch("operator", &pp, &kube::api::Patch::Apply(&binding))
        .await
        .expect("RoleBinding");

    let client = ctx.bed.kube_as(user).await;
    let grants: Api<ecs_operator::api::AWSAccessGrant> = Api::all(client.clone());
    let refused = grants
        .list(&Default::default())
        .await
        .expect_err("the identity cannot read grants");
    assert!(
        matches!(&refused, kube::Error::Api(s) if s.code == 403),
        "{refused}"
    );
    let operator = ctx.start_operator_as(client).await;
    let family = ctx.aws_name("closed");
    ctx.apply_yaml(&task_definition("closed", &family, ""))
        .await
        .expect("apply");
    let message = stalled(&ctx, "closed", "GrantsUnavailable", td_conditions).await;
    assert!(
        message.contains("AWSAccessGrants cannot be read"),
        "{message}"
    );
    assert_eq!(
        operator.calls.count("RegisterTaskDefinition"),
        0,
        "no AWS call while the grants are unknown"
    );
    assert!(!family_exists(&ctx, None, None, &family).await);
    operator.stop().await;
}
