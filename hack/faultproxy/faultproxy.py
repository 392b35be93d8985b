#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for AWS APIs, for the ecs-operator test bed.

It sits between an AWS client (the operator, boto3) and moto: the client's
endpoint override (``AWS_ENDPOINT_URL``) points at the proxy, which forwards
every request unchanged to ``--upstream`` and returns the answer unchanged,
except when a fault rule or an emulated throttling bucket says otherwise.
Standard library only. See README.md next to this file for the configuration.

    python3 faultproxy.py --upstream http://127.0.0.1:5000 [--host 127.0.0.1]
                          [--port 0] [--config FILE] [--emulate-throttling]
                          [--bucket-scale F] [--verbose]

The control API lives on the same port under ``/_faults/`` (a path AWS never
uses): ``GET counts``, ``POST reset``, ``GET/PUT config``, ``GET buckets``,
``GET health``.
"""

from __future__ import annotations

import argparse
import fnmatch
import http.client
import io
import json
import logging
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("faultproxy")

CONTROL_PREFIX = "/_faults/"

# Fault kinds a rule can inject, in the order a random draw walks them.
FAULT_KINDS = ("throttle", "error500", "error503", "slow", "timeout", "reset")
# Kinds a `rate` without `kinds` spreads over: the ones that fail a request quickly.
DEFAULT_SPREAD = ("throttle", "error500", "error503", "reset")
BUCKET_FAULT = "throttled_by_bucket"
DEFAULT_SLOW_MS = 1000
DEFAULT_TIMEOUT_MS = 10000

# X-Amz-Target prefixes of awsJson services, for when the request carries no SigV4
# credential scope to name the service.
TARGET_SERVICES = {
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "Route53AutoNaming_v20170314": "servicediscovery",
    "AmazonSSM": "ssm",
    "secretsmanager": "secretsmanager",
    "Logs_20140328": "logs",
    "AnyScaleFrontendService": "application-autoscaling",
    "GraniteServiceVersion20100801": "monitoring",
}

# Published ECS request throttling (burst, refill per second), per API category; Cloud Map's
# DiscoverInstances; a generous default for the rest of Cloud Map (its other limits are not
# published as buckets).
ECS_BUCKETS: dict[str, dict[str, Any]] = {
    "service-read": {"service": "ecs", "operations": ["DescribeServices", "ListServices"], "burst": 100, "rate": 20},
    "service-modify": {
        "service": "ecs",
        "operations": ["CreateService", "UpdateService", "DeleteService"],
        "burst": 50,
        "rate": 5,
    },
    "task-definition-read": {
        "service": "ecs",
        "operations": ["DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies"],
        "burst": 50,
        "rate": 20,
    },
    "task-definition-modify": {
        "service": "ecs",
        "operations": ["RegisterTaskDefinition", "DeregisterTaskDefinition"],
        "burst": 20,
        "rate": 1,
    },
    "task-definition-delete": {"service": "ecs", "operations": ["DeleteTaskDefinitions"], "burst": 5, "rate": 1},
    "cluster-read": {"service": "ecs", "operations": ["DescribeClusters", "ListClusters"], "burst": 50, "rate": 20},
    "cluster-modify": {
        "service": "ecs",
        "operations": ["CreateCluster", "UpdateCluster", "DeleteCluster", "PutClusterCapacityProviders"],
        "burst": 20,
        "rate": 1,
    },
    "capacity-provider-modify": {
        "service": "ecs",
        "operations": ["CreateCapacityProvider", "UpdateCapacityProvider", "DeleteCapacityProvider"],
        "burst": 10,
        "rate": 1,
    },
    "tag-modify": {"service": "ecs", "operations": ["TagResource", "UntagResource"], "burst": 20, "rate": 10},
    "tag-read": {"service": "ecs", "operations": ["ListTagsForResource"], "burst": 50, "rate": 20},
    "cluster-resource-read": {"service": "ecs", "operations": ["DescribeTasks", "ListTasks"], "burst": 100, "rate": 20},
    "service-deployment-read": {
        "service": "ecs",
        "operations": ["ListServiceDeployments", "DescribeServiceDeployments"],
        "burst": 50,
        "rate": 20,
    },
    "list-services-by-namespace": {"service": "ecs", "operations": ["ListServicesByNamespace"], "burst": 10, "rate": 1},
    "cloudmap-discover-instances": {
        "service": "servicediscovery",
        "operations": ["DiscoverInstances"],
        "burst": 2000,
        "rate": 1000,
    },
    "cloudmap-other": {"service": "servicediscovery", "operations": ["*"], "burst": 1000, "rate": 200},
}
BUCKET_TABLES = {"ecs": ECS_BUCKETS}

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",
}

CREDENTIAL_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")
RPCV2_PATH_RE = re.compile(r"^/service/([^/]+)/operation/([^/?]+)")


class ConfigError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------
# Configuration.


@dataclass
class RateSet:
    """Per-kind fault probabilities plus the parameters of `slow` and `timeout`."""

    rates: dict[str, float]
    slow_ms: int | None = None
    timeout_ms: int | None = None
    limit: int | None = None  # at most this many faults, then pass everything

    @property
    def total(self) -> float:
        return sum(self.rates.values())


@dataclass
class Rule:
    index: int
    # (service pattern or None for any, operation pattern); the rule's own `service` applies too.
    operations: list[tuple[str | None, str]]
    services: list[str] | None
    rates: RateSet

    def matches(self, service: str, target_prefix: str, operation: str) -> bool:
        def service_matches(pattern: str) -> bool:
            p = pattern.lower()
            return fnmatch.fnmatchcase(service.lower(), p) or fnmatch.fnmatchcase(target_prefix.lower(), p)

        if self.services is not None and not any(service_matches(s) for s in self.services):
            return False
        return any(
            (svc is None or service_matches(svc)) and fnmatch.fnmatchcase(operation, op) for svc, op in self.operations
        )


@dataclass
class Bucket:
    name: str
    service: str
    operations: list[str]
    burst: float
    rate: float
    tokens: float = 0.0
    updated: float = 0.0

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Config:
    raw: dict[str, Any]
    seed: int | None
    default: RateSet
    rules: list[Rule]
    slow_ms: int
    timeout_ms: int
    buckets: list[Bucket] = field(default_factory=list)


def _number(value: Any, where: str, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{where}: {value} is out of range [{low}, {'∞' if high is None else high}]")
    return float(value)


def _millis(value: Any, where: str) -> int:
    return int(_number(value, where))


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where}: expected a string or a non-empty list of strings")


RATE_KEYS = set(FAULT_KINDS) | {"rate", "kinds", "slow_ms", "timeout_ms", "limit"}


def parse_rate_set(obj: Any, where: str, extra_keys: frozenset[str] = frozenset()) -> RateSet:
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected an object")
    unknown = set(obj) - RATE_KEYS - extra_keys
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(RATE_KEYS | extra_keys)})")
    rates = {k: _number(obj[k], f"{where}.{k}", 0, 1) for k in FAULT_KINDS if k in obj}
    if "rate" in obj:
        total = _number(obj["rate"], f"{where}.rate", 0, 1)
        kinds = _strings(obj.get("kinds", list(DEFAULT_SPREAD)), f"{where}.kinds")
        bad = [k for k in kinds if k not in FAULT_KINDS]
        if bad:
            raise ConfigError(f"{where}.kinds: unknown fault kinds {bad} (known: {list(FAULT_KINDS)})")
        for k in kinds:
            rates[k] = rates.get(k, 0.0) + total / len(kinds)
    elif "kinds" in obj:
        raise ConfigError(f"{where}.kinds: needs a `rate` to spread")
    rs = RateSet(
        rates={k: v for k, v in rates.items() if v > 0},
        slow_ms=_millis(obj["slow_ms"], f"{where}.slow_ms") if "slow_ms" in obj else None,
        timeout_ms=_millis(obj["timeout_ms"], f"{where}.timeout_ms") if "timeout_ms" in obj else None,
        limit=int(_number(obj["limit"], f"{where}.limit")) if "limit" in obj else None,
    )
    if rs.total > 1.0 + 1e-9:
        raise ConfigError(f"{where}: fault rates add up to {rs.total:.3f} > 1")
    return rs


def parse_buckets(table: Any, overrides: Any, scale: float) -> list[Bucket]:
    if table in (None, False, "none", ""):
        base: dict[str, dict[str, Any]] = {}
    elif table is True:
        base = ECS_BUCKETS
    elif isinstance(table, str) and table in BUCKET_TABLES:
        base = BUCKET_TABLES[table]
    else:
        raise ConfigError(f"token_buckets: expected one of {sorted(BUCKET_TABLES)} or \"none\", got {table!r}")
    merged = {name: dict(spec) for name, spec in base.items()}
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise ConfigError("buckets: expected an object of category name -> {service, operations, burst, rate}")
        for name, spec in overrides.items():
            if spec is None:  # null removes a category
                merged.pop(name, None)
                continue
            if not isinstance(spec, dict):
                raise ConfigError(f"buckets.{name}: expected an object")
            unknown = set(spec) - {"service", "operations", "burst", "rate"}
            if unknown:
                raise ConfigError(f"buckets.{name}: unknown keys {sorted(unknown)}")
            merged.setdefault(name, {}).update(spec)
    buckets = []
    now = time.monotonic()
    for name, spec in merged.items():
        where = f"buckets.{name}"
        for key in ("service", "operations", "burst", "rate"):
            if key not in spec:
                raise ConfigError(f"{where}: missing {key}")
        if not isinstance(spec["service"], str):
            raise ConfigError(f"{where}.service: expected a string")
        burst = max(1.0, _number(spec["burst"], f"{where}.burst") * scale)
        rate = _number(spec["rate"], f"{where}.rate") * scale
        buckets.append(
            Bucket(
                name=name,
                service=spec["service"],
                operations=_strings(spec["operations"], f"{where}.operations"),
                burst=burst,
                rate=rate,
                tokens=burst,
                updated=now,
            )
        )
    return buckets


TOP_KEYS = {"seed", "default", "rules", "slow_ms", "timeout_ms", "token_buckets", "bucket_scale", "buckets"}


def parse_config(raw: Any) -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a JSON object")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise ConfigError(f"unknown keys {sorted(unknown)} (known: {sorted(TOP_KEYS)})")
    seed = raw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError("seed: expected an integer")
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list):
        raise ConfigError("rules: expected a list")
    rules = []
    for i, r in enumerate(rules_raw):
        where = f"rules[{i}]"
        if not isinstance(r, dict):
            raise ConfigError(f"{where}: expected an object")
        ops = _strings(r.get("operation", "*"), f"{where}.operation")
        services = _strings(r["service"], f"{where}.service") if "service" in r else None
        # "ecs:Describe*" is short for service "ecs", operation "Describe*".
        split_ops: list[tuple[str | None, str]] = []
        for op in ops:
            svc, sep, name = op.partition(":")
            split_ops.append((svc, name) if sep and " " not in op else (None, op))
        rules.append(
            Rule(
                index=i,
                operations=split_ops,
                services=services,
                rates=parse_rate_set(r, where, frozenset({"operation", "service"})),
            )
        )
    scale = _number(raw.get("bucket_scale", 1.0), "bucket_scale")
    if scale <= 0:
        raise ConfigError("bucket_scale: must be > 0")
    return Config(
        raw=raw,
        seed=seed,
        default=parse_rate_set(raw.get("default"), "default"),
        rules=rules,
        slow_ms=_millis(raw.get("slow_ms", DEFAULT_SLOW_MS), "slow_ms"),
        timeout_ms=_millis(raw.get("timeout_ms", DEFAULT_TIMEOUT_MS), "timeout_ms"),
        buckets=parse_buckets(raw.get("token_buckets"), raw.get("buckets"), scale),
    )


# ---------------------------------------------------------------------------------------------
# Shared state: configuration, randomness, counts.


@dataclass
class Decision:
    kind: str | None  # a FAULT_KINDS entry, BUCKET_FAULT, or None to forward untouched
    delay_ms: int = 0


class State:
    def __init__(self, config: Config) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.upstream_errors: Counter[str] = Counter()
        self._install(config)

    def _install(self, config: Config) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.rule_faults: Counter[int] = Counter()  # faults injected per rule (-1: default)

    def replace(self, config: Config) -> None:
        with self.lock:
            self._install(config)

    def reset(self) -> None:
        """Zero the counts and return the configuration to its just-loaded state."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.upstream_errors.clear()
            self._install(parse_config(self.config.raw))

    def decide(self, service: str, target_prefix: str, operation: str) -> Decision:
        key = f"{service}:{operation}"
        with self.lock:
            self.requests[key] += 1
            cfg = self.config
            bucket = self._bucket(service, operation)
            if bucket is not None and not bucket.take(time.monotonic()):
                self.faults[f"{key}:{BUCKET_FAULT}"] += 1
                return Decision(BUCKET_FAULT)
            rule = next((r for r in cfg.rules if r.matches(service, target_prefix, operation)), None)
            rates, rule_id = (rule.rates, rule.index) if rule else (cfg.default, -1)
            if not rates.rates or (rates.limit is not None and self.rule_faults[rule_id] >= rates.limit):
                return Decision(None)
            draw = self.rng.random()
            kind = None
            for k in FAULT_KINDS:
                p = rates.rates.get(k, 0.0)
                if draw < p:
                    kind = k
                    break
                draw -= p
            if kind is None:
                return Decision(None)
            self.rule_faults[rule_id] += 1
            self.faults[f"{key}:{kind}"] += 1
            if kind == "slow":
                return Decision(kind, rates.slow_ms if rates.slow_ms is not None else cfg.slow_ms)
            if kind == "timeout":
                return Decision(kind, rates.timeout_ms if rates.timeout_ms is not None else cfg.timeout_ms)
            return Decision(kind)

    def _bucket(self, service: str, operation: str) -> Bucket | None:
        wildcard = None
        for b in self.config.buckets:
            if b.service.lower() != service.lower():
                continue
            if operation in b.operations:
                return b
            if wildcard is None and any(fnmatch.fnmatchcase(operation, op) for op in b.operations):
                wildcard = b
        return wildcard

    def note_upstream_error(self, key: str) -> None:
        with self.lock:
            self.upstream_errors[key] += 1

    def counts(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(sorted(self.requests.items())),
                "faults": dict(sorted(self.faults.items())),
                "upstream_errors": dict(sorted(self.upstream_errors.items())),
            }

    def bucket_levels(self) -> dict[str, Any]:
        with self.lock:
            now = time.monotonic()
            out = {}
            for b in self.config.buckets:
                tokens = min(b.burst, b.tokens + (now - b.updated) * b.rate)
                out[b.name] = {
                    "service": b.service,
                    "operations": b.operations,
                    "burst": b.burst,
                    "rate": b.rate,
                    "tokens": round(tokens, 3),
                }
            return out


