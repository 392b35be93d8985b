"""Tests of hack/iam/check-reference.py: the shipped policy passes, and an edit that AWS would
refuse or that grants too much fails with the statement's Sid and the reason.

    hack/iam/lint-policy          # installs the packages, runs these tests, then the check
"""

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("check_reference", HERE / "check-reference.py")
cr = importlib.util.module_from_spec(spec)
sys.modules["check_reference"] = cr  # dataclasses look their module up there
spec.loader.exec_module(cr)

POLICY = json.loads(cr.DEFAULT_POLICY.read_text())
REF = cr.Reference.bundled()


def shipped():
    return copy.deepcopy(POLICY)


def statement(policy, sid):
    (st,) = [st for st in policy["Statement"] if st.get("Sid") == sid]
    return st


def single(sid, actions, resource="*", condition=None):
    st = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        st["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [st]}


# --- the shipped policy -----------------------------------------------------------------------


def test_shipped_policy_matches_the_reference():
    assert cr.check_reference(REF, POLICY) == []


def test_shipped_policy_has_no_unexplained_parliament_finding():
    exceptions = cr.read_exceptions(cr.DEFAULT_EXCEPTIONS.read_text())
    report, failures = cr.check_parliament(cr.parliament_findings(POLICY), exceptions)
    assert failures == [], "\n".join(report)


# --- bad input: each edit fails with the Sid and the reason ----------------------------------


@pytest.mark.parametrize("wildcard", ["ecs:*", "ecs:Describe*", "*"])
def test_wildcard_action_fails(wildcard):
    policy = shipped()
    statement(policy, "ReadServices")["Action"].append(wildcard)
    failures = cr.check_reference(REF, policy)
    assert f"statement ReadServices: action {wildcard!r} is a wildcard or malformed; name each action in full" in failures


def test_resource_arn_on_an_action_that_supports_only_star_fails():
    # The mistake the policy once had: Cloud Map's TagResource scoped to namespace ARNs.
    policy = shipped()
    st = statement(policy, "TagCloudMapResourcesAsOwned")
    st["Resource"] = ["arn:aws:servicediscovery:*:*:namespace/*"]
    failures = cr.check_reference(REF, policy)
    assert ("statement TagCloudMapResourcesAsOwned: action servicediscovery:TagResource supports no "
            "resource-level permission: its Resource must be \"*\", not arn:aws:servicediscovery:*:*:namespace/*") in failures
    assert ("statement TagCloudMapResourcesAsOwned: Resource arn:aws:servicediscovery:*:*:namespace/* "
            "matches no resource type of the statement's actions") in failures


def test_resource_arn_of_another_resource_type_fails():
    policy = shipped()
    statement(policy, "UpdateAndDeleteOwnedServices")["Resource"] = "arn:aws:ecs:*:*:cluster/*"
    failures = cr.check_reference(REF, policy)
    assert any(f.startswith("statement UpdateAndDeleteOwnedServices: action ecs:UpdateService: no Resource "
                            "matches a resource type it supports: service (arn:${Partition}:ecs:") for f in failures), failures


def test_resource_arn_of_another_service_fails():
    policy = shipped()
    statement(policy, "ReadServices")["Resource"] = ["arn:aws:ecs:*:*:service/*", "arn:aws:s3:::bucket/*"]
    failures = cr.check_reference(REF, policy)
    assert failures == ["statement ReadServices: Resource arn:aws:s3:::bucket/* matches no resource type "
                        "of the statement's actions"]


def test_unknown_condition_key_fails():
    policy = shipped()
    statement(policy, "ReadServices")["Condition"] = {"StringEquals": {"ecs:service-namespace": "ecs"}}
    failures = cr.check_reference(REF, policy)
    assert len(failures) == 1
    assert failures[0].startswith("statement ReadServices: condition key ecs:service-namespace is not "
                                  "supported by ecs:DescribeServices (it supports: ")


def test_tag_condition_on_an_action_without_it_fails():
    # Cloud Map's UntagResource cannot be conditioned on the resource's tags: AWS would never
    # match the condition, so the operator could not untag at all.
    policy = shipped()
    statement(policy, "UntagCloudMapResources")["Condition"] = {
        "Null": {"aws:ResourceTag/ecs-operator.dev/namespace": "false"}}
    failures = cr.check_reference(REF, policy)
    assert failures == ["statement UntagCloudMapResources: condition key aws:ResourceTag/ecs-operator.dev/namespace "
                        "is not supported by servicediscovery:UntagResource (it supports: aws:TagKeys)"]


def test_unknown_action_and_service_fail():
    policy = shipped()
    statement(policy, "ReadServices")["Action"] += ["ecs:DescribeServicez", "ecz:DescribeServices"]
    failures = cr.check_reference(REF, policy)
    assert "statement ReadServices: action ecs:DescribeServicez does not exist in AWS's authorization reference" in failures
    assert "statement ReadServices: action ecz:DescribeServices: AWS has no service with the prefix 'ecz'" in failures


def test_not_action_and_missing_sid_fail():
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
    ]}
    failures = cr.check_reference(REF, policy)
    assert "statement #0 (no Sid): has no Sid; name every statement so that findings can point at it" in failures
    assert "statement #0 (no Sid): NotAction grants everything it does not name; name what is allowed instead" in failures


def test_duplicate_sid_fails():
    policy = shipped()
    policy["Statement"].append(copy.deepcopy(statement(policy, "ReadServices")))
    failures = cr.check_reference(REF, policy)
    assert any(f.startswith("statement ReadServices: the Sid is used twice") for f in failures), failures


