//! The operator's ECS service and Cloud Map calls against RECORDED HTTP responses of real AWS,
//! for behaviours moto does not reproduce: the error codes and wording ECS and Cloud Map send
//! for deleted, draining and rolled-back services, throttling, non-idempotent creates and
//! failed asynchronous operations. Each response is what the service sends on the wire
//! (awsJson1_1): HTTP status, `x-amzn-errortype` header and a `{"__type": ..., "message": ...}`
//! body (Cloud Map spells `Message`). Clients are built like the operator's (standard retry,
//! three attempts) with a 1 ms initial backoff, so these tests check the SDK's retries together
//! with our classification in `src/aws/error.rs` and the pure plan and status on top.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_runtime_api::http::{Request, Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use ecs_operator::api::common::DeletionPolicy;
use ecs_operator::api::ecs_service::{ECSServiceSpec, ECSServiceStatus};
use ecs_operator::aws::cloud_map::{self, OperationState};
use ecs_operator::aws::ecs_service::{self, CreateRequest, ServiceUpdate};
use ecs_operator::aws::error::ErrorClass;
use ecs_operator::controllers::ecs_service::plan::{Desired, Plan, plan};
use ecs_operator::controllers::ecs_service::status::{self, Input, Outcome};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

const ECS_TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
const SD_TARGET_PREFIX: &str = "Route53AutoNaming_v20170314.";
const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
const SERVICE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/prod/web";
const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";
const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";
const UID: &str = "0f8e7c1a-uid";
const CIRCUIT_BREAKER_REASON: &str = "ECS deployment circuit breaker: tasks failed to start.";

// ---------------------------------------------------------------------------------------------
// Replay plumbing
// ---------------------------------------------------------------------------------------------

fn expected_request(host: &str, target: &str) -> Request {
    let mut request = Request::new(SdkBody::empty());
    request
        .set_uri(format!("https://{host}/"))
        .expect("valid uri");
    request.set_method("POST").expect("valid method");
    request
        .headers_mut()
        .insert("x-amz-target", target.to_string());
    request
}

fn events(host: &str, target: &str, responses: Vec<Response>) -> StaticReplayClient {
    StaticReplayClient::new(
        responses
            .into_iter()
            .map(|response| ReplayEvent::new(expected_request(host, target), response))
            .collect(),
    )
}

fn retry() -> RetryConfig {
    RetryConfig::standard().with_initial_backoff(Duration::from_millis(1))
}

/// An ECS client whose HTTP client replays `responses` in order, one per request attempt.
fn ecs_replay(
    operation: &str,
    responses: Vec<Response>,
) -> (aws_sdk_ecs::Client, StaticReplayClient) {
    use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
    let http = events(
        "ecs.us-east-1.amazonaws.com",
        &format!("{ECS_TARGET_PREFIX}{operation}"),
        responses,
    );
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDRECORDED",
            "recorded-secret",
            None,
            None,
            "recorded",
        ))
        .retry_config(retry())
        .http_client(http.clone())
        .build();
    (aws_sdk_ecs::Client::from_conf(config), http)
}

/// A Cloud Map client whose HTTP client replays `responses` in order.
fn sd_replay(
    operation: &str,
    responses: Vec<Response>,
) -> (aws_sdk_servicediscovery::Client, StaticReplayClient) {
    use aws_sdk_servicediscovery::config::{BehaviorVersion, Credentials, Region};
    let http = events(
        "servicediscovery.us-east-1.amazonaws.com",
        &format!("{SD_TARGET_PREFIX}{operation}"),
        responses,
    );
    let config = aws_sdk_servicediscovery::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDRECORDED",
            "recorded-secret",
            None,
            None,
            "recorded",
        ))
        .retry_config(retry())
        .http_client(http.clone())
        .build();
    (aws_sdk_servicediscovery::Client::from_conf(config), http)
}

/// The operations of the requests the client actually sent, in order.
fn sent_operations(http: &StaticReplayClient) -> Vec<String> {
    http.actual_requests()
        .map(|r| {
            let target = r.headers().get("x-amz-target").unwrap_or_default();
            target
                .trim_start_matches(ECS_TARGET_PREFIX)
                .trim_start_matches(SD_TARGET_PREFIX)
                .to_string()
        })
        .collect()
}

/// The JSON body of the first request the client sent.
fn first_request_body(http: &StaticReplayClient) -> Value {
    let request = http.actual_requests().next().expect("a request was sent");
    serde_json::from_slice(request.body().bytes().expect("in-memory body")).expect("JSON body")
}

