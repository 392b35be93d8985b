"""Tests for hack/moto/server.py (the moto launcher with the ECS scheduler
simulation).

Run with the python of the moto venv (requirements.txt plus
requirements-test.txt)::

    python -m pytest hack/moto/test_server.py

Each test starts from its own cluster (and its own Cloud Map namespaces);
one server subprocess is shared by the module (a second one, with
--no-scheduler, by the plain-moto test).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

SERVER = Path(__file__).with_name("server.py")
ROLLOUT_DELAY = 1.0
CLOUDMAP_DELAY = 1.0
TASK_START_DELAY = 1.0
TASK_RUN_SECONDS = 1.5
TICK = 0.2
WAIT = 10.0  # bound for every eventual condition
STARTUP = 60.0  # importing moto takes a few seconds
FAILURE_TAG = "ecs-operator.dev/simulate-rollout-failure"
CONTAINERS = [{"name": "app", "image": "nginx:latest", "memory": 128}]
# ECS's deployment circuit breaker, as CreateService/UpdateService take it.
ROLLBACK = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
NO_ROLLBACK = {"deploymentCircuitBreaker": {"enable": True, "rollback": False}}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(endpoint: str, service: str, **config: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, **config),
    )


@contextlib.contextmanager
def start_server(*extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile()
    extra_env = env or {}
    env = dict(os.environ)
    env.pop("MOTO_ECS_SERVICE_RUNNING", None)
    env.pop("ECS_SIM_VISIBILITY_LAG", None)
    env.update(extra_env)
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
    with start_server(
        "--rollout-delay",
        str(ROLLOUT_DELAY),
        "--tick",
        str(TICK),
        "--cloudmap-operation-delay",
        str(CLOUDMAP_DELAY),
        "--task-start-delay",
        str(TASK_START_DELAY),
        "--task-run-seconds",
        str(TASK_RUN_SECONDS),
    ) as ep:
        yield ep


@pytest.fixture
def ecs(endpoint: str) -> Any:
    return client(endpoint, "ecs")


@pytest.fixture
def sd(endpoint: str) -> Any:
    # DiscoverInstances has the endpoint host prefix "data-": without
    # inject_host_prefix=False boto3 would call http://data-127.0.0.1:PORT.
    return client(endpoint, "servicediscovery", inject_host_prefix=False)


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
        ecs,
        cluster,
        td1,
        tags=[{"key": FAILURE_TAG, "value": "true"}],
        deploymentConfiguration=ROLLBACK,
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
    name, svc = create_steady(ecs, cluster, td1, deploymentConfiguration=ROLLBACK)
    ecs.tag_resource(resourceArn=svc["serviceArn"], tags=[{"key": FAILURE_TAG, "value": "true"}])
    ecs.update_service(cluster=cluster, service=name, taskDefinition=td2)
    svc = wait_for(
        "rollback",
        lambda: describe(ecs, cluster, name),
        lambda s: any(d["rolloutState"] == "FAILED" for d in s["deployments"]),
    )
    assert svc["taskDefinition"] == td1
    wait_for("failed deployment gone", lambda: describe(ecs, cluster, name), steady(td1, 2))


def test_without_circuit_breaker_a_failing_rollout_stays_in_progress(
    ecs: Any, cluster: str, task_defs: Any
) -> None:
    """ECS's default (circuit breaker off): failing tasks are replaced for ever;
    the deployment stays IN_PROGRESS while failedTasks climbs.  The previous
    simulation failed and rolled back every tagged service whatever its
    deploymentConfiguration."""
    _, td1, td2 = task_defs
    name, created = create_steady(ecs, cluster, td1, tags=[{"key": FAILURE_TAG, "value": "true"}])
    assert created["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": False,
        "rollback": False,
    }
    ecs.update_service(cluster=cluster, service=name, taskDefinition=td2)
    svc = wait_for(
        "failed tasks",
        lambda: describe(ecs, cluster, name),
        lambda s: primary(s)["failedTasks"] > 0,
    )
    first = primary(svc)["failedTasks"]
    svc = wait_for(
        "more failed tasks",
        lambda: describe(ecs, cluster, name),
        lambda s: primary(s)["failedTasks"] > first,
    )
    new = primary(svc)
    assert new["rolloutState"] == "IN_PROGRESS"
    assert new["taskDefinition"] == td2 and new["runningCount"] == 0
    assert svc["taskDefinition"] == td2
    # The old tasks keep serving.
    old = [d for d in svc["deployments"] if d["status"] == "ACTIVE"]
    assert [(d["taskDefinition"], d["runningCount"]) for d in old] == [(td1, 2)]
    messages = [e["message"] for e in svc["events"]]
    assert f"(service {name}) is unable to consistently start tasks successfully." in messages
    assert not any(d["rolloutState"] == "FAILED" for d in svc["deployments"])


def test_circuit_breaker_without_rollback_fails_in_place(
    ecs: Any, cluster: str, task_defs: Any
) -> None:
    _, td1, td2 = task_defs
    name, _ = create_steady(
        ecs,
        cluster,
        td1,
        tags=[{"key": FAILURE_TAG, "value": "true"}],
        deploymentConfiguration=NO_ROLLBACK,
    )
    ecs.update_service(cluster=cluster, service=name, taskDefinition=td2)
    svc = wait_for(
        "rollout failure",
        lambda: describe(ecs, cluster, name),
        lambda s: primary(s)["rolloutState"] == "FAILED",
    )
    failed = primary(svc)
    assert failed["taskDefinition"] == td2
    assert failed["failedTasks"] > 0 and failed["runningCount"] == 0
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    # No rollback: the service keeps td2, the old deployment its tasks.
    assert svc["taskDefinition"] == td2
    old = [d for d in svc["deployments"] if d["status"] == "ACTIVE"]
    assert [(d["taskDefinition"], d["runningCount"]) for d in old] == [(td1, 2)]
    assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"] == NO_ROLLBACK[
        "deploymentCircuitBreaker"
    ]
    # A later scale does not bring a rollback either; td1 is still not PRIMARY.
    ecs.update_service(cluster=cluster, service=name, desiredCount=3)
    svc = describe(ecs, cluster, name)
    assert primary(svc)["taskDefinition"] == td2 and primary(svc)["rolloutState"] == "FAILED"


def test_deployment_configuration_is_kept_and_merged(
    ecs: Any, cluster: str, task_defs: Any
) -> None:
    _, td1, _ = task_defs
    name, svc = create_steady(ecs, cluster, td1, deploymentConfiguration={"maximumPercent": 150})
    assert svc["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 150,
        "minimumHealthyPercent": 100,
    }
    updated = ecs.update_service(
        cluster=cluster, service=name, deploymentConfiguration=ROLLBACK
    )["service"]
    assert updated["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 150,
        "minimumHealthyPercent": 100,
    }
    assert describe(ecs, cluster, name)["deploymentConfiguration"] == updated[
        "deploymentConfiguration"
    ]


# --------------------------------------------------------------------------
# Idempotency (clientToken)


def error_code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_create_service_same_token_returns_the_first_service(
    ecs: Any, cluster: str, task_defs: Any
) -> None:
    _, td1, _ = task_defs
    name = f"svc-{uuid.uuid4().hex[:8]}"
    request = dict(
        cluster=cluster, serviceName=name, taskDefinition=td1, desiredCount=2, clientToken="t-1"
    )
    first = ecs.create_service(**request)["service"]
    again = ecs.create_service(**request)["service"]
    assert again["serviceArn"] == first["serviceArn"]
    # The same service, not a new one: same deployment, same creation time.
    assert again["deployments"][0]["id"] == first["deployments"][0]["id"]
    assert again["deployments"][0]["createdAt"] == first["deployments"][0]["createdAt"]
    assert ecs.list_services(cluster=cluster)["serviceArns"] == [first["serviceArn"]]


def test_create_service_with_the_name_of_an_active_service_is_refused(
    ecs: Any, cluster: str, task_defs: Any
) -> None:
    """Another token, no token, or the same token with other parameters: ECS
    answers InvalidParameterException "Creation of service was not
    idempotent." and leaves the service alone.  The previous simulation (plain
    moto) silently replaced the service with a new one, so a test counting
    "one ECS service per ECSService" could not see a duplicate CreateService."""
    _, td1, td2 = task_defs
    name, before = create_steady(ecs, cluster, td1, clientToken="t-1")
    for other in (
        {"clientToken": "t-2"},
        {},
        {"clientToken": "t-1", "taskDefinition": td2},
        {"clientToken": "t-1", "desiredCount": 3},
    ):
        request: dict[str, Any] = dict(
            cluster=cluster, serviceName=name, taskDefinition=td1, desiredCount=2
        )
        request.update(other)
        with pytest.raises(ClientError) as err:
            ecs.create_service(**request)
        assert error_code(err) == (
            "InvalidParameterException",
            "Creation of service was not idempotent.",
        ), other
    after = describe(ecs, cluster, name)
    assert after["deployments"] == before["deployments"]
    assert steady(td1, 2)(after)


def test_create_service_while_the_old_one_drains_is_refused(
    ecs: Any, cluster: str, task_defs: Any
) -> None:
    _, td1, _ = task_defs
    name, _ = create_steady(ecs, cluster, td1, clientToken="t-1")
    ecs.delete_service(cluster=cluster, service=name, force=True)
    with pytest.raises(ClientError) as err:
        ecs.create_service(
            cluster=cluster, serviceName=name, taskDefinition=td1, desiredCount=2, clientToken="t-2"
        )
    assert error_code(err) == (
        "InvalidParameterException",
        "Unable to Start a service that is still Draining.",
    )
    wait_for("INACTIVE", lambda: describe(ecs, cluster, name), lambda s: s["status"] == "INACTIVE")
    # INACTIVE: the name is free again, for a new token.
    created = ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td1, desiredCount=1, clientToken="t-2"
    )["service"]
    assert created["status"] == "ACTIVE"
    wait_for("recreated", lambda: describe(ecs, cluster, name), steady(td1, 1))


def test_a_used_token_with_other_parameters_is_refused_after_deletion(
    ecs: Any, cluster: str, task_defs: Any
) -> None:
    """ECS remembers a token (24 hours): reusing it for another request is
    refused even when the service it created is gone."""
    _, td1, td2 = task_defs
    name, _ = create_steady(ecs, cluster, td1, clientToken="t-1")
    ecs.delete_service(cluster=cluster, service=name, force=True)
    wait_for("INACTIVE", lambda: describe(ecs, cluster, name), lambda s: s["status"] == "INACTIVE")
    with pytest.raises(ClientError) as err:
        ecs.create_service(
            cluster=cluster, serviceName=name, taskDefinition=td2, desiredCount=2, clientToken="t-1"
        )
    assert error_code(err)[1] == "Creation of service was not idempotent."
    with pytest.raises(ClientError) as err:
        ecs.create_service(
            cluster=cluster,
            serviceName=f"{name}-other",
            taskDefinition=td1,
            desiredCount=2,
            clientToken="t-1",
        )
    assert error_code(err)[1] == "Creation of service was not idempotent."
    # Tokens are per cluster.
    other = f"c-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=other)
    ecs.create_service(
        cluster=other, serviceName=name, taskDefinition=td2, desiredCount=1, clientToken="t-1"
    )


def test_run_task_same_token_starts_nothing_new(ecs: Any, cluster: str) -> None:
    """The previous simulation ignored RunTask's clientToken: a retry after a
    lost answer started the tasks twice."""
    td = task_def(ecs)
    request = dict(
        cluster=cluster, taskDefinition=td, launchType="FARGATE", count=2, clientToken="run-1"
    )
    first = ecs.run_task(**request)["tasks"]
    again = ecs.run_task(**request)["tasks"]
    assert len(first) == 2
    assert sorted(t["taskArn"] for t in again) == sorted(t["taskArn"] for t in first)
    assert len(ecs.list_tasks(cluster=cluster)["taskArns"]) == 2

    with pytest.raises(ClientError) as err:
        ecs.run_task(**{**request, "count": 1})
    assert err.value.response["Error"]["Code"] == "ConflictException"
    assert sorted(err.value.response["resourceIds"]) == sorted(t["taskArn"] for t in first)
    assert len(ecs.list_tasks(cluster=cluster)["taskArns"]) == 2

    # Another token, or another cluster: new tasks.
    ecs.run_task(**{**request, "count": 1, "clientToken": "run-2"})
    assert len(ecs.list_tasks(cluster=cluster)["taskArns"]) == 3
    other = f"c-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=other)
    ecs.run_task(**{**request, "cluster": other})
    assert len(ecs.list_tasks(cluster=other)["taskArns"]) == 2


# --------------------------------------------------------------------------
# Eventual consistency (visibility lag)


def set_visibility_lag(endpoint: str, seconds: float) -> float:
    req = urllib.request.Request(
        f"{endpoint}/ecs-sim/visibility-lag", data=str(seconds).encode(), method="PUT"
    )
    with urllib.request.urlopen(req) as resp:
        return float(resp.read().decode())


@contextlib.contextmanager
def visibility_lag(endpoint: str, seconds: float) -> Iterator[None]:
    set_visibility_lag(endpoint, seconds)
    try:
        yield
    finally:
        set_visibility_lag(endpoint, 0)


def test_new_resources_show_in_reads_only_after_the_lag(
    endpoint: str, ecs: Any, cluster: str
) -> None:
    family = f"lag-{uuid.uuid4().hex[:8]}"
    td1 = ecs.register_task_definition(family=family, containerDefinitions=CONTAINERS)[
        "taskDefinition"
    ]["taskDefinitionArn"]
    with visibility_lag(endpoint, 60):
        td2 = ecs.register_task_definition(family=family, containerDefinitions=CONTAINERS)[
            "taskDefinition"
        ]
        # The creating call answers at once, with everything.
        assert td2["revision"] == 2
        td2_arn = td2["taskDefinitionArn"]
        assert ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"] == [td1]
        with pytest.raises(ClientError) as err:
            ecs.describe_task_definition(taskDefinition=td2_arn)
        assert error_code(err) == ("ClientException", "Unable to describe task definition.")
        # The family's latest revision is the latest one visible.
        latest = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        assert latest["taskDefinitionArn"] == td1

        tasks = ecs.run_task(cluster=cluster, taskDefinition=td1, launchType="FARGATE", count=2)[
            "tasks"
        ]
        assert len(tasks) == 2
        assert ecs.list_tasks(cluster=cluster)["taskArns"] == []
        assert ecs.describe_tasks(cluster=cluster, tasks=[t["taskArn"] for t in tasks])[
            "tasks"
        ] == []
        # Other calls see the task: StopTask of a task just started works.
        ecs.stop_task(cluster=cluster, task=tasks[0]["taskArn"])

        name = f"svc-{uuid.uuid4().hex[:8]}"
        created = ecs.create_service(
            cluster=cluster, serviceName=name, taskDefinition=td2_arn, desiredCount=1
        )["service"]
        assert created["status"] == "ACTIVE"
        assert ecs.list_services(cluster=cluster)["serviceArns"] == []
        out = ecs.describe_services(cluster=cluster, services=[name])
        assert out["services"] == []
        assert out["failures"] == [{"arn": created["serviceArn"], "reason": "MISSING"}]

    # Shortened lag for what comes next; what was created above stays hidden.
    with visibility_lag(endpoint, 0.5):
        job = run_one(ecs, cluster, td1)["taskArn"]
        assert ecs.list_tasks(cluster=cluster)["taskArns"] == []
        listed = wait_for(
            "the task to show",
            lambda: ecs.list_tasks(cluster=cluster)["taskArns"],
            lambda arns: arns != [],
        )
        assert listed == [job]
        assert ecs.list_services(cluster=cluster)["serviceArns"] == []


def test_tasks_of_one_run_task_surface_one_by_one(endpoint: str, ecs: Any, cluster: str) -> None:
    """A ListTasks during the lag can see part of one RunTask's tasks, as ECS's can: a
    client that counts its launches by what it lists would start the rest again."""
    td = ecs.register_task_definition(
        family=f"part-{uuid.uuid4().hex[:8]}", containerDefinitions=CONTAINERS
    )["taskDefinition"]["taskDefinitionArn"]
    with visibility_lag(endpoint, 3):
        started = ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE", count=3)[
            "tasks"
        ]
        assert len(started) == 3
        first = wait_for(
            "the first task to show",
            lambda: ecs.list_tasks(cluster=cluster)["taskArns"],
            lambda arns: arns != [],
        )
        assert 0 < len(first) < 3, first
        every = wait_for(
            "every task to show",
            lambda: ecs.list_tasks(cluster=cluster)["taskArns"],
            lambda arns: len(arns) == 3,
        )
        assert sorted(every) == sorted(t["taskArn"] for t in started)


def test_visibility_lag_from_the_environment() -> None:
    with start_server(env={"ECS_SIM_VISIBILITY_LAG": "30"}) as endpoint:
        ecs = client(endpoint, "ecs")
        ecs.create_cluster(clusterName="lagged")
        td = ecs.register_task_definition(family="lagged", containerDefinitions=CONTAINERS)[
            "taskDefinition"
        ]["taskDefinitionArn"]
        assert ecs.list_task_definitions()["taskDefinitionArns"] == []
        assert set_visibility_lag(endpoint, 0) == 0
        assert ecs.list_task_definitions()["taskDefinitionArns"] == []
        td2 = ecs.register_task_definition(family="lagged", containerDefinitions=CONTAINERS)[
            "taskDefinition"
        ]["taskDefinitionArn"]
        assert ecs.list_task_definitions()["taskDefinitionArns"] == [td2]
        assert td != td2


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


# --------------------------------------------------------------------------
# Standalone tasks (RunTask / StopTask)


def task_def(ecs: Any, containers: list[dict[str, Any]] | None = None) -> str:
    family = f"job-{uuid.uuid4().hex[:8]}"
    return ecs.register_task_definition(
        family=family, containerDefinitions=containers or CONTAINERS
    )["taskDefinition"]["taskDefinitionArn"]


def env(**values: Any) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in values.items()]


def run_one(ecs: Any, cluster: str, td: str, **kwargs: Any) -> dict[str, Any]:
    out = ecs.run_task(
        cluster=cluster, taskDefinition=td, launchType="FARGATE", startedBy="test", **kwargs
    )
    assert not out["failures"], out["failures"]
    assert len(out["tasks"]) == 1
    return out["tasks"][0]


def describe_task(ecs: Any, cluster: str, arn: str) -> dict[str, Any]:
    return ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]


def exit_codes(task: dict[str, Any]) -> dict[str, Any]:
    return {c["name"]: c.get("exitCode") for c in task["containers"]}


def test_task_state_follows_elapsed_time_not_describe_calls(ecs: Any, cluster: str) -> None:
    td = task_def(ecs)
    started = time.monotonic()
    task = run_one(ecs, cluster, td)
    assert task["lastStatus"] == "PROVISIONING"
    assert task["desiredStatus"] == "RUNNING"
    assert "createdAt" in task and "startedAt" not in task
    # Describing often does not hurry the task along (plain moto moves it one
    # state per DescribeTasks).
    for _ in range(10):
        t = describe_task(ecs, cluster, task["taskArn"])
        if time.monotonic() - started < 0.8 * TASK_START_DELAY:
            assert t["lastStatus"] in ("PROVISIONING", "PENDING"), t["lastStatus"]
            assert all("exitCode" not in c for c in t["containers"])
    running = wait_for(
        "RUNNING",
        lambda: describe_task(ecs, cluster, task["taskArn"]),
        lambda t: t["lastStatus"] == "RUNNING",
    )
    assert time.monotonic() - started >= 0.9 * TASK_START_DELAY
    assert "startedAt" in running and "stopCode" not in running
    assert [c["lastStatus"] for c in running["containers"]] == ["RUNNING"]
    # Not looked at until well after it ended: the task still stopped on time.
    time.sleep(TASK_START_DELAY + TASK_RUN_SECONDS + TASK_START_DELAY / 2 + 0.3)
    stopped = describe_task(ecs, cluster, task["taskArn"])
    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["stoppedReason"] == "Essential container in task exited"
    assert exit_codes(stopped) == {"app": 0}
    ran = (stopped["executionStoppedAt"] - stopped["startedAt"]).total_seconds()
    assert abs(ran - TASK_RUN_SECONDS) < 0.2, ran
    assert stopped["startedAt"] <= stopped["stoppingAt"] <= stopped["stoppedAt"]
    listed = ecs.list_tasks(cluster=cluster, startedBy="test", desiredStatus="STOPPED")
    assert task["taskArn"] in listed["taskArns"]
    listed = ecs.list_tasks(cluster=cluster, startedBy="test", desiredStatus="RUNNING")
    assert task["taskArn"] not in listed["taskArns"]


def test_run_time_and_exit_codes_come_from_the_containers_environment(
    ecs: Any, cluster: str
) -> None:
    td = task_def(
        ecs,
        [
            {
                "name": "app",
                "image": "busybox",
                "memory": 128,
                "environment": env(ECS_SIM_EXIT_CODE=1, ECS_SIM_RUN_SECONDS=30),
            },
            {
                "name": "sidecar",
                "image": "busybox",
                "memory": 64,
                "environment": env(ECS_SIM_EXIT_CODE=2),
            },
            {"name": "logs", "image": "busybox", "memory": 64},
        ],
    )
    # The task definition's values apply...
    slow = run_one(ecs, cluster, td)
    assert [c["name"] for c in slow["containers"]] == ["app", "sidecar", "logs"]
    # ... unless RunTask's containerOverrides replace them.
    fast = run_one(
        ecs,
        cluster,
        td,
        overrides={
            "containerOverrides": [
                {"name": "app", "environment": env(ECS_SIM_EXIT_CODE=3, ECS_SIM_RUN_SECONDS=0.5)}
            ]
        },
    )
    stopped = wait_for(
        "the overridden task STOPPED",
        lambda: describe_task(ecs, cluster, fast["taskArn"]),
        lambda t: t["lastStatus"] == "STOPPED",
    )
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert exit_codes(stopped) == {"app": 3, "sidecar": 2, "logs": 0}
    assert all(c["lastStatus"] == "STOPPED" for c in stopped["containers"])
    still = describe_task(ecs, cluster, slow["taskArn"])
    assert still["lastStatus"] == "RUNNING"
    assert still["desiredStatus"] == "RUNNING"


def test_stop_task_is_user_initiated(ecs: Any, cluster: str) -> None:
    td = task_def(ecs)
    long_run = {"containerOverrides": [{"name": "app", "environment": env(ECS_SIM_RUN_SECONDS=60)}]}
    task = run_one(ecs, cluster, td, overrides=long_run)
    wait_for(
        "RUNNING",
        lambda: describe_task(ecs, cluster, task["taskArn"]),
        lambda t: t["lastStatus"] == "RUNNING",
    )
    out = ecs.stop_task(cluster=cluster, task=task["taskArn"], reason="deadline")["task"]
    # Like ECS: desiredStatus at once, lastStatus once the containers stopped.
    assert out["desiredStatus"] == "STOPPED"
    assert out["lastStatus"] == "RUNNING"
    assert out["stopCode"] == "UserInitiated"
    assert out["stoppedReason"] == "deadline"
    stopped = wait_for(
        "STOPPED",
        lambda: describe_task(ecs, cluster, task["taskArn"]),
        lambda t: t["lastStatus"] == "STOPPED",
    )
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "deadline"
    assert exit_codes(stopped) == {"app": 143}  # SIGTERM
    # Stopping again changes nothing.
    again = ecs.stop_task(cluster=cluster, task=task["taskArn"], reason="again")["task"]
    assert again["stoppedReason"] == "deadline"

    # A task stopped before it ran never runs and has no exit codes.
    early = run_one(ecs, cluster, td)
    ecs.stop_task(cluster=cluster, task=early["taskArn"])
    stopped = wait_for(
        "STOPPED",
        lambda: describe_task(ecs, cluster, early["taskArn"]),
        lambda t: t["lastStatus"] == "STOPPED",
    )
    assert "startedAt" not in stopped
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "Task stopped by user"
    assert exit_codes(stopped) == {"app": None}


# --------------------------------------------------------------------------
# Cloud Map


def error_of(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, dict[str, Any]]:
    resp = err.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp


def wait_operation(sd: Any, op_id: str) -> dict[str, Any]:
    return wait_for(
        f"operation {op_id} done",
        lambda: sd.get_operation(OperationId=op_id)["Operation"],
        lambda op: op["Status"] in ("SUCCESS", "FAIL"),
    )


def http_namespace(sd: Any, prefix: str = "ns") -> tuple[str, str]:
    """(namespace id, name) of a new HTTP namespace, once created."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    op = wait_operation(sd, sd.create_http_namespace(Name=name)["OperationId"])
    assert op["Status"] == "SUCCESS", op
    return op["Targets"]["NAMESPACE"], name