# ---------------------------------------------------------------------------------------------
# Recognising the AWS operation and protocol of a request.


@dataclass
class Operation:
    service: str
    target_prefix: str
    name: str
    protocol: str  # json, query, ec2, rest-json, rpcv2-cbor


def identify(method: str, path: str, headers: Any, body: bytes) -> Operation:
    auth = headers.get("Authorization", "") or ""
    m = CREDENTIAL_RE.search(auth)
    scope_service = m.group(1) if m else ""
    query = urllib.parse.urlsplit(path).query
    if not scope_service and "X-Amz-Credential" in query:
        cred = urllib.parse.parse_qs(query).get("X-Amz-Credential", [""])[0]
        parts = cred.split("/")
        scope_service = parts[3] if len(parts) >= 5 else ""

    target = headers.get("X-Amz-Target")
    if target:
        prefix, _, op = target.rpartition(".")
        service = scope_service or TARGET_SERVICES.get(prefix, prefix or "unknown")
        return Operation(service, prefix, op or "unknown", "json")

    m = RPCV2_PATH_RE.match(path)
    if m and "cbor" in (headers.get("Smithy-Protocol", "") or headers.get("Content-Type", "") or ""):
        return Operation(scope_service or m.group(1), m.group(1), m.group(2), "rpcv2-cbor")

    action = None
    ctype = (headers.get("Content-Type", "") or "").lower()
    if body and "x-www-form-urlencoded" in ctype and b"Action=" in body:
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]
    if action is None and "Action=" in query:
        action = urllib.parse.parse_qs(query).get("Action", [None])[0]
    if action:
        service = scope_service or "unknown"
        return Operation(service, "", action, "ec2" if service == "ec2" else "query")

    segment = urllib.parse.urlsplit(path).path.lstrip("/").split("/", 1)[0]
    return Operation(scope_service or "unknown", "", f"{method} /{segment}", "rest-json")


