#!/usr/bin/env python3
"""Checks the operator's IAM policy against the AWS operations it was seen to call.

Reads `Service:Operation` names, one per line, on standard input (e.g. ECS:RegisterTaskDefinition,
as the SDK names them; blank lines and lines starting with # are ignored), and checks both ways:

- every observed operation maps to an action the policy allows (ECS -> ecs:, ServiceDiscovery ->
  servicediscovery:, ...), so the operator has every permission it uses;
- every action the policy allows was observed or is in the allow-list of actions for
  features the tests do not exercise (hack/iam/not-exercised.txt, each with its reason), so the
  policy grants nothing more.

It also refuses what least privilege rules out: wildcard actions, NotAction/NotResource, and
iam:PassRole without an iam:PassedToService condition. Prints every finding and exits 1 on any.

    hack/iam/check-policy.py [--policy FILE] [--allow FILE] < operations.txt
    hack/iam/check-policy.py --list        # the actions the policy allows, one per line
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = REPO / "charts" / "ecs-operator" / "files" / "iam-policy.json"
DEFAULT_ALLOW = Path(__file__).resolve().parent / "not-exercised.txt"

# SDK service names (lower case, without spaces, dashes or underscores) -> IAM action prefix.
SERVICE_PREFIXES = {
    "ecs": "ecs",
    "servicediscovery": "servicediscovery",
    "applicationautoscaling": "application-autoscaling",
    "cloudwatch": "cloudwatch",
    "scheduler": "scheduler",
    "sts": "sts",
    "iam": "iam",
    "ec2": "ec2",
    "elasticloadbalancingv2": "elasticloadbalancing",
    "elasticloadbalancing": "elasticloadbalancing",
    "cloudwatchlogs": "logs",
    "logs": "logs",
}

ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def action_for(line: str) -> str:
    """Maps `Service:Operation` to the IAM action (`prefix:Operation`)."""
    service, sep, operation = line.partition(":")
    if not sep or not service.strip() or not operation.strip():
        raise ValueError(f"not Service:Operation: {line!r}")
    key = re.sub(r"[\s_-]", "", service).lower()
    prefix = SERVICE_PREFIXES.get(key)
    if prefix is None:
        # Already an IAM prefix (e.g. application-autoscaling:...)?
        if service in SERVICE_PREFIXES.values():
            prefix = service
        else:
            raise ValueError(f"unknown AWS service {service!r} in {line!r}: add it to SERVICE_PREFIXES")
    return f"{prefix}:{operation.strip()}"


def policy_actions(policy: dict) -> tuple[set[str], list[str]]:
    """Allowed actions (as written) and least-privilege problems."""
    problems = []
    allowed = set()
    statements = as_list(policy.get("Statement"))
    if not statements:
        problems.append("the policy has no statements")
    for index, st in enumerate(statements):
        sid = st.get("Sid", f"#{index}")
        for bad in ("NotAction", "NotResource", "NotPrincipal"):
            if bad in st:
                problems.append(f"statement {sid}: {bad} grants more than it names")
        if st.get("Effect") != "Allow":
            continue
        actions = as_list(st.get("Action"))
        for action in actions:
            if not ACTION_RE.match(action):
                problems.append(f"statement {sid}: action {action!r} is a wildcard or malformed")
                continue
            allowed.add(action)
            if action.lower() == "iam:passrole":
                cond = st.get("Condition", {})
                passed = [v for op in cond.values() if isinstance(op, dict)
                          for k, v in op.items() if k.lower() == "iam:passedtoservice"]
                if not passed:
                    problems.append(f"statement {sid}: iam:PassRole without an iam:PassedToService condition")
        if not as_list(st.get("Resource")):
            problems.append(f"statement {sid}: no Resource")
    return allowed, problems


def read_allow_list(text: str) -> dict[str, str]:
    """`action reason...` lines -> {action: reason}."""
    entries = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        action, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"allow-list entry {action!r} has no reason")
        entries[action] = reason.strip()
    return entries


def check(policy: dict, observed_lines: list[str], allow: dict[str, str]) -> tuple[list[str], list[str]]:
    """Returns (report lines, failures)."""
    report, failures = [], []
    allowed, problems = policy_actions(policy)
    failures.extend(problems)
    allowed_ci = {a.lower(): a for a in allowed}

    observed = {}
    for raw in observed_lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            observed[action_for(line).lower()] = line
        except ValueError as err:
            failures.append(str(err))

    report.append("observed operation -> policy action:")
    for action_ci, line in sorted(observed.items()):
        if action_ci in allowed_ci:
            report.append(f"  ok       {line} -> {allowed_ci[action_ci]}")
        else:
            report.append(f"  MISSING  {line} -> {action_ci}: not allowed by the policy")
            failures.append(f"the operator called {line} but the policy does not allow it")

    report.append("policy action -> observed or allow-listed:")
    allow_ci = {a.lower(): (a, reason) for a, reason in allow.items()}
    for action in sorted(allowed, key=str.lower):
        if action.lower() in observed:
            report.append(f"  ok       {action} (observed)")
        elif action.lower() in allow_ci:
            report.append(f"  ok       {action} (allow-listed: {allow_ci[action.lower()][1]})")
        else:
            report.append(f"  EXTRA    {action}: neither observed nor allow-listed")
            failures.append(f"the policy allows {action}, which the operator was not seen to need")
    for action_ci, (action, _) in sorted(allow_ci.items()):
        if action_ci not in allowed_ci:
            failures.append(f"allow-list entry {action} is not in the policy: remove it")
    return report, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--allow", type=Path, default=DEFAULT_ALLOW)
    parser.add_argument("--list", action="store_true", help="print the allowed actions and exit")
    args = parser.parse_args(argv)

    policy = json.loads(args.policy.read_text())
    if args.list:
        allowed, problems = policy_actions(policy)
        for action in sorted(allowed, key=str.lower):
            print(action)
        for problem in problems:
            print(f"check-policy: {problem}", file=sys.stderr)
        return 1 if problems else 0

    try:
        allow = read_allow_list(args.allow.read_text())
    except ValueError as err:
        print(f"check-policy: {err}", file=sys.stderr)
        return 1
    report, failures = check(policy, sys.stdin.read().splitlines(), allow)
    print("\n".join(report))
    for failure in failures:
        print(f"check-policy: FAIL: {failure}", file=sys.stderr)
    if failures:
        return 1
    print("check-policy: the policy matches the observed operations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