def cm_service(sd: Any, ns_id: str, name: str = "web") -> dict[str, Any]:
    return sd.create_service(Name=name, NamespaceId=ns_id)["Service"]


def instances(sd: Any, service_id: str) -> dict[str, dict[str, str]]:
    return {
        i["Id"]: i["Attributes"]
        for i in sd.list_instances(ServiceId=service_id)["Instances"]
    }


def wait_instances(sd: Any, service_id: str, n: int) -> dict[str, dict[str, str]]:
    return wait_for(
        f"{n} instances in {service_id}",
        lambda: instances(sd, service_id),
        lambda got: len(got) == n,
    )


def test_service_registries_follow_running_tasks(
    ecs: Any, sd: Any, cluster: str, task_defs: Any
) -> None:
    family, td1, td2 = task_defs
    ns_id, ns_name = http_namespace(sd)
    cms = cm_service(sd, ns_id)
    registries = [{"registryArn": cms["Arn"], "containerName": "app", "containerPort": 8080}]

    name = f"svc-{uuid.uuid4().hex[:8]}"
    created = ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=td1,
        desiredCount=2,
        serviceRegistries=registries,
    )["service"]
    assert created["serviceRegistries"] == registries
    # Nothing is registered before the tasks run.
    assert instances(sd, cms["Id"]) == {}
    svc = wait_for("steady", lambda: describe(ecs, cluster, name), steady(td1, 2))
    assert svc["serviceRegistries"] == registries

    got = wait_instances(sd, cms["Id"], 2)
    ips = set()
    for instance_id, attrs in got.items():
        assert len(instance_id) == 32 and int(instance_id, 16) >= 0
        assert attrs["AWS_INSTANCE_IPV4"].startswith("10.")
        ips.add(attrs["AWS_INSTANCE_IPV4"])
        assert attrs["AWS_INSTANCE_PORT"] == "8080"
        assert attrs["AWS_INIT_HEALTH_STATUS"] == "HEALTHY"
        assert attrs["ECS_CLUSTER_NAME"] == cluster
        assert attrs["ECS_SERVICE_NAME"] == name
        assert attrs["ECS_TASK_DEFINITION_FAMILY"] == family
        assert attrs["AVAILABILITY_ZONE"] in ("us-east-1a", "us-east-1b", "us-east-1c")
        assert attrs["REGION"] == "us-east-1"
    assert len(ips) == 2

    found = sd.discover_instances(NamespaceName=ns_name, ServiceName="web")["Instances"]
    assert {i["InstanceId"] for i in found} == set(got)
    assert all(i["HealthStatus"] == "HEALTHY" for i in found)

    # Scale up and down: one instance per running task; survivors keep their id.
    ecs.update_service(cluster=cluster, service=name, desiredCount=3)
    wait_for("scaled to 3", lambda: describe(ecs, cluster, name), steady(td1, 3))
    three = wait_instances(sd, cms["Id"], 3)
    assert set(got) <= set(three)
    ecs.update_service(cluster=cluster, service=name, desiredCount=1)
    wait_for("scaled to 1", lambda: describe(ecs, cluster, name), steady(td1, 1))
    one = wait_instances(sd, cms["Id"], 1)
    assert set(one) <= set(three)

    # A rollout keeps the old task registered until the new one runs.
    ecs.update_service(cluster=cluster, service=name, taskDefinition=td2)
    assert set(instances(sd, cms["Id"])) == set(one)
    wait_for("td2 rolled out", lambda: describe(ecs, cluster, name), steady(td2, 1))
    new = wait_for(
        "instance replaced",
        lambda: instances(sd, cms["Id"]),
        lambda got: len(got) == 1 and not set(got) & set(one),
    )
    assert list(new.values())[0]["ECS_TASK_DEFINITION_FAMILY"] == family


