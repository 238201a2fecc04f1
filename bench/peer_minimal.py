"""The minimal batched Python consumer of ``bench/peers.py`` (#19): what a short script
does with The Things Stack uplinks of Dragino LHT65 devices — paho (QoS 1, clean session,
paho's own acknowledgements) -> orjson -> LHT65 decode -> 5,000-line POSTs to InfluxDB v1.

No envelope validation, no range checks, no registry, no durable buffer: a message is
acknowledged when it arrives, so a crash loses what was not yet written. It is the floor
the service is compared with, not a way to run it.

LHT65 layout from Dragino's "LHT65 LoRaWAN Temperature & Humidity Sensor User Manual"
(port 2: battery mV in the low 14 bits of bytes 0-1, built-in temperature int16 /100 °C,
humidity uint16 /10 %).

    python bench/peer_minimal.py HOST PORT CLIENT_ID INFLUX_URL DATABASE
"""

from __future__ import annotations

import base64
import struct
import sys
import threading
import time
from datetime import datetime
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

_BATCH = 5000
_LHT65 = struct.Struct(">HhH")


def _ns(rfc3339: str) -> int:
    t = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def lines(payload: bytes) -> list[str]:
    """The four line-protocol points of one uplink (3 readings + radio metadata)."""
    msg: dict[str, Any] = orjson.loads(payload)
    up = msg["uplink_message"]
    device = msg["end_device_ids"]["device_id"]
    ts = _ns(up["received_at"])
    bat, temp, hum = _LHT65.unpack_from(base64.b64decode(up["frm_payload"]))
    rx = up["rx_metadata"][0]
    tag = f"device={device}"
    return [
        f"temperature,{tag},sensor=internal value={temp / 100} {ts}",
        f"relative_humidity,{tag},sensor=internal value={hum / 10} {ts}",
        f"battery_voltage,{tag} value={(bat & 0x3FFF) / 1000} {ts}",
        f"lorawan_uplink,{tag} f_cnt={up.get('f_cnt', 0)}i,rssi={rx.get('rssi', 0)},"
        f"snr={rx.get('snr', 0)} {ts}",
    ]


def main() -> int:
    host, port, client_id, influx, db = sys.argv[1:6]
    pending: list[str] = []
    lock = threading.Lock()
    http = httpx.Client(base_url=influx, timeout=30)

    def flush() -> None:
        with lock:
            batch, pending[:] = list(pending), []
        for i in range(0, len(batch), _BATCH):
            r = http.post("/write", params={"db": db}, content="\n".join(batch[i : i + _BATCH]))
            r.raise_for_status()

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        new = lines(m.payload)
        with lock:
            pending.extend(new)
            full = len(pending) >= _BATCH
        if full:
            flush()

    def ticker() -> None:
        while True:
            time.sleep(1.0)
            flush()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    c.max_inflight_messages_set(65535)
    c.on_message = on_message
    c.on_connect = lambda cl, *_: cl.subscribe("v3/+/devices/+/up", qos=1)
    c.connect(host, int(port))
    threading.Thread(target=ticker, daemon=True).start()
    c.loop_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
