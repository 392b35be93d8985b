#!/usr/bin/env python3
"""Unit tests for hack/iam/check-policy.py and for the shape of the shipped IAM policy.

    python3 hack/iam/test_check_policy.py
"""

import importlib.util
import io
import json
import subprocess
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("check_policy", HERE / "check-policy.py")
cp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cp)

POLICY = json.loads(cp.DEFAULT_POLICY.read_text())
ALLOW = cp.read_allow_list(cp.DEFAULT_ALLOW.read_text())

# The operations the policy is meant for: every action it allows besides the allow-listed
# ones. (What the operator really calls is checked against the policy by hack/test, from the
# operations the integration tests saw; these tests check the checker and the policy's shape.)
OPERATOR_OPERATIONS = sorted(
    (action for action in cp.policy_actions(POLICY)[0] if action.lower() not in {a.lower() for a in ALLOW}),
    key=str.lower,
)


def statement(sid, actions, resource="*", condition=None):
    st = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        st["Condition"] = condition
    return st


def policy_of(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


class ActionMapping(unittest.TestCase):
    def test_sdk_service_names_map_to_iam_prefixes(self):
        self.assertEqual(cp.action_for("ECS:RegisterTaskDefinition"), "ecs:RegisterTaskDefinition")
        self.assertEqual(cp.action_for("ServiceDiscovery:CreatePrivateDnsNamespace"),
                         "servicediscovery:CreatePrivateDnsNamespace")
        self.assertEqual(cp.action_for("Application Auto Scaling:RegisterScalableTarget"),
                         "application-autoscaling:RegisterScalableTarget")
        self.assertEqual(cp.action_for("ApplicationAutoScaling:PutScalingPolicy"),
                         "application-autoscaling:PutScalingPolicy")
        self.assertEqual(cp.action_for("STS:AssumeRole"), "sts:AssumeRole")
        self.assertEqual(cp.action_for("ecs:ListServices"), "ecs:ListServices")

    def test_unknown_service_and_malformed_lines_are_errors(self):
        with self.assertRaises(ValueError):
            cp.action_for("Frobnicator:DoIt")
        with self.assertRaises(ValueError):
            cp.action_for("RegisterTaskDefinition")


class Check(unittest.TestCase):
    def test_shipped_policy_matches_the_operators_operations(self):
        report, failures = cp.check(POLICY, OPERATOR_OPERATIONS, ALLOW)
        self.assertEqual(failures, [], "\n".join(report))

    def test_missing_permission_is_reported(self):
        report, failures = cp.check(POLICY, OPERATOR_OPERATIONS + ["ECS:ExecuteCommand"], ALLOW)
        self.assertTrue(any("ECS:ExecuteCommand" in f for f in failures), failures)
        self.assertTrue(any(line.startswith("  MISSING  ECS:ExecuteCommand") for line in report), report)

    def test_unneeded_permission_is_reported(self):
        observed = [op for op in OPERATOR_OPERATIONS if op.lower() != "ecs:deleteservice"]
        report, failures = cp.check(POLICY, observed, ALLOW)
        self.assertEqual(failures, ["the policy allows ecs:DeleteService, which the operator was not seen to need"])
        self.assertIn("  EXTRA    ecs:DeleteService: neither observed nor allow-listed", report)

    def test_allow_listed_action_needs_no_observation(self):
        policy = policy_of(statement("A", ["ecs:ListServices"]),
                           statement("B", ["iam:PassRole"], "arn:aws:iam::*:role/*",
                                     {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}))
        _, failures = cp.check(policy, ["ECS:ListServices"], {"iam:PassRole": "authorization only"})
        self.assertEqual(failures, [])

    def test_stale_allow_list_entry_is_reported(self):
        policy = policy_of(statement("A", ["ecs:ListServices"]))
        _, failures = cp.check(policy, ["ECS:ListServices"], {"ecs:RunTask": "old feature"})
        self.assertEqual(failures, ["allow-list entry ecs:RunTask is not in the policy: remove it"])

    def test_matching_is_case_insensitive_and_ignores_comments(self):
        policy = policy_of(statement("A", ["ecs:ListServices"]))
        _, failures = cp.check(policy, ["# header", "", "ECS:listservices", "ecs:ListServices"], {})
        self.assertEqual(failures, [])

    def test_wildcards_and_not_elements_are_refused(self):
        policy = policy_of(statement("A", ["ecs:*"]),
                           {"Sid": "B", "Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"})
        _, failures = cp.check(policy, [], {})
        self.assertIn("statement A: action 'ecs:*' is a wildcard or malformed", failures)
        self.assertIn("statement B: NotAction grants more than it names", failures)

    def test_pass_role_needs_passed_to_service(self):
        policy = policy_of(statement("P", ["iam:PassRole"], "arn:aws:iam::*:role/*"))
        _, failures = cp.check(policy, [], {"iam:PassRole": "authorization only"})
        self.assertIn("statement P: iam:PassRole without an iam:PassedToService condition", failures)

    def test_allow_list_entries_need_a_reason(self):
        with self.assertRaises(ValueError):
            cp.read_allow_list("iam:PassRole\n")


class ShippedPolicyShape(unittest.TestCase):
    """Least-privilege properties the documentation promises."""

    def statements_for(self, action):
        return [st for st in POLICY["Statement"] if action in cp.as_list(st["Action"])]

    def test_every_statement_is_named_and_allows(self):
        sids = [st.get("Sid") for st in POLICY["Statement"]]
        self.assertTrue(all(sids), sids)
        self.assertEqual(len(sids), len(set(sids)))
        self.assertTrue(all(st["Effect"] == "Allow" for st in POLICY["Statement"]))

    def test_create_service_requires_the_ownership_tags(self):
        for st in self.statements_for("ecs:CreateService"):
            self.assertEqual(st["Resource"], "arn:aws:ecs:*:*:service/*")
            self.assertEqual(st["Condition"], {
                "Null": {"aws:RequestTag/ecs-operator.dev/namespace": "false"},
                "StringEquals": {"aws:RequestTag/ecs-operator.dev/kind": "ECSService"},
            })

    def test_changes_only_touch_owned_resources_of_the_right_kind(self):
        kinds = {
            "ecs:UpdateService": "ECSService", "ecs:DeleteService": "ECSService",
            "ecs:UpdateCluster": "ECSCluster", "ecs:DeleteCluster": "ECSCluster",
            "ecs:PutClusterCapacityProviders": "ECSCluster",
            "ecs:UpdateCapacityProvider": "CapacityProvider", "ecs:DeleteCapacityProvider": "CapacityProvider",
            "ecs:DeleteTaskDefinitions": "TaskDefinition",
            "servicediscovery:DeleteNamespace": ["CloudMapNamespace", "ECSService"],
            "servicediscovery:DeleteService": ["CloudMapNamespace", "ECSService"],
        }
        for action, kind in kinds.items():
            statements = self.statements_for(action)
            self.assertTrue(statements, action)
            for st in statements:
                self.assertEqual(st["Condition"], {
                    "Null": {"aws:ResourceTag/ecs-operator.dev/namespace": "false"},
                    "StringEquals": {"aws:ResourceTag/ecs-operator.dev/kind": kind},
                }, action)

    def test_ecs_tagging_is_at_creation_on_owned_resources_or_a_claim_with_own_keys(self):
        statements = self.statements_for("ecs:TagResource")
        self.assertEqual(len(statements), 3, statements)
        for st in statements:
            cond = st["Condition"]
            if "ecs:CreateAction" in cond.get("StringEquals", {}):
                # Tags set by the creating call itself (tag-on-create), which must carry ownership.
                self.assertEqual(cond["Null"], {"aws:RequestTag/ecs-operator.dev/namespace": "false"})
            elif "aws:ResourceTag/ecs-operator.dev/namespace" in cond.get("Null", {}):
                # Resources already owned: the user's tags only.
                self.assertEqual(cond["ForAllValues:StringNotLike"], {"aws:TagKeys": "ecs-operator.dev/*"})
            else:
                # Claiming a resource (adoptExisting): only the operator's own tag keys.
                self.assertEqual(cond["Null"], {"aws:RequestTag/ecs-operator.dev/namespace": "false"})
                self.assertEqual(cond["ForAllValues:StringLike"], {"aws:TagKeys": "ecs-operator.dev/*"})

    def test_own_tags_are_never_removed(self):
        for action in ("ecs:UntagResource", "servicediscovery:UntagResource"):
            statements = self.statements_for(action)
            self.assertTrue(statements, action)
            for st in statements:
                self.assertEqual(st["Condition"]["ForAllValues:StringNotLike"],
                                 {"aws:TagKeys": "ecs-operator.dev/*"}, action)

    def test_cloud_map_tagging_stamps_ownership(self):
        # Cloud Map's TagResource has no resource-level permission ("*" only): every request
        # must carry the operator's ownership tags instead.
        (st,) = self.statements_for("servicediscovery:TagResource")
        self.assertEqual(st["Resource"], "*")
        self.assertEqual(st["Condition"], {
            "Null": {"aws:RequestTag/ecs-operator.dev/namespace": "false"},
            "StringEquals": {"aws:RequestTag/ecs-operator.dev/kind": ["CloudMapNamespace", "ECSService"]},
        })

    def test_auto_scaling_writes_only_ecs_service_desired_counts(self):
        writes = [a for a in cp.policy_actions(POLICY)[0]
                  if a.startswith("application-autoscaling:") and not a.split(":")[1].startswith("Describe")]
        self.assertTrue(writes)
        for action in writes:
            for st in self.statements_for(action):
                self.assertEqual(st["Condition"], {"StringEquals": {
                    "application-autoscaling:service-namespace": "ecs",
                    "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount",
                }}, action)

    def test_pass_role_only_to_ecs_tasks_and_scheduler(self):
        # Task and execution roles go to ECS tasks; an ECSScheduledTask's roleArn to
        # EventBridge Scheduler. No other service may receive a role.
        (st,) = self.statements_for("iam:PassRole")
        self.assertEqual(
            st["Condition"],
            {"StringEquals": {"iam:PassedToService": ["ecs-tasks.amazonaws.com", "scheduler.amazonaws.com"]}},
        )

    def test_fits_an_inline_role_policy(self):
        # Attached inline to the operator's role (docs/install.md): IAM limits a role's inline
        # policies to 10,240 characters (managed policies to 6,144, which this one exceeds).
        compact = json.dumps(POLICY, separators=(",", ":"))
        self.assertLess(len(compact), 10240, "a role's inline policies are limited to 10,240 characters")


class CommandLine(unittest.TestCase):
    def run_tool(self, *args, stdin=""):
        return subprocess.run([sys.executable, str(HERE / "check-policy.py"), *args], input=stdin,
                              capture_output=True, text=True, check=False)

    def test_exit_codes(self):
        ok = self.run_tool(stdin="\n".join(OPERATOR_OPERATIONS))
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        bad = self.run_tool(stdin="ECS:ExecuteCommand\n")
        self.assertEqual(bad.returncode, 1)
        self.assertIn("MISSING", bad.stdout)
        self.assertIn("EXTRA", bad.stdout)

    def test_list(self):
        listed = self.run_tool("--list")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertEqual(sorted(listed.stdout.split(), key=str.lower),
                         sorted(cp.policy_actions(POLICY)[0], key=str.lower))


if __name__ == "__main__":
    unittest.main(verbosity=1)