def test_service_registry_switch_moves_instances(
    ecs: Any, sd: Any, cluster: str, task_defs: Any
) -> None:
    _, td1, _ = task_defs
    ns_id, _ = http_namespace(sd)
    old = cm_service(sd, ns_id, "old")
    new = cm_service(sd, ns_id, "new")
    name, before = create_steady(
        ecs, cluster, td1, serviceRegistries=[{"registryArn": old["Arn"], "port": 80}]
    )
    old_ids = wait_instances(sd, old["Id"], 2)
    assert all(a["AWS_INSTANCE_PORT"] == "80" for a in old_ids.values())

    registries = [{"registryArn": new["Arn"]}]
    updated = ecs.update_service(cluster=cluster, service=name, serviceRegistries=registries)[
        "service"
    ]
    # A new deployment, as in ECS; the old tasks stay where they were.
    assert updated["serviceRegistries"] == registries
    assert primary(updated)["id"] != before["deployments"][0]["id"]
    assert primary(updated)["rolloutState"] == "IN_PROGRESS"
    assert set(instances(sd, old["Id"])) == set(old_ids)
    assert instances(sd, new["Id"]) == {}

    wait_for("rolled out", lambda: describe(ecs, cluster, name), steady(td1, 2))
    moved = wait_instances(sd, new["Id"], 2)
    assert all("AWS_INSTANCE_PORT" not in a for a in moved.values())
    wait_instances(sd, old["Id"], 0)
    # Nothing registered in "old" any more: it can be deleted.
    sd.delete_service(Id=old["Id"])


