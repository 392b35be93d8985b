//! AWS credentials, accounts, Regions and the API budget against the test bed. moto keeps
//! separate state per account (the assumed role's account for assumed-role credentials) and
//! per Region, so where a resource landed is checked by describing it there, through a
//! client pool like the operator's.

mod support;

use std::time::Duration;

use ecs_operator::api::{ECSService, TaskDefinition};
use ecs_operator::aws::ClientPool;
use ecs_operator::aws::budget::RateLimits;
use ecs_operator::aws::metrics::ApiCalls;
use ecs_operator::runtime::Config;
use support::{TestContext, condition, get_opt, wait_for};

const WAIT: Duration = Duration::from_secs(40);
const ROLE_A: &str = "arn:aws:iam::111111111111:role/ecs-operator";
const ROLE_B: &str = "arn:aws:iam::222222222222:role/ecs-operator";

fn task_definition(name: &str, family: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: TaskDefinition
metadata:
  name: {name}
spec:
  family: {family}
  containerDefinitions:
    - name: app
      image: nginx:1.27
      memory: 128
{extra}
"#
    )
}

/// Waits until the TaskDefinition is Ready for its current generation.
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

/// A pool like the operator's, for looking at the AWS side (its calls are not the
/// operator's).
async fn pool(ctx: &TestContext) -> ClientPool {
    ClientPool::new(&ctx.bed.aws_settings(), ApiCalls::default())
        .await
        .expect("client pool")
}

/// Whether the revision `arn` exists for `role` (None: the test bed's own account) in
/// `region` (None: the default Region).
async fn revision_exists(
    pool: &ClientPool,
    region: Option<&str>,
    role: Option<&str>,
    arn: &str,
) -> bool {
    let aws = pool.clients_for(region, role).await.expect("clients");
    aws.ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .is_ok()
}

fn arn_of(td: &TaskDefinition) -> String {
    td.status
        .as_ref()
        .and_then(|s| s.task_definition_arn.clone())
        .expect("ARN in status")
}

fn account_of(td: &TaskDefinition) -> Option<String> {
    td.status.as_ref().and_then(|s| s.aws_account_id.clone())
}

#[tokio::test]
async fn role_arn_registers_in_the_roles_account_through_sts() {
    let ctx = TestContext::new("budget-role").await;
    ctx.grant(serde_json::json!({ "roleArns": [ROLE_A] })).await;
    let operator = ctx.start_operator().await;
    let family = ctx.aws_name("cross");
    ctx.apply_yaml(&task_definition(
        "cross",
        &family,
        &format!("  roleArn: {ROLE_A}"),
    ))
    .await
    .expect("apply");

    let td = ready(&ctx, "cross").await;
    assert_eq!(account_of(&td).as_deref(), Some("111111111111"));
    let arn = arn_of(&td);
    assert!(arn.contains(":111111111111:task-definition/"), "{arn}");
    assert!(
        operator.calls.count("AssumeRole") > 0,
        "the role was assumed through STS, and the call counted: {:?}",
        operator.calls.snapshot()
    );
    let pool = pool(&ctx).await;
    assert!(revision_exists(&pool, None, Some(ROLE_A), &arn).await);
    assert!(
        !revision_exists(&pool, None, None, &arn).await,
        "nothing landed in the operator's own account"
    );
    operator.stop().await;
}

#[tokio::test]
async fn the_grants_default_role_applies_and_a_granted_spec_role_wins() {
    let ctx = TestContext::new("budget-ns-role").await;
    ctx.grant(serde_json::json!({ "defaultRoleArn": ROLE_B, "roleArns": [ROLE_A] }))
        .await;
    let operator = ctx.start_operator().await;
    let from_namespace = ctx.aws_name("nsrole");
    let from_spec = ctx.aws_name("specrole");
    ctx.apply_yaml(&task_definition("from-namespace", &from_namespace, ""))
        .await
        .expect("apply");
    ctx.apply_yaml(&task_definition(
        "from-spec",
        &from_spec,
        &format!("  roleArn: {ROLE_A}"),
    ))
    .await
    .expect("apply");

    let by_namespace = ready(&ctx, "from-namespace").await;
    let by_spec = ready(&ctx, "from-spec").await;
    assert_eq!(account_of(&by_namespace).as_deref(), Some("222222222222"));
    assert_eq!(account_of(&by_spec).as_deref(), Some("111111111111"));
    let pool = pool(&ctx).await;
    assert!(revision_exists(&pool, None, Some(ROLE_B), &arn_of(&by_namespace)).await);
    assert!(revision_exists(&pool, None, Some(ROLE_A), &arn_of(&by_spec)).await);
    // Assumed-role credentials are cached: one session per role, however many calls.
    assert_eq!(
        operator.calls.count("AssumeRole"),
        2,
        "{:?}",
        operator.calls.snapshot()
    );
    operator.stop().await;
}

