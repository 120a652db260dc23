"""The conformance suite's probe tasks for Python backends (docs/probe.md).

The same tasks as the C++ probe module (conformance/probe/*.cpp), with the
same inputs, results and failures. A task is `def task(ctx)`: `ctx.input` is
the input bytes, `ctx.write(data)` appends to the result, and a task fails by
raising. Standard library only.

The tasks observe and change the process's real state (the kernel's signal
dispositions, libc's environment, raw syscalls), not the Python runtime's
view of it, because a backend is judged on what its worker process carries
from one call to the next.
"""

import atexit
import ctypes
import os
import platform
import re
import resource
import signal
import struct
import sys
import threading
import time

# Errors with a type of their own (C++: ctx.fail(type, message)).


class NoOpenSpillFile(Exception):
    """swap_spill found no file of its own open under the spill dir."""


class CannotLink(Exception):
    """swap_spill could not hard-link the canary into the spill dir."""


class NoResultHandle(Exception):
    """tamper_later found no file open that may hold its result."""


# ---------------------------------------------------------------------------
# Helpers: input parsing, errors, files (C++: probe_support.hpp, probe_common.hpp)

_UINT64_MAX = (1 << 64) - 1
_INT_MIN = -(1 << 31)
_INT_MAX = (1 << 31) - 1

_libc = ctypes.CDLL(None, use_errno=True)


def _text(data):
    """Bytes as str for messages: UTF-8, other bytes kept as surrogates."""
    return bytes(data).decode("utf-8", "surrogateescape")


def _input(ctx):
    return bytes(ctx.input)


def _os_error(number, what):
    """C++ std::system_error(errno, what): the message is "<what>: <strerror>"."""
    error = OSError(f"{what}: {os.strerror(number)}")
    error.errno = number
    return error


def _parse_decimal(text, what, minimum=0, maximum=_UINT64_MAX):
    """A whole decimal number in [minimum, maximum] (a sign only where minimum < 0)."""
    pattern = rb"-?[0-9]+" if minimum < 0 else rb"[0-9]+"
    if re.fullmatch(pattern, text) is not None:
        value = int(text)
        if minimum <= value <= maximum:
            return value
    raise ValueError(
        f"probe: {what}: expected a decimal number in [{minimum}, {maximum}], got '{_text(text)}'")


def _fields(text, separator, count, task):
    parts = text.split(separator)
    if len(parts) != count:
        raise ValueError(f"probe: {task}: expected {count} fields separated by "
                         f"'{_text(separator)}', got '{_text(text)}'")
    return parts


def _sleep_ms(ms):
    while ms > 0:  # in steps: time.sleep refuses lengths a C timespec takes
        step = min(ms, 86_400_000)
        time.sleep(step / 1000)
        ms -= step


def _hang_forever():
    """Blocks until the process is killed (how a backend must stop a task)."""
    while True:
        try:
            signal.pause()
        except BaseException:  # a Python-level handler ran: keep waiting, as pause() in C does
            pass


def _write_all(fd, data):
    """Writes to the descriptor itself, after what Python still buffers for it."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError as error:
            raise _os_error(error.errno, f"probe: write to fd {fd}") from None
        if n <= 0:
            raise _os_error(0, f"probe: write to fd {fd}")
        view = view[n:]


def _path_exists(path):
    try:
        os.lstat(path)
        return True
    except (OSError, ValueError):
        return False


def _write_file_atomically(path, content):
    """Writes `content` to `path` so that readers never see a partial file."""
    temporary = path + b".tmp." + str(os.getpid()).encode()
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise _os_error(error.errno, f"probe: create {_text(temporary)}") from None
    try:
        written = os.write(fd, content)
    except OSError as error:
        os.close(fd)
        raise _os_error(error.errno, f"probe: write {_text(path)}") from None
    os.close(fd)
    if written != len(content):
        raise _os_error(0, f"probe: write {_text(path)}")
    try:
        os.rename(temporary, path)
    except OSError as error:
        raise _os_error(error.errno, f"probe: write {_text(path)}") from None


def _wait_for_path(path, limit_ms):
    """Polls for `path` (1 ms steps); fails after `limit_ms`."""
    until = time.monotonic() + limit_ms / 1000
    while not _path_exists(path):
        if time.monotonic() > until:
            raise RuntimeError(f"probe: waited {limit_ms} ms for {_text(path)}")
        _sleep_ms(1)


def _getenv(name):
    """libc's getenv: the process environment, whatever changed it."""
    getenv = _libc.getenv
    getenv.restype = ctypes.c_char_p
    getenv.argtypes = [ctypes.c_char_p]
    return getenv(name)


def _environ_entries():
    """libc's environ, entry by entry."""
    table = ctypes.POINTER(ctypes.c_char_p).in_dll(_libc, "environ")
    entries = []
    if not table:
        return entries
    index = 0
    while table[index] is not None:
        entries.append(table[index])
        index += 1
    return entries


def _prctl(option, argument):
    prctl = _libc.prctl
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return prctl(option, argument, 0, 0, 0)


_PR_SET_NAME = 15
_PR_GET_PDEATHSIG = 2


def _set_thread_name(name):
    buffer = ctypes.create_string_buffer(name)
    _prctl(_PR_SET_NAME, ctypes.addressof(buffer))


# ---------------------------------------------------------------------------
# The byte stream (docs/probe.md "Byte stream"; C++: probe::ByteStream)

_GOLDEN = 0x9E3779B97F4A7C15
_BLOCK_BYTES = 65536
_XOR_TABLES = tuple(bytes(byte ^ key for byte in range(256)) for key in range(256))
_pack_u64 = struct.Struct("<Q").pack


