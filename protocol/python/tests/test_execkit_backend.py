"""execkit_backend's protocol loop against a fake harness over a socket pair
(docs/protocol.md). Run: python3 -m unittest discover -s protocol/python/tests"""
import base64
import contextlib
import fcntl
import io
import os
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import execkit_backend as eb  # noqa: E402
from fake_harness import HELLO, FakeHarness  # noqa: E402

MIB = 1 << 20


class ScriptedBackend(eb.Backend):
    """Ends each call as its `function` says: echo, big (input: size),
    spill (input: size, through the spill dir), hold, fail_<kind>, raise,
    twice, race (a result arrives while the cancel is asked)."""
    name = "scripted"
    capabilities = {"task_language": "python", "supports_worker_reuse": True}

    def __init__(self):
        self.config = None
        self.held = {}
        self.shutdowns = []
        self.submitted = []
        self.lock = threading.Lock()

    def configure(self, config):
        if config.node_id == "refuse-me":
            raise eb.ConfigError("node_id", config.node_id, "this backend refuses it")
        self.config = config

    def submit(self, call, deadline, done):
        self.submitted.append(call)
        f = call.function
        metrics = eb.Metrics(worker_pid=os.getpid(), worker_id="0123456789ab", node_id="n")
        if f == "echo":
            done(eb.Result(metrics, data=call.input))
        elif f == "big":
            done(eb.Result(metrics, data=b"b" * int(call.input)))
        elif f == "spill":
            size = int(call.input)
            with open(self.config.spill.path_of(call.id), "wb") as out:
                out.write(b"s" * size)
            done(self.config.spill.take_result(call.id, size, metrics))
        elif f in ("hold", "race"):
            with self.lock:
                self.held[call.id] = (f, done)
        elif f.startswith("fail_"):
            done(ERRORS[f[5:]]())
        elif f == "raise":
            raise RuntimeError("submit broke")
        elif f == "twice":
            done(eb.Result(metrics, data=b"first"))
            done(eb.Result(metrics, data=b"second"))
        elif f == "not_an_outcome":
            done(42)

    def release(self, call_id):
        with self.lock:
            _, done = self.held.pop(call_id)
        done(eb.Result(eb.Metrics(), data=b"released"))

    def cancel(self, call_id):
        with self.lock:
            entry = self.held.pop(call_id, None)
        if entry is None:
            return False
        kind, done = entry
        if kind == "race":
            done(eb.Result(eb.Metrics(), data=b"too late"))
        else:
            done(eb.Cancelled())
        return True

    def shutdown(self, wait):
        self.shutdowns.append(wait)
        if wait:
            with self.lock:
                held, self.held = self.held, {}
            for _, done in held.values():
                done(eb.BackendClosed())


ERRORS = {
    "task": lambda: eb.TaskError("ValueError", "bad input", "some stderr\n", eb.Metrics(worker_pid=7, node_id="n")),
    "timeout": lambda: eb.Timeout(),
    "cancelled": lambda: eb.Cancelled(),
    "crash_signal": lambda: eb.WorkerCrashed(term_signal=11, stderr_tail="segv"),
    "crash_status": lambda: eb.WorkerCrashed(exit_status=3),
    "crash_lost": lambda: eb.WorkerCrashed(message="the worker vanished"),
    "result": lambda: eb.ResultError("too_large", "too big"),
    "spill": lambda: eb.SpillError("refused a symlink"),
    "backend_closed": lambda: eb.BackendClosed("closed"),
    "config": lambda: eb.ConfigError("max_workers", "0", "must be at least 1"),
}


