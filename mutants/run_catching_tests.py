#!/usr/bin/env python3
"""Runs the tests that must catch one mutant of a backend's outer layer (a
distributed mutant's fault tests, a protocol mutant's conformance tests).

    run_catching_tests.py --mutant NAME --catches FILTER --assertions REGEX -- COMMAND...

Passes (exit 0) only if at least one of them ran and failed with an assertion
whose location matches REGEX; a mutant whose catchers all pass survived (exit
1), and so does one whose catchers did not run at all (a filter that matches
nothing proves nothing) or failed only through a setup fault (inconclusive).
"""
import argparse
import re
import os
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mutant", required=True)
    ap.add_argument("--catches", required=True, help="gtest filter of the catching tests")
    ap.add_argument("--assertions", required=True,
                    help="regex matching the failure lines that count as a kill, e.g. 'fault_test\\.cpp:\\d+: Failure'")
    ap.add_argument("--timeout", type=int, default=240)
    ap.add_argument("command", nargs="+", help="the test binary and its arguments, after --")
    args = ap.parse_args()
    # A private TMPDIR, removed here: a test killed mid-run cannot remove its own directory.
    with tempfile.TemporaryDirectory(prefix="execkit-mutant-", ignore_cleanup_errors=True) as scratch:
        try:
            run = subprocess.run(args.command + [f"--gtest_filter={args.catches}"], capture_output=True, text=True,
                                 timeout=args.timeout, env=dict(os.environ, TMPDIR=scratch))
            out = run.stdout + run.stderr
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            print(f"mutant {args.mutant}: killed (its catchers hung past {args.timeout} s)\n{out[-2000:]}")
            return 0
    ran = re.findall(r"^\[ RUN      \] (\S+)", out, re.M)
    failed = sorted(set(re.findall(r"^\[  FAILED  \] (\S+?)(?:,| \()", out, re.M)))
    if not ran:
        print(f"mutant {args.mutant}: SURVIVED: no test matches '{args.catches}'\n{out[-2000:]}")
        return 1
    # Only an assertion of the catching tests counts: a testbed or build problem
    # (an exception thrown in the test body) proves nothing about the mutant.
    asserted = re.findall(args.assertions, out)
    if failed and not asserted:
        print(f"mutant {args.mutant}: INCONCLUSIVE: {', '.join(failed)} failed without an assertion matching "
              f"'{args.assertions}'\n"
              f"{out[-3000:]}")
        return 1
    if not failed and run.returncode != 0:
        print(f"mutant {args.mutant}: INCONCLUSIVE: the catchers crashed (exit {run.returncode})\n{out[-3000:]}")
        return 1
    if not failed:
        print(f"mutant {args.mutant}: SURVIVED: {', '.join(ran)} passed against it\n{out[-3000:]}")
        return 1
    print(f"mutant {args.mutant}: killed by {', '.join(failed)}")
    for line in out.splitlines():
        if "Failure" in line or line.startswith(("Expected", "Value of", "  Actual", "Which is")):
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
