"""Virtual devices: realistic values, real payload encodings, real envelopes.

A fleet is a list of :class:`VirtualDevice`. :func:`generate` walks time forward and
yields :class:`SimMessage` objects — the MQTT topic and payload exactly as The Things
Stack or ChirpStack would publish them, plus what the service must make of it: the
expected points (quantity, sensor, value, timestamp) or the expected rejection.
That is what the end-to-end tests and the benchmark check against.

Values follow a daily curve (temperature peaks mid-afternoon, humidity opposite,
visitors by day), with a little deterministic noise per device.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Literal

import yaml

from decoders.quantities import info
from simulator import encoders as enc
from simulator import envelopes as env

Network = Literal["tts", "chirpstack", "chirpstack-v3"]
Behaviour = Literal["lht65", "lpp-env", "lpp-parking", "lns-only", "vector", "broken"]


def _vector_files() -> list[Traversable]:
    """The decoders' vector files, read as package data (works from a wheel or a zip too)."""
    root = files("decoders.vendors")
    out: list[Traversable] = []
    for vendor in root.iterdir():
        testdata = vendor / "testdata"
        if vendor.is_dir() and testdata.is_dir():
            out.extend(f for f in testdata.iterdir() if f.name.endswith(".yaml"))
    return sorted(out, key=str)


@dataclass(frozen=True, kw_only=True)
class Expected:
    quantity: str
    sensor: str
    value: float
    time_ns: int


@dataclass(frozen=True, kw_only=True)
class SimMessage:
    topic: str
    payload: bytes
    device: str  # the `device` tag the points carry ("" for malformed)
    expected: tuple[Expected, ...] = ()
    outcome: Literal["stored", "rejected", "ignored"] = "stored"
    reason: str = "uplink"


@dataclass(frozen=True, kw_only=True)
class VirtualDevice:
    name: str
    dev_eui: str
    network: Network
    behaviour: Behaviour
    model_id: str | None = None
    application: str = "municipal-sensors"
    category: str = "environment"
    interval_s: int = 600
    marshaler: Literal["json", "protobuf"] = "json"
    #: for behaviour "vector": the model's success cases (f_port, payload, readings)
    vectors: tuple[tuple[int, bytes, tuple[VectorReading, ...]], ...] = field(default=())
    offset: float = 0.0  # per-device temperature offset


def _eui(name: str) -> str:
    return "70B3D5" + hashlib.sha256(name.encode()).hexdigest()[:10].upper()


