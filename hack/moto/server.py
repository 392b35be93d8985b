#!/usr/bin/env python3
"""moto server with a small simulation of the Amazon ECS service scheduler.

Run it with the python of the venv that has ``moto[server]`` (see
``requirements.txt``)::

    python hack/moto/server.py --port 5000 [--host 127.0.0.1] [--tick 0.5]
                               [--rollout-delay 1.0] [--cloudmap-operation-delay 1.0]
                               [--task-start-delay 1.0] [--task-run-seconds 2.0]
                               [--visibility-lag 0] [--no-scheduler] [--verbose]

It serves moto's normal multi-service endpoint (the same WSGI application as
the ``moto_server`` command: ``DomainDispatcherApplication`` +
``MotoRequestHandler``), so every service moto implements is available on
``http://HOST:PORT``.  With ``--no-scheduler`` it is plain moto (none of the
ECS, task or Cloud Map behaviour below).

Why
===

Plain moto 5.2.5 never advances an ECS deployment: ``runningCount`` stays at
``MOTO_ECS_SERVICE_RUNNING`` (default 0), the PRIMARY deployment keeps the
first task definition after UpdateService, ``rolloutState`` stays
IN_PROGRESS, UpdateService stores ``taskDefinition`` as the literal input
(``family`` / ``family:revision``), UpdateService(desiredCount) jumps
``runningCount`` straight to the new value, and DeleteService marks the service
INACTIVE at once.  A controller waiting for a service to become ready could
never finish against it.  Tasks started with RunTask start RUNNING, move one
state towards STOPPED on every DescribeTasks (so their pace depends on how
often a client looks), always report exit code 0 for the first container only
(the others are missing), and StopTask sets no stopCode.

What is simulated
=================

A background thread wakes every ``--tick`` seconds and walks every ECS service
in every account and region of moto's in-memory backends
(``moto.ecs.models.ecs_backends``).  CreateService, UpdateService and
DeleteService are also wrapped so that their *responses* already show the new
deployment (as real ECS does), instead of waiting for the next tick.  Only
services with the ``ECS`` deployment controller are touched (moto gives
CODE_DEPLOY/EXTERNAL services no deployments).  ``D`` below is
``--rollout-delay`` (env ``ECS_SIM_ROLLOUT_DELAY``, default 1.0 s); the tick
period can also come from env ``ECS_SIM_TICK``.  ``--verbose`` logs every
simulated transition to stderr.

Deployments (the rolling-update scheduler)
    * The service's ``taskDefinition`` is normalised to a full task-definition
      ARN (moto stores UpdateService's input literally).
    * A *new deployment* starts when the service's task definition differs
      from the PRIMARY deployment's, or on UpdateService(forceNewDeployment).
      The new deployment gets a fresh id ``ecs-svc/<19 digits>``, status
      PRIMARY, rolloutState IN_PROGRESS, runningCount 0, pendingCount =
      desiredCount.  The previous PRIMARY becomes ACTIVE, keeps its
      runningCount (the old tasks keep serving until the new ones are up) and
      its pendingCount drops to 0; older ACTIVE deployments stay as they
      are.  An ACTIVE deployment with no running or pending tasks is removed
      (nothing left to drain), except a lingering FAILED one (see below).  The deployment list is kept newest first, PRIMARY at index 0, in
      moto's own dict shape (list of dicts with ECS's camelCase keys).
    * CreateService's deployment starts the same way (runningCount 0,
      IN_PROGRESS), whatever ``MOTO_ECS_SERVICE_RUNNING`` says.
    * ``D`` seconds after a deployment started it is COMPLETED: runningCount =
      desiredCount, pendingCount 0, rolloutStateReason
      "ECS deployment ecs-svc/... completed.".  All ACTIVE deployments are
      removed at the same moment (their tasks have drained), except a FAILED
      one that is still lingering (see below).
    * Service ``runningCount`` / ``pendingCount`` are always the sums over its
      deployments (real ECS counts the tasks of all deployments), and moto's
      cluster ``runningTasksCount`` / ``pendingTasksCount`` follow them.

Scaling (desiredCount change without a new task definition)
    Like ECS, this does *not* start a new deployment: the PRIMARY deployment's
    desiredCount changes at once, pendingCount becomes the number of tasks
    still to start, runningCount reaches the new desiredCount ``D`` seconds
    later.  rolloutState is left as it was (a COMPLETED deployment stays
    COMPLETED while it scales, as in ECS), so "ready" must also compare
    runningCount with desiredCount.  A scale during an IN_PROGRESS rollout
    just changes the target of that rollout.

Events
    Service ``events`` (newest first, at most 100, each ``id``, ``createdAt``,
    ``message``) get ECS-like messages: "(service X) has started N tasks:
    (task ...) ...", "(service X) has stopped N running tasks: ...",
    "(service X) deployment ecs-svc/... deployment completed.",
    "(service X) has reached a steady state.", and for failures
    "(service X) (deployment ecs-svc/...) deployment failed: tasks failed to
    start." and "(service X) rolling back to deployment ecs-svc/...".  The
    wording approximates real ECS; do not parse it.

Failed rollouts and the deployment circuit breaker (on request)
    If the service carries the tag ``ecs-operator.dev/simulate-rollout-failure
    = true`` (ECS tags, TagResource/CreateService ``tags``; checked when the
    delay expires) then the tasks of every deployment except the service's
    first one (the one CreateService started) and rollback deployments fail
    to start, ``D`` seconds after it started.  What happens then follows the
    service's ``deploymentConfiguration.deploymentCircuitBreaker``, as in ECS
    (the configuration is kept and returned, see below):

    * circuit breaker off (ECS's default): ECS keeps replacing the failed
      tasks.  The deployment stays PRIMARY and IN_PROGRESS, runningCount 0,
      pendingCount desiredCount, and its ``failedTasks`` grows by
      desiredCount (at least 1) every ``D`` seconds; the previous deployments
      keep their running tasks.  Events: "(service X) is unable to
      consistently start tasks successfully." once, "has started N tasks"
      for every batch.
    * ``enable: true, rollback: false``: the deployment gets rolloutState
      FAILED, rolloutStateReason "ECS deployment circuit breaker: tasks
      failed to start.", failedTasks = its desiredCount (at least 1),
      runningCount 0, pendingCount 0, and stays PRIMARY; the service keeps
      the failed task definition and the previous deployments keep their
      running tasks.  Event "(service X) (deployment ecs-svc/...) deployment
      failed: tasks failed to start."
    * ``enable: true, rollback: true``: as above, then a new rollback
      deployment (new id) for the task definition of the last COMPLETED
      deployment becomes PRIMARY, already COMPLETED with runningCount =
      desiredCount (the old tasks never stopped), the older ACTIVE
      deployments are dropped, the service's ``taskDefinition`` is set back
      to that task definition, the FAILED deployment becomes ACTIVE and
      stays listed for another ``D`` seconds, then is removed.  Event
      "(service X) rolling back to deployment ecs-svc/...".  If no
      deployment ever completed there is nothing to roll back to and the
      PRIMARY deployment just stays FAILED.  A rollback deployment never
      fails.

    ECS trips the breaker after a threshold of failed tasks (at least 10);
    the simulation trips it on the first failed batch.

Deployment configuration
    moto drops CreateService/UpdateService's ``deploymentConfiguration``.
    The simulation keeps it and DescribeServices returns it with ECS's
    defaults filled in (REPLICA: circuit breaker off, maximumPercent 200,
    minimumHealthyPercent 100; DAEMON: 100/0); UpdateService replaces only
    the members it sets.  Only the circuit breaker has an effect (above).

Deleting a service
    moto's DeleteService refuses a service with desiredCount > 0 unless
    ``force`` is true (InvalidParameterException "The service cannot be
    stopped while it is scaled above 0.") and otherwise marks it INACTIVE
    immediately.  The simulation turns that into the ECS sequence: the
    DeleteService response and DescribeServices show status DRAINING with
    desiredCount 0 (tasks still running), and ``D`` seconds later the service
    is INACTIVE with runningCount 0.  UpdateService on a DRAINING or INACTIVE
    service fails with ServiceNotActiveException "Service was not ACTIVE." as
    in ECS (plain moto updates it).  moto keeps INACTIVE services in
    DescribeServices/ListServices (real ECS lists only ACTIVE/DRAINING ones
    and stops describing INACTIVE ones after a while); a CreateService with
    the same name replaces an INACTIVE record (ACTIVE and DRAINING ones: see
    Idempotency).

Idempotency (clientToken)
    plain moto ignores ``clientToken`` and a CreateService with the name of
    an existing service silently replaces it.  The simulation follows ECS
    ("Ensuring idempotency" in the ECS API reference, and the errors ECS is
    known to answer).  Tokens are scoped to a cluster and remembered for 24
    hours (documented for RunTask, assumed for CreateService); "the same
    parameters" means the whole request but the token is the same.

    * CreateService, a DRAINING service of that name: InvalidParameterException
      "Unable to Start a service that is still Draining.".
    * CreateService, an ACTIVE service of that name: the request that created
      it again (same token, same parameters) answers that service as it is
      now, creating and changing nothing; anything else (another token, no
      token, other parameters) gets InvalidParameterException "Creation of
      service was not idempotent." and the service is left alone.
    * CreateService, the name free (or INACTIVE): a token this cluster saw
      with other parameters (or another service name) gets "Creation of
      service was not idempotent." too (AWS's rule for a reused token; ECS
      documents it for RunTask); the same token with the same parameters
      answers the service it created, whatever its status now (ECS: "the
      retry succeeds without performing any further actions").
    * RunTask with a token seen before: the same parameters answer the tasks
      the first request started (nothing new starts); other parameters get
      ConflictException with ``resourceIds`` = those task ARNs, as
      documented.  RunTask without a token (the SDKs generate one, except
      the Rust SDK) always starts new tasks.

Eventual consistency (visibility lag)
    ECS is eventually consistent: a ListTasks right after RunTask can miss
    the task.  With a visibility lag ``L`` (``--visibility-lag``, env
    ``ECS_SIM_VISIBILITY_LAG``, default 0 = off), every task definition
    revision, task and service created from then on stays out of the read
    calls for ``L`` seconds (the k-th of the n tasks of one RunTask for k/n of
    ``L``, so that a read during the lag can see part of one call's tasks): ListTaskDefinitions,
    ListTaskDefinitionFamilies, DescribeTaskDefinition (ClientException
    "Unable to describe task definition."; a bare family resolves to its
    latest *visible* revision), ListTasks, DescribeTasks (left out),
    ListServices, DescribeServices (failure MISSING).  The creating call
    answers at once with everything, and every other call (CreateService
    with a revision just registered, StopTask of a task just started,
    UpdateService, the simulation itself) sees it at once.  Changes to
    existing resources are not delayed.  ``L`` can be changed at run time
    (for what is created afterwards): ``curl -X PUT --data 2.5
    http://HOST:PORT/ecs-sim/visibility-lag``; GET answers the current
    value.  A correct client passes with any ``L``.

moto crashes fixed
    Input ECS accepts but plain moto answers with HTTP 500:

    * RunTask of a task definition that sets memory only at task level
      (normal for Fargate): moto adds the containers' ``None`` memory.
      Containers without memory count 0; the task's cpu/memory is the
      floor of what a task reserves.
    * RunTask with the EC2 launch type in a cluster without container
      instances: ECS answers 200 with no task and the failure "No Container
      Instances were found in your cluster.".

Standalone tasks (RunTask, StopTask)
    Tasks started with RunTask follow the clock, not the number of
    DescribeTasks calls.  ``S`` is ``--task-start-delay`` (env
    ``ECS_SIM_TASK_START_DELAY``, default 1.0 s); a task's run time ``R`` is
    the smallest ``ECS_SIM_RUN_SECONDS`` among its containers' environments,
    else ``--task-run-seconds`` (env ``ECS_SIM_TASK_RUN_SECONDS``, default
    2.0 s).  A container's environment is its task definition's
    ``environment`` with RunTask's ``containerOverrides[].environment`` for
    that container on top, so a test drives each task through the ECS API.
    Transitions are applied before every ECS request and on every tick, with
    the timestamps they would have had, so a task nobody looked at for a
    while still shows its whole history.

    * RunTask's response shows lastStatus PROVISIONING, desiredStatus
      RUNNING, ``createdAt``, and one container per container definition
      (moto lists only the first) with lastStatus PENDING and no exitCode
      (moto reports 0 at once); container ``taskArn`` is the task's ARN.
    * ``S/2`` later: PENDING (``pullStartedAt``); ``S`` later: RUNNING
      (``startedAt``, ``pullStoppedAt``), containers RUNNING.
    * ``R`` after RUNNING the essential containers exit: desiredStatus
      STOPPED, lastStatus DEPROVISIONING, stopCode
      EssentialContainerExited, stoppedReason "Essential container in task
      exited", ``stoppingAt`` and ``executionStoppedAt``; every container is
      STOPPED with exitCode = its ``ECS_SIM_EXIT_CODE`` (default 0; all
      containers stop together).  ``S/2`` later the task is STOPPED
      (``stoppedAt``).  ListTasks(desiredStatus=STOPPED) lists it from the
      moment its desiredStatus is STOPPED (moto keeps RUNNING for ever).
    * StopTask: desiredStatus STOPPED, stopCode UserInitiated and
      stoppedReason = the request's ``reason`` (else "Task stopped by
      user") at once, lastStatus unchanged; ``S/2`` later STOPPED, with
      exitCode 143 (SIGTERM) for containers that were running and none for
      a task stopped before it ran (it never runs).  StopTask of a task
      already stopping or stopped changes nothing.
    * Tasks on container instances (EC2) give their resources back when
      they stop, as moto's StopTask does.  Tasks started with StartTask are
      left to plain moto.
    * awsvpc tasks: ``securityGroups`` is optional, as in ECS (moto fails
      without it), and a VPC without DNS hostnames gives ENIs no DNS name
      instead of failing RunTask with an HTTP 500.

Service discovery (ECS ``serviceRegistries`` -> Cloud Map instances)
    moto keeps the ``serviceRegistries`` of CreateService/UpdateService
    (``[{registryArn, port?, containerName?, containerPort?}]``) and returns
    them in DescribeServices, but registers nothing.  The simulation keeps a
    stable list of simulated tasks per deployment (as many as its
    runningCount; task ids are 32 hex digits like ECS task ids) and keeps
    exactly one Cloud Map instance per running task in the Cloud Map service
    named by each ``registryArn`` of the task's deployment (registered
    through moto's servicediscovery backend, so ListInstances, GetInstance,
    GetInstancesHealthStatus and DiscoverInstances show them):

    * instance id = task id; attributes ``AWS_INSTANCE_IPV4`` (a fake
      10.x.y.z, unique per task), ``AWS_INSTANCE_PORT`` (the registry's
      ``port``, else its ``containerPort``; absent when it has neither),
      ``AVAILABILITY_ZONE`` (``<region>a|b|c``), ``AWS_INIT_HEALTH_STATUS``
      HEALTHY, ``ECS_CLUSTER_NAME``, ``ECS_SERVICE_NAME``,
      ``ECS_TASK_DEFINITION_FAMILY``, ``REGION`` (the attributes real ECS
      sets); health status HEALTHY.
    * Instances follow runningCount: they are registered when tasks become
      running (``D`` after CreateService, a rollout or a scale-up started)
      and deregistered when tasks stop (a scale-down ``D`` later; the old
      deployment's tasks when a rollout completes; all of them when a
      deleted service goes DRAINING -> INACTIVE).  During a rollout the old
      tasks stay registered; at completion the new tasks are registered
      first, then the old ones deregistered.
    * Changing ``serviceRegistries`` on UpdateService (an empty list removes
      them) starts a new deployment, as in ECS.  The old tasks stay
      registered in the old Cloud Map service until the new deployment
      completes; then the new tasks are registered in the new service and
      the old ones deregistered.  A circuit-breaker rollback (see above)
      also restores the registries of the last completed deployment (and the
      service's ``serviceRegistries``) and keeps the old tasks registered.
    * A ``registryArn`` that does not name an existing Cloud Map service is
      skipped (retried every tick; logged with ``--verbose``).  ECS's limit
      of one registry per service and its validation of containerName /
      containerPort against the task definition are not enforced.

Cloud Map API (servicediscovery) behaviour
    Real AWS behaviour that plain moto lacks, which the operator relies on:

    * Namespace operations are asynchronous.  Create{Http,PrivateDns,
      PublicDns}Namespace, Update{Http,PrivateDns,PublicDns}Namespace and
      DeleteNamespace return an OperationId whose GetOperation/ListOperations
      status is SUBMITTED for the first fifth of ``O``, PENDING until ``O``,
      then SUCCESS (or FAIL, below), with UpdateDate moving at each change;
      ``O`` is ``--cloudmap-operation-delay`` (env
      ``CLOUDMAP_SIM_OPERATION_DELAY``, default 1.0 s; 0 makes them complete
      at once).  ``Targets`` is ``{"NAMESPACE": "ns-..."}`` from the start.
      A namespace being created is invisible (GetNamespace and
      CreateService in it answer NamespaceNotFound, ListNamespaces and
      DiscoverInstances do not see it) until its operation succeeds; a
      namespace being deleted stays visible until its operation succeeds
      (CreateService in it answers NamespaceNotFound meanwhile).  Updates
      are applied at once; only their operation status lags.  The other
      operations (RegisterInstance, DeregisterInstance, UpdateService) are
      SUCCESS at once, as in moto.
    * Simulated failure: a namespace whose name contains ``simulate-fail``
      is never created; ``O`` after the request its create operation ends
      in status FAIL with ``ErrorCode`` CANNOT_CREATE_HOSTED_ZONE and
      ``ErrorMessage`` "The VPC does not exist (simulated failure: the
      namespace name contains 'simulate-fail')." (the name is free again).
    * DeleteService (Cloud Map) of a service with registered instances fails
      with ResourceInUse "Service contains registered instances; delete the
      instances before deleting the service"; DeleteNamespace of a namespace
      that still has services fails with ResourceInUse "Namespace has
      associated services; delete the services before deleting the
      namespace".  moto deletes both.  DeleteService of an unknown id fails
      with ServiceNotFound (moto: success).
    * Name conflicts: CreateXNamespace with the name of an existing
      namespace (any type, case-insensitive) fails with
      NamespaceAlreadyExists carrying the existing namespace's
      ``NamespaceId`` and ``CreatorRequestId``; with the name of a namespace
      whose create operation is still running it fails with DuplicateRequest
      carrying ``DuplicateOperationId``; DeleteNamespace while a delete of
      the same namespace is running fails with DuplicateRequest too.  Any
      number of private DNS namespaces with different names may share a VPC
      (moto allows one per VPC: ConflictingDomainExists).  CreateService
      with the name of a service of the same namespace fails with
      ServiceAlreadyExists (``ServiceId``, ``ServiceArn``,
      ``CreatorRequestId``).  Retries with the same CreatorRequestId are
      not treated as idempotent: they get these errors too, whose ids let
      the caller adopt the existing resource.
    * Error shapes.  The errors above are serialised by moto from the AWS
      model, like real Cloud Map (awsJson1_1): HTTP status from the model
      (ResourceInUse 409, DuplicateRequest 409, NamespaceAlreadyExists 400,
      ServiceAlreadyExists 400), header ``X-Amzn-ErrorType: <code>``, body
      ``{"__type": "<code>", "Message": "...", <extra members>}``.  moto's
      own errors (NamespaceNotFound, ServiceNotFound, InstanceNotFound,
      OperationNotFound, InvalidInput) keep moto's legacy shape: HTTP 400,
      ``{"__type": "<code>", "message": "..."}``.  The AWS SDKs read the
      code from ``__type`` and either message key; the messages are
      approximations, do not parse them.
    * moto fixes: ListOperations no longer deletes operations (moto drops
      every operation whose target is not an existing namespace on each
      call, so GetOperation of a register/delete operation answered
      OperationNotFound afterwards); the ``Filters`` of ListOperations
      (NAMESPACE_ID, SERVICE_ID, STATUS, TYPE with EQ/IN; UPDATE_DATE with
      BETWEEN), ListNamespaces (TYPE, NAME, HTTP_NAME with EQ/IN/BEGINS_WITH)
      and ListServices (NAMESPACE_ID with EQ/IN) are applied, with
      MaxResults/NextToken paging (moto ignores them); UpdateHttpNamespace
      answers ``OperationId`` (moto: ``operationId``); RegisterInstance of an
      existing instance id replaces it (moto adds a duplicate).

    DiscoverInstances and DiscoverInstancesRevision carry the endpoint host
    prefix ``data-`` in the API model.  SDKs prepend it to a custom endpoint
    too: boto3 with ``endpoint_url="http://127.0.0.1:5000"`` sends them to
    ``http://data-127.0.0.1:5000`` (a name that does not resolve) unless the
    client has ``Config(inject_host_prefix=False)``; aws-sdk-servicediscovery
    (Rust) always prepends it and has no switch, so a Rust test must strip
    it (e.g. an interceptor rewriting the request URI before transmit) or
    make ``data-<host>`` resolve to this server.  The server itself answers
    DiscoverInstances whatever the Host header is.

Service fields (``install_service_field_hooks``)
    * CreateService keeps what moto drops: healthCheckGracePeriodSeconds,
      placementConstraints and placementStrategy (``[]`` when not given),
      capacityProviderStrategy (the service then has no launchType),
      enableExecuteCommand and enableECSManagedTags (false when not given),
      availabilityZoneRebalancing (ENABLED when not given, DISABLED for
      DAEMON, binpack placement or EXTERNAL, as ECS does), and
      deploymentConfiguration filled with ECS's defaults (minimumHealthyPercent
      100 / maximumPercent 200, 0 / 100 for DAEMON; circuit breaker off).
    * serviceConnectConfiguration is reported where ECS reports it: on the
      PRIMARY deployment.  An UpdateService that changes it starts a new
      deployment carrying it; the same value again starts none.
    * UpdateCapacityProvider applies managedDraining (moto ignores it).

What is NOT simulated
=====================

* Tasks of services: no moto Task objects are created, so
  ListTasks/DescribeTasks show nothing for services; the task ids in event
  messages are random.
* For RunTask: placement failures (RunTask ``failures`` such as
  RESOURCE:MEMORY; only "No Container Instances"), TaskFailedToStart,
  container ``reason``s, stopTimeout, and ListTasks' default of
  desiredStatus RUNNING (moto lists every task without the filter).
* Task health, container health checks, load-balancer target health, Cloud
  Map health checks (instances are always HEALTHY), Route 53 records for
  DNS namespaces, placement, capacity (container instances, Fargate
  capacity), minimumHealthyPercent / maximumPercent batching: every rollout
  takes exactly ``D`` seconds.
* Any real cause of failure: rollouts fail only because of the tag above;
  the circuit breaker's failure threshold (it trips on the first failed
  batch) and its alarms-based variant.
* Deployments for configuration changes other than the task definition and
  serviceRegistries (e.g. networkConfiguration, capacity provider strategy)
  unless forceNewDeployment is given; CODE_DEPLOY/EXTERNAL deployment controllers,
  task sets, DAEMON-specific behaviour.

Concurrency
===========

All ECS API requests (``X-Amz-Target: AmazonEC2ContainerServiceV20141113.*``),
Cloud Map requests (``Route53AutoNaming_v20170314.*``) and ``/moto-api``
requests run under one lock that the simulation thread also takes for each
tick, so a response never shows a half-applied transition.  Due task
transitions are applied before each ECS request, so their timing does not
depend on ``--tick`` either.  Cloud Map
operations whose delay has expired are settled before each Cloud Map request
and on every tick, so their timing does not depend on ``--tick``.
Exceptions in the simulation are logged to stderr and the loop carries on.
"""