# --- what the check accepts -------------------------------------------------------------------


def test_global_keys_and_supported_tag_keys_pass():
    policy = single("A", ["ecs:UpdateService"], "arn:aws:ecs:eu-west-1:123456789012:service/prod/*", {
        "StringEquals": {"aws:RequestedRegion": "eu-west-1", "aws:ResourceTag/team": "a",
                         "aws:PrincipalTag/team": "a", "ecs:cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"},
    })
    assert cr.check_reference(REF, policy) == []


def test_resource_type_condition_keys_apply_only_with_that_resource():
    # ecs:DeleteCluster takes tag conditions through its cluster resource type.
    ok = single("A", ["ecs:DeleteCluster"], "arn:aws:ecs:*:*:cluster/*",
                {"StringEquals": {"aws:ResourceTag/ecs-operator.dev/kind": "ECSCluster"}})
    assert cr.check_reference(REF, ok) == []


@pytest.mark.parametrize("glob,template,expected", [
    ("arn:aws:ecs:*:*:service/*", "arn:${Partition}:ecs:${Region}:${Account}:service/${ClusterName}/${ServiceName}", True),
    ("arn:aws:ecs:*:*:service/prod/*", "arn:${Partition}:ecs:${Region}:${Account}:service/${ClusterName}/${ServiceName}", True),
    ("arn:aws:ecs:*:*:cluster/*", "arn:${Partition}:ecs:${Region}:${Account}:service/${ClusterName}/${ServiceName}", False),
    ("arn:aws:ecs:us-east-1:123456789012:service/a", "arn:${Partition}:ecs:${Region}:${Account}:service/${ClusterName}/${ServiceName}", False),
    ("arn:aws:cloudwatch:*:*:alarm:ecs-operator-*", "arn:${Partition}:cloudwatch:${Region}:${Account}:alarm:${AlarmName}", True),
    ("arn:aws:iam::*:role/*", "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}", True),
    ("arn:aws:iam::*:role/*", "arn:${Partition}:iam::${Account}:user/${UserNameWithPath}", False),
    ("arn:aws:ecs:??-*:*:task/*", "arn:${Partition}:ecs:${Region}:${Account}:task/${ClusterName}/${TaskId}", True),
    ("arn:aws:ecs:*", "arn:${Partition}:ecs:${Region}:${Account}:task/${ClusterName}/${TaskId}", False),
    ("*", "arn:${Partition}:ecs:${Region}:${Account}:task/${ClusterName}/${TaskId}", True),
    ("arn:aws:ecs:*:*:task-definition/web:*", "arn:${Partition}:ecs:${Region}:${Account}:task-definition/${TaskDefinitionFamilyName}:${TaskDefinitionRevisionNumber}", True),
])
def test_arn_patterns_overlap(glob, template, expected):
    assert cr.arn_overlap(glob, template) is expected


def test_key_templates():
    assert cr.key_matches("aws:ResourceTag/${TagKey}", "aws:resourcetag/ecs-operator.dev/namespace")
    assert not cr.key_matches("aws:ResourceTag/${TagKey}", "aws:ResourceTag/")
    assert not cr.key_matches("aws:TagKeys", "aws:TagKeysX")


# --- parliament and its exceptions ------------------------------------------------------------


def test_parliament_medium_finding_fails_without_exception():
    # parliament's bundled data says ecs:CreateCapacityProvider needs "*" (see the exceptions file).
    policy = single("CreateOwnedCapacityProviders", ["ecs:CreateCapacityProvider"], "arn:aws:ecs:*:*:capacity-provider/*")
    findings = cr.parliament_findings(policy)
    _, failures = cr.check_parliament(findings, [])
    assert len(failures) == 1
    assert failures[0].startswith("statement CreateOwnedCapacityProviders: parliament RESOURCE_MISMATCH (MEDIUM): ")
    reason = "reviewed: the reference of the reference check lists capacity-provider"
    _, failures = cr.check_parliament(findings, [cr.Exemption("CreateOwnedCapacityProviders", "RESOURCE_MISMATCH", reason)])
    assert failures == []


def test_low_findings_pass():
    findings = cr.parliament_findings(single("Read", ["ecs:DescribeCapacityProviders"]))
    assert [f.issue for f in findings] == ["RESOURCE_STAR"]
    assert cr.check_parliament(findings, [])[1] == []


def test_stale_exception_fails():
    stale = cr.Exemption("Gone", "RESOURCE_MISMATCH", "a statement that no longer exists")
    _, failures = cr.check_parliament([], [stale])
    assert failures == ["statement Gone: parliament exception for RESOURCE_MISMATCH matches no finding: remove it"]


@pytest.mark.parametrize("text", [
    "- sid: A\n  finding: RESOURCE_MISMATCH\n",
    "- sid: A\n  finding: RESOURCE_MISMATCH\n  reason: ok\n",
    "sid: A\n",
])
def test_exceptions_need_sid_finding_and_a_real_reason(text):
    with pytest.raises(ValueError):
        cr.read_exceptions(text)


# --- the command line -------------------------------------------------------------------------


def test_command_line_fails_with_sid_and_reason(tmp_path):
    policy = shipped()
    statement(policy, "ReadServices")["Action"].append("ecs:*")
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    run = subprocess.run([sys.executable, str(HERE / "check-reference.py"), "--policy", str(path)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "check-reference: FAIL: statement ReadServices: action 'ecs:*' is a wildcard" in run.stderr


def test_command_line_passes_on_the_shipped_policy():
    run = subprocess.run([sys.executable, str(HERE / "check-reference.py")], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
