"""Tasks for the tests of execkit's Python backend side (not the suite's
probe, docs/probe.md). Inputs and results are text unless noted."""
import os
import resource
import signal
import sys
import threading
import time

calls = 0


def _text(ctx):
    return ctx.input.decode()


def echo(ctx):
    ctx.write(ctx.input)


def count(ctx):
    """Module state: how many calls this module object has seen."""
    global calls
    calls += 1
    ctx.write(str(calls).encode())


def fail(ctx):
    print(f"stderr says: {_text(ctx)}", file=sys.stderr)
    raise RuntimeError(_text(ctx))


def print_and_succeed(ctx):
    print(_text(ctx), file=sys.stderr)
    ctx.write(b"ok")


def stderr_flood_then_fail(ctx):
    """Input "N,marker": N bytes of filler on stderr, then the marker, then fails."""
    size, marker = _text(ctx).split(",", 1)
    block = (b"f" * 63 + b"\n") * 1024
    left = int(size)
    while left:
        left -= os.write(2, block[:min(left, len(block))])
    os.write(2, marker.encode())
    raise RuntimeError(marker)


def flood(ctx):
    """Input "stdout|stderr,MiB"."""
    stream, mib = _text(ctx).split(",")
    fd = {"stdout": 1, "stderr": 2}[stream]
    block = b"z" * (1 << 20)
    for _ in range(int(mib)):
        view = memoryview(block)
        while view:
            view = view[os.write(fd, view):]
    ctx.write(b"ok")


def env(ctx):
    """Input: a name; result: its value, or "<unset>"."""
    ctx.write(os.environ.get(_text(ctx), "<unset>").encode())


def environ(ctx):
    ctx.write("\n".join(f"{k}={v}" for k, v in sorted(os.environ.items())).encode())


def initial_environ(ctx):
    with open("/proc/self/environ", "rb") as f:
        ctx.write(f.read())


def mutate_env(ctx):
    os.environ["ADDED_BY_TASK"] = "1"
    os.environ.pop("PATH", None)
    os.putenv("PUTENV_ONLY", "1")
    ctx.write(b"ok")


def c_getenv(ctx):
    """Input: a name; its value in the C environment, or "<unset>"."""
    import ctypes
    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_char_p
    value = libc.getenv(ctx.input)
    ctx.write(value if value is not None else b"<unset>")


def cwd(ctx):
    ctx.write(os.getcwd().encode())


def chdir(ctx):
    os.chdir(_text(ctx))
    ctx.write(b"ok")


def grow_sys_path(ctx):
    sys.path.insert(0, "/nowhere")
    ctx.write(b"ok")


def sys_path_has_nowhere(ctx):
    ctx.write(str("/nowhere" in sys.path).encode())


def write_bytes(ctx):
    """Input: a size; writes that many bytes of a repeating pattern."""
    left = int(_text(ctx))
    chunk = bytes(range(256)) * 4096
    while left:
        n = min(left, len(chunk))
        ctx.write(chunk[:n])
        left -= n


def write_then_fail(ctx):
    ctx.write(b"w" * int(_text(ctx)))
    raise ValueError("after writing")


def write_too_much(ctx):
    """Writes 1000 bytes in pieces and swallows the error: the call must still fail."""
    try:
        for _ in range(10):
            ctx.write(b"x" * 100)
    except Exception:
        pass


def sleep(ctx):
    time.sleep(float(_text(ctx)))
    ctx.write(b"slept")


def gate(ctx):
    """Input "dir,id": announces dir/started.<id> (its pid), waits for dir/release.<id>."""
    directory, name = _text(ctx).split(",")
    _publish(os.path.join(directory, f"started.{name}"), str(os.getpid()))
    release = os.path.join(directory, f"release.{name}")
    until = time.monotonic() + 120
    while not os.path.exists(release):
        if time.monotonic() > until:
            raise RuntimeError(f"gate {name} was never released")
        time.sleep(0.002)
    ctx.write(identity_text().encode())


def crash(ctx):
    os.kill(os.getpid(), int(_text(ctx)))
    time.sleep(5)


def exit_now(ctx):
    os._exit(int(_text(ctx)))


def raise_system_exit(ctx):
    sys.exit(int(_text(ctx)))


def identity_text():
    return (f"pid={os.getpid()}\nworker_id={os.environ.get('EXECKIT_WORKER_ID', '')}\n"
            f"node_id={os.environ.get('EXECKIT_NODE_ID', '')}\n")


