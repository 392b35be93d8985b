//! Hostile and bad input: invalid manifests of the kinds that tests/admission.rs does not
//! cover are rejected at admission naming the field; what only AWS or the operator can judge
//! (huge specs, odd characters, references to other namespaces) ends cleanly, never panics,
//! never hot-loops, and never blocks the good objects beside it. See docs/reliability.md.

mod support;

use std::time::Duration;

use ecs_operator::api::{ECSService, TaskDefinition};
use ecs_operator::runtime::Config;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};
use support::{TestContext, condition, get_opt, wait_for};

/// Dry-run server-side apply of a JSON manifest.
async fn dry_run(
    client: &Client,
    namespace: &str,
    manifest: &serde_json::Value,
) -> Result<(), kube::Error> {
    let mut obj: DynamicObject = serde_json::from_value(manifest.clone()).expect("manifest");
    obj.metadata.namespace = Some(namespace.to_string());
    let types = obj.types.clone().expect("types");
    let (group, version) = types.api_version.split_once('/').expect("group/version");
    let gvk = GroupVersionKind::gvk(group, version, &types.kind);
    let plural = format!("{}s", types.kind.to_lowercase());
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &ApiResource::from_gvk_with_plural(&gvk, &plural),
    );
    let mut params = PatchParams::apply("hostile-input-test").force();
    params.dry_run = true;
    let name = obj.metadata.name.clone().expect("name");
    api.patch(&name, &params, &Patch::Apply(&obj))
        .await
        .map(|_| ())
}

