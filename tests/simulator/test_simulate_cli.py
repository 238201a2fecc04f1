"""``lorawan-monitor simulate`` as a user runs it, against a real mosquitto (#16: several
applications of one municipality)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from tests.servers import Mosquitto

pytestmark = pytest.mark.integration


def _collect(port: int, topic: str, want: int, run: list[str]) -> list[mqtt.MQTTMessage]:
    got: list[mqtt.MQTTMessage] = []
    subscribed = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{os.getpid()}")
    c.on_connect = lambda cl, *_: cl.subscribe(topic, qos=1)
    c.on_subscribe = lambda *_: subscribed.set()
    c.on_message = lambda _c, _u, m: got.append(m)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        assert subscribed.wait(10)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
        out = subprocess.run(
            [sys.executable, "-m", "lorawan_monitor.cli", "simulate", *run],
            env=env,
            capture_output=True,
            timeout=60,
            check=True,
        )
        assert f"published {want} messages" in out.stdout.decode()
        deadline = time.monotonic() + 10
        while len(got) < want and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        c.loop_stop()
        c.disconnect()
    return got


def test_simulate_deals_devices_out_over_several_applications(mosquitto: Mosquitto) -> None:
    port = str(mosquitto.port)
    args = ["--port", port, "--network", "tts", "--devices", "4", "--count", "8"]
    got = _collect(mosquitto.port, "v3/#", 8, [*args, "--applications", "umwelt, parken"])
    assert len(got) == 8
    apps = set()
    for m in got:
        body = json.loads(m.payload)
        app = body["end_device_ids"]["application_ids"]["application_id"]
        assert m.topic.startswith(f"v3/{app}@"), m.topic  # topic and envelope agree
        apps.add(app)
    assert apps == {"umwelt", "parken"}