def _base_block(seed):
    """B(seed): 8192 SplitMix64 outputs from state = seed, little-endian."""
    words = []
    state = seed & _UINT64_MAX
    for _ in range(_BLOCK_BYTES // 8):
        state = (state + _GOLDEN) & _UINT64_MAX
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _UINT64_MAX
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _UINT64_MAX
        words.append(z ^ (z >> 31))
    return struct.pack(f"<{len(words)}Q", *words)


class ByteStream:
    """The probe's byte stream for `seed`, read front to back."""

    def __init__(self, seed):
        self._seed = seed
        self._body = _base_block(seed)[8:]
        self._next_block = 0
        self._rest = memoryview(b"")  # the unread end of the current block

    def _block(self, k):
        header = _pack_u64((k * _GOLDEN + self._seed) & _UINT64_MAX)
        return header + self._body.translate(_XOR_TABLES[k & 0xFF])

    def read(self, n):
        """The next n bytes of the stream."""
        parts = []
        if self._rest:
            take = self._rest[:n]
            parts.append(take)
            self._rest = self._rest[len(take):]
            n -= len(take)
        while n >= _BLOCK_BYTES:
            k = self._next_block
            parts.append(_pack_u64((k * _GOLDEN + self._seed) & _UINT64_MAX))
            parts.append(self._body.translate(_XOR_TABLES[k & 0xFF]))
            self._next_block += 1
            n -= _BLOCK_BYTES
        if n > 0:
            block = memoryview(self._block(self._next_block))
            self._next_block += 1
            parts.append(block[:n])
            self._rest = block[n:]
        return b"".join(parts)


def _write_stream(ctx, size, seed, piece=1 << 20):
    stream = ByteStream(seed)
    left = size
    while left > 0:
        n = min(left, piece)
        ctx.write(stream.read(n))
        left -= n


# ---------------------------------------------------------------------------
# Signal dispositions, read and set at the kernel's level

class _Sigaction(ctypes.Structure):
    # glibc's struct sigaction on Linux (x86_64, aarch64).
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16),
                ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]


_SIG_DFL = 0
_SIG_IGN = 1


def _sigaction(number, new=None):
    """Sets the disposition of `number` to `new` (if given); returns the old one."""
    old = _Sigaction()
    call = _libc.sigaction
    call.restype = ctypes.c_int
    call.argtypes = [ctypes.c_int, ctypes.POINTER(_Sigaction), ctypes.POINTER(_Sigaction)]
    if call(number, ctypes.byref(new) if new is not None else None, ctypes.byref(old)) != 0:
        raise _os_error(ctypes.get_errno(), "probe: sigaction")
    return old


def _status_masks(*names):
    """Signal sets of /proc/self/status ("SigIgn", "SigCgt", ...) as integers."""
    values = {}
    with open("/proc/self/status", "rb") as status:
        for line in status:
            key, _, value = line.partition(b":")
            values[key.decode()] = value.strip()
    return [int(values[name], 16) for name in names]


def _ignore_signal(number, frame):
    pass


def _set_disposition(number, action):
    """action: "default", "ignore" or "handler" (a handler that does nothing)."""
    if threading.current_thread() is threading.main_thread():
        handler = {"default": signal.SIG_DFL, "ignore": signal.SIG_IGN, "handler": _ignore_signal}[action]
        signal.signal(number, handler)
        return
    # Python installs handlers only from the main thread: a C function that
    # ignores its argument and has no effect stands in for a handler.
    pointers = {"default": _SIG_DFL, "ignore": _SIG_IGN,
                "handler": ctypes.cast(_libc.getpid, ctypes.c_void_p).value}
    _sigaction(number, _Sigaction(handler=pointers[action]))


# ---------------------------------------------------------------------------
# Basic tasks (C++: probe_basic.cpp)

def echo(ctx):
    """Result: the input, unchanged."""
    ctx.write(_input(ctx))


def env(ctx):
    """Result: the environment as "NAME=VALUE\\n" lines, sorted."""
    for entry in sorted(_environ_entries()):
        ctx.write(entry + b"\n")


def proc_environ(ctx):
    """Result: the raw bytes of /proc/self/environ."""
    try:
        with open("/proc/self/environ", "rb") as file:
            data = file.read()
    except OSError:
        raise RuntimeError("probe: cannot open /proc/self/environ") from None
    ctx.write(data)


def cwd(ctx):
    """Result: the current working directory."""
    try:
        directory = os.getcwdb()
    except OSError as error:
        raise _os_error(error.errno, "probe: getcwd") from None
    ctx.write(directory)


def pid(ctx):
    """Result: getpid() in decimal."""
    ctx.write(str(os.getpid()).encode())


def fail(ctx):
    """Writes "probe stderr: <input>\\n" to stderr, then fails with the input as message."""
    message = _input(ctx)
    _write_all(2, b"probe stderr: " + message + b"\n")
    raise RuntimeError(_text(message))


def write_bytes(ctx):
    """Input "N", "N,seed" or "N,seed,chunk": N bytes of ByteStream(seed), in pieces of chunk bytes."""
    text = _input(ctx)
    comma = text.find(b",")
    second = -1 if comma < 0 else text.find(b",", comma + 1)
    count = _parse_decimal(text if comma < 0 else text[:comma], "write_bytes size")
    seed = 0
    if comma >= 0:
        seed = _parse_decimal(text[comma + 1:] if second < 0 else text[comma + 1:second], "write_bytes seed")
    piece = 1 << 20
    if second >= 0:
        piece = _parse_decimal(text[second + 1:], "write_bytes chunk", 1)
    _write_stream(ctx, count, seed, min(piece, 1 << 20))


def setenv(ctx):
    """Input "NAME=VALUE": sets it in the task's own environment. Result "ok"."""
    text = _input(ctx)
    equals = text.find(b"=")
    if equals <= 0:
        raise ValueError(f"probe: setenv: expected NAME=VALUE, got '{_text(text)}'")
    try:
        os.environb[text[:equals]] = text[equals + 1:]
    except OSError as error:
        raise _os_error(error.errno, f"probe: setenv '{_text(text)}'") from None
    ctx.write(b"ok")


def chdir(ctx):
    """Input: a directory to change into. Result "ok"."""
    directory = _input(ctx)
    try:
        os.chdir(directory)
    except OSError as error:
        raise _os_error(error.errno, f"probe: chdir '{_text(directory)}'") from None
    ctx.write(b"ok")


def sleep_ms(ctx):
    """Input: milliseconds to sleep. Result "ok"."""
    _sleep_ms(_parse_decimal(_input(ctx), "sleep_ms milliseconds"))
    ctx.write(b"ok")


