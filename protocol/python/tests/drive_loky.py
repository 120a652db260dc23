#!/usr/bin/env python3
"""Plays the harness against examples/python-loky/loky_backend.py, a stand-in
for execkit-conformance until it can run Python backends: each test starts
the backend as the harness would (one process, the socket as
$EXECKIT_PROTOCOL_FD) and checks one contract clause end to end with the
tasks of tests/tasks/ex_tasks.py.

Run: /usr/bin/python3 protocol/python/tests/drive_loky.py [-v] [-k PATTERN]
"""
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fake_harness import FakeHarness  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
BACKEND = os.path.join(REPO, "examples", "python-loky", "loky_backend.py")
TASKS = os.path.join(HERE, "tasks")
MIB = 1 << 20
SECRET = "AWS_SECRET_ACCESS_KEY"


class Backend:
    """One backend process and the harness's end of its socket."""

    def __init__(self, tmp, extra_env=None, **config):
        ours, theirs = socket.socketpair()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "TZ": "Europe/Paris",
               SECRET: "top-secret-value", "EXECKIT_CONFORMANCE_TOKEN": "token-1",
               "EXECKIT_PROTOCOL_FD": str(theirs.fileno()), **(extra_env or {})}
        self.process = subprocess.Popen([sys.executable, BACKEND], env=env, cwd=tmp, pass_fds=[theirs.fileno()],
                                        stdin=subprocess.DEVNULL)
        theirs.close()
        self.harness = FakeHarness(ours)
        self.spill_dir = os.path.join(tmp, "spill")
        self.config = {"max_workers": 2, "idle_timeout_ms": 300000, "spill_dir": self.spill_dir, "base_dir": tmp,
                       "stderr_tail_bytes": 4096, **config}
        self.hello, self.configure_reply = self.harness.handshake(self.config)
        self.outcomes, self.cancel_replies, self.other = {}, {}, []
        self.next_id = 0

    def submit(self, function, data=b"", module="ex_tasks", search_path=(TASKS,), env_updates=None, cwd=None,
               timeout_ms=None):
        self.next_id += 1
        self.harness.submit(self.next_id, module, function, data if isinstance(data, bytes) else data.encode(),
                            search_path, env_updates, cwd, None if timeout_ms is None else timeout_ms * 1_000_000)
        return self.next_id

    def _pump(self, timeout):
        message = self.harness.receive(timeout)
        if message is None:
            raise EOFError("the backend closed the connection")
        if message["type"] in ("result", "failure"):
            if message["type"] == "result":
                message["bytes"] = self.harness.result_bytes(message)
            assert message["id"] not in self.outcomes, f"a second outcome for call {message['id']}"
            self.outcomes[message["id"]] = message
        elif message["type"] == "cancelled":
            self.cancel_replies[message["id"]] = message["cancelled"]
        else:
            self.other.append(message)

    def wait(self, call_id, timeout=30.0):
        until = time.monotonic() + timeout
        while call_id not in self.outcomes:
            self._pump(max(0.01, until - time.monotonic()))
        return self.outcomes[call_id]

    def call(self, function, data=b"", **kwargs):
        return self.wait(self.submit(function, data, **kwargs))

    def text(self, function, data=b"", **kwargs):
        outcome = self.call(function, data, **kwargs)
        assert outcome["type"] == "result", f"{function} failed: {outcome['error']}"
        return outcome["bytes"].decode()

    def identity(self):
        return dict(line.split("=", 1) for line in self.text("identity").splitlines())

    def cancel(self, call_id, timeout=10.0):
        self.harness.send({"type": "cancel", "id": call_id})
        until = time.monotonic() + timeout
        while call_id not in self.cancel_replies:
            self._pump(max(0.01, until - time.monotonic()))
        return self.cancel_replies[call_id]

    def shutdown(self, wait, timeout=30.0):
        self.harness.send({"type": "shutdown", "wait": wait})
        until = time.monotonic() + timeout
        while not any(m["type"] == "shutdown_done" for m in self.other):
            self._pump(max(0.01, until - time.monotonic()))
        self.other.clear()

    def workers(self):
        return _children(self.process.pid)

    def close(self, timeout=10.0):
        """End of file; the backend's exit status."""
        try:
            self.harness.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.harness.close()