def test_rollback_restores_service_registries(
    ecs: Any, sd: Any, cluster: str, task_defs: Any
) -> None:
    _, td1, td2 = task_defs
    ns_id, _ = http_namespace(sd)
    old = cm_service(sd, ns_id, "old")
    new = cm_service(sd, ns_id, "new")
    registries = [{"registryArn": old["Arn"]}]
    name, _ = create_steady(
        ecs,
        cluster,
        td1,
        serviceRegistries=registries,
        tags=[{"key": FAILURE_TAG, "value": "true"}],
        deploymentConfiguration=ROLLBACK,
    )
    ids = wait_instances(sd, old["Id"], 2)
    ecs.update_service(
        cluster=cluster,
        service=name,
        taskDefinition=td2,
        serviceRegistries=[{"registryArn": new["Arn"]}],
    )
    svc = wait_for(
        "rollback",
        lambda: describe(ecs, cluster, name),
        lambda s: any(d["rolloutState"] == "FAILED" for d in s["deployments"]),
    )
    assert svc["taskDefinition"] == td1
    assert svc["serviceRegistries"] == registries
    wait_for("failed deployment gone", lambda: describe(ecs, cluster, name), steady(td1, 2))
    # The old tasks never stopped: same instances, nothing in "new".
    assert set(instances(sd, old["Id"])) == set(ids)
    assert instances(sd, new["Id"]) == {}


