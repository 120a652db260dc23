#!/usr/bin/env python3
"""The protocol adds no false verdicts: runs the in-process conformance suite
of a backend and execkit-conformance against the same backend served over the
protocol, and fails unless every test has the same verdict (pass, fail or
skip) in both. Prints the protocol run's clause report.

    compare_verdicts.py --in-process BINARY --conformance TOOL --backend-cmd CMD
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


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--in-process", required=True)
    ap.add_argument("--conformance", required=True)
    ap.add_argument("--backend-cmd", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        direct = os.path.join(scratch, "in-process.xml")
        remote = os.path.join(scratch, "protocol.xml")
        subprocess.run([args.in_process, f"--gtest_output=xml:{direct}"], stdout=subprocess.DEVNULL, check=False)
        tool = subprocess.run([args.conformance, "--backend-cmd", args.backend_cmd, "--junit", remote], check=False)
        if not (os.path.exists(direct) and os.path.exists(remote)):
            print("compare_verdicts: a run wrote no JUnit file", file=sys.stderr)
            return 1
        a, b = verdicts(direct), verdicts(remote)
    differences = [f"  {test}: in-process {a.get(test, 'absent')}, over the protocol {b.get(test, 'absent')}"
                   for test in sorted(set(a) | set(b)) if a.get(test) != b.get(test) and "SelfCheck" not in test]
    if differences:
        print("the protocol changed these verdicts:\n" + "\n".join(differences))
        return 1
    print(f"same verdict for all {len(a)} tests in-process and over the protocol "
          f"({sum(v == 'pass' for v in a.values())} pass, {sum(v == 'skip' for v in a.values())} skip); "
          f"execkit-conformance exit status {tool.returncode}")
    return tool.returncode


if __name__ == "__main__":
    sys.exit(main())
