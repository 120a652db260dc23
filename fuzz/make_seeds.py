#!/usr/bin/env python3
"""Writes the seed inputs of fuzz/corpus/<target>/seed-*.

The envelope seeds are well-formed messages in the wire format of
reference/src/envelope.cpp (little-endian, u32-length-prefixed strings), so
the fuzzer starts deep inside the decoder. Regression inputs of crashes found
later live next to them as regression-* and are never rewritten here.

Usage: fuzz/make_seeds.py  (from anywhere; rewrites only seed-* files)
"""
import pathlib
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"

REQUEST_MAGIC = 0x454B5251
RESPONSE_MAGIC = 0x454B5253


def u8(v):
    return struct.pack("<B", v)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def i64(v):
    return struct.pack("<q", v)


def blob(b):
    return u32(len(b)) + b


def text(s):
    return blob(s.encode())


def opt_text(s):
    return u8(0) if s is None else u8(1) + text(s)


def request(kind=1, call_id=1, module="probe", function="echo", search_path=("/opt/tasks",), env=(("TZ", "UTC"), ("HOME", None)),
            cwd="/tmp", spill_path="/tmp/execkit-0/pool.1.spill", max_result=1 << 34, in_fd=False, payload=b"hi"):
    out = u32(REQUEST_MAGIC) + u8(kind) + u64(call_id) + text(module) + text(function)
    out += u32(len(search_path)) + b"".join(text(p) for p in search_path)
    out += u32(len(env)) + b"".join(text(n) + opt_text(v) for n, v in env)
    out += opt_text(cwd) + text(spill_path) + u64(max_result) + u8(1 if in_fd else 0)
    out += u64(len(payload) if not in_fd else 1 << 20) + blob(b"" if in_fd else payload)
    return out


def response(kind=1, call_id=1, location=1, size=None, inline=b"result", reason=2, error_type="", message="",
             metrics=(1024, 10, 5, 1000, 2000), retire=False, retire_reason=""):
    if size is None:
        size = len(inline)
    out = u32(RESPONSE_MAGIC) + u8(kind) + u64(call_id) + u8(location) + u64(size) + blob(inline) + u8(reason)
    out += text(error_type) + text(message) + b"".join(i64(m) for m in metrics)
    out += u8(1 if retire else 0) + text(retire_reason)
    return out


def envelope_seeds():
    return {
        "response-inline": response(),
        "response-empty": response(inline=b""),
        "response-spill": response(location=2, size=1 << 30, inline=b""),
        "response-task-error": response(kind=2, location=0, inline=b"", error_type="std::runtime_error", message="boom"),
        "response-result-error": response(kind=3, location=0, inline=b"", reason=1, message="too large"),
        "response-not-started": response(kind=4, location=0, inline=b""),
        "response-retire": response(retire=True, retire_reason="a thread was left running"),
        "request-inline": request(),
        "request-memfd": request(in_fd=True),
        "request-exit": request(kind=2, module="", function="", search_path=(), env=(), cwd=None, spill_path="", payload=b""),
    }


def text_seeds():
    return {
        "config": {
            "all-valid": "EXECKIT_MAX_WORKERS=4\nEXECKIT_IDLE_TIMEOUT_S=0.5\nEXECKIT_SPILL_DIR=/tmp/a/../b\n"
                         "EXECKIT_NODE_ID=  node-7 \nEXECKIT_DISABLE_PDEATHSIG=Yes\nCTEST_PARALLEL_LEVEL=3\n",
            "bad-workers": "EXECKIT_MAX_WORKERS=12abc\n",
            "overflow": "EXECKIT_MAX_WORKERS=99999999999999999999999\nEXECKIT_IDLE_TIMEOUT_S=1000000000.0001\n",
            "fractions": "EXECKIT_IDLE_TIMEOUT_S=0.0001\nCTEST_PARALLEL_LEVEL=0\n",
            "blank": "EXECKIT_SPILL_DIR= \nEXECKIT_NODE_ID=\nEXECKIT_DISABLE_PDEATHSIG=\n",
            "parallel-only": "CTEST_PARALLEL_LEVEL=  16\t\n",
        },
        "spill": {
            "dead-pool": "pool mine\nfile dead.lock 0\nfile dead.1.spill 100\nfile dead.2.spill 0\nfile other.txt 5\n",
            "live-pool": "live alive.lock\nfile alive.7.spill 10\nfile orphan.3.spill 1\npool mine\n",
            "pending": "file dead.0123abcd.newlock 0\nfile dead.XYZ.newlock 0\n",
            "symlinks": "link dead.lock canary\nlink dead.4.spill canary\nlink x.5.spill canary\ntake x.5.spill 33\n",
            "take-ok": "pool p\nfile p.1.spill 4096\ntake p.1.spill 4096\n",
            "take-wrong-size": "pool p\nfile p.1.spill 4096\ntake p.1.spill 4097\n",
            "take-fifo": "pool p\nfifo p.2.spill\ntake p.2.spill 0\n",
            "take-dir": "pool p\ndir p.3.spill\ntake p.3.spill 0\n",
            "take-hardlink": "pool p\nfile p.1.spill 8\nhard p.9.spill p.1.spill\ntake p.9.spill 8\nhard q.1.spill canary\ntake q.1.spill 33\n",
            "bad-pool": "pool has.dot\nfile has.lock 0\n",
            "same-pool-alive": "live same.lock\npool same\n",
            "dir-lock": "dir ghost.lock\nfile ghost.1.spill 3\n",
        },
        "module_path": {
            "plain": "m\nd3\nd1\nd2\n",
            "second-form": "n\nd2\nd1\n",
            "path": "d1/libm.so\n",
            "directory": "x\nd4\nd1\n",
            "symlink": "y\nd5\n",
            "dangling": "z\nd6\nd1\n",
            "fifo": "f\nd7\n",
            "empty-entry": "m\n\n",
            "trailing-slash": "m\nd1/\nd8/up\n",
            "missing": "nothing\nd1\nd2\n",
        },
    }


def main():
    written = 0
    for target, seeds in [("envelope", envelope_seeds())] + list(text_seeds().items()):
        directory = CORPUS / target
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in seeds.items():
            data = content if isinstance(content, bytes) else content.encode()
            (directory / f"seed-{name}").write_bytes(data)
            written += 1
    print(f"wrote {written} seeds under {CORPUS}")


if __name__ == "__main__":
    main()
