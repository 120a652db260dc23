#!/usr/bin/env python3
"""The execkit clause report: how a conformance run went, clause by clause.

    clause | title | tests | result (pass / fail / skip, with the reason) | killing mutants

followed by the failing tests with their first failure message and one
summary line ("N/M clauses pass, K skipped, U unproven"). Reads:

  --junit     JUnit XML of the run: `ctest -L conformance --output-junit FILE`
              or a test binary's `--gtest_output=xml:FILE` (repeatable);
  --contract  the clause list: docs/contract.md (installed as
              share/execkit/contract.md; found next to this script by default);
  --mutants   optionally the mutant kill matrix {"CLAUSE-ID": ["mutant", ...]};
              without it the contract's "Killing mutant" column is used.

Writes the table to stdout (colour only on a terminal, never with NO_COLOR),
and on request a Markdown version (--markdown, e.g. for a CI comment) and a
JUnit file with one test case per clause (--clause-junit, for CI dashboards).
Exit status 1 when a clause has a failing test or no test at all.
"""
import argparse
import json
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET

CLAUSE_ID = re.compile(r"^[A-Z]+-\d+$")
TEST_CLAUSE = re.compile(r"\.([A-Z]+)_(\d+)_")
BULLET = re.compile(r"^\s*[-*]\s+\**`?([A-Z]+-\d+)`?\**\s+(.*)$")


class Clause:
    def __init__(self, cid, requirement, mutants):
        self.id = cid
        self.requirement = requirement
        self.title = short_title(requirement)
        self.doc_mutants = mutants
        self.tests = []  # [Outcome]


class Outcome:
    def __init__(self, name, status, message):
        self.name = name  # e.g. OneShot/Spill.SPILL_4_RefusesSymlinkSwap/OneShot
        self.status = status  # pass | fail | skip
        self.message = message  # the skip reason or the first failure lines

    @property
    def short_name(self):
        """Area.TEST without the instantiation prefix and the backend suffix."""
        name = self.name.split("/", 1)[1] if "/" in self.name.split(".", 1)[0] else self.name
        return name.split("/", 1)[0]


def plain(text):
    text = re.sub(r"\*\*beyond\*\*\s*", "", text)
    return re.sub(r"[`*]", "", text).strip()


def short_title(requirement):
    """'Shadowing: two calls ...' -> 'Shadowing'; otherwise the first sentence."""
    text = plain(requirement)
    head = text.split(":", 1)[0]
    if len(head) < len(text) and len(head) <= 60 and head.count("(") == head.count(")"):
        return head
    return re.split(r"(?<=[.;])\s", text, 1)[0].rstrip(".;")


def read_contract(path):
    """Clause rows of docs/contract.md (| ID | requirement | tests | mutant |) or CONTRACT.md bullets."""
    clauses = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
            if len(cells) >= 2 and CLAUSE_ID.match(cells[0]):
                mutants = re.findall(r"`([^`]+)`", cells[-1]) if len(cells) >= 4 else []
                clauses.setdefault(cells[0], Clause(cells[0], cells[1], mutants))
                continue
            m = BULLET.match(line)
            if m:
                clauses.setdefault(m.group(1), Clause(m.group(1), m.group(2), []))
    return clauses


def first_lines(text, count=2):
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    return " ".join(lines[:count])


def skip_reason(case):
    skipped = case.find("skipped")
    message = skipped.get("message", "") if skipped is not None else ""
    if message and message != "SKIP_REGULAR_EXPRESSION_MATCHED":
        # gtest XML: "file:line\nreason"
        lines = [l for l in message.splitlines() if l.strip()]
        return (lines[-1] if len(lines) > 1 else message).strip()
    out = case.findtext("system-out") or ""
    m = re.search(r": Skipped\n(.*?)(?:\n\[  SKIPPED \]|\Z)", out, re.S)
    return first_lines(m.group(1), 1) if m else ""


def failure_message(case):
    out = (case.findtext("system-out") or "") + (case.findtext("system-err") or "")
    m = re.search(r"\[conformance watchdog\] (.*?)(?:\n|$)", out)
    if m:
        return "HUNG: " + m.group(1)
    for tag in ("failure", "error"):
        element = case.find(tag)
        if element is not None:
            message = element.get("message", "") or (element.text or "")
            if message and message not in ("Failed", "Timeout"):
                lines = [l for l in message.splitlines() if l.strip()]
                # gtest XML: "file:line\nexpected ...": drop the location line
                return first_lines("\n".join(lines[1:] if len(lines) > 1 and re.match(r".*:\d+$", lines[0]) else lines))
            if message == "Timeout" or "***Timeout" in out:
                return "HUNG: killed by the ctest TIMEOUT"
    m = re.search(r": Failure\n(.*?)(?:\n\[  FAILED  \]|\n\S+:\d+: Failure|\Z)", out, re.S)
    if m:
        return first_lines(m.group(1), 3)
    m = re.search(r"C\+\+ exception with description (.*?)(?:\n|$)", out)
    return m.group(0).strip() if m else "failed (no message in the JUnit file)"


