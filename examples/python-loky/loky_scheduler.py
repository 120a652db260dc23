"""LokyBackend: calls queue here and run on worker slots (loky_slot), one
call per slot. One scheduler thread owns every call and slot; everything
else only posts events to it. It is also the only thread that starts
workers: Linux sends PR_SET_PDEATHSIG when the *thread* that forked a
worker exits, and this one lives as long as the backend (LIFE-4)."""
import collections
import concurrent.futures
import os
import queue
import selectors
import sys
import threading
import time
import traceback

import execkit_backend as eb
from execkit_config import caller_environment
from execkit_procs import end_stray_children, set_child_subreaper
from execkit_worker import call_spec, outcome_of, worker_settings
from loky_quirks import kill_workers_through_pidfds, no_resource_tracker_processes, restrict_environment
from loky_slot import WORKER_DIED, Slot

__all__ = ["LokyBackend"]


class _Record:
    def __init__(self, call, deadline, done):
        self.call, self.deadline, self.done = call, deadline, done
        self.slot = None
        self.stop = None  # the error the call ends with once its worker is killed


class LokyBackend(eb.Backend):
    name = "python-loky"
    capabilities = {
        "has_local_process_workers": True,
        "supports_pdeathsig": True,
        "has_named_spill_files": True,
        "supports_worker_reuse": True,
        "task_context_from_caller": True,
        "documented_task_fds": 10,
        "task_sigpipe": "ignored",
        "task_language": "python",
    }

    def configure(self, config):
        self.config = config
        self._settings = worker_settings(config, caller_environment(), os.getpid())
        restrict_environment(self._settings["env"])
        no_resource_tracker_processes()
        kill_workers_through_pidfds()
        set_child_subreaper()  # a dead worker's orphans come here, to be ended (RUN-7)
        self._slots = [Slot(i, self._settings, config.idle_timeout_ms / 1000) for i in range(config.max_workers)]
        self._events = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._queued = collections.deque()
        self._records = {}
        self._known_pids = set()     # workers of live and retiring executors: never strays
        self._reapers = []
        self._deliveries = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="loky-delivery")
        self._closing = False
        self._failure = None  # why the scheduler stopped, if it failed
        self._shutdown_posted = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loky-scheduler", daemon=True)
        self._thread.start()

    # --- the Backend interface (protocol thread) ----------------------------

    def submit(self, call, deadline, done):
        if self._stopped.is_set():
            done(eb.BackendClosed(self._failure or "the backend was shut down"))
            return
        self._post("submit", _Record(call, deadline, done))

    def cancel(self, call_id):
        answer = queue.SimpleQueue()
        self._post("cancel", call_id, answer)
        while True:
            try:
                return answer.get(timeout=0.1)
            except queue.Empty:
                if self._stopped.is_set():
                    return False

    def shutdown(self, wait):
        if not self._shutdown_posted:
            self._shutdown_posted = True
            self._post("shutdown")
        if wait:
            self._stopped.wait()
            self._thread.join()

    def _post(self, *event):
        self._events.put(event)
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass  # a wake-up is pending already, or the scheduler is gone

    # --- the scheduler thread -----------------------------------------------

    def _run(self):
        try:
            while not (self._closing and self._quiet()):
                for key, _ in self._selector.select(self._timeout()):
                    if key.data is None:
                        while True:
                            try:
                                if not os.read(self._wake_r, 4096):
                                    break
                            except BlockingIOError:
                                break
                    else:
                        self._worker_exited(key.data)
                while True:
                    try:
                        event = self._events.get_nowait()
                    except queue.Empty:
                        break
                    getattr(self, "_on_" + event[0])(*event[1:])
                self._expire()
                if not self._closing:
                    self._dispatch()
        except BaseException as e:
            self._failure = f"the backend's scheduler failed: {type(e).__name__}: {e}"
            sys.stderr.write(f"python-loky: {self._failure}\n{traceback.format_exc()}")
            raise
        finally:
            self._stop_everything()

    def _quiet(self):
        return not self._queued and all(not s.busy and s.executor is None for s in self._slots)

    def _timeout(self):
        deadlines = [r.deadline for r in self._queued if r.deadline is not None]
        deadlines += [s.call.deadline for s in self._slots
                      if s.call is not None and s.call.stop is None and s.call.deadline is not None]
        if not deadlines:
            return None
        return max(0.0, (min(deadlines) - time.monotonic_ns()) / 1e9)

    def _on_submit(self, record):
        if self._closing:
            record.done(eb.BackendClosed())
            return
        self._records[record.call.id] = record
        self._queued.append(record)

    def _on_cancel(self, call_id, answer):
        record = self._records.get(call_id)
        if record is None:
            answer.put(False)
        elif record in self._queued:
            self._queued.remove(record)
            self._finish(record, eb.Cancelled())
            answer.put(True)  # it never started (CANCEL-1)
        elif record.stop is None and record.slot is not None and record.slot.call is record:
            record.stop = eb.Cancelled()
            record.slot.kill()  # the outcome follows once the worker is reaped (CANCEL-2)
            answer.put(True)
        else:
            answer.put(False)

    def _on_shutdown(self):
        self._closing = True
        while self._queued:
            self._finish(self._queued.popleft(), eb.BackendClosed())
        for slot in self._slots:
            if slot.call is not None and slot.call.stop is None:
                slot.call.stop = eb.BackendClosed()
                slot.kill()
            elif not slot.busy and slot.executor is not None:
                self._retire(slot)

    def _expire(self):
        now = time.monotonic_ns()
        for record in [r for r in self._queued if r.deadline is not None and r.deadline <= now]:
            self._queued.remove(record)  # never started (RUN-2)
            self._finish(record, eb.Timeout())
        for slot in self._slots:
            record = slot.call
            if record is not None and record.stop is None and record.deadline is not None and record.deadline <= now:
                record.stop = eb.Timeout()
                slot.kill()

    def _dispatch(self):
        while self._queued:
            slot = self._idle_slot()
            if slot is None:
                return
            record = self._queued.popleft()
            if record.deadline is not None and record.deadline <= time.monotonic_ns():
                self._finish(record, eb.Timeout())
                continue
            record.slot, slot.call = slot, record
            try:
                slot.submit(call_spec(record.call, record.deadline, self.config),
                            lambda future, s=slot, r=record: self._post("finished", s, r, future))
            except Exception as e:
                slot.call = None
                self._finish(record, eb.WorkerCrashed(message=f"no worker could take the call: {type(e).__name__}: {e}"))
                continue
            finally:
                for retired in slot.take_stale():
                    self._reap(None, retired)
            if slot.pidfd is not None and slot.call is record:
                self._known_pids.add(slot.pid)
                self._selector.register(slot.pidfd, selectors.EVENT_READ, slot)

    def _idle_slot(self):
        idle = [s for s in self._slots if not s.busy]
        warm = [s for s in idle if s.warm]
        return (warm or idle or [None])[0]

    def _unwatch(self, slot):
        if slot.pidfd is not None and slot.pidfd in self._selector.get_map():
            self._selector.unregister(slot.pidfd)

    def _worker_exited(self, slot):
        # A busy worker ended. Its orphans (now ours) may hold the pipe loky
        # watches for the worker's end: ending them lets loky notice (RUN-7).
        self._unwatch(slot)
        end_stray_children(self._known_pids)

    def _on_finished(self, slot, record, future):
        if slot.call is record:
            self._unwatch(slot)
            slot.call = None
        if record.stop is not None:
            self._retire(slot, lambda code: self._finish(record, record.stop))
            return
        error = future.exception()
        if isinstance(error, WORKER_DIED):
            self._retire(slot, lambda code: self._finish(record, eb.WorkerCrashed.from_exitcode(code)))
            return
        if error is not None:
            self._finish(record, eb.WorkerCrashed(message=f"the call could not run on its worker: {type(error).__name__}: {error}"))
            return
        reply = future.result()
        if reply.get("retire"):
            sys.stderr.write(f"python-loky: retiring worker {slot.pid}: {reply['retire']}\n")
            self._retire(slot)
        if reply["status"] == "ok" and reply["data"] is None:
            # Checking and copying a spilled result may take a while (1 GiB): not here.
            self._records.pop(record.call.id, None)
            self._deliveries.submit(self._deliver, record, reply)
        else:
            self._finish(record, outcome_of(reply, self.config, record.call.id))

    def _deliver(self, record, reply):
        try:
            outcome = outcome_of(reply, self.config, record.call.id)
        except Exception as e:
            self.config.spill.remove(record.call.id)
            outcome = eb.ResultError("unreadable", f"the result could not be taken: {type(e).__name__}: {e}")
        record.done(outcome)

    def _retire(self, slot, then=None):
        """Kills the slot's worker and reaps its executor off this thread;
        `then(exit code)` runs here once it is reaped."""
        self._unwatch(slot)
        slot.dying = True
        slot.kill()
        self._reap(slot, slot.detach(), then)

    def _reap(self, slot, retired, then=None):
        self._known_pids |= retired.pids

        def reap():
            code = retired.reap()
            self._post("reaped", slot, retired, code, then)

        thread = threading.Thread(target=reap, name="loky-reaper", daemon=True)
        self._reapers.append(thread)
        thread.start()

    def _on_reaped(self, slot, retired, code, then):
        if slot is not None:
            slot.dying = False
        self._known_pids -= retired.pids
        end_stray_children(self._known_pids)  # what the killed tree left, reparented here
        self._reapers = [t for t in self._reapers if t.is_alive()]
        if then is not None:
            then(code)

    def _finish(self, record, outcome):
        """The call's outcome; a call that did not succeed leaves no spill file (SPILL-5)."""
        self._records.pop(record.call.id, None)
        if not isinstance(outcome, eb.Result):
            self.config.spill.remove(record.call.id)
        record.done(outcome)

    def _stop_everything(self):
        for slot in self._slots:
            if slot.executor is not None:
                slot.kill()
                slot.detach().reap()
        for thread in self._reapers:
            thread.join()
        self._deliveries.shutdown(wait=True)
        end_stray_children(set())
        for record in list(self._records.values()):  # only after a failure: every call has ended otherwise
            self._finish(record, eb.BackendClosed(self._failure or "the backend was shut down"))
        self._selector.close()
        self._stopped.set()  # the wake-up pipe stays open: a late _post must not write to a reused fd