from __future__ import annotations

import argparse
import contextvars
import itertools
import json
import os
import random
import signal
import sys
import threading
import time
import traceback
import uuid
from typing import Any, Callable, Iterable

FAILURE_TAG = "ecs-operator.dev/simulate-rollout-failure"
ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
CLOUDMAP_TARGET_PREFIX = "Route53AutoNaming_v20170314."
CLOUDMAP_FAIL_MARKER = "simulate-fail"
CLOUDMAP_FAIL_CODE = "CANNOT_CREATE_HOSTED_ZONE"
CLOUDMAP_FAIL_MESSAGE = (
    "The VPC does not exist (simulated failure: the namespace name contains "
    f"'{CLOUDMAP_FAIL_MARKER}')."
)
# Fraction of the Cloud Map operation delay during which status is SUBMITTED.
CLOUDMAP_SUBMITTED_FRACTION = 0.2
MAX_EVENTS = 100
STATE_ATTR = "_ecs_sim_state"

# One lock for ECS requests and the simulation (re-entrant: the wrapped
# backend methods take it again inside a locked request).
LOCK = threading.RLock()
VERBOSE = False


def log(msg: str) -> None:
    print(f"[ecs-sim] {msg}", file=sys.stderr, flush=True)


def debug(msg: str) -> None:
    if VERBOSE:
        log(msg)


def utcnow() -> Any:
    # moto stores naive UTC datetimes; use the same for our timestamps.
    from moto.core.utils import utcnow as moto_utcnow

    return moto_utcnow()


def new_deployment_id() -> str:
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"


def task_ids(n: int) -> str:
    shown = min(n, 5)
    return " ".join(f"(task {uuid.uuid4().hex})" for _ in range(shown))


# 10.0.1.10 onwards; addresses ending in .0 or .255 are skipped.
_ADDRESSES = itertools.count(0x00010A)


class SimTask:
    """A simulated running task: what its Cloud Map instance needs."""

    __slots__ = ("id", "ip", "az")

    def __init__(self, region: str) -> None:
        n = next(_ADDRESSES)
        while n & 0xFF in (0, 0xFF):
            n = next(_ADDRESSES)
        self.id = uuid.uuid4().hex
        self.ip = f"10.{(n >> 16) & 0xFF}.{(n >> 8) & 0xFF}.{n & 0xFF}"
        self.az = f"{region}{'abc'[n % 3]}"


