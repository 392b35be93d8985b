//! TaskDefinition against the real kube-apiserver and moto.

mod support;

use std::time::Duration;

use aws_sdk_ecs::types::{ContainerDefinition, TaskDefinitionField};
use ecs_operator::api::TaskDefinition;
use ecs_operator::runtime::Config;
use kube::api::{DeleteParams, Patch, PatchParams};
use support::{TestContext, condition, get_opt, wait_for};

const WAIT: Duration = Duration::from_secs(30);

fn manifest(name: &str, family: &str, extra: &str) -> String {
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
    - name: web
      image: nginx:1.27
      portMappings:
        - containerPort: 80
      environment:
        - name: A
          value: "1"
        - name: B
          value: "2"
{extra}
"#
    )
}

/// Waits until the object is Ready for its current generation and returns it.
async fn ready(ctx: &TestContext, name: &str) -> TaskDefinition {
    let api = ctx.api::<TaskDefinition>();
    wait_for(&format!("TaskDefinition {name} Ready"), WAIT, || async {
        let td = get_opt(&api, name).await?;
        let status = td.status.as_ref()?;
        let (ready, _, _) = condition(&status.conditions, "Ready")?;
        (ready == "True" && status.observed_generation == td.metadata.generation).then_some(td)
    })
    .await
}

async fn revision_status(ecs: &aws_sdk_ecs::Client, arn: &str) -> Option<String> {
    let out = ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .ok()?;
    out.task_definition()?
        .status()
        .map(|s| s.as_str().to_string())
}

