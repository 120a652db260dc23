#!/usr/bin/env python3
"""A backend that breaks the protocol in one chosen way, for the harness's own
tests (external_backend_test.cpp). Usage: fake_backend.py SCENARIO"""
import base64
import json
import os
import socket
import sys
import time

SCENARIO = sys.argv[1]
sock = socket.socket(fileno=int(os.environ["EXECKIT_PROTOCOL_FD"]))
reader = sock.makefile("rb")
METRICS = {"peak_rss_kib": 1, "user_time_us": 0, "system_time_us": 0, "started_at_ns": 1, "finished_at_ns": 2,
           "wall_time_ns": 1, "worker_pid": os.getpid(), "worker_id": "0123456789ab", "node_id": "fake"}


def send(message, fds=()):
    data = (json.dumps(message) + "\n").encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.sendall(data)


def receive():
    line = reader.readline()
    if not line:
        if SCENARIO == "ignores_eof":
            time.sleep(3600)
        sys.exit(0)
    return json.loads(line)


def result(call_id, data):
    return {"type": "result", "id": call_id, "size": len(data), "data": base64.b64encode(data).decode(), "metrics": METRICS}


def memfd_with(data):
    fd = os.memfd_create("fake-result")
    os.write(fd, data)
    return fd


if SCENARIO == "no_hello":
    sys.exit(3)
if SCENARIO == "silent":
    time.sleep(3600)
hello = receive()
assert hello["type"] == "hello", hello
if SCENARIO == "garbage_hello":
    sock.sendall(b"this is not json\n")
    time.sleep(3600)
if SCENARIO == "wrong_version":
    send({"type": "hello", "protocol": 2, "backend": "fake", "capabilities": {"task_language": "native"}})
    time.sleep(3600)
send({"type": "hello", "protocol": 1, "backend": "fake",
      "capabilities": {"task_language": "python", "supports_worker_reuse": True, "documented_task_fds": 2,
                       "task_context_from_caller": SCENARIO == "where"}})
configure = receive()
assert configure["type"] == "configure", configure
if SCENARIO == "refuse_config":
    send({"type": "error", "error": {"kind": "config", "setting": "max_workers", "value": "0", "message": "must be at least 1"}})
    time.sleep(3600)
send({"type": "configured"})

while True:
    message = receive()
    kind = message["type"]
    if kind == "shutdown":
        if SCENARIO == "ignores_eof":
            send({"type": "shutdown_done"})
            continue
        send({"type": "shutdown_done"})
        continue
    if kind == "cancel":
        send({"type": "cancelled", "id": message["id"], "cancelled": False})
        continue
    call_id = message["id"]
    data = base64.b64decode(message["input"])
    if SCENARIO in ("echo", "ignores_eof"):
        send(result(call_id, data))
    elif SCENARIO in ("where", "where_remote"):
        send(result(call_id, f"{os.getcwd()}\n{configure['config']['base_dir']}".encode()))
    elif SCENARIO == "echo_fd":
        send({"type": "result", "id": call_id, "size": len(data), "fd": True, "metrics": METRICS}, [memfd_with(data)])
    elif SCENARIO == "result_for_unknown_id":
        send(result(call_id + 1000, data))
    elif SCENARIO == "duplicate_result":
        send(result(call_id, data))
        send(result(call_id, data))
    elif SCENARIO == "overlong_line":
        sock.sendall(b"{" + b" " * (5 << 20))
    elif SCENARIO == "fd_missing":
        send({"type": "result", "id": call_id, "size": 5 << 20, "fd": True, "metrics": METRICS})
    elif SCENARIO == "wrong_size_fd":
        send({"type": "result", "id": call_id, "size": 10 << 20, "fd": True, "metrics": METRICS}, [memfd_with(data)])
    elif SCENARIO == "dies_mid_call":
        os._exit(3)
    elif SCENARIO == "unknown_type":
        send({"type": "bogus", "id": call_id})
    elif SCENARIO == "early_shutdown_done":
        send({"type": "shutdown_done"})
    elif SCENARIO == "bad_error":
        send({"type": "failure", "id": call_id, "error": {"kind": "meltdown", "message": "?"}})
if SCENARIO == "ignores_eof":
    time.sleep(3600)
