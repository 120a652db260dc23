"""The protocol's framing and members (docs/protocol.md "Framing"): JSON lines
of at most 4 MiB over a Unix stream socket, descriptors with SCM_RIGHTS."""
import array
import base64
import binascii
import json
import os
import socket
import threading

__all__ = [
    "PROTOCOL_VERSION", "MAX_MESSAGE_BYTES", "MAX_INLINE_RESULT_BYTES", "ProtocolError", "Channel",
    "parse_message", "encode_message", "Members",
]

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 4 << 20
MAX_INLINE_RESULT_BYTES = 1 << 20
_RECEIVE_CHUNK = 1 << 16
_MAX_FDS_PER_RECEIVE = 16


class ProtocolError(Exception):
    """The peer broke the protocol; the text names the message and the fault."""


class Channel:
    """One end of the protocol socket. receive() is for one reader thread;
    send() may be called from any thread."""

    def __init__(self, sock):
        self._sock = sock
        self._buffer = bytearray()
        self._scanned = 0
        self._send_lock = threading.Lock()

    def receive(self):
        """The next line without its newline, or None at end of file."""
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end >= 0:
                if end + 1 > MAX_MESSAGE_BYTES:
                    raise ProtocolError(f"a message of {end + 1} bytes (at most {MAX_MESSAGE_BYTES} with its newline)")
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 1]
                self._scanned = 0
                return line
            self._scanned = len(self._buffer)
            if len(self._buffer) >= MAX_MESSAGE_BYTES:
                raise ProtocolError(f"a message longer than {MAX_MESSAGE_BYTES} bytes "
                                    f"(no newline in the first {len(self._buffer)})")
            if not self._fill():
                if self._buffer:
                    raise ProtocolError(f"the connection ended inside a message ({len(self._buffer)} bytes without a newline)")
                return None

    def _fill(self):
        while True:
            try:
                data, ancillary, flags, _ = self._sock.recvmsg(
                    _RECEIVE_CHUNK, socket.CMSG_SPACE(_MAX_FDS_PER_RECEIVE * 4), socket.MSG_CMSG_CLOEXEC)
                break
            except InterruptedError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return False
        received = []
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
                received.extend(fds)
        for fd in received:
            os.close(fd)
        if received or flags & socket.MSG_CTRUNC:
            raise ProtocolError("the harness sent a descriptor; no message from the harness carries one")
        if not data:
            return False
        self._buffer += data
        return True

    def send(self, line, fd=None):
        """Sends one message (bytes without the newline), the descriptor
        attached to its first byte. Raises OSError if the peer is gone."""
        payload = memoryview(line + b"\n")
        with self._send_lock:
            while payload:
                if fd is not None:
                    sent = self._sock.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))],
                                              socket.MSG_NOSIGNAL)
                    fd = None
                else:
                    sent = self._sock.sendmsg([payload], [], socket.MSG_NOSIGNAL)
                payload = payload[sent:]

    def shutdown(self, how=socket.SHUT_RDWR):
        try:
            self._sock.shutdown(how)
        except OSError:
            pass


def _no_constant(name):
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def parse_message(line, what):
    """The JSON object on `line`; `what` names it in errors."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"{what} is not UTF-8: {e}") from None
    try:
        message = json.loads(text, parse_constant=_no_constant)
    except ValueError as e:
        raise ProtocolError(f"{what} is not valid JSON ({e}): {text[:200]}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"{what} is not a JSON object: {text[:200]}")
    return message


def encode_message(message):
    """One line of UTF-8 JSON. A lone surrogate (a byte a task's text could
    not decode) becomes '?', so the line is always valid UTF-8."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


class Members:
    """Typed access to a message's members; a missing or mistyped one is a
    ProtocolError naming the member and the message (`context`)."""

    def __init__(self, message, context):
        self.message = message
        self.context = context

    def _get(self, name):
        if name not in self.message:
            raise ProtocolError(f"{self.context}: member '{name}' is missing")
        return self.message[name]

    def _wrong(self, name, expected):
        return ProtocolError(f"{self.context}: member '{name}' is not {expected}")

    def string(self, name):
        value = self._get(name)
        if not isinstance(value, str):
            raise self._wrong(name, "a string")
        return value

    def boolean(self, name):
        value = self._get(name)
        if not isinstance(value, bool):
            raise self._wrong(name, "true or false")
        return value

    def integer(self, name, nullable=False, minimum=None):
        value = self._get(name)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(name, "an integer")
        if minimum is not None and value < minimum:
            raise self._wrong(name, f"an integer of at least {minimum}")
        return value

    def string_list(self, name):
        value = self._get(name)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._wrong(name, "an array of strings")
        return value

    def nullable_string(self, name):
        value = self._get(name)
        if value is not None and not isinstance(value, str):
            raise self._wrong(name, "a string or null")
        return value

    def env_updates(self, name):
        value = self._get(name)
        if not isinstance(value, dict) or not all(v is None or isinstance(v, str) for v in value.values()):
            raise self._wrong(name, "an object of strings and nulls")
        return value

    def base64(self, name):
        text = self.string(name)
        try:
            return base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise self._wrong(name, "standard base64 with padding") from None