def identity(ctx):
    ctx.write(identity_text().encode())


def leave_thread(ctx):
    threading.Thread(target=time.sleep, args=(3600,), name="ek-leftover", daemon=True).start()
    ctx.write(b"ok")


def threads(ctx):
    names = []
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/comm") as f:
            names.append(f.read().strip())
    ctx.write("\n".join(names).encode())


def _publish(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def spawn_grandchild(ctx):
    """Input "pidfile,plain|daemon,return|hang": a child (daemon: setsid and a
    double fork) that holds stdout and stderr and sleeps; its pid goes to
    pidfile and is the result."""
    pid_file, kind, then = _text(ctx).split(",")
    if kind == "plain":
        pid = os.fork()
        if pid == 0:
            time.sleep(3600)
            os._exit(0)
        _publish(pid_file, str(pid))
    else:
        reader, writer = os.pipe()
        first = os.fork()
        if first == 0:
            os.setsid()
            if os.fork() == 0:
                os.write(writer, str(os.getpid()).encode())
                time.sleep(3600)
                os._exit(0)
            os._exit(0)
        os.close(writer)
        os.waitpid(first, 0)
        pid = int(os.read(reader, 32))
        os.close(reader)
        _publish(pid_file, str(pid))
    if then == "hang":
        time.sleep(3600)
    ctx.write(str(pid).encode())


def disturb(ctx):
    """Changes what the next call must not inherit (ISO-4, ISO-5)."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    os.kill(os.getpid(), signal.SIGUSR2)  # left pending while blocked
    os.umask(0o022)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 64), hard))
    signal.setitimer(signal.ITIMER_REAL, 30)
    import ctypes
    ctypes.CDLL(None).signal(signal.SIGHUP, ctypes.c_void_p(1))  # SIG_IGN behind Python's back
    ctx.write(b"ok")


def process_state(ctx):
    mask = os.umask(0)
    os.umask(mask)
    def disposition(sig):
        handler = signal.getsignal(sig)
        return handler.name if isinstance(handler, signal.Handlers) else "handler"
    ctx.write(repr({
        "SIGUSR1": disposition(signal.SIGUSR1),
        "SIGTERM": disposition(signal.SIGTERM),
        "SIGPIPE": disposition(signal.SIGPIPE),
        "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, ())),
        "pending": sorted(int(s) for s in signal.sigpending()),
        "umask": mask,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "itimer": signal.getitimer(signal.ITIMER_REAL)[0],
        "kernel_ignored": _status_field("SigIgn"),
        "kernel_caught": _status_field("SigCgt"),
    }).encode())


def _status_field(name):
    with open("/proc/self/status") as f:
        return next(line.split()[1] for line in f if line.startswith(name + ":"))


def fds(ctx):
    lines = []
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            lines.append(f"{fd} {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass
    ctx.write("\n".join(lines).encode())


def not_a_function(ctx):
    ctx.write(b"unreachable")


not_callable = 42


def _open_file_under(directory):
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(directory + "/") and not target.endswith(" (deleted)"):
            return int(fd), target
    raise LookupError(f"no file under {directory} is open")


def swap_spill(ctx):
    """Input "spill_dir,size,canary": writes `size` bytes, then puts a
    symlink to `canary` in place of its spill file (SPILL-4)."""
    spill_dir, size, canary = _text(ctx).split(",")
    ctx.write(b"s" * int(size))
    _, path = _open_file_under(spill_dir)
    os.symlink(canary, path + ".swap")
    os.rename(path + ".swap", path)


def tamper_later(ctx):
    """Input "spill_dir,size,acted": writes `size` bytes; a thread keeps a
    read-only handle to the spill file and overwrites it through /proc once
    its name is gone (the caller took it), then creates `acted` (SPILL-8)."""
    spill_dir, size, acted = _text(ctx).split(",")
    ctx.write(b"t" * int(size))
    fd, path = _open_file_under(spill_dir)
    kept = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)

    def attack():
        until = time.monotonic() + 30
        while os.path.exists(path) and time.monotonic() < until:
            time.sleep(0.0005)
        writable = os.open(f"/proc/self/fd/{kept}", os.O_RDWR)
        os.pwrite(writable, b"\xa5" * 4096, 0)
        os.ftruncate(writable, 10)
        _publish(acted, "done")

    threading.Thread(target=attack, daemon=True).start()
