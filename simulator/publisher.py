"""Publish simulated messages to an MQTT broker (QoS 1 by default), at a rate or as fast as possible."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulator.fleet import SimMessage

log = logging.getLogger(__name__)


class Publisher:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        client_id: str = "lorawan-monitor-simulator",
        qos: int = 1,
        max_inflight: int = 1000,
    ) -> None:
        self.qos = qos
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        self._connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: self._connected.set()
        self.client.connect(host, port, keepalive=60)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise ConnectionError(f"simulator could not connect to MQTT {host}:{port}")
        self.sent = 0

    def publish(self, messages: Iterable[SimMessage], *, rate: float | None = None) -> int:
        """Publish; ``rate`` in messages/s (None = as fast as the broker takes them).
        Returns when every message is acknowledged by the broker (QoS >= 1)."""
        infos = []
        t0 = time.monotonic()
        for i, msg in enumerate(messages):
            if rate:
                due = t0 + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            infos.append(self.client.publish(msg.topic, msg.payload, qos=self.qos))
            self.sent += 1
        for info in infos:
            info.wait_for_publish(timeout=60)
        return len(infos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
