"""probe_runner.py: the Python twin of probe_runner.cpp (same arguments, same
outcome files). Runs tasks of a Python task module in this process, one
after the other, with nothing restored between them.

  probe_runner.py --out DIR [--spill-dir DIR] [--python-signals yes] [--thread yes] [-L DIR]...
                  -- (MODULE FUNCTION INPUT_FILE)...

--python-signals yes keeps the signal state CPython gives itself (its SIGINT
handler, SIGPIPE and SIGXFSZ ignored); by default the runner undoes it.
--thread yes runs each call in a thread of its own.
"""

import ctypes
import importlib.util
import os
import signal
import stat
import sys
import threading

INLINE_LIMIT = 32 * 1024  # as the reference worker: larger results spill


def write_whole(path, content):
    with open(path, "wb") as out:
        out.write(content if isinstance(content, bytes) else content.encode("utf-8", "surrogateescape"))


class Context:
    """What a task sees of its call: `input` and `write`."""

    def __init__(self, data, spill_path):
        self.input = data
        self._spill_path = spill_path
        self._inline = bytearray()
        self._fd = -1
        self._written = 0
        self.write_error = None

    def write(self, data):
        if self.write_error is not None:
            raise RuntimeError(self.write_error)
        data = memoryview(data).cast("B")
        if self._fd < 0 and (self._spill_path is None or len(self._inline) + len(data) <= INLINE_LIMIT):
            self._inline += data
            return
        if self._fd < 0:
            try:
                self._fd = os.open(self._spill_path,
                                   os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError as error:
                self._refuse(error)
            held, self._inline = bytes(self._inline), bytearray()
            self._append(memoryview(held))
        self._append(data)

    def _refuse(self, error):
        self.write_error = f"cannot write the result: {os.strerror(error.errno)}"
        raise RuntimeError(self.write_error) from None

    def _append(self, view):
        while view:
            try:
                n = os.write(self._fd, view)
            except OSError as error:
                self._refuse(error)
            view = view[n:]
            self._written += n

    def _spill_intact(self):
        try:
            held = os.fstat(self._fd)
            named = os.lstat(self._spill_path)
        except OSError:
            return False
        return (stat.S_ISREG(named.st_mode) and (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)
                and named.st_nlink == 1 and named.st_uid == os.geteuid() and named.st_size == self._written)

    def report(self, prefix, failure):
        """Writes the call's outcome file <out>/<n>.*, then lets go of the spill file."""
        try:
            if self.write_error is not None:
                write_whole(prefix + ".refused", self.write_error)
            elif failure is not None:
                write_whole(prefix + ".error", f"{failure[0]}\n{failure[1]}")
            elif self._fd < 0:
                write_whole(prefix + ".result", bytes(self._inline))
            elif not self._spill_intact():
                write_whole(prefix + ".refused", "the spill file was replaced or changed")
            else:
                write_whole(prefix + ".spilled", self._spill_path)
        finally:
            if self._fd >= 0:
                os.close(self._fd)


def parse(argv):
    options = {"out": None, "spill_dir": None, "search_path": [], "python_signals": False, "thread": False}
    i = 0
    while i < len(argv) and argv[i] != "--":
        flag, value = argv[i], argv[i + 1]
        if flag == "--out":
            options["out"] = value
        elif flag == "--spill-dir":
            options["spill_dir"] = value
        elif flag == "--python-signals":
            options["python_signals"] = value == "yes"
        elif flag == "--thread":
            options["thread"] = value == "yes"
        elif flag == "-L":
            options["search_path"].append(value)
        else:
            raise SystemExit(f"probe_runner.py: unknown option {flag}")
        i += 2
    calls = argv[i + 1:]
    if options["out"] is None or len(calls) % 3 != 0:
        raise SystemExit("probe_runner.py: usage: see the docstring")
    options["calls"] = [calls[j:j + 3] for j in range(0, len(calls), 3)]
    return options


def find_module(module, search_path):
    if "/" in module:
        return module if os.path.isfile(module) else None
    for directory in search_path:
        candidate = os.path.join(directory, module + ".py")
        if os.path.isfile(candidate):
            return candidate
    return None


def load(path, loaded):
    """The module of this file, loaded once per process under a name of its own."""
    if path not in loaded:
        spec = importlib.util.spec_from_file_location(f"execkit_task_module_{len(loaded)}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        loaded[path] = module
    return loaded[path]


def run_call(options, index, loaded):
    module_name, function, input_file = options["calls"][index]
    prefix = os.path.join(options["out"], str(index))
    path = find_module(module_name, options["search_path"])
    if path is None:
        return write_whole(prefix + ".load", f"module '{module_name}' not found")
    try:
        module = load(path, loaded)
    except Exception as error:
        return write_whole(prefix + ".load", f"{type(error).__name__}: {error}")
    task = getattr(module, function, None)
    if not callable(task):
        return write_whole(prefix + ".missing", f"no task '{function}'")
    with open(input_file, "rb") as source:
        data = source.read()
    spill = None if options["spill_dir"] is None else os.path.join(options["spill_dir"], f"call.{index}")
    context = Context(data, spill)
    failure = None
    try:
        task(context)
    except BaseException as error:
        failure = (type(error).__name__, str(error))
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    context.report(prefix, failure)


def main():
    options = parse(sys.argv[1:])
    sys.dont_write_bytecode = True
    if not options["python_signals"]:
        # A plain process, as probe_runner.cpp is: Python's own start-up choices undone.
        for number in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(number, signal.SIG_DFL)
    libc = ctypes.CDLL(None)
    libc.prctl(15, ctypes.c_char_p(b"probe-runner"), 0, 0, 0)  # PR_SET_NAME
    loaded = {}
    for index in range(len(options["calls"])):
        if not options["thread"]:
            run_call(options, index, loaded)
            continue
        call = threading.Thread(target=run_call, args=(options, index, loaded))
        call.start()
        call.join()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
