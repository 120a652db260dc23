#!/usr/bin/env python3
"""Runs the conformance suite against one mutant and judges whether it was killed.

The mutant's conformance binary runs the tests of the clauses the mutant
breaks (--clauses) plus a smoke set that must still pass (proof that the
binary, its workers and the probe module work, so that a kill is the clause's
tests catching the defect and not a broken setup). With --full it runs the
whole suite instead and also reports collateral failures in other clauses.

Verdict (exit status):
  0   killed: every expected clause has a failing test (a clause whose tests
      were all skipped on this host is "unprovable here" and does not count
      against the mutant), and no smoke test failed
  77  unprovable here: every expected clause's tests were skipped
  1   survived (a clause's tests ran and all passed), a smoke test failed,
      or the run could not be judged

A test that crashes the binary (a signal, the suite's watchdog abort) counts
as failed, as it would under ctest, and the remaining tests are run again
without it. The kill record (JSON) goes to --record for kill_matrix.py.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

STATUS = re.compile(r"^\[\s*(RUN|OK|FAILED|SKIPPED)\s*\] ([^\s,]+)")
END_OF_RUN = re.compile(r"^\[=+\] \d+ tests? from .* ran\.")
CLAUSE_IN_NAME = re.compile(r"\.([A-Z]+)_(\d+)_")
MESSAGE_LINES = 12


def clause_of(test):
    m = CLAUSE_IN_NAME.search(test)
    return f"{m.group(1)}-{m.group(2)}" if m else None


def summary_of(lines):
    """The test's own failure message: gtest prints it after the location and values."""
    text = [l.strip() for l in lines if l.strip() and not re.search(r": (Failure|Skipped)$", l.rstrip())]
    return text[-1][:200] if text else ""


def short_name(test):
    """Mutant/Area.Test/backend -> Area.Test (for tests that name no clause)."""
    parts = test.split("/")
    return parts[1] if len(parts) == 3 else test


def clause_pattern(clause):
    area, number = clause.split("-")
    return f"*.{area}_{number}_*"


def parse_run(output):
    """Returns ({test: status}, {test: message lines}, crashed test or None)."""
    status, messages = {}, {}
    current = None
    for line in output.splitlines():
        if END_OF_RUN.match(line):
            break
        m = STATUS.match(line)
        if m:
            kind, test = m.groups()
            if kind == "RUN":
                current = test
                messages[test] = []
            else:
                status[test] = {"OK": "pass", "FAILED": "fail", "SKIPPED": "skip"}[kind]
                current = None
        elif current is not None and len(messages[current]) < MESSAGE_LINES:
            messages[current].append(line)
    crashed = current if current is not None and current not in status else None
    return status, messages, crashed


