#!/usr/bin/env python3
"""Tests of scripts/clause_report.py on small JUnit files as ctest and gtest write them."""
import contextlib
import importlib.util
import io
import os
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = importlib.util.spec_from_file_location("clause_report", os.path.join(HERE, "..", "..", "scripts", "clause_report.py"))
report = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(report)

CONTRACT = """\
| Clause | Requirement | Tests | Killing mutant |
|---|---|---|---|
| ENV-1 | Secrets never reach the task: `AWS_*` and more. | `Env.ENV_1_X` | `leak_env` |
| ISO-3 | Shadowing: two calls each run their own module. | `Iso.ISO_3_X` | — |
| RUN-2 | Deadline (an absolute time for the whole call) ends the call. | `Run.RUN_2_X` | unproven |
| SPILL-4 | **beyond** TOCTOU: the caller opens spill files without following symlinks. | | `follow_symlinks`<br>`no_fstat` |
| HOOK-4 | on_shutdown fires exactly once. | | |
"""

GTEST_SKIP_OUT = """[ RUN      ] B/Spill.SPILL_4_RefusesSymlinkSwap/b
/src/spill_tests.cpp:240: Skipped
backend 'b' does not declare Capabilities::has_named_spill_files; this clause cannot be observed without it
[  SKIPPED ] B/Spill.SPILL_4_RefusesSymlinkSwap/b (1 ms)
"""

GTEST_FAIL_OUT = """[ RUN      ] B/Iso.ISO_3_SameModule/b
/src/iso_tests.cpp:150: Failure
Expected equality of these values:
  run_text(*backend, call)
    Which is: "a"
[  FAILED  ] B/Iso.ISO_3_SameModule/b (3 ms)
"""

WATCHDOG_OUT = """[ RUN      ] B/Run.RUN_2_Deadline/b

[conformance watchdog] B/Run.RUN_2_Deadline/b (clause RUN-2) is still running after 90000 ms: the backend hung. Aborting.
"""

CTEST_JUNIT = f"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="Linux" tests="5" failures="2" disabled="0" skipped="1">
  <testcase name="B/Env.ENV_1_SecretNever/b" classname="B/Env.ENV_1_SecretNever/b" status="run"><system-out>ok</system-out></testcase>
  <testcase name="B/Env.ENV_1_SecretAfter/b_AWS" classname="B/Env.ENV_1_SecretAfter/b_AWS" status="run"><system-out>ok</system-out></testcase>
  <testcase name="B/Iso.ISO_3_SameModule/b" classname="B/Iso.ISO_3_SameModule/b" status="fail">
    <failure message="Failed"/><system-out><![CDATA[{GTEST_FAIL_OUT}]]></system-out></testcase>
  <testcase name="B/Spill.SPILL_4_RefusesSymlinkSwap/b" classname="B/Spill.SPILL_4_RefusesSymlinkSwap/b" status="notrun">
    <skipped message="SKIP_REGULAR_EXPRESSION_MATCHED"/><system-out><![CDATA[{GTEST_SKIP_OUT}]]></system-out></testcase>
  <testcase name="B/Run.RUN_2_Deadline/b" classname="B/Run.RUN_2_Deadline/b" status="fail">
    <failure message="Failed"/><system-out><![CDATA[{WATCHDOG_OUT}]]></system-out></testcase>
</testsuite>
"""

GTEST_XML = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="2" failures="1">
  <testsuite name="B/Spill" tests="1">
    <testcase name="SPILL_4_RefusesFifoSwap/b" status="run" result="skipped" classname="B/Spill">
      <skipped message="/src/spill_tests.cpp:240&#x0A;backend &apos;b&apos; does not declare Capabilities::has_named_spill_files"/>
    </testcase>
  </testsuite>
  <testsuite name="B/Hook" tests="1">
    <testcase name="HOOK_4_OnShutdownOnce/b" status="run" result="completed" classname="B/Hook">
      <failure message="/src/hook_tests.cpp:255&#x0A;Expected equality: shutdowns 2 vs 1" type=""/>
    </testcase>
  </testsuite>
</testsuites>
"""


class ClauseReportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.contract = self.write("contract.md", CONTRACT)
        self.ctest = self.write("ctest.xml", CTEST_JUNIT)
        self.gtest = self.write("gtest.xml", GTEST_XML)

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def run_report(self, *args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = report.main_with(["--contract", self.contract, "--color", "never", *args])
        return status, out.getvalue()

    def test_contract_rows_give_ids_short_titles_and_mutants(self):
        clauses = report.read_contract(self.contract)
        self.assertEqual(list(clauses), ["ENV-1", "ISO-3", "RUN-2", "SPILL-4", "HOOK-4"])
        self.assertEqual(clauses["ISO-3"].title, "Shadowing")
        self.assertEqual(clauses["SPILL-4"].title, "TOCTOU")
        self.assertEqual(clauses["RUN-2"].title, "Deadline (an absolute time for the whole call) ends the call")
        self.assertEqual(clauses["SPILL-4"].doc_mutants, ["follow_symlinks", "no_fstat"])
        self.assertEqual(clauses["RUN-2"].doc_mutants, [])

    def test_ctest_junit_outcomes_reasons_and_hangs(self):
        by_name = {o.name: o for o in report.read_junit(self.ctest)}
        self.assertEqual(by_name["B/Env.ENV_1_SecretNever/b"].status, "pass")
        skip = by_name["B/Spill.SPILL_4_RefusesSymlinkSwap/b"]
        self.assertEqual(skip.status, "skip")
        self.assertIn("does not declare Capabilities::has_named_spill_files", skip.message)
        fail = by_name["B/Iso.ISO_3_SameModule/b"]
        self.assertEqual(fail.status, "fail")
        self.assertTrue(fail.message.startswith("Expected equality of these values:"), fail.message)
        hang = by_name["B/Run.RUN_2_Deadline/b"]
        self.assertEqual(hang.status, "fail")
        self.assertIn("HUNG", hang.message)
        self.assertIn("(clause RUN-2)", hang.message)

    def test_gtest_xml_names_and_messages(self):
        by_name = {o.name: o for o in report.read_junit(self.gtest)}
        skip = by_name["B/Spill.SPILL_4_RefusesFifoSwap/b"]
        self.assertEqual((skip.status, skip.message), ("skip", "backend 'b' does not declare Capabilities::has_named_spill_files"))
        fail = by_name["B/Hook.HOOK_4_OnShutdownOnce/b"]
        self.assertEqual((fail.status, fail.message), ("fail", "Expected equality: shutdowns 2 vs 1"))
        self.assertEqual(fail.short_name, "Hook.HOOK_4_OnShutdownOnce")

    def test_table_summary_and_exit_status(self):
        status, out = self.run_report("--junit", self.ctest, "--junit", self.gtest)
        self.assertEqual(status, 1)
        self.assertIn("1/5 clauses pass, 3 fail, 1 skipped, 0 untested, 3 unproven", out)
        env1 = next(l for l in out.splitlines() if l.startswith("ENV-1"))
        self.assertIn("pass 2", env1)
        self.assertIn("leak_env", env1)
        spill4 = next(l for l in out.splitlines() if l.startswith("SPILL-4"))
        self.assertIn("skip 2: capability off: has_named_spill_files", spill4)
        self.assertIn("failing tests:", out)
        self.assertIn("B/Iso.ISO_3_SameModule/b", out)
        self.assertNotIn("\033[", out)

    def test_all_passing_and_skipped_clauses_exit_zero(self):
        passing = self.write("pass.xml", """<testsuite>
          <testcase name="B/Env.ENV_1_A/b" status="run"/>
          <testcase name="B/Iso.ISO_3_A/b" status="run"/>
          <testcase name="B/Run.RUN_2_A/b" status="run"/>
          <testcase name="B/Spill.SPILL_4_A/b" status="notrun"><skipped message="x"/></testcase>
          <testcase name="B/Hook.HOOK_4_A/b" status="run"/></testsuite>""")
        status, out = self.run_report("--junit", passing)
        self.assertEqual(status, 0)
        self.assertIn("4/5 clauses pass, 0 fail, 1 skipped, 0 untested, 3 unproven", out)

    def test_clause_without_tests_fails_unless_only_tested_clauses_are_asked_for(self):
        partial = self.write("partial.xml", '<testsuite><testcase name="B/Env.ENV_1_A/b" status="run"/></testsuite>')
        status, out = self.run_report("--junit", partial)
        self.assertEqual(status, 1)
        self.assertIn("clauses without a test in this run: ISO-3, RUN-2, SPILL-4, HOOK-4", out)
        status, out = self.run_report("--junit", partial, "--only-tested")
        self.assertEqual(status, 0)
        self.assertNotIn("ISO-3", out)

    def test_kill_matrix_overrides_the_contract_column(self):
        matrix = self.write("kills.json", '{"ISO-3": ["cache_by_name"], "RUN-2": ["retry"]}')
        _, out = self.run_report("--junit", self.ctest, "--mutants", matrix)
        self.assertIn("cache_by_name", next(l for l in out.splitlines() if l.startswith("ISO-3")))
        self.assertIn("3 unproven", out)  # ENV-1, SPILL-4, HOOK-4 have no mutant in the matrix

    def test_markdown_and_clause_junit(self):
        markdown = os.path.join(self.dir.name, "report.md")
        junit = os.path.join(self.dir.name, "clauses.xml")
        self.run_report("--junit", self.ctest, "--junit", self.gtest, "--markdown", markdown, "--clause-junit", junit)
        with open(markdown, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("| ENV-1 | Secrets never reach the task | pass: `Env.ENV_1_SecretNever`<br>", text)
        self.assertIn("**FAIL**", text)
        self.assertIn("`follow_symlinks`, `no_fstat`", text)
        cases = {c.get("name").split()[0]: c for c in ET.parse(junit).getroot().iter("testcase")}
        self.assertEqual(len(cases), 5)
        self.assertIsNotNone(cases["ISO-3"].find("failure"))
        self.assertIsNotNone(cases["SPILL-4"].find("skipped"))
        self.assertIsNone(cases["ENV-1"].find("failure"))

    def test_unreadable_inputs_are_clear_errors(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit):
            report.main_with(["--contract", self.contract, "--junit", os.path.join(self.dir.name, "missing.xml")])
        self.assertIn("cannot read JUnit XML --junit", err.getvalue())
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit):
            report.main_with(["--contract", os.path.join(self.dir.name, "nope.md"), "--junit", self.ctest])
        self.assertIn("nope.md' does not exist", err.getvalue())


if __name__ == "__main__":
    unittest.main()