def test_deleted_service_deregisters_its_instances(
    ecs: Any, sd: Any, cluster: str, task_defs: Any
) -> None:
    _, td1, _ = task_defs
    ns_id, _ = http_namespace(sd)
    cms = cm_service(sd, ns_id)
    name, _ = create_steady(ecs, cluster, td1, serviceRegistries=[{"registryArn": cms["Arn"]}])
    wait_instances(sd, cms["Id"], 2)

    assert ecs.delete_service(cluster=cluster, service=name, force=True)["service"][
        "status"
    ] == "DRAINING"
    # The tasks are still draining: still registered.
    assert len(instances(sd, cms["Id"])) == 2
    wait_for("INACTIVE", lambda: describe(ecs, cluster, name), lambda s: s["status"] == "INACTIVE")
    wait_instances(sd, cms["Id"], 0)
    sd.delete_service(Id=cms["Id"])
    op = wait_operation(sd, sd.delete_namespace(Id=ns_id)["OperationId"])
    assert op["Status"] == "SUCCESS"


def test_cloudmap_resource_in_use(sd: Any) -> None:
    ns_id, _ = http_namespace(sd)
    cms = cm_service(sd, ns_id)
    sd.register_instance(
        ServiceId=cms["Id"], InstanceId="i-1", Attributes={"AWS_INSTANCE_IPV4": "10.9.9.9"}
    )
    # Re-registering the same id replaces it (moto would keep two).
    sd.register_instance(
        ServiceId=cms["Id"], InstanceId="i-1", Attributes={"AWS_INSTANCE_IPV4": "10.9.9.8"}
    )
    assert instances(sd, cms["Id"]) == {"i-1": {"AWS_INSTANCE_IPV4": "10.9.9.8"}}

    with pytest.raises(ClientError) as err:
        sd.delete_service(Id=cms["Id"])
    code, status, resp = error_of(err)
    assert (code, status) == ("ResourceInUse", 409)
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ResourceInUse"
    assert "registered instances" in resp["Error"]["Message"]

    with pytest.raises(ClientError) as err:
        sd.delete_namespace(Id=ns_id)
    code, status, resp = error_of(err)
    assert (code, status) == ("ResourceInUse", 409)
    assert "services" in resp["Error"]["Message"]

    sd.deregister_instance(ServiceId=cms["Id"], InstanceId="i-1")
    sd.delete_service(Id=cms["Id"])
    with pytest.raises(ClientError) as err:
        sd.delete_service(Id=cms["Id"])
    assert error_of(err)[0] == "ServiceNotFound"
    op = wait_operation(sd, sd.delete_namespace(Id=ns_id)["OperationId"])
    assert op["Status"] == "SUCCESS"