fn json_response(status: u16, body: Value) -> Response {
    let mut response = Response::new(
        StatusCode::try_from(status).expect("status code"),
        SdkBody::from(body.to_string()),
    );
    let headers = response.headers_mut();
    headers.insert("content-type", "application/x-amz-json-1.1");
    headers.insert("x-amzn-requestid", "4b6a7a30-7d57-4c4a-9d3e-3f1b0c9f0e11");
    response
}

/// An error response as the service sends it; `message_key` is `message` (ECS) or `Message`
/// (Cloud Map).
fn aws_error(status: u16, code: &str, message_key: &str, message: &str) -> Response {
    let mut response = json_response(status, json!({ "__type": code, message_key: message }));
    response
        .headers_mut()
        .insert("x-amzn-errortype", code.to_string());
    response
}

fn ecs_error(status: u16, code: &str, message: &str) -> Response {
    aws_error(status, code, "message", message)
}

fn sd_error(status: u16, code: &str, message: &str) -> Response {
    aws_error(status, code, "Message", message)
}

// ---------------------------------------------------------------------------------------------
// Recorded ECS documents
// ---------------------------------------------------------------------------------------------

fn ownership_tags_json() -> Value {
    json!([
        { "key": "ecs-operator.dev/kind", "value": "ECSService" },
        { "key": "ecs-operator.dev/namespace", "value": "ns" },
        { "key": "ecs-operator.dev/name", "value": "web" },
        { "key": "ecs-operator.dev/uid", "value": UID },
        { "key": "team", "value": "web" }
    ])
}

/// A full DescribeServices `services[]` entry as ECS returns it for a Fargate service with
/// the circuit breaker (with rollback) on. `deployments` and `events` vary per scenario.
fn service_json(status: &str, task_definition: &str, deployments: Value, events: Value) -> Value {
    json!({
        "serviceArn": SERVICE_ARN,
        "serviceName": "web",
        "clusterArn": CLUSTER_ARN,
        "loadBalancers": [],
        "serviceRegistries": [],
        "status": status,
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
        "launchType": "FARGATE",
        "platformVersion": "LATEST",
        "platformFamily": "Linux",
        "taskDefinition": task_definition,
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": { "enable": true, "rollback": true },
            "maximumPercent": 200,
            "minimumHealthyPercent": 100
        },
        "deployments": deployments,
        "roleArn": "arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
        "events": events,
        "createdAt": 1_763_700_000.123,
        "placementConstraints": [],
        "placementStrategy": [],
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"],
                "securityGroups": ["sg-0123456789abcdef0"],
                "assignPublicIp": "DISABLED"
            }
        },
        "healthCheckGracePeriodSeconds": 0,
        "schedulingStrategy": "REPLICA",
        "deploymentController": { "type": "ECS" },
        "tags": ownership_tags_json(),
        "createdBy": "arn:aws:iam::123456789012:role/ecs-operator",
        "enableECSManagedTags": false,
        "propagateTags": "NONE",
        "enableExecuteCommand": false,
        "availabilityZoneRebalancing": "ENABLED"
    })
}

fn describe_services_ok(services: Vec<Value>) -> Response {
    json_response(200, json!({ "services": services, "failures": [] }))
}

fn steady_service(status: &str) -> Value {
    service_json(
        status,
        TD1,
        json!([{
            "id": "ecs-svc/4630297393617356823",
            "status": "PRIMARY",
            "taskDefinition": TD1,
            "desiredCount": if status == "ACTIVE" { 2 } else { 0 },
            "pendingCount": 0,
            "runningCount": if status == "ACTIVE" { 2 } else { 0 },
            "failedTasks": 0,
            "createdAt": 1_763_700_000.123,
            "updatedAt": 1_763_700_412.871,
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"],
                    "securityGroups": ["sg-0123456789abcdef0"],
                    "assignPublicIp": "DISABLED"
                }
            },
            "rolloutState": "COMPLETED",
            "rolloutStateReason": "ECS deployment ecs-svc/4630297393617356823 completed."
        }]),
        json!([{
            "id": "5e3c9a1e-1c2d-4f3a-9b8e-0d1c2b3a4f5e",
            "createdAt": 1_763_700_412.874,
            "message": "(service web) has reached a steady state."
        }]),
    )
}