def copy_registries(regs: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in regs or [] if isinstance(r, dict)]


def parse_registry_arn(arn: Any) -> tuple[str, str, str] | None:
    """arn:aws:servicediscovery:REGION:ACCOUNT:service/srv-x -> (account, region, id)."""
    parts = str(arn or "").split(":")
    if len(parts) != 6 or parts[2] != "servicediscovery" or not parts[5].startswith("service/"):
        return None
    return parts[4], parts[3], parts[5].split("/", 1)[1]


def td_family(td_arn: Any) -> str:
    # arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REV (or family:rev)
    return str(td_arn or "").rsplit("/", 1)[-1].rsplit(":", 1)[0]


class ServiceState:
    """Per-service bookkeeping, stored on moto's Service object."""

    def __init__(self, desired: int) -> None:
        self.first_deployment_id: str | None = None
        self.primary_id: str | None = None
        # deployment id -> time.monotonic() when it started / failed
        self.started: dict[str, float] = {}
        self.failed: dict[str, float] = {}
        self.rollback_ids: set[str] = set()
        self.last_completed_td: str | None = None
        self.desired = desired
        self.scale_started: float | None = None
        self.draining_since: float | None = None
        # Service discovery: serviceRegistries per deployment id, running
        # tasks per deployment id, and the Cloud Map instances registered
        # for this service as (account, region, cloud map service id,
        # instance id).
        self.registries: dict[str, list[dict[str, Any]]] = {}
        self.last_completed_registries: list[dict[str, Any]] = []
        self.tasks: dict[str, list[SimTask]] = {}
        self.registered: set[tuple[str, str, str, str]] = set()


class Scheduler:
    """The ECS scheduler simulation. Call methods with LOCK held."""

    def __init__(
        self,
        rollout_delay: float,
        cloudmap: "CloudMapSim | None" = None,
        tasks: "TaskSim | None" = None,
    ) -> None:
        self.delay = rollout_delay
        self.cloudmap = cloudmap
        self.tasks = tasks

    # ----------------------------------------------------------- helpers
    @staticmethod
    def state(svc: Any) -> ServiceState | None:
        return getattr(svc, STATE_ATTR, None)

    @staticmethod
    def primary(svc: Any) -> dict[str, Any] | None:
        for d in svc.deployments:
            if d.get("status") == "PRIMARY":
                return d
        return None

    @staticmethod
    def add_event(svc: Any, message: str) -> None:
        events = getattr(svc, "events", None)
        if not isinstance(events, list):
            return
        events.insert(
            0,
            {"id": str(uuid.uuid4()), "createdAt": utcnow(), "message": message},
        )
        del events[MAX_EVENTS:]

    @staticmethod
    def sync_counts(backend: Any, svc: Any) -> None:
        """Service counts = sums over deployments; keep the cluster in step."""
        running = sum(int(d.get("runningCount") or 0) for d in svc.deployments)
        pending = sum(int(d.get("pendingCount") or 0) for d in svc.deployments)
        cluster = backend.clusters.get(svc.cluster_name)
        if cluster is not None:
            cluster.running_tasks_count += running - int(svc.running_count or 0)
            cluster.pending_tasks_count += pending - int(svc.pending_count or 0)
        svc.running_count = running
        svc.pending_count = pending

    @staticmethod
    def has_failure_tag(svc: Any) -> bool:
        for tag in svc.tags or []:
            if tag.get("key") == FAILURE_TAG and str(tag.get("value")).lower() == "true":
                return True
        return False

    @staticmethod
    def normalise_td(backend: Any, svc: Any) -> None:
        td = svc.task_definition
        if not td or str(td).startswith("arn:"):
            return
        try:
            svc.task_definition = backend.describe_task_definition(td).arn
        except Exception:  # unknown task definition: leave moto's value
            pass

    @staticmethod
    def prune(svc: Any, st: ServiceState) -> None:
        """Drop ACTIVE deployments without tasks (nothing left to drain),
        except FAILED ones still lingering for visibility."""
        svc.deployments = [
            d
            for d in svc.deployments
            if d.get("status") == "PRIMARY"
            or d.get("id") in st.failed
            or int(d.get("runningCount") or 0) > 0
            or int(d.get("pendingCount") or 0) > 0
        ]

    def label(self, svc: Any) -> str:
        return f"(service {svc.name})"

    # ------------------------------------------------------- transitions
    def adopt(self, backend: Any, svc: Any) -> ServiceState | None:
        """First sight of a service: restart moto's initial deployment."""
        st = ServiceState(int(svc.desired_count or 0))
        setattr(svc, STATE_ATTR, st)
        self.normalise_td(backend, svc)
        prim = self.primary(svc)
        if prim is None:
            return st
        now = utcnow()
        prim.update(
            taskDefinition=svc.task_definition,
            desiredCount=st.desired,
            runningCount=0,
            pendingCount=st.desired,
            failedTasks=0,
            rolloutState="IN_PROGRESS",
            rolloutStateReason=f"ECS deployment {prim['id']} in progress.",
            updatedAt=now,
        )
        st.first_deployment_id = prim["id"]
        st.primary_id = prim["id"]
        st.started[prim["id"]] = time.monotonic()
        st.registries[prim["id"]] = copy_registries(svc.service_registries)
        self.sync_counts(backend, svc)
        if st.desired:
            self.add_event(
                svc,
                f"{self.label(svc)} has started {st.desired} tasks: {task_ids(st.desired)}.",
            )
        debug(f"{svc.arn}: adopted, deployment {prim['id']} IN_PROGRESS")
        return st

    def start_deployment(self, backend: Any, svc: Any, st: ServiceState) -> None:
        old = self.primary(svc)
        now = utcnow()
        dep = dict(old) if old else {}
        dep_id = new_deployment_id()
        desired = int(svc.desired_count or 0)
        dep.update(
            id=dep_id,
            status="PRIMARY",
            taskDefinition=svc.task_definition,
            desiredCount=desired,
            runningCount=0,
            pendingCount=desired,
            failedTasks=0,
            rolloutState="IN_PROGRESS",
            rolloutStateReason=f"ECS deployment {dep_id} in progress.",
            createdAt=now,
            updatedAt=now,
        )
        if getattr(svc, "network_configuration", None):
            dep["networkConfiguration"] = svc.network_configuration
        for d in svc.deployments:
            if d.get("status") == "PRIMARY":
                # Superseded: keeps its running tasks, starts no more.
                d.update(status="ACTIVE", pendingCount=0, updatedAt=now)
        svc.deployments = [dep] + svc.deployments
        self.prune(svc, st)
        st.primary_id = dep_id
        st.started[dep_id] = time.monotonic()
        st.registries[dep_id] = copy_registries(svc.service_registries)
        st.desired = desired
        st.scale_started = None
        self.sync_counts(backend, svc)
        if desired:
            self.add_event(
                svc, f"{self.label(svc)} has started {desired} tasks: {task_ids(desired)}."
            )
        debug(f"{svc.arn}: new deployment {dep_id} ({svc.task_definition})")

    def scale(self, backend: Any, svc: Any, st: ServiceState, prim: dict[str, Any]) -> None:
        desired = int(svc.desired_count or 0)
        prev = st.desired
        st.desired = desired
        prim["desiredCount"] = desired
        prim["updatedAt"] = utcnow()
        if prim.get("rolloutState") == "IN_PROGRESS":
            prim["pendingCount"] = desired
        elif prim.get("rolloutState") == "COMPLETED":
            running = int(prim.get("runningCount") or 0)
            prim["pendingCount"] = max(desired - running, 0)
            st.scale_started = time.monotonic()
            if desired > running:
                n = desired - running
                self.add_event(svc, f"{self.label(svc)} has started {n} tasks: {task_ids(n)}.")
            elif desired < running:
                n = running - desired
                self.add_event(
                    svc, f"{self.label(svc)} has stopped {n} running tasks: {task_ids(n)}."
                )
        self.sync_counts(backend, svc)
        debug(f"{svc.arn}: desiredCount {prev} -> {desired}")

    def complete(self, backend: Any, svc: Any, st: ServiceState, prim: dict[str, Any]) -> None:
        now = utcnow()
        desired = int(svc.desired_count or 0)
        drained = sum(
            int(d.get("runningCount") or 0) for d in svc.deployments if d is not prim
        )
        prim.update(
            desiredCount=desired,
            runningCount=desired,
            pendingCount=0,
            rolloutState="COMPLETED",
            rolloutStateReason=f"ECS deployment {prim['id']} completed.",
            updatedAt=now,
        )
        # Old deployments have drained; FAILED ones linger until their own timer.
        svc.deployments = [prim] + [
            d for d in svc.deployments if d is not prim and d.get("id") in st.failed
        ]
        st.last_completed_td = prim.get("taskDefinition")
        st.last_completed_registries = copy_registries(st.registries.get(prim["id"]))
        st.scale_started = None
        self.sync_counts(backend, svc)
        if drained:
            self.add_event(
                svc, f"{self.label(svc)} has stopped {drained} running tasks: {task_ids(drained)}."
            )
        self.add_event(svc, f"{self.label(svc)} deployment {prim['id']} deployment completed.")
        self.add_event(svc, f"{self.label(svc)} has reached a steady state.")
        debug(f"{svc.arn}: deployment {prim['id']} COMPLETED")

    def tasks_failed(
        self, backend: Any, svc: Any, st: ServiceState, prim: dict[str, Any]
    ) -> None:
        """A batch of the deployment's tasks failed to start: what happens next is
        the service's circuit breaker's call (see circuit_breaker)."""
        enable, rollback = circuit_breaker(svc)
        if enable:
            self.fail(backend, svc, st, prim, rollback)
        else:
            self.retry_failed_tasks(svc, st, prim)

    def retry_failed_tasks(self, svc: Any, st: ServiceState, prim: dict[str, Any]) -> None:
        """No circuit breaker: ECS keeps launching replacements for ever; the
        deployment stays IN_PROGRESS and its failedTasks climbs by one batch
        every delay."""
        batch = max(int(prim.get("desiredCount") or 0), 1)
        first = not int(prim.get("failedTasks") or 0)
        prim.update(
            failedTasks=int(prim.get("failedTasks") or 0) + batch,
            runningCount=0,
            pendingCount=int(svc.desired_count or 0),
            updatedAt=utcnow(),
        )
        st.started[prim["id"]] = time.monotonic()
        if first:
            self.add_event(
                svc, f"{self.label(svc)} is unable to consistently start tasks successfully."
            )
        self.add_event(svc, f"{self.label(svc)} has started {batch} tasks: {task_ids(batch)}.")
        debug(f"{svc.arn}: deployment {prim['id']} failedTasks {prim['failedTasks']}")

    def fail(
        self,
        backend: Any,
        svc: Any,
        st: ServiceState,
        prim: dict[str, Any],
        rollback: bool = True,
    ) -> None:
        now = utcnow()
        failed = max(int(prim.get("desiredCount") or 0), 1)
        prim.update(
            runningCount=0,
            pendingCount=0,
            failedTasks=int(prim.get("failedTasks") or 0) + failed,
            rolloutState="FAILED",
            rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.",
            updatedAt=now,
        )
        st.failed[prim["id"]] = time.monotonic()
        self.add_event(
            svc,
            f"{self.label(svc)} (deployment {prim['id']}) deployment failed: tasks failed to start.",
        )
        target = st.last_completed_td
        if not rollback:
            # The FAILED deployment stays PRIMARY; the older ones keep their tasks.
            self.prune(svc, st)
            self.sync_counts(backend, svc)
            debug(f"{svc.arn}: deployment {prim['id']} FAILED, no rollback (circuit breaker)")
            return
        if not target:
            # Nothing to roll back to: the PRIMARY stays FAILED.
            self.prune(svc, st)
            self.sync_counts(backend, svc)
            debug(f"{svc.arn}: deployment {prim['id']} FAILED, nothing to roll back to")
            return
        desired = int(svc.desired_count or 0)
        dep_id = new_deployment_id()
        rollback = dict(prim)
        rollback.update(
            id=dep_id,
            status="PRIMARY",
            taskDefinition=target,
            desiredCount=desired,
            runningCount=desired,
            pendingCount=0,
            failedTasks=0,
            rolloutState="COMPLETED",
            rolloutStateReason=f"ECS deployment {dep_id} completed.",
            createdAt=now,
            updatedAt=now,
        )
        prim.update(status="ACTIVE")
        # Older ACTIVE deployments' tasks are taken over by the rollback.
        st.tasks[dep_id] = [
            t
            for d in svc.deployments
            if d is not prim and d.get("id") not in st.failed
            for t in st.tasks.get(d.get("id"), [])
        ]
        st.registries[dep_id] = copy_registries(st.last_completed_registries)
        svc.service_registries = copy_registries(st.last_completed_registries)
        svc.deployments = [rollback, prim] + [
            d
            for d in svc.deployments
            if d is not prim and d.get("id") in st.failed
        ]
        svc.task_definition = target
        st.primary_id = dep_id
        st.rollback_ids.add(dep_id)
        st.started[dep_id] = time.monotonic()
        st.desired = desired
        st.scale_started = None
        self.sync_counts(backend, svc)
        self.add_event(svc, f"{self.label(svc)} rolling back to deployment {dep_id}.")
        self.add_event(svc, f"{self.label(svc)} has reached a steady state.")
        debug(f"{svc.arn}: deployment {prim['id']} FAILED, rolled back to {target} ({dep_id})")

    # ------------------------------------------------------------- hooks
    def observe(self, backend: Any, svc: Any, force: bool = False) -> None:
        """React to API changes (new task definition, desiredCount, force)."""
        if svc.status != "ACTIVE" or not svc.deployments:
            return
        st = self.state(svc)
        if st is None:
            st = self.adopt(backend, svc)
            if st is None:
                return
        self.normalise_td(backend, svc)
        prim = self.primary(svc)
        if prim is None:
            return
        if (
            force
            or prim.get("taskDefinition") != svc.task_definition
            or copy_registries(svc.service_registries) != st.registries.get(prim["id"], [])
        ):
            self.start_deployment(backend, svc, st)
        elif int(svc.desired_count or 0) != st.desired:
            self.scale(backend, svc, st, prim)

    def advance(self, backend: Any, svc: Any) -> None:
        """Time-based progress of one service."""
        st = self.state(svc)
        if st is None:
            return
        now = time.monotonic()
        if svc.status == "DRAINING":
            if st.draining_since is not None and now - st.draining_since >= self.delay:
                for d in svc.deployments:
                    d.update(runningCount=0, pendingCount=0, updatedAt=utcnow())
                self.sync_counts(backend, svc)
                svc.status = "INACTIVE"
                debug(f"{svc.arn}: DRAINING -> INACTIVE")
            return
        if svc.status != "ACTIVE":
            return
        # Failed deployments disappear one delay after failing (unless still
        # PRIMARY because there was nothing to roll back to).
        for dep_id, t in list(st.failed.items()):
            if now - t < self.delay:
                continue
            dep = next((d for d in svc.deployments if d.get("id") == dep_id), None)
            if dep is None:
                del st.failed[dep_id]
            elif dep.get("status") != "PRIMARY":
                svc.deployments = [d for d in svc.deployments if d is not dep]
                del st.failed[dep_id]
        prim = self.primary(svc)
        if prim is None:
            return
        if prim.get("rolloutState") == "IN_PROGRESS":
            started = st.started.get(prim["id"], now)
            if now - started >= self.delay:
                if (
                    self.has_failure_tag(svc)
                    and prim["id"] != st.first_deployment_id
                    and prim["id"] not in st.rollback_ids
                ):
                    self.tasks_failed(backend, svc, st, prim)
                else:
                    self.complete(backend, svc, st, prim)
        elif (
            prim.get("rolloutState") == "COMPLETED"
            and st.scale_started is not None
            and now - st.scale_started >= self.delay
        ):
            desired = int(svc.desired_count or 0)
            prim.update(runningCount=desired, pendingCount=0, updatedAt=utcnow())
            st.scale_started = None
            self.sync_counts(backend, svc)
            self.add_event(svc, f"{self.label(svc)} has reached a steady state.")
            debug(f"{svc.arn}: scaled to {desired}")

    def tick(self) -> None:
        from moto.ecs.models import ecs_backends

        for _account, regions in list(ecs_backends.items()):
            for _region, backend in list(regions.items()):
                for svc in list(backend.services.values()):
                    try:
                        self.observe(backend, svc)
                        self.advance(backend, svc)
                        self.sync_discovery(svc)
                    except Exception:
                        log(f"error simulating {getattr(svc, 'name', svc)!r}:")
                        traceback.print_exc(file=sys.stderr)

    # ------------------------------------------------- service discovery
    def sync_discovery(self, svc: Any) -> None:
        """Make the Cloud Map instances of ``svc`` match its running tasks:
        one instance per running task of each deployment, in the Cloud Map
        services of that deployment's serviceRegistries."""
        st = self.state(svc)
        if st is None:
            return
        region = svc.region_name
        live: set[str] = set()
        wanted: dict[tuple[str, str, str, str], dict[str, str]] = {}
        for d in svc.deployments:
            dep_id = d.get("id")
            live.add(dep_id)
            running = max(int(d.get("runningCount") or 0), 0)
            tasks = st.tasks.setdefault(dep_id, [])
            while len(tasks) < running:
                tasks.append(SimTask(region))
            del tasks[running:]
            for reg in st.registries.get(dep_id, []):
                target = parse_registry_arn(reg.get("registryArn"))
                if target is None:
                    continue
                port = reg.get("port") or reg.get("containerPort")
                for t in tasks:
                    attrs = {
                        "AWS_INSTANCE_IPV4": t.ip,
                        "AVAILABILITY_ZONE": t.az,
                        "AWS_INIT_HEALTH_STATUS": "HEALTHY",
                        "ECS_CLUSTER_NAME": svc.cluster_name,
                        "ECS_SERVICE_NAME": svc.name,
                        "ECS_TASK_DEFINITION_FAMILY": td_family(d.get("taskDefinition")),
                        "REGION": region,
                    }
                    if port:
                        attrs["AWS_INSTANCE_PORT"] = str(port)
                    wanted[(*target, t.id)] = attrs
        for dep_id in list(st.tasks):
            if dep_id not in live:
                del st.tasks[dep_id]
        for dep_id in list(st.registries):
            if dep_id not in live:
                del st.registries[dep_id]
        # Register the new tasks first, then deregister the stopped ones.
        for key, attrs in wanted.items():
            if key not in st.registered and self.register(key, attrs):
                st.registered.add(key)
        for key in list(st.registered):
            if key not in wanted:
                self.deregister(key)
                st.registered.discard(key)

    def release_discovery(self, svc: Any) -> None:
        """Deregister every instance of a service that is going away."""
        st = self.state(svc)
        if st is None:
            return
        for key in list(st.registered):
            self.deregister(key)
        st.registered.clear()

    @staticmethod
    def register(key: tuple[str, str, str, str], attrs: dict[str, str]) -> bool:
        from moto.servicediscovery.models import servicediscovery_backends

        account, region, service_id, instance_id = key
        try:
            servicediscovery_backends[account][region].register_instance(
                service_id=service_id,
                instance_id=instance_id,
                creator_request_id=None,
                attributes=dict(attrs),
            )
        except Exception as e:  # unknown Cloud Map service: retried next tick
            debug(f"cannot register {instance_id} in {service_id}: {e!r}")
            return False
        debug(f"registered instance {instance_id} in {service_id} ({attrs['AWS_INSTANCE_IPV4']})")
        return True

    @staticmethod
    def deregister(key: tuple[str, str, str, str]) -> None:
        from moto.servicediscovery.models import servicediscovery_backends

        account, region, service_id, instance_id = key
        try:
            servicediscovery_backends[account][region].deregister_instance(
                service_id=service_id, instance_id=instance_id
            )
            debug(f"deregistered instance {instance_id} from {service_id}")
        except Exception as e:  # already gone (e.g. deregistered by hand)
            debug(f"cannot deregister {instance_id} from {service_id}: {e!r}")

    def run_forever(self, tick: float) -> None:
        while True:
            try:
                with LOCK:
                    if self.cloudmap is not None:
                        self.cloudmap.settle()
                    if self.tasks is not None:
                        self.tasks.settle()
                    self.tick()
            except Exception:
                log("error in scheduler tick:")
                traceback.print_exc(file=sys.stderr)
            time.sleep(tick)


