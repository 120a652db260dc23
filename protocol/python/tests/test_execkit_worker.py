"""The worker-side building blocks (execkit_worker, execkit_scope,
execkit_task) in a real worker process: the standard library's process
pool, so any executor that carries init_worker and run_call gets the same."""
import concurrent.futures
import dataclasses
import multiprocessing
import os
import re
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from execkit_backend import Call  # noqa: E402
from execkit_config import parse_config  # noqa: E402
from execkit_outcomes import ResultError, TaskError, Timeout  # noqa: E402
from execkit_spill import SpillDir  # noqa: E402
from execkit_worker import call_spec, init_worker, outcome_of, run_call, worker_settings  # noqa: E402

TASKS = os.path.join(HERE, "tasks")
MIB = 1 << 20


class Worker:
    """One worker process, as a backend would run it."""

    def __init__(self, **overrides):
        self.tmp = tempfile.TemporaryDirectory()
        environ = {"PATH": "/usr/bin:/bin", "HOME": self.tmp.name, "AWS_SECRET_ACCESS_KEY": "secret",
                   "EXECKIT_EXTRA": "passes", "TZ": "Europe/Paris"}
        raw = {"spill_dir": os.path.join(self.tmp.name, "spill"), "base_dir": self.tmp.name, "node_id": "node-7",
               "stderr_tail_bytes": 4096, **overrides}
        config = parse_config(raw, environ, self.tmp.name)
        self.config = dataclasses.replace(config, spill=SpillDir.open(config.spill_dir, config.pool_id))
        self.pool = concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker,
            initargs=(worker_settings(self.config, environ, os.getpid()),))
        self.next_id = 0

    def run(self, function, data=b"", module="ex_tasks", search_path=(TASKS,), env_updates=None, cwd=None,
            deadline=None):
        self.next_id += 1
        call = Call(self.next_id, module, function, data if isinstance(data, bytes) else data.encode(),
                    tuple(search_path), env_updates or {}, cwd)
        reply = self.pool.submit(run_call, call_spec(call, deadline, self.config)).result(60)
        self.last_reply = reply
        return outcome_of(reply, self.config, call.id)

    def text(self, function, data=b"", **kwargs):
        outcome = self.run(function, data, **kwargs)
        if not hasattr(outcome, "metrics") or isinstance(outcome, TaskError):
            raise AssertionError(f"{function} failed: {outcome}")
        try:
            if outcome.data is not None:
                return outcome.data.decode()
            return os.pread(outcome.fd, outcome.size, 0).decode()
        finally:
            outcome.close()

    def spill_files(self):
        return [n for n in os.listdir(self.config.spill.path) if n.endswith(".spill")]

    def close(self):
        self.pool.shutdown(wait=True)
        self.config.spill.close()
        self.tmp.cleanup()


class WorkerTest(unittest.TestCase):
    worker = None

    @classmethod
    def setUpClass(cls):
        cls.worker = Worker()

    @classmethod
    def tearDownClass(cls):
        cls.worker.close()

    def identity(self):
        return dict(line.split("=", 1) for line in self.worker.text("identity").splitlines())


class Results(WorkerTest):
    def test_small_result_is_inline_with_metrics(self):
        outcome = self.worker.run("echo", b"hello")
        self.assertEqual(outcome.data, b"hello")
        m = outcome.metrics
        self.assertEqual(m.wall_time_ns, m.finished_at_ns - m.started_at_ns)
        self.assertLessEqual(m.started_at_ns, time.monotonic_ns())
        self.assertRegex(m.worker_id, r"^[0-9a-f]{12}$")
        self.assertEqual(m.node_id, "node-7")
        self.assertGreater(m.peak_rss_kib, 0)
        self.assertEqual(m.worker_pid, int(self.identity()["pid"]))

    def test_large_result_is_spilled_then_taken_into_a_memfd(self):
        outcome = self.worker.run("write_bytes", str(3 * MIB))
        try:
            self.assertIsNotNone(outcome.fd)
            self.assertEqual(os.pread(outcome.fd, 3 * MIB, 0), (bytes(range(256)) * 4096 * 3)[:3 * MIB])
            self.assertIn("memfd:", os.readlink(f"/proc/self/fd/{outcome.fd}"))
        finally:
            outcome.close()
        self.assertEqual(self.worker.spill_files(), [])

    def test_failing_task_leaves_no_spill_file(self):
        outcome = self.worker.run("write_then_fail", str(MIB))
        self.assertIsInstance(outcome, TaskError)
        self.assertEqual(self.worker.spill_files(), [])

    def test_result_beyond_the_cap_is_a_result_error_even_if_the_task_swallows_it(self):
        worker = Worker(max_result_bytes=250)
        try:
            outcome = worker.run("write_too_much")
            self.assertIsInstance(outcome, ResultError)
            self.assertEqual(outcome.reason, "too_large")
            self.assertEqual(worker.text("echo", "still serving"), "still serving")
        finally:
            worker.close()

    def test_deadline_passed_before_the_start_is_a_timeout(self):
        self.assertIsInstance(self.worker.run("echo", deadline=time.monotonic_ns() - 1), Timeout)