fn spec() -> ECSServiceSpec {
    serde_yaml_ng::from_str(
        r#"
cluster: prod
taskDefinition: web:2
desiredCount: 2
launchType: FARGATE
networkConfiguration:
  awsvpcConfiguration:
    subnets: [subnet-0f1e2d3c4b5a69788, subnet-0a1b2c3d4e5f60718]
    securityGroups: [sg-0123456789abcdef0]
deploymentConfiguration:
  deploymentCircuitBreaker: { enable: true, rollback: true }
tags:
  - key: team
    value: web
"#,
    )
    .expect("valid spec")
}

fn desired<'a>(spec: &'a ECSServiceSpec, td: &'a str) -> Desired<'a> {
    Desired {
        spec,
        cluster: "prod",
        name: "web",
        task_definition_arn: td,
        namespace: "ns",
        object_name: "web",
        uid: UID,
        service_registries: None,
    }
}

// ---------------------------------------------------------------------------------------------
// ECS
// ---------------------------------------------------------------------------------------------

/// Real AWS: UpdateService on a service that was deleted (DRAINING, then INACTIVE; deleted by
/// hand or by another tool) is HTTP 400 ServiceNotActiveException "Service was not ACTIVE.".
/// Moto answers ServiceNotFoundException. Both mean "our service is gone": class NotFound, so
/// the reconciler describes again and creates it, instead of stalling on a client error.
#[tokio::test]
async fn update_of_a_deleted_service_is_not_found() {
    let (client, http) = ecs_replay(
        "UpdateService",
        vec![ecs_error(
            400,
            "ServiceNotActiveException",
            "Service was not ACTIVE.",
        )],
    );
    let update = ServiceUpdate {
        desired_count: Some(3),
        ..Default::default()
    };
    let err = ecs_service::update(&client, "prod", "web", &update)
        .await
        .expect_err("the service is gone");
    assert_eq!(err.class, ErrorClass::NotFound);
    assert!(err.is_not_found());
    assert!(!err.is_terminal());
    assert_eq!(err.operation, "UpdateService");
    assert_eq!(err.code, "ServiceNotActiveException");
    assert_eq!(err.message, "Service was not ACTIVE.");
    assert_eq!(sent_operations(&http), ["UpdateService"], "not retried");
    let body = first_request_body(&http);
    assert_eq!(body["cluster"], "prod");
    assert_eq!(body["service"], "web");
    assert_eq!(body["desiredCount"], 3);
}

/// Real AWS: for about an hour after deletion, DescribeServices still returns the service
/// with status INACTIVE (not a MISSING failure) and its last deployment scaled to 0. The plan
/// treats it as absent: create a new one (ECS accepts CreateService of the same name once the
/// old one is INACTIVE).
#[tokio::test]
async fn an_inactive_service_is_created_again() {
    let (client, http) = ecs_replay(
        "DescribeServices",
        vec![describe_services_ok(vec![steady_service("INACTIVE")])],
    );
    let described = ecs_service::describe(&client, "prod", &["web".to_string()])
        .await
        .expect("described");
    assert!(described.missing.is_empty(), "INACTIVE is not MISSING");
    let observed = described.found.get("web").expect("web is reported");
    assert_eq!(observed.status, "INACTIVE");
    assert!(!observed.is_active());
    assert_eq!(observed.arn, SERVICE_ARN);
    assert_eq!(observed.desired_count, 2);
    let spec = spec();
    assert_eq!(
        plan(
            &desired(&spec, TD1),
            Some(observed),
            &ECSServiceStatus::default()
        ),
        Plan::Create
    );
    assert_eq!(sent_operations(&http), ["DescribeServices"]);
    let body = first_request_body(&http);
    assert_eq!(body["cluster"], "prod");
    assert_eq!(body["services"], json!(["web"]));
    assert_eq!(body["include"], json!(["TAGS"]));
}