# --------------------------------------------------------------------------
# Hooks into moto's ECS backend so API responses already reflect the change.


def _snapshot(backend: Any, svc: Any) -> tuple[Any, int, int, int, int]:
    cluster = backend.clusters.get(svc.cluster_name)
    return (
        cluster,
        cluster.running_tasks_count if cluster else 0,
        cluster.pending_tasks_count if cluster else 0,
        svc.running_count,
        svc.pending_count,
    )


def _restore(snap: tuple[Any, int, int, int, int], svc: Any) -> None:
    cluster, c_running, c_pending, s_running, s_pending = snap
    if cluster is not None:
        cluster.running_tasks_count = c_running
        cluster.pending_tasks_count = c_pending
    svc.running_count = s_running
    svc.pending_count = s_pending


def install_hooks(sched: Scheduler) -> None:
    from moto.ecs.exceptions import ECSException
    from moto.ecs.models import EC2ContainerServiceBackend as Backend

    orig_create: Callable[..., Any] = Backend.create_service
    orig_update: Callable[..., Any] = Backend.update_service
    orig_delete: Callable[..., Any] = Backend.delete_service

    def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
        with LOCK:
            cluster = self._get_cluster(args[0] if args else kwargs["cluster_str"])
            name = args[1] if len(args) > 1 else kwargs["service_name"]
            replaced = self.services.get(f"{cluster.name}:{name}")
            before = (cluster.running_tasks_count, cluster.pending_tasks_count)
            svc = orig_create(self, *args, **kwargs)
            # Undo moto's count bookkeeping; the simulation redoes it.
            cluster.running_tasks_count, cluster.pending_tasks_count = before
            if replaced is not None and replaced is not svc:
                # moto silently replaces a service of the same name.
                cluster.running_tasks_count -= int(replaced.running_count or 0)
                cluster.pending_tasks_count -= int(replaced.pending_count or 0)
                sched.release_discovery(replaced)
            svc.running_count = 0
            svc.pending_count = 0
            try:
                sched.observe(self, svc)
            except Exception:
                log("error in create_service hook:")
                traceback.print_exc(file=sys.stderr)
            return svc

    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        with LOCK:
            try:
                svc = self._get_service(
                    service_properties.get("cluster", "default"),
                    str(service_properties.get("service", "")).split("/")[-1],
                )
            except Exception:
                svc = None
            if svc is None or sched.state(svc) is None:
                return orig_update(self, service_properties)
            if svc.status != "ACTIVE":
                raise ECSException("ServiceNotActiveException", "Service was not ACTIVE.")
            snap = _snapshot(self, svc)
            force = bool(service_properties.get("force_new_deployment"))
            prim = sched.primary(svc)
            prim_before = dict(prim) if prim is not None else None
            try:
                return orig_update(self, service_properties)
            finally:
                # moto sets runningCount = desiredCount and rewrites the
                # primary deployment's id on force; undo, then simulate.
                _restore(snap, svc)
                if prim is not None and prim_before is not None:
                    prim.clear()
                    prim.update(prim_before)
                try:
                    sched.observe(self, svc, force=force)
                except Exception:
                    log("error in update_service hook:")
                    traceback.print_exc(file=sys.stderr)

    def delete_service(self: Any, cluster_name: str, service_name: str, force: bool) -> Any:
        with LOCK:
            svc = self._get_service(cluster_name, service_name)
            snap = _snapshot(self, svc)
            prev_status = svc.status
            result = orig_delete(self, cluster_name, service_name, force)
            st = sched.state(svc)
            if st is None:
                return result
            _restore(snap, svc)
            if prev_status == "DRAINING":
                svc.status = "DRAINING"
            elif prev_status == "ACTIVE":
                svc.status = "DRAINING"
                svc.desired_count = 0
                st.desired = 0
                st.draining_since = time.monotonic()
                for d in svc.deployments:
                    d.update(desiredCount=0, pendingCount=0, updatedAt=utcnow())
                sched.sync_counts(self, svc)
                debug(f"{svc.arn}: DRAINING")
            return result

    Backend.create_service = create_service  # type: ignore[method-assign]
    Backend.update_service = update_service  # type: ignore[method-assign]
    Backend.delete_service = delete_service  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# Service fields moto drops: CreateService keeps them, DescribeServices
# reports them as ECS does (with ECS's defaults), Service Connect lives on the
# deployments.

# CreateService members moto's create_service ignores, as (request key,
# attribute moto's serializer reads).
CREATE_FIELDS = (
    ("healthCheckGracePeriodSeconds", "health_check_grace_period_seconds"),
    ("placementConstraints", "placement_constraints"),
    ("placementStrategy", "placement_strategy"),
    ("capacityProviderStrategy", "capacity_provider_strategy"),
    ("enableExecuteCommand", "enable_execute_command"),
    ("enableECSManagedTags", "enable_ecs_managed_tags"),
    ("availabilityZoneRebalancing", "availability_zone_rebalancing"),
)


def default_az_rebalancing(params: dict[str, Any]) -> str:
    """CreateService's default: ENABLED, except for the services ECS cannot
    rebalance (DAEMON, binpack placement, EXTERNAL launch type)."""
    daemon = params.get("schedulingStrategy") == "DAEMON"
    binpack = any(p.get("type") == "binpack" for p in params.get("placementStrategy") or [])
    external = params.get("launchType") == "EXTERNAL"
    return "DISABLED" if daemon or binpack or external else "ENABLED"


def set_service_connect(svc: Any, config: Any) -> None:
    """Service Connect runs per deployment: the PRIMARY deployment carries it."""
    svc.service_connect_configuration = config
    prim = Scheduler.primary(svc)
    if prim is not None:
        if config is None:
            prim.pop("serviceConnectConfiguration", None)
        else:
            prim["serviceConnectConfiguration"] = config


