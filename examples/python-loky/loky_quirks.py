"""Where loky 3.3 (as vendored by Debian's python3-joblib 1.2) would break a
contract clause by its design, and what this backend does about it. Each
function is applied once, in the backend process, before any worker exists.
README.md explains each choice."""
import os

from joblib.externals.loky import process_executor
from joblib.externals.loky.backend import resource_tracker as loky_tracker
from multiprocessing import resource_tracker as mp_tracker

from execkit_procs import kill_tree

__all__ = ["restrict_environment", "no_resource_tracker_processes", "kill_workers_through_pidfds"]


def restrict_environment(base, environ=os.environ):
    """loky starts a worker with the backend process's whole environment
    (fork_exec: {**os.environ, **env}; its `env=` only adds). A name the
    worker initialiser removes later still sits in the worker's initial
    environment block, /proc/<pid>/environ (ENV-2). So the backend process's
    own environment becomes the tasks' base environment `base` before the
    first worker starts."""
    environ.clear()
    environ.update(base)


def no_resource_tracker_processes():
    """Starting a worker also starts two resource-tracker processes (loky's
    and multiprocessing's) that live as long as the backend: descendants the
    suite would count as workers. Both trackers are given a descriptor of
    /dev/null instead, which they take for a live tracker; what they would
    clean up (named semaphores of a backend that is SIGKILLed) can leak."""
    sink = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    for tracker in (loky_tracker._resource_tracker, mp_tracker._resource_tracker):
        with tracker._lock:
            if tracker._fd is None:
                tracker._fd = sink


def _kill_tree_by_pidfd(process):
    kill_tree(process.pid, parent=os.getpid())
    process.join()


def kill_workers_through_pidfds():
    """loky kills a worker tree by pid, listing children with `pgrep -P`
    subprocesses. Its executors use kill_tree instead: pidfds, no helper
    processes (which the backend would otherwise take for a task's orphans)."""
    process_executor.kill_process_tree = _kill_tree_by_pidfd