/// Real AWS: a deployment of td:2 whose tasks never start trips the deployment circuit
/// breaker; with rollback on, ECS starts a new PRIMARY deployment of the last good revision
/// (td:1), which completes, and keeps the failed td:2 deployment as ACTIVE with rolloutState
/// FAILED and the breaker's reason until it is drained. The service's `taskDefinition` is back
/// on td:1. Moto has no circuit breaker. The operator must not re-apply td:2 (it would fail the
/// same way) and reports Stalled/RolloutFailed with ECS's reason.
#[tokio::test]
async fn circuit_breaker_rollback_stalls_with_the_reason() {
    let deployments = json!([
        {
            "id": "ecs-svc/9223370273149598119",
            "status": "PRIMARY",
            "taskDefinition": TD1,
            "desiredCount": 2,
            "pendingCount": 0,
            "runningCount": 2,
            "failedTasks": 0,
            "createdAt": 1_763_701_310.402,
            "updatedAt": 1_763_701_377.919,
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"],
                    "securityGroups": ["sg-0123456789abcdef0"],
                    "assignPublicIp": "DISABLED"
                }
            },
            "rolloutState": "COMPLETED",
            "rolloutStateReason": "ECS deployment ecs-svc/9223370273149598119 completed."
        },
        {
            "id": "ecs-svc/5169280574093855189",
            "status": "ACTIVE",
            "taskDefinition": TD2,
            "desiredCount": 0,
            "pendingCount": 0,
            "runningCount": 0,
            "failedTasks": 10,
            "createdAt": 1_763_700_902.115,
            "updatedAt": 1_763_701_310.402,
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"],
                    "securityGroups": ["sg-0123456789abcdef0"],
                    "assignPublicIp": "DISABLED"
                }
            },
            "rolloutState": "FAILED",
            "rolloutStateReason": CIRCUIT_BREAKER_REASON
        }
    ]);
    let events = json!([
        {
            "id": "b1d2e3f4-0a1b-4c2d-8e3f-4a5b6c7d8e9f",
            "createdAt": 1_763_701_377.921,
            "message": "(service web) has reached a steady state."
        },
        {
            "id": "c2e3f4a5-1b2c-4d3e-9f4a-5b6c7d8e9fa0",
            "createdAt": 1_763_701_310.405,
            "message": "(service web) rolling back to deployment ecs-svc/9223370273149598119."
        },
        {
            "id": "d3f4a5b6-2c3d-4e4f-8a5b-6c7d8e9fa0b1",
            "createdAt": 1_763_701_310.401,
            "message": "(service web) (deployment ecs-svc/5169280574093855189) deployment failed: tasks failed to start."
        },
        {
            "id": "e4a5b6c7-3d4e-4f5a-9b6c-7d8e9fa0b1c2",
            "createdAt": 1_763_701_120.009,
            "message": "(service web) (task 3f0c1d2e4b5a69788f7e6d5c4b3a2910) failed container health checks."
        }
    ]);
    let (client, _http) = ecs_replay(
        "DescribeServices",
        vec![describe_services_ok(vec![service_json(
            "ACTIVE",
            TD1,
            deployments,
            events,
        )])],
    );
    let described = ecs_service::describe(&client, "prod", &["web".to_string()])
        .await
        .expect("described");
    let observed = described.found.get("web").expect("web is reported").clone();

    // `observed` carries both deployments as ECS reports them.
    assert_eq!(observed.task_definition, TD1);
    assert_eq!(observed.deployments.len(), 2);
    let primary = &observed.deployments[0];
    assert_eq!(primary.id, "ecs-svc/9223370273149598119");
    assert_eq!(primary.status, "PRIMARY");
    assert_eq!(primary.task_definition.as_deref(), Some(TD1));
    assert_eq!(primary.rollout_state.as_deref(), Some("COMPLETED"));
    let failed = &observed.deployments[1];
    assert_eq!(failed.status, "ACTIVE");
    assert_eq!(failed.task_definition.as_deref(), Some(TD2));
    assert_eq!(failed.rollout_state.as_deref(), Some("FAILED"));
    assert_eq!(
        failed.rollout_state_reason.as_deref(),
        Some(CIRCUIT_BREAKER_REASON)
    );
    assert_eq!(failed.failed_tasks, 10);
    assert_eq!(observed.events.len(), 4);
    assert_eq!(
        observed.events[0].created_at.as_deref(),
        Some("2025-11-21T05:02:57.921Z")
    );
    assert!(observed.events[1].message.contains("rolling back"));
    assert_eq!(observed.tags.get("team").map(String::as_str), Some("web"));

    // The plan does not re-apply td:2.
    let spec = spec();
    let (update, rollout_failed) = match plan(
        &desired(&spec, TD2),
        Some(&observed),
        &ECSServiceStatus::default(),
    ) {
        Plan::Sync {
            adopt,
            update,
            rollout_failed,
            ..
        } => {
            assert!(!adopt, "the service carries our uid");
            (update, rollout_failed)
        }
        other => panic!("expected Sync, got {other:?}"),
    };
    assert!(rollout_failed);
    assert!(
        update.is_none_or(|u| u.task_definition.is_none()),
        "td:2 is not sent again"
    );
    assert!(!status::is_ready(&observed, TD2));

    // Status: Stalled/RolloutFailed, with ECS's reason.
    let input = Input {
        previous: None,
        generation: Some(3),
        task_definition_arn: Some(TD2),
        deletion_policy: DeletionPolicy::Delete,
        applied_redeploy_token: None,
        managed_fields: None,
        auto_scaling: None,
        progress_deadline_seconds: 600,
        now: Timestamp::from_second(1_763_701_400).expect("timestamp"),
    };
    let computed = status::compute(
        &input,
        &Outcome::Synced {
            observed,
            rollout_failed,
            unequal: vec![],
        },
    );
    let condition = |type_: &str| {
        computed
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .cloned()
            .unwrap_or_else(|| panic!("no {type_} condition: {:?}", computed.conditions))
    };
    let stalled = condition("Stalled");
    assert_eq!(stalled.status, "True");
    assert_eq!(stalled.reason, "RolloutFailed");
    assert!(
        stalled.message.contains(CIRCUIT_BREAKER_REASON),
        "{}",
        stalled.message
    );
    assert!(stalled.message.contains("web:2"), "{}", stalled.message);
    assert!(
        stalled.message.contains("runs web:1"),
        "{}",
        stalled.message
    );
    let ready = condition("Ready");
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "RolloutFailed");
    assert_eq!(computed.failed_task_definition.as_deref(), Some(TD2));
    assert_eq!(computed.rollout_state.as_deref(), Some("COMPLETED"));
    assert_eq!(computed.deployments.len(), 2);
    assert_eq!(computed.events.len(), 4);
}

