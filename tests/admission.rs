//! Admission: the kube-apiserver itself rejects invalid manifests (OpenAPI schema and CEL rules
//! of the CRDs in `crds/`), with a message that names the field, and accepts valid ones.
//!
//! Every request is a server-side apply with dry run, so nothing persists and the operator plays
//! no part.

mod support;

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::{Api, Client};
use support::TestContext;

/// One table row: a manifest and the substrings its rejection message must contain.
struct Rejected {
    what: &'static str,
    manifest: String,
    expect: Vec<&'static str>,
    /// HTTP status of the rejection: 422 Invalid for schema and CEL rules.
    code: u16,
}

fn rejected(what: &'static str, manifest: String, expect: &'static [&'static str]) -> Rejected {
    Rejected {
        what,
        manifest,
        expect: expect.to_vec(),
        code: 422,
    }
}

/// A row whose manifest has a field the schema does not declare (at `path`). Strict field
/// validation (kubectl's default) refuses it; the apiserver answers server-side apply's
/// "field not declared in schema" with status 500.
fn unknown_field(what: &'static str, manifest: String, path: &'static str) -> Rejected {
    Rejected {
        what,
        manifest,
        expect: vec![path, "field not declared in schema"],
        code: 500,
    }
}

/// Dry-run server-side apply of one manifest in `namespace`.
async fn dry_run_apply(
    client: &Client,
    namespace: &str,
    yaml: &str,
) -> Result<DynamicObject, kube::Error> {
    let mut obj: DynamicObject =
        serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("bad test manifest: {e}\n{yaml}"));
    let types = obj.types.clone().expect("manifest has apiVersion and kind");
    let (group, version) = types
        .api_version
        .split_once('/')
        .expect("manifest of a custom resource");
    let gvk = GroupVersionKind::gvk(group, version, &types.kind);
    // The apiserver says whether the kind is namespaced (AWSAccessGrant is cluster-scoped).
    let (resource, capabilities) = kube::discovery::pinned_kind(client, &gvk).await?;
    let api: Api<DynamicObject> = match capabilities.scope {
        kube::discovery::Scope::Namespaced => {
            obj.metadata.namespace = Some(namespace.to_string());
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
        kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    let name = obj.metadata.name.clone().expect("manifest has a name");
    let mut params = PatchParams::apply("admission-test").force();
    params.dry_run = true;
    // As kubectl does: an unknown field is an error, not a warning.
    params.field_validation = Some(kube::api::ValidationDirective::Strict);
    api.patch(&name, &params, &Patch::Apply(&obj)).await
}

/// Applies every row and returns one line per row that did not behave as expected.
async fn check_rejected(ctx: &TestContext, rows: &[Rejected]) -> Vec<String> {
    let mut failures = Vec::new();
    for row in rows {
        match dry_run_apply(&ctx.client, &ctx.namespace, &row.manifest).await {
            Ok(_) => failures.push(format!("{}: accepted, expected a rejection", row.what)),
            Err(kube::Error::Api(status)) => {
                if status.code != row.code || (row.code == 422 && status.reason != "Invalid") {
                    failures.push(format!(
                        "{}: expected {}, got {} {}: {}",
                        row.what, row.code, status.code, status.reason, status.message
                    ));
                }
                for want in &row.expect {
                    if !status.message.contains(want) {
                        failures.push(format!(
                            "{}: message lacks {want:?}: {}",
                            row.what, status.message
                        ));
                    }
                }
            }
            Err(other) => failures.push(format!("{}: unexpected error {other}", row.what)),
        }
    }
    failures
}

async fn check_accepted(ctx: &TestContext, manifests: &[(String, String)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (what, manifest) in manifests {
        if let Err(err) = dry_run_apply(&ctx.client, &ctx.namespace, manifest).await {
            failures.push(format!("{what}: rejected: {err}"));
        }
    }
    failures
}

fn assert_no_failures(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// A TaskDefinition named `name`; `spec` is the body of a YAML flow mapping.
fn td_named(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: ecs-operator.dev/v1alpha1\nkind: TaskDefinition\nmetadata: {{name: {name}}}\nspec: {{{spec}}}\n"
    )
}

fn td(spec: &str) -> String {
    td_named("web", spec)
}

/// A valid FARGATE task around the given container list (a YAML flow sequence body).
fn fargate_td(containers: &str) -> String {
    td(&format!(
        r#"requiresCompatibilities: [FARGATE], networkMode: awsvpc, cpu: "256", memory: "512", containerDefinitions: [{containers}]"#
    ))
}

const WEB: &str = "{name: web, image: nginx}";

fn task_definition_rows() -> Vec<Rejected> {
    let eleven = (0..11)
        .map(|i| format!("{{name: c{i}, image: nginx}}"))
        .collect::<Vec<_>>()
        .join(", ");
    let long_family = "f".repeat(256);
    vec![
        rejected(
            "no containers",
            td("containerDefinitions: []"),
            &["spec.containerDefinitions", "at least 1 items"],
        ),
        rejected(
            "more than 10 containers",
            td(&format!("containerDefinitions: [{eleven}]")),
            &["spec.containerDefinitions", "at most 10 items"],
        ),
        rejected(
            "duplicate container names",
            td(&format!("containerDefinitions: [{WEB}, {WEB}]")),
            &[
                "spec.containerDefinitions",
                "container names must be unique",
            ],
        ),
        rejected(
            "no essential container",
            td(
                "containerDefinitions: [{name: a, image: nginx, essential: false}, {name: b, image: nginx, essential: false}]",
            ),
            &[
                "spec.containerDefinitions",
                "at least one container must be essential",
            ],
        ),
        rejected(
            "FARGATE without awsvpc",
            td(&format!(
                r#"requiresCompatibilities: [FARGATE], networkMode: bridge, cpu: "256", memory: "512", containerDefinitions: [{WEB}]"#
            )),
            &["spec.networkMode", "networkMode must be awsvpc"],
        ),
        rejected(
            "FARGATE without networkMode",
            td(&format!(
                r#"requiresCompatibilities: [FARGATE], cpu: "256", memory: "512", containerDefinitions: [{WEB}]"#
            )),
            &["spec.networkMode", "networkMode must be awsvpc"],
        ),
        rejected(
            "FARGATE cpu 256 with memory 4096",
            td(&format!(
                r#"requiresCompatibilities: [FARGATE], networkMode: awsvpc, cpu: "256", memory: "4096", containerDefinitions: [{WEB}]"#
            )),
            &["spec.memory", "not a valid FARGATE combination"],
        ),
        rejected(
            "FARGATE cpu 1024 with memory 3000 (not a step of 1024)",
            td(&format!(
                r#"requiresCompatibilities: [FARGATE], networkMode: awsvpc, cpu: "1024", memory: "3000", containerDefinitions: [{WEB}]"#
            )),
            &["spec.memory", "not a valid FARGATE combination"],
        ),
        rejected(
            "FARGATE without cpu",
            td(&format!(
                r#"requiresCompatibilities: [FARGATE], networkMode: awsvpc, memory: "512", containerDefinitions: [{WEB}]"#
            )),
            &["spec.cpu", "cpu and memory are required"],
        ),
        rejected(
            "task cpu not an integer string",
            td(&format!(
                r#"cpu: "0.25 vCPU", containerDefinitions: [{WEB}]"#
            )),
            &["spec.cpu"],
        ),
        rejected(
            "container memory above task memory",
            fargate_td("{name: web, image: nginx, memory: 1024}"),
            &["spec.containerDefinitions", "exceeds the task memory"],
        ),
        rejected(
            "containerPort 0",
            fargate_td("{name: web, image: nginx, portMappings: [{containerPort: 0}]}"),
            &["spec.containerDefinitions[0].portMappings[0].containerPort"],
        ),
        rejected(
            "containerPort 70000",
            fargate_td("{name: web, image: nginx, portMappings: [{containerPort: 70000}]}"),
            &["spec.containerDefinitions[0].portMappings[0].containerPort"],
        ),
        rejected(
            "hostPort 70000",
            td(
                "networkMode: bridge, containerDefinitions: [{name: web, image: nginx, memory: 256, portMappings: [{containerPort: 80, hostPort: 70000}]}]",
            ),
            &["spec.containerDefinitions[0].portMappings[0].hostPort"],
        ),
        rejected(
            "family with a dot",
            td(&format!("family: my.family, containerDefinitions: [{WEB}]")),
            &["spec.family"],
        ),
        rejected(
            "family of 256 characters",
            td(&format!(
                "family: {long_family}, containerDefinitions: [{WEB}]"
            )),
            &["spec.family", "Too long"],
        ),
        rejected(
            "metadata.name with a dot and no family",
            td_named("my.app", &format!("containerDefinitions: [{WEB}]")),
            &["spec.family must be set"],
        ),
        rejected(
            "unknown networkMode",
            td(&format!(
                "networkMode: weird, containerDefinitions: [{WEB}]"
            )),
            &["spec.networkMode", "Unsupported value", "weird"],
        ),
        rejected(
            "unknown port protocol",
            fargate_td(
                "{name: web, image: nginx, portMappings: [{containerPort: 80, protocol: sctp}]}",
            ),
            &[
                "spec.containerDefinitions[0].portMappings[0].protocol",
                "Unsupported value",
            ],
        ),
        rejected(
            "unknown log driver",
            fargate_td("{name: web, image: nginx, logConfiguration: {logDriver: nope}}"),
            &[
                "spec.containerDefinitions[0].logConfiguration.logDriver",
                "Unsupported value",
            ],
        ),
        rejected(
            "unknown requiresCompatibilities",
            td(&format!(
                "requiresCompatibilities: [LAMBDA], containerDefinitions: [{WEB}]"
            )),
            &["spec.requiresCompatibilities[0]", "Unsupported value"],
        ),
        rejected(
            "mountPoints naming an unknown volume",
            td(
                "volumes: [{name: data}], containerDefinitions: [{name: web, image: nginx, mountPoints: [{sourceVolume: logs, containerPath: /logs}]}]",
            ),
            &[
                "spec.containerDefinitions",
                "sourceVolume names a volume that is not in volumes",
            ],
        ),
        rejected(
            "mountPoints without any volumes",
            td(
                "containerDefinitions: [{name: web, image: nginx, mountPoints: [{sourceVolume: logs, containerPath: /logs}]}]",
            ),
            &[
                "spec.containerDefinitions",
                "sourceVolume names a volume that is not in volumes",
            ],
        ),
        rejected(
            "dependsOn naming an unknown container",
            td(
                "containerDefinitions: [{name: web, image: nginx, dependsOn: [{containerName: db, condition: START}]}]",
            ),
            &["spec.containerDefinitions", "dependsOn names a container"],
        ),
        rejected(
            "volumesFrom naming an unknown container",
            td(
                "containerDefinitions: [{name: web, image: nginx, volumesFrom: [{sourceContainer: data}]}]",
            ),
            &["spec.containerDefinitions", "volumesFrom names a container"],
        ),
        rejected(
            "memoryReservation above memory",
            td(
                "containerDefinitions: [{name: web, image: nginx, memory: 256, memoryReservation: 512}]",
            ),
            &[
                "spec.containerDefinitions[0]",
                "memoryReservation must not exceed memory",
            ],
        ),
        rejected(
            "reserved tag key prefix ecs-operator.dev/",
            td(&format!(
                "containerDefinitions: [{WEB}], tags: [{{key: ecs-operator.dev/uid, value: x}}]"
            )),
            &["spec.tags", "reserved"],
        ),
        rejected(
            "reserved tag key prefix aws:",
            td(&format!(
                r#"containerDefinitions: [{WEB}], tags: [{{key: "aws:cloudformation:stack-name", value: x}}]"#
            )),
            &["spec.tags", "reserved"],
        ),
        rejected(
            "duplicate tag keys",
            td(&format!(
                "containerDefinitions: [{WEB}], tags: [{{key: team, value: a}}, {{key: team, value: b}}]"
            )),
            &["spec.tags", "tag keys must be unique"],
        ),
        rejected(
            "ephemeralStorage of 10 GiB",
            td(&format!(
                "ephemeralStorage: {{sizeInGiB: 10}}, containerDefinitions: [{WEB}]"
            )),
            &["spec.ephemeralStorage.sizeInGiB"],
        ),
        rejected(
            "EFS IAM authorization without transit encryption",
            td(&format!(
                "volumes: [{{name: data, efsVolumeConfiguration: {{fileSystemId: fs-0123456789abcdef0, authorizationConfig: {{iam: ENABLED}}}}}}], containerDefinitions: [{WEB}]"
            )),
            &[
                "spec.volumes[0].efsVolumeConfiguration",
                "requires transitEncryption ENABLED",
            ],
        ),
        rejected(
            "volume with both host and efsVolumeConfiguration",
            td(&format!(
                "volumes: [{{name: data, host: {{sourcePath: /data}}, efsVolumeConfiguration: {{fileSystemId: fs-0123456789abcdef0}}}}], containerDefinitions: [{WEB}]"
            )),
            &["spec.volumes[0]", "set at most one of host"],
        ),
        rejected(
            "duplicate volume names",
            td(&format!(
                "volumes: [{{name: data}}, {{name: data}}], containerDefinitions: [{WEB}]"
            )),
            &["spec.volumes", "volume names must be unique"],
        ),
        rejected(
            "port mapping with containerPort and containerPortRange",
            fargate_td(
                r#"{name: web, image: nginx, portMappings: [{containerPort: 80, containerPortRange: "8000-8010"}]}"#,
            ),
            &[
                "spec.containerDefinitions[0].portMappings[0]",
                "set exactly one of containerPort and containerPortRange",
            ],
        ),
        rejected(
            "awsvpc hostPort differing from containerPort",
            fargate_td(
                "{name: web, image: nginx, portMappings: [{containerPort: 80, hostPort: 8080}]}",
            ),
            &[
                "spec.containerDefinitions",
                "hostPort must be left out or equal its containerPort",
            ],
        ),
        rejected(
            "containerPortRange with start above end",
            fargate_td(
                r#"{name: web, image: nginx, portMappings: [{containerPortRange: "9000-8000"}]}"#,
            ),
            &[
                "spec.containerDefinitions[0].portMappings[0].containerPortRange",
                "1 <= start < end <= 65535",
            ],
        ),
        rejected(
            "containerPortRange beyond 65535",
            fargate_td(
                r#"{name: web, image: nginx, portMappings: [{containerPortRange: "65000-70000"}]}"#,
            ),
            &[
                "spec.containerDefinitions[0].portMappings[0].containerPortRange",
                "1 <= start < end <= 65535",
            ],
        ),
        rejected(
            "executionRoleArn that is not an IAM role ARN",
            td(&format!(
                "executionRoleArn: ecsTaskExecutionRole, containerDefinitions: [{WEB}]"
            )),
            &["spec.executionRoleArn"],
        ),
        rejected(
            "proxyConfiguration naming an unknown container",
            td(&format!(
                "networkMode: awsvpc, containerDefinitions: [{WEB}], proxyConfiguration: {{type: APPMESH, containerName: envoy}}"
            )),
            &[
                "spec.proxyConfiguration.containerName",
                "not in containerDefinitions",
            ],
        ),
    ]
}

/// An ECSService named `name`; `spec` is the body of a YAML flow mapping.
fn svc_named(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: ecs-operator.dev/v1alpha1\nkind: ECSService\nmetadata: {{name: {name}}}\nspec: {{{spec}}}\n"
    )
}

fn svc(spec: &str) -> String {
    svc_named("web", spec)
}

const NETWORK: &str = "networkConfiguration: {awsvpcConfiguration: {subnets: [subnet-0123456789abcdef0], securityGroups: [sg-0123456789abcdef0]}}";

/// A FARGATE service referencing TaskDefinition `web`, plus `extra` fields.
fn fargate_svc(extra: &str) -> String {
    svc(&format!(
        "cluster: default, taskDefinitionRef: {{name: web}}, launchType: FARGATE, {NETWORK}, {extra}"
    ))
}

/// A service without launch type or network referencing TaskDefinition `web`, plus `extra` fields.
fn plain_svc(extra: &str) -> String {
    svc(&format!(
        "cluster: default, taskDefinitionRef: {{name: web}}, {extra}"
    ))
}

fn lb(i: usize) -> String {
    format!(
        r#"{{targetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg{i}/0123456789abcdef", containerName: web, containerPort: 80}}"#
    )
}

fn ecs_service_rows() -> Vec<Rejected> {
    let six_lbs = (0..6).map(lb).collect::<Vec<_>>().join(", ");
    vec![
        rejected(
            "both taskDefinitionRef and taskDefinition",
            svc(&format!(
                "cluster: default, taskDefinitionRef: {{name: web}}, taskDefinition: \"web:1\", launchType: FARGATE, {NETWORK}"
            )),
            &[
                "spec.taskDefinitionRef",
                "set exactly one of taskDefinitionRef and taskDefinition",
            ],
        ),
        rejected(
            "neither taskDefinitionRef nor taskDefinition",
            svc(&format!("cluster: default, launchType: FARGATE, {NETWORK}")),
            &[
                "spec.taskDefinitionRef",
                "set exactly one of taskDefinitionRef and taskDefinition",
            ],
        ),
        rejected(
            "both launchType and capacityProviderStrategy",
            fargate_svc("capacityProviderStrategy: [{capacityProvider: FARGATE, weight: 1}]"),
            &[
                "spec.launchType",
                "set at most one of launchType and capacityProviderStrategy",
            ],
        ),
        rejected(
            "desiredCount -1",
            fargate_svc("desiredCount: -1"),
            &["spec.desiredCount", "should be greater than or equal to 0"],
        ),
        rejected(
            "minimumHealthyPercent above maximumPercent",
            fargate_svc(
                "deploymentConfiguration: {minimumHealthyPercent: 150, maximumPercent: 120}",
            ),
            &["spec.deploymentConfiguration.minimumHealthyPercent"],
        ),
        rejected(
            "maximumPercent 300",
            fargate_svc("deploymentConfiguration: {maximumPercent: 300}"),
            &["spec.deploymentConfiguration.maximumPercent"],
        ),
        rejected(
            "DAEMON with FARGATE",
            fargate_svc("schedulingStrategy: DAEMON"),
            &[
                "spec.schedulingStrategy",
                "DAEMON is not supported with launchType FARGATE",
            ],
        ),
        rejected(
            "DAEMON with desiredCount",
            plain_svc("launchType: EC2, schedulingStrategy: DAEMON, desiredCount: 2"),
            &[
                "spec.desiredCount",
                "desiredCount cannot be set with schedulingStrategy DAEMON",
            ],
        ),
        rejected(
            "empty subnets list",
            plain_svc(
                "launchType: FARGATE, networkConfiguration: {awsvpcConfiguration: {subnets: []}}",
            ),
            &[
                "spec.networkConfiguration.awsvpcConfiguration.subnets",
                "at least 1 items",
            ],
        ),
        rejected(
            "invalid subnet id",
            plain_svc(
                "launchType: FARGATE, networkConfiguration: {awsvpcConfiguration: {subnets: [subnet-xyz]}}",
            ),
            &["spec.networkConfiguration.awsvpcConfiguration.subnets[0]"],
        ),
        rejected(
            "invalid security group id",
            plain_svc(
                "launchType: FARGATE, networkConfiguration: {awsvpcConfiguration: {subnets: [subnet-0123456789abcdef0], securityGroups: [default]}}",
            ),
            &["spec.networkConfiguration.awsvpcConfiguration.securityGroups[0]"],
        ),
        rejected(
            "invalid targetGroupArn",
            fargate_svc(
                "loadBalancers: [{targetGroupArn: my-target-group, containerName: web, containerPort: 80}]",
            ),
            &["spec.loadBalancers[0].targetGroupArn"],
        ),
        rejected(
            "task definition ARN without a revision",
            svc(&format!(
                r#"cluster: default, taskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web", launchType: FARGATE, {NETWORK}"#
            )),
            &["spec.taskDefinition"],
        ),
        rejected(
            "task definition family without a revision",
            svc(&format!(
                "cluster: default, taskDefinition: web, launchType: FARGATE, {NETWORK}"
            )),
            &["spec.taskDefinition"],
        ),
        rejected(
            "more than 5 load balancers",
            fargate_svc(&format!("loadBalancers: [{six_lbs}]")),
            &["spec.loadBalancers", "at most 5 items"],
        ),
        rejected(
            "placementStrategy with FARGATE",
            fargate_svc(
                "placementStrategy: [{type: spread, field: \"attribute:ecs.availability-zone\"}]",
            ),
            &[
                "spec.placementStrategy",
                "placementStrategy is not supported with launchType FARGATE",
            ],
        ),
        rejected(
            "placementConstraints with FARGATE",
            fargate_svc("placementConstraints: [{type: distinctInstance}]"),
            &[
                "spec.placementConstraints",
                "not supported with launchType FARGATE",
            ],
        ),
        rejected(
            "placementStrategy type weird",
            plain_svc("launchType: EC2, placementStrategy: [{type: weird}]"),
            &["spec.placementStrategy[0].type"],
        ),
        rejected(
            "two capacity providers with a base",
            plain_svc(
                "capacityProviderStrategy: [{capacityProvider: FARGATE, base: 1, weight: 1}, {capacityProvider: FARGATE_SPOT, base: 2, weight: 1}]",
            ),
            &[
                "spec.capacityProviderStrategy",
                "at most one capacity provider may have a base",
            ],
        ),
        rejected(
            "capacity provider weight 2000",
            plain_svc("capacityProviderStrategy: [{capacityProvider: FARGATE, weight: 2000}]"),
            &["spec.capacityProviderStrategy[0].weight"],
        ),
        rejected(
            "serviceName starting with a digit",
            fargate_svc("serviceName: 1abc"),
            &["spec.serviceName"],
        ),
        rejected(
            "metadata.name starting with a digit and no serviceName",
            svc_named(
                "1abc",
                &format!(
                    "cluster: default, taskDefinitionRef: {{name: web}}, launchType: FARGATE, {NETWORK}"
                ),
            ),
            &["spec.serviceName must be set"],
        ),
        rejected(
            "circuit breaker with CODE_DEPLOY",
            fargate_svc(
                "deploymentController: CODE_DEPLOY, deploymentConfiguration: {deploymentCircuitBreaker: {enable: true, rollback: true}}",
            ),
            &[
                "spec.deploymentConfiguration.deploymentCircuitBreaker",
                "only supported with the ECS deployment controller",
            ],
        ),
        rejected(
            "DAEMON with CODE_DEPLOY",
            plain_svc(
                "launchType: EC2, schedulingStrategy: DAEMON, deploymentController: CODE_DEPLOY",
            ),
            &[
                "spec.schedulingStrategy",
                "DAEMON is only supported with the ECS deployment controller",
            ],
        ),
        rejected(
            "unknown launchType",
            plain_svc("launchType: LAMBDA"),
            &["spec.launchType", "Unsupported value"],
        ),
        rejected(
            "reserved tag key prefix ecs-operator.dev/",
            fargate_svc("tags: [{key: ecs-operator.dev/name, value: x}]"),
            &["spec.tags", "reserved"],
        ),
        unknown_field(
            "unknown field in serviceConnectConfiguration",
            fargate_svc("serviceConnectConfiguration: {namespace: apps, tlss: {kmsKey: k}}"),
            ".spec.serviceConnectConfiguration.tlss",
        ),
        unknown_field(
            "unknown field in a Service Connect service",
            fargate_svc(
                "serviceConnectConfiguration: {namespace: apps, services: [{portName: http, timeoutSeconds: 5}]}",
            ),
            ".spec.serviceConnectConfiguration.services[0].timeoutSeconds",
        ),
        rejected(
            "Service Connect namespace and namespaceRef",
            fargate_svc(
                "serviceConnectConfiguration: {namespace: apps, namespaceRef: {name: apps}}",
            ),
            &[
                "spec.serviceConnectConfiguration.namespaceRef",
                "set at most one of namespace and namespaceRef",
            ],
        ),
        rejected(
            "Service Connect access logs without a log configuration",
            fargate_svc(
                "serviceConnectConfiguration: {namespace: apps, accessLogConfiguration: {format: JSON}}",
            ),
            &[
                "spec.serviceConnectConfiguration.accessLogConfiguration",
                "needs logConfiguration",
            ],
        ),
        rejected(
            "Service Connect access log format XML",
            fargate_svc(
                "serviceConnectConfiguration: {namespace: apps, logConfiguration: {logDriver: awslogs}, accessLogConfiguration: {format: XML}}",
            ),
            &[
                "spec.serviceConnectConfiguration.accessLogConfiguration.format",
                "Unsupported value",
            ],
        ),
    ]
}

/// An ECSTask named `name`; `spec` is the body of a YAML flow mapping.
fn ecs_task_named(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: ecs-operator.dev/v1alpha1\nkind: ECSTask\nmetadata: {{name: {name}}}\nspec: {{{spec}}}\n"
    )
}

/// A run of task definition `report` in cluster `jobs` with `extra` spec entries.
fn job(extra: &str) -> String {
    ecs_task_named(
        "job",
        &format!("cluster: jobs, taskDefinition: report, {extra}"),
    )
}

/// The run the immutability row changes (created before the rows are checked).
fn existing_job() -> String {
    ecs_task_named(
        "existing",
        "cluster: jobs, taskDefinition: report, count: 1",
    )
}

fn ecs_task_rows() -> Vec<Rejected> {
    vec![
        rejected("count 0", job("count: 0"), &["spec.count", "1"]),
        rejected("negative count", job("count: -3"), &["spec.count"]),
        rejected(
            "count above 1000",
            job("count: 1001"),
            &["spec.count", "1000"],
        ),
        rejected(
            "both cluster and clusterRef",
            job("clusterRef: {name: main}"),
            &["spec.clusterRef", "exactly one of cluster and clusterRef"],
        ),
        rejected(
            "neither cluster nor clusterRef",
            ecs_task_named("job", "taskDefinition: report"),
            &["spec.clusterRef", "exactly one of cluster and clusterRef"],
        ),
        rejected(
            "both taskDefinition and taskDefinitionRef",
            job("taskDefinitionRef: {name: report}"),
            &[
                "spec.taskDefinitionRef",
                "exactly one of taskDefinitionRef and taskDefinition",
            ],
        ),
        rejected(
            "neither taskDefinition nor taskDefinitionRef",
            ecs_task_named("job", "cluster: jobs"),
            &[
                "spec.taskDefinitionRef",
                "exactly one of taskDefinitionRef and taskDefinition",
            ],
        ),
        rejected(
            "launchType with capacityProviderStrategy",
            job(
                "launchType: FARGATE, capacityProviderStrategy: [{capacityProvider: FARGATE, weight: 1}]",
            ),
            &[
                "spec.launchType",
                "at most one of launchType and capacityProviderStrategy",
            ],
        ),
        rejected(
            "two capacity providers with a base",
            job(
                "capacityProviderStrategy: [{capacityProvider: FARGATE, base: 1}, {capacityProvider: FARGATE_SPOT, base: 2}]",
            ),
            &[
                "spec.capacityProviderStrategy",
                "at most one capacity provider may have a base",
            ],
        ),
        rejected(
            "reserved tag key prefix ecs-operator.dev/",
            job("tags: [{key: ecs-operator.dev/uid, value: x}]"),
            &["spec.tags", "reserved"],
        ),
        rejected(
            "reserved tag key prefix aws:",
            job("tags: [{key: \"aws:cloudformation:stack-name\", value: x}]"),
            &["spec.tags", "reserved"],
        ),
        rejected(
            "duplicate tag keys",
            job("tags: [{key: team, value: a}, {key: team, value: b}]"),
            &["spec.tags", "unique"],
        ),
        rejected(
            "negative backoffLimit",
            job("backoffLimit: -1"),
            &["spec.backoffLimit", "0"],
        ),
        rejected(
            "activeDeadlineSeconds 0",
            job("activeDeadlineSeconds: 0"),
            &["spec.activeDeadlineSeconds"],
        ),
        rejected(
            "role ARN that is not an IAM role",
            job("roleArn: \"arn:aws:iam::123456789012:user/deployer\""),
            &["spec.roleArn"],
        ),
        rejected(
            "role ARN with a short account",
            job("roleArn: \"arn:aws:iam::1234:role/ecs-operator\""),
            &["spec.roleArn"],
        ),
        rejected(
            "task role override that is not a role ARN",
            job("overrides: {taskRoleArn: report-role}"),
            &["spec.overrides.taskRoleArn"],
        ),
        rejected(
            "region that is not a Region",
            job("region: Ireland"),
            &["spec.region"],
        ),
        rejected(
            "region with an availability zone",
            job("region: eu-west-1a"),
            &["spec.region"],
        ),
        rejected(
            "unknown launchType",
            job("launchType: LAMBDA"),
            &["spec.launchType", "Unsupported value"],
        ),
        rejected(
            "spec change after creation",
            existing_job().replace("count: 1", "count: 2"),
            &["spec", "immutable"],
        ),
    ]
}

/// Manifests users write: every custom resource in `examples/`, plus richer valid specs that
/// exercise the rules from the accepting side.
fn accepted_manifests() -> Vec<(String, String)> {
    let mut manifests = Vec::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read example");
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for (i, doc) in text.split("\n---").enumerate() {
            if doc.contains("apiVersion: ecs-operator.dev/") {
                manifests.push((format!("examples/{name} document {i}"), doc.to_string()));
            }
        }
    }
    let fixed = [
        (
            "FARGATE 16384/122880 task",
            td(&format!(
                r#"requiresCompatibilities: [FARGATE], networkMode: awsvpc, cpu: "16384", memory: "122880", containerDefinitions: [{WEB}]"#
            )),
        ),
        (
            "FARGATE 512/4096 task",
            fargate_td(WEB).replace(
                r#"cpu: "256", memory: "512""#,
                r#"cpu: "512", memory: "4096""#,
            ),
        ),
        (
            "EC2 task with volumes, mounts, dependencies and port ranges",
            td(
                r#"family: my_family-1, networkMode: bridge, requiresCompatibilities: [EC2], memory: "1024",
                volumes: [{name: data}, {name: efs, efsVolumeConfiguration: {fileSystemId: fs-0123456789abcdef0, transitEncryption: ENABLED, authorizationConfig: {iam: ENABLED, accessPointId: fsap-0123456789abcdef0}}}],
                containerDefinitions: [
                  {name: app, image: nginx, memory: 512, memoryReservation: 256, essential: true,
                   portMappings: [{containerPort: 80, hostPort: 0, protocol: tcp}, {containerPortRange: "8000-8010", protocol: udp}],
                   mountPoints: [{sourceVolume: data, containerPath: /data}, {sourceVolume: efs, containerPath: /efs, readOnly: true}],
                   dependsOn: [{containerName: init, condition: SUCCESS}], volumesFrom: [{sourceContainer: init}],
                   logConfiguration: {logDriver: json-file}},
                  {name: init, image: busybox, essential: false, memory: 64}],
                tags: [{key: team, value: a}, {key: owner, value: b}], ephemeralStorage: {sizeInGiB: 21}"#,
            ),
        ),
        (
            "awsvpc task with hostPort equal to containerPort",
            fargate_td(
                "{name: web, image: nginx, portMappings: [{containerPort: 8080, hostPort: 8080, name: http, appProtocol: http}]}",
            ),
        ),
        (
            "task named with a dot but an explicit family",
            td_named(
                "my.app",
                &format!("family: my-app, containerDefinitions: [{WEB}]"),
            ),
        ),
        (
            "FARGATE service",
            fargate_svc(
                r#"desiredCount: 2, deploymentConfiguration: {minimumHealthyPercent: 50, maximumPercent: 200, deploymentCircuitBreaker: {enable: true, rollback: true}}, loadBalancers: [{targetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef", containerName: web, containerPort: 80}], tags: [{key: team, value: a}]"#,
            ),
        ),
        (
            "service on a task definition ARN",
            svc(&format!(
                r#"cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/prod", serviceName: web_v2, taskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3", launchType: FARGATE, {NETWORK}"#
            )),
        ),
        (
            "service on family:revision with capacity providers",
            svc(
                r#"cluster: default, taskDefinition: "web:7", capacityProviderStrategy: [{capacityProvider: FARGATE, base: 1, weight: 1}, {capacityProvider: FARGATE_SPOT, weight: 4}]"#,
            ),
        ),
        (
            "EC2 DAEMON service with placement",
            plain_svc(
                r#"launchType: EC2, schedulingStrategy: DAEMON, placementConstraints: [{type: memberOf, expression: "attribute:ecs.os-type == linux"}], placementStrategy: [{type: binpack, field: memory}]"#,
            ),
        ),
        (
            "ECSTask on capacity providers with references, retries, deadline and TTL",
            ecs_task_named(
                "nightly",
                r#"clusterRef: {name: main}, taskDefinitionRef: {name: report}, count: 20, backoffLimit: 3,
                activeDeadlineSeconds: 3600, ttlSecondsAfterFinished: 0,
                capacityProviderStrategy: [{capacityProvider: FARGATE, base: 1, weight: 1}, {capacityProvider: FARGATE_SPOT, weight: 4}],
                overrides: {containerOverrides: [{name: app, command: [report], environment: [{name: DAY, value: yesterday}], memory: 512}], taskRoleArn: "arn:aws:iam::123456789012:role/report"},
                tags: [{key: team, value: analytics}], propagateTags: TASK_DEFINITION, deletionPolicy: Retain,
                region: eu-west-1, roleArn: "arn:aws:iam::123456789012:role/ecs-operator""#,
            ),
        ),
        (
            "service with Service Connect in full",
            fargate_svc(
                r#"serviceConnectConfiguration: {namespaceRef: {name: apps}, services: [{portName: http, discoveryName: web, ingressPortOverride: 8081,
                clientAliases: [{port: 80, dnsName: web.apps, testTrafficRules: {header: {name: x-canary, value: {exact: "yes"}}}}],
                timeout: {idleTimeoutSeconds: 60, perRequestTimeoutSeconds: 15},
                tls: {issuerCertificateAuthority: {awsPcaAuthorityArn: "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/abc"}, kmsKey: alias/sc, roleArn: "arn:aws:iam::123456789012:role/sc-tls"}}],
                logConfiguration: {logDriver: awslogs, options: {awslogs-group: sc}}, accessLogConfiguration: {format: JSON, includeQueryParameters: ENABLED}}"#,
            ),
        ),
        (
            "CODE_DEPLOY service without circuit breaker",
            fargate_svc(
                "deploymentController: CODE_DEPLOY, deploymentConfiguration: {minimumHealthyPercent: 100, maximumPercent: 200}",
            ),
        ),
    ];
    manifests.extend(fixed.into_iter().map(|(what, m)| (what.to_string(), m)));
    manifests
}

