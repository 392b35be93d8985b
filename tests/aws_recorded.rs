//! The operator's ECS task definition calls against RECORDED HTTP responses of real AWS, for
//! behaviours moto does not reproduce (its error wording, throttling, 5xx). Each response is
//! what ECS sends on the wire (awsJson1_1): HTTP status, `x-amzn-errortype` header and a
//! `{"__type": ..., "message": ...}` body. The client is built like the operator's (standard
//! retry, three attempts) with a 1 ms initial backoff to keep the tests fast, so these tests
//! check the SDK's retries together with our classification in `src/aws/error.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_runtime_api::http::{Request, Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use ecs_operator::api::TaskDefinitionSpec;
use ecs_operator::aws::ecs_task_definition::{deregister, describe, register};
use ecs_operator::aws::error::ErrorClass;
use serde_json::{Value, json};

const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";

/// An ECS client whose HTTP client replays `responses` in order, one per request attempt.
fn replay(operation: &str, responses: Vec<Response>) -> (Client, StaticReplayClient) {
    let events = responses
        .into_iter()
        .map(|response| ReplayEvent::new(expected_request(operation), response))
        .collect();
    let http = StaticReplayClient::new(events);
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
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
        .http_client(http.clone())
        .build();
    (Client::from_conf(config), http)
}

fn expected_request(operation: &str) -> Request {
    let mut request = Request::new(SdkBody::empty());
    request
        .set_uri("https://ecs.us-east-1.amazonaws.com/")
        .expect("valid uri");
    request.set_method("POST").expect("valid method");
    request
        .headers_mut()
        .insert("x-amz-target", format!("{TARGET_PREFIX}{operation}"));
    request
}

/// The operations of the requests the client actually sent, in order.
fn sent_operations(http: &StaticReplayClient) -> Vec<String> {
    http.actual_requests()
        .map(|r| {
            r.headers()
                .get("x-amz-target")
                .unwrap_or_default()
                .trim_start_matches(TARGET_PREFIX)
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

/// An ECS error response as ECS sends it.
fn ecs_error(status: u16, code: &str, message: &str) -> Response {
    let mut response = json_response(status, json!({ "__type": code, "message": message }));
    response
        .headers_mut()
        .insert("x-amzn-errortype", code.to_string());
    response
}

fn task_definition_json(status: &str) -> Value {
    json!({
        "taskDefinitionArn": ARN,
        "containerDefinitions": [{
            "name": "web",
            "image": "nginx:1.27",
            "cpu": 0,
            "portMappings": [{ "containerPort": 80, "hostPort": 80, "protocol": "tcp" }],
            "essential": true,
            "environment": [],
            "mountPoints": [],
            "volumesFrom": [],
            "systemControls": []
        }],
        "family": "web",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "revision": 1,
        "volumes": [],
        "status": status,
        "requiresAttributes": [{ "name": "ecs.capability.task-eni" }],
        "placementConstraints": [],
        "compatibilities": ["EC2", "FARGATE"],
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "registeredAt": 1.7e9,
        "registeredBy": "arn:aws:sts::123456789012:assumed-role/ecs-operator/1700000000"
    })
}

/// A successful RegisterTaskDefinition or DescribeTaskDefinition (with tags) answer.
fn task_definition_ok(status: &str) -> Response {
    json_response(
        200,
        json!({
            "taskDefinition": task_definition_json(status),
            "tags": [
                { "key": "ecs-operator.dev/uid", "value": "0f8e7c1a-uid" },
                { "key": "team", "value": "platform" }
            ]
        }),
    )
}

fn spec() -> TaskDefinitionSpec {
    serde_yaml_ng::from_str(
        r#"
requiresCompatibilities: [FARGATE]
networkMode: awsvpc
cpu: "256"
memory: "512"
executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
containerDefinitions:
  - name: web
    image: nginx:1.27
    portMappings:
      - containerPort: 80
"#,
    )
    .expect("valid spec")
}

fn tags() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "ecs-operator.dev/uid".to_string(),
        "0f8e7c1a-uid".to_string(),
    )])
}

