"""One connection of the protocol (docs/protocol.md), driven by serve():
the harness's messages in, the backend's outcomes out, in order and exactly
once per call."""
import base64
import dataclasses
import os
import queue
import stat
import sys
import threading
import time
import traceback

from execkit_config import parse_config
from execkit_outcomes import BackendClosed, Cancelled, ExecError, Result, ResultError, Timeout
from execkit_spill import SpillDir, sealed_bytes
from execkit_wire import (MAX_INLINE_RESULT_BYTES, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, Channel, Members,
                          ProtocolError, encode_message, parse_message)

__all__ = ["Call", "Session", "EXIT_OK", "EXIT_REFUSED", "EXIT_PROTOCOL_ERROR"]

EXIT_OK, EXIT_REFUSED, EXIT_PROTOCOL_ERROR = 0, 1, 2
_WRITER_DRAIN_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class Call:
    id: int
    module: str
    function: str
    input: bytes
    search_path: tuple
    env_updates: dict        # name -> value, or None: unset for this call
    cwd: str                 # or None: the base directory


@dataclasses.dataclass
class _Pending:
    cancelling: bool = False   # the backend is being asked; an outcome now waits in `held`
    cancelled: bool = False    # the backend said yes: the outcome will be Cancelled
    held: object = None


class _Writer:
    """Sends from one thread, in order: done() never blocks on the socket,
    and the reader keeps reading while a large message goes out."""

    def __init__(self, channel, log):
        self._channel, self._log = channel, log
        self._queue = queue.SimpleQueue()
        self._broken = False
        self._thread = threading.Thread(target=self._run, name="execkit-writer", daemon=True)
        self._thread.start()

    def post(self, message, fd=None):
        line = encode_message(message)
        if len(line) + 1 > MAX_MESSAGE_BYTES:
            raise ValueError(f"a {message.get('type')} message of {len(line) + 1} bytes does not fit the protocol")
        self._queue.put((line, fd))

    def _run(self):
        while (item := self._queue.get()) is not None:
            line, fd = item
            try:
                if not self._broken:
                    self._channel.send(line, fd)
            except OSError as e:
                self._broken = True
                self._log(f"the harness is gone ({e.strerror}); nothing more is sent")
            finally:
                if fd is not None:
                    os.close(fd)

    def close(self):
        self._queue.put(None)
        self._thread.join(_WRITER_DRAIN_SECONDS)