def store_create_fields(svc: Any, params: dict[str, Any]) -> None:
    """Keep the CreateService members moto drops, filled with ECS's defaults."""
    for key, attr in CREATE_FIELDS:
        if key in params:
            setattr(svc, attr, params[key])
    svc.placement_constraints = params.get("placementConstraints") or []
    svc.placement_strategy = params.get("placementStrategy") or []
    svc.enable_execute_command = bool(params.get("enableExecuteCommand", False))
    svc.enable_ecs_managed_tags = bool(params.get("enableECSManagedTags", False))
    svc.availability_zone_rebalancing = params.get(
        "availabilityZoneRebalancing"
    ) or default_az_rebalancing(params)
    if params.get("capacityProviderStrategy"):
        # A service on capacity providers has no launch type (moto says EC2).
        svc.launch_type = None
        for d in svc.deployments:
            d.pop("launchType", None)
            d["capacityProviderStrategy"] = params["capacityProviderStrategy"]
    # deploymentConfiguration: install_deployment_configuration_hooks.
    if params.get("serviceConnectConfiguration") is not None:
        set_service_connect(svc, params["serviceConnectConfiguration"])


def install_service_field_hooks() -> None:
    """CreateService stores what moto drops; UpdateService of Service Connect
    starts a new deployment that carries it (as ECS does)."""
    from moto.ecs.models import EC2ContainerServiceBackend as Backend
    from moto.ecs.responses import EC2ContainerServiceResponse as Response

    orig_create_response: Callable[..., Any] = Response.create_service
    inner_update: Callable[..., Any] = Backend.update_service

    def create_service(self: Any) -> Any:
        with LOCK:
            result = orig_create_response(self)
            params = self._get_params()
            cluster = self.ecs_backend._get_cluster(params.get("cluster", "default"))
            svc = self.ecs_backend.services.get(f"{cluster.name}:{params.get('serviceName')}")
            if svc is not None:
                store_create_fields(svc, params)
            return result

    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        with LOCK:
            config = service_properties.pop("service_connect_configuration", None)
            if config is None:
                return inner_update(self, service_properties)
            try:
                svc = self._get_service(
                    service_properties.get("cluster", "default"),
                    str(service_properties.get("service", "")).split("/")[-1],
                )
            except Exception:
                svc = None
            if svc is not None and getattr(svc, "service_connect_configuration", None) != config:
                service_properties["force_new_deployment"] = True
            result = inner_update(self, service_properties)
            set_service_connect(result, config)
            return result

    Response.create_service = create_service  # type: ignore[method-assign]
    Backend.update_service = update_service  # type: ignore[method-assign]


def install_capacity_provider_hooks() -> None:
    """UpdateCapacityProvider applies managedDraining too (moto keeps only
    managedScaling and managedTerminationProtection)."""
    from moto.ecs.models import CapacityProvider

    orig_update: Callable[..., Any] = CapacityProvider.update

    def update(self: Any, asg_details: dict[str, Any]) -> None:
        with LOCK:
            orig_update(self, asg_details)
            if "managedDraining" in asg_details:
                self.auto_scaling_group_provider["managedDraining"] = asg_details[
                    "managedDraining"
                ]

    CapacityProvider.update = update  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# Standalone tasks (RunTask / StopTask): state by elapsed time, exit codes.

RUN_SECONDS_VAR = "ECS_SIM_RUN_SECONDS"
EXIT_CODE_VAR = "ECS_SIM_EXIT_CODE"
TASK_STATE_ATTR = "_ecs_sim_task"
# Exit code of a container stopped by StopTask (SIGTERM).
SIGTERM_EXIT_CODE = 143
ESSENTIAL_EXITED_REASON = "Essential container in task exited"
USER_STOPPED_REASON = "Task stopped by user"


class SimContainer:
    """A container of a simulated task, in the shape of ECS's ``Container``
    (moto's serializer reads these attributes)."""

    def __init__(self, task: Any, definition: dict[str, Any], env: dict[str, str]) -> None:
        self.container_arn = (
            f"{task.cluster_arn.replace(':cluster/', ':container/')}/{task.id}/{uuid.uuid4()}"
        )
        self.task_arn = task.task_arn
        self.name = definition.get("name")
        self.image = definition.get("image")
        self.last_status = "PENDING"
        self.exit_code: int | None = None
        self.reason: str | None = None
        self.network_interfaces: list[Any] = []
        self.health_status = "UNKNOWN"
        self.cpu = str(definition.get("cpu", 0))
        memory = definition.get("memory")
        self.memory = str(memory) if memory is not None else None
        self.env = env


def parse_exit_code(raw: str | None) -> int:
    try:
        return int(raw) if raw not in (None, "") else 0
    except ValueError:
        debug(f"{EXIT_CODE_VAR}={raw!r} is not an integer: exit code 0")
        return 0


class TaskState:
    """Per-task timeline (``time.monotonic()``), stored on moto's Task."""

    def __init__(self, created: float, start_delay: float, run_seconds: float) -> None:
        self.pending_at = created + start_delay / 2
        self.running_at = created + start_delay
        self.exits_at = self.running_at + run_seconds
        # Set when the task starts stopping (its containers exited or StopTask).
        self.stopping_since: float | None = None
        self.stopped_at_mono: float | None = None


class TaskSim:
    """Simulated lifecycle of tasks started with RunTask.  Call with LOCK held."""

    def __init__(self, start_delay: float, run_seconds: float) -> None:
        self.start_delay = start_delay
        self.run_seconds = run_seconds
        self.stop_delay = start_delay / 2
        # Tasks not yet STOPPED: (backend, task).
        self.live: list[tuple[Any, Any]] = []

    @staticmethod
    def state(task: Any) -> TaskState | None:
        return getattr(task, TASK_STATE_ATTR, None)

    @staticmethod
    def at(when: float) -> Any:
        """The wall-clock (naive UTC) time of monotonic instant ``when``."""
        from datetime import timedelta

        return utcnow() - timedelta(seconds=max(time.monotonic() - when, 0.0))

    @staticmethod
    def container_envs(backend: Any, task: Any) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """Each container definition with its environment: the task
        definition's, then RunTask's containerOverrides for that container."""
        td = backend.describe_task_definition(task.task_definition_arn)
        overrides = {
            o.get("name"): o
            for o in (task.overrides or {}).get("containerOverrides") or []
            if isinstance(o, dict)
        }
        out = []
        for definition in td.container_definitions:
            env = {
                str(kv.get("name")): str(kv.get("value", ""))
                for kv in definition.get("environment") or []
            }
            for kv in (overrides.get(definition.get("name")) or {}).get("environment") or []:
                env[str(kv.get("name"))] = str(kv.get("value", ""))
            out.append((definition, env))
        return out

    def run_seconds_of(self, containers: list[SimContainer]) -> float:
        values = []
        for c in containers:
            raw = c.env.get(RUN_SECONDS_VAR)
            if raw in (None, ""):
                continue
            try:
                values.append(max(float(raw), 0.0))
            except ValueError:
                debug(f"{RUN_SECONDS_VAR}={raw!r} is not a number: ignored")
        return min(values) if values else self.run_seconds

    def started(self, backend: Any, task: Any) -> None:
        """Take over a task RunTask just created: PROVISIONING, all its
        containers, its run time and exit codes."""
        # moto advances a task one state per DescribeTasks; the simulation
        # sets the state itself.
        task._transitions = []
        task.containers = [
            SimContainer(task, definition, env)
            for definition, env in self.container_envs(backend, task)
        ]
        now = time.monotonic()
        st = TaskState(now, self.start_delay, self.run_seconds_of(task.containers))
        setattr(task, TASK_STATE_ATTR, st)
        task.last_status = "PROVISIONING"
        task.desired_status = "RUNNING"
        task.created_at = self.at(now)
        for attr in (
            "stop_code",
            "pull_started_at",
            "pull_stopped_at",
            "started_at",
            "stopping_at",
            "execution_stopped_at",
            "stopped_at",
        ):
            setattr(task, attr, None)
        self.live.append((backend, task))
        debug(f"{task.task_arn}: PROVISIONING, runs {st.exits_at - st.running_at:g}s")

    def begin_stop(self, task: Any, when: float, stop_code: str, reason: str) -> None:
        st = self.state(task)
        if st is None or st.stopping_since is not None:
            return
        st.stopping_since = when
        task.desired_status = "STOPPED"
        task.stop_code = stop_code
        task.stopped_reason = reason
        task.stopping_at = self.at(when)
        debug(f"{task.task_arn}: stopping ({stop_code}: {reason})")

    def stop_task(self, backend: Any, task: Any, reason: str | None) -> None:
        """StopTask: desiredStatus STOPPED at once, STOPPED after the stop delay."""
        self.settle()
        if task.last_status == "STOPPED":
            return
        self.begin_stop(task, time.monotonic(), "UserInitiated", reason or USER_STOPPED_REASON)

    def settle(self) -> None:
        """Apply every transition whose time has come."""
        now = time.monotonic()
        live = []
        for backend, task in self.live:
            try:
                if not self.advance(backend, task, now):
                    live.append((backend, task))
            except Exception:
                log(f"error simulating task {getattr(task, 'task_arn', task)!r}:")
                traceback.print_exc(file=sys.stderr)
        self.live = live

    def advance(self, backend: Any, task: Any, now: float) -> bool:
        """Moves one task to where it is at ``now``, transitions in time order
        (a task not looked at for a while still gets every timestamp); True
        once STOPPED."""
        st = self.state(task)
        if st is None:
            return True
        # A task stopped by StopTask before it ran never runs.
        runs = st.stopping_since is None or st.stopping_since >= st.running_at
        if task.last_status == "PROVISIONING" and now >= st.pending_at and runs:
            task.last_status = "PENDING"
            task.pull_started_at = self.at(st.pending_at)
        if task.last_status == "PENDING" and now >= st.running_at and runs:
            task.last_status = "RUNNING"
            task.pull_stopped_at = self.at(st.running_at)
            task.started_at = self.at(st.running_at)
            for c in task.containers:
                c.last_status = "RUNNING"
            debug(f"{task.task_arn}: RUNNING")
        if st.stopping_since is None and now >= st.exits_at:
            self.begin_stop(task, st.exits_at, "EssentialContainerExited", ESSENTIAL_EXITED_REASON)
            task.last_status = "DEPROVISIONING"
            task.execution_stopped_at = self.at(st.exits_at)
            for c in task.containers:
                c.last_status = "STOPPED"
                c.exit_code = parse_exit_code(c.env.get(EXIT_CODE_VAR))
        if st.stopping_since is not None and now >= st.stopping_since + self.stop_delay:
            self.stopped(backend, task, st)
            return True
        return False

    def stopped(self, backend: Any, task: Any, st: TaskState) -> None:
        when = st.stopping_since + self.stop_delay  # type: ignore[operator]
        was_running = task.started_at is not None
        for c in task.containers:
            if c.last_status != "STOPPED":
                c.last_status = "STOPPED"
                if was_running:
                    c.exit_code = SIGTERM_EXIT_CODE
        if getattr(task, "execution_stopped_at", None) is None:
            task.execution_stopped_at = self.at(when)
        task.stopped_at = self.at(when)
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        # As moto's StopTask does for tasks on container instances.
        if task.container_instance_arn:
            try:
                cluster = backend.clusters[task.cluster_name]
                instance = backend.container_instances[task.cluster_name][
                    task.container_instance_arn.split("/")[-1]
                ]
                backend.update_container_instance_resources(
                    instance, task.resource_requirements, removing=True
                )
                backend.update_cluster_resources(cluster, -1, task_state="RUNNING")
            except Exception as e:
                debug(f"cannot release the resources of {task.task_arn}: {e!r}")
        debug(f"{task.task_arn}: STOPPED ({task.stop_code})")