class Served:
    """serve() in a thread on one end of a socket pair, the fake harness on the other."""

    def __init__(self, backend=None, environ=None):
        self.backend = backend or ScriptedBackend()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.harness = FakeHarness(ours)
        self.log = io.StringIO()
        self.status = None
        self.tmp = tempfile.TemporaryDirectory()
        self.spill_dir = os.path.join(self.tmp.name, "spill")
        self.environ = dict(environ or {"PATH": "/usr/bin", "SECRET_TOKEN": "x"})
        self.thread = threading.Thread(target=self._serve, args=(theirs,), daemon=True)
        self.thread.start()

    def _serve(self, sock):
        with contextlib.redirect_stderr(self.log):
            self.status = serve_status = eb.serve(self.backend, sock=sock, environ=self.environ)
        return serve_status

    def config(self, **overrides):
        return {"max_workers": 2, "idle_timeout_ms": 300000, "spill_dir": self.spill_dir, "env_whitelist": ["PATH"],
                "env_prefixes": ["EXECKIT_"], "enable_pdeathsig": True, "pool_id": "", "node_id": "",
                "base_dir": self.tmp.name, "max_result_bytes": 1 << 34, "stderr_tail_bytes": 8192, **overrides}

    def start(self, **overrides):
        hello, reply = self.harness.handshake(self.config(**overrides))
        assert reply == {"type": "configured"}, reply
        return hello

    def end(self, timeout=10):
        """Closes the harness's end; the serving thread's exit status."""
        self.harness.sock.shutdown(socket.SHUT_WR)
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "serve() did not return at end of file"
        self.harness.close()
        self.tmp.cleanup()
        return self.status

    def wait(self, timeout=10):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "serve() did not return"
        return self.status