def test_namespace_operations_are_asynchronous(sd: Any) -> None:
    name = f"async-{uuid.uuid4().hex[:8]}"
    op_id = sd.create_http_namespace(Name=name, CreatorRequestId="req-1")["OperationId"]
    op = sd.get_operation(OperationId=op_id)["Operation"]
    assert op["Status"] in ("SUBMITTED", "PENDING")
    assert op["Type"] == "CREATE_NAMESPACE"
    ns_id = op["Targets"]["NAMESPACE"]
    # Not visible until the operation succeeded.
    with pytest.raises(ClientError) as err:
        sd.get_namespace(Id=ns_id)
    assert error_of(err)[0] == "NamespaceNotFound"
    assert ns_id not in [n["Id"] for n in sd.list_namespaces()["Namespaces"]]
    with pytest.raises(ClientError) as err:
        sd.create_service(Name="web", NamespaceId=ns_id)
    assert error_of(err)[0] == "NamespaceNotFound"
    # Same name while it is being created: DuplicateRequest with the operation.
    with pytest.raises(ClientError) as err:
        sd.create_http_namespace(Name=name, CreatorRequestId="req-1")
    code, status, resp = error_of(err)
    assert (code, status) == ("DuplicateRequest", 409)
    assert resp["DuplicateOperationId"] == op_id

    op = wait_for(
        "PENDING",
        lambda: sd.get_operation(OperationId=op_id)["Operation"],
        lambda op: op["Status"] != "SUBMITTED",
    )
    assert op["Status"] == "PENDING"
    started = time.monotonic()
    op = wait_operation(sd, op_id)
    assert op["Status"] == "SUCCESS"
    assert "ErrorCode" not in op
    assert time.monotonic() - started < CLOUDMAP_DELAY + 1
    assert op["UpdateDate"] > op["CreateDate"]
    assert sd.get_namespace(Id=ns_id)["Namespace"]["Name"] == name
    statuses = {
        o["Id"]: o["Status"]
        for o in sd.list_operations(
            Filters=[{"Name": "NAMESPACE_ID", "Values": [ns_id], "Condition": "EQ"}]
        )["Operations"]
    }
    assert statuses == {op_id: "SUCCESS"}

    # Now it exists: NamespaceAlreadyExists, with its id and request id.
    with pytest.raises(ClientError) as err:
        sd.create_http_namespace(Name=name)
    code, status, resp = error_of(err)
    assert (code, status) == ("NamespaceAlreadyExists", 400)
    assert resp["NamespaceId"] == ns_id and resp["CreatorRequestId"] == "req-1"

    # Updates: applied at once, operation status lags.
    upd = sd.update_http_namespace(Id=ns_id, Namespace={"Description": "d"})["OperationId"]
    assert sd.get_operation(OperationId=upd)["Operation"]["Status"] in ("SUBMITTED", "PENDING")
    assert wait_operation(sd, upd)["Status"] == "SUCCESS"

    # Deletion: still visible while the operation runs.
    del_id = sd.delete_namespace(Id=ns_id)["OperationId"]
    assert sd.get_operation(OperationId=del_id)["Operation"]["Status"] in ("SUBMITTED", "PENDING")
    assert sd.get_namespace(Id=ns_id)["Namespace"]["Id"] == ns_id
    with pytest.raises(ClientError) as err:
        sd.delete_namespace(Id=ns_id)
    assert error_of(err)[2]["DuplicateOperationId"] == del_id
    assert wait_operation(sd, del_id)["Status"] == "SUCCESS"
    with pytest.raises(ClientError) as err:
        sd.get_namespace(Id=ns_id)
    assert error_of(err)[0] == "NamespaceNotFound"
    # Operations outlive their namespace (moto's ListOperations dropped them).
    listed = {o["Id"] for o in sd.list_operations()["Operations"]}
    assert {op_id, upd, del_id} <= listed
    assert sd.get_operation(OperationId=op_id)["Operation"]["Status"] == "SUCCESS"