def install_task_hooks(sim: TaskSim) -> None:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ecs.models import EC2ContainerServiceBackend as Backend

    # moto sets an ENI's private DNS name only in VPCs with DNS hostnames, but RunTask of an
    # awsvpc task reads it for every ENI (AttributeError: an HTTP 500).  Real ECS reports
    # the attachment without a DNS name then.  See run_task for securityGroups.
    if not hasattr(NetworkInterface, "private_dns_name"):
        NetworkInterface.private_dns_name = None  # type: ignore[attr-defined]

    orig_run: Callable[..., Any] = Backend.run_task
    orig_stop: Callable[..., Any] = Backend.stop_task

    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Real ECS makes securityGroups optional (the VPC's default group); moto needs it.
        net = args[7] if len(args) > 7 else kwargs.get("networking_configuration")
        if isinstance(net, dict) and isinstance(net.get("awsvpcConfiguration"), dict):
            net["awsvpcConfiguration"].setdefault("securityGroups", [])
        with LOCK:
            tasks = orig_run(self, *args, **kwargs)
            for task in tasks:
                sim.started(self, task)
            return tasks

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        with LOCK:
            cluster = self._get_cluster(cluster_str)
            task_id = task_str.split("/")[-1]
            for arn, task in (self.tasks.get(cluster.name) or {}).items():
                if arn.endswith(task_id) and sim.state(task) is not None:
                    sim.stop_task(self, task, reason)
                    return task
            return orig_stop(self, cluster_str, task_str, reason)

    Backend.run_task = run_task  # type: ignore[method-assign]
    Backend.stop_task = stop_task  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# Cloud Map (servicediscovery): real-AWS behaviour on top of moto's backend.


def cloudmap_error(code: str, message: str, **members: Any) -> Exception:
    """An error serialised by moto from the Cloud Map model: the model's HTTP
    status, X-Amzn-ErrorType and {"__type", "Message", members...}.  Keyword
    arguments are the error's extra members in snake_case."""
    from moto.core.exceptions import ServiceException

    # Defined here, outside moto's packages: moto looks an error's shape up
    # in the model of the request's service (and of the moto package that
    # raised it, which must then be a real service).
    class CloudMapError(ServiceException):
        pass

    err = CloudMapError(code, message)
    for name, value in members.items():
        setattr(err, name, value)
    return err


class PendingOperation:
    """A Cloud Map operation that has not finished yet."""

    def __init__(
        self,
        backend: Any,
        op: Any,
        namespace: Any,
        on_success: Callable[[], None],
        on_fail: Callable[[], None] | None = None,
    ) -> None:
        self.backend = backend
        self.op = op
        self.namespace = namespace
        self.on_success = on_success
        self.on_fail = on_fail  # set: the operation ends in FAIL
        self.started = time.monotonic()


class CloudMapSim:
    """Asynchronous namespace operations and the other Cloud Map behaviour
    listed in the module docstring.  Call methods with LOCK held."""

    def __init__(self, operation_delay: float) -> None:
        self.delay = operation_delay
        self.pending: list[PendingOperation] = []

    # --------------------------------------------------------- operations
    def start(self, p: PendingOperation) -> None:
        from moto.core.utils import unix_time

        p.op.status = "SUBMITTED"
        p.op.updated = unix_time()
        self.pending.append(p)
        self.settle()

    def settle(self) -> None:
        """Move every pending operation to the status its age calls for."""
        from moto.core.utils import unix_time

        now = time.monotonic()
        still: list[PendingOperation] = []
        for p in self.pending:
            age = now - p.started
            if age >= self.delay:
                try:
                    if p.on_fail is not None:
                        p.on_fail()
                        p.op.status = "FAIL"
                        p.op._sim_error = (CLOUDMAP_FAIL_CODE, CLOUDMAP_FAIL_MESSAGE)
                    else:
                        p.on_success()
                        p.op.status = "SUCCESS"
                except Exception:
                    log(f"error finishing Cloud Map operation {p.op.id}:")
                    traceback.print_exc(file=sys.stderr)
                    p.op.status = "FAIL"
                    p.op._sim_error = ("INTERNAL_FAILURE", "Simulation error.")
                p.op.updated = unix_time()
                debug(f"Cloud Map operation {p.op.id} ({p.op.operation_type}) {p.op.status}")
                continue
            status = "SUBMITTED" if age < self.delay * CLOUDMAP_SUBMITTED_FRACTION else "PENDING"
            if p.op.status != status:
                p.op.status = status
                p.op.updated = unix_time()
            still.append(p)
        self.pending = still

    def pending_for(self, backend: Any, op_type: str) -> Iterable[PendingOperation]:
        return [
            p
            for p in self.pending
            if p.backend is backend and p.op.operation_type == op_type
        ]

    # ---------------------------------------------------------- namespaces
    def check_new_name(self, backend: Any, name: Any) -> None:
        wanted = str(name or "").lower()
        for p in self.pending_for(backend, "CREATE_NAMESPACE"):
            if p.namespace.name.lower() == wanted:
                raise cloudmap_error(
                    "DuplicateRequest",
                    f"A namespace named {name} is already being created.",
                    duplicate_operation_id=p.op.id,
                )
        for ns in backend.namespaces.values():
            if str(ns.name).lower() == wanted:
                raise cloudmap_error(
                    "NamespaceAlreadyExists",
                    f"Namespace {name} already exists.",
                    creator_request_id=ns.creator_request_id,
                    namespace_id=ns.id,
                )

    def created(self, backend: Any, op_id: str) -> None:
        """A namespace moto just created becomes visible once its operation succeeds."""
        op = backend.operations[op_id]
        ns = backend.namespaces.pop(op.targets["NAMESPACE"])

        def succeed() -> None:
            from moto.core.utils import unix_time

            ns.created = ns.updated = unix_time()
            backend.namespaces[ns.id] = ns

        def fail() -> None:
            self.discard_namespace(backend, ns)

        failing = CLOUDMAP_FAIL_MARKER in str(ns.name)
        self.start(PendingOperation(backend, op, ns, succeed, fail if failing else None))

    @staticmethod
    def discard_namespace(backend: Any, ns: Any) -> None:
        """Forget a namespace and what moto made for it (hosted zone, tags)."""
        backend.namespaces.pop(ns.id, None)
        try:
            backend.tagger.delete_all_tags_for_resource(ns.arn)
        except Exception:
            pass
        zone = (ns.dns_properties or {}).get("HostedZoneId")
        if zone:
            from moto.route53 import route53_backends
            from moto.utilities.utils import get_partition

            try:
                route53_backends[backend.account_id][
                    get_partition(backend.region_name)
                ].delete_hosted_zone(zone)
            except Exception as e:
                debug(f"cannot delete hosted zone {zone} of {ns.id}: {e!r}")

    def deleting(self, backend: Any, namespace_id: str) -> PendingOperation | None:
        for p in self.pending_for(backend, "DELETE_NAMESPACE"):
            if p.namespace.id == namespace_id:
                return p
        return None

    # ------------------------------------------------------------- filters
    @staticmethod
    def matches(value: Any, condition: str, values: list[Any]) -> bool:
        value = "" if value is None else str(value)
        values = [str(v) for v in values or []]
        if condition == "BEGINS_WITH":
            return any(value.startswith(v) for v in values)
        return value in values  # EQ, IN

    @staticmethod
    def page(params: dict[str, Any], items: list[Any]) -> tuple[list[Any], str | None]:
        token = params.get("NextToken")
        start = int(token) if token and str(token).isdigit() else 0
        size = int(params.get("MaxResults") or 100)
        end = start + max(size, 1)
        return items[start:end], (str(end) if end < len(items) else None)


def install_cloudmap_hooks(cloudmap: CloudMapSim) -> None:
    from moto.servicediscovery.exceptions import (
        InvalidInput,
        NamespaceNotFound,
        ServiceNotFound,
    )
    from moto.servicediscovery.models import Operation
    from moto.servicediscovery.models import ServiceDiscoveryBackend as Backend
    from moto.servicediscovery.responses import ServiceDiscoveryResponse as Response

    orig: dict[str, Callable[..., Any]] = {
        name: getattr(Backend, name)
        for name in (
            "create_http_namespace",
            "create_private_dns_namespace",
            "create_public_dns_namespace",
            "update_http_namespace",
            "update_private_dns_namespace",
            "update_public_dns_namespace",
            "create_service",
            "delete_service",
            "register_instance",
        )
    }

    def make_create(name: str) -> Callable[..., Any]:
        def create(self: Any, **kwargs: Any) -> str:
            with LOCK:
                cloudmap.settle()
                cloudmap.check_new_name(self, kwargs.get("name"))
                if name == "create_private_dns_namespace":
                    # moto allows one private DNS namespace per VPC; real
                    # Cloud Map only refuses the same name (checked above).
                    others, self.namespaces = self.namespaces, {}
                    try:
                        op_id = orig[name](self, **kwargs)
                    finally:
                        others.update(self.namespaces)
                        self.namespaces = others
                else:
                    op_id = orig[name](self, **kwargs)
                cloudmap.created(self, op_id)
                return op_id

        return create

    def make_update(name: str) -> Callable[..., Any]:
        def update(self: Any, *args: Any, **kwargs: Any) -> str:
            with LOCK:
                cloudmap.settle()
                op_id = orig[name](self, *args, **kwargs)
                op = self.operations[op_id]
                ns = self.namespaces.get(op.targets.get("NAMESPACE"))
                cloudmap.start(PendingOperation(self, op, ns, lambda: None))
                return op_id

        return update

    def delete_namespace(self: Any, namespace_id: str) -> str:
        with LOCK:
            cloudmap.settle()
            ns = self.namespaces.get(namespace_id)
            if ns is None:
                raise NamespaceNotFound(namespace_id)
            running = cloudmap.deleting(self, namespace_id)
            if running is not None:
                raise cloudmap_error(
                    "DuplicateRequest",
                    f"Namespace {namespace_id} is already being deleted.",
                    duplicate_operation_id=running.op.id,
                )
            if any(s.namespace_id == namespace_id for s in self.services.values()):
                raise cloudmap_error(
                    "ResourceInUse",
                    "Namespace has associated services; delete the services "
                    "before deleting the namespace",
                )
            op_id = self._create_operation("DELETE_NAMESPACE", targets={"NAMESPACE": namespace_id})
            cloudmap.start(
                PendingOperation(
                    self,
                    self.operations[op_id],
                    ns,
                    lambda: cloudmap.discard_namespace(self, ns),
                )
            )
            return op_id

    def create_service(self: Any, **kwargs: Any) -> Any:
        with LOCK:
            cloudmap.settle()
            ns_id = kwargs.get("namespace_id") or (kwargs.get("dns_config") or {}).get(
                "NamespaceId"
            )
            if ns_id is not None:
                if ns_id not in self.namespaces or cloudmap.deleting(self, ns_id):
                    raise NamespaceNotFound(ns_id)
                kwargs["namespace_id"] = ns_id
                wanted = str(kwargs.get("name") or "").lower()
                for s in self.services.values():
                    if s.namespace_id == ns_id and str(s.name).lower() == wanted:
                        raise cloudmap_error(
                            "ServiceAlreadyExists",
                            f"Service {kwargs.get('name')} already exists.",
                            creator_request_id=s.creator_request_id,
                            service_id=s.id,
                            service_arn=s.arn,
                        )
            return orig["create_service"](self, **kwargs)

    def delete_service(self: Any, service_id: str) -> None:
        with LOCK:
            svc = self.services.get(service_id)
            if svc is None:
                raise ServiceNotFound(service_id)
            if svc.instances:
                raise cloudmap_error(
                    "ResourceInUse",
                    "Service contains registered instances; delete the instances "
                    "before deleting the service",
                )
            return orig["delete_service"](self, service_id)

    def register_instance(self: Any, **kwargs: Any) -> str:
        with LOCK:
            svc = self.get_service(kwargs.get("service_id"))
            # Re-registering an instance id replaces the instance.
            svc.instances = [
                i for i in svc.instances if i.instance_id != kwargs.get("instance_id")
            ]
            return orig["register_instance"](self, **kwargs)

    def list_operations(self: Any) -> Iterable[Any]:
        # moto drops every operation whose target is not an existing namespace.
        return list(self.operations.values())

    for kind in ("http", "private_dns", "public_dns"):
        setattr(Backend, f"create_{kind}_namespace", make_create(f"create_{kind}_namespace"))
        setattr(Backend, f"update_{kind}_namespace", make_update(f"update_{kind}_namespace"))
    Backend.delete_namespace = delete_namespace  # type: ignore[method-assign]
    Backend.create_service = create_service  # type: ignore[method-assign]
    Backend.delete_service = delete_service  # type: ignore[method-assign]
    Backend.register_instance = register_instance  # type: ignore[method-assign]
    Backend.list_operations = list_operations  # type: ignore[method-assign]

    orig_op_json: Callable[..., Any] = Operation.to_json

    def op_to_json(self: Any, short: bool = False) -> dict[str, Any]:
        out = orig_op_json(self, short)
        error = getattr(self, "_sim_error", None)
        if error is not None and not short:
            out["ErrorCode"], out["ErrorMessage"] = error
        return out

    Operation.to_json = op_to_json  # type: ignore[method-assign]

    # --- responses: Filters and paging, and moto's "operationId" typo.
    def filtered(
        params: dict[str, Any], items: list[Any], fields: dict[str, Callable[[Any], Any]]
    ) -> list[Any]:
        for f in params.get("Filters") or []:
            name = f.get("Name")
            condition = f.get("Condition") or "EQ"
            values = f.get("Values") or []
            if name == "UPDATE_DATE" and "UPDATE_DATE" in fields:
                try:
                    lo, hi = (float(v) for v in values)
                except ValueError:
                    raise InvalidInput(
                        "UPDATE_DATE takes BETWEEN and two epoch-second values"
                    ) from None
                items = [i for i in items if lo <= fields[name](i) <= hi]
                continue
            if name == "STATUS":
                values = ["SUCCESS" if v == "SUCCEED" else v for v in values]
            get = fields.get(name)
            if get is not None:
                items = [i for i in items if cloudmap.matches(get(i), condition, values)]
        return items

    def params_of(resp: Any) -> dict[str, Any]:
        try:
            return json.loads(resp.body or "{}") or {}
        except (TypeError, ValueError):
            return {}

    def listed(key: str, params: dict[str, Any], items: list[Any], short: bool = False) -> str:
        page, token = cloudmap.page(params, items)
        out: dict[str, Any] = {
            key: [i.to_json(short=True) if short else i.to_json() for i in page]
        }
        if token:
            out["NextToken"] = token
        return json.dumps(out)

    def resp_list_operations(self: Any) -> str:
        params = params_of(self)
        ops = filtered(
            params,
            list(self.servicediscovery_backend.list_operations()),
            {
                "NAMESPACE_ID": lambda o: o.targets.get("NAMESPACE"),
                "SERVICE_ID": lambda o: o.targets.get("SERVICE"),
                "STATUS": lambda o: o.status,
                "TYPE": lambda o: o.operation_type,
                "UPDATE_DATE": lambda o: float(o.updated),
            },
        )
        return listed("Operations", params, ops, short=True)

    def resp_list_namespaces(self: Any) -> str:
        params = params_of(self)
        namespaces = filtered(
            params,
            list(self.servicediscovery_backend.list_namespaces()),
            {
                "TYPE": lambda n: n.type,
                "NAME": lambda n: n.name,
                "HTTP_NAME": lambda n: (n.http_properties or {}).get("HttpName", n.name),
            },
        )
        return listed("Namespaces", params, namespaces)

    def resp_list_services(self: Any) -> str:
        params = params_of(self)
        services = filtered(
            params,
            list(self.servicediscovery_backend.list_services()),
            {"NAMESPACE_ID": lambda s: s.namespace_id},
        )
        return listed("Services", params, services)

    orig_update_http: Callable[..., Any] = Response.update_http_namespace

    def resp_update_http_namespace(self: Any) -> str:
        out = json.loads(orig_update_http(self))
        if "operationId" in out:
            out["OperationId"] = out.pop("operationId")
        return json.dumps(out)

    Response.list_operations = resp_list_operations  # type: ignore[method-assign]
    Response.list_namespaces = resp_list_namespaces  # type: ignore[method-assign]
    Response.list_services = resp_list_services  # type: ignore[method-assign]
    Response.update_http_namespace = resp_update_http_namespace  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# Deployment configuration (moto drops it) and the circuit breaker it sets.

# What ECS reports for a service created without deploymentConfiguration.
DEFAULT_DEPLOYMENT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}
DAEMON_DEPLOYMENT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 100,
    "minimumHealthyPercent": 0,
}