/// Real AWS: after DeleteService ECS reports the service DRAINING while it stops the tasks
/// (minutes); CreateService of the same name meanwhile fails with InvalidParameterException
/// "Unable to Start a service that is still Draining.". The plan waits instead.
#[tokio::test]
async fn a_draining_service_is_waited_for() {
    let (client, _http) = ecs_replay(
        "DescribeServices",
        vec![describe_services_ok(vec![steady_service("DRAINING")])],
    );
    let described = ecs_service::describe(&client, "prod", &["web".to_string()])
        .await
        .expect("described");
    let observed = described.found.get("web").expect("web is reported");
    assert_eq!(observed.status, "DRAINING");
    let spec = spec();
    assert_eq!(
        plan(
            &desired(&spec, TD1),
            Some(observed),
            &ECSServiceStatus::default()
        ),
        Plan::WaitForDrain
    );
}

/// Real AWS: DescribeServices beyond the account's rate (a token bucket shared by all the
/// account's describe calls) is HTTP 400 ThrottlingException "Rate exceeded". One throttle is
/// absorbed by the SDK's standard retry.
#[tokio::test]
async fn one_throttle_on_describe_services_is_retried() {
    let (client, http) = ecs_replay(
        "DescribeServices",
        vec![
            ecs_error(400, "ThrottlingException", "Rate exceeded"),
            describe_services_ok(vec![steady_service("ACTIVE")]),
        ],
    );
    let described = ecs_service::describe(&client, "prod", &["web".to_string()])
        .await
        .expect("second attempt succeeds");
    let observed = described.found.get("web").expect("web is reported");
    assert!(observed.is_active());
    assert!(status::is_ready(observed, TD1));
    assert_eq!(
        sent_operations(&http),
        ["DescribeServices", "DescribeServices"]
    );
}

/// Real AWS: sustained throttling outlasts the three attempts; the error is Throttled (the
/// reconciler waits for its rate limiter), not Terminal.
#[tokio::test]
async fn throttling_on_describe_services_beyond_the_retry_budget_is_throttled() {
    let (client, http) = ecs_replay(
        "DescribeServices",
        (0..3)
            .map(|_| ecs_error(400, "ThrottlingException", "Rate exceeded"))
            .collect(),
    );
    let err = ecs_service::describe(&client, "prod", &["web".to_string()])
        .await
        .expect_err("every attempt is throttled");
    assert_eq!(err.class, ErrorClass::Throttled);
    assert_eq!(err.operation, "DescribeServices");
    assert_eq!(err.code, "ThrottlingException");
    assert_eq!(err.message, "Rate exceeded");
    assert_eq!(sent_operations(&http).len(), 3);
}

