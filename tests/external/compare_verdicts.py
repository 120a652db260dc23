#!/usr/bin/env python3
"""Verdicts of execkit-conformance runs, test by test (pass, fail or skip),
against a reference; prints the run's clause report. Two uses:

The protocol adds no false verdicts: the in-process suite of a backend and
execkit-conformance against the same backend served over the protocol must
agree on every test.

    compare_verdicts.py --conformance TOOL --backend-cmd CMD --in-process BINARY

A backend's recorded report still holds (examples/python-loky): every test
has the verdict recorded in FILE ("<verdict> <Area>.<TEST>" lines), so a
regression of the suite or of the backend shows. --write FILE records a run.

    compare_verdicts.py --conformance TOOL --backend-cmd CMD --recorded FILE [--write]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def verdicts(junit):
    """{"Area.TEST": "pass" | "fail" | "skip"}, instantiation and backend left out."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        suite = case.get("classname", "").split("/", 1)[-1]
        name = case.get("name", "").split("/", 1)[0]
        if case.find("failure") is not None or case.find("error") is not None:
            verdict = "fail"
        elif case.find("skipped") is not None or case.get("result") == "skipped" or case.get("status") == "notrun":
            verdict = "skip"
        else:
            verdict = "pass"
        key = f"{suite}.{name}"
        # A parameterised area (EnvSecret) runs once per secret: all must agree.
        out[key] = "fail" if "fail" in (out.get(key), verdict) else verdict
    return out


def read_recorded(path):
    out = {}
    with open(path) as lines:
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                verdict, test = line.split(None, 1)
                out[test] = verdict
    return out


def differences(expected, actual, expected_label, actual_label):
    return [f"  {test}: {expected_label} {expected.get(test, 'absent')}, {actual_label} {actual.get(test, 'absent')}"
            for test in sorted(set(expected) | set(actual))
            if expected.get(test) != actual.get(test) and "SelfCheck" not in test]


def summary(verdict_map):
    counts = {v: sum(1 for x in verdict_map.values() if x == v) for v in ("pass", "fail", "skip")}
    return f"{len(verdict_map)} tests: {counts['pass']} pass, {counts['fail']} fail, {counts['skip']} skip"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conformance", required=True)
    ap.add_argument("--backend-cmd", required=True)
    reference = ap.add_mutually_exclusive_group(required=True)
    reference.add_argument("--in-process", metavar="BINARY")
    reference.add_argument("--recorded", metavar="FILE")
    ap.add_argument("--write", action="store_true", help="record this run's verdicts in --recorded FILE")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        remote = os.path.join(scratch, "protocol.xml")
        if args.in_process:
            direct = os.path.join(scratch, "in-process.xml")
            subprocess.run([args.in_process, f"--gtest_output=xml:{direct}"], stdout=subprocess.DEVNULL, check=False)
        tool = subprocess.run([args.conformance, "--backend-cmd", args.backend_cmd, "--junit", remote], check=False)
        if not os.path.exists(remote) or (args.in_process and not os.path.exists(direct)):
            print("compare_verdicts: a run wrote no JUnit file", file=sys.stderr)
            return 1
        actual = verdicts(remote)
        if args.in_process:
            expected = verdicts(direct)
    if args.recorded and args.write:
        with open(args.recorded, "w") as out:
            out.write("# Verdict of every conformance test for this backend; scripts compare runs against it\n"
                      "# (tests/external/compare_verdicts.py). Regenerate with --write after a deliberate change.\n")
            for test in sorted(actual):
                if "SelfCheck" not in test:
                    out.write(f"{actual[test]} {test}\n")
        print(f"recorded {summary(actual)} in {args.recorded}")
        return 0
    if args.recorded:
        changed = differences(read_recorded(args.recorded), actual, "recorded", "now")
        if changed:
            print(f"the verdicts differ from {args.recorded}:\n" + "\n".join(changed))
            return 1
        print(f"every verdict is the recorded one ({summary(actual)})")
        return 0
    changed = differences(expected, actual, "in-process", "over the protocol")
    if changed:
        print("the protocol changed these verdicts:\n" + "\n".join(changed))
        return 1
    print(f"same verdict in-process and over the protocol for all {summary(expected)}; "
          f"execkit-conformance exit status {tool.returncode}")
    return tool.returncode


if __name__ == "__main__":
    sys.exit(main())