def circuit_breaker(svc: Any) -> tuple[bool, bool]:
    """(enable, rollback) of the service's deployment circuit breaker."""
    config = getattr(svc, "deployment_configuration", None) or {}
    breaker = config.get("deploymentCircuitBreaker") or {}
    return bool(breaker.get("enable")), bool(breaker.get("rollback"))


def apply_deployment_configuration(svc: Any, requested: Any) -> None:
    """Store CreateService/UpdateService's deploymentConfiguration on moto's
    service (moto's serializer then returns it in DescribeServices): ECS's
    defaults first, each member the request sets replaces the stored one."""
    current = getattr(svc, "deployment_configuration", None)
    if current is None:
        daemon = getattr(svc, "scheduling_strategy", None) == "DAEMON"
        base = DAEMON_DEPLOYMENT_CONFIGURATION if daemon else DEFAULT_DEPLOYMENT_CONFIGURATION
        current = json.loads(json.dumps(base))
    if isinstance(requested, dict):
        current.update(json.loads(json.dumps(requested)))
    svc.deployment_configuration = current


def install_deployment_configuration_hooks() -> None:
    """Keep the deploymentConfiguration of CreateService and UpdateService."""
    from moto.ecs.responses import EC2ContainerServiceResponse as Response

    orig_create: Callable[..., Any] = Response.create_service
    orig_update: Callable[..., Any] = Response.update_service

    def create_service(self: Any) -> Any:
        with LOCK:
            result = orig_create(self)
            apply_deployment_configuration(
                result.result["service"], self.params.get("deploymentConfiguration")
            )
            return result

    def update_service(self: Any) -> Any:
        with LOCK:
            try:
                svc = self.ecs_backend._get_service(
                    self.params.get("cluster") or "default",
                    str(self.params.get("service") or "").split("/")[-1],
                )
                before = getattr(svc, "deployment_configuration", None)
            except Exception:  # moto answers the error
                before = None
            result = orig_update(self)
            svc = result.result["service"]
            # moto stores every UpdateService parameter as given, replacing the whole
            # configuration; ECS replaces only the members the request sets.
            svc.deployment_configuration = before
            apply_deployment_configuration(svc, self.params.get("deploymentConfiguration"))
            return result

    Response.create_service = create_service  # type: ignore[method-assign]
    Response.update_service = update_service  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# Idempotency (clientToken) of CreateService and RunTask, as ECS does it.

# How long ECS remembers a client token.  Documented for RunTask (24 hours);
# assumed the same for CreateService.
CLIENT_TOKEN_TTL = 24 * 3600.0
CREATE_REQUEST_ATTR = "_ecs_sim_create_request"
NOT_IDEMPOTENT = "Creation of service was not idempotent."
STILL_DRAINING = "Unable to Start a service that is still Draining."
TOKEN_CONFLICT = "The specified client token is already in use with a different RunTask request."


def request_fingerprint(params: dict[str, Any]) -> str:
    """The parameters of a request, minus its client token, in a comparable form."""
    rest = {k: v for k, v in params.items() if k != "clientToken"}
    return json.dumps(rest, sort_keys=True, default=str)


def ecs_conflict(message: str, resource_ids: list[str]) -> Exception:
    """ECS's ConflictException (RunTask's reused client token), serialised by moto
    from the ECS model with its ``resourceIds`` member."""
    from moto.core.exceptions import ServiceException

    # Outside moto's packages, like cloudmap_error: moto looks the shape up in the
    # model of the request's service.
    class ConflictError(ServiceException):
        pass

    err = ConflictError("ConflictException", message)
    err.resource_ids = list(resource_ids)  # type: ignore[attr-defined]
    return err


class IdempotencySim:
    """Client tokens ECS has seen, per (account, region, cluster, token):
    (request fingerprint, what the request created, monotonic time).  ECS scopes
    tokens to a cluster.  Call with LOCK held."""

    def __init__(self) -> None:
        self.services: dict[tuple[str, str, str, str], tuple[str, Any, float]] = {}
        self.runs: dict[tuple[str, str, str, str], tuple[str, list[Any], float]] = {}

    @staticmethod
    def live(entry: Any) -> bool:
        return entry is not None and time.monotonic() - entry[2] < CLIENT_TOKEN_TTL

    def create_service(self, backend: Any, params: dict[str, Any], create: Callable[[], Any]) -> Any:
        """CreateService: the service to answer with (``create()`` makes a new one).

        * a DRAINING service of that name: InvalidParameterException "Unable to
          Start a service that is still Draining.";
        * an ACTIVE service of that name: the same service when this token and
          these parameters created it (a retry), else InvalidParameterException
          "Creation of service was not idempotent." (another token, no token, or
          other parameters);
        * no service of that name (or an INACTIVE one): a token already used in
          this cluster with other parameters (another name included) gets
          "Creation of service was not idempotent." too; the same token with
          the same parameters answers the service it created, whatever its
          status now; otherwise a new service.
        """
        from moto.ecs.exceptions import InvalidParameterException

        cluster = backend._get_cluster(params.get("cluster") or "default")
        name = str(params.get("serviceName") or "")
        token = params.get("clientToken")
        fingerprint = request_fingerprint(params)
        existing = backend.services.get(f"{cluster.name}:{name}")
        if existing is not None and existing.status == "DRAINING":
            raise InvalidParameterException(STILL_DRAINING)
        if existing is not None and existing.status == "ACTIVE":
            if token and getattr(existing, CREATE_REQUEST_ATTR, None) == (token, fingerprint):
                debug(f"{existing.arn}: CreateService retried with the same token")
                return existing
            raise InvalidParameterException(NOT_IDEMPOTENT)
        key = (backend.account_id, backend.region_name, cluster.name, str(token))
        seen = self.services.get(key) if token else None
        if self.live(seen):
            if seen[0] != fingerprint:  # type: ignore[index]
                raise InvalidParameterException(NOT_IDEMPOTENT)
            return seen[1]  # type: ignore[index]
        svc = create()
        setattr(svc, CREATE_REQUEST_ATTR, (token, fingerprint))
        if token:
            self.services[key] = (fingerprint, svc, time.monotonic())
        return svc

    def run_task(
        self, backend: Any, params: dict[str, Any], run: Callable[[], list[Any]]
    ) -> list[Any]:
        """RunTask: the same token with the same parameters answers the tasks the
        first request started (nothing new starts); with other parameters
        ConflictException naming those tasks in ``resourceIds``."""
        token = params.get("clientToken")
        if not token:
            return run()
        cluster = backend._get_cluster(params.get("cluster") or "default")
        key = (backend.account_id, backend.region_name, cluster.name, str(token))
        fingerprint = request_fingerprint(params)
        seen = self.runs.get(key)
        if self.live(seen):
            if seen[0] != fingerprint:  # type: ignore[index]
                raise ecs_conflict(TOKEN_CONFLICT, [t.task_arn for t in seen[1]])  # type: ignore[index]
            debug(f"RunTask retried with token {token}: {len(seen[1])} tasks")  # type: ignore[index]
            return list(seen[1])  # type: ignore[index]
        tasks = run()
        self.runs[key] = (fingerprint, list(tasks), time.monotonic())
        return tasks


def install_idempotency_hooks(idem: IdempotencySim) -> None:
    """Wrap the CreateService and RunTask *responses*: only they see the request's
    clientToken and full parameters (moto's backend gets neither)."""
    from moto.core.responses import ActionResult
    from moto.ecs.responses import EC2ContainerServiceResponse as Response

    orig_create: Callable[..., Any] = Response.create_service
    orig_run: Callable[..., Any] = Response.run_task

    def create_service(self: Any) -> Any:
        with LOCK:
            made: list[Any] = []

            def create() -> Any:
                made.append(orig_create(self))
                return self.ecs_backend.services[
                    f"{self.ecs_backend._get_cluster(self.params.get('cluster') or 'default').name}"
                    f":{self.params.get('serviceName')}"
                ]

            svc = idem.create_service(self.ecs_backend, dict(self.params), create)
            return made[0] if made else ActionResult({"service": svc})

    def run_task(self: Any) -> Any:
        with LOCK:
            made: list[Any] = []

            def run() -> list[Any]:
                result = orig_run(self)
                made.append(result)
                return list(result.result.get("tasks") or [])

            tasks = idem.run_task(self.ecs_backend, dict(self.params), run)
            return made[0] if made else ActionResult({"tasks": tasks, "failures": []})

    Response.create_service = create_service  # type: ignore[method-assign]
    Response.run_task = run_task  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# Eventual consistency: new task definitions, tasks and services show up in
# List*/Describe* only after a lag.

VISIBLE_AT_ATTR = "_ecs_sim_visible_at"
# True while an ECS List*/Describe* request is being answered: only those
# answers hide what is not visible yet; the simulation and the other calls
# (CreateService with a task definition just registered, StopTask of a task
# just started, ...) see everything.
_READING: "contextvars.ContextVar[bool]" = contextvars.ContextVar("ecs_sim_reading", default=False)
READ_ACTIONS = (
    "list_task_definitions",
    "list_task_definition_families",
    "describe_task_definition",
    "list_tasks",
    "describe_tasks",
    "list_services",
    "describe_services",
)


class Visibility:
    """The visibility lag (seconds) given to what is created from now on."""

    def __init__(self, lag: float) -> None:
        self.lag = lag

    def mark(self, obj: Any, share: float = 1.0) -> None:
        """Hide ``obj`` from reads for ``share`` of the lag."""
        if self.lag > 0:
            setattr(obj, VISIBLE_AT_ATTR, time.monotonic() + self.lag * share)

    @staticmethod
    def hidden(obj: Any) -> bool:
        if not _READING.get():
            return False
        at = getattr(obj, VISIBLE_AT_ATTR, None)
        return at is not None and time.monotonic() < at