def read_junit(path):
    outcomes = []
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = case.get("name", "")
        classname = case.get("classname", "")
        if not TEST_CLAUSE.search(name) and classname:
            name = f"{classname}.{name}"  # gtest XML splits the name
        status = case.get("status", "run")
        result = case.get("result", "")
        if case.find("failure") is not None or case.find("error") is not None or status == "fail":
            outcomes.append(Outcome(name, "fail", failure_message(case)))
        elif case.find("skipped") is not None or status in ("notrun", "skipped", "disabled") or result == "skipped":
            outcomes.append(Outcome(name, "skip", skip_reason(case)))
        else:
            outcomes.append(Outcome(name, "pass", ""))
    return outcomes


def clause_of(test_name):
    m = TEST_CLAUSE.search(test_name)
    return f"{m.group(1)}-{m.group(2)}" if m else None


def verdict(clause):
    statuses = [t.status for t in clause.tests]
    if not statuses:
        return "untested"
    if "fail" in statuses:
        return "fail"
    if all(s == "skip" for s in statuses):
        return "skip"
    return "pass"


def brief(reason):
    """The suite's capability skips, shortened for the table: 'capability off: has_named_spill_files'."""
    m = re.search(r"Capabilities::(\w+)", reason)
    if m and re.search(r"does not declare|is not an?", reason):
        return f"capability off: {m.group(1)}"
    return reason


def result_text(clause, short=True):
    """'pass 3', 'pass 1, skip 2: reason', 'FAIL 1 of 4', 'skip 5: reason', 'no test'."""
    counts = {s: sum(t.status == s for t in clause.tests) for s in ("pass", "fail", "skip")}
    if not clause.tests:
        return "no test"
    if counts["fail"]:
        return f"FAIL {counts['fail']} of {len(clause.tests)}"
    parts = [f"pass {counts['pass']}"] if counts["pass"] else []
    if counts["skip"]:
        reason = next((t.message for t in clause.tests if t.status == "skip" and t.message), "")
        if short:
            reason = brief(reason)
        parts.append(f"skip {counts['skip']}" + (f": {reason}" if reason else ""))
    return ", ".join(parts)


def clip(text, width):
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def use_colour(choice):
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


PAINT = {"pass": "32", "fail": "1;31", "skip": "33", "untested": "1;31"}


def print_table(clauses, mutants_of, summary, colour, ok):
    width = shutil.get_terminal_size((160, 24)).columns
    rows = [(c.id, c.title, str(len(c.tests)), result_text(c), ", ".join(mutants_of(c)) or "unproven", verdict(c))
            for c in clauses]
    header = ("clause", "title", "tests", "result", "killing mutants")
    fixed = [max(len(r[i]) for r in rows + [header]) for i in (0, 2)]
    # title and result share what the terminal leaves; mutants get the rest
    budget = max(width - fixed[0] - fixed[1] - 8 - 24, 40)
    title_w = min(max(len(r[1]) for r in rows), budget * 2 // 5)
    result_w = min(max(len(r[3]) for r in rows + [header]), budget - title_w)
    widths = [fixed[0], title_w, fixed[1], result_w]

    def line(cells):
        shown = [clip(cells[i], widths[i]).ljust(widths[i]) for i in range(4)]
        return "  ".join(shown + [cells[4]]).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths + [15]))
    for r in rows:
        text = line(r)
        print(f"\033[{PAINT[r[5]]}m{text}\033[0m" if colour and r[5] != "pass" else text)

    failing = [t for c in clauses for t in c.tests if t.status == "fail"]
    if failing:
        print("\nfailing tests:")
        for t in failing:
            print(f"  {t.name}\n      {t.message}")
    untested = [c.id for c in clauses if not c.tests]
    if untested:
        print(f"\nclauses without a test in this run: {', '.join(untested)}")
    paint = "32" if ok else "1;31"
    print()
    print(f"\033[{paint}m{summary}\033[0m" if colour else summary)


def markdown(clauses, mutants_of, summary):
    icon = {"pass": "pass", "fail": "**FAIL**", "skip": "skip", "untested": "**no test**"}
    out = ["### execkit conformance: clause report", "", summary, "",
           "| clause | title | tests | result | killing mutants |", "|---|---|---|---|---|"]
    for c in clauses:
        grouped = {}
        for t in c.tests:  # parameterised tests (EnvSecret) share a short name
            grouped[(t.status, t.short_name)] = grouped.get((t.status, t.short_name), 0) + 1
        tests = "<br>".join(f"{status}{f' ×{n}' if n > 1 else ''}: `{name}`"
                            for (status, name), n in grouped.items()) or "—"
        mutants = ", ".join(f"`{m}`" for m in mutants_of(c)) or "unproven"
        cells = [c.id, c.title, tests, f"{icon[verdict(c)]} — {result_text(c, short=False)}", mutants]
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    failing = [t for c in clauses for t in c.tests if t.status == "fail"]
    if failing:
        out += ["", "#### Failing tests", ""]
        out += [f"- `{t.name}`: {t.message}" for t in failing]
    return "\n".join(out) + "\n"


