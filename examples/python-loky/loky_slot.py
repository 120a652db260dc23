"""One worker slot: a private single-worker loky executor. loky marks a
whole executor broken when any of its workers dies (TerminatedWorkerError
for every pending call), so a slot is the largest unit this backend lets a
crash, a timeout kill or a retirement take down: exactly one call."""
import os

from joblib.externals import loky
from joblib.externals.loky.backend.context import get_context

from execkit_procs import kill_tree, ppid_of
from execkit_worker import init_worker, run_call

__all__ = ["Slot", "Retired", "WORKER_DIED"]

# What a future fails with when its worker died or its executor was shut down under it.
WORKER_DIED = (loky.process_executor.BrokenProcessPool, loky.process_executor.ShutdownExecutorError)


class Retired:
    """An executor taken out of service, to be shut down and reaped off the scheduler thread."""

    def __init__(self, executor, processes, pidfd):
        self.executor, self.processes, self.pidfd = executor, processes, pidfd

    @property
    def pids(self):
        return {p.pid for p in self.processes}

    def reap(self):
        """Shuts the executor down, its workers killed and reaped; returns the
        exit code of the worker that ended abnormally (or of the last one)."""
        if self.executor is not None:
            self.executor.shutdown(wait=True, kill_workers=True)
        if self.pidfd is not None:
            os.close(self.pidfd)
        codes = [p.exitcode for p in self.processes]
        abnormal = [code for code in codes if code]
        return abnormal[-1] if abnormal else (codes[-1] if codes else None)


class Slot:
    def __init__(self, index, settings, idle_timeout_s):
        self.index = index
        self._settings, self._idle_timeout_s = settings, idle_timeout_s
        self.executor = None
        self.processes = []   # loky's process objects of this executor, for exit codes
        self.pid = None       # the current worker, pinned by a pidfd while the slot has it
        self.pidfd = None
        self.call = None      # the call running here
        self.dying = False    # being retired: unusable until reaped
        self.stale = []       # broken executors taken out, not yet handed over for reaping

    @property
    def busy(self):
        return self.call is not None or self.dying

    @property
    def warm(self):
        """Has a live worker (reused first: LIFE-1)."""
        return self.executor is not None and bool(self.executor._processes)

    def _new_executor(self):
        return loky.ProcessPoolExecutor(max_workers=1, context=get_context("loky"), timeout=self._idle_timeout_s,
                                        initializer=init_worker, initargs=(self._settings,))

    def submit(self, spec, on_done):
        """Runs `spec` on this slot's worker, starting one if needed.
        Executors found broken on the way (an idle worker killed from
        outside: LIFE-7) go to `stale`, for the caller to reap."""
        if self.pidfd is not None and not self._alive():
            # Killed while idle, and loky may not have marked the executor
            # broken yet: a call submitted now would fail with it.
            self.stale.append(self.detach())
        while True:
            fresh = self.executor is None
            if fresh:
                self.executor = self._new_executor()
            try:
                future = self.executor.submit(run_call, spec)
                break
            except (*WORKER_DIED, RuntimeError):
                self.stale.append(self.detach())
                if fresh:
                    raise
        self._pin_worker()
        future.add_done_callback(on_done)

    def take_stale(self):
        stale, self.stale = self.stale, []
        return stale

    def _pin_worker(self):
        # loky keeps its workers in `_processes` (pid -> process); one here.
        for pid, process in list(self.executor._processes.items()):
            if process not in self.processes:
                self.processes.append(process)
            if pid != self.pid:
                self._unpin()
                try:
                    fd = os.pidfd_open(pid)
                except OSError:
                    continue
                if ppid_of(pid) != os.getpid():
                    os.close(fd)
                    continue
                self.pid, self.pidfd = pid, fd

    def _alive(self):
        try:
            return os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    def _unpin(self):
        if self.pidfd is not None:
            os.close(self.pidfd)
        self.pid = self.pidfd = None

    def kill(self):
        """SIGKILLs the worker and its descendants through the pidfd taken
        while it was alive, so a reused pid is never hit (LIFE-8)."""
        if self.pidfd is None:
            return
        try:
            os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return  # already reaped: /proc/<pid> may be someone else now
        kill_tree(self.pid, root_fd=self.pidfd)

    def detach(self):
        """Takes the executor out of the slot; the slot starts a new one when next used."""
        retired = Retired(self.executor, self.processes, self.pidfd)
        self.executor, self.processes, self.pid, self.pidfd = None, [], None, None
        return retired
