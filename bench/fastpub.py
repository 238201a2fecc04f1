"""A minimal MQTT 3.1.1 QoS-1 publisher for benchmarks: pre-encoded PUBLISH packets written
to the socket in bulk, PUBACKs counted by a reader thread. It costs the publishing side a
fraction of what paho does, so a live benchmark measures the ingest, not the publisher.
Benchmarks only (no reconnects, no retries)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Sequence


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _varint(len(body)) + body


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def publish_all(
    host: str,
    port: int,
    messages: Sequence[tuple[str, bytes]],
    *,
    client_id: str,
    timeout: float = 300,
) -> float:
    """Publish every (topic, payload) with QoS 1; return the seconds until all were acked."""
    if len(messages) > 65535:
        raise ValueError("at most 65,535 messages per call (packet ids are not reused)")
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connect = _str("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 600) + _str(client_id)
    sock.sendall(_packet(0x10, connect))
    if sock.recv(4)[:1] != b"\x20":
        raise ConnectionError("no CONNACK")
    acked = 0
    done = threading.Event()

    def reader() -> None:
        nonlocal acked
        buf = b""
        while acked < len(messages):
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
            n = len(buf) // 4  # PUBACK = 0x40 0x02 id id
            acked += n
            buf = buf[n * 4 :]
        done.set()

    t = threading.Thread(target=reader, daemon=True)
    packets = [
        _packet(0x32, _str(topic) + struct.pack(">H", i + 1) + payload)
        for i, (topic, payload) in enumerate(messages)
    ]
    start = time.perf_counter()
    t.start()
    for i in range(0, len(packets), 500):
        sock.sendall(b"".join(packets[i : i + 500]))
    done.wait(timeout)
    elapsed = time.perf_counter() - start
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    if acked < len(messages):
        raise TimeoutError(f"only {acked} of {len(messages)} acknowledged")
    return elapsed