def clause_junit(clauses, mutants_of):
    root = ET.Element("testsuites", name="execkit conformance clauses")
    suite = ET.SubElement(root, "testsuite", name="execkit.contract", tests=str(len(clauses)),
                       failures=str(sum(verdict(c) in ("fail", "untested") for c in clauses)),
                       skipped=str(sum(verdict(c) == "skip" for c in clauses)))
    for c in clauses:
        case = ET.SubElement(suite, "testcase", classname=f"contract.{c.id.split('-')[0].lower()}",
                             name=f"{c.id} {c.title}")
        v = verdict(c)
        if v == "fail":
            failed = [t for t in c.tests if t.status == "fail"]
            ET.SubElement(case, "failure", message=failed[0].message).text = "\n".join(
                f"{t.name}: {t.message}" for t in failed)
        elif v == "untested":
            ET.SubElement(case, "failure", message="no test of this clause ran")
        elif v == "skip":
            ET.SubElement(case, "skipped", message=result_text(c, short=False))
        ET.SubElement(case, "system-out").text = "\n".join(f"{t.status} {t.name}" for t in c.tests) + \
            f"\nkilling mutants: {', '.join(mutants_of(c)) or 'none (unproven)'}\n"
    return ET.ElementTree(root)


def default_contract():
    here = os.path.dirname(os.path.realpath(__file__))
    for candidate in (os.path.join(here, "..", "share", "execkit", "contract.md"),
                      os.path.join(here, "..", "docs", "contract.md")):
        if os.path.exists(candidate):
            return os.path.normpath(candidate)
    return None


def main_with(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--junit", action="append", required=True, help="JUnit XML of a run (ctest or gtest); repeatable")
    ap.add_argument("--contract", default=default_contract(), help="the clause list (default: %(default)s)")
    ap.add_argument("--mutants", help="kill matrix JSON {clause: [mutants]} (default: the contract's column)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the report as Markdown")
    ap.add_argument("--clause-junit", metavar="FILE", help="also write one JUnit test case per clause")
    ap.add_argument("--only-tested", action="store_true",
                    help="list only clauses with a test in the run (e.g. after --gtest_filter); none counts as untested")
    ap.add_argument("--backend", metavar="NAME",
                    help="only the tests of this backend (the test name's last part, e.g. ProcessPool)")
    ap.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    args = ap.parse_args(argv)

    if not args.contract or not os.path.exists(args.contract):
        ap.error(f"no clause list: --contract '{args.contract}' does not exist (pass docs/contract.md)")
    clauses = read_contract(args.contract)
    if not clauses:
        ap.error(f"no clause ids (rows starting with e.g. ENV-1) in {args.contract}")
    kills = None
    if args.mutants:
        try:
            with open(args.mutants, encoding="utf-8") as f:
                kills = json.load(f)
        except (OSError, ValueError) as e:
            ap.error(f"cannot read the kill matrix --mutants '{args.mutants}': {e}")

    unknown = []
    for path in args.junit:
        try:
            outcomes = read_junit(path)
        except (OSError, ET.ParseError) as e:
            ap.error(f"cannot read JUnit XML --junit '{path}': {e}")
        if args.backend:
            outcomes = [o for o in outcomes if o.name.rsplit("/", 1)[-1] == args.backend]
        for outcome in outcomes:
            cid = clause_of(outcome.name)
            if cid in clauses:
                clauses[cid].tests.append(outcome)
            elif cid:
                unknown.append(outcome.name)

    def mutants_of(clause):
        return kills.get(clause.id, []) if kills is not None else clause.doc_mutants

    ordered = [c for c in clauses.values() if c.tests or not args.only_tested]
    verdicts = [verdict(c) for c in ordered]
    count = {v: verdicts.count(v) for v in ("pass", "fail", "skip", "untested")}
    unproven = sum(not mutants_of(c) for c in ordered)
    summary = (f"{count['pass']}/{len(ordered)} clauses pass, {count['fail']} fail, {count['skip']} skipped, "
               f"{count['untested']} untested, {unproven} unproven (no killing mutant)")

    ok = not count["fail"] and not count["untested"]
    print_table(ordered, mutants_of, summary, use_colour(args.color), ok)
    if unknown:
        print(f"note: {len(unknown)} test(s) name a clause missing from {args.contract}, e.g. {unknown[0]}")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(markdown(ordered, mutants_of, summary))
    if args.clause_junit:
        clause_junit(ordered, mutants_of).write(args.clause_junit, encoding="utf-8", xml_declaration=True)
    return 0 if ok else 1


def main():
    return main_with(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