def crash_signal(ctx):
    """Input: a signal number the task raises at its own thread."""
    number = _parse_decimal(_input(ctx), "crash_signal signal", 1, int(signal.SIGRTMAX))
    try:
        signal.raise_signal(number)
    except BaseException:  # a Python-level handler ran and raised: the process lives on
        pass
    raise RuntimeError(f"probe: raising signal {number} did not end the process")


def exit_code(ctx):
    """Input: an exit status; ends the process with _exit(status)."""
    os._exit(_parse_decimal(_input(ctx), "exit_code status", 0, 255))


# ---------------------------------------------------------------------------
# Observing the process (C++: probe_observe.cpp)

_WATCHED_SIGNALS = (("SIGINT", signal.SIGINT), ("SIGTERM", signal.SIGTERM), ("SIGHUP", signal.SIGHUP),
                    ("SIGQUIT", signal.SIGQUIT), ("SIGUSR1", signal.SIGUSR1), ("SIGUSR2", signal.SIGUSR2),
                    ("SIGCHLD", signal.SIGCHLD), ("SIGPIPE", signal.SIGPIPE))

_LIMITS = (("NOFILE", resource.RLIMIT_NOFILE), ("CORE", resource.RLIMIT_CORE),
           ("STACK", resource.RLIMIT_STACK), ("FSIZE", resource.RLIMIT_FSIZE),
           ("NPROC", resource.RLIMIT_NPROC), ("AS", resource.RLIMIT_AS),
           ("DATA", resource.RLIMIT_DATA), ("CPU", resource.RLIMIT_CPU))

_module_calls = 0


def _read_file(path):
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return b""


def _fd_entries():
    """(name, target) for each open fd; the fd that listed the directory is closed by now."""
    entries = []
    for name in os.listdir(b"/proc/self/fd"):
        try:
            entries.append((name, os.readlink(b"/proc/self/fd/" + name)))
        except FileNotFoundError:
            continue
        except OSError:
            entries.append((name, None))
    return entries


def fds(ctx):
    """Result: one line "<fd> <target>" per open fd (the listing's own fd excluded)."""
    try:
        entries = _fd_entries()
    except OSError as error:
        raise _os_error(error.errno, "probe: opendir /proc/self/fd") from None
    ctx.write(b"".join(name + b" " + (target if target else b"?") + b"\n" for name, target in entries))


def _limit_text(value):
    value &= _UINT64_MAX
    return "inf" if value == _UINT64_MAX else str(value)


def signals(ctx):
    """Result: "<SIG> <default|ignore|handler> <blocked 0|1>" lines, then "blocked_count <n>"."""
    ignored, caught = _status_masks("SigIgn", "SigCgt")
    mask = {int(number) for number in signal.pthread_sigmask(signal.SIG_BLOCK, [])}
    lines = []
    for name, number in _WATCHED_SIGNALS:
        bit = 1 << (int(number) - 1)
        disposition = "ignore" if ignored & bit else "handler" if caught & bit else "default"
        lines.append(f"{name} {disposition} {1 if int(number) in mask else 0}\n")
    blocked = sum(1 for number in mask if 1 <= number <= int(signal.SIGRTMAX))
    lines.append(f"blocked_count {blocked}\n")
    ctx.write("".join(lines).encode())


def umask(ctx):
    """Result: the umask in octal, e.g. "22"."""
    mask = os.umask(0)
    os.umask(mask)
    ctx.write(format(mask, "o").encode())


def rlimits(ctx):
    """Result: "<NAME> <soft> <hard>" lines ("inf" for unlimited)."""
    lines = []
    for name, limit in _LIMITS:
        soft, hard = resource.getrlimit(limit)
        lines.append(f"{name} {_limit_text(soft)} {_limit_text(hard)}\n")
    ctx.write("".join(lines).encode())


def credentials(ctx):
    """Result: "uid <r> <e> <s> gid <r> <e> <s> groups <g>,<g>,..."."""
    ruid, euid, suid = os.getresuid()
    rgid, egid, sgid = os.getresgid()
    groups = ",".join(str(group) for group in os.getgroups())
    ctx.write(f"uid {ruid} {euid} {suid} gid {rgid} {egid} {sgid} groups {groups}".encode())


def identity(ctx):
    """Result: "pid=<getpid>\\nworker_id=<EXECKIT_WORKER_ID>\\nnode_id=<EXECKIT_NODE_ID>\\n"."""
    worker = _getenv(b"EXECKIT_WORKER_ID") or b""
    node = _getenv(b"EXECKIT_NODE_ID") or b""
    ctx.write(b"pid=" + str(os.getpid()).encode() + b"\nworker_id=" + worker + b"\nnode_id=" + node + b"\n")


def cmdline(ctx):
    """Result: the raw bytes of /proc/self/cmdline."""
    ctx.write(_read_file("/proc/self/cmdline"))


def threads(ctx):
    """Result: the name (comm) of every thread of the process, one per line."""
    try:
        names = os.listdir(b"/proc/self/task")
    except OSError as error:
        raise _os_error(error.errno, "probe: opendir /proc/self/task") from None
    ctx.write(b"".join(_read_file(b"/proc/self/task/" + name + b"/comm") for name in names))


def exists(ctx):
    """Input: a path. Result "1" if it exists (lstat), else "0"."""
    ctx.write(b"1" if _path_exists(_input(ctx)) else b"0")


def module_state(ctx):
    """Result: how many times this task ran since this copy of the module was loaded."""
    global _module_calls
    _module_calls += 1
    ctx.write(str(_module_calls).encode())


def pdeathsig(ctx):
    """Result: the parent-death signal of the process (PR_GET_PDEATHSIG), 0 when none."""
    number = ctypes.c_int(0)
    _prctl(_PR_GET_PDEATHSIG, ctypes.addressof(number))
    ctx.write(str(number.value).encode())


# ---------------------------------------------------------------------------
# Changing per-process state (C++: probe_disturb.cpp)

_RESOURCES = dict((name.encode(), limit) for name, limit in _LIMITS)


class _Rlimit(ctypes.Structure):
    _fields_ = [("soft", ctypes.c_ulong), ("hard", ctypes.c_ulong)]


def _getrlimit(limit):
    soft, hard = resource.getrlimit(limit)
    return soft & _UINT64_MAX, hard & _UINT64_MAX


