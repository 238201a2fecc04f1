"""The MQTT transport's buffered read path (#2): paho's packet handling on top of a socket
read in large chunks. Unit tests on a socket pair, then a real mosquitto over plain TCP
(a queued backlog arrives as one stream of many packets per read), TLS and websockets,
with payloads from empty to larger than one read chunk."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.models import RawMessage
from ingest.transport.mqtt import _READ_CHUNK, BufferedClient, MqttTransport, _ReadBuffered
from lorawan_monitor.settings import MqttSettings
from tests.servers import free_port, running_mosquitto

# -- the buffer on its own ------------------------------------------------------------


def test_small_reads_are_served_from_one_large_read() -> None:
    a, b = socket.socketpair()
    try:
        a.sendall(b"\x30\x05hello" * 3)
        time.sleep(0.05)
        buffered = _ReadBuffered(b)
        assert buffered.recv(1) == b"\x30"
        assert buffered.pending() == 3 * 7 - 1  # the rest came with the first read
        assert buffered.recv(1) == b"\x05"
        assert buffered.recv(5) == b"hello"
        assert buffered.recv(100) == b"\x30\x05hello" * 2
        assert buffered.pending() == 0
    finally:
        a.close()
        b.close()


def test_a_partial_read_returns_what_is_there_then_the_socket_says_so() -> None:
    a, b = socket.socketpair()
    try:
        b.setblocking(False)
        a.sendall(b"abc")
        time.sleep(0.05)
        buffered = _ReadBuffered(b)
        assert buffered.recv(10) == b"abc"  # fewer than asked: paho reads on later
        with pytest.raises(BlockingIOError):  # nothing buffered, nothing on the socket
            buffered.recv(10)
        a.close()
        time.sleep(0.05)
        assert buffered.recv(10) == b""  # end of stream, as the socket reports it
    finally:
        b.close()


# -- against a real mosquitto ----------------------------------------------------------


def _sizes() -> list[int]:
    # empty, tiny, typical uplinks, and two larger than one read chunk
    return [0, 1, 7, 120, 1200, 1300, 5000, _READ_CHUNK + 17, 2 * _READ_CHUNK + 3] + [
        200 + (i * 37) % 1500 for i in range(1500)
    ]


def _payload(i: int, size: int) -> bytes:
    return bytes((i + k) % 251 for k in range(size))


def _publish(
    port: int, topic: str, sizes: list[int], *, tls: Path | None = None, transport: str = "tcp"
) -> None:
    pub = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"pub-{time.monotonic_ns()}",
        transport=transport,  # type: ignore[arg-type]
    )
    if tls is not None:
        pub.tls_set(ca_certs=str(tls))
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    try:
        infos = [pub.publish(f"{topic}/{i}", _payload(i, n), qos=1) for i, n in enumerate(sizes)]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        pub.disconnect()
        pub.loop_stop()


class _Collector:
    def __init__(self, expected: int) -> None:
        self.got: list[RawMessage] = []
        self.expected = expected
        self.done = threading.Event()

    def __call__(self, raw: RawMessage) -> None:
        self.got.append(raw)
        if len(self.got) >= self.expected:
            self.done.set()

    def check(self, topic: str, sizes: list[int]) -> None:
        assert self.done.wait(60), f"received {len(self.got)} of {len(sizes)}"
        assert len(self.got) == len(sizes)
        for i, (raw, n) in enumerate(zip(self.got, sizes, strict=True)):
            assert raw.topic == f"{topic}/{i}"
            assert raw.payload == _payload(i, n), f"message {i} ({n} bytes) differs"
            assert raw.ack_token is not None and raw.ack_token[1] == 1


@pytest.mark.integration
def test_a_queued_backlog_arrives_whole_and_in_order(tmp_path: Path) -> None:
    """The broker holds a backlog for an offline persistent session; on reconnect it
    streams it, many packets per read, and large ones across reads."""
    sizes = _sizes()
    with running_mosquitto() as mq:
        settings = MqttSettings(
            host="127.0.0.1",
            port=mq.port,
            client_id="buffered-backlog",
            qos=1,
            topics=["backlog/#"],
            session_expiry=300,
        )
        first = MqttTransport(settings, lambda raw: None)
        assert isinstance(first.client, BufferedClient)
        first.start()
        assert first.wait_subscribed(10)
        time.sleep(0.3)
        first.stop()
        _publish(mq.port, "backlog", sizes)
        collect = _Collector(len(sizes))
        second = MqttTransport(settings, collect)
        second.start()
        try:
            collect.check("backlog", sizes)
            second.ack([raw.ack_token for raw in collect.got])
        finally:
            time.sleep(0.2)
            second.stop()


@contextlib.contextmanager
def _tls_files(tmp: Path) -> Iterator[tuple[Path, Path, Path]]:
    openssl = shutil.which("openssl")
    if openssl is None:  # Debian's base system has it; the Makefile installs it otherwise
        pytest.fail("openssl is needed to make the test's TLS certificates")
    ca_key, ca, key, csr, crt = (tmp / n for n in ("ca.key", "ca.crt", "s.key", "s.csr", "s.crt"))

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=lorawan-monitor test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=localhost")  # fmt: skip
    ext = tmp / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext))  # fmt: skip
    for p in (ca_key, key):
        p.chmod(0o644)  # mosquitto may drop to another user
    yield ca, crt, key


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["tls", "websockets"])
def test_live_stream_over_tls_and_websockets(tmp_path: Path, kind: str) -> None:
    sizes = _sizes()[:400]
    port = free_port()
    with contextlib.ExitStack() as stack:
        if kind == "tls":
            ca, crt, key = stack.enter_context(_tls_files(tmp_path))
            extra = f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {crt}\nkeyfile {key}\n"
        else:
            extra = f"listener {port} 127.0.0.1\nprotocol websockets\n"
        mq = stack.enter_context(running_mosquitto(extra_conf=extra))
        deadline = time.monotonic() + 10
        while True:  # the extra listener comes up with the broker
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert time.monotonic() < deadline, (mq.workdir / "mosquitto.log").read_text()
            time.sleep(0.05)
        settings = MqttSettings(
            host="127.0.0.1",
            port=port,
            client_id=f"buffered-{kind}",
            qos=1,
            topics=[f"{kind}/#"],
            tls=kind == "tls",
            tls_ca_file=ca if kind == "tls" else None,
            transport="websockets" if kind == "websockets" else "tcp",
        )
        collect = _Collector(len(sizes))
        transport = MqttTransport(settings, collect)
        transport.start()
        try:
            assert transport.wait_subscribed(10)
            if kind == "tls":
                _publish(port, kind, sizes, tls=ca)
            else:
                _publish(port, kind, sizes, transport="websockets")
            collect.check(kind, sizes)
        finally:
            transport.stop()


@pytest.mark.integration
def test_mqtt5_publish_properties_decode_as_paho_decodes_them() -> None:
    """With the lean PUBLISH properties in place, a received message's MQTT 5 properties
    are what the publisher set (none, or user properties, content type, expiry, ...)."""
    from paho.mqtt import _packet
    from paho.mqtt.properties import Properties

    from ingest.transport.mqtt import (
        _LeanProperties,
        install_lean_publish_properties,
        release_lean_publish_properties,
    )

    assert install_lean_publish_properties()
    assert _packet.Properties is _LeanProperties  # type: ignore[attr-defined]
    assert install_lean_publish_properties()  # counted: a second user
    try:
        _receive_and_check_properties(_LeanProperties)
    finally:
        release_lean_publish_properties()
        assert _packet.Properties is _LeanProperties  # type: ignore[attr-defined]
        release_lean_publish_properties()
    assert _packet.Properties is Properties  # type: ignore[attr-defined]


def _receive_and_check_properties(_LeanProperties: type) -> None:  # noqa: N803
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    def props(i: int) -> Properties | None:
        if i % 3 == 0:
            return None
        p = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        p.UserProperty = [("n", str(i)), ("kind", "test")]
        p.ContentType = "application/json"
        if i % 3 == 2:
            p.MessageExpiryInterval = 600
            p.CorrelationData = bytes([i % 256])
        return p

    got: list[mqtt.MQTTMessage] = []
    done = threading.Event()
    n = 60
    with running_mosquitto() as mq:
        sub = BufferedClient(
            CallbackAPIVersion.VERSION2, client_id="props-sub", protocol=mqtt.MQTTv5
        )

        def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
            got.append(msg)
            if len(got) == n:
                done.set()

        sub.on_message = on_message
        sub.connect("127.0.0.1", mq.port)
        sub.subscribe("props/#", qos=1)
        sub.loop_start()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="props-pub", protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", mq.port)
        pub.loop_start()
        try:
            time.sleep(0.3)
            infos = [
                pub.publish(f"props/{i}", b"x" * i, qos=1, properties=props(i)) for i in range(n)
            ]
            for info in infos:
                info.wait_for_publish(10)
            assert done.wait(20), f"received {len(got)} of {n}"
        finally:
            pub.disconnect()
            pub.loop_stop()
            sub.disconnect()
            sub.loop_stop()
    for i, msg in enumerate(sorted(got, key=lambda m: int(m.topic.split("/")[1]))):
        p = msg.properties
        assert isinstance(p, _LeanProperties)
        assert msg.payload == b"x" * i
        if i % 3 == 0:
            assert p.isEmpty(), str(p)  # type: ignore[no-untyped-call]
            continue
        assert p.UserProperty == [("n", str(i)), ("kind", "test")]
        assert p.ContentType == "application/json"
        if i % 3 == 2:
            assert p.MessageExpiryInterval <= 600 and p.CorrelationData == bytes([i % 256])
        else:
            assert not hasattr(p, "MessageExpiryInterval")


@pytest.mark.integration
def test_a_lost_broker_is_one_error_its_return_one_info_and_our_own_stop_neither(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="ingest.transport.mqtt")
    with running_mosquitto() as mq:
        settings = MqttSettings(host="127.0.0.1", port=mq.port, client_id="log-check", qos=1)
        t = MqttTransport(settings, lambda raw: None)
        t.start()
        assert t.wait_subscribed(10)
        mq.stop()  # the broker goes away under us
        deadline = time.monotonic() + 10
        while t.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.5)  # reconnect attempts fail meanwhile (refused): no further lines
        lost = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(lost) == 1 and lost[0].levelno == logging.ERROR, caplog.text
        assert "lost" in lost[0].getMessage() and "LORAWAN_MQTT__HOST" in lost[0].getMessage()

        assert "lost" in t.state.ready()[1][0]
        mq.start()
        assert t.connected.wait(15), "did not reconnect"
        back = [r for r in caplog.records if "reachable again" in r.getMessage()]
        assert len(back) == 1 and back[0].levelno == logging.INFO, caplog.text
        caplog.clear()
        t.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert any("disconnected" in r.getMessage() for r in caplog.records)
