"""The execkit backend protocol (docs/protocol.md) for a backend written in
Python: subclass Backend, then `sys.exit(serve(MyBackend()))`.

    class MyBackend(execkit_backend.Backend):
        name = "mine"
        capabilities = {"task_language": "python", "has_local_process_workers": True}
        def configure(self, config): ...          # WorkerConfig, checked; raise ConfigError/SpillError to refuse
        def submit(self, call, deadline, done): ...  # must not block; done(outcome) exactly once, any thread
        def cancel(self, call_id): ...            # True: the call will end with Cancelled
        def shutdown(self, wait): ...             # end every call; wait: return once all is cleaned up

serve() owns the connection: handshake, configuration (spill dir opened and
locked as `config.spill`), one outcome per submit whatever the backend does
(a second one is dropped, a cancelled call's outcome is Cancelled, a
shutdown ends what the backend left open), descriptors for large results,
and a clean exit at end of file. The worker side of a Python backend is in
execkit_worker (init_worker, run_call).
"""
import os
import socket
import sys

from execkit_config import DEFAULT_ENV_PREFIXES, DEFAULT_ENV_WHITELIST, WorkerConfig
from execkit_outcomes import (BackendClosed, Cancelled, ConfigError, ExecError, Metrics, Result, ResultError,
                              SpillError, TaskError, Timeout, WorkerCrashed)
from execkit_session import Call, Session
from execkit_wire import ProtocolError

__all__ = [
    "Backend", "Call", "serve", "WorkerConfig", "Metrics", "Result", "ExecError", "TaskError", "Timeout", "Cancelled",
    "WorkerCrashed", "ResultError", "SpillError", "BackendClosed", "ConfigError", "ProtocolError",
    "DEFAULT_ENV_WHITELIST", "DEFAULT_ENV_PREFIXES",
]

_EXIT_USAGE = 64


class Backend:
    """The interface serve() drives. `deadline` is an absolute time on
    time.monotonic_ns() (queueing included), or None."""
    name = "python"
    capabilities = {"task_language": "python"}

    def configure(self, config):
        pass

    def submit(self, call, deadline, done):
        raise NotImplementedError

    def cancel(self, call_id):
        return False

    def shutdown(self, wait):
        pass


def serve(backend, sock=None, environ=None):
    """Speaks the protocol on `sock` (default: the socket whose number is in
    $EXECKIT_PROTOCOL_FD) until end of file; returns the exit status."""
    if "task_language" not in backend.capabilities:
        raise ValueError(f"backend {backend.name!r} must declare the capability task_language")
    environ = os.environ if environ is None else environ
    if sock is None:
        text = environ.get("EXECKIT_PROTOCOL_FD", "")
        if not text.isdigit():
            sys.stderr.write(f"execkit_backend: EXECKIT_PROTOCOL_FD='{text}' is not a descriptor number; "
                             "start the backend through execkit-conformance --backend-cmd\n")
            return _EXIT_USAGE
        sock = socket.socket(fileno=int(text))
    # Not the tasks': the socket and its number (an EXECKIT_ name, which passes the default prefix).
    os.set_inheritable(sock.fileno(), False)
    environ.pop("EXECKIT_PROTOCOL_FD", None)
    try:
        return Session(backend, sock, environ).run()
    finally:
        sock.close()