#[tokio::test]
async fn create_registers_a_tagged_revision_and_reports_it() {
    let ctx = TestContext::new("td-create").await;
    let operator = ctx.start_operator().await;
    let family = ctx.aws_name("web");
    ctx.apply_yaml(&manifest(
        "web",
        &family,
        "  tags:\n    - key: team\n      value: platform",
    ))
    .await
    .expect("apply");

    let td = ready(&ctx, "web").await;
    let status = td.status.expect("status");
    assert_eq!(status.family.as_deref(), Some(family.as_str()));
    assert_eq!(status.revision, Some(1));
    assert_eq!(status.observed_generation, td.metadata.generation);
    let arn = status.task_definition_arn.expect("arn in status");
    assert!(
        arn.ends_with(&format!("task-definition/{family}:1")),
        "{arn}"
    );

    let ecs = ctx.bed.ecs().await;
    let described = ecs
        .describe_task_definition()
        .task_definition(&arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .expect("revision exists in ECS");
    let tags: std::collections::BTreeMap<_, _> = described
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    assert_eq!(
        tags.get("ecs-operator.dev/namespace"),
        Some(&ctx.namespace.as_str())
    );
    assert_eq!(tags.get("ecs-operator.dev/name"), Some(&"web"));
    assert_eq!(
        tags.get("ecs-operator.dev/uid").copied(),
        td.metadata.uid.as_deref()
    );
    assert_eq!(tags.get("team"), Some(&"platform"));
    let container: &ContainerDefinition = &described
        .task_definition()
        .expect("td")
        .container_definitions()[0];
    assert_eq!(container.image(), Some("nginx:1.27"));
    assert_eq!(operator.calls.count("RegisterTaskDefinition"), 1);

    // Tags change on the revision itself, without a new revision.
    ctx.apply_yaml(&manifest(
        "web",
        &family,
        "  tags:\n    - key: owner\n      value: payments",
    ))
    .await
    .expect("apply new tags");
    let td = ready(&ctx, "web").await;
    assert_eq!(td.status.and_then(|s| s.revision), Some(1));
    let described = ecs
        .describe_task_definition()
        .task_definition(&arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .expect("revision");
    let tags: std::collections::BTreeMap<_, _> = described
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    assert_eq!(tags.get("owner"), Some(&"payments"));
    assert!(
        !tags.contains_key("team"),
        "a tag removed from the spec is removed"
    );
    assert!(
        tags.contains_key("ecs-operator.dev/uid"),
        "ownership tags stay"
    );
    assert_eq!(operator.calls.count("RegisterTaskDefinition"), 1);
    assert_eq!(operator.calls.count("UntagResource"), 1);
    operator.stop().await;
}

#[tokio::test]
async fn unchanged_spec_registers_nothing_and_reordered_env_is_no_change() {
    let ctx = TestContext::new("td-steady").await;
    // A short resync makes many reconciles happen quickly.
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_millis(300),
            ..Config::default()
        })
        .await;
    let family = ctx.aws_name("steady");
    ctx.apply_yaml(&manifest("steady", &family, ""))
        .await
        .expect("apply");
    let first = ready(&ctx, "steady").await;
    let registered = operator.calls.count("RegisterTaskDefinition");
    assert_eq!(registered, 1);

    // Ten more reconciles of the unchanged spec (each woken by a metadata change, each
    // describing the revision once), and ten periodic observations (a batched listing of the
    // ACTIVE revisions, no per-object reads).
    let api = ctx.api::<TaskDefinition>();
    let describes = operator.calls.count("DescribeTaskDefinition");
    let listings = operator.calls.count("ListTaskDefinitions");
    for i in 0..10 {
        let patch = serde_json::json!({"metadata": {"annotations": {"test/poke": i.to_string()}}});
        api.patch("steady", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("poke");
        let want = describes + i + 1;
        wait_for("a steady-state reconcile", WAIT, || async {
            (operator.calls.count("DescribeTaskDefinition") >= want).then_some(())
        })
        .await;
    }
    wait_for("ten periodic observations", WAIT, || async {
        (operator.calls.count("ListTaskDefinitions") >= listings + 10).then_some(())
    })
    .await;
    assert_eq!(
        operator.calls.count("RegisterTaskDefinition"),
        1,
        "steady state must register nothing"
    );

    // Same variables in another order: a new generation, but the same revision.
    let reordered = manifest("steady", &family, "").replace(
        "        - name: A\n          value: \"1\"\n        - name: B\n          value: \"2\"",
        "        - name: B\n          value: \"2\"\n        - name: A\n          value: \"1\"",
    );
    assert_ne!(reordered, manifest("steady", &family, ""));
    ctx.apply_yaml(&reordered).await.expect("apply reordered");
    let after = ready(&ctx, "steady").await;
    assert!(after.metadata.generation > first.metadata.generation);
    assert_eq!(after.status.as_ref().and_then(|s| s.revision), Some(1));
    assert_eq!(
        operator.calls.count("RegisterTaskDefinition"),
        1,
        "env order is not a change"
    );
    assert_eq!(
        operator.calls.writes(),
        1,
        "the only write is the first registration"
    );
    operator.stop().await;
}

#[tokio::test]
async fn spec_change_registers_exactly_one_new_revision_and_prunes_history() {
    let ctx = TestContext::new("td-update").await;
    let operator = ctx.start_operator().await;
    let family = ctx.aws_name("upd");
    let api = ctx.api::<TaskDefinition>();
    ctx.apply_yaml(&manifest("upd", &family, ""))
        .await
        .expect("apply");
    let v1 = ready(&ctx, "upd").await;
    let arn1 = v1.status.and_then(|s| s.task_definition_arn).expect("arn1");

    ctx.apply_yaml(&manifest("upd", &family, "").replace("nginx:1.27", "nginx:1.28"))
        .await
        .expect("apply v2");
    let v2 = ready(&ctx, "upd").await;
    let status = v2.status.clone().expect("status");
    assert_eq!(status.revision, Some(2));
    assert_eq!(
        operator.calls.count("RegisterTaskDefinition"),
        2,
        "one registration per spec change"
    );
    // History 1 besides the current: revision 1 stays ACTIVE.
    assert_eq!(
        status
            .revisions
            .iter()
            .map(|r| r.revision)
            .collect::<Vec<_>>(),
        vec![2, 1]
    );
    let ecs = ctx.bed.ecs().await;
    assert_eq!(
        revision_status(&ecs, &arn1).await.as_deref(),
        Some("ACTIVE")
    );

    // A third revision pushes revision 1 out of the history: it is deregistered.
    ctx.apply_yaml(&manifest("upd", &family, "").replace("nginx:1.27", "nginx:1.29"))
        .await
        .expect("apply v3");
    let v3 = ready(&ctx, "upd").await;
    assert_eq!(v3.status.as_ref().and_then(|s| s.revision), Some(3));
    assert_eq!(operator.calls.count("RegisterTaskDefinition"), 3);
    wait_for("revision 1 deregistered", WAIT, || async {
        (revision_status(&ecs, &arn1).await.as_deref() == Some("INACTIVE")).then_some(())
    })
    .await;
    let listed = get_opt(&api, "upd")
        .await
        .and_then(|t| t.status)
        .map(|s| s.revisions)
        .unwrap_or_default();
    assert_eq!(
        listed.iter().map(|r| r.revision).collect::<Vec<_>>(),
        vec![3, 2]
    );
    operator.stop().await;
}

#[tokio::test]
async fn deletion_policy_delete_deregisters_and_retain_keeps() {
    let ctx = TestContext::new("td-delete").await;
    let operator = ctx.start_operator().await;
    let api = ctx.api::<TaskDefinition>();
    let ecs = ctx.bed.ecs().await;

    let gone_family = ctx.aws_name("gone");
    ctx.apply_yaml(&manifest("gone", &gone_family, ""))
        .await
        .expect("apply");
    let kept_family = ctx.aws_name("kept");
    ctx.apply_yaml(&manifest("kept", &kept_family, "  deletionPolicy: Retain"))
        .await
        .expect("apply");
    let gone_arn = ready(&ctx, "gone")
        .await
        .status
        .and_then(|s| s.task_definition_arn)
        .expect("arn");
    let kept_arn = ready(&ctx, "kept")
        .await
        .status
        .and_then(|s| s.task_definition_arn)
        .expect("arn");

    for name in ["gone", "kept"] {
        api.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    for name in ["gone", "kept"] {
        wait_for(&format!("{name} removed"), WAIT, || async {
            get_opt(&api, name).await.is_none().then_some(())
        })
        .await;
    }
    // Delete: deregistered, then deleted (moto forgets deleted revisions).
    let gone_status = revision_status(&ecs, &gone_arn).await;
    assert!(
        gone_status.is_none() || gone_status.as_deref() == Some("INACTIVE"),
        "{gone_status:?}"
    );
    assert_eq!(
        revision_status(&ecs, &kept_arn).await.as_deref(),
        Some("ACTIVE")
    );
    operator.stop().await;
}

#[tokio::test]
async fn foreign_family_needs_opt_in_and_a_fixed_object_recovers() {
    let ctx = TestContext::new("td-adopt").await;
    let family = ctx.aws_name("legacy");
    let ecs = ctx.bed.ecs().await;
    // A family created outside the operator.
    ecs.register_task_definition()
        .family(&family)
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("busybox")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .expect("register foreign revision");

    let operator = ctx.start_operator().await;
    let api = ctx.api::<TaskDefinition>();
    ctx.apply_yaml(&manifest("legacy", &family, ""))
        .await
        .expect("apply");
    let stalled = wait_for("Stalled AlreadyExists", WAIT, || async {
        let status = get_opt(&api, "legacy").await?.status?;
        let (value, reason, message) = condition(&status.conditions, "Stalled")?;
        (value == "True" && reason == "AlreadyExists").then_some(message)
    })
    .await;
    assert!(
        stalled.contains(&family),
        "the condition names the family: {stalled}"
    );
    assert_eq!(
        operator.calls.count("RegisterTaskDefinition"),
        0,
        "a foreign family is not touched"
    );

    // Opting in is a spec change: reconciled at once, not a dead end.
    ctx.apply_yaml(&manifest("legacy", &family, "  adoptExisting: true"))
        .await
        .expect("apply opt-in");
    let td = ready(&ctx, "legacy").await;
    let status = td.status.expect("status");
    assert_eq!(
        status.revision,
        Some(2),
        "adoption registers our revision after the foreign one"
    );
    assert!(status.conditions.iter().all(|c| c.type_ != "Stalled"));
    operator.stop().await;
}

#[tokio::test]
async fn revision_deregistered_out_of_band_is_registered_again() {
    let ctx = TestContext::new("td-drift").await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
    let family = ctx.aws_name("drift");
    ctx.apply_yaml(&manifest("drift", &family, ""))
        .await
        .expect("apply");
    let arn = ready(&ctx, "drift")
        .await
        .status
        .and_then(|s| s.task_definition_arn)
        .expect("arn");

    let ecs = ctx.bed.ecs().await;
    ecs.deregister_task_definition()
        .task_definition(&arn)
        .send()
        .await
        .expect("deregister by hand");

    let api = ctx.api::<TaskDefinition>();
    let repaired = wait_for("drift repaired", WAIT, || async {
        let status = get_opt(&api, "drift").await?.status?;
        let (ready, reason, message) = condition(&status.conditions, "Ready")?;
        (ready == "True" && status.revision == Some(2)).then_some((reason, message, status))
    })
    .await;
    let new_arn = repaired.2.task_definition_arn.clone().expect("new arn");
    assert_eq!(
        revision_status(&ecs, &new_arn).await.as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(operator.calls.count("RegisterTaskDefinition"), 2);

    let events: kube::Api<k8s_openapi::api::events::v1::Event> = ctx.api();
    let drift_event = wait_for("DriftRepaired event", WAIT, || async {
        let list = events.list(&Default::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("DriftRepaired"))
    })
    .await;
    assert!(drift_event.note.unwrap_or_default().contains(&new_arn));
    operator.stop().await;
}

#[tokio::test]
async fn crash_after_registering_does_not_register_twice() {
    let ctx = TestContext::new("td-crash").await;
    let family = ctx.aws_name("crash");
    let api = ctx.api::<TaskDefinition>();
    // First operator registers, then dies before anything else happens to status.
    let operator = ctx.start_operator().await;
    ctx.apply_yaml(&manifest("crash", &family, ""))
        .await
        .expect("apply");
    ready(&ctx, "crash").await;
    operator.kill();
    // Status lost (as if the write never happened).
    api.patch_status(
        "crash",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": null})),
    )
    .await
    .expect("clear status");

    let operator = ctx.start_operator().await;
    let td = ready(&ctx, "crash").await;
    assert_eq!(
        td.status.and_then(|s| s.revision),
        Some(1),
        "the revision found by tag is reused"
    );
    assert_eq!(operator.calls.count("RegisterTaskDefinition"), 0);
    operator.stop().await;
}
