"""What a task sees: its module, loaded fresh for the call, and its context.

Task convention: module `X` is the file `X.py` in the call's search-path
directories, in order (nothing else: not sys.path, not the cwd); a name with
a '/' is the path of the file. A task is a module-level function
`task(ctx)`; `ctx.input` is bytes, `ctx.write(data)` appends to the result,
and a task fails by raising.
"""
import collections
import os
import types

from execkit_outcomes import ResultError

__all__ = ["TaskLoadError", "ResultWriteError", "load_task", "task_function", "TaskContext", "ResultSink"]

_CODE_CACHE_SIZE = 8


class TaskLoadError(Exception):
    """The call's task cannot be found or loaded; becomes a TaskError."""

    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


class ResultWriteError(Exception):
    """Raised into the task by ctx.write; the call ends with a ResultError
    whatever the task does with it."""


class _CodeCache:
    # Compiled code by file identity: every call gets a fresh module object
    # (no state from any earlier call), without recompiling an unchanged file.
    def __init__(self):
        self._entries = collections.OrderedDict()

    def code_of(self, path):
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, os.path.realpath(path))
            code = self._entries.get(key)
            if code is None:
                code = compile(f.read(), path, "exec", dont_inherit=True)
                self._entries[key] = code
                while len(self._entries) > _CODE_CACHE_SIZE:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        return code


_cache = _CodeCache()


def _locate(module, search_path):
    if "/" in module:
        if os.path.isfile(module):
            return module
        raise TaskLoadError("ModuleNotFoundError", f"task module '{module}': no such file")
    if not module or module.startswith("."):
        raise TaskLoadError("ModuleNotFoundError", f"task module '{module}': not a module name")
    for directory in search_path:
        path = os.path.join(directory, module + ".py")
        if os.path.isfile(path):
            return path
    raise TaskLoadError("ModuleNotFoundError",
                        f"no task module '{module}': {module}.py is in none of the call's search path {list(search_path)}")


def load_task(module, search_path):
    """A fresh module object of the file `module` names: never cached in
    sys.modules, so calls naming another file (or the same name through
    another directory) never see its state (ISO-3, ISO-7)."""
    path = os.path.abspath(_locate(module, search_path))
    name = os.path.splitext(os.path.basename(path))[0]
    try:
        code = _cache.code_of(path)
        mod = types.ModuleType(name)
        mod.__file__ = path
        mod.__builtins__ = __builtins__
        exec(code, mod.__dict__)
    except BaseException as e:
        raise TaskLoadError(type(e).__name__, f"task module '{module}' ({path}) failed to load: {e}") from None
    return mod


def task_function(mod, function):
    """The task `function` of a module load_task returned."""
    fn = getattr(mod, function, None)
    if fn is None:
        raise TaskLoadError("AttributeError", f"task module '{mod.__name__}' ({mod.__file__}) has no task '{function}'")
    if not callable(fn):
        raise TaskLoadError("TypeError", f"'{function}' in task module '{mod.__name__}' ({mod.__file__}) is not a function")
    return fn


class ResultSink:
    """A call's result: kept in memory up to `memory_bytes`, then streamed to
    `path` (created O_EXCL|O_NOFOLLOW, mode 0600). The first failure (too
    large, a write error) sticks: it decides the call's outcome."""

    def __init__(self, path, max_bytes, memory_bytes=64 << 10):
        self.path, self.max_bytes, self.memory_bytes = path, max_bytes, memory_bytes
        self.size = 0
        self.failure = None
        self._buffer = bytearray()
        self._fd = None

    def write(self, data):
        if self.failure is not None:
            raise ResultWriteError(self.failure.message)
        view = memoryview(data).cast("B")
        if self.size + len(view) > self.max_bytes:
            self._fail("too_large", f"the result exceeds max_result_bytes={self.max_bytes} "
                                    f"({self.size} bytes written, {len(view)} more offered)")
        try:
            if self._fd is None and self.size + len(view) <= self.memory_bytes:
                self._buffer += view
            else:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                    self._write_all(memoryview(self._buffer))
                    self._buffer = bytearray()
                self._write_all(view)
        except OSError as e:
            self._fail("write_failed", f"writing the result to {self.path} failed after {self.size} bytes: {e.strerror}")
        self.size += len(view)

    def _write_all(self, view):
        while view:
            view = view[os.write(self._fd, view):]

    def _fail(self, reason, message):
        self.failure = ResultError(reason, message)
        raise ResultWriteError(message)

    @property
    def spilled(self):
        return self._fd is not None

    def finish(self):
        """Closes the file; the bytes kept in memory, or None if spilled."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = -1
            return None
        return bytes(self._buffer)

    def discard(self):
        if self._fd is not None:
            if self._fd >= 0:
                os.close(self._fd)
            self._fd = None
            try:
                os.unlink(self.path)
            except OSError:
                pass
        self._buffer = bytearray()


class TaskContext:
    """The `ctx` a task receives."""

    def __init__(self, data, sink):
        self.input = data
        self._sink = sink

    def write(self, data):
        """Appends bytes-like `data` to the result."""
        self._sink.write(data)
