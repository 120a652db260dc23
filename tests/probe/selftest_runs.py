"""One case through one runner: its directories, its process, and a
normalised description of everything it did (the thing compared)."""

import dataclasses
import hashlib
import os
import re
import select
import signal
import stat
import subprocess
import threading
import time

# What a C++ exception's type corresponds to in Python (docs/probe.md "Failures").
CPP_ERROR_TYPES = {
    "std::runtime_error": "RuntimeError",
    "std::invalid_argument": "ValueError",
    "std::system_error": "OSError",
    "std::out_of_range": "OverflowError",
    "std::bad_alloc": "MemoryError",
}

OUTCOME_KINDS = ("result", "spilled", "error", "refused", "load", "missing")
SHOWN_BYTES = 2048  # longer bytes are compared by length and hash


@dataclasses.dataclass
class Runner:
    language: str  # "cpp" or "python"
    argv: list  # the command before the runner's own arguments
    probe_file: str  # the probe module's file name in the probe dir
    shadow_file: str
    unresolved_file: str


@dataclasses.dataclass
class Case:
    id: str
    calls: list  # (function, input) or (module, function, input)
    spill: bool = False
    dirs: tuple = ()  # directories made under the run dir first
    files: dict = dataclasses.field(default_factory=dict)  # relative path -> bytes, made first
    during: object = None  # f(run): while the runner runs
    after: object = None  # f(run): once it ended
    observe: tuple = ()  # relative paths whose content (or listing, for "dir/") is compared
    pid_files: tuple = ()  # relative paths of files naming processes the task left behind
    check: object = None  # f(run, observation) -> list of problems, per runner
    pdeathsig: bool = False
    python_signals: bool = False  # both runners start with CPython's own signal state
    thread: bool = False  # each call runs in a thread of its own, not the main thread
    cli: bool = False  # also compare each call with the C++ probe run by `execkit run` (selftest_cli.py)
    timeout: float = 30
    # call index -> the outcomes it may have: a call whose outcome races with
    # the process's death, where either is right, compares as "one of them".
    racy: dict = dataclasses.field(default_factory=dict)


def shown(data, limit=SHOWN_BYTES):
    if len(data) > limit:
        return f"<{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}>"
    return data.decode("utf-8", "backslashreplace")


