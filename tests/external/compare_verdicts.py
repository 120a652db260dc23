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

--shard K/N runs the K-th of N gtest shards only (K from 0) and checks the
verdicts of the tests it ran; shard 0 also checks that the suite's test list
is the recorded one, so N shards together check every recorded verdict.
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


def listed_tests(conformance, backend_cmd):
    """{"Area.TEST"} the suite would run against this backend, from --gtest_list_tests."""
    listing = subprocess.run([conformance, "--backend-cmd", backend_cmd, "--no-report", "--gtest_list_tests"],
                             capture_output=True, text=True, check=True).stdout
    out, suite = set(), None
    for line in listing.splitlines():
        if not line.startswith(" ") and line.endswith("."):
            suite = line[:-1].split("/", 1)[-1]
        elif line.startswith("  ") and suite is not None:
            test = f"{suite}.{line.split()[0].split('/', 1)[0]}"
            if "SelfCheck" not in test:
                out.add(test)
    return out


def parse_shard(text):
    try:
        index, total = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard '{text}' is not K/N with integers K and N")
    if not 0 <= index < total:
        raise argparse.ArgumentTypeError(f"--shard '{text}': K must be at least 0 and below N")
    return index, total


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
    ap.add_argument("--shard", type=parse_shard, metavar="K/N", help="run only gtest shard K of N (with --recorded)")
    args = ap.parse_args()
    if args.shard and (args.in_process or args.write):
        ap.error("--shard goes with --recorded and without --write")
    tool_env, tool_flags = None, []
    if args.shard:
        tool_env = dict(os.environ, GTEST_SHARD_INDEX=str(args.shard[0]), GTEST_TOTAL_SHARDS=str(args.shard[1]))
        tool_flags = ["--no-report"]  # a shard's clause report would show clauses half run
    with tempfile.TemporaryDirectory() as scratch:
        remote = os.path.join(scratch, "protocol.xml")
        if args.in_process:
            direct = os.path.join(scratch, "in-process.xml")
            subprocess.run([args.in_process, f"--gtest_output=xml:{direct}"], stdout=subprocess.DEVNULL, check=False)
        tool = subprocess.run([args.conformance, "--backend-cmd", args.backend_cmd, "--junit", remote] + tool_flags,
                              env=tool_env, check=False)
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
        recorded = read_recorded(args.recorded)
        if args.shard:
            index, total = args.shard
            if index == 0:
                listed = listed_tests(args.conformance, args.backend_cmd)
                unlisted = sorted(set(recorded) ^ listed)
                if unlisted:
                    print(f"the suite's tests differ from {args.recorded} (in one, not the other):\n  " +
                          "\n  ".join(unlisted))
                    return 1
            if not actual:
                print(f"shard {index}/{total} ran no test")
                return 1
            recorded = {test: recorded[test] for test in actual if test in recorded}
        changed = differences(recorded, actual, "recorded", "now")
        if changed:
            print(f"the verdicts differ from {args.recorded}:\n" + "\n".join(changed))
            return 1
        shard = f" (shard {args.shard[0]} of {args.shard[1]})" if args.shard else ""
        print(f"every verdict is the recorded one{shard} ({summary(actual)})")
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