#[tokio::test]
async fn invalid_task_definitions_are_rejected_at_admission() {
    let ctx = TestContext::new("adm-td").await;
    let rows = task_definition_rows();
    assert!(rows.len() >= 15);
    assert_no_failures(check_rejected(&ctx, &rows).await);
}

#[tokio::test]
async fn invalid_ecs_services_are_rejected_at_admission() {
    let ctx = TestContext::new("adm-svc").await;
    let rows = ecs_service_rows();
    assert!(rows.len() >= 15);
    assert_no_failures(check_rejected(&ctx, &rows).await);
}

#[tokio::test]
async fn invalid_ecs_tasks_are_rejected_at_admission() {
    let ctx = TestContext::new("adm-task").await;
    // The immutability row changes an ECSTask that exists (no operator runs here: it stays
    // as created).
    ctx.apply_yaml(&existing_job())
        .await
        .expect("create the ECSTask the immutability row changes");
    let rows = ecs_task_rows();
    assert!(rows.len() >= 12);
    assert_no_failures(check_rejected(&ctx, &rows).await);
}

#[tokio::test]
async fn valid_manifests_are_accepted() {
    let ctx = TestContext::new("adm-ok").await;
    let manifests = accepted_manifests();
    assert!(
        manifests
            .iter()
            .any(|(what, _)| what.starts_with("examples/"))
    );
    assert_no_failures(check_accepted(&ctx, &manifests).await);
}
