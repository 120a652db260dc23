"""The spill dir and the results in it (SPILL-3..8; the layout, lock and
sweep are those of docs/spill.md, so Python and C++ backends can share a dir).

Names in the dir:
  <pool>.lock                  flock(LOCK_EX) while the pool lives
  <pool>.<16 hex>.newlock      a lock file being created
  <pool>.<call id>.spill       one call's result, written by a worker
"""
import errno
import fcntl
import os
import re
import secrets
import stat

from execkit_outcomes import ConfigError, Result, ResultError, SpillError
from execkit_wire import MAX_INLINE_RESULT_BYTES

__all__ = ["SpillDir", "sealed_copy", "sealed_bytes"]

_ENTRY = re.compile(r"([A-Za-z0-9_-]{1,64})\.(?:(lock)|([0-9]{1,20})\.(spill)|([0-9a-f]+)\.(newlock))")
_MAX_LOCK_ATTEMPTS = 16
_SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
_COPY_CHUNK = 1 << 30


def _parse(name):
    """(kind, pool id) of a name of ours, or None: anything else is never touched."""
    m = _ENTRY.fullmatch(name)
    if not m:
        return None
    return ("lock" if m.group(2) else "spill" if m.group(4) else "newlock"), m.group(1)


def _refuse(path, problem):
    return SpillError(f'spill dir "{path}": {problem}')


def _check_dir(st, path):
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(path, "is a symlink")
    if not stat.S_ISDIR(st.st_mode):
        raise _refuse(path, "is not a directory")
    if st.st_uid != os.geteuid():
        raise _refuse(path, f"owned by uid {st.st_uid}, not {os.geteuid()}")
    if st.st_mode & 0o077:
        raise _refuse(path, f"mode {stat.S_IMODE(st.st_mode):04o} grants group/other access")


