"""Tests for hack/faultproxy/faultproxy.py.

Run with the python of the moto venv (hack/moto/requirements.txt plus
requirements-test.txt)::

    python -m pytest hack/faultproxy/test_faultproxy.py

One moto server (without the ECS scheduler simulation) and one proxy in front
of it are shared by the module; every test starts from an empty fault
configuration and zeroed counts.  Clients never retry
(``total_max_attempts: 1``), so every call is exactly one request.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

HERE = Path(__file__).resolve().parent
PROXY = HERE / "faultproxy.py"
MOTO_SERVER = HERE.parent / "moto" / "server.py"
STARTUP = 60.0  # importing moto takes a few seconds
CONTAINERS = [{"name": "app", "image": "nginx:latest", "memory": 128}]


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
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **config),
    )


class Proc:
    """A subprocess with its output in a temporary file."""

    def __init__(self, argv: list[str]) -> None:
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self, tail: int = 5000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-tail:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@contextlib.contextmanager
def start_moto() -> Iterator[str]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    p = Proc([sys.executable, str(MOTO_SERVER), "--port", str(port), "--no-scheduler"])
    try:
        ecs = client(endpoint, "ecs")
        deadline = time.monotonic() + STARTUP
        while True:
            if p.proc.poll() is not None:
                pytest.fail(f"moto exited with {p.proc.returncode}:\n{p.output()}")
            try:
                ecs.list_clusters()
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto did not come up:\n{p.output()}")
                time.sleep(0.2)
        yield endpoint
    finally:
        p.stop()


class Proxy:
    def __init__(self, url: str, proc: Proc) -> None:
        self.url = url
        self.proc = proc
        self.stopped = False  # set by a test that stops the proxy itself

    def call(self, method: str, route: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/_faults/{route}", data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def configure(self, config: dict[str, Any]) -> None:
        status, answer = self.call("PUT", "config", config)
        assert status == 200, answer

    def counts(self) -> dict[str, Any]:
        return self.call("GET", "counts")[1]

    def reset(self) -> None:
        assert self.call("POST", "reset")[0] == 200


@contextlib.contextmanager
def start_proxy(upstream: str, *extra: str) -> Iterator[Proxy]:
    """Starts the proxy with --port 0 and reads the port it prints."""
    proc = Proc([sys.executable, str(PROXY), "--upstream", upstream, "--port", "0", *extra])
    try:
        deadline = time.monotonic() + 10
        line = ""
        while not line:
            if proc.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the proxy did not start:\n{proc.output()}")
            time.sleep(0.05)
            line = next((x for x in proc.output().splitlines() if x.startswith("listening on ")), "")
        proxy = Proxy("http://" + line.removeprefix("listening on ").strip(), proc)
        yield proxy
        if not proxy.stopped:
            assert proc.proc.poll() is None, f"the proxy died:\n{proc.output()}"
        assert "Traceback" not in proc.output(tail=10**9), proc.output(tail=20000)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with start_moto() as url:
        yield url


@pytest.fixture(scope="module")
def module_proxy(moto_url: str) -> Iterator[Proxy]:
    with start_proxy(moto_url) as p:
        yield p


@pytest.fixture
def proxy(module_proxy: Proxy) -> Proxy:
    module_proxy.configure({})
    module_proxy.reset()
    return module_proxy


@pytest.fixture
def ecs(proxy: Proxy) -> Any:
    return client(proxy.url, "ecs")


def error_code(call: Callable[[], Any]) -> tuple[str, int, dict[str, str]]:
    with pytest.raises(ClientError) as info:
        call()
    meta = info.value.response["ResponseMetadata"]
    return info.value.response["Error"]["Code"], meta["HTTPStatusCode"], meta["HTTPHeaders"]


def raw_request(url: str, target: str = "AmazonEC2ContainerServiceV20141113.ListClusters", timeout: float = 5) -> Any:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(
            "POST",
            "/",
            body=b"{}",
            headers={
                "X-Amz-Target": target,
                "Content-Type": "application/x-amz-json-1.1",
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ecs/aws4_request, "
                "SignedHeaders=host, Signature=0",
            },
        )
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------


def test_passthrough(proxy: Proxy, moto_url: str, ecs: Any) -> None:
    name = f"c-{uuid.uuid4().hex[:8]}"
    created = ecs.create_cluster(clusterName=name)["cluster"]
    assert created["clusterName"] == name
    via_proxy = ecs.list_clusters()["clusterArns"]
    assert created["clusterArn"] in via_proxy
    assert client(moto_url, "ecs").list_clusters()["clusterArns"] == via_proxy

    sd = client(proxy.url, "servicediscovery")
    op = sd.create_http_namespace(Name=f"ns-{uuid.uuid4().hex[:8]}")["OperationId"]
    assert sd.get_operation(OperationId=op)["Operation"]["Status"] == "SUCCESS"
    assert client(proxy.url, "sts").get_caller_identity()["Account"] == "123456789012"
    assert client(proxy.url, "ec2").describe_vpcs()["Vpcs"]

    requests = proxy.counts()["requests"]
    for key in (
        "ecs:CreateCluster",
        "ecs:ListClusters",
        "servicediscovery:CreateHttpNamespace",
        "servicediscovery:GetOperation",
        "sts:GetCallerIdentity",
        "ec2:DescribeVpcs",
    ):
        assert requests.get(key) == 1, requests
    assert proxy.counts()["faults"] == {}


def test_chunked_request_and_head_are_forwarded(proxy: Proxy) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request(
        "POST",
        "/",
        body=iter([b"{", b"}"]),
        encode_chunked=True,
        headers={
            "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ecs/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    resp = conn.getresponse()
    assert resp.status == 200
    assert "clusterArns" in json.loads(resp.read())
    # The same (keep-alive) connection serves the next request.
    conn.request("GET", "/_faults/health")
    assert conn.getresponse().read()
    conn.close()
    assert proxy.counts()["requests"] == {"ecs:ListClusters": 1}


def test_counts_by_operation_and_reset(proxy: Proxy, ecs: Any) -> None:
    for _ in range(3):
        ecs.describe_clusters(clusters=["default"])
    for _ in range(2):
        ecs.list_clusters()
    client(proxy.url, "scheduler").list_schedules()
    assert proxy.counts()["requests"] == {
        "ecs:DescribeClusters": 3,
        "ecs:ListClusters": 2,
        "scheduler:GET /schedules": 1,
    }
    proxy.reset()
    assert proxy.counts() == {"requests": {}, "faults": {}, "upstream_errors": {}}


def test_throttle_everything(proxy: Proxy, ecs: Any) -> None:
    proxy.configure({"rules": [{"operation": "*", "throttle": 1.0}]})
    code, status, headers = error_code(ecs.list_clusters)
    assert (code, status) == ("ThrottlingException", 400)
    assert headers["x-amzn-errortype"] == "ThrottlingException"
    # The same with the retry configuration the brief names (legacy mode, one retry).
    legacy = boto3.client(
        "ecs",
        endpoint_url=proxy.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    assert error_code(legacy.list_clusters)[0] == "ThrottlingException"
    # Query protocols get the XML error shape.
    assert error_code(client(proxy.url, "sts").get_caller_identity)[:2] == ("Throttling", 400)
    assert error_code(client(proxy.url, "ec2").describe_vpcs)[:2] == ("RequestLimitExceeded", 400)
    counts = proxy.counts()
    assert counts["faults"]["ecs:ListClusters:throttle"] == counts["requests"]["ecs:ListClusters"] >= 2
    assert counts["faults"]["sts:GetCallerIdentity:throttle"] == 1


def test_server_errors(proxy: Proxy, ecs: Any) -> None:
    proxy.configure(
        {"rules": [{"operation": "ListClusters", "error500": 1}, {"operation": "Describe*", "error503": 1}]}
    )
    assert error_code(ecs.list_clusters)[:2] == ("ServerException", 500)
    assert error_code(lambda: ecs.describe_clusters(clusters=["default"]))[:2] == ("ServiceUnavailableException", 503)
    proxy.configure({"default": {"error500": 1}})
    assert error_code(client(proxy.url, "sts").get_caller_identity)[:2] == ("InternalFailure", 500)
    assert proxy.counts()["faults"] == {
        "ecs:ListClusters:error500": 1,
        "ecs:DescribeClusters:error503": 1,
        "sts:GetCallerIdentity:error500": 1,
    }


def test_reset_closes_the_connection(proxy: Proxy, ecs: Any) -> None:
    proxy.configure({"rules": [{"operation": "ListClusters", "reset": 1}]})
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        raw_request(proxy.url)
    with pytest.raises(ConnectionClosedError):
        ecs.list_clusters()
    assert proxy.counts()["faults"] == {"ecs:ListClusters:reset": 2}
    ecs.describe_clusters(clusters=["default"])  # other operations pass


def test_timeout_holds_then_closes(proxy: Proxy) -> None:
    proxy.configure({"rules": [{"operation": "ListClusters", "timeout": 1, "timeout_ms": 600}]})
    start = time.monotonic()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        raw_request(proxy.url)
    assert 0.55 <= time.monotonic() - start < 5
    # An SDK with a shorter read timeout gives up first.
    proxy.configure({"rules": [{"operation": "ListClusters", "timeout": 1, "timeout_ms": 3000}]})
    start = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        client(proxy.url, "ecs", read_timeout=0.3).list_clusters()
    assert time.monotonic() - start < 2
    assert proxy.counts()["faults"] == {"ecs:ListClusters:timeout": 2}


def test_slow_delays_then_answers(proxy: Proxy, ecs: Any) -> None:
    proxy.configure({"slow_ms": 400, "rules": [{"operation": "ListClusters", "slow": 1}]})
    start = time.monotonic()
    assert "clusterArns" in ecs.list_clusters()
    assert time.monotonic() - start >= 0.4
    assert proxy.counts()["faults"] == {"ecs:ListClusters:slow": 1}


def test_rates_are_seeded_and_spread(proxy: Proxy, ecs: Any) -> None:
    config = {"seed": 7, "default": {"rate": 0.3, "kinds": ["throttle", "error500", "error503"]}}
    n = 150

    def run() -> list[str]:
        proxy.configure(config)  # also restarts the random sequence from the seed
        outcomes = []
        for _ in range(n):
            try:
                ecs.list_clusters()
                outcomes.append("ok")
            except ClientError as e:
                outcomes.append(e.response["Error"]["Code"])
        return outcomes

    first = run()
    faults = [o for o in first if o != "ok"]
    assert 0.2 * n <= len(faults) <= 0.4 * n, len(faults)
    assert {"ThrottlingException", "ServerException", "ServiceUnavailableException"} <= set(faults)
    counts = proxy.counts()
    assert counts["requests"]["ecs:ListClusters"] == n
    assert sum(counts["faults"].values()) == len(faults)
    assert run() == first


def test_rule_order_service_and_limit(proxy: Proxy, ecs: Any) -> None:
    proxy.configure(
        {
            "default": {"throttle": 1},
            "rules": [
                {"operation": "ecs:DescribeClusters", "error500": 1, "limit": 2},
                {"service": "ecs", "operation": "Describe*", "error503": 1},
                {"operation": "List*", "service": "servicediscovery", "throttle": 1},
                {"operation": "*", "service": "ecs"},  # no faults for the rest of ECS
            ],
        }
    )
    describe = lambda: ecs.describe_clusters(clusters=["default"])  # noqa: E731
    assert error_code(describe)[0] == "ServerException"
    assert error_code(describe)[0] == "ServerException"
    describe()  # the rule's limit is spent: it passes everything now
    describe_services = lambda: ecs.describe_services(cluster="default", services=["x"])  # noqa: E731
    assert error_code(describe_services)[0] == "ServiceUnavailableException"
    ecs.list_clusters()
    assert error_code(client(proxy.url, "servicediscovery").list_namespaces)[0] == "ThrottlingException"
    assert error_code(client(proxy.url, "sts").get_caller_identity)[0] == "Throttling"  # the default
    proxy.reset()  # restores the rule's limit
    assert error_code(describe)[0] == "ServerException"


def test_token_bucket_burst_then_refill(proxy: Proxy, ecs: Any) -> None:
    # ECS's RegisterTaskDefinition bucket: burst 20, refill 1/s.
    proxy.configure({"token_buckets": "ecs"})
    family = f"td-{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    ok = throttled = 0
    for _ in range(25):
        try:
            ecs.register_task_definition(family=family, containerDefinitions=CONTAINERS)
            ok += 1
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ThrottlingException"
            throttled += 1
    elapsed = time.monotonic() - start
    assert 20 <= ok <= 20 + int(elapsed) + 1, (ok, elapsed)
    assert proxy.counts()["faults"]["ecs:RegisterTaskDefinition:throttled_by_bucket"] == throttled
    time.sleep(1.05)
    ecs.register_task_definition(family=family, containerDefinitions=CONTAINERS)
    ecs.list_clusters()  # another category has its own bucket


def test_token_bucket_scale_and_overrides(proxy: Proxy, ecs: Any) -> None:
    proxy.configure(
        {
            "token_buckets": "ecs",
            "bucket_scale": 0.1,  # cluster read: burst 5, refill 2/s
            "buckets": {
                "cluster-modify": {"burst": 30},
                "mine": {"service": "sts", "operations": ["*"], "burst": 10, "rate": 0},
            },
        }
    )
    levels = proxy.call("GET", "buckets")[1]
    assert levels["cluster-read"]["burst"] == 5 and levels["cluster-read"]["rate"] == 2
    assert levels["cluster-modify"]["burst"] == 3
    assert levels["mine"]["burst"] == 1
    start = time.monotonic()
    ok = 0
    for _ in range(8):
        try:
            ecs.describe_clusters(clusters=["default"])
            ok += 1
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ThrottlingException"
    elapsed = time.monotonic() - start
    assert 5 <= ok <= 5 + int(elapsed * 2) + 1, (ok, elapsed)
    time.sleep(0.55)
    ecs.list_clusters()  # the same category: one token has come back
    sts = client(proxy.url, "sts")
    sts.get_caller_identity()
    assert error_code(sts.get_caller_identity)[0] == "Throttling"
    faults = proxy.counts()["faults"]
    assert faults["ecs:DescribeClusters:throttled_by_bucket"] == 8 - ok
    assert faults["sts:GetCallerIdentity:throttled_by_bucket"] == 1


def test_config_api(proxy: Proxy) -> None:
    config = {"seed": 1, "default": {"rate": 0.5}, "rules": [{"operation": "Create*", "slow": 0.5, "slow_ms": 10}]}
    proxy.configure(config)
    assert proxy.call("GET", "config") == (200, config)
    for bad in (
        {"default": {"throttle": 0.7, "error500": 0.7}},
        {"rules": [{"operation": "*", "throtle": 1}]},
        {"default": {"rate": 0.1, "kinds": ["nope"]}},
        {"token_buckets": "s3"},
        {"bucket_scale": 0},
        [1, 2],
    ):
        status, answer = proxy.call("PUT", "config", bad)
        assert status == 400 and answer["error"], (bad, answer)
    assert proxy.call("GET", "config") == (200, config)  # unchanged
    status, health = proxy.call("GET", "health")
    assert status == 200 and health["status"] == "ok" and health["upstream"].startswith("http://127.0.0.1:")
    assert proxy.call("GET", "nothing")[0] == 404


def test_bad_requests_do_not_hurt(proxy: Proxy, ecs: Any) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    for garbage in (
        b"\x00\x01\x02 garbage\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 70000 + b"\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort",  # then the client goes away
    ):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(garbage)
            s.shutdown(socket.SHUT_WR)
            try:
                s.recv(65536)
            except OSError:
                pass
    assert "clusterArns" in ecs.list_clusters()


def test_command_line_config_upstream_down_and_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "faults.json"
    config.write_text(json.dumps({"rules": [{"operation": "ListServices", "throttle": 1}]}))
    dead_upstream = f"http://127.0.0.1:{free_port()}"
    with start_proxy(dead_upstream, "--config", str(config), "--emulate-throttling", "--bucket-scale", "0.5") as p:
        assert p.call("GET", "config")[1] == {
            "rules": [{"operation": "ListServices", "throttle": 1}],
            "token_buckets": "ecs",
            "bucket_scale": 0.5,
        }
        assert p.call("GET", "buckets")[1]["task-definition-modify"]["burst"] == 10
        ecs = client(p.url, "ecs")
        assert error_code(lambda: ecs.list_services(cluster="default"))[0] == "ThrottlingException"
        assert error_code(ecs.list_clusters)[1] == 502  # nothing listens upstream
        assert p.counts()["upstream_errors"] == {"ecs:ListClusters": 1}
        p.stopped = True
        start = time.monotonic()
        p.proc.proc.send_signal(signal.SIGTERM)
        assert p.proc.proc.wait(timeout=5) == 0
        assert time.monotonic() - start < 5
        assert "stopping" in p.proc.output()
