"""The harness's side of docs/protocol.md, for tests: JSON lines over one end
of a socket pair, descriptors kept in arrival order."""
import array
import base64
import json
import os
import select
import socket
import time

HELLO = {"type": "hello", "protocol": [1]}


class FakeHarness:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""
        self.fds = []

    def send(self, message):
        self.send_raw(json.dumps(message).encode() + b"\n")

    def send_raw(self, data):
        self.sock.sendall(data)

    def receive(self, timeout=10.0):
        """The next message (a dict), or None at end of file."""
        until = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = until - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError(f"no message within {timeout} s")
            try:
                data, ancillary, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(16 * 4))
            except ConnectionResetError:  # the peer closed with our bytes unread: an end of file
                data, ancillary = b"", []
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds = array.array("i")
                    fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
                    self.fds.extend(fds)
            if not data:
                if self.buffer:
                    raise AssertionError(f"the connection ended inside a message: {self.buffer[:200]!r}")
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def expect(self, kind, timeout=10.0):
        message = self.receive(timeout)
        if message is None or message["type"] != kind:
            raise AssertionError(f"expected a {kind} message, got {message}")
        return message

    def take_fd(self):
        return self.fds.pop(0)

    def handshake(self, config):
        self.send(HELLO)
        hello = self.expect("hello")
        self.send({"type": "configure", "config": config})
        return hello, self.receive()

    def submit(self, call_id, module="m", function="f", data=b"", search_path=(), env_updates=None, cwd=None,
               timeout_ns=None):
        self.send({"type": "submit", "id": call_id, "module": module, "function": function,
                   "input": base64.b64encode(data).decode(), "search_path": list(search_path),
                   "env_updates": env_updates or {}, "cwd": cwd, "timeout_ns": timeout_ns})

    def result_bytes(self, message):
        """The bytes of a result message, inline or through its descriptor."""
        if message.get("fd"):
            fd = self.take_fd()
            try:
                assert os.fstat(fd).st_size == message["size"], "the descriptor's size is not the result's"
                return os.pread(fd, message["size"], 0) if message["size"] else b""
            finally:
                os.close(fd)
        return base64.b64decode(message["data"])

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.sock.close()
