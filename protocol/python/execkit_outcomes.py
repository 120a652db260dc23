"""What a call ends with: a Result or one of the protocol's error kinds.

Each error is an exception (a backend may raise or pass it to `done`) that
knows its wire form: the `error` object of docs/protocol.md "Errors".
"""
import dataclasses
import os
import signal
import stat

__all__ = [
    "Metrics", "Result", "ExecError", "TaskError", "Timeout", "Cancelled", "WorkerCrashed",
    "ResultError", "SpillError", "BackendClosed", "ConfigError",
]


@dataclasses.dataclass(frozen=True)
class Metrics:
    """METRIC-1; timestamps on CLOCK_MONOTONIC (time.monotonic_ns)."""
    peak_rss_kib: int = 0
    user_time_us: int = 0
    system_time_us: int = 0
    started_at_ns: int = 0
    finished_at_ns: int = 0
    wall_time_ns: int = 0
    worker_pid: int = 0
    worker_id: str = ""
    node_id: str = ""

    def to_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


class Result:
    """A call's result bytes: inline `data`, or `fd`, a regular file whose
    first `size` bytes are the result. The Result owns the fd until sent."""

    def __init__(self, metrics, data=None, fd=None, size=None):
        if (data is None) == (fd is None):
            raise ValueError("a Result has either data or an fd")
        self.metrics = metrics
        self.data = bytes(data) if data is not None else None
        self.fd = fd
        self.size = len(self.data) if data is not None else size
        if self.size is None:
            raise ValueError("a Result with an fd needs its size")

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __repr__(self):
        where = "inline" if self.data is not None else f"fd {self.fd}"
        return f"Result({self.size} bytes, {where})"


class ExecError(Exception):
    """An error outcome; `kind` is its wire name."""
    kind = "?"

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def to_json(self):
        return {"kind": self.kind, "message": self.message}


def _with_stderr_tail(text, tail):
    # The same text as the C++ errors, so logs read alike whichever side wrote them.
    if not tail:
        return text
    return f"{text}\n--- stderr tail ---\n{tail}{'' if tail.endswith(chr(10)) else chr(10)}--- end of stderr tail ---"


class TaskError(ExecError):
    kind = "task"

    def __init__(self, error_type, error_message, stderr_tail="", metrics=None):
        text = f"task failed: {error_type or 'unknown error type'}: {error_message or '(no message)'}"
        super().__init__(_with_stderr_tail(text, stderr_tail))
        self.error_type = error_type
        self.error_message = error_message
        self.stderr_tail = stderr_tail
        self.metrics = metrics if metrics is not None else Metrics()

    def to_json(self):
        return {**super().to_json(), "error_type": self.error_type, "error_message": self.error_message,
                "stderr_tail": self.stderr_tail, "metrics": self.metrics.to_json()}


class Timeout(ExecError):
    kind = "timeout"

    def __init__(self, message="the call's deadline passed"):
        super().__init__(message)


class Cancelled(ExecError):
    kind = "cancelled"

    def __init__(self, message="the call was cancelled"):
        super().__init__(message)


def _signal_text(number):
    try:
        return f" ({signal.Signals(number).name}: {signal.strsignal(number)})"
    except ValueError:
        return ""


class WorkerCrashed(ExecError):
    """term_signal / exit_status as observed; neither: a worker lost without
    an observed end, described by `message`."""
    kind = "worker_crashed"

    def __init__(self, term_signal=None, exit_status=None, stderr_tail="", message=None):
        if term_signal is not None and exit_status is not None:
            raise ValueError("a worker ends by a signal or with a status, not both")
        if term_signal is not None:
            text = _with_stderr_tail(f"worker killed by signal {term_signal}{_signal_text(term_signal)}", stderr_tail)
        elif exit_status is not None:
            text = _with_stderr_tail(f"worker exited with status {exit_status}", stderr_tail)
        else:
            text = message or "worker ended without a known signal or exit status"
        super().__init__(text)
        self.term_signal = term_signal
        self.exit_status = exit_status
        self.stderr_tail = stderr_tail

    @classmethod
    def from_exitcode(cls, code, stderr_tail=""):
        """multiprocessing's convention: negative is the signal number."""
        if code is None:
            return cls(message="the worker ended and its exit status could not be read")
        return cls(term_signal=-code, stderr_tail=stderr_tail) if code < 0 else cls(exit_status=code, stderr_tail=stderr_tail)

    def to_json(self):
        return {**super().to_json(), "term_signal": self.term_signal, "exit_status": self.exit_status,
                "stderr_tail": self.stderr_tail}


class ResultError(ExecError):
    kind = "result"
    REASONS = ("too_large", "write_failed", "unreadable")

    def __init__(self, reason, message):
        if reason not in self.REASONS:
            raise ValueError(f"unknown result error reason {reason!r}")
        super().__init__(message)
        self.reason = reason

    def to_json(self):
        return {**super().to_json(), "reason": self.reason}


class SpillError(ExecError):
    kind = "spill"


class BackendClosed(ExecError):
    kind = "backend_closed"

    def __init__(self, message="the backend was shut down"):
        super().__init__(message)


def _quoted(value):
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


class ConfigError(ExecError):
    """On the wire `message` is the reason alone: the harness builds
    'invalid <setting>="<value>": <reason>' as ConfigError's constructor does."""
    kind = "config"

    def __init__(self, setting, value, reason):
        super().__init__(f"invalid {setting}={_quoted(str(value))}: {reason}")
        self.setting = setting
        self.value = str(value)
        self.reason = reason

    def to_json(self):
        return {"kind": self.kind, "message": self.reason, "setting": self.setting, "value": self.value}


def is_regular_of_size(fd, size):
    info = os.fstat(fd)
    return stat.S_ISREG(info.st_mode) and info.st_size == size