def install_visibility_hooks(vis: Visibility) -> None:
    """Mark what RegisterTaskDefinition, RunTask and CreateService create, and
    leave it out of the read calls until its lag has passed.  Install after the
    other ECS hooks (it wraps them)."""
    from moto.ecs.exceptions import TaskDefinitionNotFoundException
    from moto.ecs.models import EC2ContainerServiceBackend as Backend
    from moto.ecs.responses import EC2ContainerServiceResponse as Response

    orig_register: Callable[..., Any] = Backend.register_task_definition
    orig_run: Callable[..., Any] = Backend.run_task
    orig_create: Callable[..., Any] = Backend.create_service
    orig_list_tds: Callable[..., Any] = Backend.list_task_definitions
    orig_families: Callable[..., Any] = Backend.list_task_definition_families
    orig_describe_td: Callable[..., Any] = Backend.describe_task_definition
    orig_list_tasks: Callable[..., Any] = Backend.list_tasks
    orig_describe_tasks: Callable[..., Any] = Backend.describe_tasks
    orig_list_services: Callable[..., Any] = Backend.list_services
    orig_describe_services: Callable[..., Any] = Backend.describe_services

    def register_task_definition(self: Any, *args: Any, **kwargs: Any) -> Any:
        td = orig_register(self, *args, **kwargs)
        vis.mark(td)
        return td

    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        tasks = orig_run(self, *args, **kwargs)
        # The tasks of one call surface one by one, so that a ListTasks during the lag can
        # see part of them, as ECS's can.
        for i, task in enumerate(tasks):
            vis.mark(task, (i + 1) / len(tasks))
        return tasks

    def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
        svc = orig_create(self, *args, **kwargs)
        vis.mark(svc)
        return svc

    def td_of_arn(self: Any, arn: str) -> Any:
        family, _, rev = arn.rsplit("/", 1)[-1].rpartition(":")
        return (self.task_definitions.get(family) or {}).get(int(rev)) if rev.isdigit() else None

    def list_task_definitions(self: Any, *args: Any, **kwargs: Any) -> list[str]:
        arns = orig_list_tds(self, *args, **kwargs)
        return [a for a in arns if not vis.hidden(td_of_arn(self, a))]

    def list_task_definition_families(self: Any, *args: Any, **kwargs: Any) -> Iterable[str]:
        for family in orig_families(self, *args, **kwargs):
            if any(not vis.hidden(td) for td in self.task_definitions.get(family, {}).values()):
                yield family

    def describe_task_definition(self: Any, task_definition_str: str) -> Any:
        if not _READING.get():
            return orig_describe_td(self, task_definition_str)
        name = str(task_definition_str).split("/")[-1]
        if ":" not in name:
            # The latest revision ECS shows is the latest visible one.
            visible = [
                rev
                for rev, td in self.task_definitions.get(name, {}).items()
                if not vis.hidden(td)
            ]
            if not visible:
                raise TaskDefinitionNotFoundException()
            return self.task_definitions[name][max(visible)]
        td = orig_describe_td(self, task_definition_str)
        if vis.hidden(td):
            raise TaskDefinitionNotFoundException()
        return td

    def list_tasks(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [t for t in orig_list_tasks(self, *args, **kwargs) if not vis.hidden(t)]

    def describe_tasks(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [t for t in orig_describe_tasks(self, *args, **kwargs) if not vis.hidden(t)]

    def list_services(self: Any, *args: Any, **kwargs: Any) -> list[str]:
        arns = orig_list_services(self, *args, **kwargs)
        hidden = {s.arn for s in self.services.values() if vis.hidden(s)}
        return [a for a in arns if a not in hidden]

    def describe_services(self: Any, *args: Any, **kwargs: Any) -> Any:
        services, failures = orig_describe_services(self, *args, **kwargs)
        shown = [s for s in services if not vis.hidden(s)]
        failures = list(failures) + [
            {"arn": s.arn, "reason": "MISSING"} for s in services if vis.hidden(s)
        ]
        return shown, failures

    def make_read(orig: Callable[..., Any]) -> Callable[..., Any]:
        def read(self: Any) -> Any:
            token = _READING.set(True)
            try:
                return orig(self)
            finally:
                _READING.reset(token)

        return read

    for action in READ_ACTIONS:
        setattr(Response, action, make_read(getattr(Response, action)))
    Backend.register_task_definition = register_task_definition  # type: ignore[method-assign]
    Backend.run_task = run_task  # type: ignore[method-assign]
    Backend.create_service = create_service  # type: ignore[method-assign]
    Backend.list_task_definitions = list_task_definitions  # type: ignore[method-assign]
    Backend.list_task_definition_families = list_task_definition_families  # type: ignore[method-assign]
    Backend.describe_task_definition = describe_task_definition  # type: ignore[method-assign]
    Backend.list_tasks = list_tasks  # type: ignore[method-assign]
    Backend.describe_tasks = describe_tasks  # type: ignore[method-assign]
    Backend.list_services = list_services  # type: ignore[method-assign]
    Backend.describe_services = describe_services  # type: ignore[method-assign]


class SimControl:
    """``/ecs-sim/visibility-lag``: GET answers the lag in seconds, PUT or POST
    with a number as body sets it for what is created from then on."""

    PATH = "/ecs-sim/visibility-lag"

    def __init__(self, app: Callable[..., Iterable[bytes]], vis: Visibility) -> None:
        self.app = app
        self.vis = vis

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "") != self.PATH:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method in ("PUT", "POST"):
            try:
                size = int(environ.get("CONTENT_LENGTH") or 0)
                lag = float(environ["wsgi.input"].read(size).decode().strip())
                if lag < 0:
                    raise ValueError(lag)
            except (ValueError, UnicodeDecodeError):
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [b"the body must be a number of seconds >= 0\n"]
            with LOCK:
                self.vis.lag = lag
            log(f"visibility lag set to {lag}s")
        elif method != "GET":
            start_response("405 Method Not Allowed", [("Allow", "GET, PUT, POST")])
            return [b""]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{self.vis.lag}\n".encode()]


# --------------------------------------------------------------------------
# moto crashes (HTTP 500) on input ECS accepts.


def task_level_units(raw: Any) -> int:
    """A task-level ``cpu``/``memory``: "512", or with a unit ("1 GB", "0.5 vCPU")."""
    text = str(raw or "").strip().upper()
    try:
        if text.endswith("GB"):
            return int(float(text[:-2]) * 1024)
        if text.endswith("VCPU"):
            return int(float(text[:-4]) * 1024)
        return int(float(text or 0))
    except ValueError:
        return 0


def install_moto_fixes() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend as Backend

    def task_resource_requirements(task_definition: Any) -> dict[str, Any]:
        """moto's version adds each container's memory, None when only the task
        sets memory (normal for Fargate): TypeError, HTTP 500 from RunTask.  A
        container without memory counts 0; a task-level cpu/memory is the
        floor, as ECS reserves it for the task."""
        cpu = memory = 0
        ports: list[Any] = []
        for cd in task_definition.container_definitions:
            cpu += int(cd.get("cpu", cd.get("Cpu")) or 0)
            memory += int(
                cd.get("memory")
                or cd.get("Memory")
                or cd.get("memoryReservation")
                or cd.get("MemoryReservation")
                or 0
            )
            for mapping in cd.get("portMappings", cd.get("PortMappings")) or []:
                port = mapping.get("hostPort", mapping.get("HostPort"))
                if port is not None:
                    ports.append(port)
        memory = max(memory, task_level_units(getattr(task_definition, "memory", None)))
        cpu = max(cpu, task_level_units(getattr(task_definition, "cpu", None)))
        return {"CPU": cpu, "MEMORY": memory, "PORTS": ports, "PORTS_UDP": []}

    Backend._calculate_task_resource_requirements = staticmethod(  # type: ignore[method-assign]
        task_resource_requirements
    )

    from moto.core.responses import ActionResult
    from moto.ecs.responses import EC2ContainerServiceResponse as Response

    orig_run: Callable[..., Any] = Response.run_task

    def run_task(self: Any) -> Any:
        """An EC2 RunTask in a cluster without container instances: moto raises a
        bare Exception (HTTP 500); ECS answers with a failure and no task."""
        try:
            return orig_run(self)
        except Exception as e:
            if not str(e).startswith("No instances found in cluster"):
                raise
            cluster = self.ecs_backend._get_cluster(self.params.get("cluster") or "default")
            return ActionResult(
                {
                    "tasks": [],
                    "failures": [
                        {
                            "arn": cluster.arn,
                            "reason": "No Container Instances were found in your cluster.",
                        }
                    ],
                }
            )

    Response.run_task = run_task  # type: ignore[method-assign]


class LockingMiddleware:
    """Serialise ECS, Cloud Map and /moto-api requests with the simulation
    thread; settle due Cloud Map operations before each Cloud Map request and
    due task transitions before each ECS request."""

    def __init__(
        self, app: Callable[..., Iterable[bytes]], cloudmap: CloudMapSim, tasks: TaskSim
    ) -> None:
        self.app = app
        self.cloudmap = cloudmap
        self.tasks = tasks

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        path = environ.get("PATH_INFO", "")
        cloudmap = target.startswith(CLOUDMAP_TARGET_PREFIX)
        if not (
            cloudmap or target.startswith(ECS_TARGET_PREFIX) or path.startswith("/moto-api")
        ):
            return self.app(environ, start_response)
        with LOCK:
            if cloudmap:
                self.cloudmap.settle()
            elif target.startswith(ECS_TARGET_PREFIX):
                self.tasks.settle()
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]


# --------------------------------------------------------------------------


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        sys.exit(f"{name} must be a number, got {raw!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="moto server with a simulated ECS service scheduler "
        "(see the module docstring)."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, required=True, help="port to bind (0: any free port)")
    p.add_argument(
        "--tick",
        type=float,
        default=env_float("ECS_SIM_TICK", 0.5),
        help="scheduler period in seconds (env ECS_SIM_TICK, default 0.5)",
    )
    p.add_argument(
        "--rollout-delay",
        type=float,
        default=env_float("ECS_SIM_ROLLOUT_DELAY", 1.0),
        help="seconds a deployment, scale or drain takes "
        "(env ECS_SIM_ROLLOUT_DELAY, default 1.0)",
    )
    p.add_argument(
        "--cloudmap-operation-delay",
        type=float,
        default=env_float("CLOUDMAP_SIM_OPERATION_DELAY", 1.0),
        help="seconds a Cloud Map namespace operation stays SUBMITTED/PENDING "
        "(env CLOUDMAP_SIM_OPERATION_DELAY, default 1.0)",
    )
    p.add_argument(
        "--task-start-delay",
        type=float,
        default=env_float("ECS_SIM_TASK_START_DELAY", 1.0),
        help="seconds from RunTask until a task is RUNNING; stopping takes half "
        "of it (env ECS_SIM_TASK_START_DELAY, default 1.0)",
    )
    p.add_argument(
        "--task-run-seconds",
        type=float,
        default=env_float("ECS_SIM_TASK_RUN_SECONDS", 2.0),
        help=f"seconds a task runs unless its containers set {RUN_SECONDS_VAR} "
        "(env ECS_SIM_TASK_RUN_SECONDS, default 2.0)",
    )
    p.add_argument(
        "--visibility-lag",
        type=float,
        default=env_float("ECS_SIM_VISIBILITY_LAG", 0.0),
        help="seconds before a new task definition, task or service shows in "
        "List*/Describe* (env ECS_SIM_VISIBILITY_LAG, default 0; PUT "
        f"{SimControl.PATH} changes it at run time)",
    )
    p.add_argument(
        "--no-scheduler",
        action="store_true",
        help="plain moto, no ECS or Cloud Map simulation",
    )
    p.add_argument(
        "--verbose", action="store_true", help="log simulated transitions to stderr"
    )
    args = p.parse_args(argv)
    if args.tick <= 0:
        p.error("--tick must be > 0")
    if args.rollout_delay < 0:
        p.error("--rollout-delay must be >= 0")
    if args.cloudmap_operation_delay < 0:
        p.error("--cloudmap-operation-delay must be >= 0")
    if args.task_start_delay < 0:
        p.error("--task-start-delay must be >= 0")
    if args.task_run_seconds < 0:
        p.error("--task-run-seconds must be >= 0")
    if args.visibility_lag < 0:
        p.error("--visibility-lag must be >= 0")
    return args


def main(argv: list[str] | None = None) -> None:
    global VERBOSE
    args = parse_args(argv)
    VERBOSE = args.verbose

    import moto
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app: Any = DomainDispatcherApplication(create_backend_app)
    if not args.no_scheduler:
        cloudmap = CloudMapSim(args.cloudmap_operation_delay)
        tasks = TaskSim(args.task_start_delay, args.task_run_seconds)
        sched = Scheduler(args.rollout_delay, cloudmap, tasks)
        visibility = Visibility(args.visibility_lag)
        install_moto_fixes()
        install_hooks(sched)
        install_service_field_hooks()
        install_capacity_provider_hooks()
        install_task_hooks(tasks)
        install_deployment_configuration_hooks()
        install_idempotency_hooks(IdempotencySim())
        install_visibility_hooks(visibility)
        install_cloudmap_hooks(cloudmap)
        app = SimControl(LockingMiddleware(app, cloudmap, tasks), visibility)

    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    port = server.server_address[1]
    # moto uses MOTO_PORT to build some URLs (as its own server does).
    os.environ.setdefault("MOTO_PORT", str(port))

    if not args.no_scheduler:
        threading.Thread(
            target=sched.run_forever, args=(args.tick,), name="ecs-sim", daemon=True
        ).start()

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    sim = (
        "ECS scheduler simulation off"
        if args.no_scheduler
        else f"ECS scheduler simulation on (tick {args.tick}s, rollout delay "
        f"{args.rollout_delay}s, task start delay {args.task_start_delay}s, task run "
        f"{args.task_run_seconds}s, Cloud Map operation delay {args.cloudmap_operation_delay}s, "
        f"visibility lag {args.visibility_lag}s)"
    )
    print(
        f"moto {moto.__version__} serving on http://{args.host}:{port} - {sim}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
