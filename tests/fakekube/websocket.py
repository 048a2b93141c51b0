"""A minimal server side of RFC 6455, enough for the Kubernetes channel protocols.

The API server upgrades ``pods/<name>/exec`` and ``pods/<name>/portforward`` requests to a
WebSocket with subprotocol ``v4.channel.k8s.io``: every binary message starts with one byte, the
channel number. For exec: 0 stdin, 1 stdout, 2 stderr, 3 the error channel (a Status document
when the command ends), 4 resize. For port-forward: per port, channel 2i carries data and 2i+1
errors, and each channel's first message is the port number (2 bytes, little-endian).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
V4_CHANNEL = "v4.channel.k8s.io"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def choose_protocol(offered: str | None) -> str | None:
    """The subprotocol we speak, if the client offered it (we implement v4 only)."""
    protocols = [p.strip() for p in (offered or "").split(",") if p.strip()]
    return V4_CHANNEL if V4_CHANNEL in protocols else None


class ServerWebSocket:
    """Frames over an upgraded connection: unmasked sends, masked receives (RFC 6455 §5)."""

    def __init__(self, sock: socket.socket, rfile) -> None:
        self.sock = sock
        self.rfile = rfile
        self.send_lock = threading.Lock()
        self.closed = False

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([length])
        elif length < 1 << 16:
            header += bytes([126]) + struct.pack("!H", length)
        else:
            header += bytes([127]) + struct.pack("!Q", length)
        with self.send_lock:
            self.sock.sendall(header + payload)

    def send_channel(self, channel: int, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self._send_frame(OP_BINARY, bytes([channel]) + data)

    def close(self, code: int = 1000) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._send_frame(OP_CLOSE, struct.pack("!H", code))
        except OSError:
            pass

    def _read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.rfile.read(n - len(data))
            if not chunk:
                raise EOFError("connection closed")
            data += chunk
        return data

    def recv(self) -> tuple[int, bytes] | None:
        """The next complete message (opcode, payload); None when the peer closed."""
        buffer, first_opcode = b"", None
        try:
            while True:
                b1, b2 = self._read_exact(2)
                fin, opcode = b1 & 0x80, b1 & 0x0F
                masked, length = b2 & 0x80, b2 & 0x7F
                if length == 126:
                    length = struct.unpack("!H", self._read_exact(2))[0]
                elif length == 127:
                    length = struct.unpack("!Q", self._read_exact(8))[0]
                mask = self._read_exact(4) if masked else b"\0\0\0\0"
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read_exact(length)))
                if opcode == OP_CLOSE:
                    self.close()
                    return None
                if opcode == OP_PING:
                    self._send_frame(OP_PONG, payload)
                    continue
                if opcode == OP_PONG:
                    continue
                if opcode != OP_CONT:
                    first_opcode = opcode
                buffer += payload
                if fin:
                    return first_opcode or OP_BINARY, buffer
        except (EOFError, OSError, ValueError):
            return None