fn manifest(kind: &str, name: &str, spec: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "ecs-operator.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// Rows for the kinds tests/admission.rs does not cover (it has 69 rows for TaskDefinition
/// and ECSService), plus hostile names: (what, manifest, substrings of the message).
fn rows() -> Vec<(&'static str, serde_json::Value, Vec<&'static str>)> {
    use serde_json::json;
    let cmn = |name: &str, spec| manifest("CloudMapNamespace", name, spec);
    let cluster = |name: &str, spec| manifest("ECSCluster", name, spec);
    let td_ok = json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "app", "image": "nginx"}]});
    vec![
        (
            "CloudMapNamespace DNS_PRIVATE without vpc",
            cmn("a", json!({"name": "x", "type": "DNS_PRIVATE"})),
            vec!["spec.vpc", "vpc is required"],
        ),
        (
            "CloudMapNamespace name with a space",
            cmn("a", json!({"name": "bad name!", "type": "HTTP"})),
            vec!["spec.name"],
        ),
        (
            "CloudMapNamespace unknown type",
            cmn("a", json!({"name": "x", "type": "FTP"})),
            vec!["spec.type", "Unsupported value"],
        ),
        (
            "CloudMapNamespace malformed vpc id",
            cmn(
                "a",
                json!({"name": "x", "type": "DNS_PRIVATE", "vpc": "vpc-zz"}),
            ),
            vec!["spec.vpc"],
        ),
        (
            "CloudMapNamespace without name",
            cmn("a", json!({"type": "HTTP"})),
            vec!["spec.name", "Required"],
        ),
        (
            "CloudMapNamespace reserved tag key",
            cmn(
                "a",
                json!({"name": "x", "type": "HTTP", "tags": [{"key": "ecs-operator.dev/uid", "value": "1"}]}),
            ),
            vec!["spec.tags", "reserved"],
        ),
        (
            "CloudMapNamespace unicode in name",
            cmn(
                "a",
                json!({"name": "dienst-\u{00fc}\u{1f600}", "type": "HTTP"}),
            ),
            vec!["spec.name"],
        ),
        (
            "CloudMapNamespace control character in name",
            cmn("a", json!({"name": "a\u{0007}b", "type": "HTTP"})),
            vec!["spec.name"],
        ),
        (
            "ECSCluster reserved tag key",
            cluster("a", json!({"tags": [{"key": "aws:x", "value": "1"}]})),
            vec!["spec.tags", "reserved"],
        ),
        (
            "ECSCluster duplicate capacity providers",
            cluster("a", json!({"capacityProviders": ["FARGATE", "FARGATE"]})),
            vec!["spec.capacityProviders", "unique"],
        ),
        (
            "ECSCluster metadata.name not an ECS name",
            cluster("a.b", json!({})),
            vec!["spec.clusterName must be set"],
        ),
        (
            "ECSCluster strategy without providers",
            cluster(
                "a",
                json!({"defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}),
            ),
            vec!["spec.defaultCapacityProviderStrategy"],
        ),
        (
            "CapacityProvider without autoScalingGroupArn",
            manifest("CapacityProvider", "cp", json!({})),
            vec!["spec.autoScalingGroupArn", "Required"],
        ),
        (
            "metadata.name with upper case and underscore",
            manifest("TaskDefinition", "Bad_Name", td_ok.clone()),
            vec!["metadata.name"],
        ),
        (
            "metadata.name with unicode",
            manifest("TaskDefinition", "caf\u{00e9}", td_ok.clone()),
            vec!["metadata.name"],
        ),
        (
            "metadata.name with a control character",
            manifest("TaskDefinition", "a\u{0001}b", td_ok.clone()),
            vec!["invalid uri character"],
        ),
        (
            "metadata.name of 300 characters",
            manifest("TaskDefinition", &"a".repeat(300), td_ok),
            vec!["metadata.name"],
        ),
    ]
}

#[tokio::test]
async fn invalid_manifests_of_every_kind_are_rejected_naming_the_field() {
    let ctx = TestContext::new("hostile-admission").await;
    let mut failures = Vec::new();
    for (what, manifest, expect) in rows() {
        match dry_run(&ctx.client, &ctx.namespace, &manifest).await {
            Ok(()) => failures.push(format!("{what}: accepted")),
            Err(kube::Error::Api(status)) => {
                for want in expect {
                    if !status.message.contains(want) {
                        failures.push(format!(
                            "{what}: message lacks {want:?}: {}",
                            status.message
                        ));
                    }
                }
            }
            // Refused by the client before any request: no such name can reach the cluster.
            Err(other) if expect.iter().all(|w| other.to_string().contains(w)) => {}
            Err(other) => failures.push(format!("{what}: {other}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn td_with_env(name: &str, family: &str, env: &[(String, String)]) -> serde_json::Value {
    let environment: Vec<_> = env
        .iter()
        .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
        .collect();
    manifest(
        "TaskDefinition",
        name,
        serde_json::json!({
            "family": family,
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [{"name": "app", "image": "nginx", "environment": environment}],
        }),
    )
}

async fn apply(
    ctx: &TestContext,
    namespace: &str,
    value: &serde_json::Value,
) -> Result<(), kube::Error> {
    let obj: DynamicObject = serde_json::from_value(value.clone()).expect("manifest");
    let types = obj.types.clone().expect("types");
    let (group, version) = types.api_version.split_once('/').expect("gv");
    let gvk = GroupVersionKind::gvk(group, version, &types.kind);
    let plural = format!("{}s", types.kind.to_lowercase());
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        namespace,
        &ApiResource::from_gvk_with_plural(&gvk, &plural),
    );
    let name = obj.metadata.name.clone().expect("name");
    api.patch(
        &name,
        &PatchParams::apply("hostile-input-test").force(),
        &Patch::Apply(&obj),
    )
    .await
    .map(|_| ())
}

fn ready_condition(td: &TaskDefinition) -> Option<(String, String, String)> {
    condition(&td.status.as_ref()?.conditions, "Ready")
}

/// Huge, odd and dangling input beside a good object: every bad object ends in a clear
/// state, AWS calls for them stay bounded, and the good object is Ready.
#[tokio::test]
async fn hostile_objects_end_cleanly_without_hot_loops_beside_good_ones() {
    let ctx = TestContext::new("hostile-runtime").await;
    let other = TestContext::new("hostile-other").await;
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(60),
            ..Config::default()
        })
        .await;

    // Unicode and control characters in environment values: user data, passed as is.
    let odd = vec![
        (
            "UNICODE".to_string(),
            "gr\u{00fc}\u{00df}e \u{1f680} \u{202e}rtl".to_string(),
        ),
        (
            "CONTROL".to_string(),
            "tab\there\nnewline\u{0007}bell".to_string(),
        ),
    ];
    apply(
        &ctx,
        &ctx.namespace,
        &td_with_env("odd", &ctx.aws_name("odd"), &odd),
    )
    .await
    .expect("odd characters in values are accepted");

    // 10,000 environment variables: admission or AWS must answer clearly.
    let many: Vec<_> = (0..10_000)
        .map(|i| (format!("V{i}"), "x".to_string()))
        .collect();
    let many_result = apply(
        &ctx,
        &ctx.namespace,
        &td_with_env("many", &ctx.aws_name("many"), &many),
    )
    .await;

    // About 1.2 MB of environment values (each under the 32 KiB per-value limit): near the
    // apiserver's request limit and far over ECS's 64 KiB per task definition.
    let huge: Vec<_> = (0..40)
        .map(|i| (format!("BIG{i}"), "y".repeat(30_000)))
        .collect();
    let huge_result = apply(
        &ctx,
        &ctx.namespace,
        &td_with_env("huge", &ctx.aws_name("huge"), &huge),
    )
    .await;

    // A TaskDefinition only in another namespace: the reference never reaches it.
    apply(
        &ctx,
        &other.namespace,
        &td_with_env("elsewhere", &ctx.aws_name("elsewhere"), &[]),
    )
    .await
    .expect("apply in the other namespace");
    let svc = serde_json::json!({
        "apiVersion": "ecs-operator.dev/v1alpha1",
        "kind": "ECSService",
        "metadata": {"name": "cross"},
        "spec": {"cluster": "any", "taskDefinitionRef": {"name": "elsewhere"}, "desiredCount": 1, "launchType": "FARGATE"},
    });
    apply(&ctx, &ctx.namespace, &svc)
        .await
        .expect("apply ECSService");

    // A good object beside them.
    apply(
        &ctx,
        &ctx.namespace,
        &td_with_env("good", &ctx.aws_name("good"), &[]),
    )
    .await
    .expect("apply good");

    let tds = ctx.api::<TaskDefinition>();
    for name in ["good", "odd"] {
        wait_for(
            &format!("{name} Ready"),
            Duration::from_secs(60),
            || async {
                let td = get_opt(&tds, name).await?;
                (ready_condition(&td)?.0 == "True").then_some(())
            },
        )
        .await;
    }
    // Whatever got in ends in a state that says why, not in an endless retry.
    let mut outcomes = Vec::new();
    for (name, result) in [("many", &many_result), ("huge", &huge_result)] {
        match result {
            Err(err) => outcomes.push(format!("{name}: rejected at admission: {err}")),
            Ok(()) => {
                let state = wait_for(
                    &format!("{name} settles"),
                    Duration::from_secs(60),
                    || async {
                        let td = get_opt(&tds, name).await?;
                        let (status, reason, message) = ready_condition(&td)?;
                        (status == "True" || reason == "InvalidSpec" || reason == "AWSError")
                            .then_some(format!("{status} {reason}: {message:.200}"))
                    },
                )
                .await;
                outcomes.push(format!("{name}: {state}"));
            }
        }
    }
    println!("hostile outcomes: {outcomes:#?}");

    // The cross-namespace reference waits and never uses the other namespace's object.
    let cross = wait_for(
        "cross reports its wait",
        Duration::from_secs(30),
        || async {
            let svc = get_opt(&ctx.api::<ECSService>(), "cross").await?;
            condition(&svc.status?.conditions, "Ready")
        },
    )
    .await;
    assert_eq!(cross.0, "False", "{cross:?}");
    assert!(
        cross.2.contains("elsewhere"),
        "the wait names the reference: {cross:?}"
    );

    // No hot loop: over 10 s, the bad objects cause (almost) no AWS calls.
    let before = operator.calls.snapshot().values().sum::<u64>();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = operator.calls.snapshot().values().sum::<u64>();
    println!(
        "hostile: {} AWS calls in 10 s of steady state",
        after - before
    );
    assert!(after - before <= 10, "{} AWS calls in 10 s", after - before);
    assert_eq!(
        operator.calls.count("CreateService"),
        0,
        "cross never creates a service"
    );
    operator.stop().await;
}