def _setrlimit(limit, soft, hard):
    """setrlimit itself: the resource module turns EPERM into ValueError."""
    call = _libc.setrlimit
    call.restype = ctypes.c_int
    call.argtypes = [ctypes.c_int, ctypes.POINTER(_Rlimit)]
    if call(limit, ctypes.byref(_Rlimit(soft, hard))) != 0:
        return ctypes.get_errno()
    return 0


def _limit_input(text):
    """"NAME,value" -> (resource, value)"""
    comma = text.find(b",")
    if comma < 0:
        raise ValueError(f"probe: expected NAME,value, got '{_text(text)}'")
    limit = _RESOURCES.get(text[:comma])
    if limit is None:
        raise ValueError(f"probe: unknown resource limit '{_text(text[:comma])}'")
    return limit, _parse_decimal(text[comma + 1:], "limit")


def _set_limit(limit, soft, hard):
    number = _setrlimit(limit, soft, hard)
    if number != 0:
        raise _os_error(number, "probe: setrlimit")


def disturb_signals(ctx):
    """Ignores, handles and blocks signals; flips SIGPIPE between default and ignored. Result "ok"."""
    for number in (signal.SIGINT, signal.SIGQUIT, signal.SIGUSR2):
        _set_disposition(number, "ignore")
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGCHLD):
        _set_disposition(number, "handler")
    pipe_ignored = _status_masks("SigIgn")[0] & (1 << (int(signal.SIGPIPE) - 1))
    _set_disposition(signal.SIGPIPE, "default" if pipe_ignored else "ignore")
    signal.pthread_sigmask(signal.SIG_BLOCK, [number for _, number in _WATCHED_SIGNALS])
    ctx.write(b"ok")


def set_umask(ctx):
    """Input: an octal umask. Result: the previous one in octal."""
    text = _input(ctx)
    match = re.fullmatch(rb"[ \t\n\v\f\r]*([+-]?)([0-7]+)", text)
    value = None
    if match is not None:
        value = int(match.group(2), 8)
        if match.group(1) == b"-":
            value = -value & _UINT64_MAX  # strtoul's negation
    if value is None or value > 0o777:
        raise ValueError(f"probe: set_umask: bad octal '{_text(text)}'")
    ctx.write(format(os.umask(value), "o").encode())


def close_fd(ctx):
    """Input: an fd number. Closes it, whatever it is. Result "ok", or "not open"."""
    match = re.match(rb"[ \t\n\v\f\r]*([+-]?[0-9]+)", _input(ctx))  # std::stoi
    if match is None:
        raise ValueError("stoi")
    fd = int(match.group(1))
    if not _INT_MIN <= fd <= _INT_MAX:
        raise OverflowError("stoi")
    try:
        os.close(fd)
    except OSError:
        ctx.write(b"not open")
        return
    ctx.write(b"ok")


def set_soft_rlimit(ctx):
    """Input "NAME,value": sets that soft limit (hard unchanged). Result "ok"."""
    limit, value = _limit_input(_input(ctx))
    _, hard = _getrlimit(limit)
    _set_limit(limit, value, hard)
    ctx.write(b"ok")


def lower_hard_rlimit(ctx):
    """Input "NAME,value": lowers the hard limit (and the soft one with it) to value. Result "ok"."""
    limit, value = _limit_input(_input(ctx))
    soft, _ = _getrlimit(limit)
    if soft == _UINT64_MAX or soft > value:
        soft = value
    _set_limit(limit, soft, value)
    ctx.write(b"ok")


_NOBODY = 65534


def change_credentials(ctx):
    """Input: groups | gid | euid | all: changes credentials to 65534 (needs privilege). Result "ok"."""
    kind = _input(ctx)
    steps = {
        b"groups": [lambda: os.setgroups([_NOBODY])],
        b"gid": [lambda: os.setresgid(_NOBODY, _NOBODY, _NOBODY)],
        b"euid": [lambda: os.setresuid(-1, _NOBODY, -1)],
        b"all": [lambda: os.setgroups([]), lambda: os.setresgid(_NOBODY, _NOBODY, _NOBODY),
                 lambda: os.setresuid(_NOBODY, _NOBODY, _NOBODY)],
    }.get(kind)
    if steps is None:
        raise ValueError(f"probe: change_credentials: unknown kind '{_text(kind)}'")
    try:
        for step in steps:
            step()
    except OSError as error:
        raise _os_error(error.errno, f"probe: change_credentials {_text(kind)}") from None
    ctx.write(b"ok")


def mutate_env(ctx):
    """Input: lines "NAME=VALUE" (setenv) or "-NAME" (unsetenv). Result "ok"."""
    for line in _input(ctx).split(b"\n"):
        if not line:
            continue
        if line[:1] == b"-":
            name = line[1:]
            if name and b"=" not in name:  # unsetenv refuses anything else, and the C++ task ignores that
                os.unsetenv(name)
                os.environb.pop(name, None)
            continue
        equals = line.find(b"=")
        if equals <= 0:
            raise ValueError(f"probe: mutate_env: bad line '{_text(line)}'")
        os.environb[line[:equals]] = line[equals + 1:]
    ctx.write(b"ok")


# ---------------------------------------------------------------------------
# Outcomes and traces (C++: probe_outcomes.cpp)

def _finish(ctx, action):
    """Ends the task the way `action` says: ok, fail, hang, abort."""
    if action == b"ok":
        ctx.write(b"ok")
    elif action == b"fail":
        raise RuntimeError("probe: failing as asked")
    elif action == b"hang":
        _hang_forever()
    elif action == b"abort":
        os.abort()
    else:
        raise ValueError(f"probe: unknown action '{_text(action)}'")


def bump_counter(ctx):
    """Input "path|action": appends one byte to path, then ends as action says (ok, fail, hang, abort)."""
    path, action = _fields(_input(ctx), b"|", 2, "bump_counter")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise _os_error(error.errno, f"probe: open {_text(path)}") from None
    try:
        _write_all(fd, b"x")
    finally:
        os.close(fd)
    _finish(ctx, action)


def print_and_fail(ctx):
    """Writes the input to stdout and stderr, then fails with type ValueError and the input as message."""
    text = _input(ctx)
    _write_all(1, text + b"\n")
    _write_all(2, text + b"\n")
    raise ValueError(_text(text))