class Errors(WorkerTest):
    def test_task_error_has_type_message_and_this_calls_stderr(self):
        self.worker.text("print_and_succeed", "AN-EARLIER-CALL-WROTE-THIS")
        outcome = self.worker.run("fail", "the task's own message")
        self.assertIsInstance(outcome, TaskError)
        self.assertEqual((outcome.error_type, outcome.error_message), ("RuntimeError", "the task's own message"))
        self.assertIn("stderr says: the task's own message", outcome.stderr_tail)
        self.assertNotIn("AN-EARLIER-CALL-WROTE-THIS", outcome.stderr_tail)
        self.assertGreater(outcome.metrics.worker_pid, 0)

    def test_stderr_tail_is_bounded_and_ends_with_the_last_bytes(self):
        outcome = self.worker.run("stderr_flood_then_fail", f"{MIB},THE-LAST-WORDS")
        tail = outcome.stderr_tail.encode()
        self.assertLessEqual(len(tail), 4096)
        self.assertGreaterEqual(len(tail), 2048)
        self.assertTrue(tail.endswith(b"THE-LAST-WORDS"))

    def test_floods_on_stdout_and_stderr_are_drained(self):
        for stream in ("stdout", "stderr"):
            self.assertEqual(self.worker.text("flood", f"{stream},64"), "ok")

    def test_missing_module_function_and_broken_modules_name_the_module_and_the_worker_survives(self):
        before = self.identity()
        cases = [("no_such_module", "echo", (TASKS,), "ModuleNotFoundError"),
                 ("ex_tasks", "no_such_task", (TASKS,), "AttributeError"),
                 ("ex_tasks", "not_callable", (TASKS,), "TypeError"),
                 ("unresolved", "use_missing", (os.path.join(TASKS, "broken"),), "ImportError"),
                 ("garbage", "echo", (os.path.join(TASKS, "broken"),), "SyntaxError")]
        for module, function, path, error_type in cases:
            with self.subTest(module=module, function=function):
                outcome = self.worker.run(function, module=module, search_path=path)
                self.assertIsInstance(outcome, TaskError)
                self.assertEqual(outcome.error_type, error_type)
                self.assertIn(module if function == "echo" or module != "ex_tasks" else function, outcome.error_message)
        self.assertEqual(self.identity(), before)

    def test_module_is_found_only_along_the_search_path(self):
        outcome = self.worker.run("echo", module="ex_tasks", search_path=())
        self.assertEqual(outcome.error_type, "ModuleNotFoundError")

    def test_system_exit_raised_by_a_task_is_a_task_error(self):
        outcome = self.worker.run("raise_system_exit", "3")
        self.assertEqual((outcome.error_type, outcome.error_message), ("SystemExit", "3"))


