#!/usr/bin/python3
"""The peers of the Redis Streams backend, through a private redis-server,
written as one JSON file in the shape bench/peers.py writes.

Peers: Celery (python3-celery; Redis broker and Redis result backend, both
over the unix socket: redis+socket:// URLs; a `celery worker --pool=prefork`
subprocess; pickle serialisation, as results are bytes) and RQ (python3-rq;
`rq worker` subprocesses, which fork a work horse per job, and the caller
polls `Job.latest_result()` every RQ_POLL_INTERVAL_S, 1 ms: RQ has no way to
wait for a result, so the polling interval bounds its latency from below and
adds up to 1 ms plus one round trip to each call).

Each peer gets its own redis-server (the flags of bench/redis_server.hpp: a
unix socket in a fresh 0700 directory, no TCP port, no persistence); each
case starts its own workers.

Cases, mirroring bench/redis_floor_cases.cpp:
  warm_call      one worker process, after warm-up: submit, wait for the
                 result of a task returning b"", p50/p99
  throughput/2   two worker processes, 256 calls in flight per batch (32 with
                 --quick): calls/s over the batches
  result/64MiB   a task returning 64 MiB of bytes, one worker: time, bytes/s

Every process this script starts (redis-server, the Celery worker and its
pool, the RQ workers and their horses) runs in its own process group and is
stopped with that group (SIGTERM, then SIGKILL after a grace period) on
every path out, exceptions and SIGTERM included; each is also sent SIGKILL
by the kernel if this script dies first (PR_SET_PDEATHSIG).

Usage: redis_peers.py --out FILE [--quick] [--rq-worker-class rq.SimpleWorker]
"""
import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing peers.py
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import BATCH, FILL_BYTE, latency_stats, timed  # noqa: E402  (same statistics as the other peers)

REDIS_SERVER = "/usr/bin/redis-server"
RESULT_SIZE = 64 << 20
RQ_POLL_INTERVAL_S = 0.001
# How long one call may take before the case fails (a worker that did not
# start, or died, must not hang the run).
CALL_TIMEOUT_S = 120
# SIGTERM -> SIGKILL of a worker's process group.
STOP_GRACE_S = 5