def print_and_succeed(ctx):
    """Writes the input to stdout and stderr and succeeds with "ok"."""
    text = _input(ctx)
    _write_all(1, text + b"\n")
    _write_all(2, text + b"\n")
    ctx.write(b"ok")


def stderr_flood_then_fail(ctx):
    """Input "N,marker": N bytes of filler lines, then marker, to stderr; fails with the marker."""
    count, marker = _fields(_input(ctx), b",", 2, "stderr_flood_then_fail")
    left = _parse_decimal(count, "stderr bytes")
    block = (b"f" * 63 + b"\n") * 1024
    while left > 0:
        n = min(left, len(block))
        _write_all(2, block[:n])
        left -= n
    _write_all(2, marker)
    raise RuntimeError(_text(marker))


def flood(ctx):
    """Input "stdout|stderr,MiB": writes that many MiB to the stream. Result "ok"."""
    stream, mib = _fields(_input(ctx), b",", 2, "flood")
    fd = {b"stdout": 1, b"stderr": 2}.get(stream)
    if fd is None:
        raise ValueError(f"probe: flood: unknown stream '{_text(stream)}'")
    count = _parse_decimal(mib, "flood MiB")
    block = b"z" * (1 << 20)
    for _ in range(count):
        _write_all(fd, block)
    ctx.write(b"ok")


def call_exit(ctx):
    """Input: an exit status; ends the process like C's exit(): exit handlers run, buffers are flushed."""
    status = _parse_decimal(_input(ctx), "exit status", 0, 255)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    _libc.exit(status)


def call_abort(ctx):
    """Ends the process with abort()."""
    os.abort()


def segfault(ctx):
    """Writes through a null pointer: a real SIGSEGV, not a raised one."""
    ctypes.c_int.from_address(0).value = 1
    raise RuntimeError("probe: writing through a null pointer did not crash")


def burn_cpu_ms(ctx):
    """Input: milliseconds of CPU time to burn in user space. Result "ok"."""
    ms = _parse_decimal(_input(ctx), "burn_cpu_ms")
    until = time.clock_gettime_ns(time.CLOCK_THREAD_CPUTIME_ID) + ms * 1_000_000
    sink = 0
    while time.clock_gettime_ns(time.CLOCK_THREAD_CPUTIME_ID) < until:
        for i in range(1000):
            sink = (sink * 31 + i) & _UINT64_MAX
    ctx.write(b"ok")


def touch_mib(ctx):
    """Input: MiB to allocate and touch page by page. Result "ok"."""
    size = (_parse_decimal(_input(ctx), "touch_mib") << 20) & _UINT64_MAX
    block = bytearray(size)
    block[::4096] = bytes(len(range(0, size, 4096)))
    del block
    ctx.write(b"ok")


def write_limited(ctx):
    """Input "size,limit": writes size result bytes with RLIMIT_FSIZE at limit and SIGXFSZ ignored."""
    size_text, limit_text = _fields(_input(ctx), b",", 2, "write_limited")
    size = _parse_decimal(size_text, "size")
    limit = _parse_decimal(limit_text, "limit")
    soft, hard = _getrlimit(resource.RLIMIT_FSIZE)
    saved_action = _sigaction(signal.SIGXFSZ, _Sigaction(handler=_SIG_IGN))
    try:
        _setrlimit(resource.RLIMIT_FSIZE, limit, hard)
        chunk = b"w" * (1 << 16)
        left = size
        while left > 0:
            n = min(left, len(chunk))
            ctx.write(chunk[:n])
            left -= n
    finally:
        _setrlimit(resource.RLIMIT_FSIZE, soft, hard)
        _sigaction(signal.SIGXFSZ, saved_action)


# ---------------------------------------------------------------------------
# Leaving something running (C++: probe_descendants.cpp)

def _publish_own_pid(temporary, path):
    """In a forked child: writes its pid to `path` via `temporary`, or exits 111..113."""
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except BaseException:
        os._exit(111)
    try:
        text = str(os.getpid()).encode()
        if os.write(fd, text) != len(text):
            os._exit(112)
        os.close(fd)
    except BaseException:
        os._exit(112)
    try:
        os.rename(temporary, path)
    except BaseException:
        os._exit(113)


def _linger(temporary, path):
    """In a forked child: holds the inherited stdout/stderr open until killed."""
    try:
        _set_thread_name(b"ek-leftover")
        _publish_own_pid(temporary, path)
        _hang_forever()
    finally:
        os._exit(0)


