//! The operator's ECS task calls (`aws::ecs_task`) against RECORDED HTTP responses of real
//! AWS, for what moto's task simulation does not do: tasks that fail to start, containers
//! killed with a reason, RunTask placement failures, tasks ECS no longer knows. Each response
//! is the awsJson1_1 body ECS sends (timestamps in epoch seconds); each test names the
//! real-AWS situation it stands for, and follows the answer through our records and the pure
//! plan of the ECSTask controller.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_runtime_api::http::{Request, Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use ecs_operator::api::ecs_service::LaunchType;
use ecs_operator::api::ecs_task::{ECSTaskSpec, TaskOutcome, TaskRecord};
use ecs_operator::aws::ecs_task::{self as tasks, RunRequest};
use ecs_operator::controllers::ecs_task::plan::{self, Finished, Plan};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/jobs";
const TASK: &str = "arn:aws:ecs:us-east-1:123456789012:task/jobs/0b69d5c0d6a54f8f9b4c5a3f2e1d0c9b";
const TASK_DEFINITION: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/report:3";
const STARTED_BY: &str = "ecs-operator/0f8fad5b-d9cb-469f-a165-70867728950e";

/// An ECS client whose HTTP client replays `responses` in order, one per request attempt.
fn replay(operation: &str, responses: Vec<Response>) -> (Client, StaticReplayClient) {
    let events = responses
        .into_iter()
        .map(|response| {
            let mut request = Request::new(SdkBody::empty());
            request
                .set_uri("https://ecs.us-east-1.amazonaws.com/")
                .expect("valid uri");
            request.set_method("POST").expect("valid method");
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

/// The JSON body of the first request the client sent.
fn first_request_body(http: &StaticReplayClient) -> Value {
    let request = http.actual_requests().next().expect("a request was sent");
    serde_json::from_slice(request.body().bytes().expect("in-memory body")).expect("JSON body")
}

fn ok(body: Value) -> Response {
    let mut response = Response::new(
        StatusCode::try_from(200).expect("status code"),
        SdkBody::from(body.to_string()),
    );
    let headers = response.headers_mut();
    headers.insert("content-type", "application/x-amz-json-1.1");
    headers.insert("x-amzn-requestid", "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f");
    response
}

/// A stopped Fargate task as DescribeTasks returns it, with `containers`.
fn stopped_task(stop_code: &str, stopped_reason: &str, containers: Value) -> Value {
    json!({
        "taskArn": TASK,
        "clusterArn": CLUSTER,
        "taskDefinitionArn": TASK_DEFINITION,
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "launchType": "FARGATE",
        "startedBy": STARTED_BY,
        "createdAt": 1.763780400123E9,
        "stoppingAt": 1.763780461456E9,
        "stoppedAt": 1.763780475789E9,
        "stopCode": stop_code,
        "stoppedReason": stopped_reason,
        "containers": containers,
    })
}

async fn describe_one(task: Value) -> TaskRecord {
    let (client, _) = replay(
        "DescribeTasks",
        vec![ok(json!({ "tasks": [task], "failures": [] }))],
    );
    let mut records = tasks::describe(&client, CLUSTER, &[TASK.to_string()])
        .await
        .expect("DescribeTasks");
    assert_eq!(records.len(), 1);
    records.remove(0)
}

fn spec(count: i32, backoff_limit: i32) -> ECSTaskSpec {
    ECSTaskSpec {
        cluster: Some("jobs".into()),
        task_definition: Some("report".into()),
        count,
        backoff_limit,
        launch_type: Some(LaunchType::FARGATE),
        ..ECSTaskSpec::default()
    }
}

fn decide(spec: &ECSTaskSpec, tasks: &[TaskRecord], launch_failures: &[String]) -> Plan {
    let now = Timestamp::now();
    plan::plan(&plan::Input {
        spec,
        tasks,
        launch_failures,
        start_time: Some(now),
        finished: None,
        now,
    })
}

/// A Fargate task whose image cannot be pulled (wrong tag, no route to the registry): ECS
/// stops it with stop code `TaskFailedToStart` before any container ran, so no container has
/// an exit code; the reason is on the task and on the container.
#[tokio::test]
async fn a_task_that_failed_to_start_counts_as_failed_with_the_ecs_reason() {
    let reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s): \
                  failed to resolve ref docker.io/library/report:nope: not found";
    let record = describe_one(stopped_task(
        "TaskFailedToStart",
        reason,
        json!([{
            "containerArn": "arn:aws:ecs:us-east-1:123456789012:container/jobs/0b69d5c0d6a54f8f9b4c5a3f2e1d0c9b/4f1e2d3c",
            "taskArn": TASK,
            "name": "app",
            "image": "report:nope",
            "lastStatus": "STOPPED",
            "reason": reason,
            "networkInterfaces": [],
            "healthStatus": "UNKNOWN"
        }]),
    ))
    .await;
    assert_eq!(record.outcome, TaskOutcome::Failed);
    assert_eq!(record.stop_code.as_deref(), Some("TaskFailedToStart"));
    assert_eq!(record.stopped_reason.as_deref(), Some(reason));
    assert_eq!(record.containers[0].exit_code, None);
    assert_eq!(record.containers[0].reason.as_deref(), Some(reason));
    assert!(record.stopped_at.is_some());

    // With backoffLimit 1 the task is started once more; a second failure ends the run.
    assert_eq!(
        decide(&spec(1, 1), std::slice::from_ref(&record), &[]),
        Plan::Run(1)
    );
    let mut again = record.clone();
    again.task_arn.push('2');
    match decide(&spec(1, 1), &[record, again], &[]) {
        Plan::Finish {
            finished: Finished::Failed { reason, .. },
            ..
        } => assert_eq!(reason, "BackoffLimitExceeded"),
        other => panic!("unexpected {other:?}"),
    }
}

/// A job whose main container is killed for using more memory than its limit: ECS reports
/// stop code `EssentialContainerExited`, exit code 137 and the OOM reason on the container,
/// while a sidecar that was stopped cleanly exits with 0. One non-zero exit fails the task.
#[tokio::test]
async fn a_non_zero_exit_code_fails_the_task_and_keeps_every_containers_code() {
    let record = describe_one(stopped_task(
        "EssentialContainerExited",
        "Essential container in task exited",
        json!([
            {
                "name": "app",
                "lastStatus": "STOPPED",
                "exitCode": 137,
                "reason": "OutOfMemoryError: Container killed due to memory usage"
            },
            { "name": "log-router", "lastStatus": "STOPPED", "exitCode": 0 }
        ]),
    ))
    .await;
    assert_eq!(record.outcome, TaskOutcome::Failed);
    let codes: Vec<(String, Option<i32>)> = record
        .containers
        .iter()
        .map(|c| (c.name.clone(), c.exit_code))
        .collect();
    assert_eq!(
        codes,
        vec![("app".into(), Some(137)), ("log-router".into(), Some(0))]
    );
    assert_eq!(
        record.containers[0].reason.as_deref(),
        Some("OutOfMemoryError: Container killed due to memory usage")
    );
    match decide(&spec(1, 0), &[record], &[]) {
        Plan::Finish {
            finished: Finished::Failed { reason, .. },
            stop,
        } => {
            assert_eq!(reason, "BackoffLimitExceeded");
            assert!(stop.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// The same task ending well: every container exited 0 after the essential one finished.
#[tokio::test]
async fn every_container_exiting_zero_is_a_success() {
    let record = describe_one(stopped_task(
        "EssentialContainerExited",
        "Essential container in task exited",
        json!([
            { "name": "app", "lastStatus": "STOPPED", "exitCode": 0 },
            { "name": "log-router", "lastStatus": "STOPPED", "exitCode": 0 }
        ]),
    ))
    .await;
    assert_eq!(record.outcome, TaskOutcome::Succeeded);
    assert_eq!(
        decide(&spec(1, 0), &[record], &[]),
        Plan::Finish {
            finished: Finished::Complete,
            stop: vec![]
        }
    );
}

/// Tasks stopped long ago (ECS keeps them about an hour) come back as `failures` with reason
/// MISSING: they are left out of the answer, so the run keeps what it recorded.
#[tokio::test]
async fn tasks_ecs_no_longer_knows_are_left_out() {
    let (client, _) = replay(
        "DescribeTasks",
        vec![ok(json!({
            "tasks": [],
            "failures": [{ "arn": TASK, "reason": "MISSING" }]
        }))],
    );
    let records = tasks::describe(&client, CLUSTER, &[TASK.to_string()])
        .await
        .expect("DescribeTasks");
    assert!(records.is_empty());
}

async fn run_with_failures(failures: Value) -> (Vec<String>, Value) {
    let (client, http) = replay(
        "RunTask",
        vec![ok(json!({ "tasks": [], "failures": failures }))],
    );
    let spec = spec(2, 0);
    let started = tasks::run(
        &client,
        &RunRequest {
            spec: &spec,
            cluster: "jobs",
            task_definition: TASK_DEFINITION,
            count: 2,
            started_by: STARTED_BY,
            client_token: "0f8fad5b-d9cb-469f-a165-70867728950e-0",
            tags: &BTreeMap::from([("team".to_string(), "analytics".to_string())]),
        },
    )
    .await
    .expect("RunTask answers 200 with failures");
    assert!(started.tasks.is_empty());
    (started.failures, first_request_body(&http))
}

/// An EC2 cluster whose container instances lack the memory the task needs: RunTask succeeds
/// with no tasks and one failure per container instance, reason `RESOURCE:MEMORY`. A run
/// whose tasks could never be placed fails with reason `CapacityUnavailable`, not as a broken
/// job.
#[tokio::test]
async fn placement_failures_for_memory_fail_the_run_as_capacity_unavailable() {
    let (failures, request) = run_with_failures(json!([
        {
            "arn": "arn:aws:ecs:us-east-1:123456789012:container-instance/jobs/6d3f1c2b9a8e4d7c",
            "reason": "RESOURCE:MEMORY"
        },
        {
            "arn": "arn:aws:ecs:us-east-1:123456789012:container-instance/jobs/1a2b3c4d5e6f7a8b",
            "reason": "RESOURCE:MEMORY"
        }
    ]))
    .await;
    assert_eq!(failures, vec!["RESOURCE:MEMORY", "RESOURCE:MEMORY"]);
    assert_eq!(request["count"], 2);
    assert_eq!(request["startedBy"], STARTED_BY);
    assert_eq!(
        request["clientToken"],
        "0f8fad5b-d9cb-469f-a165-70867728950e-0"
    );
    match decide(&spec(2, 0), &[], &failures) {
        Plan::Finish {
            finished: Finished::Failed { reason, message },
            ..
        } => {
            assert_eq!(reason, "CapacityUnavailable");
            assert!(message.contains("RESOURCE:MEMORY"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// Fargate out of capacity in the Availability Zones of the subnets: the failure's reason is
/// a sentence, with the detail when ECS gives one. The message names it.
#[tokio::test]
async fn fargate_capacity_unavailable_is_reported_with_the_ecs_words() {
    let (failures, _) = run_with_failures(json!([
        {
            "arn": "arn:aws:ecs:us-east-1:123456789012:task/jobs",
            "reason": "Capacity is unavailable at this time. Please try again later or in a different availability zone",
            "detail": "us-east-1a"
        }
    ]))
    .await;
    assert_eq!(
        failures,
        vec![
            "Capacity is unavailable at this time. Please try again later or in a different availability zone: us-east-1a"
        ]
    );
    // Within backoffLimit the launch is tried again; beyond it the run fails.
    assert_eq!(decide(&spec(1, 1), &[], &failures), Plan::Run(1));
    match decide(&spec(1, 0), &[], &failures) {
        Plan::Finish {
            finished: Finished::Failed { reason, message },
            ..
        } => {
            assert_eq!(reason, "CapacityUnavailable");
            assert!(message.contains("Capacity is unavailable"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}