# Error code, HTTP status and message per fault kind and protocol family.
ERRORS = {
    "throttle": {
        "json": ("ThrottlingException", 400, "Rate exceeded"),
        "query": ("Throttling", 400, "Rate exceeded"),
        "ec2": ("RequestLimitExceeded", 400, "Request limit exceeded."),
    },
    "error500": {
        "json": ("ServerException", 500, "injected"),
        "query": ("InternalFailure", 500, "injected"),
        "ec2": ("InternalError", 500, "injected"),
    },
    "error503": {
        "json": ("ServiceUnavailableException", 503, "injected"),
        "query": ("ServiceUnavailable", 503, "injected"),
        "ec2": ("Unavailable", 503, "injected"),
    },
}
ERRORS[BUCKET_FAULT] = ERRORS["throttle"]


def _cbor_text(s: str) -> bytes:
    data = s.encode()
    n = len(data)
    if n < 24:
        head = bytes([0x60 | n])
    elif n < 256:
        head = bytes([0x78, n])
    else:
        head = bytes([0x79]) + struct.pack(">H", n)
    return head + data


def error_response(kind: str, op: Operation, request_ctype: str) -> tuple[int, list[tuple[str, str]], bytes]:
    family = "ec2" if op.protocol == "ec2" else "query" if op.protocol == "query" else "json"
    code, status, message = ERRORS[kind][family]
    request_id = str(uuid.uuid4())
    if family == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        ).encode()
        return status, [("Content-Type", "text/xml;charset=UTF-8")], body
    if family == "query":
        fault_type = "Sender" if status < 500 else "Receiver"
        body = (
            "<ErrorResponse><Error>"
            f"<Type>{fault_type}</Type><Code>{code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body
    headers = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", code)]
    if op.protocol == "rpcv2-cbor":
        body = bytes([0xA2]) + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
        return status, headers + [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")], body
    ctype = request_ctype if request_ctype.startswith("application/x-amz-json") else "application/x-amz-json-1.1"
    if op.protocol == "rest-json":
        ctype = "application/json"
    body = json.dumps({"__type": code, "message": message}).encode()
    return status, headers + [("Content-Type", ctype)], body


# ---------------------------------------------------------------------------------------------
# The HTTP server.


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300  # seconds an idle keep-alive connection (and its thread) is kept
    server: "FaultProxy"

    def do_GET(self) -> None:
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    # -- plumbing -----------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        log.debug("%s %s", self.address_string(), format % args)

    def read_body(self) -> bytes | None:
        """The request body (de-chunked); None when the request is malformed."""
        if "chunked" in (self.headers.get("Transfer-Encoding", "") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            return None
        if n < 0:
            return None
        return self.rfile.read(n) if n else b""

    def send(self, status: int, headers: list[tuple[str, str]], body: bytes, reason: str | None = None) -> None:
        self.send_response_only(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        if not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        # Headers and body in one write: two small writes stall ~40 ms on delayed ACKs.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD" and body:
            self._headers_buffer.append(body)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []
        self.wfile.flush()

    def send_json(self, status: int, obj: Any) -> None:
        body = (json.dumps(obj, indent=2) + "\n").encode()
        self.send(status, [("Content-Type", "application/json")], body)

    def drop_connection(self, reset: bool) -> None:
        """Closes the client socket without an answer: RST when `reset`, FIN otherwise."""
        self.close_connection = True
        sock = self.connection
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        # The socket's file objects hold the descriptor open; close all three so that the
        # descriptor really closes now, and leave harmless stand-ins for http.server's cleanup.
        for f in (self.rfile, self.wfile):
            try:
                f.close()
            except OSError:
                pass
        try:
            sock.close()
        except OSError:
            pass
        self.rfile = io.BytesIO()
        self.wfile = io.BytesIO()

    # -- requests -----------------------------------------------------------------------------

    def dispatch(self) -> None:
        try:
            if self.path.startswith(CONTROL_PREFIX):
                self.control()
            else:
                self.proxy()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:  # never let one request take the proxy down
            log.exception("error handling %s %s", self.command, self.path)
            self.close_connection = True
            try:
                self.send_json(500, {"error": "internal error in the fault proxy"})
            except Exception:
                pass

    def control(self) -> None:
        body = self.read_body()
        if body is None:
            self.send_json(400, {"error": "malformed request body"})
            return
        route = urllib.parse.urlsplit(self.path).path[len(CONTROL_PREFIX):].strip("/")
        state = self.server.state
        method = self.command
        if route == "health" and method in ("GET", "HEAD"):
            self.send_json(200, {"status": "ok", "upstream": self.server.upstream_url})
        elif route == "counts" and method == "GET":
            self.send_json(200, state.counts())
        elif route == "reset" and method == "POST":
            state.reset()
            self.send_json(200, {"status": "reset"})
        elif route == "config" and method == "GET":
            self.send_json(200, state.config.raw)
        elif route == "config" and method in ("PUT", "POST"):
            try:
                raw = json.loads(body.decode("utf-8") or "{}")
                config = parse_config(raw)
            except (ValueError, UnicodeDecodeError) as e:
                self.send_json(400, {"error": str(e)})
                return
            state.replace(config)
            log.info("configuration replaced: %s", json.dumps(raw, sort_keys=True))
            self.send_json(200, raw)
        elif route == "buckets" and method == "GET":
            self.send_json(200, state.bucket_levels())
        else:
            self.send_json(404, {"error": f"no control endpoint {method} {CONTROL_PREFIX}{route}"})

    def proxy(self) -> None:
        body = self.read_body()
        if body is None:
            self.close_connection = True
            self.send_json(400, {"error": "malformed request body (bad Content-Length or chunking)"})
            return
        op = identify(self.command, self.path, self.headers, body)
        decision = self.server.state.decide(op.service, op.target_prefix, op.name)
        if decision.kind is not None:
            log.info("%s:%s -> %s%s", op.service, op.name, decision.kind,
                     f" ({decision.delay_ms} ms)" if decision.delay_ms else "")
        if decision.kind in ("throttle", "error500", "error503", BUCKET_FAULT):
            status, headers, payload = error_response(decision.kind, op, self.headers.get("Content-Type", "") or "")
            self.send(status, headers, payload)
            return
        if decision.kind == "reset":
            self.drop_connection(reset=True)
            return
        if decision.kind == "timeout":
            self.server.stopping.wait(decision.delay_ms / 1000)
            self.drop_connection(reset=False)
            return
        if decision.kind == "slow":
            self.server.stopping.wait(decision.delay_ms / 1000)
        self.forward(op, body)

    def forward(self, op: Operation, body: bytes) -> None:
        had_length = "Content-Length" in self.headers or "chunked" in (self.headers.get("Transfer-Encoding", "") or "")
        drop = set(HOP_BY_HOP) | {"content-length"}
        for token in (self.headers.get("Connection", "") or "").split(","):
            drop.add(token.strip().lower())
        conn = self.server.upstream_connection()
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in drop:
                    conn.putheader(k, v)
            if had_length or body:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            payload = resp.read()
            status, reason = resp.status, resp.reason
            resp_headers = resp.getheaders()
        except (OSError, http.client.HTTPException) as e:
            self.server.state.note_upstream_error(f"{op.service}:{op.name}")
            log.warning("upstream %s failed for %s:%s: %s", self.server.upstream_url, op.service, op.name, e)
            self.send_json(502, {"error": f"fault proxy: upstream {self.server.upstream_url} failed: {e}"})
            return
        finally:
            conn.close()
        headers = []
        for k, v in resp_headers:
            lk = k.lower()
            if lk in HOP_BY_HOP:
                continue
            if lk == "content-length" and not (self.command == "HEAD" or status in (204, 304)):
                continue  # recomputed from the body we send
            headers.append((k, v))
        self.send(status, headers, payload, reason)


class FaultProxy(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], upstream: str, state: State, upstream_timeout: float) -> None:
        super().__init__(address, Handler)
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"--upstream must be an http(s) URL, got {upstream!r}")
        self.upstream_url = upstream
        self.upstream_scheme = parsed.scheme
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.upstream_timeout = upstream_timeout
        self.state = state
        self.stopping = threading.Event()

    def upstream_connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.upstream_scheme == "https" else http.client.HTTPConnection
        return cls(self.upstream_host, self.upstream_port, timeout=self.upstream_timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, ValueError)):
            log.debug("connection from %s ended: %s", client_address, exc)
        else:
            log.exception("unexpected error on the connection from %s", client_address)


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Fault-injecting proxy for AWS APIs (see README.md).")
    p.add_argument("--upstream", required=True, help="URL to forward to, e.g. http://127.0.0.1:5000")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (0: a free port; default 0)")
    p.add_argument("--config", help="JSON fault configuration to start with")
    p.add_argument("--emulate-throttling", action="store_true",
                   help='ECS token buckets (same as "token_buckets": "ecs" in the configuration)')
    p.add_argument("--bucket-scale", type=float, help="scale every bucket's burst and refill rate")
    p.add_argument("--upstream-timeout", type=float, default=120.0, help="seconds (default 120)")
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s faultproxy %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    raw: dict[str, Any] = {}
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as f:
                raw = json.load(f)
        except (OSError, ValueError) as e:
            print(f"faultproxy: cannot read --config {args.config}: {e}", file=sys.stderr)
            return 2
    if isinstance(raw, dict):
        if args.emulate_throttling and not raw.get("token_buckets"):
            raw["token_buckets"] = "ecs"
        if args.bucket_scale is not None:
            raw["bucket_scale"] = args.bucket_scale
    try:
        config = parse_config(raw)
        server = FaultProxy((args.host, args.port), args.upstream, State(config), args.upstream_timeout)
    except (ConfigError, ValueError, OSError) as e:
        print(f"faultproxy: {e}", file=sys.stderr)
        return 2

    def on_signal(signum: int, _frame: Any) -> None:
        server.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    host, port = server.server_address[:2]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    print(f"listening on {host}:{port}", flush=True)
    log.info("forwarding %s:%s to %s", host, port, args.upstream)
    while not server.stopping.wait(1.0):
        pass
    log.info("stopping")
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