def _read_small_file(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise _os_error(error.errno, f"probe: open {_text(path)}") from None
    try:
        return os.read(fd, 64)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _spawn_lingering(pid_file, daemonize):
    """Forks a descendant that lingers with the task's stdout/stderr; returns its pid."""
    temporary = pid_file + b".tmp"
    try:
        child = os.fork()
    except OSError as error:
        raise _os_error(error.errno, "probe: fork") from None
    if child == 0:
        try:
            if not daemonize:
                _linger(temporary, pid_file)
            # Like a daemon: a new session, and a grandchild whose parent is gone.
            os.setsid()
            try:
                grandchild = os.fork()
            except OSError:
                os._exit(114)
            if grandchild == 0:
                _linger(temporary, pid_file)
        finally:
            os._exit(0)
    if daemonize:
        try:
            os.waitpid(child, 0)
        except OSError:  # SIGCHLD ignored: the kernel reaped it already
            pass
    _wait_for_path(pid_file, 30_000)
    return _read_small_file(pid_file)


def spawn_grandchild(ctx):
    """Input "pid_file,plain|daemon,return|hang": forks a lingering descendant; result its pid, or hangs."""
    pid_file, kind, then = _fields(_input(ctx), b",", 3, "spawn_grandchild")
    child = _spawn_lingering(pid_file, kind == b"daemon")
    if then == b"hang":
        _hang_forever()
    ctx.write(child)


def _leftover_thread(named):
    _set_thread_name(b"ek-leftover")
    named.set()
    while True:
        _sleep_ms(10)


def leave_thread(ctx):
    """Leaves a thread named "ek-leftover" running after the task returns. Result "ok"."""
    named = threading.Event()
    threading.Thread(target=_leftover_thread, args=(named,), name="ek-leftover", daemon=True).start()
    named.wait()  # only the thread itself can set its name: the task returns once it has
    ctx.write(b"ok")


def leave_child(ctx):
    """Input: a pid file. Leaves a child process named "ek-leftover" running. Result: its pid."""
    ctx.write(_spawn_lingering(_input(ctx), False))


# ---------------------------------------------------------------------------
# Synchronising with the test through files (C++: probe_sync.cpp)

_LONGEST_WAIT_S = 120
_arrivals = 0
_arrivals_lock = threading.Lock()


def _entries_starting_with(directory, prefix):
    try:
        names = os.listdir(directory)
    except OSError as error:
        raise _os_error(error.errno, f"probe: opendir {_text(directory)}") from None
    return sum(1 for name in names if name.startswith(prefix) and b".tmp." not in name)


def _identity_text():
    worker = _getenv(b"EXECKIT_WORKER_ID") or b""
    return b"pid=" + str(os.getpid()).encode() + b"\nworker_id=" + worker + b"\n"


def gate(ctx):
    """Input "dir,id": announces dir/started.<id>, waits for dir/release.<id> or dir/release.all."""
    directory, name = _fields(_input(ctx), b",", 2, "gate")
    own_pid = str(os.getpid()).encode()
    _write_file_atomically(directory + b"/started." + name, own_pid)
    until = time.monotonic() + _LONGEST_WAIT_S
    while not _path_exists(directory + b"/release." + name) and not _path_exists(directory + b"/release.all"):
        if time.monotonic() > until:
            raise RuntimeError(f"probe: gate {_text(name)} was never released")
        _sleep_ms(1)
    _write_file_atomically(directory + b"/finished." + name, own_pid)
    ctx.write(_identity_text())


def rendezvous(ctx):
    """Input "dir,n": announces itself in dir and waits until n tasks have."""
    global _arrivals
    directory, count = _fields(_input(ctx), b",", 2, "rendezvous")
    wanted = _parse_decimal(count, "rendezvous count")
    with _arrivals_lock:
        _arrivals += 1
        arrival = _arrivals
    _write_file_atomically(directory + b"/arrived." + f"{os.getpid()}.{arrival}".encode(), b"")
    until = time.monotonic() + _LONGEST_WAIT_S
    while _entries_starting_with(directory, b"arrived.") < wanted:
        if time.monotonic() > until:
            raise RuntimeError(f"probe: rendezvous of {_text(count)} never completed")
        _sleep_ms(1)
    ctx.write(_identity_text())


# ---------------------------------------------------------------------------
# Large results (C++: probe_spill.cpp)

def _open_file_under(directory):
    """The path of a file this process has open under `directory`, or b""."""
    try:
        entries = _fd_entries()
    except OSError as error:
        raise _os_error(error.errno, "probe: opendir /proc/self/fd") from None
    found = b""
    for _, target in entries:
        if target and target.startswith(directory + b"/") and not target.endswith(b" (deleted)"):
            found = target
    return found


def _write_file(path, size, seed):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise _os_error(error.errno, f"probe: create {_text(path)}") from None
    try:
        stream = ByteStream(seed)
        left = size
        while left > 0:
            n = min(left, 1 << 16)
            try:
                written = os.write(fd, stream.read(n))
            except OSError as error:
                raise _os_error(error.errno, f"probe: write {_text(path)}") from None
            if written != n:
                raise _os_error(0, f"probe: write {_text(path)}")
            left -= n
    finally:
        os.close(fd)


def _check(call, what):
    try:
        call()
    except OSError as error:
        raise _os_error(error.errno, f"probe: {what}") from None


def write_then(ctx):
    """Input "N,action,marker": N bytes of ByteStream(7), the marker file, then the action."""
    size, action, marker = _fields(_input(ctx), b",", 3, "write_then")
    _write_stream(ctx, _parse_decimal(size, "write_then size"), 7)
    if marker != b"-":
        _write_file_atomically(marker, b"")
    if action == b"ok":
        return
    if action == b"fail":
        raise RuntimeError("probe: write_then failing as asked")
    if action == b"hang":
        _hang_forever()
    if action == b"abort":
        os.abort()
    if action == b"exit":
        os._exit(3)
    if action.startswith(b"wait="):
        _wait_for_path(action[5:], 120_000)
        return
    raise ValueError(f"probe: write_then: unknown action '{_text(action)}'")


def swap_spill(ctx):
    """Input "spill_dir,kind,size,canary": writes ByteStream(1), then replaces its own spill file."""
    directory, kind, size_text, canary = _fields(_input(ctx), b",", 4, "swap_spill")
    size = _parse_decimal(size_text, "swap_spill size")
    _write_stream(ctx, size, 1)
    spill = _open_file_under(directory)
    if not spill:
        raise NoOpenSpillFile(f"no file under {_text(directory)} is open while the task runs")
    swap = spill + b".swap"
    shown = _text(swap)
    if kind == b"symlink":
        _check(lambda: os.symlink(canary, swap), f"symlink {shown}")
    elif kind == b"fifo":
        _check(lambda: os.mkfifo(swap, 0o600), f"mkfifo {shown}")
    elif kind == b"wrong_size":
        _write_file(swap, size + 4096, 1)
    elif kind == b"foreign_owner":
        _write_file(swap, size, 1)
        _check(lambda: os.chown(swap, _NOBODY, _NOBODY), f"chown {shown}")
    elif kind == b"hardlink":
        try:
            os.link(canary, swap, follow_symlinks=False)
        except OSError as error:
            raise CannotLink(f"cannot link {_text(canary)} to {shown}: {os.strerror(error.errno)}") from None
    elif kind == b"directory":
        _check(lambda: os.unlink(spill), f"unlink {_text(spill)}")
        _check(lambda: os.mkdir(spill, 0o700), f"mkdir {_text(spill)}")
        return
    else:
        raise ValueError(f"probe: swap_spill: unknown kind '{_text(kind)}'")
    _check(lambda: os.rename(swap, spill), f"rename {shown}")


# ---------------------------------------------------------------------------
# Tampering with a delivered result (C++: probe_tamper.cpp)

_RESULT_SEED = 41
_JUNK = b"\xa5" * 4096
_kept_mappings = []  # addresses of tamper_later's mappings: they outlive the task


def _is_result_file(target, spill_dir):
    return target.startswith(spill_dir + b"/") or target.startswith(b"/memfd:")


def _result_fds(spill_dir):
    """(fd, name) of files open here that may hold a result; name b"" for a memfd or an unnamed file."""
    try:
        entries = _fd_entries()
    except OSError as error:
        raise _os_error(error.errno, "probe: opendir /proc/self/fd") from None
    found = []
    for name, target in entries:
        if not target or not _is_result_file(target, spill_dir):
            continue
        named = not target.startswith(b"/memfd:") and not target.endswith(b" (deleted)")
        found.append((int(name), target if named else b""))
    return found


def _tamper(reopen_path, action, size):
    """Changes the file behind a /proc/self/fd path through a writable handle. Returns 0 or an errno."""
    try:
        fd = os.open(reopen_path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as error:
        return error.errno
    number = 0
    try:
        if action == "t":
            os.ftruncate(fd, 0)
        elif action == "e":
            os.ftruncate(fd, size * 2)
            os.pwrite(fd, _JUNK, size)
        else:
            os.pwrite(fd, _JUNK, 0)
            os.pwrite(fd, _JUNK, size // 2)
    except OSError as error:
        number = error.errno
    os.close(fd)
    return number


def _action_code(action):
    if action in (b"truncate", b"extend", b"overwrite"):
        return chr(action[0])
    raise ValueError(f"probe: unknown tamper action '{_text(action)}'")


class _Attack:
    """What a left-behind attacker needs, prepared before any fork."""

    def __init__(self, handle, result_name, directory, action, size):
        self.reopen_path = b"/proc/self/fd/" + str(handle).encode()
        self.name = result_name
        self.go = directory + b"/go"
        self.acted = directory + b"/acted"
        self.acted_tmp = directory + b"/acted.tmp"
        self.action = action
        self.size = size

    def run(self):
        """Spins (no sleep) until the caller has the result, tampers, reports the errno in dir/acted."""
        start = time.monotonic()
        while not _stat_ok(self.go) and (not self.name or _stat_ok(self.name)):
            if time.monotonic() - start > _LONGEST_WAIT_S:
                return
        number = _tamper(self.reopen_path, self.action, self.size)
        try:
            fd = os.open(self.acted_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        try:
            os.write(fd, str(number).encode())
        except OSError:
            pass
        os.close(fd)
        try:
            os.rename(self.acted_tmp, self.acted)
        except OSError:
            pass


def _stat_ok(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _reopen(fd, flags):
    return os.open(b"/proc/self/fd/" + str(fd).encode(), flags | os.O_CLOEXEC)


def _map_shared(fd, size):
    """mmap(2) itself: Python's mmap keeps a copy of the fd, and the mapping must hold none."""
    call = _libc.mmap
    call.restype = ctypes.c_void_p
    call.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    address = call(None, size, 0x1 | 0x2, 0x01, fd, 0)  # PROT_READ | PROT_WRITE, MAP_SHARED
    if address is None or address == ctypes.c_void_p(-1).value:
        raise _os_error(ctypes.get_errno(), "probe: mmap result file")
    return address


def _write_result(ctx, size):
    _write_stream(ctx, size, _RESULT_SEED)


def tamper_later(ctx):
    """Input "spill_dir,size,mode,action,dir": writes ByteStream(41), then leaves something to change it."""
    spill_dir, size_text, mode, action_text, directory = _fields(_input(ctx), b",", 5, "tamper_later")
    size = _parse_decimal(size_text, "tamper_later size")
    action = _action_code(action_text)
    _write_result(ctx, size)
    found = _result_fds(spill_dir)
    if not found:
        raise NoResultHandle(f"no file under {_text(spill_dir)} and no memfd is open while the task runs")
    handles = []
    for fd, _ in found:
        try:
            handles.append(_reopen(fd, os.O_RDWR if mode == b"keep_mapping" else os.O_RDONLY))
        except OSError as error:
            raise _os_error(error.errno, f"probe: reopen fd {fd}") from None
    if mode == b"keep_handle":
        return  # the handles stay open
    if mode == b"keep_mapping":
        for handle in handles:
            _kept_mappings.append(_map_shared(handle, size))
            os.close(handle)
        return
    attacks = [_Attack(handle, name, directory, action, size) for handle, (_, name) in zip(handles, found)]
    if mode == b"thread":
        _write_file_atomically(directory + b"/attacker", str(os.getpid()).encode())
        threading.Thread(target=lambda: [attack.run() for attack in attacks], daemon=True).start()
        return
    if mode != b"grandchild":
        raise ValueError(f"probe: tamper_later: unknown mode '{_text(mode)}'")
    try:
        child = os.fork()
    except OSError as error:
        raise _os_error(error.errno, "probe: fork") from None
    if child == 0:
        try:
            # Only the read-only handles: a copy of a writable fd would count as a writer.
            for fd, _ in found:
                os.close(fd)
            for attack in attacks:
                attack.run()
        finally:
            os._exit(0)
    for handle in handles:
        os.close(handle)
    _write_file_atomically(directory + b"/attacker", str(child).encode())


def tamper_kept(ctx):
    """Input "spill_dir,action,size": changes results through handles and mappings kept here. Result "acted <n>"."""
    spill_dir, action_text, size_text = _fields(_input(ctx), b",", 3, "tamper_kept")
    action = _action_code(action_text)
    size = _parse_decimal(size_text, "tamper_kept size")
    acted = 0
    for fd, _ in _result_fds(spill_dir):
        if _tamper(b"/proc/self/fd/" + str(fd).encode(), action, size) == 0:
            acted += 1
    lines = _read_file("/proc/self/maps").split(b"\n")
    for line in lines:
        slash = line.find(b"/")
        if slash < 0 or not _is_result_file(line[slash:], spill_dir) or b" rw-s " not in line:
            continue
        ctypes.memmove(int(line[:line.find(b"-")], 16), _JUNK, len(_JUNK))
        acted += 1
    ctx.write(f"acted {acted}".encode())


# ---------------------------------------------------------------------------
# Timers and pending signals (C++: probe_timers.cpp)

# A distinctive interval tells the task's timers from a backend's own.
_MARKER_INTERVAL_US = 7000
_CPU_TIMER_FIRST_US = 20_000
_WALL_TIMER_FIRST_S = 3600

# timer_create, timer_settime, timer_gettime: the kernel's timer ids, which
# glibc's timer_t is not always.
_TIMER_SYSCALLS = {"x86_64": (222, 223, 224), "aarch64": (107, 110, 108)}

_ITIMERS = {b"real": signal.ITIMER_REAL, b"virtual": signal.ITIMER_VIRTUAL, b"prof": signal.ITIMER_PROF}

_CLOCK_MONOTONIC = 1
_CLOCK_PROCESS_CPUTIME_ID = 2
_SIGEV_SIGNAL = 0


class _Timeval(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long)]


class _Itimerval(ctypes.Structure):
    _fields_ = [("interval", _Timeval), ("value", _Timeval)]


class _Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("interval", _Timespec), ("value", _Timespec)]


class _Sigevent(ctypes.Structure):
    _fields_ = [("value", ctypes.c_void_p), ("signo", ctypes.c_int), ("notify", ctypes.c_int),
                ("pad", ctypes.c_int * 12)]


def _itimer_named(name):
    which = _ITIMERS.get(name)
    if which is None:
        raise ValueError(f"probe: unknown interval timer '{_text(name)}'")
    return which


def _syscall(number, *arguments):
    call = _libc.syscall
    call.restype = ctypes.c_long
    return call(ctypes.c_long(number), *arguments)


def _timer_syscalls():
    numbers = _TIMER_SYSCALLS.get(platform.machine())
    if numbers is None:
        raise _os_error(38, "probe: timer_create")  # ENOSYS: no syscall numbers for this machine
    return numbers


def _create_posix_timer(clock, first_s, first_us):
    create, settime, _ = _timer_syscalls()
    event = _Sigevent(notify=_SIGEV_SIGNAL, signo=int(signal.SIGALRM))
    timer = ctypes.c_int(-1)
    if _syscall(create, ctypes.c_long(clock), ctypes.byref(event), ctypes.byref(timer)) != 0:
        raise _os_error(ctypes.get_errno(), "probe: timer_create")
    spec = _Itimerspec(interval=_Timespec(0, _MARKER_INTERVAL_US * 1000), value=_Timespec(first_s, first_us * 1000))
    if _syscall(settime, ctypes.c_long(timer.value), ctypes.c_long(0), ctypes.byref(spec), None) != 0:
        raise _os_error(ctypes.get_errno(), "probe: timer_settime")
    return timer.value


def _posix_timer_state(timer):
    _, _, gettime = _timer_syscalls()
    spec = _Itimerspec()
    if _syscall(gettime, ctypes.c_long(timer), ctypes.byref(spec)) != 0:
        return "gone"
    marked = spec.interval.sec == 0 and spec.interval.nsec == _MARKER_INTERVAL_US * 1000
    return "armed" if marked and (spec.value.sec != 0 or spec.value.nsec != 0) else "off"


def arm_timer(ctx):
    """Input: real | virtual | prof | posix_cpu | posix_wall. Arms it. Result: the POSIX timer id, or "-"."""
    kind = _input(ctx)
    if kind == b"posix_cpu":
        ctx.write(str(_create_posix_timer(_CLOCK_PROCESS_CPUTIME_ID, 0, _CPU_TIMER_FIRST_US)).encode())
        return
    if kind == b"posix_wall":
        ctx.write(str(_create_posix_timer(_CLOCK_MONOTONIC, _WALL_TIMER_FIRST_S, 0)).encode())
        return
    which = _itimer_named(kind)
    first = _Timeval(_WALL_TIMER_FIRST_S, 0) if which == signal.ITIMER_REAL else _Timeval(0, _CPU_TIMER_FIRST_US)
    value = _Itimerval(interval=_Timeval(0, _MARKER_INTERVAL_US), value=first)
    call = _libc.setitimer
    call.restype = ctypes.c_int
    if call(ctypes.c_int(which), ctypes.byref(value), None) != 0:
        raise _os_error(ctypes.get_errno(), "probe: setitimer")
    ctx.write(b"-")


def timer_state(ctx):
    """Input: a POSIX timer id from arm_timer, or "-". Result: "<timer> armed|off[|gone]" lines."""
    lines = []
    call = _libc.getitimer
    call.restype = ctypes.c_int
    for name in (b"real", b"virtual", b"prof"):
        value = _Itimerval()
        if call(ctypes.c_int(_itimer_named(name)), ctypes.byref(value)) != 0:
            raise _os_error(ctypes.get_errno(), "probe: getitimer")
        armed = (value.interval.sec == 0 and value.interval.usec == _MARKER_INTERVAL_US
                 and (value.value.sec != 0 or value.value.usec != 0))
        lines.append(name + (b" armed\n" if armed else b" off\n"))
    timer = _input(ctx)
    if timer != b"-":
        state = _posix_timer_state(_parse_decimal(timer, "timer id", _INT_MIN, _INT_MAX))
        lines.append(b"posix " + state.encode() + b"\n")
    ctx.write(b"".join(lines))


def leave_pending(ctx):
    """Blocks SIGUSR1 and SIGUSR2, raises SIGUSR1 at this thread, sends SIGUSR2 to the process. Result "ok"."""
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1, signal.SIGUSR2])
    except OSError as error:
        raise _os_error(error.errno, "probe: sigprocmask") from None
    try:
        signal.raise_signal(signal.SIGUSR1)
    except OSError as error:
        raise _os_error(error.errno, "probe: raise") from None
    try:
        os.kill(os.getpid(), signal.SIGUSR2)
    except OSError as error:
        raise _os_error(error.errno, "probe: kill") from None
    ctx.write(b"ok")


def pending_signals(ctx):
    """Result: the numbers of the signals pending for the task (thread or process), space-separated."""
    try:
        pending = signal.sigpending()
    except OSError as error:
        raise _os_error(error.errno, "probe: sigpending") from None
    numbers = sorted(int(number) for number in pending if 1 <= int(number) < int(signal.SIGRTMIN))
    ctx.write(" ".join(str(number) for number in numbers).encode())