/// Real AWS: CreateService with a clientToken already used for a service of the same name
/// but with different parameters (the spec changed between a create whose answer was lost
/// and its retry) is HTTP 400 InvalidParameterException "Creation of service was not
/// idempotent.". Moto ignores clientToken. It is Terminal (retrying the same request cannot
/// succeed) and the message reaches the condition.
#[tokio::test]
async fn non_idempotent_create_is_terminal_and_keeps_the_message() {
    let (client, http) = ecs_replay(
        "CreateService",
        vec![ecs_error(
            400,
            "InvalidParameterException",
            "Creation of service was not idempotent.",
        )],
    );
    let spec = spec();
    let tags = BTreeMap::from([("ecs-operator.dev/uid".to_string(), UID.to_string())]);
    let request = CreateRequest {
        cluster: "prod",
        name: "web",
        task_definition: TD2,
        spec: &spec,
        tags: &tags,
        client_token: "0f8e7c1a-uid-3",
        service_registries: &[],
    };
    let err = ecs_service::create(&client, &request)
        .await
        .expect_err("ECS refused the create");
    assert_eq!(err.class, ErrorClass::Terminal);
    assert_eq!(err.operation, "CreateService");
    assert_eq!(err.code, "InvalidParameterException");
    assert_eq!(err.message, "Creation of service was not idempotent.");
    assert_eq!(sent_operations(&http), ["CreateService"], "not retried");
    let body = first_request_body(&http);
    assert_eq!(body["clientToken"], "0f8e7c1a-uid-3");
    assert_eq!(body["serviceName"], "web");
    assert_eq!(body["taskDefinition"], TD2);

    // The condition carries the message.
    let input = Input {
        previous: None,
        generation: Some(1),
        task_definition_arn: Some(TD2),
        deletion_policy: DeletionPolicy::Delete,
        applied_redeploy_token: None,
        managed_fields: None,
        auto_scaling: None,
        progress_deadline_seconds: 600,
        now: Timestamp::from_second(1_763_701_400).expect("timestamp"),
    };
    let computed = status::compute(&input, &Outcome::Failed(err));
    let stalled = computed
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .expect("Stalled");
    assert_eq!(stalled.reason, "InvalidSpec");
    assert!(
        stalled
            .message
            .contains("Creation of service was not idempotent."),
        "{}",
        stalled.message
    );
}

// ---------------------------------------------------------------------------------------------
// Cloud Map
// ---------------------------------------------------------------------------------------------

/// Real AWS: Cloud Map DeleteService while instances are still registered (ECS deregisters a
/// service's tasks asynchronously after the ECS service is deleted) is ResourceInUse with a
/// capitalised `Message`, HTTP 400 (the Cloud Map API reference lists ResourceInUse as HTTP
/// 400, not 409; the shape has no `httpError` trait). Moto deletes the service anyway. It clears on its own: Retryable, and `delete_service` does not swallow it.
#[tokio::test]
async fn cloud_map_delete_service_with_instances_is_retryable() {
    let message =
        "Service contains registered instances; delete the instances before deleting the service";
    let (client, http) = sd_replay(
        "DeleteService",
        vec![sd_error(400, "ResourceInUse", message)],
    );
    let err = cloud_map::delete_service(&client, "srv-e4anhexw6cvbjtjy")
        .await
        .expect_err("instances are still registered");
    assert_eq!(err.class, ErrorClass::Retryable);
    assert_eq!(err.operation, "DeleteService");
    assert_eq!(err.code, "ResourceInUse");
    assert_eq!(err.message, message);
    assert_eq!(
        sent_operations(&http),
        ["DeleteService"],
        "a 400 is not retried by the SDK; the reconciler requeues"
    );
    assert_eq!(first_request_body(&http)["Id"], "srv-e4anhexw6cvbjtjy");
}

fn operation_response(status: &str, extra: Value) -> Response {
    let mut operation = json!({
        "Id": "gv4g5meo7ndmeh4fqskygvk23d2fijwa-k9302yzd",
        "Type": "CREATE_NAMESPACE",
        "Status": status,
        "CreateDate": 1_763_700_000.513,
        "UpdateDate": 1_763_700_062.871
    });
    if let (Some(operation), Some(extra)) = (operation.as_object_mut(), extra.as_object()) {
        operation.extend(extra.clone());
    }
    json_response(200, json!({ "Operation": operation }))
}

