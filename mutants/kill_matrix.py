#!/usr/bin/env python3
"""Builds the mutant kill matrix from the kill records of run_mutant.py.

Writes {"CLAUSE-ID": ["mutant", ...]} (the mutants whose run killed a test of
that clause) for scripts/clause_report.py --mutants, and prints every clause
of the contract with its killing mutants, or "unproven" and why. With --full
(records of whole-suite runs) it also prints each mutant's collateral
failures. With --update-doc it rewrites the "Killing mutant" column of
docs/contract.md from the matrix.

Exit status 1 if a record is missing, a mutant survived, or a clause of the
contract has no mutant at all; a clause whose only mutants could not be
judged here (all its tests skipped on this host) is reported, not failed.
"""
import argparse
import json
import os
import re
import sys

CLAUSE = re.compile(r"^\|\s*([A-Z]+-\d+)\s*\|")


def read_clauses(contract):
    clauses = []
    with open(contract, encoding="utf-8") as f:
        for line in f:
            m = CLAUSE.match(line)
            if m and m.group(1) not in clauses:
                clauses.append(m.group(1))
    return clauses


def update_doc(contract, matrix):
    """Rewrites the last cell of every clause row with the clause's killing mutants."""
    with open(contract, encoding="utf-8") as f:
        lines = f.readlines()
    changed = 0
    for i, line in enumerate(lines):
        m = CLAUSE.match(line)
        if not m:
            continue
        cells = line.rstrip("\n").rstrip().rstrip("|").split("|")
        mutants = matrix.get(m.group(1), [])
        cell = " " + ("<br>".join(f"`{name}`" for name in mutants) if mutants else "unproven") + " "
        new = "|".join(cells[:-1] + [cell]) + "|\n"
        if new != line:
            lines[i] = new
            changed += 1
    with open(contract, "w", encoding="utf-8") as f:
        f.writelines(lines)
    return changed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records-dir", required=True)
    ap.add_argument("--contract", required=True, help="docs/contract.md (the clause list)")
    ap.add_argument("--out", required=True, help="the kill matrix (JSON) to write")
    ap.add_argument("--full", action="store_true", help="the records are whole-suite runs: show collateral")
    ap.add_argument("--update-doc", action="store_true", help="rewrite the Killing mutant column of --contract")
    ap.add_argument("mutants", nargs="*", help="every registered mutant (default: every record in --records-dir)")
    args = ap.parse_args()
    if not args.mutants:
        args.mutants = sorted(f[:-5] for f in os.listdir(args.records_dir) if f.endswith(".json"))

    clauses = read_clauses(args.contract)
    if not clauses:
        sys.exit(f"kill_matrix: no clause rows in {args.contract}")
    matrix = {c: [] for c in clauses}
    designed = {c: [] for c in clauses}
    unprovable = {c: [] for c in clauses}
    problems = []
    records = {}
    for name in args.mutants:
        path = os.path.join(args.records_dir, name + ".json")
        if not os.path.exists(path):
            problems.append(f"{name}: no kill record ({path}); did mutant.{name} run?")
            continue
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        records[name] = record
        for clause in record["expected"]:
            if clause not in matrix:
                problems.append(f"{name}: clause {clause} is not in {args.contract}")
                continue
            designed[clause].append(name)
        for clause in record["killed"]:
            if clause in matrix:
                matrix[clause].append(name)
        for clause in record["unprovable"]:
            if clause in unprovable:
                unprovable[clause].append(name)
        if record.get("error"):
            problems.append(f"{name}: could not be judged: {record['error']}")
        for clause in record["survived"]:
            problems.append(f"{name} survived the tests of {clause}")
        for clause in record.get("no_tests", []):
            problems.append(f"{name}: no test of {clause} ran")
        for test in record["smoke_failed"]:
            problems.append(f"{name}: smoke test {test} failed")

    width = max(len(c) for c in clauses)
    unproven = 0
    print(f"{'clause'.ljust(width)}  killing mutants")
    print(f"{'-' * width}  {'-' * 40}")
    for clause in clauses:
        if matrix[clause]:
            shown = ", ".join(matrix[clause])
        else:
            unproven += 1
            if unprovable[clause]:
                shown = f"unproven: its tests were skipped on this host (mutants {', '.join(unprovable[clause])})"
            elif designed[clause]:
                shown = f"unproven: not killed ({', '.join(designed[clause])})"
            else:
                shown = "unproven: no mutant breaks this clause"
                problems.append(f"{clause} has no mutant")
        print(f"{clause.ljust(width)}  {shown}")
    seconds = sum(r.get("seconds", 0) for r in records.values())
    print(f"{len(records)} mutants, {len(clauses) - unproven}/{len(clauses)} clauses proven, "
          f"{unproven} unproven; {seconds:.0f} s of suite runs")

    if args.full:
        print("\ncollateral failures (clauses a mutant fails besides its own):")
        for name, record in sorted(records.items()):
            other = sorted(record.get("collateral", {}))
            print(f"  {name}: {', '.join(other) if other else 'none'}")

    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({c: m for c, m in matrix.items() if m}, f, indent=2, sort_keys=True)
    if args.update_doc:
        print(f"{update_doc(args.contract, matrix)} row(s) of {args.contract} updated")

    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
