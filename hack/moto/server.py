#!/usr/bin/env python3
"""moto server with a small simulation of the Amazon ECS service scheduler.

Run it with the python of the venv that has ``moto[server]`` (see
``requirements.txt``)::

    python hack/moto/server.py --port 5000 [--host 127.0.0.1] [--tick 0.5]
                               [--rollout-delay 1.0] [--no-scheduler] [--verbose]

It serves moto's normal multi-service endpoint (the same WSGI application as
the ``moto_server`` command: ``DomainDispatcherApplication`` +
``MotoRequestHandler``), so every service moto implements is available on
``http://HOST:PORT``.  With ``--no-scheduler`` it is plain moto.

Why
===

Plain moto 5.2.5 never advances an ECS deployment: ``runningCount`` stays at
``MOTO_ECS_SERVICE_RUNNING`` (default 0), the PRIMARY deployment keeps the
first task definition after UpdateService, ``rolloutState`` stays
IN_PROGRESS, UpdateService stores ``taskDefinition`` as the literal input
(``family`` / ``family:revision``), UpdateService(desiredCount) jumps
``runningCount`` straight to the new value, and DeleteService marks the service
INACTIVE at once.  A controller waiting for a service to become ready could
never finish against it.

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

Failed rollouts and circuit-breaker rollback (on request)
    If the service carries the tag ``ecs-operator.dev/simulate-rollout-failure
    = true`` (ECS tags, TagResource/CreateService ``tags``; checked when the
    delay expires) then every deployment except the service's first one (the
    one CreateService started) and rollback deployments fails
    ``D`` seconds after it started, as if ECS's deployment circuit breaker
    with ``rollback: true`` tripped:

    * the failed deployment gets status ACTIVE, rolloutState FAILED,
      rolloutStateReason "ECS deployment circuit breaker: tasks failed to
      start.", failedTasks = its desiredCount (at least 1), runningCount 0,
      pendingCount 0;
    * a new rollback deployment (new id) for the task definition of the last
      COMPLETED deployment becomes PRIMARY, already COMPLETED with runningCount
      = desiredCount (the old tasks never stopped), the older ACTIVE
      deployments are dropped, and the service's ``taskDefinition`` is set
      back to that task definition;
    * the FAILED deployment stays listed for another ``D`` seconds, then is
      removed.

    The circuit-breaker settings of the service are not consulted (moto's
    CreateService drops ``deploymentConfiguration``): with the tag, rollback
    always happens.  If no deployment ever completed there is nothing to roll
    back to and the PRIMARY deployment just stays FAILED.  A rollback
    deployment never fails.

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
    the same name replaces the old record.

What is NOT simulated
=====================

* Tasks: no moto Task objects are created, so ListTasks/DescribeTasks show
  nothing for services; the task ids in event messages are random.
* Task health, container health checks, load-balancer target health, service
  discovery (Cloud Map) instance registration, placement, capacity
  (container instances, Fargate capacity), minimumHealthyPercent /
  maximumPercent batching: every rollout takes exactly ``D`` seconds.
* Any real cause of failure: rollouts fail only because of the tag above.
* Deployments for configuration changes other than the task definition (e.g.
  networkConfiguration, capacity provider strategy) unless
  forceNewDeployment is given; CODE_DEPLOY/EXTERNAL deployment controllers,
  task sets, DAEMON-specific behaviour; ECS's "Creation of service was not
  idempotent" / "still Draining" errors (moto silently replaces a service
  that has the same name).

Concurrency
===========

All ECS API requests (``X-Amz-Target: AmazonEC2ContainerServiceV20141113.*``)
and ``/moto-api`` requests run under one lock that the simulation thread also
takes for each tick, so a response never shows a half-applied transition.
Exceptions in the simulation are logged to stderr and the loop carries on.
"""

from __future__ import annotations

import argparse
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


class Scheduler:
    """The ECS scheduler simulation. Call methods with LOCK held."""

    def __init__(self, rollout_delay: float) -> None:
        self.delay = rollout_delay

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
        st.scale_started = None
        self.sync_counts(backend, svc)
        if drained:
            self.add_event(
                svc, f"{self.label(svc)} has stopped {drained} running tasks: {task_ids(drained)}."
            )
        self.add_event(svc, f"{self.label(svc)} deployment {prim['id']} deployment completed.")
        self.add_event(svc, f"{self.label(svc)} has reached a steady state.")
        debug(f"{svc.arn}: deployment {prim['id']} COMPLETED")

    def fail(self, backend: Any, svc: Any, st: ServiceState, prim: dict[str, Any]) -> None:
        now = utcnow()
        failed = max(int(prim.get("desiredCount") or 0), 1)
        prim.update(
            runningCount=0,
            pendingCount=0,
            failedTasks=failed,
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
        if force or prim.get("taskDefinition") != svc.task_definition:
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
                    self.fail(backend, svc, st, prim)
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
                    except Exception:
                        log(f"error simulating {getattr(svc, 'name', svc)!r}:")
                        traceback.print_exc(file=sys.stderr)

    def run_forever(self, tick: float) -> None:
        while True:
            try:
                with LOCK:
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


class LockingMiddleware:
    """Serialise ECS and /moto-api requests with the simulation thread."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        path = environ.get("PATH_INFO", "")
        if not (target.startswith(ECS_TARGET_PREFIX) or path.startswith("/moto-api")):
            return self.app(environ, start_response)
        with LOCK:
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
        "--no-scheduler", action="store_true", help="plain moto, no ECS simulation"
    )
    p.add_argument(
        "--verbose", action="store_true", help="log simulated transitions to stderr"
    )
    args = p.parse_args(argv)
    if args.tick <= 0:
        p.error("--tick must be > 0")
    if args.rollout_delay < 0:
        p.error("--rollout-delay must be >= 0")
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
        sched = Scheduler(args.rollout_delay)
        install_hooks(sched)
        app = LockingMiddleware(app)

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
        else f"ECS scheduler simulation on (tick {args.tick}s, rollout delay {args.rollout_delay}s)"
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
