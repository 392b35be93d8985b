#!/usr/bin/env python3
"""Compares checkov's findings on rendered charts with the reviewed skips in skips.yaml.

Usage: check.py SKIPS RENDER=CHECKOV_JSON...

Fails, naming the render, check id, resource and checkov's title, for every finding that no
skip covers, and for every skip that covers no finding (a reason that no longer holds).
"""
import fnmatch
import json
import sys

import yaml


def findings(path):
    with open(path) as f:
        report = json.load(f)
    # One framework gives an object, several a list.
    reports = report if isinstance(report, list) else [report]
    for r in reports:
        for failed in r.get("results", {}).get("failed_checks", []):
            yield failed["check_id"], failed["resource"], failed.get("check_name", "")


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    with open(argv[1]) as f:
        skips = yaml.safe_load(f) or []
    for skip in skips:
        missing = {"render", "check", "resource", "reason"} - set(skip)
        if missing or not str(skip.get("reason", "")).strip():
            sys.exit(f"{argv[1]}: entry {skip} lacks {sorted(missing) or ['a reason']}")
    used = set()
    problems = []
    renders = set()
    for arg in argv[2:]:
        render, path = arg.split("=", 1)
        renders.add(render)
        for check, resource, title in findings(path):
            covering = [
                i
                for i, s in enumerate(skips)
                if s["render"] == render and s["check"] == check and fnmatch.fnmatchcase(resource, s["resource"])
            ]
            if covering:
                used.update(covering)
            else:
                problems.append(f"{render}: {check} on {resource}: {title} (fix it, or add a reviewed reason to {argv[1]})")
    for i, skip in enumerate(skips):
        if skip["render"] in renders and i not in used:
            problems.append(f"{skip['render']}: skip of {skip['check']} on {skip['resource']} matches no finding: remove it")
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(1)
    print(f"checkov: every finding has a reviewed reason ({len(used)} skips, renders: {', '.join(sorted(renders))})")


if __name__ == "__main__":
    main(sys.argv)