def _create_dirs(path):
    # Each missing component 0700: the umask can only remove bits.
    prefix = "/"
    for part in path.strip("/").split("/"):
        prefix = os.path.join(prefix, part)
        try:
            os.mkdir(prefix, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise _refuse(path, f'cannot create "{prefix}": {e.strerror}') from None


def _open_validated(path):
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        _create_dirs(path)
        before = os.lstat(path)
    except OSError as e:
        raise _refuse(path, f"cannot be inspected: {e.strerror}") from None
    _check_dir(before, path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        problem = {errno.ELOOP: "is a symlink", errno.ENOTDIR: "is not a directory"}.get(e.errno, f"cannot be opened: {e.strerror}")
        raise _refuse(path, problem) from None
    try:
        after = os.fstat(fd)
        _check_dir(after, path)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise _refuse(path, "was replaced while being opened")
    except BaseException:
        os.close(fd)
        raise
    return fd


class SpillDir:
    """An opened, validated spill dir holding this pool's lock."""

    def __init__(self, path, pool_id, dir_fd, lock_fd, swept):
        self.path, self.pool_id, self.fd, self._lock_fd, self.swept = path, pool_id, dir_fd, lock_fd, swept

    @classmethod
    def open(cls, path, pool_id):
        """Creates or validates `path` (SPILL-3), sweeps files of dead pools
        (SPILL-6) and takes the pool's lock. SpillError or ConfigError."""
        dir_fd = _open_validated(path)
        try:
            lock_fd, swept = _take_lock(dir_fd, path, pool_id)
        except BaseException:
            os.close(dir_fd)
            raise
        return cls(path, pool_id, dir_fd, lock_fd, swept)

    def name_of(self, call_id):
        return f"{self.pool_id}.{call_id}.spill"

    def path_of(self, call_id):
        return os.path.join(self.path, self.name_of(call_id))

    def remove(self, call_id):
        """Removes the call's spill file, if any (every terminal outcome, SPILL-5)."""
        _unlink(self.fd, self.name_of(call_id))

    def take_result(self, call_id, size, metrics):
        """The call's result as a Result the caller can keep: the file is
        opened without following links and checked (SPILL-4), its bytes are
        copied inline or into a sealed memfd, and only then is its name
        removed, so what a task left behind can no longer change the
        delivered bytes (SPILL-8)."""
        name = self.name_of(call_id)
        where = f'spill file "{os.path.join(self.path, name)}"'
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
        try:
            fd = os.open(name, flags, dir_fd=self.fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                _unlink(self.fd, name)
                raise SpillError(f"{where}: is a symlink; refused, never read") from None
            raise SpillError(f"{where}: cannot be opened: {e.strerror}") from None
        is_dir = False
        try:
            info = os.fstat(fd)
            is_dir = stat.S_ISDIR(info.st_mode)
            problem = _problem_with(info, size)
            if problem:
                raise SpillError(f"{where}: {problem}; refused")
            return _copy_result(fd, size, metrics, where)
        finally:
            os.close(fd)
            _unlink(self.fd, name, directory=is_dir)

    def close(self):
        """Removes this pool's spill files, then its lock (in that order: a
        sweeper treats a spill file without a lock as stale)."""
        if self.fd is None:
            return
        for name in os.listdir(self.fd):
            parsed = _parse(name)
            if parsed and parsed == ("spill", self.pool_id):
                _unlink(self.fd, name)
        _unlink(self.fd, f"{self.pool_id}.lock")
        os.close(self._lock_fd)
        os.close(self.fd)
        self.fd = self._lock_fd = None


def _problem_with(info, size):
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_uid != os.geteuid():
        return f"owned by uid {info.st_uid}, not {os.geteuid()}"
    if info.st_nlink != 1:
        return f"has {info.st_nlink} links (another name could change it)"
    if info.st_size != size:
        return f"holds {info.st_size} bytes, the worker wrote {size}"
    return None


def _copy_result(fd, size, metrics, where):
    if size <= MAX_INLINE_RESULT_BYTES:
        data = os.pread(fd, size, 0) if size else b""
        if len(data) != size:
            raise ResultError("unreadable", f"{where}: read {len(data)} of {size} bytes")
        return Result(metrics, data=data)
    return Result(metrics, fd=sealed_copy(fd, size, where), size=size)


def sealed_copy(fd, size, where="a result file"):
    """A sealed memfd holding the first `size` bytes of `fd`, copied in the
    kernel (sendfile); nobody can change or shrink it afterwards."""
    memfd = os.memfd_create("execkit-result", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        offset = 0
        while offset < size:
            sent = os.sendfile(memfd, fd, offset, min(size - offset, _COPY_CHUNK))
            if sent == 0:
                raise ResultError("unreadable", f"{where}: ended after {offset} of {size} bytes")
            offset += sent
        fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, _SEALS)
    except OSError as e:
        os.close(memfd)
        raise ResultError("write_failed", f"{where}: cannot copy into a sealed memfd: {e.strerror}") from None
    except BaseException:
        os.close(memfd)
        raise
    return memfd


def sealed_bytes(data):
    """A sealed memfd holding `data` (for a result held in memory)."""
    memfd = os.memfd_create("execkit-result", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(memfd, view):]
        fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(memfd)
        raise
    return memfd


def _unlink(dir_fd, name, directory=False):
    # Only ever a name relative to the dir: a symlink itself, never its target.
    try:
        if directory:
            os.rmdir(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _take_lock(dir_fd, path, pool_id):
    # Created under a temporary name and locked before it gets its final one,
    # so a sweeper never finds an unlocked lock file of a live pool.
    for _ in range(_MAX_LOCK_ATTEMPTS):
        pending = f"{pool_id}.{secrets.token_hex(8)}.newlock"
        try:
            fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue
        except OSError as e:
            raise _refuse(path, f'cannot create lock file "{pending}": {e.strerror}') from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            swept = _sweep(dir_fd, pending)
            try:
                os.link(pending, f"{pool_id}.lock", src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                os.close(fd)  # a concurrent sweeper took it before we locked it
                continue
            except FileExistsError:
                raise ConfigError("pool_id", pool_id, f'is already in use by a live pool in spill dir "{path}"') from None
            finally:
                _unlink(dir_fd, pending)
        except BaseException:
            os.close(fd)
            raise
        return fd, swept
    raise _refuse(path, f"could not create a lock file in {_MAX_LOCK_ATTEMPTS} attempts")


def _lock_if_abandoned(dir_fd, name):
    """An fd holding the lock of a dead pool, or None (owner alive, gone, odd)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        held = os.fstat(fd)
        if stat.S_ISREG(held.st_mode):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            now = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _sweep(dir_fd, own_pending):
    """Removes the files of dead pools; returns how many."""
    entries = [(name, _parse(name)) for name in os.listdir(dir_fd)]
    entries = [(name, kind, pool) for name, parsed in entries if parsed for kind, pool in [parsed]]
    removed = 0
    for name, kind, pool in entries:
        if kind == "spill" or name == own_pending:
            continue
        fd = _lock_if_abandoned(dir_fd, name)
        if fd is None:
            continue
        try:
            if kind == "lock":  # a pending lock never had spill files
                for spill, spill_kind, spill_pool in entries:
                    if spill_kind == "spill" and spill_pool == pool:
                        removed += _try_unlink(dir_fd, spill)
            removed += _try_unlink(dir_fd, name)  # while still held: nobody takes it for live
        finally:
            os.close(fd)
    # A pool publishes its lock before its first spill file and removes it
    # after its last, so a spill file without a lock is always stale.
    for name, kind, pool in entries:
        if kind == "spill" and not _exists(dir_fd, f"{pool}.lock"):
            removed += _try_unlink(dir_fd, name)
    return removed


def _try_unlink(dir_fd, name):
    try:
        os.unlink(name, dir_fd=dir_fd)
        return 1
    except OSError:
        return 0


def _exists(dir_fd, name):
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False
    except OSError:
        return True