def _die_with_parent():
    """preexec_fn: SIGKILL when this script's (single) thread exits."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait_for(condition, timeout, what):
    """Polls condition() with exponential backoff (50 µs doubling to 20 ms)."""
    deadline = time.monotonic() + timeout
    pause = 50e-6
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


def _group_gone(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a reused id: not ours any more
        return True
    return False


class ProcessGroup:
    """A subprocess in a new session (so a group of its own), with its output
    in a log file; stop() ends the whole group and reaps the leader."""

    def __init__(self, argv, log_path, **popen_args):
        self.argv = argv
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent, **popen_args)

    def log_tail(self, size=2000):
        with contextlib.suppress(OSError), open(self.log_path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - size))
            return log.read().decode(errors="replace")
        return ""

    def check_running(self, what):
        if self.process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {self.process.returncode}; its log ends with:\n{self.log_tail()}")

    def stop(self, grace=STOP_GRACE_S):
        pgid = self.process.pid  # the session leader's id is the group's
        if grace > 0 and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        # Whatever is left of the group: the leader, a pool child, a horse.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.process.wait()
        # Members other than the leader are reaped by init; wait until they are.
        _wait_for(lambda: _group_gone(pgid), 10, f"process group {pgid} ({self.argv[0]}) not gone")


class RedisServer:
    """A private redis-server, as bench/redis_server.hpp starts it."""

    def __init__(self):
        import redis

        self.dir = tempfile.mkdtemp(prefix="execkit-bench-redis-")
        self.server = None
        try:
            self.socket_path = os.path.join(self.dir, "redis.sock")
            self.server = ProcessGroup(
                [REDIS_SERVER, "--port", "0", "--unixsocket", self.socket_path, "--unixsocketperm", "700",
                 "--save", "", "--appendonly", "no", "--dir", self.dir],
                os.path.join(self.dir, "redis.log"))
            self.client = redis.Redis(unix_socket_path=self.socket_path)
            _wait_for(self._answers, 10, "redis-server did not answer PING")
            self.version = self.client.info("server")["redis_version"]
        except BaseException:
            self.close()
            raise

    def _answers(self):
        import redis

        self.server.check_running("redis-server")
        try:
            return self.client.ping()
        except (redis.ConnectionError, redis.BusyLoadingError):
            return False

    def url(self, scheme):
        return f"{scheme}://{self.socket_path}"

    def close(self):
        try:
            if self.server is not None:
                self.server.stop(grace=0)  # nothing to save
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def check_fill(value, size):
    """As peers.py: the bytes arrived by copy, so the check stays O(1)."""
    if len(value) != size or (size and (value[0] != FILL_BYTE or value[-1] != FILL_BYTE)):
        raise RuntimeError(f"result of {len(value)} bytes is not the {size} bytes written")


# --- Celery -----------------------------------------------------------------

CELERY_MODULE = "execkit_celery_tasks"
CELERY_TASKS = f'''
import os

from celery import Celery

app = Celery({CELERY_MODULE!r})
app.conf.update(
    broker_url=os.environ["EXECKIT_REDIS_URL"],
    result_backend=os.environ["EXECKIT_REDIS_URL"],
    # Results are bytes, which JSON cannot carry.
    task_serializer="pickle",
    result_serializer="pickle",
    accept_content=["pickle"],
)


@app.task
def trivial():
    return b""


@app.task
def fill(size):
    return bytes([{FILL_BYTE}]) * size
'''


class CeleryPeer:
    name = "Celery"

    def __init__(self, server, module_dir):
        import celery

        self.version = celery.__version__
        self.server = server
        self.module_dir = module_dir
        self.env = dict(os.environ, EXECKIT_REDIS_URL=server.url("redis+socket"), PYTHONPATH=module_dir,
                        # The worker refuses pickle as root without it; the
                        # messages come from this script only.
                        C_FORCE_ROOT="1")
        with open(os.path.join(module_dir, CELERY_MODULE + ".py"), "w") as f:
            f.write(CELERY_TASKS)
        os.environ["EXECKIT_REDIS_URL"] = self.env["EXECKIT_REDIS_URL"]
        sys.path.insert(0, module_dir)
        import importlib

        self.tasks = importlib.import_module(CELERY_MODULE)
        self.worker_argv = None

    @contextlib.contextmanager
    def workers(self, processes):
        self.worker_argv = [sys.executable, "-m", "celery", "-A", CELERY_MODULE, "worker", "--pool=prefork",
                            f"--concurrency={processes}", "--loglevel=WARNING", "--without-gossip",
                            "--without-mingle", "--without-heartbeat", f"--hostname=bench{processes}@%h"]
        worker = ProcessGroup(self.worker_argv, os.path.join(self.module_dir, f"celery-worker-{processes}.log"),
                              cwd=self.module_dir, env=self.env)
        try:
            self.call(self.tasks.trivial, timeout=CALL_TIMEOUT_S)  # the worker is up once this returns
            yield
        except BaseException:
            print(f"  celery worker log:\n{textwrap.indent(worker.log_tail(), '    ')}", file=sys.stderr)
            raise
        finally:
            worker.stop()

    def submit(self, task, *args):
        return task.delay(*args)

    def wait(self, handle, timeout=CALL_TIMEOUT_S):
        return handle.get(timeout=timeout)

    def call(self, task, *args, timeout=CALL_TIMEOUT_S):
        return self.wait(self.submit(task, *args), timeout)

    def forget(self, handle):
        handle.forget()

    def close(self):
        # AsyncResults in reference cycles unsubscribe when collected: while
        # the server still runs, not at exit.
        import gc

        gc.collect()
        self.tasks.app.close()

    def trivial(self):
        return self.tasks.trivial

    def fill(self):
        return self.tasks.fill


# --- RQ ---------------------------------------------------------------------

RQ_MODULE = "execkit_rq_tasks"
RQ_TASKS = f'''
def trivial():
    return b""


def fill(size):
    return bytes([{FILL_BYTE}]) * size
'''


class RQPeer:
    name = "RQ"

    def __init__(self, server, module_dir, worker_class="rq.Worker"):
        import redis
        import rq

        self.version = rq.__version__
        self.module_dir = module_dir
        self.url = server.url("unix")
        with open(os.path.join(module_dir, RQ_MODULE + ".py"), "w") as f:
            f.write(RQ_TASKS)
        self.connection = redis.Redis(unix_socket_path=server.socket_path)
        self.queue = rq.Queue("default", connection=self.connection)
        self.rq_program = shutil.which("rq") or "/usr/bin/rq"
        self.worker_class = worker_class
        self.worker_argv = None

    @contextlib.contextmanager
    def workers(self, processes):
        self.worker_argv = [sys.executable, self.rq_program, "worker", "--url", self.url, "--path", self.module_dir,
                            "--worker-class", self.worker_class, "--logging_level", "WARNING",
                            "--disable-job-desc-logging", "default"]
        workers = []
        try:
            for i in range(processes):
                workers.append(ProcessGroup(self.worker_argv + ["--name", f"bench-{processes}-{i}"],
                                            os.path.join(self.module_dir, f"rq-worker-{processes}-{i}.log"),
                                            cwd=self.module_dir))
            # Up: every worker registered, and one call answered.
            import rq

            def registered():
                for worker in workers:
                    worker.check_running("rq worker")
                return len(rq.Worker.all(connection=self.connection)) >= processes

            _wait_for(registered, CALL_TIMEOUT_S, f"{processes} RQ workers did not register")
            self.call(self.trivial(), timeout=CALL_TIMEOUT_S)
            yield
        except BaseException:
            for worker in workers:
                print(f"  rq worker log:\n{textwrap.indent(worker.log_tail(), '    ')}", file=sys.stderr)
            raise
        finally:
            for worker in workers:
                worker.stop()

    def submit(self, task, *args):
        return self.queue.enqueue(task, *args)

    def wait(self, job, timeout=CALL_TIMEOUT_S):
        from rq.results import Result

        deadline = time.monotonic() + timeout
        while True:
            result = job.latest_result()
            if result is not None:
                if result.type != Result.Type.SUCCESSFUL:
                    raise RuntimeError(f"RQ job {job.id} failed: {result.exc_string}")
                return result.return_value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"RQ job {job.id} has no result after {timeout} s")
            time.sleep(RQ_POLL_INTERVAL_S)

    def call(self, task, *args, timeout=CALL_TIMEOUT_S):
        return self.wait(self.submit(task, *args), timeout)

    def forget(self, job):
        from rq.results import Result

        Result.delete_all(job)
        job.delete()

    def close(self):
        self.connection.close()

    def trivial(self):
        return f"{RQ_MODULE}.trivial"

    def fill(self):
        return f"{RQ_MODULE}.fill"


# --- cases ------------------------------------------------------------------

def warm_call(peer, iterations, warm_up):
    with peer.workers(1):
        task = peer.trivial()
        for _ in range(warm_up):
            peer.call(task)
        samples = []
        for _ in range(iterations):
            took, value = timed(lambda: peer.call(task))
            check_fill(value, 0)
            samples.append(took)
    return latency_stats(samples)


def throughput(peer, processes, batches, batch):
    with peer.workers(processes):
        task = peer.trivial()
        for handle in [peer.submit(task) for _ in range(32)]:
            peer.wait(handle)
        total_ns = 0
        for _ in range(batches):
            took, _ = timed(lambda: [peer.wait(h) for h in [peer.submit(task) for _ in range(batch)]])
            total_ns += took
    return {"calls_per_s": batches * batch / (total_ns / 1e9), "calls_in_flight": batch, "workers": processes,
            "iterations": batches}


def result_of_size(peer, size, iterations):
    with peer.workers(1):
        task = peer.fill()
        warm = peer.submit(task, min(size, 1 << 20))
        check_fill(peer.wait(warm), min(size, 1 << 20))
        peer.forget(warm)
        samples = []
        for _ in range(iterations):
            start = time.perf_counter_ns()
            handle = peer.submit(task, size)
            value = peer.wait(handle)
            took = time.perf_counter_ns() - start
            check_fill(value, size)
            del value
            peer.forget(handle)  # not timed: keeps the server's memory flat
            samples.append(took)
    stats = latency_stats(samples)
    stats["bytes_per_second"] = size / (stats["p50_us"] / 1e6)
    return stats


def run_cases(peer, quick):
    n = (lambda full, small: small) if quick else (lambda full, small: full)
    cases = {
        "warm_call": lambda: warm_call(peer, n(200, 20), n(50, 5)),
        "throughput/2": lambda: throughput(peer, 2, n(3, 1), n(BATCH, 32)),
        "result/64MiB": lambda: result_of_size(peer, RESULT_SIZE, n(6, 1)),
    }
    results = {}
    for name, case in cases.items():
        try:
            results[name] = case()
        except Exception as error:  # one failing case must not hide the others
            traceback.print_exc()
            results[name] = {"error": f"{type(error).__name__}: {error}"}
        print(f"  {name}: {results[name]}", file=sys.stderr)
    return results


def run_peer(peer_class, quick, **options):
    with contextlib.ExitStack() as stack:
        module_dir = tempfile.mkdtemp(prefix="execkit-bench-peer-")
        stack.callback(shutil.rmtree, module_dir, ignore_errors=True)
        server = RedisServer()
        stack.callback(server.close)
        peer = peer_class(server, module_dir, **options)
        stack.callback(peer.close)  # before the server stops
        report = {"version": peer.version, "redis_server": server.version}
        report["results"] = run_cases(peer, quick)
        report["worker_command"] = " ".join(peer.worker_argv or [])
        if peer_class is RQPeer:
            report["poll_interval_ms"] = RQ_POLL_INTERVAL_S * 1e3
        return report


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through every finally: workers and servers stopped


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--quick", action="store_true", help="few iterations (checks the script runs)")
    parser.add_argument("--rq-worker-class", default="rq.Worker",
                        help="rq worker --worker-class (default rq.Worker, which forks a horse per job; "
                             "rq.SimpleWorker runs jobs in the worker process)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate)

    report = {"python": sys.version.split()[0], "executable": sys.executable, "peers": {}}
    for peer_class, options in ((CeleryPeer, {}), (RQPeer, {"worker_class": args.rq_worker_class})):
        print(f"redis peers: {peer_class.name}", file=sys.stderr)
        try:
            report["peers"][peer_class.name] = run_peer(peer_class, args.quick, **options)
        except Exception as error:
            traceback.print_exc()
            report["peers"][peer_class.name] = {"error": f"{type(error).__name__}: {error}"}
    with open(args.out, "w") as out:
        json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