def _fit(message, error_json):
    """Shortens the longest text of an error until the message fits 4 MiB."""
    while len(encode_message(message)) + 1 > MAX_MESSAGE_BYTES:
        name = max(("stderr_tail", "error_message", "message"), key=lambda k: len(error_json.get(k) or ""))
        error_json[name] = "[...]" + error_json[name][len(error_json[name]) // 2:]
    return message


class Session:
    def __init__(self, backend, sock, environ):
        self.backend = backend
        self.environ = environ
        self.channel = Channel(sock)
        self.writer = _Writer(self.channel, self.log)
        self.lock = threading.Lock()
        self.calls = {}
        self.seen = set()
        self.closed = None          # the refusal text once shut down
        self.config = None
        self.shutdowns = queue.SimpleQueue()
        self.shutdown_thread = None
        self._log_lock = threading.Lock()

    def log(self, text):
        with self._log_lock:
            sys.stderr.write(f"execkit_backend[{self.backend.name}]: {text}\n")
            sys.stderr.flush()

    # --- the connection ---------------------------------------------------

    def run(self):
        try:
            if not self.handshake():
                return EXIT_OK
            status = self.configure()
            if status is not None:
                return status
            while (line := self.channel.receive()) is not None:
                self.handle(parse_message(line, "a message from the harness"))
        except ProtocolError as e:
            return self.fail(f"protocol error: {e}")
        except OSError as e:
            return self.fail(f"the protocol connection failed: {e}")
        except Exception as e:
            self.log(traceback.format_exc())
            return self.fail(f"internal error of execkit_backend: {type(e).__name__}: {e}")
        self.finish()
        return EXIT_OK

    def expect(self, what):
        line = self.channel.receive()
        return None if line is None else parse_message(line, what)

    def handshake(self):
        hello = self.expect("the harness's hello")
        if hello is None:
            return False
        m = Members(hello, "hello")
        if m.string("type") != "hello":
            raise ProtocolError(f"expected a hello first, got '{hello['type']}'")
        versions = hello.get("protocol")
        if not isinstance(versions, list) or PROTOCOL_VERSION not in [v for v in versions if type(v) is int]:
            raise ProtocolError(f"hello: the harness speaks protocol versions {versions!r}, this backend speaks {PROTOCOL_VERSION}")
        self.writer.post({"type": "hello", "protocol": PROTOCOL_VERSION, "backend": self.backend.name,
                          "capabilities": dict(self.backend.capabilities)})
        return True

    def configure(self):
        message = self.expect("the harness's configure")
        if message is None:
            return EXIT_OK
        m = Members(message, "configure")
        if m.string("type") != "configure":
            raise ProtocolError(f"expected configure, got '{message['type']}'")
        if "config" not in message:
            raise ProtocolError("configure: member 'config' is missing")
        spill = None
        try:
            config = parse_config(message["config"], self.environ, os.getcwd())
            spill = SpillDir.open(config.spill_dir, config.pool_id)
            config = dataclasses.replace(config, spill=spill)
            self.backend.configure(config)
        except Exception as e:
            if spill is not None:
                spill.close()
            if not isinstance(e, ExecError):
                self.log(f"configure raised:\n{traceback.format_exc()}")
                e = BackendClosed(f"the backend failed to start: {type(e).__name__}: {e}")
            self.writer.post({"type": "error", "error": e.to_json()})
            self.writer.close()
            return EXIT_REFUSED
        self.config = config
        self.writer.post({"type": "configured"})
        return None

    def handle(self, message):
        kind = Members(message, "a message from the harness").string("type")
        handler = {"submit": self.on_submit, "cancel": self.on_cancel, "shutdown": self.on_shutdown}.get(kind)
        if handler is None:
            what = "a second" if kind in ("hello", "configure") else "unexpected message type"
            raise ProtocolError(f"{what} '{kind}'")
        handler(message)

    # --- calls -----------------------------------------------------------

    def on_submit(self, message):
        call_id = Members(message, "submit").integer("id", minimum=0)
        m = Members(message, f"submit {call_id}")
        if call_id in self.seen:
            raise ProtocolError(f"submit {call_id}: the id was already used")
        self.seen.add(call_id)
        call = Call(call_id, m.string("module"), m.string("function"), m.base64("input"), tuple(m.string_list("search_path")),
                    m.env_updates("env_updates"), m.nullable_string("cwd"))
        timeout_ns = m.integer("timeout_ns", nullable=True)
        deadline = None if timeout_ns is None else time.monotonic_ns() + timeout_ns
        with self.lock:
            refused = self.closed
            if refused is None:
                self.calls[call_id] = _Pending()
        if refused is not None:
            self.send_outcome(call_id, BackendClosed(refused))
            return
        if timeout_ns is not None and timeout_ns <= 0:
            self.complete(call_id, Timeout("the call's deadline had passed when it reached the backend"))
            return
        try:
            self.backend.submit(call, deadline, lambda outcome: self.complete(call_id, outcome))
        except ExecError as e:
            self.complete(call_id, e)
        except Exception as e:
            self.log(f"submit of call {call_id} raised:\n{traceback.format_exc()}")
            self.complete(call_id, BackendClosed(f"the backend could not take call {call_id}: {type(e).__name__}: {e}"))

    def complete(self, call_id, outcome):
        """The `done` of one call: the first outcome counts."""
        with self.lock:
            pending = self.calls.get(call_id)
            if pending is not None and pending.cancelling and pending.held is None:
                pending.held = outcome
                return
            if pending is not None and pending.cancelling:
                pending = None  # a second outcome while the first waits for the cancel's answer
            if pending is not None:
                del self.calls[call_id]
                if pending.cancelled and not isinstance(outcome, Cancelled):
                    _discard(outcome)
                    outcome = Cancelled()
            closed = self.closed
        if pending is None:
            _discard(outcome)
            if closed is None:
                self.log(f"a second outcome for call {call_id} was dropped: {outcome!r}")
            return
        self.send_outcome(call_id, outcome)

    def on_cancel(self, message):
        call_id = Members(message, "cancel").integer("id", minimum=0)
        if call_id not in self.seen:
            raise ProtocolError(f"cancel {call_id}: no call with this id was submitted")
        with self.lock:
            pending = self.calls.get(call_id)
            if pending is not None:
                pending.cancelling = True
        answer = False
        if pending is not None:
            try:
                answer = bool(self.backend.cancel(call_id))
            except Exception:
                self.log(f"cancel of call {call_id} raised:\n{traceback.format_exc()}")
            with self.lock:
                pending.cancelling = False
                pending.cancelled = pending.cancelled or answer
                still_open = self.calls.get(call_id) is pending
                answer = pending.cancelled and still_open
                held, pending.held = pending.held, None
        self.writer.post({"type": "cancelled", "id": call_id, "cancelled": answer})
        if pending is not None and held is not None:
            self.complete(call_id, held)

    def send_outcome(self, call_id, outcome):
        try:
            if isinstance(outcome, Result):
                message, fd = _result_message(call_id, outcome)
                self.writer.post(message, fd)
                return
            if not isinstance(outcome, ExecError):
                self.log(f"call {call_id} ended with {outcome!r}, which is neither a Result nor an ExecError")
                outcome = ResultError("unreadable", f"the backend ended the call with a {type(outcome).__name__}")
        except ExecError as e:
            outcome = e
        error = outcome.to_json()
        self.writer.post(_fit({"type": "failure", "id": call_id, "error": error}, error))

    # --- shutdown and the end of the connection -----------------------------

    def on_shutdown(self, message):
        wait = Members(message, "shutdown").boolean("wait")
        with self.lock:
            if self.closed is None:
                self.closed = "the backend was shut down"
        if self.shutdown_thread is None:
            self.shutdown_thread = threading.Thread(target=self._shutdowns, name="execkit-shutdown", daemon=True)
            self.shutdown_thread.start()
        self.shutdowns.put(wait)

    def _shutdowns(self):
        # One at a time, in order: a second shutdown is answered after the first.
        while (wait := self.shutdowns.get()) is not None:
            self.stop_backend(wait)
            self.end_open_calls(BackendClosed())
            self.writer.post({"type": "shutdown_done"})

    def stop_backend(self, wait):
        try:
            self.backend.shutdown(wait)
        except Exception:
            self.log(f"shutdown raised:\n{traceback.format_exc()}")
        if wait:
            self.config.spill.close()

    def end_open_calls(self, error):
        with self.lock:
            open_calls = list(self.calls)
            self.calls.clear()
        for call_id in open_calls:
            self.send_outcome(call_id, error)

    def _join_shutdowns(self):
        if self.shutdown_thread is not None:
            self.shutdowns.put(None)
            self.shutdown_thread.join()

    def finish(self):
        """End of file: end every call, stop the workers, remove the spill files."""
        with self.lock:
            self.closed = self.closed or "the harness closed the connection"
        self._join_shutdowns()
        self.stop_backend(True)
        self.end_open_calls(BackendClosed(self.closed))
        self.writer.close()

    def fail(self, text):
        self.log(text)
        with self.lock:
            self.closed = text
        self.end_open_calls(BackendClosed(text))
        self._join_shutdowns()
        if self.config is not None:
            self.stop_backend(True)
        self.writer.close()
        self.channel.shutdown()
        return EXIT_PROTOCOL_ERROR


def _discard(outcome):
    if isinstance(outcome, Result):
        outcome.close()


def _result_message(call_id, result):
    """(message, fd or None); the fd is closed once sent. Raises ResultError
    for a file that does not hold `size` bytes."""
    message = {"type": "result", "id": call_id, "size": result.size, "metrics": result.metrics.to_json()}
    data, fd = result.data, result.fd
    result.fd = None  # from here on the writer owns it
    try:
        if fd is not None and result.size <= MAX_INLINE_RESULT_BYTES:
            data = os.pread(fd, result.size, 0) if result.size else b""
            if len(data) != result.size:
                raise ResultError("unreadable", f"the result file holds {len(data)} of {result.size} bytes")
            os.close(fd)
            fd = None
        if data is not None and result.size <= MAX_INLINE_RESULT_BYTES:
            message["data"] = base64.b64encode(data).decode("ascii")
            return message, None
        if fd is None:
            fd = sealed_bytes(data)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != result.size:
            raise ResultError("unreadable", f"the result file holds {info.st_size} bytes, not {result.size}")
        message["fd"] = True
        return message, fd
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