class Run:
    """A runner process for one case, and what it did."""

    def __init__(self, case, runner, root, probe_dir, base_env):
        self.case = case
        self.runner = runner
        self.probe_dir = probe_dir
        self.dir = os.path.join(root, runner.language)
        self.out = os.path.join(self.dir, "out")
        self.spill = os.path.join(self.dir, "spill")
        self.work = os.path.join(self.dir, "work")
        self.env = base_env
        self.pid = None
        self.cmdline = None
        self.status = None
        self.rusage = None
        self.stdout = b""
        self.stderr = b""
        self.leftovers = None
        self.problems = []

    # ---- for the cases' hooks

    def path(self, relative):
        return os.path.join(self.dir, relative)

    def wait_for(self, predicate, what, timeout=15):
        """Polls a condition; a case whose condition never comes fails with `what`."""
        until = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > until:
                raise TimeoutError(f"{self.runner.language}: waited {timeout} s for {what}")
            time.sleep(0.002)

    def wait_for_file(self, relative, timeout=15):
        self.wait_for(lambda: os.path.exists(self.path(relative)), relative, timeout)

    def touch(self, relative):
        with open(self.path(relative), "wb"):
            pass

    def kill(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def leftover_pids(self):
        pids = []
        for relative in self.case.pid_files:
            try:
                with open(self.path(relative), "rb") as file:
                    pids.append(int(file.read()))
            except (OSError, ValueError):
                pass
        return pids

    def leftover_ended(self, pid):
        """The process exited (a zombie until the self-test reaps it) or is gone."""
        try:
            with open(f"/proc/{pid}/stat", "rb") as file:
                return file.read().rsplit(b")", 1)[1].split()[0] == b"Z"
        except OSError:
            return True

    def note_leftovers(self):
        """How the processes named in the case's pid files look now."""
        self.leftovers = {}
        for relative, pid in zip(self.case.pid_files, self.leftover_pids()):
            try:
                with open(f"/proc/{pid}/comm", "rb") as file:
                    comm = file.read().strip().decode()
                with open(f"/proc/{pid}/stat", "rb") as file:
                    fields = file.read().rsplit(b")", 1)[1].split()
                state, parent, session = fields[0].decode(), int(fields[1]), int(fields[3])
                alive = "zombie" if state == "Z" else "alive"
                self.leftovers[relative] = (f"{alive} comm={comm} parent={'runner' if parent == self.pid else 'other'}"
                                            f" session={'runner' if session == self.pid else 'own'}")
            except OSError:
                self.leftovers[relative] = "gone"

    # ---- running

    def template(self, text):
        values = {
            "{run}": self.dir, "{spill}": self.spill,
            "{probe_copy}": os.path.join(self.dir, "copy", self.runner.probe_file),
            "{shadow_a}": os.path.join(self.probe_dir, "shadow_a", self.runner.shadow_file),
            "{shadow_b}": os.path.join(self.probe_dir, "shadow_b", self.runner.shadow_file),
            "{unresolved}": os.path.join(self.probe_dir, "broken", self.runner.unresolved_file),
        }
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    def prepare(self):
        for directory in (self.out, self.spill, self.work, os.path.join(self.dir, "copy")):
            os.makedirs(directory)
        # Writable for tasks that give up root (change_credentials).
        for directory in (self.dir, self.out, self.spill, self.work):
            os.chmod(directory, 0o777)
        os.chmod(self.spill, 0o700)
        for directory in self.case.dirs:
            os.makedirs(self.path(directory), mode=0o777)
        for relative, content in self.case.files.items():
            with open(self.path(relative), "wb") as file:
                file.write(content)
        _copy(os.path.join(self.probe_dir, self.runner.probe_file),
              os.path.join(self.dir, "copy", self.runner.probe_file))
        argv = list(self.runner.argv) + ["--out", self.out]
        if self.case.spill:
            argv += ["--spill-dir", self.spill]
        if self.case.python_signals:
            argv += ["--python-signals", "yes"]
        if self.case.thread:
            argv += ["--thread", "yes"]
        argv += ["-L", self.probe_dir, "--"]
        self.prepared_calls = []
        for index, call in enumerate(self.case.calls):
            module, function, data = call if len(call) == 3 else ("execkit_probe",) + tuple(call)
            input_file = os.path.join(self.dir, f"input.{index}")
            with open(input_file, "wb") as file:
                file.write(data if isinstance(data, bytes) else self.template(data).encode())
            self.prepared_calls.append((self.template(module), function, input_file))
            argv += [self.template(module), function, input_file]
        if self.case.pdeathsig:
            argv = ["setpriv", "--pdeathsig", "KILL", "--"] + argv
        self.argv = argv

    def execute(self):
        self.prepare()
        process = subprocess.Popen(self.argv, cwd=self.work, env=self.env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.pid = process.pid
        self.cmdline = b"\0".join(arg.encode() for arg in self.argv[4 if self.case.pdeathsig else 0:]) + b"\0"
        readers = [_Reader(process.stdout), _Reader(process.stderr)]
        try:
            if self.case.during:
                self.case.during(self)
            self._wait(process, self.case.timeout)
            if self.case.after:
                self.case.after(self)
            if self.leftovers is None:
                self.note_leftovers()
        finally:
            self.kill()
            for pid in self.leftover_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if process.returncode is None:
                self._wait(process, 10)
        # Whatever the task left behind held stdout and stderr open until now.
        for reader in readers:
            reader.join(10)
            if reader.is_alive():
                self.problems.append(f"{self.runner.language}: stdout or stderr still open 10 s after the end")
        self.stdout, self.stderr = readers[0].data, readers[1].data
        return self.observe()

    def _wait(self, process, timeout):
        pidfd = os.pidfd_open(process.pid)
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            if not poller.poll(timeout * 1000):
                self.problems.append(f"{self.runner.language}: still running after {timeout} s; killed")
                self.kill()
                poller.poll()
        finally:
            os.close(pidfd)
        _, status, self.rusage = os.wait4(process.pid, 0)
        self.status = status
        process.returncode = os.waitstatus_to_exitcode(status)

    # ---- describing

    def normalise(self, data):
        if len(data) <= 65536:
            if self.cmdline:
                data = data.replace(self.cmdline, b"{cmdline}")
            data = data.replace(self.dir.encode(), b"{run}").replace(self.probe_dir.encode(), b"{probe_dir}")
            pids = [(self.pid, b"{pid}")] if self.pid else []
            for pid, name in pids + [(pid, b"{child}") for pid in self.leftover_pids()]:
                data = re.sub(rb"(?<![0-9])%d(?![0-9])" % pid, name, data)
            data = re.sub(rb"pipe:\[[0-9]+\]", b"pipe:[N]", data)
        return shown(data)

    def outcome(self, index):
        prefix = os.path.join(self.out, str(index))
        for kind in OUTCOME_KINDS:
            try:
                with open(f"{prefix}.{kind}", "rb") as file:
                    content = file.read()
            except FileNotFoundError:
                continue
            if kind == "error":
                error_type, _, message = content.partition(b"\n")
                error_type = CPP_ERROR_TYPES.get(error_type.decode(), error_type.decode())
                return f"error {error_type}: {self.normalise(message)}"
            if kind == "spilled":
                return f"spilled {self.describe_entry(content.decode())}"
            if kind == "load":
                return "load failed"  # each language words it its own way
            return f"{kind} {self.normalise(content)}"
        return "none"

    def describe_entry(self, path):
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return "absent"
        if stat.S_ISLNK(info.st_mode):
            return f"symlink to {self.normalise(os.readlink(path).encode())}"
        if stat.S_ISDIR(info.st_mode):
            return f"directory {sorted(os.listdir(path))}"
        if stat.S_ISFIFO(info.st_mode):
            return "fifo"
        with open(path, "rb") as file:
            content = file.read()
        return f"file uid={info.st_uid} links={info.st_nlink} {self.normalise(content)}"

    def observe(self):
        end = (f"signal {signal.Signals(-self.status_code()).name}" if self.status_code() < 0
               else f"exit {self.status_code()}")
        observation = {
            "end": end,
            "calls": [self.outcome(index) for index in range(len(self.case.calls))],
            "stdout": self.normalise(self.stdout),
            "stderr": self.normalise(self.stderr),
            "files": {},
            "leftovers": self.leftovers,
        }
        for relative in self.case.observe:
            path = self.path(relative)
            if relative.endswith("/"):
                names = sorted(os.listdir(path)) if os.path.isdir(path) else None
                observation["files"][relative] = [self.normalise(name.encode()) for name in names or []]
            else:
                observation["files"][relative] = self.describe_entry(path)
        if self.case.spill:
            observation["spill"] = {name: self.describe_entry(os.path.join(self.spill, name))
                                    for name in sorted(os.listdir(self.spill))}
        return observation

    def status_code(self):
        return os.waitstatus_to_exitcode(self.status)


def _copy(source, target):
    with open(source, "rb") as reader, open(target, "wb") as writer:
        writer.write(reader.read())


class _Reader(threading.Thread):
    """Reads a pipe to its end."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.data = b""
        self.start()

    def run(self):
        chunks = []
        while True:
            chunk = self.pipe.read1(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        self.data = b"".join(chunks)
        self.pipe.close()
