"""One call's scope inside a reused worker process: what the call may change
(cwd, environment, stdio) is set up for it, and everything a task can
change is put back or reported, so the next call starts from the worker's
base state (ENV-4, ENV-5, ISO-1, ISO-2, ISO-4, ISO-5, ISO-8, RUN-3, RUN-6)."""
import ctypes
import dataclasses
import os
import platform
import resource
import select
import signal
import sys
import threading
import time

from execkit_procs import kill_tree, reap_children

__all__ = ["BaseState", "CallScope", "SetupError", "reset_signals"]

ISO4_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD)
_UNCATCHABLE = (signal.SIGKILL, signal.SIGSTOP)
_RLIMITS = {getattr(resource, name): name for name in dir(resource) if name.startswith("RLIMIT_")}
_TIMER_DELETE = {"x86_64": 226, "aarch64": 111}.get(platform.machine())
_libc = ctypes.CDLL(None, use_errno=True)
_environ = ctypes.POINTER(ctypes.c_char_p).in_dll(_libc, "environ")
_DRAIN_GRACE = 0.2
_REAP_GRACE = 1.0


class SetupError(Exception):
    """The call cannot start (its cwd, an env update); becomes a TaskError."""

    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def reset_signals(base=None):
    """Default dispositions for the ISO-4 signals (SIGPIPE stays ignored, as
    Python sets it), nothing pending, an empty mask; with `base`, every other
    disposition as it was, also one set behind Python's back (ctypes)."""
    for sig in signal.sigpending():
        signal.signal(sig, signal.SIG_IGN)  # discards the pending signal
    for sig in ISO4_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if base is not None:
        ignored, caught = _kernel_dispositions()
        for sig, handler in base.handlers.items():
            bit = 1 << (sig - 1)
            changed = (ignored & bit, caught & bit) != (base.ignored & bit, base.caught & bit)
            if handler is not None and (changed or signal.getsignal(sig) is not handler):
                signal.signal(sig, handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def _status_fields(*names):
    # The kernel's view (/proc/self/status), which a task cannot hide from Python.
    with open("/proc/self/status", "rb") as f:
        fields = dict(line.split(b":", 1) for line in f if b":" in line)
    return [fields[name.encode()].strip() for name in names]


def _kernel_dispositions():
    ignored, caught = _status_fields("SigIgn", "SigCgt")
    return int(ignored, 16), int(caught, 16)


def _thread_count():
    return int(_status_fields("Threads")[0])


@dataclasses.dataclass
class BaseState:
    """What every call starts from, captured once the worker is set up."""
    base_dir: str
    env: dict
    sys_path: list
    umask: int
    rlimits: dict
    handlers: dict
    ignored: int
    caught: int
    credentials: tuple

    @classmethod
    def capture(cls, base_dir):
        mask = os.umask(0o077)
        os.umask(mask)
        handlers = {sig: signal.getsignal(sig) for sig in signal.valid_signals() if sig not in _UNCATCHABLE}
        return cls(base_dir, dict(os.environ), list(sys.path), mask, {r: resource.getrlimit(r) for r in _RLIMITS},
                   handlers, *_kernel_dispositions(), _credentials())


def _credentials():
    return os.getresuid(), os.getresgid(), sorted(os.getgroups())


def _flush_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


class _OutputCapture:
    """fd 1 to /dev/null and fd 2 into a pipe drained into a tail of at most
    `limit` bytes: a task can write gigabytes to either without the worker
    blocking or growing (RUN-6), and the tail holds only this call's output."""

    def __init__(self, limit):
        _flush_streams()
        self._limit = limit
        self._tail = bytearray()
        self._stop = threading.Event()
        self._saved = (os.dup(1), os.dup(2))
        self._reader, writer = os.pipe()
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        os.dup2(null, 1)
        os.dup2(writer, 2)
        os.close(null)
        os.close(writer)
        self._thread = threading.Thread(target=self._drain, name="execkit-stderr", daemon=True)
        # Started with every signal blocked: a signal the task sends its
        # process (or left pending) must reach the task's thread, not this one.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            self._thread.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def _drain(self):
        poller = select.poll()
        poller.register(self._reader, select.POLLIN)
        while True:
            if not poller.poll(20):
                if self._stop.is_set():
                    return
                continue
            data = os.read(self._reader, 1 << 16)
            if not data:
                return
            self._tail += data
            if len(self._tail) > self._limit:
                del self._tail[:len(self._tail) - self._limit]

    def restore(self):
        """Gives fds 1 and 2 back; the task's buffered output is flushed first."""
        _flush_streams()
        for fd, saved in zip((1, 2), self._saved):
            os.dup2(saved, fd)
            os.close(saved)

    def finish(self):
        """The tail once every writer is gone (or after a grace for one that is not)."""
        self._thread.join(_DRAIN_GRACE)
        self._stop.set()
        self._thread.join()
        # join() returns just before the thread itself is gone; the leftover
        # check counts threads, so wait until the kernel no longer lists it.
        until = time.monotonic() + _DRAIN_GRACE
        while os.path.exists(f"/proc/self/task/{self._thread.native_id}") and time.monotonic() < until:
            time.sleep(0.0002)
        os.close(self._reader)
        return _text_tail(bytes(self._tail), self._limit)


def _text_tail(raw, limit):
    # At most `limit` bytes of UTF-8 on the wire: a cut sequence at the start is dropped.
    start = 0
    while start < min(3, len(raw)) and raw[start] & 0xC0 == 0x80:
        start += 1
    text = raw[start:].decode("utf-8", "replace")
    while len(text.encode("utf-8")) > limit:
        text = text[1:]
    return text


class CallScope:
    """enter() before the task, leave() after it, always (also after a failed enter)."""

    def __init__(self, base, tail_bytes):
        self._base = base
        self._tail_bytes = tail_bytes
        self._capture = None
        self._threads = _thread_count()
        self._streams = (sys.stdin, sys.stdout, sys.stderr)

    def enter(self, cwd, env_updates):
        self._capture = _OutputCapture(self._tail_bytes)
        target = cwd if cwd is not None else self._base.base_dir
        try:
            os.chdir(target)
        except OSError as e:
            raise SetupError(type(e).__name__, f"cannot run in the call's cwd '{target}': {e.strerror}") from None
        for name, value in env_updates.items():
            try:
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            except (ValueError, OSError) as e:
                raise SetupError(type(e).__name__, f"cannot apply env update '{name}': {e}") from None

    def leave(self):
        """Restores the base state; returns (stderr tail, reason to retire the
        worker or None). A failure to restore is a reason to retire."""
        retire = []
        tail = ""
        try:
            if self._capture is not None:
                self._capture.restore()
            sys.stdin, sys.stdout, sys.stderr = self._streams
            sys.path[:] = self._base.sys_path
            # The leftovers are ended before the tail is read: they may hold its pipe.
            kill_tree(os.getpid(), include_root=False)
            if not reap_children(_REAP_GRACE):
                retire.append("a child process of the task did not end")
            if self._capture is not None:
                tail = self._capture.finish()
            _restore_environment(self._base.env)
            os.chdir(self._base.base_dir)
            retire.extend(self._restore_process_state())
        except Exception as e:
            retire.append(f"the worker's state could not be restored: {type(e).__name__}: {e}")
        return tail, "; ".join(retire) or None

    def _restore_process_state(self):
        base = self._base
        problems = []
        for which in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
            signal.setitimer(which, 0)
        problems.extend(_delete_posix_timers())
        reset_signals(base)
        os.umask(base.umask)
        for limit, (soft, hard) in base.rlimits.items():
            now_soft, now_hard = resource.getrlimit(limit)
            if _limit_value(now_hard) < _limit_value(hard):
                problems.append(f"the task lowered the hard limit {_RLIMITS[limit]}")  # only root could raise it again
            elif now_soft != soft:
                resource.setrlimit(limit, (soft, now_hard))
        if _credentials() != base.credentials:
            problems.append("the task changed the worker's credentials")
        _reopen_stdin()
        extra = _thread_count() - self._threads
        if extra > 0:
            problems.append(f"the task left {extra} thread(s) running")
        return problems


def _limit_value(value):
    return float("inf") if value == resource.RLIM_INFINITY else value


def _restore_environment(base):
    """Exactly the base environment again, in os.environ and in the C
    environment (a task may call putenv or setenv directly; ENV-5)."""
    for name in list(os.environ):
        if name not in base:
            del os.environ[name]
    for name, value in base.items():
        if os.environ.get(name) != value:
            os.environ[name] = value
    for name, value in _c_environment().items():
        if name not in base:
            os.unsetenv(name)
        elif value != base[name]:
            os.putenv(name, base[name])


def _c_environment():
    env = {}
    i = 0
    while _environ[i] is not None:
        name, _, value = _environ[i].partition(b"=")
        env[os.fsdecode(name)] = os.fsdecode(value)
        i += 1
    return env


def _delete_posix_timers():
    try:
        with open("/proc/self/timers", "rb") as f:
            ids = [int(line.split()[1]) for line in f if line.startswith(b"ID:")]
    except OSError:
        return ["the task's POSIX timers cannot be listed"]
    if ids and _TIMER_DELETE is None:
        return ["the task left POSIX timers that cannot be deleted on this architecture"]
    for timer in ids:
        _libc.syscall(ctypes.c_long(_TIMER_DELETE), ctypes.c_long(timer))
    return []


def _reopen_stdin():
    try:
        os.fstat(0)
    except OSError:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd != 0:
            os.dup2(fd, 0)
            os.close(fd)
