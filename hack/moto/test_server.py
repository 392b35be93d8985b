"""Tests for hack/moto/server.py (the moto launcher with the ECS scheduler
simulation).

Run with the python of the moto venv (requirements.txt plus
requirements-test.txt)::

    python -m pytest hack/moto/test_server.py

Each test starts from its own cluster; one server subprocess is shared by
the module (a second one, with --no-scheduler, by the plain-moto test).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

SERVER = Path(__file__).with_name("server.py")
ROLLOUT_DELAY = 1.0
TICK = 0.2
WAIT = 10.0  # bound for every eventual condition
STARTUP = 60.0  # importing moto takes a few seconds
FAILURE_TAG = "ecs-operator.dev/simulate-rollout-failure"
CONTAINERS = [{"name": "app", "image": "nginx:latest", "memory": 128}]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


@contextlib.contextmanager
def start_server(*extra: str) -> Iterator[str]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile()
    env = dict(os.environ)
    env.pop("MOTO_ECS_SERVICE_RUNNING", None)
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", str(port), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )

    def output(tail: int = 5000) -> str:
        log.seek(0)
        return log.read().decode(errors="replace")[-tail:]

    try:
        ecs = client(endpoint, "ecs")
        deadline = time.monotonic() + STARTUP
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{output()}")
            try:
                ecs.list_clusters()
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"server did not come up:\n{output()}")
                time.sleep(0.2)
        yield endpoint
        assert proc.poll() is None, f"server died:\n{output()}"
        assert "Traceback" not in output(tail=10**9), output(tail=20000)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with start_server("--rollout-delay", str(ROLLOUT_DELAY), "--tick", str(TICK)) as ep:
        yield ep


@pytest.fixture
def ecs(endpoint: str) -> Any:
    return client(endpoint, "ecs")


@pytest.fixture
def cluster(ecs: Any) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=name)
    return name


@pytest.fixture
def task_defs(ecs: Any) -> tuple[str, str, str]:
    """(family, td1 ARN, td2 ARN)."""
    family = f"web-{uuid.uuid4().hex[:8]}"
    arns = [
        ecs.register_task_definition(family=family, containerDefinitions=CONTAINERS)[
            "taskDefinition"
        ]["taskDefinitionArn"]
        for _ in range(2)
    ]
    return family, arns[0], arns[1]


def wait_for(what: str, fetch: Callable[[], Any], ok: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + WAIT
    value = fetch()
    while not ok(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        time.sleep(0.1)
        value = fetch()
    return value


def describe(ecs: Any, cluster: str, name: str) -> dict[str, Any]:
    out = ecs.describe_services(cluster=cluster, services=[name])
    assert not out["failures"], out["failures"]
    return out["services"][0]


def primary(svc: dict[str, Any]) -> dict[str, Any]:
    prims = [d for d in svc["deployments"] if d["status"] == "PRIMARY"]
    assert len(prims) == 1, svc["deployments"]
    return prims[0]


def steady(td: str, count: int) -> Callable[[dict[str, Any]], bool]:
    def ok(svc: dict[str, Any]) -> bool:
        deps = svc["deployments"]
        return (
            svc["status"] == "ACTIVE"
            and svc["taskDefinition"] == td
            and svc["runningCount"] == count
            and svc["pendingCount"] == 0
            and len(deps) == 1
            and deps[0]["status"] == "PRIMARY"
            and deps[0]["rolloutState"] == "COMPLETED"
            and deps[0]["taskDefinition"] == td
            and deps[0]["runningCount"] == count
        )

    return ok


def create_steady(
    ecs: Any, cluster: str, td: str, count: int = 2, **kwargs: Any
) -> tuple[str, dict[str, Any]]:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=count, **kwargs
    )
    svc = wait_for(
        f"{name} steady", lambda: describe(ecs, cluster, name), steady(td, count)
    )
    return name, svc


# ---------------------------------------------------------------------------


def test_create_service_reaches_steady_state(ecs: Any, cluster: str, task_defs: Any) -> None:
    family, td1, _ = task_defs
    # family:revision input is stored as the full ARN.
    created = ecs.create_service(
        cluster=cluster, serviceName="web", taskDefinition=f"{family}:1", desiredCount=2
    )["service"]
    assert created["taskDefinition"] == td1
    dep = primary(created)
    assert dep["rolloutState"] == "IN_PROGRESS"
    assert dep["runningCount"] == 0 and dep["pendingCount"] == 2
    assert dep["id"].startswith("ecs-svc/") and dep["id"][8:].isdigit()
    assert created["runningCount"] == 0 and created["pendingCount"] == 2

    svc = wait_for("steady state", lambda: describe(ecs, cluster, "web"), steady(td1, 2))
    dep = svc["deployments"][0]
    assert dep["id"] == primary(created)["id"]
    assert dep["rolloutStateReason"] == f"ECS deployment {dep['id']} completed."
    assert dep["desiredCount"] == 2 and dep["failedTasks"] == 0
    messages = [e["message"] for e in svc["events"]]
    assert messages[0] == "(service web) has reached a steady state."
    assert any(m.startswith("(service web) has started 2 tasks:") for m in messages)
    assert all(e["id"] and e["createdAt"] for e in svc["events"])

    c = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
    assert c["runningTasksCount"] == 2 and c["pendingTasksCount"] == 0


def test_update_task_definition_rolls_out(ecs: Any, cluster: str, task_defs: Any) -> None:
    family, td1, td2 = task_defs
    name, before = create_steady(ecs, cluster, td1)
    old_id = before["deployments"][0]["id"]

    updated = ecs.update_service(
        cluster=cluster, service=name, taskDefinition=f"{family}:2"
    )["service"]
    # The UpdateService response already shows the new deployment.
    assert updated["taskDefinition"] == td2
    deps = updated["deployments"]
    assert [d["status"] for d in deps] == ["PRIMARY", "ACTIVE"]
    new, old = deps
    assert new["id"] != old_id and old["id"] == old_id
    assert new["taskDefinition"] == td2 and old["taskDefinition"] == td1
    assert new["rolloutState"] == "IN_PROGRESS"
    assert (new["runningCount"], new["pendingCount"]) == (0, 2)
    assert old["runningCount"] == 2
    assert (updated["runningCount"], updated["pendingCount"]) == (2, 2)

    svc = wait_for("td2 rolled out", lambda: describe(ecs, cluster, name), steady(td2, 2))
    assert svc["deployments"][0]["id"] == new["id"]


def test_scaling_keeps_the_deployment(ecs: Any, cluster: str, task_defs: Any) -> None:
    _, td1, _ = task_defs
    name, before = create_steady(ecs, cluster, td1)
    dep_id = before["deployments"][0]["id"]

    updated = ecs.update_service(cluster=cluster, service=name, desiredCount=3)["service"]
    assert updated["desiredCount"] == 3
    assert (updated["runningCount"], updated["pendingCount"]) == (2, 1)
    assert [d["id"] for d in updated["deployments"]] == [dep_id]

    svc = wait_for("scaled to 3", lambda: describe(ecs, cluster, name), steady(td1, 3))
    assert svc["deployments"][0]["id"] == dep_id

    ecs.update_service(cluster=cluster, service=name, desiredCount=1)
    svc = wait_for("scaled to 1", lambda: describe(ecs, cluster, name), steady(td1, 1))
    assert svc["deployments"][0]["id"] == dep_id


def test_force_new_deployment(ecs: Any, cluster: str, task_defs: Any) -> None:
    _, td1, _ = task_defs
    name, before = create_steady(ecs, cluster, td1)
    old_id = before["deployments"][0]["id"]

    updated = ecs.update_service(cluster=cluster, service=name, forceNewDeployment=True)[
        "service"
    ]
    new, old = updated["deployments"]
    assert new["status"] == "PRIMARY" and new["id"] != old_id
    assert new["rolloutState"] == "IN_PROGRESS" and new["taskDefinition"] == td1
    assert old["status"] == "ACTIVE" and old["id"] == old_id

    svc = wait_for("forced rollout", lambda: describe(ecs, cluster, name), steady(td1, 2))
    assert svc["deployments"][0]["id"] == new["id"]


def test_failure_tag_fails_and_rolls_back(ecs: Any, cluster: str, task_defs: Any) -> None:
    _, td1, td2 = task_defs
    # The first deployment never fails, even with the tag.
    name, before = create_steady(
        ecs, cluster, td1, tags=[{"key": FAILURE_TAG, "value": "true"}]
    )
    first_id = before["deployments"][0]["id"]

    updated = ecs.update_service(cluster=cluster, service=name, taskDefinition=td2)[
        "service"
    ]
    failing_id = primary(updated)["id"]

    def failed(svc: dict[str, Any]) -> bool:
        return any(d["rolloutState"] == "FAILED" for d in svc["deployments"])

    svc = wait_for("rollout failure", lambda: describe(ecs, cluster, name), failed)
    bad = next(d for d in svc["deployments"] if d["rolloutState"] == "FAILED")
    assert bad["id"] == failing_id
    assert bad["status"] == "ACTIVE"
    assert bad["taskDefinition"] == td2
    assert bad["failedTasks"] > 0
    assert bad["runningCount"] == 0
    assert bad["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    # Circuit-breaker rollback: td1 is PRIMARY again, COMPLETED.
    back = primary(svc)
    assert back["taskDefinition"] == td1
    assert back["rolloutState"] == "COMPLETED"
    assert back["id"] not in (first_id, failing_id)
    assert back["runningCount"] == 2
    assert svc["taskDefinition"] == td1
    assert svc["runningCount"] == 2
    messages = [e["message"] for e in svc["events"]]
    assert f"(service {name}) (deployment {failing_id}) deployment failed: tasks failed to start." in messages

    # The failed deployment goes away and the service stays on td1.
    svc = wait_for("failed deployment gone", lambda: describe(ecs, cluster, name), steady(td1, 2))
    assert svc["deployments"][0]["id"] == back["id"]

    # Without the tag the same update succeeds.
    ecs.untag_resource(resourceArn=svc["serviceArn"], tagKeys=[FAILURE_TAG])
    ecs.update_service(cluster=cluster, service=name, taskDefinition=td2)
    wait_for("td2 rolled out", lambda: describe(ecs, cluster, name), steady(td2, 2))


def test_failure_tag_added_later(ecs: Any, cluster: str, task_defs: Any) -> None:
    _, td1, td2 = task_defs
    name, svc = create_steady(ecs, cluster, td1)
    ecs.tag_resource(resourceArn=svc["serviceArn"], tags=[{"key": FAILURE_TAG, "value": "true"}])
    ecs.update_service(cluster=cluster, service=name, taskDefinition=td2)
    svc = wait_for(
        "rollback",
        lambda: describe(ecs, cluster, name),
        lambda s: any(d["rolloutState"] == "FAILED" for d in s["deployments"]),
    )
    assert svc["taskDefinition"] == td1
    wait_for("failed deployment gone", lambda: describe(ecs, cluster, name), steady(td1, 2))


def test_delete_service_drains_then_inactive(ecs: Any, cluster: str, task_defs: Any) -> None:
    _, td1, _ = task_defs
    name, _ = create_steady(ecs, cluster, td1)

    with pytest.raises(ClientError) as err:
        ecs.delete_service(cluster=cluster, service=name)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"

    deleted = ecs.delete_service(cluster=cluster, service=name, force=True)["service"]
    assert deleted["status"] == "DRAINING"
    assert deleted["desiredCount"] == 0
    assert deleted["runningCount"] == 2
    assert describe(ecs, cluster, name)["status"] == "DRAINING"

    svc = wait_for(
        "INACTIVE",
        lambda: describe(ecs, cluster, name),
        lambda s: s["status"] == "INACTIVE",
    )
    assert (svc["runningCount"], svc["pendingCount"]) == (0, 0)

    with pytest.raises(ClientError) as err:
        ecs.update_service(cluster=cluster, service=name, desiredCount=1)
    assert err.value.response["Error"]["Code"] == "ServiceNotActiveException"

    c = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
    assert c["runningTasksCount"] == 0 and c["pendingTasksCount"] == 0


def test_delete_scaled_to_zero_without_force(ecs: Any, cluster: str, task_defs: Any) -> None:
    _, td1, _ = task_defs
    name, _ = create_steady(ecs, cluster, td1)
    ecs.update_service(cluster=cluster, service=name, desiredCount=0)
    wait_for("scaled to 0", lambda: describe(ecs, cluster, name), steady(td1, 0))
    assert ecs.delete_service(cluster=cluster, service=name)["service"]["status"] == "DRAINING"
    wait_for(
        "INACTIVE",
        lambda: describe(ecs, cluster, name),
        lambda s: s["status"] == "INACTIVE",
    )


def test_other_services_are_served(endpoint: str) -> None:
    client(endpoint, "servicediscovery").list_namespaces()
    client(endpoint, "ec2").describe_vpcs()
    client(endpoint, "sts").get_caller_identity()
    client(endpoint, "iam").list_roles()
    client(endpoint, "application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs"
    )
    client(endpoint, "cloudwatch").describe_alarms()
    client(endpoint, "scheduler").list_schedules()


def test_no_scheduler_is_plain_moto() -> None:
    with start_server("--no-scheduler") as endpoint:
        ecs = client(endpoint, "ecs")
        ecs.create_cluster(clusterName="plain")
        td = ecs.register_task_definition(family="plain", containerDefinitions=CONTAINERS)[
            "taskDefinition"
        ]["taskDefinitionArn"]
        ecs.create_service(cluster="plain", serviceName="s", taskDefinition=td, desiredCount=2)
        time.sleep(2 * ROLLOUT_DELAY)
        svc = describe(ecs, "plain", "s")
        assert svc["runningCount"] == 0
        assert svc["deployments"][0]["rolloutState"] == "IN_PROGRESS"
