"""A reusable worker process for Python tasks: set it up once (init_worker),
then run calls in it (run_call). Both take and return plain data, so any
executor that can call a function in another process (loky, multiprocessing,
a process of one's own) can carry them.

The backend side builds a call's spec (call_spec) and turns the worker's
reply into the call's outcome (outcome_of).
"""
import os
import resource
import secrets
import sys
import time

from execkit_outcomes import Metrics, Result, ResultError, SpillError, TaskError, Timeout
from execkit_procs import set_child_subreaper, set_pdeathsig
from execkit_scope import BaseState, CallScope, SetupError, reset_signals
from execkit_task import ResultSink, TaskContext, TaskLoadError, load_task, task_function

__all__ = ["worker_settings", "init_worker", "run_call", "call_spec", "outcome_of"]

_PARENT_GONE_STATUS = 70


class _Worker:
    state = None
    worker_id = ""
    node_id = ""


def worker_settings(config, environ, backend_pid):
    """What init_worker needs, from the backend's WorkerConfig."""
    return {"env": config.base_environment(environ), "base_dir": config.base_dir, "node_id": config.node_id,
            "enable_pdeathsig": config.enable_pdeathsig, "backend_pid": backend_pid}


def init_worker(settings):
    """Runs once in a new worker process, before its first call."""
    if settings["enable_pdeathsig"] and not set_pdeathsig(settings["backend_pid"]):
        os._exit(_PARENT_GONE_STATUS)
    os.setsid()  # its own process group: the backend can end the worker with its descendants
    set_child_subreaper()  # a task's orphans stay below the worker, where leave() finds them
    sys.dont_write_bytecode = True  # no __pycache__ next to the caller's task modules
    _Worker.worker_id = secrets.token_hex(6)
    _Worker.node_id = settings["node_id"]
    os.environ.clear()
    os.environ.update(settings["env"])
    os.environ["EXECKIT_WORKER_ID"] = _Worker.worker_id
    os.environ["EXECKIT_NODE_ID"] = _Worker.node_id
    os.chdir(settings["base_dir"])
    reset_signals()
    _Worker.state = BaseState.capture(settings["base_dir"])


def call_spec(call, deadline, config):
    """The plain-data form of a call, for run_call."""
    return {"id": call.id, "module": call.module, "function": call.function, "input": call.input,
            "search_path": list(call.search_path), "env_updates": dict(call.env_updates), "cwd": call.cwd,
            "deadline_ns": deadline, "spill_path": config.spill.path_of(call.id),
            "max_result_bytes": config.max_result_bytes, "stderr_tail_bytes": config.stderr_tail_bytes}


def _text(exc):
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


def run_call(spec):
    """Runs one call in this worker; returns a plain dict (see outcome_of).
    Never raises for anything the task does."""
    if spec["deadline_ns"] is not None and time.monotonic_ns() >= spec["deadline_ns"]:
        return {"status": "not_started"}
    sink = ResultSink(spec["spill_path"], spec["max_result_bytes"])
    scope = CallScope(_Worker.state, spec["stderr_tail_bytes"])
    error = None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic_ns()
    try:
        scope.enter(spec["cwd"], spec["env_updates"])
        task = task_function(load_task(spec["module"], spec["search_path"]), spec["function"])
        task(TaskContext(spec["input"], sink))
    except (TaskLoadError, SetupError) as e:
        error = (e.error_type, _text(e))
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: the task raised them
        error = (type(e).__name__, _text(e))
    finished = time.monotonic_ns()
    end = resource.getrusage(resource.RUSAGE_SELF)
    metrics = Metrics(peak_rss_kib=end.ru_maxrss, user_time_us=round((end.ru_utime - usage.ru_utime) * 1e6),
                      system_time_us=round((end.ru_stime - usage.ru_stime) * 1e6), started_at_ns=started,
                      finished_at_ns=finished, wall_time_ns=finished - started, worker_pid=os.getpid(),
                      worker_id=_Worker.worker_id, node_id=_Worker.node_id).to_json()
    data = sink.finish()  # the worker holds no handle to the result once it answers
    tail, retire = scope.leave()
    if sink.failure is not None or error is not None:
        sink.discard()
    if sink.failure is not None:
        return {"status": "result_error", "reason": sink.failure.reason, "message": sink.failure.message, "retire": retire}
    if error is not None:
        return {"status": "task_error", "type": error[0], "message": error[1], "stderr_tail": tail,
                "metrics": metrics, "retire": retire}
    return {"status": "ok", "size": sink.size, "data": data, "metrics": metrics, "retire": retire}


def outcome_of(reply, config, call_id):
    """The call's outcome (a Result or an ExecError) from run_call's reply.
    A spilled result is checked and copied (SpillDir.take_result); anything
    else leaves no spill file behind (SPILL-5)."""
    status = reply["status"]
    if status == "ok":
        metrics = Metrics.from_dict(reply["metrics"])
        if reply["data"] is not None:
            return Result(metrics, data=reply["data"])
        try:
            return config.spill.take_result(call_id, reply["size"], metrics)
        except (SpillError, ResultError) as e:
            return e
    config.spill.remove(call_id)
    if status == "task_error":
        return TaskError(reply["type"], reply["message"], reply["stderr_tail"], Metrics.from_dict(reply["metrics"]))
    if status == "result_error":
        return ResultError(reply["reason"], reply["message"])
    if status == "not_started":
        return Timeout("the call's deadline passed before it started")
    raise ValueError(f"unknown worker reply status {status!r}")