def _children(pid):
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return found


def _exists(pid):
    """Alive or an unreaped zombie."""
    return os.path.exists(f"/proc/{pid}")


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _until(predicate, timeout=5.0):
    until = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > until:
            return False
        time.sleep(0.005)
    return True


class Gates:
    """Tasks that wait in `gate` until released (tests/tasks/ex_tasks.py)."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)

    def input(self, name):
        return f"{self.dir},{name}"

    def started(self, name):
        return os.path.exists(os.path.join(self.dir, f"started.{name}"))

    def pid(self, name):
        with open(os.path.join(self.dir, f"started.{name}")) as f:
            return int(f.read())

    def release(self, name):
        open(os.path.join(self.dir, f"release.{name}"), "w").close()


class LokyTest(unittest.TestCase):
    """One backend for the whole class (a backend costs two Python start-ups)."""
    config = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="drive-loky-")
        cls.backend = Backend(cls.tmp, **cls.config)

    @classmethod
    def tearDownClass(cls):
        status = cls.backend.close() if cls.backend.process.poll() is None else 0
        leftovers = cls.backend.workers()
        subprocess.run(["rm", "-rf", cls.tmp])
        assert status == 0, f"the backend exited {status} at end of file"
        assert not leftovers, f"processes {leftovers} outlived the backend"

    def setUp(self):
        self.assertEqual(self.backend.configure_reply, {"type": "configured"})
        self.gates = Gates(tempfile.mkdtemp(dir=self.tmp, prefix="gates-"))

    def assertFailed(self, outcome, kind):
        self.assertEqual(outcome["type"], "failure", outcome.get("bytes", b"")[:200])
        self.assertEqual(outcome["error"]["kind"], kind, outcome["error"])
        return outcome["error"]


class OwnBackend(LokyTest):
    """A backend per test, for tests that end it."""

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    def setUp(self):
        type(self).tmp = tempfile.mkdtemp(prefix="drive-loky-")
        type(self).backend = Backend(self.tmp, **self.config)
        self.addCleanup(LokyTest.tearDownClass.__func__, type(self))
        super().setUp()


class Basics(LokyTest):
    def test_hello_declares_the_capabilities(self):
        caps = self.backend.hello["capabilities"]
        self.assertEqual(self.backend.hello["backend"], "python-loky")
        self.assertEqual(caps["task_language"], "python")
        self.assertTrue(caps["has_local_process_workers"] and caps["has_named_spill_files"])

    def test_a_call_runs_in_a_child_worker_with_identity_and_metrics(self):
        outcome = self.backend.call("identity")
        ident = dict(line.split("=", 1) for line in outcome["bytes"].decode().splitlines())
        pid = int(ident["pid"])
        self.assertIn(pid, self.backend.workers())
        self.assertRegex(ident["worker_id"], r"^[0-9a-f]{12}$")
        self.assertEqual(ident["node_id"], socket.gethostname())
        m = outcome["metrics"]
        self.assertEqual((m["worker_pid"], m["worker_id"]), (pid, ident["worker_id"]))
        self.assertEqual(m["wall_time_ns"], m["finished_at_ns"] - m["started_at_ns"])

    def test_large_result_arrives_as_a_descriptor_byte_exact(self):
        outcome = self.backend.call("write_bytes", str(64 * MIB))
        self.assertTrue(outcome.get("fd"))
        expected = hashlib.sha256((bytes(range(256)) * 4096 * 64)[:64 * MIB]).hexdigest()
        self.assertEqual(hashlib.sha256(outcome["bytes"]).hexdigest(), expected)
        self.assertEqual(os.listdir(self.backend.spill_dir), [n for n in os.listdir(self.backend.spill_dir) if n.endswith(".lock")])

    def test_task_fds_stay_within_the_documented_number(self):
        listing = self.backend.text("fds").splitlines()
        extra = [line for line in listing if int(line.split()[0]) > 2]
        self.assertLessEqual(len(extra), self.backend.hello["capabilities"]["documented_task_fds"], "\n".join(listing))


class Reuse(LokyTest):
    def test_workers_start_lazily_and_are_reused(self):
        self.assertEqual(self.backend.workers(), [], "a worker started before the first call")
        first = self.backend.identity()
        for _ in range(3):
            self.assertEqual(self.backend.identity(), first)


class Environment(LokyTest):
    def test_secrets_reach_neither_the_environment_nor_the_initial_block(self):
        env = self.backend.text("environ")
        block = self.backend.text("initial_environ")
        self.assertNotIn(SECRET, env)
        self.assertNotIn("top-secret-value", block)
        self.assertIn("TZ=Europe/Paris", env)
        self.assertIn("EXECKIT_CONFORMANCE_TOKEN=token-1", env)
        self.assertNotIn("EXECKIT_PROTOCOL_FD", env)
        names = {line.split("=", 1)[0] for line in env.splitlines()}
        self.assertEqual(names, {"PATH", "HOME", "TZ", "EXECKIT_CONFORMANCE_TOKEN", "EXECKIT_NODE_ID", "EXECKIT_WORKER_ID"})

    def test_env_updates_apply_to_one_call_and_null_unsets(self):
        self.assertEqual(self.backend.text("env", "TZ", env_updates={"TZ": "UTC"}), "UTC")
        self.assertEqual(self.backend.text("env", "TZ", env_updates={"TZ": None}), "<unset>")
        self.assertEqual(self.backend.text("env", "TZ"), "Europe/Paris")

    def test_cwd_per_call(self):
        self.assertEqual(self.backend.text("cwd"), self.tmp)
        self.assertEqual(self.backend.text("cwd", cwd="/"), "/")
        self.backend.text("chdir", "/usr")
        self.assertEqual(self.backend.text("cwd"), self.tmp)


class Outcomes(LokyTest):
    def test_task_error_carries_type_message_and_stderr_tail(self):
        error = self.assertFailed(self.backend.call("fail", "the task's own message"), "task")
        self.assertEqual((error["error_type"], error["error_message"]), ("RuntimeError", "the task's own message"))
        self.assertIn("stderr says: the task's own message", error["stderr_tail"])

    def test_missing_or_broken_modules_are_task_errors_and_the_worker_survives(self):
        before = self.backend.identity()
        broken = os.path.join(TASKS, "broken")
        for module, function, path in (("nope", "echo", [TASKS]), ("ex_tasks", "nope", [TASKS]),
                                       ("unresolved", "use_missing", [broken]), ("garbage", "echo", [broken])):
            error = self.assertFailed(self.backend.call(function, module=module, search_path=path), "task")
            self.assertIn(module if function != "nope" else function, error["error_message"])
        self.assertEqual(self.backend.identity(), before)

    def test_same_module_name_through_other_paths_runs_each_file(self):
        a, b = os.path.join(TASKS, "shadow_a"), os.path.join(TASKS, "shadow_b")
        self.assertEqual(self.backend.text("variant", module="shadow", search_path=[a]), "a")
        self.assertEqual(self.backend.text("variant", module="shadow", search_path=[b]), "b")
        self.assertEqual(self.backend.text("state", module="shadow", search_path=[a]), "a:1")

    def test_crash_fails_only_its_own_call(self):
        bystander = self.backend.submit("gate", self.gates.input("bystander"))
        self.assertTrue(_until(lambda: self.gates.started("bystander")))
        error = self.assertFailed(self.backend.call("crash", str(int(signal.SIGSEGV))), "worker_crashed")
        self.assertEqual((error["term_signal"], error["exit_status"]), (11, None))
        error = self.assertFailed(self.backend.call("exit_now", "3"), "worker_crashed")
        self.assertEqual((error["term_signal"], error["exit_status"]), (None, 3))
        self.gates.release("bystander")
        self.assertEqual(self.backend.wait(bystander)["type"], "result")
        self.assertEqual(self.backend.text("echo", "later"), "later")

    def test_timeout_stops_the_task_and_spares_the_other_calls(self):
        bystander = self.backend.submit("gate", self.gates.input("bystander"))
        self.assertTrue(_until(lambda: self.gates.started("bystander")))
        pid_file = os.path.join(self.gates.dir, "grandchild.pid")
        deadline = time.monotonic() + 3.0  # room for a worker to start on a loaded machine
        call = self.backend.submit("spawn_grandchild", f"{pid_file},daemon,hang", timeout_ms=3000)
        self.assertTrue(_until(lambda: os.path.exists(pid_file)), "the task never started")
        with open(pid_file) as f:
            grandchild = int(f.read())
        self.assertFailed(self.backend.wait(call), "timeout")
        self.assertLess(time.monotonic() - deadline, 0.25, "the timeout came later than the 250 ms grace")
        self.assertTrue(_until(lambda: not _running(grandchild), 0.25), "the task's daemonized grandchild outlived the timeout")
        self.gates.release("bystander")
        self.assertEqual(self.backend.wait(bystander)["type"], "result")

    def test_worker_killed_from_outside_while_busy_fails_only_its_call(self):
        call = self.backend.submit("gate", self.gates.input("victim"))
        self.assertTrue(_until(lambda: self.gates.started("victim")))
        os.kill(self.gates.pid("victim"), signal.SIGKILL)
        self.assertEqual(self.assertFailed(self.backend.wait(call), "worker_crashed")["term_signal"], 9)
        self.assertEqual(self.backend.text("echo", "after"), "after")

    def test_worker_killed_while_idle_is_replaced(self):
        pid = int(self.backend.identity()["pid"])
        os.kill(pid, signal.SIGKILL)
        self.assertTrue(_until(lambda: not _exists(pid)))
        self.assertEqual(self.backend.text("echo", "replaced"), "replaced")

    def test_leftover_thread_retires_the_worker(self):
        before = self.backend.identity()
        self.backend.text("leave_thread")
        self.assertNotEqual(self.backend.identity()["pid"], before["pid"])
        self.assertNotIn("ek-leftover", self.backend.text("threads"))

    def test_leftover_child_is_ended(self):
        pid = int(self.backend.text("spawn_grandchild", f"{self.gates.dir}/child.pid,plain,return"))
        self.assertTrue(_until(lambda: not _running(pid), 0.25))


class Queueing(LokyTest):
    config = {"max_workers": 1}

    def test_deadline_passing_while_queued_never_starts_the_call(self):
        first = self.backend.submit("gate", self.gates.input("first"))
        self.assertTrue(_until(lambda: self.gates.started("first")))
        self.assertFailed(self.backend.call("gate", self.gates.input("queued"), timeout_ms=200), "timeout")
        self.gates.release("first")
        self.backend.wait(first)
        self.assertFalse(self.gates.started("queued"))

    def test_cancel_queued_running_and_finished(self):
        pid_file = f"{self.gates.dir}/gc.pid"
        running = self.backend.submit("spawn_grandchild", f"{pid_file},plain,hang")
        queued = self.backend.submit("gate", self.gates.input("queued"))
        self.assertTrue(_until(lambda: os.path.exists(pid_file)))
        with open(pid_file) as f:
            grandchild = int(f.read())
        self.assertTrue(self.backend.cancel(queued))
        self.assertTrue(self.backend.cancel(running))
        self.assertFailed(self.backend.wait(queued), "cancelled")
        self.assertFailed(self.backend.wait(running), "cancelled")
        self.assertFalse(self.gates.started("queued"))
        self.assertTrue(_until(lambda: not _running(grandchild), 0.25))
        done = self.backend.submit("echo", "x")
        self.backend.wait(done)
        self.assertFalse(self.backend.cancel(done))


class Pool(LokyTest):
    def test_at_most_max_workers_tasks_run_at_once(self):
        calls = [self.backend.submit("gate", self.gates.input(str(i))) for i in range(4)]
        self.assertTrue(_until(lambda: sum(self.gates.started(str(i)) for i in range(4)) == 2))
        time.sleep(0.3)
        self.assertEqual(sum(self.gates.started(str(i)) for i in range(4)), 2)
        for i in range(4):
            self.gates.release(str(i))
        for call in calls:
            self.assertEqual(self.backend.wait(call)["type"], "result")


class IdleTimeout(LokyTest):
    config = {"max_workers": 1, "idle_timeout_ms": 300}

    def test_idle_worker_exits(self):
        pid = int(self.backend.identity()["pid"])
        self.assertTrue(_until(lambda: not _exists(pid), 3.0), "the idle worker did not exit")
        self.assertNotEqual(int(self.backend.identity()["pid"]), pid)


class Spill(LokyTest):
    def test_a_symlink_swapped_in_for_the_spill_file_is_refused(self):
        canary = os.path.join(self.gates.dir, "canary")
        with open(canary, "wb") as f:
            f.write(b"c" * (2 * MIB))
        before = os.stat(canary)
        error = self.assertFailed(self.backend.call("swap_spill", f"{self.backend.spill_dir},{2 * MIB},{canary}"), "spill")
        self.assertIn("symlink", error["message"])
        self.assertEqual(os.stat(canary).st_atime_ns, before.st_atime_ns)
        self.assertEqual(self.backend.text("echo", "after"), "after")
        self.assertEqual([n for n in os.listdir(self.backend.spill_dir) if not n.endswith(".lock")], [])

    def test_what_a_task_left_behind_cannot_change_a_delivered_result(self):
        acted = os.path.join(self.gates.dir, "acted")
        outcome = self.backend.call("tamper_later", f"{self.backend.spill_dir},{4 * MIB},{acted}")
        self.assertEqual(outcome["bytes"], b"t" * (4 * MIB))



class ResultCap(LokyTest):
    config = {"max_result_bytes": 1000}

    def test_result_beyond_the_cap_is_a_result_error_and_the_worker_survives(self):
        before = self.backend.identity()
        self.assertEqual(self.assertFailed(self.backend.call("write_bytes", "5000"), "result")["reason"], "too_large")
        self.assertEqual(self.backend.identity(), before)


class Shutdown(OwnBackend):
    def test_shutdown_wait_ends_calls_first_reaps_workers_and_cleans_the_spill_dir(self):
        gate = self.backend.submit("gate", self.gates.input("in-flight"))
        big = self.backend.submit("write_bytes", str(8 * MIB))
        self.backend.wait(big)
        self.assertTrue(_until(lambda: self.gates.started("in-flight")))
        workers = self.backend.workers()
        self.backend.harness.send({"type": "shutdown", "wait": True})
        first = self.backend.harness.receive()
        self.assertEqual((first["type"], first["id"], first["error"]["kind"]), ("failure", gate, "backend_closed"))
        self.assertEqual(self.backend.harness.receive()["type"], "shutdown_done")
        self.assertFalse([pid for pid in workers if _exists(pid)], "workers not reaped when shutdown_done came")
        self.assertEqual(os.listdir(self.backend.spill_dir), [])
        self.assertFailed(self.backend.call("echo"), "backend_closed")
        self.backend.shutdown(True)

    def test_shutdown_without_wait_answers_at_once(self):
        self.backend.submit("gate", self.gates.input("in-flight"))
        self.assertTrue(_until(lambda: self.gates.started("in-flight")))
        start = time.monotonic()
        self.backend.shutdown(False)
        self.assertLess(time.monotonic() - start, 0.1)
        self.assertFailed(self.backend.outcomes[1], "backend_closed")

    def test_end_of_file_with_a_call_in_flight(self):
        self.backend.submit("gate", self.gates.input("in-flight"))
        self.assertTrue(_until(lambda: self.gates.started("in-flight")))
        workers = self.backend.workers()
        self.assertEqual(self.backend.close(5), 0)
        self.assertFalse([pid for pid in workers if _running(pid)])

    def test_workers_die_with_the_backend_process(self):
        pid = int(self.backend.identity()["pid"])
        self.backend.process.kill()
        self.backend.process.wait()
        self.assertTrue(_until(lambda: not _running(pid), 1.0), "a worker outlived its SIGKILLed backend")
        self.backend.harness.close()

    def test_configuration_is_refused_with_the_field(self):
        refused = Backend(self.tmp, max_workers=0)
        self.assertEqual(refused.configure_reply["type"], "error")
        self.assertEqual((refused.configure_reply["error"]["setting"], refused.configure_reply["error"]["value"]),
                         ("max_workers", "0"))
        self.assertEqual(refused.close(), 1)


if __name__ == "__main__":
    unittest.main()