class HandshakeAndConfiguration(unittest.TestCase):
    def test_hello_declares_name_version_and_capabilities(self):
        s = Served()
        hello = s.start()
        self.assertEqual(hello, {"type": "hello", "protocol": 1, "backend": "scripted",
                                 "capabilities": {"task_language": "python", "supports_worker_reuse": True}})
        self.assertEqual(s.end(), 0)

    def test_configured_spill_dir_is_created_0700_and_locked(self):
        s = Served()
        s.start(pool_id="pool1")
        info = os.stat(s.spill_dir)
        self.assertEqual(stat.S_IMODE(info.st_mode), 0o700)
        self.assertEqual(os.listdir(s.spill_dir), ["pool1.lock"])
        config = s.backend.config
        self.assertEqual((config.max_workers, config.pool_id, config.env_whitelist), (2, "pool1", frozenset({"PATH"})))
        self.assertTrue(config.node_id)
        self.assertEqual(config.base_environment(s.environ), {"PATH": "/usr/bin", "EXECKIT_NODE_ID": config.node_id})
        spill_dir = s.spill_dir
        self.assertEqual(s.end(), 0)
        self.assertFalse(os.path.exists(os.path.join(spill_dir, "pool1.lock")), "the lock outlived the backend")

    def test_default_spill_dir_is_under_tmpdir_with_the_uid(self):
        tmpdir = tempfile.TemporaryDirectory()
        self.addCleanup(tmpdir.cleanup)
        s = Served(environ={"TMPDIR": tmpdir.name})
        s.start(spill_dir="")
        self.assertEqual(s.backend.config.spill_dir, os.path.join(s.environ["TMPDIR"], f"execkit-{os.geteuid()}"))
        self.assertEqual(s.end(), 0)

    def test_dot_dot_in_the_spill_dir_is_resolved(self):
        s = Served()
        s.start(spill_dir=os.path.join(s.tmp.name, "a", "..", "spill"))
        self.assertEqual(s.backend.config.spill_dir, s.spill_dir)
        self.assertEqual(s.end(), 0)

    def refusal(self, served, **overrides):
        _, reply = served.harness.handshake(served.config(**overrides))
        self.assertEqual(reply["type"], "error")
        self.assertEqual(served.wait(), 1)
        served.harness.close()
        self.addCleanup(served.tmp.cleanup)
        return reply["error"]

    def test_zero_max_workers_is_a_config_error_naming_field_and_value(self):
        error = self.refusal(Served(), max_workers=0)
        self.assertEqual((error["kind"], error["setting"], error["value"]), ("config", "max_workers", "0"))
        self.assertIn("at least 1", error["message"])

    def test_mistyped_setting_is_a_config_error(self):
        error = self.refusal(Served(), enable_pdeathsig="yes")
        self.assertEqual((error["kind"], error["setting"], error["value"]), ("config", "enable_pdeathsig", '"yes"'))

    def test_spill_dir_with_group_access_is_refused(self):
        s = Served()
        os.mkdir(s.spill_dir, 0o770)
        os.chmod(s.spill_dir, 0o770)
        error = self.refusal(s)
        self.assertEqual(error["kind"], "spill")
        self.assertIn(s.spill_dir, error["message"])
        self.assertIn("group/other", error["message"])

    def test_spill_dir_that_is_a_symlink_is_refused(self):
        s = Served()
        os.mkdir(os.path.join(s.tmp.name, "real"), 0o700)
        os.symlink(os.path.join(s.tmp.name, "real"), s.spill_dir)
        self.assertIn("symlink", self.refusal(s)["message"])

    def test_backend_refusal_is_sent_and_the_spill_lock_released(self):
        s = Served()
        error = self.refusal(s, node_id="refuse-me", pool_id="p")
        self.assertEqual((error["kind"], error["setting"]), ("config", "node_id"))
        self.assertEqual(os.listdir(s.spill_dir), [])

    def test_a_live_pool_id_in_the_same_spill_dir_is_refused(self):
        first = Served()
        first.start(pool_id="same")
        second = Served()
        error = self.refusal(second, spill_dir=first.spill_dir, pool_id="same")
        self.assertEqual((error["kind"], error["setting"]), ("config", "pool_id"))
        self.assertEqual(first.end(), 0)

    def test_files_of_a_dead_pool_are_swept(self):
        s = Served()
        os.mkdir(s.spill_dir, 0o700)
        for name in ("dead.lock", "dead.7.spill", "nolock.3.spill", "unrelated.txt"):
            with open(os.path.join(s.spill_dir, name), "w"):
                pass
        s.start(pool_id="alive")
        self.assertEqual(sorted(os.listdir(s.spill_dir)), ["alive.lock", "unrelated.txt"])
        self.assertEqual(s.end(), 0)

    def test_unsupported_version_ends_the_backend(self):
        s = Served()
        s.harness.send({"type": "hello", "protocol": [2, 3]})
        self.assertIsNone(s.harness.receive())
        self.assertEqual(s.wait(), 2)
        self.assertIn("protocol versions [2, 3]", s.log.getvalue())
        s.harness.close()
        s.tmp.cleanup()

    def test_protocol_fd_is_taken_out_of_the_environment(self):
        ours, theirs = socket.socketpair()
        environ = {"EXECKIT_PROTOCOL_FD": str(theirs.fileno())}
        fd = theirs.detach()  # serve() owns it now
        harness = FakeHarness(ours)
        thread = threading.Thread(target=eb.serve, args=(ScriptedBackend(),), kwargs={"environ": environ})
        thread.start()
        harness.send(HELLO)
        harness.expect("hello")
        self.assertNotIn("EXECKIT_PROTOCOL_FD", environ)
        self.assertFalse(os.get_inheritable(fd))
        harness.sock.shutdown(socket.SHUT_WR)
        thread.join(10)
        harness.close()


