#!/usr/bin/env python3
"""Prints the clause report: clause | title | tests | pass/fail/skip | killing mutants.

Reads the clause list from docs/contract.md (lines that start with a clause id
such as `ENV-1`), test outcomes from a ctest JUnit file, and optionally the
mutant kill matrix (JSON: {"CLAUSE-ID": ["mutant", ...]}). Exits non-zero when
a clause has a failing test or no test at all.
"""
import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

CLAUSE_LINE = re.compile(r"^\s*(?:[-*|]\s*)?\**`?([A-Z]+-\d+)`?\**\s*(?:\|\s*)?(.*)$")


def read_clauses(path):
    clauses = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = CLAUSE_LINE.match(line)
            if not m or m.group(1) in clauses:
                continue
            title = re.sub(r"\*\*beyond\*\*\s*", "", m.group(2)).split("|")[0].strip()
            clauses[m.group(1)] = title
    return clauses


def read_outcomes(path):
    """Returns [(test name, 'pass'|'fail'|'skip', message)]."""
    outcomes = []
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = case.get("name", "")
        status = case.get("status", "run")
        if case.find("failure") is not None or case.find("error") is not None or status == "fail":
            outcomes.append((name, "fail", ""))
        elif case.find("skipped") is not None or status in ("notrun", "skipped", "disabled"):
            skipped = case.find("skipped")
            msg = (skipped.get("message", "") if skipped is not None else "") or ""
            out = case.find("system-out")
            if not msg and out is not None and out.text:
                m = re.search(r"Skipped\s*\n?(.*)", out.text)
                msg = m.group(1).strip() if m else ""
            outcomes.append((name, "skip", msg))
        else:
            outcomes.append((name, "pass", ""))
    return outcomes


def clause_of(test_name):
    m = re.search(r"\.([A-Z]+)_(\d+)_", test_name)
    return f"{m.group(1)}-{m.group(2)}" if m else None


def colour(text, code, enabled):
    return f"\033[{code}m{text}\033[0m" if enabled else text


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--contract", required=True)
    ap.add_argument("--junit", required=True)
    ap.add_argument("--mutants", help="JSON kill matrix {clause: [mutants]}")
    ap.add_argument("--markdown", help="also write the report as Markdown here")
    args = ap.parse_args()

    clauses = read_clauses(args.contract)
    if not clauses:
        sys.exit(f"clause_report: no clause ids found in {args.contract}")
    kills = {}
    if args.mutants and os.path.exists(args.mutants):
        with open(args.mutants, encoding="utf-8") as f:
            kills = json.load(f)

    by_clause = {c: [] for c in clauses}
    for name, status, msg in read_outcomes(args.junit):
        c = clause_of(name)
        if c in by_clause:
            by_clause[c].append((name, status, msg))

    tty = sys.stdout.isatty()
    rows = []
    counts = {"pass": 0, "fail": 0, "skip": 0, "untested": 0}
    unproven = 0
    for cid, title in clauses.items():
        tests = by_clause[cid]
        if not tests:
            verdict = "untested"
        elif any(s == "fail" for _, s, _ in tests):
            verdict = "fail"
        elif all(s == "skip" for _, s, _ in tests):
            verdict = "skip"
        else:
            verdict = "pass"
        counts[verdict] += 1
        mutants = kills.get(cid, [])
        if args.mutants and not mutants:
            unproven += 1
        n_pass = sum(s == "pass" for _, s, _ in tests)
        n_fail = sum(s == "fail" for _, s, _ in tests)
        n_skip = sum(s == "skip" for _, s, _ in tests)
        reason = next((m for _, s, m in tests if s == "skip" and m), "")
        rows.append((cid, title[:58], f"{n_pass}/{n_fail}/{n_skip}", verdict, reason[:40],
                     ", ".join(mutants) if mutants else ("unproven" if args.mutants else "-")))

    header = ("clause", "title", "p/f/s", "verdict", "skip reason", "killing mutants")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(widths[i]) for i, v in enumerate(r))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    paint = {"pass": "32", "fail": "31", "skip": "33", "untested": "31"}
    for r in rows:
        text = line(r)
        print(colour(text, paint[r[3]], tty) if tty else text)
    total = len(clauses)
    summary = (f"clauses: {counts['pass']}/{total} pass, {counts['fail']} fail, {counts['skip']} skipped, "
               f"{counts['untested']} untested" + (f", {unproven} unproven" if args.mutants else ""))
    print(summary)

    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
            for r in rows:
                f.write("| " + " | ".join(str(v).replace("|", "\\|") for v in r) + " |\n")
            f.write(f"\n{summary}\n")
    return 1 if counts["fail"] or counts["untested"] else 0


if __name__ == "__main__":
    sys.exit(main())