def test_namespace_simulate_fail(sd: Any) -> None:
    name = f"x-simulate-fail-{uuid.uuid4().hex[:8]}"
    op_id = sd.create_private_dns_namespace(Name=name, Vpc="vpc-fail")["OperationId"]
    op = wait_operation(sd, op_id)
    assert op["Status"] == "FAIL"
    assert op["ErrorCode"] == "CANNOT_CREATE_HOSTED_ZONE"
    assert op["ErrorMessage"].startswith("The VPC does not exist")
    with pytest.raises(ClientError) as err:
        sd.get_namespace(Id=op["Targets"]["NAMESPACE"])
    assert error_of(err)[0] == "NamespaceNotFound"
    failed = sd.list_operations(Filters=[{"Name": "STATUS", "Values": ["FAIL"]}])["Operations"]
    assert {"Id": op_id, "Status": "FAIL"} in failed


def test_private_dns_namespaces_share_a_vpc(sd: Any) -> None:
    vpc = f"vpc-{uuid.uuid4().hex[:8]}"
    ops = [
        sd.create_private_dns_namespace(Name=f"{n}-{vpc}.local", Vpc=vpc)["OperationId"]
        for n in ("a", "b")
    ]
    assert [wait_operation(sd, o)["Status"] for o in ops] == ["SUCCESS", "SUCCESS"]
    names = {
        n["Name"]
        for n in sd.list_namespaces(
            Filters=[{"Name": "NAME", "Values": [f"a-{vpc}"], "Condition": "BEGINS_WITH"}]
        )["Namespaces"]
    }
    assert names == {f"a-{vpc}.local"}


def test_list_services_filter_and_paging(sd: Any) -> None:
    ns1, _ = http_namespace(sd)
    ns2, _ = http_namespace(sd)
    for n in ("a", "b", "c"):
        cm_service(sd, ns1, n)
    cm_service(sd, ns2, "a")
    with pytest.raises(ClientError) as err:
        cm_service(sd, ns1, "a")
    code, _, resp = error_of(err)
    assert code == "ServiceAlreadyExists" and resp["ServiceId"].startswith("srv-")

    f = [{"Name": "NAMESPACE_ID", "Values": [ns1], "Condition": "EQ"}]
    first = sd.list_services(Filters=f, MaxResults=2)
    assert len(first["Services"]) == 2 and first["NextToken"]
    rest = sd.list_services(Filters=f, MaxResults=2, NextToken=first["NextToken"])
    assert "NextToken" not in rest
    assert {s["Name"] for s in first["Services"] + rest["Services"]} == {"a", "b", "c"}


def test_discover_instances_host_prefix(endpoint: str, sd: Any) -> None:
    # The API model gives DiscoverInstances the host prefix "data-"; botocore
    # applies it to a custom endpoint_url unless inject_host_prefix=False.
    class Stop(Exception):
        pass

    seen: list[str] = []

    def stop(request: Any, **_: Any) -> None:
        seen.append(request.url)
        raise Stop  # do not try to resolve data-127.0.0.1

    def record(request: Any, **_: Any) -> None:
        seen.append(request.url)

    default = client(endpoint, "servicediscovery")
    default.meta.events.register("before-send", stop)
    with pytest.raises(Stop):
        default.discover_instances(NamespaceName="none", ServiceName="none")
    assert seen == [endpoint.replace("http://", "http://data-") + "/"]

    seen.clear()
    sd.meta.events.register("before-send", record)
    with pytest.raises(ClientError) as err:
        sd.discover_instances(NamespaceName="none", ServiceName="none")
    assert error_of(err)[0] == "NamespaceNotFound"
    assert seen == [endpoint + "/"]


def test_awsvpc_task_runs_in_a_vpc_without_dns_hostnames(endpoint: str, ecs: Any, cluster: str) -> None:
    ec2 = client(endpoint, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    family = f"vpcjob-{uuid.uuid4().hex[:8]}"
    td = ecs.register_task_definition(
        family=family, networkMode="awsvpc", containerDefinitions=CONTAINERS
    )["taskDefinition"]["taskDefinitionArn"]
    task = run_one(
        ecs,
        cluster,
        td,
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}},
    )
    wait_for(
        "the awsvpc task to stop on its own",
        lambda: describe_task(ecs, cluster, task["taskArn"]),
        lambda t: t["lastStatus"] == "STOPPED",
    )


# --------------------------------------------------------------------------
# moto crashes (HTTP 500) on input ECS accepts


def test_run_task_with_memory_only_at_task_level(endpoint: str, ecs: Any, cluster: str) -> None:
    """Normal for Fargate; plain moto's RunTask added the containers' missing
    memory (None) and answered HTTP 500."""
    ec2 = client(endpoint, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
    td = ecs.register_task_definition(
        family=f"fargate-{uuid.uuid4().hex[:8]}",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx:latest"}],
    )["taskDefinition"]["taskDefinitionArn"]
    task = run_one(
        ecs, cluster, td, networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}}
    )
    assert [c["name"] for c in task["containers"]] == ["app"]
    wait_for(
        "the task to run",
        lambda: describe_task(ecs, cluster, task["taskArn"]),
        lambda t: t["lastStatus"] == "RUNNING",
    )