def _app_uuid(name: str) -> str:
    h = hashlib.sha256(name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


VectorReading = tuple[str, str, float, int | None]  # quantity, sensor, value, device time (ns)


def load_vectors(
    model_id: str,
) -> tuple[tuple[int, bytes, tuple[VectorReading, ...]], ...]:
    """The success cases of a model's vector file, with the readings the service keeps
    (readings outside the quantity catalogue's valid range are dropped by the pipeline)."""
    out = []
    for path in _vector_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("model") != model_id:
            continue
        for case in doc.get("cases", []):
            if "error" in case or case.get("variables") or not case.get("readings"):
                continue
            payload = bytes.fromhex(str(case["payload"]).replace(" ", ""))
            readings = tuple(
                (
                    str(r["quantity"]),
                    str(r.get("sensor", "")),
                    float(r["value"]),
                    _time_ns(r.get("time")),
                )
                for r in case["readings"]
                if info(str(r["quantity"])).in_range(float(r["value"]))
            )
            out.append((int(case["f_port"]), payload, readings))
    return tuple(out)


def _time_ns(value: object) -> int | None:
    if value is None:
        return None
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return _ns(t if t.tzinfo else t.replace(tzinfo=UTC))


def default_fleet(
    n: int = 24, *, broken: int = 0, networks: Sequence[Network] = ("tts", "chirpstack")
) -> list[VirtualDevice]:
    """A mixed fleet of ``n`` devices (+ ``broken`` ones sending undecodable payloads)."""
    behaviours: list[tuple[Behaviour, str | None, str]] = [
        ("lht65", "dragino/lht65", "environment"),
        ("lpp-env", "generic/cayenne-lpp", "environment"),
        ("lns-only", "acme/thermo-1", "environment"),
        ("lpp-parking", "generic/cayenne-lpp", "traffic"),
    ]
    fleet: list[VirtualDevice] = []
    for i in range(n):
        b, model, cat = behaviours[i % len(behaviours)]
        net = networks[(i // len(behaviours)) % len(networks)]
        name = f"sim-{b}-{i:03d}"
        fleet.append(
            VirtualDevice(
                name=name,
                dev_eui=_eui(name),
                network=net,
                behaviour=b,
                model_id=model,
                category=cat,
                interval_s=300 if b == "lpp-parking" else 600,
                marshaler="protobuf" if net == "chirpstack" and i % 3 == 0 else "json",
                offset=(i % 7) * 0.3,
            )
        )
    for j in range(broken):
        name = f"sim-broken-{j:03d}"
        fleet.append(
            VirtualDevice(
                name=name,
                dev_eui=_eui(name),
                network=networks[j % len(networks)],
                behaviour="broken",
                model_id="dragino/lht65",
            )
        )
    return fleet


def vector_devices(model_ids: Sequence[str], network: Network = "tts") -> list[VirtualDevice]:
    out = []
    for model in model_ids:
        vecs = load_vectors(model)
        if not vecs:
            continue
        name = "sim-" + model.replace("/", "-")
        out.append(
            VirtualDevice(
                name=name,
                dev_eui=_eui(name),
                network=network,
                behaviour="vector",
                model_id=model,
                vectors=vecs,
            )
        )
    return out


def _ns(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def _daily(t: datetime, mean: float, amp: float, peak_hour: float = 15.0) -> float:
    h = t.hour + t.minute / 60
    return mean + amp * math.cos(2 * math.pi * (h - peak_hour) / 24)


def _sf(dev: VirtualDevice) -> int:
    """A device's spreading factor: most near a gateway (SF7), some far away (up to SF12)."""
    return (7, 7, 7, 8, 9, 10, 11, 12)[int(dev.dev_eui[-2:], 16) % 8]


def _wrap(
    dev: VirtualDevice,
    t: datetime,
    f_cnt: int,
    f_port: int,
    payload: bytes,
    decoded: dict[str, Any] | None = None,
) -> tuple[str, bytes]:
    if dev.network == "tts":
        return env.tts_uplink(
            application=dev.application,
            device_id=dev.name,
            dev_eui=dev.dev_eui,
            f_port=f_port,
            f_cnt=f_cnt,
            payload=payload,
            received_at=t,
            model_id=dev.model_id
            if dev.behaviour in ("lht65", "vector", "broken", "lns-only")
            else None,
            decoded=decoded,
            spreading_factor=_sf(dev),
        )
    if dev.network == "chirpstack":
        return env.chirpstack_uplink(
            application_id=_app_uuid(dev.application),
            application_name=dev.application,
            dev_eui=dev.dev_eui.lower(),
            device_name=dev.name,
            f_port=f_port,
            f_cnt=f_cnt,
            payload=payload,
            time=t,
            device_profile_name=dev.model_id,
            tags={"model": dev.model_id} if dev.model_id and dev.behaviour != "lns-only" else {},
            object=decoded,
            marshaler=dev.marshaler,
            spreading_factor=_sf(dev),
        )
    return env.chirpstack_v3_uplink(
        application_id=7,
        application_name=dev.application,
        dev_eui=dev.dev_eui.lower(),
        device_name=dev.name,
        f_port=f_port,
        f_cnt=f_cnt,
        payload=payload,
        time=t,
        tags={"model": dev.model_id} if dev.model_id else {},
        object=decoded,
    )


def device_tag(dev: VirtualDevice) -> str:
    """The ``device`` tag the service gives this device's points: the TTS device id, or
    for ChirpStack the DevEUI (lower-case hex; the device name there is editable)."""
    return dev.name if dev.network == "tts" else dev.dev_eui.lower()


def uplink(dev: VirtualDevice, t: datetime, f_cnt: int, rng: random.Random) -> SimMessage:
    """One uplink of one device at time ``t``."""
    ns = _ns(t)
    noise = rng.uniform(-0.3, 0.3)
    exp: tuple[tuple[str, str, float], ...]
    if dev.behaviour == "lht65":
        temp = enc.q(_daily(t, 11.0 + dev.offset, 5.0) + noise, 0.01)
        hum = enc.q(min(100.0, max(0.0, _daily(t, 78.0, -12.0) + 3 * noise)), 0.1)
        bat = enc.q(3.05 - f_cnt * 1e-5, 0.001)
        payload = enc.lht65(temperature=temp, humidity=hum, battery_v=bat)
        exp = (
            ("temperature", "internal", temp),
            ("relative_humidity", "internal", hum),
            ("battery_voltage", "", bat),
        )
        topic, body = _wrap(dev, t, f_cnt, 2, payload)
    elif dev.behaviour == "lpp-env":
        temp = enc.q(_daily(t, 10.0 + dev.offset, 6.0) + noise, 0.1)
        hum = enc.q(min(100.0, max(0.0, _daily(t, 80.0, -15.0))), 0.5)
        pres = enc.q(1013.0 + 8 * math.sin(ns / 3.6e12 / 30) + noise, 0.1)
        payload = enc.lpp(
            (1, "temperature", temp),
            (2, "relative_humidity", hum),
            (3, "barometric_pressure", pres),
        )
        exp = (
            ("temperature", "1", temp),
            ("relative_humidity", "2", hum),
            ("atmospheric_pressure", "3", pres),
        )
        decoded = None
        if dev.network == "tts":  # TTS's CayenneLPP formatter output (the LNS-decoded path)
            decoded = {
                "temperature_1": temp,
                "relative_humidity_2": hum,
                "barometric_pressure_3": pres,
            }
        topic, body = _wrap(dev, t, f_cnt, 1, payload, decoded)
    elif dev.behaviour == "lpp-parking":
        occupied = 1.0 if rng.random() < (0.8 if 9 <= t.hour < 18 else 0.3) else 0.0
        payload = enc.lpp((1, "presence", occupied))
        exp = (("presence", "1", occupied),)
        decoded = {"presence_1": occupied} if dev.network == "tts" else None
        topic, body = _wrap(dev, t, f_cnt, 1, payload, decoded)
    elif dev.behaviour == "lns-only":
        temp = round(_daily(t, 9.0 + dev.offset, 4.0) + noise, 2)
        bat = float(max(0, 100 - f_cnt // 50))
        decoded = {"temperature": temp, "battery": bat}
        payload = bytes([0x01, 0x02, 0x03])  # opaque to us: only the LNS knows this codec
        exp = (("temperature", "", temp), ("battery", "", bat))
        topic, body = _wrap(dev, t, f_cnt, 5, payload, decoded)
    elif dev.behaviour == "vector":
        f_port, payload, readings = dev.vectors[f_cnt % len(dev.vectors)]
        topic, body = _wrap(dev, t, f_cnt, f_port, payload)
        return SimMessage(
            topic=topic,
            payload=body,
            device=device_tag(dev),
            expected=tuple(
                Expected(quantity=qn, sensor=sn, value=v, time_ns=own if own is not None else ns)
                for qn, sn, v, own in readings
            ),
        )
    else:  # broken: a cut-off LHT65 frame -> decode error, radio metadata still written
        payload = bytes(rng.randrange(256) for _ in range(rng.randint(1, 7)))
        topic, body = _wrap(dev, t, f_cnt, 2, payload)
        return SimMessage(
            topic=topic,
            payload=body,
            device=device_tag(dev),
            outcome="rejected",
            reason="payload_length",
        )
    return SimMessage(
        topic=topic,
        payload=body,
        device=device_tag(dev),
        expected=tuple(Expected(quantity=qn, sensor=s, value=v, time_ns=ns) for qn, s, v in exp),
    )


def malformed(i: int, rng: random.Random) -> SimMessage:
    """A message no network server would send: each one must be rejected as malformed."""
    kinds = [
        (
            "v3/municipal-sensors@ttn/devices/sim-bad/up",
            b'{"end_device_ids": {"device_id": "sim-bad"',
        ),
        ("v3/municipal-sensors@ttn/devices/sim-bad/up", b"not json at all"),
        (
            "v3/municipal-sensors@ttn/devices/sim-bad/up",
            b'{"end_device_ids": {"device_id": "other-device", "application_ids": {"application_id": "municipal-sensors"}},'
            b' "uplink_message": {"f_port": 1, "frm_payload": "AQ==", "received_at": "2026-01-01T00:00:00Z"}}',
        ),
        (
            "v3/municipal-sensors@ttn/devices/sim-bad/up",
            b'{"end_device_ids": {"device_id": "sim-bad", "application_ids": {"application_id": "municipal-sensors"}},'
            b' "uplink_message": {"f_port": 1, "frm_payload": "%%%not-base64%%%", "received_at": "2026-01-01T00:00:00Z"}}',
        ),
        (
            "application/" + _app_uuid("x") + "/device/0011223344556677/event/up",
            bytes([0x0A, 0xFF, 0xFF, 0x01]),
        ),
        (
            "application/" + _app_uuid("x") + "/device/0011223344556677/event/up",
            b'{"deduplicationId": 5}',
        ),
    ]
    topic, payload = kinds[i % len(kinds)]
    return SimMessage(
        topic=topic, payload=payload, device="", outcome="rejected", reason="malformed"
    )


def generate(
    fleet: Sequence[VirtualDevice],
    *,
    start: datetime | None = None,
    count: int,
    malformed_count: int = 0,
    seed: int = 1,
) -> Iterator[SimMessage]:
    """``count`` uplinks round-robin over the fleet (each device at its own interval),
    with ``malformed_count`` malformed messages spread evenly among them."""
    rng = random.Random(seed)
    start = start or datetime(2026, 6, 1, tzinfo=UTC)
    every = count // malformed_count if malformed_count else 0
    bad = 0
    for i in range(count):
        dev = fleet[i % len(fleet)]
        n = i // len(fleet)
        t = start + timedelta(
            seconds=n * dev.interval_s + (i % len(fleet)) * 7, milliseconds=(i * 37) % 1000
        )
        yield uplink(dev, t, n + 1, rng)
        if every and (i + 1) % every == 0 and bad < malformed_count:
            yield malformed(bad, rng)
            bad += 1
    while bad < malformed_count:
        yield malformed(bad, rng)
        bad += 1
