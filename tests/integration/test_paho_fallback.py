"""The MQTT fast path survives a paho change (#19): when paho's private internals differ
from the tested version, ingest runs on plain paho and its public API — one warning,
slower, and still every uplink delivered and acknowledged (nothing redelivered after a
restart on the same persistent session). Real mosquitto, real ingest service.

Each case changes paho the way a release could: a private method gains a parameter, the
MQTT 5 property decoder is someone else's, or the batched PUBACK path breaks at run time
although its signature still matches."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt import _packet
from paho.mqtt.properties import Properties

import ingest.transport.mqtt as transport_mod
from ingest.service import IngestService
from ingest.transport.mqtt import (
    BufferedClient,
    MqttTransport,
    fast_path_problem,
    lean_properties_problem,
)
from lorawan_monitor.settings import MqttSettings
from simulator.fleet import default_fleet, generate
from simulator.publisher import Publisher
from storage.sqlite import SqliteStore
from tests.integration.helpers import settings_for
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

_N = 400


def test_the_installed_paho_is_the_tested_one() -> None:
    """The locked paho has the internals the fast path was measured with. When this fails
    after an upgrade, ingest still works (the other tests) but re-check and re-measure."""
    assert fast_path_problem() is None
    assert lean_properties_problem() is None


def _grown_create_socket(mp: pytest.MonkeyPatch) -> None:
    """paho grows a parameter on ``_create_socket`` (paho itself still works)."""
    orig = mqtt.Client._create_socket

    def _create_socket(self: mqtt.Client, timeout: float | None = None) -> Any:
        return orig(self)

    mp.setattr(mqtt.Client, "_create_socket", _create_socket)


def _grown_packet_queue(mp: pytest.MonkeyPatch) -> None:
    """paho's out-queue takes another argument (paho's own positional calls still work)."""
    orig = mqtt.Client._packet_queue

    def _packet_queue(
        self: mqtt.Client,
        command: int,
        packet: bytes,
        mid: int,
        qos: int,
        info: Any = None,
        priority: int = 0,
    ) -> Any:
        return orig(self, command, packet, mid, qos, info)

    mp.setattr(mqtt.Client, "_packet_queue", _packet_queue)


def _other_properties(mp: pytest.MonkeyPatch) -> None:
    """paho's packet module decodes properties with a class of its own."""

    class OtherProperties(Properties):
        pass

    mp.setitem(vars(_packet), "Properties", OtherProperties)


def _acks_break_at_run_time(mp: pytest.MonkeyPatch) -> None:
    """Same signature, other behaviour: the batched PUBACK packet is refused."""
    orig = mqtt.Client._packet_queue

    def _packet_queue(
        self: mqtt.Client, command: int, packet: bytes, mid: int, qos: int, info: Any = None
    ) -> Any:
        if command == 0x40 and len(packet) > 4:  # ours: several PUBACKs in one packet
            raise TypeError("packet must be a single PUBACK")
        return orig(self, command, packet, mid, qos, info)

    mp.setattr(mqtt.Client, "_packet_queue", _packet_queue)


_CHANGES: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], str, bool, bool]] = {
    # change, MQTT protocol, starts on the buffered client, batched PUBACKs at the end
    "create_socket_signature": (_grown_create_socket, "3.1.1", False, False),
    "packet_queue_signature": (_grown_packet_queue, "5", False, False),
    "mqtt5_properties_class": (_other_properties, "5", True, True),
    "puback_queue_fails_at_run_time": (_acks_break_at_run_time, "3.1.1", True, False),
}


def _service(mosquitto: Mosquitto, tmp: Path, client_id: str, protocol: str) -> IngestService:
    settings = settings_for(
        mosquitto.port,
        None,
        "x",
        tmp,
        mqtt={
            "client_id": client_id,
            "session_expiry": 300,
            "envelope": "chirpstack",
            "protocol": protocol,
        },
    )
    return IngestService(settings, store=SqliteStore(tmp / "ts.db"))


def _wait(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)
    return cond()


@pytest.mark.parametrize("change", list(_CHANGES))
def test_an_unexpected_paho_change_degrades_speed_never_delivery(
    mosquitto: Mosquitto,
    tmp_path: Path,
    change: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    apply, protocol, fast_client, fast_acks = _CHANGES[change]
    monkeypatch.setattr(transport_mod, "_warned", set())
    apply(monkeypatch)
    caplog.set_level(logging.WARNING, logger="ingest.transport.mqtt")
    client_id = f"fallback-{change}-{tmp_path.name}"[:60]
    messages = list(generate(default_fleet(6, networks=("chirpstack",)), count=2 * _N, seed=19))
    assert all(m.outcome == "stored" for m in messages)

    first = _service(mosquitto, tmp_path, client_id, protocol)
    first.start()
    try:
        transport = first.transport
        assert isinstance(transport, MqttTransport)
        assert isinstance(transport.client, BufferedClient) is fast_client
        assert transport.wait_subscribed(10)
        pub = Publisher("127.0.0.1", mosquitto.port, client_id=f"pub-{client_id}")
        pub.publish(messages[:_N])  # two rounds, so the fallback is used more than once
        pub.publish(messages[_N:])
        pub.close()
        assert _wait(lambda: first.received >= 2 * _N, 30), first.received
        assert first.wait_idle(30), first.buffer.stats()
        assert first.outcomes[("stored", "uplink")] == 2 * _N, first.outcomes
        assert first.buffer.dead_letters(limit=10) == []
        assert transport.fast_acks is fast_acks
        time.sleep(0.3)  # let the network thread flush the PUBACKs
    finally:
        first.stop()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "nothing lost" in warnings[0].getMessage()

    # every message was acknowledged: the same session gets nothing again
    second = _service(mosquitto, tmp_path, client_id, protocol)
    second.start()
    try:
        assert second.transport is not None and second.transport.wait_subscribed(10)  # type: ignore[attr-defined]
        time.sleep(1.5)
        assert second.received == 0
    finally:
        second.stop()


def test_the_mqtt5_property_swap_is_undone_when_the_last_client_stops(
    mosquitto: Mosquitto,
) -> None:
    settings = MqttSettings(
        host="127.0.0.1", port=mosquitto.port, client_id="swap-scope", qos=1, protocol="5"
    )
    assert vars(_packet)["Properties"] is Properties
    a = MqttTransport(settings, lambda raw: None)
    b = MqttTransport(settings.model_copy(update={"client_id": "swap-scope-b"}), lambda raw: None)
    a.start()
    b.start()
    try:
        assert a.wait_subscribed(10) and b.wait_subscribed(10)
        assert vars(_packet)["Properties"] is transport_mod._LeanProperties
        a.stop()
        assert vars(_packet)["Properties"] is transport_mod._LeanProperties  # b still runs
    finally:
        b.stop()
        a.stop()  # a second stop changes nothing
    assert vars(_packet)["Properties"] is Properties