/// Real AWS: a CreatePrivateDnsNamespace whose Route 53 hosted zone cannot be created (the
/// VPC already has a conflicting private zone, or the hosted-zone quota is reached) is
/// accepted, and the operation later reports Status FAIL with ErrorCode
/// CANNOT_CREATE_HOSTED_ZONE and Route 53's message. Moto's operations always succeed.
#[tokio::test]
async fn cloud_map_failed_operation_reports_code_and_message() {
    let message = "The VPC vpc-0a1b2c3d4e5f60718 in region us-east-1 has already been associated with the hosted zone Z0123456789ABCDEFGHIJ with the same domain name.";
    let (client, http) = sd_replay(
        "GetOperation",
        vec![operation_response(
            "FAIL",
            json!({ "ErrorCode": "CANNOT_CREATE_HOSTED_ZONE", "ErrorMessage": message }),
        )],
    );
    let state = cloud_map::operation(&client, "gv4g5meo7ndmeh4fqskygvk23d2fijwa-k9302yzd")
        .await
        .expect("GetOperation answered");
    assert_eq!(
        state,
        OperationState::Failed {
            code: "CANNOT_CREATE_HOSTED_ZONE".into(),
            message: message.into(),
        }
    );
    assert_eq!(sent_operations(&http), ["GetOperation"]);
    assert_eq!(
        first_request_body(&http)["OperationId"],
        "gv4g5meo7ndmeh4fqskygvk23d2fijwa-k9302yzd"
    );
}

/// Real AWS: while Route 53 creates the hosted zone the operation is PENDING (it starts
/// SUBMITTED), for up to a few minutes.
#[tokio::test]
async fn cloud_map_pending_operation_is_running() {
    let (client, _http) = sd_replay(
        "GetOperation",
        vec![operation_response("PENDING", json!({}))],
    );
    let state = cloud_map::operation(&client, "gv4g5meo7ndmeh4fqskygvk23d2fijwa-k9302yzd")
        .await
        .expect("GetOperation answered");
    assert_eq!(state, OperationState::Running);
}

/// Real AWS: a successful operation names what it created in `Targets`
/// (`{"NAMESPACE": "ns-…"}`).
#[tokio::test]
async fn cloud_map_successful_operation_names_the_namespace() {
    let (client, _http) = sd_replay(
        "GetOperation",
        vec![operation_response(
            "SUCCESS",
            json!({ "Targets": { "NAMESPACE": "ns-rzgmhjqhsbpzdk3b" } }),
        )],
    );
    let state = cloud_map::operation(&client, "gv4g5meo7ndmeh4fqskygvk23d2fijwa-k9302yzd")
        .await
        .expect("GetOperation answered");
    assert_eq!(
        state,
        OperationState::Succeeded(Some("ns-rzgmhjqhsbpzdk3b".into()))
    );
}

/// Real AWS: Cloud Map's control-plane APIs throttle with HTTP 400 ThrottlingException (not
/// in the Cloud Map model, which only models RequestLimitExceeded, for DiscoverInstances);
/// the SDK's standard retry recognises the code and retries.
#[tokio::test]
async fn cloud_map_throttle_is_retried() {
    let (client, http) = sd_replay(
        "GetOperation",
        vec![
            sd_error(400, "ThrottlingException", "Rate exceeded"),
            operation_response("PENDING", json!({})),
        ],
    );
    let state = cloud_map::operation(&client, "gv4g5meo7ndmeh4fqskygvk23d2fijwa-k9302yzd")
        .await
        .expect("second attempt succeeds");
    assert_eq!(state, OperationState::Running);
    assert_eq!(sent_operations(&http), ["GetOperation", "GetOperation"]);
}

/// Real AWS: sustained Cloud Map throttling (ThrottlingException on DeleteNamespace) is
/// Throttled after three attempts, and `delete_namespace` does not mistake it for "gone".
#[tokio::test]
async fn cloud_map_throttling_beyond_the_retry_budget_is_throttled() {
    let (client, http) = sd_replay(
        "DeleteNamespace",
        (0..3)
            .map(|_| sd_error(400, "ThrottlingException", "Rate exceeded"))
            .collect(),
    );
    let err = cloud_map::delete_namespace(&client, "ns-rzgmhjqhsbpzdk3b")
        .await
        .expect_err("every attempt is throttled");
    assert_eq!(err.class, ErrorClass::Throttled);
    assert_eq!(err.operation, "DeleteNamespace");
    assert_eq!(err.code, "ThrottlingException");
    assert_eq!(sent_operations(&http).len(), 3);
}