#[tokio::test]
async fn region_in_spec_registers_there_and_others_use_the_default_region() {
    let ctx = TestContext::new("budget-region").await;
    let operator = ctx.start_operator().await;
    let west_family = ctx.aws_name("west");
    let east_family = ctx.aws_name("east");
    ctx.apply_yaml(&task_definition(
        "west",
        &west_family,
        "  region: eu-west-1",
    ))
    .await
    .expect("apply");
    ctx.apply_yaml(&task_definition("east", &east_family, ""))
        .await
        .expect("apply");

    let west = ready(&ctx, "west").await;
    let east = ready(&ctx, "east").await;
    let (west_arn, east_arn) = (arn_of(&west), arn_of(&east));
    assert!(west_arn.contains(":eu-west-1:"), "{west_arn}");
    assert!(
        east_arn.contains(&format!(":{}:", ctx.bed.region)),
        "{east_arn}"
    );
    let pool = pool(&ctx).await;
    assert!(revision_exists(&pool, Some("eu-west-1"), None, &west_arn).await);
    assert!(!revision_exists(&pool, None, None, &west_arn).await);
    assert!(revision_exists(&pool, None, None, &east_arn).await);
    // The operator's own account, from STS GetCallerIdentity.
    let own = pool.own_account().await.expect("own account");
    assert_eq!(account_of(&west).as_deref(), Some(own.as_str()));
    assert_eq!(account_of(&east).as_deref(), Some(own.as_str()));

    // The Region cannot change under existing revisions.
    let refused = ctx
        .apply_yaml(&task_definition(
            "west",
            &west_family,
            "  region: us-west-2",
        ))
        .await
        .expect_err("region is immutable");
    assert!(refused.to_string().contains("region"), "{refused}");
    operator.stop().await;
}

#[tokio::test]
async fn throttled_work_waits_for_the_rate_limiter_instead_of_failing() {
    let ctx = TestContext::new("budget-limiter").await;
    let mut aws = ctx.bed.aws_settings();
    aws.rate_limits = RateLimits::default()
        .with_overrides("task-definition-modify=1/1")
        .expect("limits");
    let operator = ctx
        .start_operator_with_aws(
            Config {
                resync_interval: Duration::from_secs(60),
                ..Config::default()
            },
            aws,
        )
        .await;
    let names = ["one", "two", "three"];
    for name in names {
        ctx.apply_yaml(&task_definition(name, &ctx.aws_name(name), ""))
            .await
            .expect("apply");
    }
    for name in names {
        ready(&ctx, name).await;
    }
    assert_eq!(operator.calls.count("RegisterTaskDefinition"), 3);
    let waits = operator.calls.limiter_waits();
    let register = waits
        .get("task-definition-modify")
        .copied()
        .expect("register waits recorded");
    assert_eq!(register.acquired, 3);
    assert!(register.waited >= 1, "{waits:?}");
    assert!(
        register.total_wait >= Duration::from_millis(500),
        "{waits:?}"
    );
    assert!(
        operator
            .calls
            .snapshot()
            .keys()
            .all(|(_, _, outcome)| outcome != "throttled"),
        "{:?}",
        operator.calls.snapshot()
    );
    operator.stop().await;
}

#[tokio::test]
async fn ecs_service_runs_in_its_roles_account_and_is_observed_there() {
    let ctx = TestContext::new("budget-svc-role").await;
    ctx.grant(serde_json::json!({ "roleArns": [ROLE_A] })).await;
    let pool = pool(&ctx).await;
    let account_a = pool.clients_for(None, Some(ROLE_A)).await.expect("clients");
    let cluster = ctx.aws_name("cross");
    account_a
        .ecs
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .expect("create cluster in account A");
    let operator = ctx
        .start_operator_with(Config {
            resync_interval: Duration::from_secs(2),
            ..Config::default()
        })
        .await;
    ctx.apply_yaml(&task_definition(
        "app",
        &ctx.aws_name("app"),
        &format!("  roleArn: {ROLE_A}"),
    ))
    .await
    .expect("apply");
    ctx.apply_yaml(&format!(
        r#"
apiVersion: ecs-operator.dev/v1alpha1
kind: ECSService
metadata:
  name: web
spec:
  cluster: {cluster}
  roleArn: {ROLE_A}
  taskDefinitionRef:
    name: app
  desiredCount: 0
  launchType: EC2
"#
    ))
    .await
    .expect("apply");

    let api = ctx.api::<ECSService>();
    let svc = wait_for("ECSService web created in account A", WAIT, || async {
        let svc = get_opt(&api, "web").await?;
        let status = svc.status.as_ref()?;
        (status.service_arn.is_some() && status.aws_account_id.is_some()).then_some(svc)
    })
    .await;
    let status = svc.status.expect("status");
    assert_eq!(status.aws_account_id.as_deref(), Some("111111111111"));
    let service_arn = status.service_arn.expect("service ARN");
    assert!(
        service_arn.contains(":111111111111:service/"),
        "{service_arn}"
    );
    let described = account_a
        .ecs
        .describe_services()
        .cluster(&cluster)
        .services("web")
        .send()
        .await
        .expect("describe in account A");
    assert_eq!(described.services().len(), 1);

    // The batched observer describes it in the same account: no observation fails.
    let before = operator.calls.count("DescribeServices");
    wait_for("periodic observations", WAIT, || async {
        (operator.calls.count("DescribeServices") >= before + 2).then_some(())
    })
    .await;
    let failures: Vec<_> = operator
        .calls
        .snapshot()
        .into_iter()
        .filter(|((_, op, outcome), _)| op == "DescribeServices" && outcome != "success")
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    operator.stop().await;
}
