"""Process handling a backend and its workers share: prctl settings, and
ending a process tree through pidfds, so a reused pid is never signalled
(LIFE-8) and a daemonized grandchild is not missed (RUN-7, ISO-8)."""
import ctypes
import os
import signal
import time

__all__ = ["set_pdeathsig", "set_child_subreaper", "ppid_of", "children_of", "kill_tree", "reap_children",
           "end_stray_children"]

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option, value):
    if _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def set_pdeathsig(expected_parent, sig=signal.SIGKILL):
    """Dies with `sig` when the parent ends; False if it already has (the
    re-check closes the window between fork and prctl)."""
    _prctl(_PR_SET_PDEATHSIG, sig)
    return os.getppid() == expected_parent


def set_child_subreaper():
    """Orphaned descendants become this process's children, so it can end them."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def ppid_of(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields follow the last ')'.
    return int(text[text.rindex(b")") + 2:].split()[1])


def children_of(pid):
    found = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return found


def _pin(pid, parent):
    """A pidfd for `pid` if it is (still) a child of `parent`."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    # Checked after opening: the pidfd may already name a newer process.
    if parent is not None and ppid_of(pid) != parent:
        os.close(fd)
        return None
    return fd


def _signal(fd, sig):
    try:
        signal.pidfd_send_signal(fd, sig)
    except OSError:
        pass


def kill_tree(root, parent=None, include_root=True, root_fd=None):
    """SIGKILLs `root`'s descendants (and `root`). `root` is pinned by a
    pidfd (`root_fd`, one already held, or one opened now and checked
    against `parent`); every descendant is pinned and stopped before
    anything is killed, so none can fork a child that escapes the listing.
    Returns the pids signalled."""
    root_fd = _pin(root, parent) if root_fd is None else os.dup(root_fd)
    if root_fd is None:
        return []
    pinned = {root: root_fd}
    try:
        if include_root:
            _signal(root_fd, signal.SIGSTOP)
        grew = True
        while grew:
            grew = False
            for pid in list(pinned):
                for child in children_of(pid):
                    if child in pinned:
                        continue
                    fd = _pin(child, pid)
                    if fd is not None:
                        _signal(fd, signal.SIGSTOP)
                        pinned[child] = fd
                        grew = True
        for pid, fd in pinned.items():
            if pid != root or include_root:
                _signal(fd, signal.SIGKILL)
        return [pid for pid in pinned if pid != root or include_root]
    finally:
        for fd in pinned.values():
            os.close(fd)


def reap_children(timeout):
    """Reaps every exited child; True once none is left, False if some are
    still alive after `timeout` seconds (only for a process whose children
    are all its own, such as a worker between calls)."""
    until = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            if time.monotonic() >= until:
                return False
            time.sleep(0.001)


def end_stray_children(keep, timeout=1.0):
    """Kills and reaps every child of this process whose pid is not in
    `keep`: for a subreaper, the orphans its workers left. Reaps only those
    pids, never waitpid(-1), so the executor still reaps its own workers.
    Returns the pids ended."""
    me = os.getpid()
    strays = [pid for pid in children_of(me) if pid not in keep]
    for pid in strays:
        kill_tree(pid, parent=me)
    until = time.monotonic() + timeout
    for pid in strays:
        while True:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] != 0:
                    break
            except ChildProcessError:
                break
            if time.monotonic() >= until:
                break
            time.sleep(0.001)
    return strays