/// Real AWS: DiscoverInstances (the data-plane call) throttles with the modeled
/// RequestLimitExceeded; the SDK retries it like any throttle.
#[tokio::test]
async fn cloud_map_request_limit_exceeded_is_retried() {
    let (client, http) = sd_replay(
        "DiscoverInstances",
        vec![
            sd_error(
                400,
                "RequestLimitExceeded",
                "The operation can't be completed because you've reached the quota for the number of requests.",
            ),
            json_response(200, json!({ "Instances": [], "InstancesRevision": 7 })),
        ],
    );
    let output = client
        .discover_instances()
        .namespace_name("prod.internal")
        .service_name("web")
        .send()
        .await
        .expect("second attempt succeeds");
    assert!(output.instances().is_empty());
    assert_eq!(
        sent_operations(&http),
        ["DiscoverInstances", "DiscoverInstances"]
    );
    assert_eq!(
        ecs_operator::aws::error::classify_code("RequestLimitExceeded", Some(400)),
        ErrorClass::Throttled
    );
}

/// Real Cloud Map: a CreateHttpNamespace repeated while the first create of that name is still
/// running (a retry after a lost response, or a reconcile that ran before its own status write
/// was seen) fails with DuplicateRequest (HTTP 409) carrying the running operation's id. The
/// create returns that id, so the caller polls the running operation instead of failing or
/// starting another.
#[tokio::test]
async fn a_create_already_running_is_tracked_by_its_operation_id() {
    let mut duplicate = json_response(
        409,
        json!({
            "__type": "DuplicateRequest",
            "Message": "The operation is already in progress.",
            "DuplicateOperationId": "op-running-create"
        }),
    );
    duplicate
        .headers_mut()
        .insert("x-amzn-errortype", "DuplicateRequest");
    let (client, http) = sd_replay("CreateHttpNamespace", vec![duplicate]);
    let tags = BTreeMap::from([("ecs-operator.dev/uid".to_string(), UID.to_string())]);
    let op = cloud_map::create_namespace(
        &client,
        &cloud_map::NamespaceRequest {
            type_: ecs_operator::api::cloud_map_namespace::NamespaceType::HTTP,
            name: "internal",
            vpc: None,
            description: None,
            soa_ttl: None,
            tags: &tags,
            creator_request_id: "uid-create",
        },
    )
    .await
    .expect("the running create is returned");
    assert_eq!(op, "op-running-create");
    assert_eq!(sent_operations(&http), vec!["CreateHttpNamespace"]);

    // Without an operation id the error stays an error (nothing to track).
    let (client, _) = sd_replay(
        "CreateHttpNamespace",
        vec![sd_error(
            409,
            "DuplicateRequest",
            "The operation is already in progress.",
        )],
    );
    let err = cloud_map::create_namespace(
        &client,
        &cloud_map::NamespaceRequest {
            type_: ecs_operator::api::cloud_map_namespace::NamespaceType::HTTP,
            name: "internal",
            vpc: None,
            description: None,
            soa_ttl: None,
            tags: &tags,
            creator_request_id: "uid-create",
        },
    )
    .await
    .expect_err("no operation to track");
    assert_eq!(err.code, "DuplicateRequest");
}

/// Adoption on real AWS: the IAM policy lets the operator tag a service it does not own yet
/// only with its own tag keys (statement TagWhenClaimingOwnership), so they go in a request of
/// their own, before the user's tags, which the policy allows once the service is owned.
#[tokio::test]
async fn adoption_tags_ownership_before_the_users_tags() {
    let (client, http) = ecs_replay(
        "TagResource",
        vec![json_response(200, json!({})), json_response(200, json!({}))],
    );
    let mut to_set = ecs_operator::api::common::ownership_tags("ECSService", "ns", "web", UID);
    to_set.insert("team".into(), "web".into());
    ecs_service::sync_tags(&client, SERVICE_ARN, &to_set, &[])
        .await
        .expect("tags set");

    assert_eq!(sent_operations(&http), ["TagResource", "TagResource"]);
    let keys: Vec<Vec<String>> = http
        .actual_requests()
        .map(|r| {
            let body: Value =
                serde_json::from_slice(r.body().bytes().expect("in-memory body")).expect("JSON");
            body["tags"]
                .as_array()
                .expect("tags")
                .iter()
                .map(|t| t["key"].as_str().expect("key").to_string())
                .collect()
        })
        .collect();
    assert_eq!(
        keys,
        [
            vec![
                "ecs-operator.dev/kind",
                "ecs-operator.dev/name",
                "ecs-operator.dev/namespace",
                "ecs-operator.dev/uid"
            ],
            vec!["team"],
        ]
    );
}