class Modules(WorkerTest):
    def test_every_call_gets_a_fresh_module(self):
        self.assertEqual(self.worker.text("count"), "1")
        self.assertEqual(self.worker.text("count"), "1")

    def test_same_name_through_other_directories_runs_each_file(self):
        a, b = os.path.join(TASKS, "shadow_a"), os.path.join(TASKS, "shadow_b")
        for _ in range(2):
            self.assertEqual(self.worker.text("variant", module="shadow", search_path=(a,)), "a")
            self.assertEqual(self.worker.text("variant", module="shadow", search_path=(b, a)), "b")
        self.assertEqual(self.worker.text("state", module="shadow", search_path=(a,)), "a:1")
        self.assertEqual(self.worker.text("state", module="shadow", search_path=(b,)), "b:1")
        self.assertEqual(self.worker.text("variant", module=os.path.join(b, "shadow.py"), search_path=()), "b")

    def test_no_bytecode_is_written_next_to_the_task(self):
        self.worker.text("echo")
        self.assertFalse(os.path.exists(os.path.join(TASKS, "__pycache__")))


class Isolation(WorkerTest):
    def test_environment_is_the_allowed_set_plus_identity(self):
        env = dict(line.split("=", 1) for line in self.worker.text("environ").splitlines())
        self.assertEqual(set(env), {"PATH", "HOME", "TZ", "EXECKIT_EXTRA", "EXECKIT_NODE_ID", "EXECKIT_WORKER_ID"})
        self.assertEqual(env["EXECKIT_NODE_ID"], "node-7")

    def test_env_updates_apply_to_one_call_and_null_unsets(self):
        self.assertEqual(self.worker.text("env", "TZ", env_updates={"TZ": "UTC"}), "UTC")
        self.assertEqual(self.worker.text("env", "TZ", env_updates={"TZ": None}), "<unset>")
        self.assertEqual(self.worker.text("env", "SECRET_X", env_updates={"SECRET_X": "v"}), "v")
        self.assertEqual(self.worker.text("env", "TZ"), "Europe/Paris")
        self.assertEqual(self.worker.text("env", "SECRET_X"), "<unset>")

    def test_environment_returns_after_a_failed_call(self):
        self.worker.run("fail", "x", env_updates={"TZ": "UTC"})
        self.assertEqual(self.worker.text("env", "TZ"), "Europe/Paris")

    def test_task_changes_to_its_environment_do_not_persist(self):
        self.worker.text("mutate_env")
        self.assertEqual(self.worker.text("env", "ADDED_BY_TASK"), "<unset>")
        self.assertEqual(self.worker.text("env", "PATH"), "/usr/bin:/bin")
        self.assertEqual(self.worker.text("c_getenv", "PUTENV_ONLY"), "<unset>")

    def test_cwd_per_call_and_base_dir_otherwise(self):
        base = self.worker.config.base_dir
        self.assertEqual(self.worker.text("cwd"), base)
        self.assertEqual(self.worker.text("cwd", cwd="/"), "/")
        self.worker.text("chdir", "/usr")
        self.assertEqual(self.worker.text("cwd"), base)
        outcome = self.worker.run("cwd", cwd="/no/such/dir")
        self.assertIsInstance(outcome, TaskError)
        self.assertIn("/no/such/dir", outcome.error_message)

    def test_sys_path_is_restored(self):
        self.worker.text("grow_sys_path")
        self.assertEqual(self.worker.text("sys_path_has_nowhere"), "False")

    def test_signals_umask_limits_and_timers_are_restored(self):
        baseline = self.worker.text("process_state")
        self.worker.text("disturb")
        self.assertEqual(self.worker.text("process_state"), baseline)
        self.assertIn("'SIGUSR1': 'SIG_DFL'", baseline)
        self.assertIn("'SIGPIPE': 'SIG_IGN'", baseline)
        self.assertIn("'blocked': []", baseline)


class Leftovers(unittest.TestCase):
    def setUp(self):
        self.worker = Worker()

    def tearDown(self):
        self.worker.close()

    def test_leftover_child_is_ended_after_the_call(self):
        pid_file = os.path.join(self.worker.tmp.name, "child.pid")
        for kind in ("plain", "daemon"):
            pid = int(self.worker.text("spawn_grandchild", f"{pid_file},{kind},return"))
            self.assertIsNone(self.worker.last_reply["retire"])
            self.assertFalse(_alive(pid), f"the {kind} child {pid} outlived its call")
            os.unlink(pid_file)

    def test_leftover_thread_asks_to_retire_the_worker(self):
        self.worker.text("leave_thread")
        self.assertRegex(self.worker.last_reply["retire"] or "", re.compile("left 1 thread"))


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


if __name__ == "__main__":
    unittest.main()