def run_suite(binary, positive, timeout):
    """Runs `binary` filtered to `positive`, re-running after crashes."""
    status, messages, excluded = {}, {}, []
    deadline = time.monotonic() + timeout
    while True:
        pattern = positive + ("-" + ":".join(excluded) if excluded else "")
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the suite did not finish within {timeout} s")
        # A private TMPDIR: a test the watchdog aborts (or a mutant crashes) cannot
        # remove its per-test directory, so the run's directory is removed here.
        with tempfile.TemporaryDirectory(prefix="execkit-mutant-", ignore_cleanup_errors=True) as scratch:
            try:
                proc = subprocess.run([binary, f"--gtest_filter={pattern}", "--gtest_color=no"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=left,
                                      errors="replace", text=True, env=dict(os.environ, TMPDIR=scratch))
            except subprocess.TimeoutExpired as e:
                raise TimeoutError(f"the suite did not finish within {timeout} s") from e
        run_status, run_messages, crashed = parse_run(proc.stdout)
        status.update(run_status)
        messages.update(run_messages)
        if crashed is None:
            if proc.returncode != 0 and not any(s == "fail" for s in run_status.values()):
                tail = "\n".join(proc.stdout.splitlines()[-20:])
                raise RuntimeError(f"{binary} exited with status {proc.returncode} without a failing test:\n{tail}")
            return status, messages
        status[crashed] = "fail"
        messages.setdefault(crashed, []).append(f"(the binary died during this test: exit status {proc.returncode})")
        excluded.extend(t for t in run_status if t not in excluded)
        excluded.append(crashed)


def judge(expected, smoke_tests, status):
    by_clause = {c: [] for c in expected}
    for test, s in status.items():
        c = clause_of(test)
        if c in by_clause:
            by_clause[c].append((test, s))
    killed, survived, unprovable, empty = [], [], [], []
    for clause, tests in by_clause.items():
        if not tests:
            empty.append(clause)
        elif any(s == "fail" for _, s in tests):
            killed.append(clause)
        elif all(s == "skip" for _, s in tests):
            unprovable.append(clause)
        else:
            survived.append(clause)
    smoke_failed = sorted(t for t in smoke_tests if status.get(t) == "fail")
    collateral = {}
    for test, s in sorted(status.items()):
        c = clause_of(test)
        if s == "fail" and c not in by_clause:
            collateral.setdefault(c or short_name(test), []).append(test)
    return killed, survived, unprovable, empty, smoke_failed, collateral


def write_record(path, record):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="the mutant's conformance binary")
    ap.add_argument("--mutant", required=True)
    ap.add_argument("--clauses", required=True, help="comma-separated clause ids the mutant breaks")
    ap.add_argument("--smoke", default="", help="colon-separated gtest patterns that must pass")
    ap.add_argument("--full", action="store_true", help="run the whole suite and report collateral failures")
    ap.add_argument("--record", required=True, help="where to write the kill record (JSON)")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()

    expected = [c.strip() for c in args.clauses.split(",") if c.strip()]
    if os.path.exists(args.record):
        os.remove(args.record)  # never leave a stale verdict behind
    smoke_patterns = [p for p in args.smoke.split(":") if p]
    positive = "*" if args.full else ":".join([clause_pattern(c) for c in expected] + smoke_patterns)

    started = time.monotonic()
    try:
        status, messages = run_suite(os.path.abspath(args.binary), positive, args.timeout)
    except (TimeoutError, RuntimeError, OSError) as e:
        print(f"mutant {args.mutant}: cannot judge: {e}")
        write_record(args.record, {"mutant": args.mutant, "expected": expected, "killed": [], "survived": [],
                                   "unprovable": [], "smoke_failed": [], "error": str(e), "full": args.full})
        return 1
    seconds = round(time.monotonic() - started, 1)

    smoke_tests = [t for t in status if clause_of(t) not in expected and not args.full]
    killed, survived, unprovable, empty, smoke_failed, collateral = judge(expected, smoke_tests, status)
    if args.full:
        smoke_failed = []

    record = {
        "mutant": args.mutant,
        "expected": expected,
        "killed": killed,
        "survived": survived,
        "unprovable": unprovable,
        "no_tests": empty,
        "smoke_failed": smoke_failed,
        "collateral": collateral,
        "failed_tests": {t: messages.get(t, []) for t, s in sorted(status.items()) if s == "fail"},
        "tests_run": len(status),
        "seconds": seconds,
        "full": args.full,
    }
    write_record(args.record, record)

    print(f"mutant {args.mutant}: {len(status)} tests in {seconds} s")
    for clause in expected:
        tests = sorted(t for t in status if clause_of(t) == clause)
        failed = [t for t in tests if status[t] == "fail"]
        verdict = ("killed" if clause in killed else "SURVIVED" if clause in survived
                   else "unprovable here (all tests skipped)" if clause in unprovable else "NO TESTS MATCHED")
        print(f"  {clause}: {verdict} ({len(failed)}/{len(tests)} tests failed)")
        shown = failed if clause in killed else tests  # a survivor shows what each test did
        for t in shown:
            print(f"    {status[t]}: {t}: {summary_of(messages.get(t, []))}")
    if collateral:
        print("  collateral failures (other clauses):")
        for clause, tests in collateral.items():
            print(f"    {clause}: {len(tests)} test(s)")
    for t in smoke_failed:
        print(f"  SMOKE TEST FAILED: {t}")
        for line in messages.get(t, [])[:MESSAGE_LINES]:
            print(f"    {line}")

    if survived or empty or smoke_failed:
        if survived:
            print(f"mutant {args.mutant} SURVIVED the tests of {', '.join(survived)}: a hole in the suite")
        if empty:
            print(f"no test matched clause(s) {', '.join(empty)}")
        if smoke_failed:
            print("the smoke tests must pass: the mutant is broader than its defect, or its binary is broken")
        return 1
    if not killed:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