/// Real AWS: RegisterTaskDefinition with an execution role that does not exist (or that ECS
/// may not assume) fails with HTTP 400 ClientException "Role is not valid". Moto accepts any
/// role. The spec is wrong: no retry, Terminal, and the AWS message reaches the condition.
#[tokio::test]
async fn register_with_an_unknown_role_is_terminal_and_keeps_the_message() {
    let (client, http) = replay(
        "RegisterTaskDefinition",
        vec![ecs_error(400, "ClientException", "Role is not valid")],
    );
    let err = register(&client, "web", &spec(), &tags())
        .await
        .expect_err("ECS refused the role");
    assert_eq!(err.class, ErrorClass::Terminal);
    assert!(err.is_terminal());
    assert_eq!(err.operation, "RegisterTaskDefinition");
    assert_eq!(err.code, "ClientException");
    assert_eq!(err.message, "Role is not valid");
    assert!(err.to_string().contains("Role is not valid"), "{err}");
    assert_eq!(
        sent_operations(&http),
        ["RegisterTaskDefinition"],
        "a client error is not retried"
    );
    let body = first_request_body(&http);
    assert_eq!(body["family"], "web");
    assert_eq!(
        body["executionRoleArn"],
        "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
    );
}

/// Real AWS: past the account's RegisterTaskDefinition rate (a small token bucket), ECS answers
/// HTTP 400 ThrottlingException "Rate exceeded". One throttle is absorbed by the SDK's
/// standard retry: the call succeeds on the second attempt.
#[tokio::test]
async fn one_throttle_on_register_is_retried_by_the_sdk() {
    let (client, http) = replay(
        "RegisterTaskDefinition",
        vec![
            ecs_error(400, "ThrottlingException", "Rate exceeded"),
            task_definition_ok("ACTIVE"),
        ],
    );
    let revision = register(&client, "web", &spec(), &tags())
        .await
        .expect("second attempt succeeds");
    assert_eq!(revision.arn, ARN);
    assert_eq!(revision.family, "web");
    assert_eq!(revision.revision, 1);
    assert!(revision.is_active());
    assert_eq!(
        revision
            .tags
            .get("ecs-operator.dev/uid")
            .map(String::as_str),
        Some("0f8e7c1a-uid")
    );
    assert_eq!(
        sent_operations(&http),
        ["RegisterTaskDefinition", "RegisterTaskDefinition"]
    );
}

/// Real AWS: sustained throttling outlasts the SDK's three attempts; the error reaching the
/// reconciler is classified Throttled (wait for the rate limiter), not Terminal.
#[tokio::test]
async fn throttling_beyond_the_retry_budget_is_classified_throttled() {
    let (client, http) = replay(
        "RegisterTaskDefinition",
        (0..3)
            .map(|_| ecs_error(400, "ThrottlingException", "Rate exceeded"))
            .collect(),
    );
    let err = register(&client, "web", &spec(), &tags())
        .await
        .expect_err("every attempt is throttled");
    assert_eq!(err.class, ErrorClass::Throttled);
    assert_eq!(err.code, "ThrottlingException");
    assert_eq!(err.message, "Rate exceeded");
    assert_eq!(
        sent_operations(&http).len(),
        3,
        "standard retry makes three attempts"
    );
}

/// Real AWS: DescribeTaskDefinition of a revision that does not exist (never registered, or
/// deleted) is HTTP 400 ClientException "Unable to describe task definition." rather than a
/// NotFound error; `describe` reports it as absent.
#[tokio::test]
async fn describe_of_an_unknown_revision_is_none() {
    let (client, http) = replay(
        "DescribeTaskDefinition",
        vec![ecs_error(
            400,
            "ClientException",
            "Unable to describe task definition.",
        )],
    );
    let found = describe(
        &client,
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42",
    )
    .await
    .expect("an unknown revision is not an error");
    assert_eq!(found, None);
    assert_eq!(sent_operations(&http), ["DescribeTaskDefinition"]);
    let body = first_request_body(&http);
    assert_eq!(body["include"], json!(["TAGS"]));
}