def test_ec2_run_task_without_container_instances_is_a_failure(ecs: Any, cluster: str) -> None:
    """ECS answers with a failure and no task; plain moto raised (HTTP 500)."""
    out = ecs.run_task(cluster=cluster, taskDefinition=task_def(ecs), launchType="EC2")
    assert out["tasks"] == []
    assert [f["reason"] for f in out["failures"]] == [
        "No Container Instances were found in your cluster."
    ]


# ---------------------------------------------------------------------------
# Service fields moto drops on CreateService; Service Connect per deployment.

TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"


def test_create_service_keeps_the_fields_moto_drops(
    ecs: Any, cluster: str, task_defs: Any
) -> None:
    _, td1, _ = task_defs
    created = ecs.create_service(
        cluster=cluster,
        serviceName="full",
        taskDefinition=td1,
        desiredCount=1,
        healthCheckGracePeriodSeconds=30,
        placementConstraints=[{"type": "distinctInstance"}],
        placementStrategy=[{"type": "spread", "field": "instanceId"}],
        enableExecuteCommand=True,
        enableECSManagedTags=True,
        deploymentConfiguration={"maximumPercent": 150},
        loadBalancers=[{"targetGroupArn": TARGET_GROUP, "containerName": "app", "containerPort": 80}],
    )["service"]
    svc = describe(ecs, cluster, "full")
    for seen in (created, svc):
        assert seen["healthCheckGracePeriodSeconds"] == 30
        assert seen["placementConstraints"] == [{"type": "distinctInstance"}]
        assert seen["placementStrategy"] == [{"type": "spread", "field": "instanceId"}]
        assert seen["enableExecuteCommand"] is True
        assert seen["enableECSManagedTags"] is True
        # ECS fills what the request leaves out.
        assert seen["deploymentConfiguration"] == {
            "maximumPercent": 150,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        }
        assert seen["availabilityZoneRebalancing"] == "ENABLED"
    # The defaults of a service created without them.
    name, plain = create_steady(ecs, cluster, td1, count=1)
    assert plain["placementConstraints"] == [] and plain["placementStrategy"] == []
    assert plain["enableExecuteCommand"] is False
    assert plain["deploymentConfiguration"]["maximumPercent"] == 200
    assert "healthCheckGracePeriodSeconds" not in plain


def test_removed_fields_go_back_to_the_defaults(ecs: Any, cluster: str, task_defs: Any) -> None:
    _, td1, _ = task_defs
    name, _ = create_steady(
        ecs,
        cluster,
        td1,
        count=1,
        healthCheckGracePeriodSeconds=30,
        placementConstraints=[{"type": "distinctInstance"}],
        placementStrategy=[{"type": "binpack", "field": "memory"}],
        loadBalancers=[{"targetGroupArn": TARGET_GROUP, "containerName": "app", "containerPort": 80}],
    )
    ecs.update_service(
        cluster=cluster,
        service=name,
        healthCheckGracePeriodSeconds=0,
        placementConstraints=[],
        placementStrategy=[],
        loadBalancers=[],
        availabilityZoneRebalancing="ENABLED",
    )
    svc = describe(ecs, cluster, name)
    assert svc["healthCheckGracePeriodSeconds"] == 0
    assert svc["placementConstraints"] == [] and svc["placementStrategy"] == []
    assert svc["loadBalancers"] == []
    assert svc["availabilityZoneRebalancing"] == "ENABLED"


def test_capacity_provider_service_has_no_launch_type(ecs: Any, cluster: str, task_defs: Any) -> None:
    _, td1, _ = task_defs
    strategy = [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    created = ecs.create_service(
        cluster=cluster,
        serviceName="cp",
        taskDefinition=td1,
        desiredCount=1,
        capacityProviderStrategy=strategy,
    )["service"]
    assert "launchType" not in created
    assert created["capacityProviderStrategy"] == strategy


def test_service_connect_is_reported_by_the_primary_deployment(
    ecs: Any, cluster: str, task_defs: Any
) -> None:
    _, td1, _ = task_defs
    connect = {
        "enabled": True,
        "namespace": "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-aaaaaaaaaaaaaaaa",
        "services": [
            {
                "portName": "http",
                "clientAliases": [{"port": 80, "dnsName": "web"}],
                "timeout": {"idleTimeoutSeconds": 60},
            }
        ],
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "sc"}},
        "accessLogConfiguration": {"format": "JSON"},
    }
    name, svc = create_steady(ecs, cluster, td1, count=1, serviceConnectConfiguration=connect)
    assert primary(svc)["serviceConnectConfiguration"] == connect
    first = primary(svc)["id"]

    # A change starts a new deployment that carries it.
    changed = dict(connect, services=[dict(connect["services"][0], timeout={"idleTimeoutSeconds": 30})])
    updated = ecs.update_service(cluster=cluster, service=name, serviceConnectConfiguration=changed)[
        "service"
    ]
    assert primary(updated)["id"] != first
    assert primary(updated)["serviceConnectConfiguration"] == changed
    svc = wait_for("steady", lambda: describe(ecs, cluster, name), steady(td1, 1))
    assert primary(svc)["serviceConnectConfiguration"] == changed

    # Unchanged: no new deployment.
    same = ecs.update_service(cluster=cluster, service=name, serviceConnectConfiguration=changed)[
        "service"
    ]
    assert primary(same)["id"] == primary(svc)["id"]

    off = ecs.update_service(
        cluster=cluster, service=name, serviceConnectConfiguration={"enabled": False}
    )["service"]
    assert primary(off)["serviceConnectConfiguration"] == {"enabled": False}


def test_update_capacity_provider_applies_managed_draining(ecs: Any) -> None:
    name = f"cp-{uuid.uuid4().hex[:8]}"
    asg = (
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:"
        f"0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b:autoScalingGroupName/{name}"
    )
    ecs.create_capacity_provider(
        name=name,
        autoScalingGroupProvider={"autoScalingGroupArn": asg, "managedDraining": "DISABLED"},
    )
    ecs.update_capacity_provider(
        name=name, autoScalingGroupProvider={"managedDraining": "ENABLED"}
    )
    provider = ecs.describe_capacity_providers(capacityProviders=[name])["capacityProviders"][0]
    assert provider["autoScalingGroupProvider"]["managedDraining"] == "ENABLED"
