"""Fuzz the ECS simulation with the repository's examples/: every manifest is
translated into the ECS (and Cloud Map) requests the operator makes for it,
then sent as is and in deterministic variants (each optional member left out,
and the variants users write: memory only at task or container level, EC2
instead of Fargate, each circuit-breaker setting, ...).  No request may get
an HTTP 5xx, and the examples themselves must be accepted: ECS accepts them.
moto answering 500 where ECS answers 200 or 400 shows up in the operator as
UnrecognizedResponse, the first thing a newcomer sees in the sandbox.

Run with the python of the moto venv::

    python -m pytest hack/moto/test_examples.py
"""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml
from botocore.exceptions import ClientError
from test_server import client, start_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Members of the specs that are the operator's, not ECS's (references are resolved below).
NOT_ECS = {"taskDefinitionRef", "clusterRef", "capacityProviderRefs", "autoScaling"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with start_server(
        "--rollout-delay", "0.2", "--tick", "0.1", "--task-start-delay", "0.2"
    ) as ep:
        yield ep


def manifests() -> dict[str, list[dict[str, Any]]]:
    """kind -> the examples' objects of that kind."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.setdefault(doc["kind"], []).append(doc)
    return out


class Sender:
    """Sends requests and records every answer that ECS would not give."""

    def __init__(self, endpoint: str) -> None:
        self.ecs = client(endpoint, "ecs")
        self.sd = client(endpoint, "servicediscovery")
        self.problems: list[str] = []
        self.sent = 0

    def members(self, operation: str) -> set[str]:
        return set(self.ecs.meta.service_model.operation_model(operation).input_shape.members)

    def send(self, what: str, call: Callable[..., Any], must_succeed: bool, **request: Any) -> Any:
        self.sent += 1
        try:
            return call(**request)
        except ClientError as err:
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500 or must_succeed:
                self.problems.append(f"{what}: HTTP {status}: {err}\n  request: {request}")
            return None


def ecs_request(sender: Sender, operation: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec's members that the ECS operation takes."""
    known = sender.members(operation)
    return {k: copy.deepcopy(v) for k, v in spec.items() if k in known and k not in NOT_ECS}


def without_each(request: dict[str, Any], keep: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in sorted(request):
        if key not in keep:
            yield f"without {key}", {k: v for k, v in request.items() if k != key}


def real_network(endpoint: str, request: dict[str, Any]) -> None:
    """Replace the examples' placeholder subnets and security groups with real ones
    (ECS and moto check that they exist)."""
    net = (request.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if not net:
        return
    ec2 = client(endpoint, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    net["subnets"] = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"]
        for i in range(len(net.get("subnets") or [1]))
    ]
    if net.get("securityGroups"):
        net["securityGroups"] = [
            ec2.create_security_group(GroupName=f"sg-{uuid.uuid4().hex[:8]}", Description="x", VpcId=vpc)[
                "GroupId"
            ]
        ]


def task_definition_variants(request: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "as in the example", request
    yield from without_each(request, {"family", "containerDefinitions"})
    task_level = copy.deepcopy(request)
    task_level.setdefault("cpu", "256")
    task_level.setdefault("memory", "512")
    for c in task_level["containerDefinitions"]:
        c.pop("memory", None)
        c.pop("memoryReservation", None)
    yield "memory only at task level", task_level
    container_level = copy.deepcopy(request)
    container_level.pop("cpu", None)
    container_level.pop("memory", None)
    container_level.pop("requiresCompatibilities", None)
    for c in container_level["containerDefinitions"]:
        c.setdefault("memory", 256)
    yield "memory only at container level", container_level
    reservation = copy.deepcopy(container_level)
    for c in reservation["containerDefinitions"]:
        c["memoryReservation"] = c.pop("memory")
    yield "memoryReservation only", reservation
    ec2 = copy.deepcopy(container_level)
    ec2.update(requiresCompatibilities=["EC2"], networkMode="bridge")
    for c in ec2["containerDefinitions"]:
        for m in c.get("portMappings") or []:
            m["hostPort"] = 0
    yield "EC2, bridge networking", ec2
    units = copy.deepcopy(task_level)
    units.update(cpu="0.25 vCPU", memory="0.5 GB")
    yield "task-level cpu and memory with units", units


def service_variants(request: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "as in the example", request
    yield from without_each(request, {"serviceName", "cluster", "taskDefinition"})
    yield "desiredCount 0", {**request, "desiredCount": 0}
    for enable, rollback in ((False, False), (True, False), (True, True)):
        config = copy.deepcopy(request.get("deploymentConfiguration") or {})
        config["deploymentCircuitBreaker"] = {"enable": enable, "rollback": rollback}
        yield f"circuit breaker enable={enable} rollback={rollback}", {
            **request,
            "deploymentConfiguration": config,
        }
    ec2 = {k: v for k, v in request.items() if k not in ("capacityProviderStrategy",)}
    yield "EC2 launch type", {**ec2, "launchType": "EC2"}


def run_task_variants(request: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "as in the example", request
    yield from without_each(request, {"cluster", "taskDefinition", "networkConfiguration"})
    yield "count 10", {**request, "count": 10}
    ec2 = {k: v for k, v in request.items() if k not in ("capacityProviderStrategy",)}
    yield "EC2 launch type, no container instances", {**ec2, "launchType": "EC2"}


def test_examples_and_their_variants_never_get_http_500(endpoint: str) -> None:
    sender = Sender(endpoint)
    ecs = sender.ecs
    examples = manifests()
    suffix = uuid.uuid4().hex[:6]

    # Cloud Map namespaces.
    for obj in examples.get("CloudMapNamespace", []):
        spec = obj["spec"]
        assert spec["type"] == "HTTP", "translate the other namespace types here"
        sender.send(
            "CreateHttpNamespace",
            sender.sd.create_http_namespace,
            True,
            Name=f"{spec['name']}-{suffix}",
            Description=spec.get("description", ""),
            Tags=[{"Key": t["key"], "Value": t["value"]} for t in spec.get("tags", [])],
        )

    # Capacity providers, before the clusters that use them.
    providers: dict[str, str] = {}
    for obj in examples.get("CapacityProvider", []):
        spec = obj["spec"]
        name = f"{obj['metadata']['name']}-{suffix}"
        group = {
            k: spec[k]
            for k in (
                "autoScalingGroupArn",
                "managedScaling",
                "managedTerminationProtection",
                "managedDraining",
            )
            if k in spec
        }
        sender.send(
            f"CreateCapacityProvider {name}",
            ecs.create_capacity_provider,
            True,
            name=name,
            autoScalingGroupProvider=group,
            tags=spec.get("tags", []),
        )
        providers[obj["metadata"]["name"]] = name

    # Clusters: settings are a map in the spec, a list in ECS.
    clusters: dict[str, str] = {}
    for obj in examples.get("ECSCluster", []):
        spec = obj["spec"]
        name = f"{obj['metadata']['name']}-{suffix}"
        request = ecs_request(sender, "CreateCluster", spec)
        request["clusterName"] = name
        request["settings"] = [
            {"name": k, "value": v} for k, v in (spec.get("settings") or {}).items()
        ]
        request["capacityProviders"] = list(spec.get("capacityProviders") or []) + [
            providers[r["name"]] for r in spec.get("capacityProviderRefs") or []
        ]
        for variant, req in [("as in the example", request), *without_each(request, {"clusterName"})]:
            sender.send(f"CreateCluster {variant}", ecs.create_cluster, variant == "as in the example", **req)
        # The last variant leaves something out; create the example last, as it is.
        sender.send("CreateCluster again", ecs.create_cluster, True, **request)
        clusters[obj["metadata"]["name"]] = name

    def cluster_of(spec: dict[str, Any]) -> str:
        if "clusterRef" in spec:
            return clusters[spec["clusterRef"]["name"]]
        return clusters.get(spec.get("cluster", ""), spec.get("cluster", "default"))

    # Task definitions: each variant registered, and run once.
    task_definitions: dict[str, str] = {}
    task_variants: list[tuple[str, str, dict[str, Any]]] = []
    for obj in examples.get("TaskDefinition", []):
        request = ecs_request(sender, "RegisterTaskDefinition", obj["spec"])
        request["family"] = f"{obj['metadata']['name']}-{suffix}"
        for variant, req in task_definition_variants(request):
            out = sender.send(
                f"RegisterTaskDefinition {obj['metadata']['name']} {variant}",
                ecs.register_task_definition,
                variant == "as in the example",
                **req,
            )
            if out:
                task_variants.append((variant, out["taskDefinition"]["taskDefinitionArn"], req))
        # The example itself is the latest revision, the one references resolve to.
        out = sender.send("RegisterTaskDefinition again", ecs.register_task_definition, True, **request)
        if out:
            task_definitions[obj["metadata"]["name"]] = out["taskDefinition"]["taskDefinitionArn"]

    # Services: each variant created, updated with its own settings, described.
    update_members = sender.members("UpdateService")
    for obj in examples.get("ECSService", []):
        spec = obj["spec"]
        request = ecs_request(sender, "CreateService", spec)
        request["cluster"] = cluster_of(spec)
        request["taskDefinition"] = task_definitions[spec["taskDefinitionRef"]["name"]]
        real_network(endpoint, request)
        variants = list(service_variants(request))
        variants += [
            (f"task definition {variant}", {**request, "taskDefinition": arn})
            for variant, arn, _ in task_variants
        ]
        for variant, req in variants:
            name = f"{obj['metadata']['name']}-{uuid.uuid4().hex[:8]}"
            what = f"CreateService {obj['metadata']['name']} {variant}"
            created = sender.send(
                what,
                ecs.create_service,
                variant == "as in the example",
                **{**req, "serviceName": name, "clientToken": uuid.uuid4().hex},
            )
            if not created:
                continue
            update = {k: v for k, v in req.items() if k in update_members and k != "cluster"}
            update.pop("launchType", None)
            sender.send(
                f"UpdateService {variant}",
                ecs.update_service,
                True,
                cluster=req["cluster"],
                service=name,
                **update,
            )
            sender.send(
                f"DescribeServices {variant}",
                ecs.describe_services,
                True,
                cluster=req["cluster"],
                services=[name],
            )

    # Tasks: ECSTask and the RunTask target of ECSScheduledTask.
    runs = [(o["metadata"]["name"], o["spec"]) for o in examples.get("ECSTask", [])] + [
        (o["metadata"]["name"], o["spec"]["task"]) for o in examples.get("ECSScheduledTask", [])
    ]
    for name, spec in runs:
        request = ecs_request(sender, "RunTask", spec)
        request["cluster"] = cluster_of(spec)
        request["taskDefinition"] = task_definitions[spec["taskDefinitionRef"]["name"]]
        real_network(endpoint, request)
        variants = list(run_task_variants(request))
        variants += [
            (f"task definition {variant}", {**request, "taskDefinition": arn})
            for variant, arn, td in task_variants
            # ECS refuses awsvpc settings for a bridge task and the reverse.
            if (td.get("networkMode") == "awsvpc") == ("networkConfiguration" in request)
        ]
        for variant, req in variants:
            out = sender.send(
                f"RunTask {name} {variant}",
                ecs.run_task,
                variant == "as in the example",
                **{**req, "clientToken": uuid.uuid4().hex},
            )
            arns = [t["taskArn"] for t in (out or {}).get("tasks", [])]
            if arns:
                sender.send(
                    f"DescribeTasks {variant}",
                    ecs.describe_tasks,
                    True,
                    cluster=req["cluster"],
                    tasks=arns,
                )
                sender.send(
                    f"StopTask {variant}", ecs.stop_task, True, cluster=req["cluster"], task=arns[0]
                )
        sender.send("ListTasks", ecs.list_tasks, True, cluster=request["cluster"])

    assert sender.sent > 100, f"only {sender.sent} requests: did the examples change?"
    assert not sender.problems, "\n".join(sender.problems)