/// Real AWS: an operator role without `ecs:DescribeTaskDefinition` gets HTTP 400
/// AccessDeniedException whose body spells `Message` with a capital M (IAM's wording). It is
/// not "absent": the error is Terminal with the IAM message kept for the condition.
#[tokio::test]
async fn describe_without_permission_is_terminal_not_absent() {
    let message = "User: arn:aws:sts::123456789012:assumed-role/ecs-operator/1700000000 is not authorized to perform: ecs:DescribeTaskDefinition on resource: * because no identity-based policy allows the ecs:DescribeTaskDefinition action";
    let mut response = json_response(
        400,
        json!({ "__type": "AccessDeniedException", "Message": message }),
    );
    response
        .headers_mut()
        .insert("x-amzn-errortype", "AccessDeniedException");
    let (client, _http) = replay("DescribeTaskDefinition", vec![response]);
    let err = describe(&client, ARN)
        .await
        .expect_err("access denied is an error");
    assert_eq!(err.class, ErrorClass::Terminal);
    assert_eq!(err.code, "AccessDeniedException");
    assert_eq!(err.message, message);
}

/// Real AWS: an internal ECS failure is HTTP 500 ServerException; the SDK retries it and the
/// second attempt succeeds.
#[tokio::test]
async fn server_exception_then_success_is_retried() {
    let (client, http) = replay(
        "DescribeTaskDefinition",
        vec![
            ecs_error(
                500,
                "ServerException",
                "Service Unavailable. Please try again later.",
            ),
            task_definition_ok("ACTIVE"),
        ],
    );
    let found = describe(&client, ARN)
        .await
        .expect("second attempt succeeds")
        .expect("revision exists");
    assert_eq!(found.arn, ARN);
    assert_eq!(found.status, "ACTIVE");
    assert_eq!(found.tags.get("team").map(String::as_str), Some("platform"));
    assert_eq!(
        sent_operations(&http),
        ["DescribeTaskDefinition", "DescribeTaskDefinition"]
    );
}

/// Real AWS: ServerException on every attempt leaves a Retryable error for the reconciler's
/// own backoff.
#[tokio::test]
async fn persistent_server_exception_is_retryable() {
    let (client, http) = replay(
        "DescribeTaskDefinition",
        (0..3)
            .map(|_| {
                ecs_error(
                    500,
                    "ServerException",
                    "Service Unavailable. Please try again later.",
                )
            })
            .collect(),
    );
    let err = describe(&client, ARN)
        .await
        .expect_err("every attempt fails");
    assert_eq!(err.class, ErrorClass::Retryable);
    assert_eq!(err.code, "ServerException");
    assert_eq!(sent_operations(&http).len(), 3);
}

/// Real AWS: deregistering a revision that is already INACTIVE (deregistered by a reconcile cut
/// off before it recorded the fact, or by hand) is refused with a ClientException naming the
/// INACTIVE state. `deregister` counts it as done.
#[tokio::test]
async fn deregister_of_an_inactive_revision_is_done() {
    let (client, http) = replay(
        "DeregisterTaskDefinition",
        vec![ecs_error(
            400,
            "ClientException",
            "The specified task definition is already INACTIVE.",
        )],
    );
    deregister(&client, ARN)
        .await
        .expect("already INACTIVE counts as deregistered");
    assert_eq!(sent_operations(&http), ["DeregisterTaskDefinition"]);
    assert_eq!(first_request_body(&http)["taskDefinition"], ARN);
}

/// The ordinary answer: 200 with the revision now INACTIVE.
#[tokio::test]
async fn deregister_success() {
    let (client, _http) = replay(
        "DeregisterTaskDefinition",
        vec![json_response(
            200,
            json!({ "taskDefinition": task_definition_json("INACTIVE") }),
        )],
    );
    deregister(&client, ARN).await.expect("deregistered");
}

/// Real AWS: other client errors on deregister (here a malformed revision) are not swallowed.
#[tokio::test]
async fn deregister_with_another_client_error_fails_terminal() {
    let (client, _http) = replay(
        "DeregisterTaskDefinition",
        vec![ecs_error(
            400,
            "InvalidParameterException",
            "Invalid revision number. Number: latest",
        )],
    );
    let err = deregister(&client, "web:latest")
        .await
        .expect_err("malformed revision");
    assert_eq!(err.class, ErrorClass::Terminal);
    assert_eq!(err.code, "InvalidParameterException");
}