class Results(unittest.TestCase):
    def setUp(self):
        self.s = Served()
        self.s.start()
        self.h = self.s.harness

    def tearDown(self):
        self.assertEqual(self.s.end(), 0)

    def test_small_result_travels_inline(self):
        self.h.submit(1, function="echo", data=b"hello")
        message = self.h.expect("result")
        self.assertEqual((message["id"], message["size"], message["data"]), (1, 5, base64.b64encode(b"hello").decode()))
        self.assertNotIn("fd", message)
        self.assertEqual(message["metrics"]["worker_id"], "0123456789ab")

    def test_one_mib_is_still_inline(self):
        self.h.submit(1, function="big", data=str(MIB).encode())
        message = self.h.expect("result")
        self.assertNotIn("fd", message)
        self.assertEqual(self.h.result_bytes(message), b"b" * MIB)

    def test_larger_result_travels_as_a_sealed_memfd(self):
        self.h.submit(1, function="big", data=str(MIB + 1).encode())
        message = self.h.expect("result")
        self.assertTrue(message["fd"])
        fd = self.h.fds[0]
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        self.assertEqual(seals & (fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW),
                         fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
        self.assertEqual(self.h.result_bytes(message), b"b" * (MIB + 1))

    def test_spilled_result_is_checked_copied_and_its_file_removed(self):
        self.h.submit(1, function="spill", data=str(3 * MIB).encode())
        message = self.h.expect("result")
        self.assertTrue(message["fd"])
        self.assertEqual(self.h.result_bytes(message), b"s" * (3 * MIB))
        self.assertEqual([n for n in os.listdir(self.s.spill_dir) if n.endswith(".spill")], [])

    def test_small_spilled_result_is_inline(self):
        self.h.submit(1, function="spill", data=b"1000")
        self.assertEqual(self.h.result_bytes(self.h.expect("result")), b"s" * 1000)

    def test_empty_result(self):
        self.h.submit(1, function="echo", data=b"")
        message = self.h.expect("result")
        self.assertEqual((message["size"], self.h.result_bytes(message)), (0, b""))

    def test_every_error_kind_is_encoded_with_its_members(self):
        for call_id, kind in enumerate(ERRORS):
            self.h.submit(call_id, function=f"fail_{kind}")
            error = self.h.expect("failure")["error"]
            with self.subTest(kind=kind):
                self.assertIsInstance(error["message"], str)
                if kind.startswith("crash"):
                    self.assertEqual(error["kind"], "worker_crashed")
                else:
                    self.assertEqual(error["kind"], kind)
                if kind == "task":
                    self.assertEqual((error["error_type"], error["error_message"], error["stderr_tail"]),
                                     ("ValueError", "bad input", "some stderr\n"))
                    self.assertEqual(error["metrics"]["worker_pid"], 7)
                elif kind == "crash_signal":
                    self.assertEqual((error["term_signal"], error["exit_status"], error["stderr_tail"]), (11, None, "segv"))
                elif kind == "crash_status":
                    self.assertEqual((error["term_signal"], error["exit_status"]), (None, 3))
                elif kind == "crash_lost":
                    self.assertEqual((error["term_signal"], error["exit_status"], error["message"]),
                                     (None, None, "the worker vanished"))
                elif kind == "result":
                    self.assertEqual(error["reason"], "too_large")
                elif kind == "config":
                    self.assertEqual((error["setting"], error["value"], error["message"]),
                                     ("max_workers", "0", "must be at least 1"))

    def test_submit_that_raises_ends_its_call_and_the_backend_serves_on(self):
        with contextlib.redirect_stderr(io.StringIO()):
            self.h.submit(1, function="raise")
            error = self.h.expect("failure")["error"]
        self.assertEqual(error["kind"], "backend_closed")
        self.assertIn("submit broke", error["message"])
        self.h.submit(2, function="echo", data=b"x")
        self.assertEqual(self.h.expect("result")["id"], 2)

    def test_a_second_outcome_is_dropped(self):
        self.h.submit(1, function="twice")
        self.assertEqual(self.h.result_bytes(self.h.expect("result")), b"first")
        self.h.submit(2, function="echo", data=b"next")
        self.assertEqual(self.h.expect("result")["id"], 2)
        self.assertIn("second outcome for call 1", self.s.log.getvalue())

    def test_an_outcome_that_is_not_one_is_a_result_error(self):
        self.h.submit(1, function="not_an_outcome")
        self.assertEqual(self.h.expect("failure")["error"]["reason"], "unreadable")

    def test_past_deadline_ends_with_timeout_without_reaching_the_backend(self):
        self.h.submit(1, function="echo", timeout_ns=0)
        self.h.submit(2, function="echo", timeout_ns=-5)
        self.assertEqual([self.h.expect("failure")["error"]["kind"] for _ in range(2)], ["timeout", "timeout"])
        self.assertEqual(self.s.backend.submitted, [])

    def test_call_members_reach_the_backend(self):
        self.h.submit(1, module="mod", function="echo", data=b"\x00\xff", search_path=["/a", "/b"],
                      env_updates={"TZ": "UTC", "OLD": None}, cwd="/tmp", timeout_ns=10**12)
        self.h.expect("result")
        call = self.s.backend.submitted[0]
        self.assertEqual((call.id, call.module, call.input, call.search_path, call.env_updates, call.cwd),
                         (1, "mod", b"\x00\xff", ("/a", "/b"), {"TZ": "UTC", "OLD": None}, "/tmp"))

    def test_long_error_texts_are_shortened_to_fit_a_message(self):
        backend = self.s.backend
        original = backend.submit

        def huge(call, deadline, done):
            done(eb.TaskError("E", "m" * (3 * MIB), "t" * (3 * MIB)))
        backend.submit = huge
        self.h.submit(1)
        error = self.h.expect("failure")["error"]
        self.assertLess(len(error["error_message"]) + len(error["stderr_tail"]), 4 * MIB)
        backend.submit = original


class CancelAndShutdown(unittest.TestCase):
    def setUp(self):
        self.s = Served()
        self.s.start()
        self.h = self.s.harness

    def test_cancel_of_a_running_call(self):
        self.h.submit(1, function="hold")
        self.h.send({"type": "cancel", "id": 1})
        messages = {m["type"]: m for m in (self.h.receive(), self.h.receive())}
        self.assertEqual(messages["cancelled"], {"type": "cancelled", "id": 1, "cancelled": True})
        self.assertEqual(messages["failure"]["error"]["kind"], "cancelled")
        self.assertEqual(self.s.end(), 0)

    def test_cancel_of_a_finished_call_is_false(self):
        self.h.submit(1, function="echo")
        self.h.expect("result")
        self.h.send({"type": "cancel", "id": 1})
        self.assertEqual(self.h.expect("cancelled")["cancelled"], False)
        self.assertEqual(self.s.end(), 0)

    def test_result_arriving_during_a_successful_cancel_becomes_cancelled(self):
        self.h.submit(1, function="race")
        self.h.send({"type": "cancel", "id": 1})
        messages = {m["type"]: m for m in (self.h.receive(), self.h.receive())}
        self.assertTrue(messages["cancelled"]["cancelled"])
        self.assertEqual(messages["failure"]["error"]["kind"], "cancelled")
        self.assertEqual(self.s.end(), 0)

    def test_shutdown_ends_in_flight_calls_before_shutdown_done(self):
        for call_id in (1, 2):
            self.h.submit(call_id, function="hold")
        self.h.send({"type": "shutdown", "wait": True})
        first, second, done = self.h.receive(), self.h.receive(), self.h.receive()
        self.assertEqual({first["id"], second["id"]}, {1, 2})
        self.assertEqual({first["error"]["kind"], second["error"]["kind"]}, {"backend_closed"})
        self.assertEqual(done["type"], "shutdown_done")
        self.h.submit(3, function="echo")
        self.assertEqual(self.h.expect("failure")["error"]["kind"], "backend_closed")
        self.h.send({"type": "shutdown", "wait": False})
        self.h.expect("shutdown_done")
        self.assertEqual(self.s.end(), 0)
        self.assertEqual(self.s.backend.shutdowns, [True, False, True])

    def test_shutdown_without_wait_ends_what_the_backend_left_open(self):
        self.h.submit(1, function="hold")
        self.h.send({"type": "shutdown", "wait": False})
        self.assertEqual(self.h.expect("failure")["error"]["kind"], "backend_closed")
        self.h.expect("shutdown_done")
        self.assertEqual(self.s.end(), 0)

    def test_end_of_file_ends_calls_and_shuts_down_with_wait(self):
        self.h.submit(1, function="hold")
        self.assertEqual(self.s.end(), 0)
        self.assertEqual(self.s.backend.shutdowns, [True])


class ProtocolErrors(unittest.TestCase):
    def broken(self, data, expected_log, configure=True):
        s = Served()
        if configure:
            s.start()
            s.harness.submit(1, function="hold")
        try:
            s.harness.send_raw(data)
        except BrokenPipeError:
            pass  # the backend stopped reading in the middle of an over-long line
        messages = []
        while (message := s.harness.receive()) is not None:
            messages.append(message)
        self.assertEqual(s.wait(), 2)
        self.assertIn(expected_log, s.log.getvalue())
        s.harness.close()
        s.tmp.cleanup()
        return messages

    def test_malformed_line(self):
        messages = self.broken(b"{not json\n", "protocol error: a message from the harness is not valid JSON")
        self.assertEqual([m["type"] for m in messages], ["failure"])
        self.assertIn("protocol error", messages[0]["error"]["message"])

    def test_over_long_line(self):
        self.broken(b"{" + b" " * (5 * MIB), "protocol error: a message longer than 4194304 bytes")

    def test_unknown_type(self):
        self.broken(b'{"type":"bogus"}\n', "protocol error: unexpected message type 'bogus'")

    def test_missing_member(self):
        self.broken(b'{"type":"submit","id":5}\n', "protocol error: submit 5: member 'module' is missing")

    def test_reused_id(self):
        self.broken(b'{"type":"cancel","id":99}\n', "cancel 99: no call with this id was submitted")

    def test_second_hello(self):
        self.broken(b'{"type":"hello","protocol":[1]}\n', "a second 'hello'")

    def test_not_an_object(self):
        self.broken(b'[1,2]\n', "is not a JSON object", configure=False)

    def test_bad_base64(self):
        self.broken(b'{"type":"submit","id":2,"module":"m","function":"f","input":"@@","search_path":[],'
                    b'"env_updates":{},"cwd":null,"timeout_ns":null}\n', "member 'input' is not standard base64")


class EndOfFileInAProcess(unittest.TestCase):
    """The backend as a process: end of file makes it exit 0 with its spill dir clean."""

    def test_process_exits_cleanly_at_end_of_file(self):
        script = textwrap.dedent(f"""
            import sys
            sys.path[:0] = [{os.path.dirname(HERE)!r}, {HERE!r}]
            import execkit_backend
            from test_execkit_backend import ScriptedBackend
            sys.exit(execkit_backend.serve(ScriptedBackend()))
        """)
        ours, theirs = socket.socketpair()
        with tempfile.TemporaryDirectory() as tmp:
            env = {"EXECKIT_PROTOCOL_FD": str(theirs.fileno()), "PATH": os.environ.get("PATH", "")}
            process = subprocess.Popen([sys.executable, "-c", script], env=env, pass_fds=[theirs.fileno()],
                                       stderr=subprocess.PIPE)
            theirs.close()
            harness = FakeHarness(ours)
            spill = os.path.join(tmp, "spill")
            _, reply = harness.handshake({"spill_dir": spill, "pool_id": "p"})
            self.assertEqual(reply, {"type": "configured"})
            harness.submit(1, function="hold")
            harness.sock.shutdown(socket.SHUT_WR)
            self.assertEqual(process.wait(10), 0, process.stderr.read())
            self.assertEqual(os.listdir(spill), [])
            process.stderr.close()
            harness.close()


if __name__ == "__main__":
    unittest.main()
