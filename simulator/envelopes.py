"""Envelope builders: the inverse of ``ingest.envelopes`` — pure functions returning
``(topic, payload_bytes)`` exactly as the network servers publish them.

* The Things Stack v3: snake_case, empty fields omitted (``f_port`` 0, ``confirmed``
  false, ``channel_index`` 0 are absent), upper-case hex EUIs, 64-bit integers as strings
  (``"868100000"``), ``Z`` timestamps with 0/3/6 fractional digits, durations ``"0.06s"``.
* ChirpStack v4: lowerCamelCase, integration fields always emitted (``emit_fields``, v4.1+),
  nested gateway fields omitted when default, ``+00:00`` timestamps, lower-case hex EUIs,
  codec output as JSON numbers of f64 (``776.0``); or the same message as protobuf.
* ChirpStack v3: ``json_v3`` (hex EUIs, ``object``) or ``json`` (base64 EUIs,
  ``objectJSON`` string, ``publishedAt``, bandwidth in kHz).

Identifiers that a server would draw at random (TTS ULIDs, ChirpStack deduplication
UUIDs) are derived from the inputs by hashing, so the same call gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from ingest.envelopes.base import lora_data_rate

Message = tuple[str, bytes]
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CS_TENANT_ID = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"


@dataclass(frozen=True, kw_only=True)
class GatewayRx:
    """One gateway's reception of an uplink."""

    gateway_id: str
    eui: str  # 16 hex digits
    rssi: int = -85
    snr: float = 7.5
    channel: int = 0
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None


DEFAULT_GATEWAYS = (
    GatewayRx(gateway_id="sim-gw-1", eui="B827EBFFFE000001", rssi=-85, snr=7.5, channel=1),
)


# --- formatting -------------------------------------------------------------------------


def rfc3339(when: datetime, *, z: bool = True) -> str:
    """UTC with 0, 3 or 6 fractional digits, ``Z`` (TTS, Go) or ``+00:00`` (ChirpStack)."""
    when = when.astimezone(UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    us = when.microsecond
    if us:
        text += f".{us // 1000:03d}" if us % 1000 == 0 else f".{us:06d}"
    return text + ("Z" if z else "+00:00")


def pb_duration(seconds: float) -> str:
    """Protobuf JSON duration with 0/3/6/9 fractional digits: ``"0.205824s"``."""
    ns = round(seconds * 1e9)
    whole, frac = divmod(ns, 1_000_000_000)
    if frac == 0:
        return f"{whole}s"
    for digits, unit in ((3, 1_000_000), (6, 1_000)):
        if frac % unit == 0:
            return f"{whole}.{frac // unit:0{digits}d}s"
    return f"{whole}.{frac:09d}s"


def lora_airtime(phy_len: int, sf: int, bw: int = 125_000, preamble: int = 8) -> float:
    """Semtech AN1200.13 time on air, explicit header, CRC on, coding rate 4/5."""
    tsym = (1 << sf) / bw
    de = 1 if sf >= 11 and bw == 125_000 else 0
    n = math.ceil((8 * phy_len - 4 * sf + 28 + 16) / (4 * (sf - 2 * de)))
    return (preamble + 4.25) * tsym + (8 + max(n * 5, 0)) * tsym


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def ulid(when: datetime, *seed: object) -> str:
    """A ULID (48-bit ms time + 80 bits) whose random part is a hash of ``seed``."""
    value = (int(when.timestamp() * 1000) << 80) | int.from_bytes(_digest(*seed)[:10], "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


def uuid4_from(*seed: object) -> str:
    return str(uuid.UUID(bytes=_digest(*seed)[:16], version=4))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _dump(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def _as_f64(value: Any) -> Any:
    """What ChirpStack's JS codec output becomes: every number an f64 (``776`` -> ``776.0``)."""
    if isinstance(value, dict):
        return {k: _as_f64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_f64(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


# --- The Things Stack v3 ----------------------------------------------------------------


def _tts_app(application: str, tenant: str | None) -> str:
    return f"{application}@{tenant}" if tenant else application


def _tts_ids(application: str, device_id: str, dev_eui: str | None) -> dict[str, Any]:
    ids: dict[str, Any] = {
        "device_id": device_id,
        "application_ids": {"application_id": application},
    }
    if dev_eui:
        ids["dev_eui"] = dev_eui.upper()
        ids["join_eui"] = "70B3D57ED0000000"
    return ids


def _tts_correlation(when: datetime, uplink_id: str | None, *seed: object) -> list[str]:
    ns_uplink = uplink_id or f"ns:uplink:{ulid(when, 'ns', *seed)}"
    if not ns_uplink.startswith("ns:uplink:"):
        ns_uplink = f"ns:uplink:{ns_uplink}"
    return sorted(
        [
            f"as:up:{ulid(when, 'as', *seed)}",
            f"gs:uplink:{ulid(when, 'gs', *seed)}",
            ns_uplink,
            f"rpc:/ttn.lorawan.v3.GsNs/HandleUplink:{ulid(when, 'rpc1', *seed)}",
            f"rpc:/ttn.lorawan.v3.NsAs/HandleUplink:{ulid(when, 'rpc2', *seed)}",
        ]
    )


def _tts_rx(gateways: Sequence[GatewayRx], gw_time: datetime) -> list[dict[str, Any]]:
    out = []
    for gw in gateways:
        rx: dict[str, Any] = {
            "gateway_ids": {"gateway_id": gw.gateway_id, "eui": gw.eui.upper()},
            "time": rfc3339(gw_time),
            "timestamp": int(gw_time.timestamp() * 1e6) % 2**32 or 1,
            "rssi": gw.rssi,
            "channel_rssi": gw.rssi,
        }
        if gw.snr:
            rx["snr"] = gw.snr
        if gw.latitude is not None and gw.longitude is not None:
            alt = round(gw.altitude) if gw.altitude is not None else None  # int32 metres in TTS
            coords = {"latitude": gw.latitude, "longitude": gw.longitude, "altitude": alt}
            loc: dict[str, Any] = {k: v for k, v in coords.items() if v}  # zeros omitted
            rx["location"] = loc | {"source": "SOURCE_REGISTRY"}
        if gw.channel:
            rx["channel_index"] = gw.channel
        rx["received_at"] = rfc3339(gw_time + timedelta(milliseconds=30))
        out.append(rx)
    return out


def _tts_message(
    event: str,
    kind: str,
    body: dict[str, Any],
    *,
    application: str,
    tenant: str | None,
    device_id: str,
    dev_eui: str | None,
    received_at: datetime,
    correlation: tuple[str | None, object],
    as_delay_ms: int,
) -> Message:
    """One TTS ``ApplicationUp``: identifiers, correlation ids, the AS receive time
    (``as_delay_ms`` after the NS time) and the event's body under ``kind``."""
    uplink_id, seed = correlation
    msg = {
        "end_device_ids": _tts_ids(application, device_id, dev_eui),
        "correlation_ids": _tts_correlation(received_at, uplink_id, device_id, seed),
        "received_at": rfc3339(received_at + timedelta(milliseconds=as_delay_ms)),
        kind: body,
    }
    return f"v3/{_tts_app(application, tenant)}/devices/{device_id}/{event}", _dump(msg)


def tts_uplink(
    *,
    application: str,
    tenant: str | None = "ttn",
    device_id: str,
    dev_eui: str | None,
    f_port: int,
    f_cnt: int,
    payload: bytes,
    received_at: datetime,
    model_id: str | None = None,
    decoded: dict[str, Any] | None = None,
    gateways: Sequence[GatewayRx] | None = None,
    spreading_factor: int = 7,
    frequency: int = 868_100_000,
    uplink_id: str | None = None,
) -> Message:
    """A TTS ``.../up`` message; ``received_at`` is the Network Server time the parser reads;
    ``uplink_id`` is the ``ns:uplink:`` correlation id (generated when None)."""
    gw_time = received_at - timedelta(milliseconds=55)
    um: dict[str, Any] = {"session_key_id": _b64(_digest("skey", device_id)[:16])}
    if f_port:
        um["f_port"] = f_port
    if f_cnt:
        um["f_cnt"] = f_cnt
    if payload:
        um["frm_payload"] = _b64(payload)
    if decoded:
        um["decoded_payload"] = decoded
    um["rx_metadata"] = _tts_rx(DEFAULT_GATEWAYS if gateways is None else gateways, gw_time)
    um["settings"] = {
        "data_rate": {
            "lora": {
                "bandwidth": 125_000,
                "spreading_factor": spreading_factor,
                "coding_rate": "4/5",
            }
        },
        "frequency": str(frequency),
        "time": rfc3339(gw_time),
    }
    um["received_at"] = rfc3339(received_at)
    phy_len = len(payload) + (13 if f_port else 12)
    um["consumed_airtime"] = pb_duration(lora_airtime(phy_len, spreading_factor))
    if model_id:
        brand, _, model = model_id.partition("/")
        um["version_ids"] = {"brand_id": brand, "model_id": model, "band_id": "EU_863_870"}
    um["network_ids"] = {"net_id": "000013", "tenant_id": tenant or "default", "cluster_id": "eu1"}
    return _tts_message(
        "up",
        "uplink_message",
        um,
        application=application,
        tenant=tenant,
        device_id=device_id,
        dev_eui=dev_eui,
        received_at=received_at,
        correlation=(uplink_id, f_cnt),
        as_delay_ms=40,
    )


def tts_join(
    *,
    application: str,
    tenant: str | None = "ttn",
    device_id: str,
    dev_eui: str | None,
    received_at: datetime,
) -> Message:
    """A TTS ``.../join`` (join-accept) message."""
    body = {
        "session_key_id": _b64(_digest("skey", device_id, received_at)[:16]),
        "received_at": rfc3339(received_at),
    }
    return _tts_message(
        "join",
        "join_accept",
        body,
        application=application,
        tenant=tenant,
        device_id=device_id,
        dev_eui=dev_eui,
        received_at=received_at,
        correlation=(None, "join"),
        as_delay_ms=40,
    )


def tts_normalized(
    *,
    application: str,
    tenant: str | None = "ttn",
    device_id: str,
    dev_eui: str | None,
    f_port: int,
    f_cnt: int,
    payload: bytes,
    received_at: datetime,
    normalized: dict[str, Any],
    uplink_id: str | None = None,
) -> Message:
    """A TTS ``.../up/normalized`` message (one per normalized measurement)."""
    body: dict[str, Any] = {}
    if f_port:
        body["f_port"] = f_port
    if f_cnt:
        body["f_cnt"] = f_cnt
    if payload:
        body["frm_payload"] = _b64(payload)
    body["normalized_payload"] = normalized
    body["received_at"] = rfc3339(received_at)
    return _tts_message(
        "up/normalized",
        "uplink_normalized",
        body,
        application=application,
        tenant=tenant,
        device_id=device_id,
        dev_eui=dev_eui,
        received_at=received_at,
        correlation=(uplink_id, f_cnt),
        as_delay_ms=42,
    )


# --- ChirpStack v4 ----------------------------------------------------------------------

Marshaler = Literal["json", "protobuf"]


def _cs_topic(application_id: str, dev_eui: str, event: str) -> str:
    return f"application/{application_id}/device/{dev_eui.lower()}/event/{event}"


def _cs_device_info(
    application_id: str,
    application_name: str,
    dev_eui: str,
    device_name: str,
    device_profile_name: str | None,
    tags: dict[str, str] | None,
    tenant_name: str,
) -> dict[str, Any]:
    profile = device_profile_name or "default"
    return {
        "tenantId": CS_TENANT_ID,
        "tenantName": tenant_name,
        "applicationId": application_id,
        "applicationName": application_name,
        "deviceProfileId": uuid4_from("profile", profile),
        "deviceProfileName": profile,
        "deviceName": device_name,
        "devEui": dev_eui.lower(),
        "deviceClassEnabled": "CLASS_A",
        "tags": dict(tags or {}),
    }


def _cs_encode(event: str, msg: dict[str, Any], marshaler: Marshaler) -> bytes:
    if marshaler == "json":
        return _dump(msg)
    from chirpstack_api import integration
    from google.protobuf import json_format

    types = {
        "up": integration.UplinkEvent,
        "status": integration.StatusEvent,
        "log": integration.LogEvent,
    }
    return bytes(json_format.ParseDict(msg, types[event]()).SerializeToString())


def chirpstack_uplink(
    *,
    application_id: str,
    application_name: str,
    dev_eui: str,
    device_name: str,
    f_port: int,
    f_cnt: int,
    payload: bytes,
    time: datetime,
    device_profile_name: str | None = None,
    tags: dict[str, str] | None = None,
    object: dict[str, Any] | None = None,  # ChirpStack's field name
    marshaler: Marshaler = "json",
    tenant_name: str = "ChirpStack",
    gateways: Sequence[GatewayRx] | None = None,
    spreading_factor: int = 7,
    frequency: int = 868_100_000,
    deduplication_id: str | None = None,
    confirmed: bool = False,
) -> Message:
    """A ChirpStack v4 ``up`` event (JSON as of v4.11+, or protobuf)."""
    rx_info = []
    for i, gw in enumerate(DEFAULT_GATEWAYS if gateways is None else gateways):
        rx: dict[str, Any] = {
            "gatewayId": gw.eui.lower(),
            "uplinkId": int.from_bytes(_digest("up", dev_eui, f_cnt, i)[:4], "big"),
            "nsTime": rfc3339(time + timedelta(milliseconds=24), z=False),
            "rssi": gw.rssi,
            "snr": gw.snr,
        }
        if gw.channel:
            rx["channel"] = gw.channel
        loc: dict[str, Any] = {}
        if gw.latitude is not None and gw.longitude is not None:
            loc = {"latitude": gw.latitude, "longitude": gw.longitude}
            if gw.altitude:
                loc["altitude"] = gw.altitude
        rx["location"] = loc
        rx["context"] = _b64(_digest("ctx", dev_eui, f_cnt, i)[:4])
        rx["crcStatus"] = "CRC_OK"
        rx_info.append(rx)
    msg: dict[str, Any] = {
        "deduplicationId": deduplication_id or uuid4_from("dedup", dev_eui.lower(), f_cnt, time),
        "time": rfc3339(time, z=False),
        "deviceInfo": _cs_device_info(
            application_id,
            application_name,
            dev_eui,
            device_name,
            device_profile_name,
            tags,
            tenant_name,
        ),
        "devAddr": _digest("addr", dev_eui)[:4].hex(),
        "adr": True,
        "dr": lora_data_rate(spreading_factor, 125_000, frequency) or 0,
        "fCnt": f_cnt,
        "fPort": f_port,
        "confirmed": confirmed,
        "data": _b64(payload),
    }
    if object is not None:
        msg["object"] = _as_f64(object)
    msg["rxInfo"] = rx_info
    msg["txInfo"] = {
        "frequency": frequency,
        "modulation": {
            "lora": {
                "bandwidth": 125_000,
                "spreadingFactor": spreading_factor,
                "codeRate": "CR_4_5",
            }
        },
    }
    msg["regionConfigId"] = "eu868"
    return _cs_topic(application_id, dev_eui, "up"), _cs_encode("up", msg, marshaler)


def chirpstack_status(
    *,
    application_id: str,
    application_name: str,
    dev_eui: str,
    device_name: str,
    time: datetime,
    margin: int,
    battery_level: float | None,
    external_power: bool = False,
    deduplication_id: str | None = None,
    marshaler: Marshaler = "json",
) -> Message:
    """A ChirpStack v4 ``status`` event; ``battery_level`` None = unavailable."""
    msg = {
        "deduplicationId": deduplication_id or uuid4_from("status", dev_eui.lower(), time),
        "time": rfc3339(time, z=False),
        "deviceInfo": _cs_device_info(
            application_id, application_name, dev_eui, device_name, None, None, "ChirpStack"
        ),
        "margin": margin,
        "externalPowerSource": external_power,
        "batteryLevelUnavailable": battery_level is None and not external_power,
        "batteryLevel": float(battery_level or 0.0),
    }
    return _cs_topic(application_id, dev_eui, "status"), _cs_encode("status", msg, marshaler)


def chirpstack_log(
    *,
    application_id: str,
    application_name: str,
    dev_eui: str,
    device_name: str,
    time: datetime,
    uplink_id: str,
    description: str = "decodeUplink returned errors: invalid payload",
    code: str = "UPLINK_CODEC",
    level: str = "ERROR",
    marshaler: Marshaler = "json",
) -> Message:
    """A ChirpStack v4 ``log`` event; the default is a codec error for uplink ``uplink_id``."""
    msg = {
        "time": rfc3339(time, z=False),
        "deviceInfo": _cs_device_info(
            application_id, application_name, dev_eui, device_name, None, None, "ChirpStack"
        ),
        "level": level,
        "code": code,
        "description": description,
        "context": {"deduplication_id": uplink_id},
    }
    return _cs_topic(application_id, dev_eui, "log"), _cs_encode("log", msg, marshaler)


# --- ChirpStack v3 ----------------------------------------------------------------------


def chirpstack_v3_uplink(
    *,
    application_id: int,
    application_name: str,
    dev_eui: str,
    device_name: str,
    f_port: int,
    f_cnt: int,
    payload: bytes,
    time: datetime | None,
    object: dict[str, Any] | None = None,  # ChirpStack's field name
    marshaler: Literal["json_v3", "json"] = "json_v3",
    tags: dict[str, str] | None = None,
    device_profile_name: str | None = None,
    gateways: Sequence[GatewayRx] | None = None,
    spreading_factor: int = 7,
    frequency: int = 868_100_000,
    published_at: datetime | None = None,
    legacy_topic: bool = False,
) -> Message:
    """A ChirpStack AS v3 uplink. ``time`` None = gateways sent no time; ``gateways=[]`` =
    no ``rxInfo`` (the service profile does not add gateway meta-data)."""
    gws = DEFAULT_GATEWAYS if gateways is None else gateways
    dev = dev_eui.lower()
    json_pb = marshaler == "json"

    def _eui(hex_eui: str) -> str:
        return _b64(bytes.fromhex(hex_eui)) if json_pb else hex_eui.lower()

    rx_info = []
    for i, gw in enumerate(gws):
        rx: dict[str, Any] = {"gatewayID": _eui(gw.eui)}
        if time is not None:
            rx["time"] = rfc3339(time)
        rx["rssi"] = gw.rssi
        rx["loRaSNR"] = gw.snr
        if json_pb:
            rx.update(channel=gw.channel, rfChain=0, board=0, antenna=0, crcStatus="CRC_OK")
            rx["uplinkID"] = _b64(_digest("up3", dev, f_cnt, i)[:16])
        else:
            rx["uplinkID"] = uuid4_from("up3", dev, f_cnt, i)
            rx["name"] = gw.gateway_id
        known = gw.latitude is not None and gw.longitude is not None
        rx["location"] = {  # a gateway without coordinates gives {0, 0, 0} in v3
            "latitude": gw.latitude if known else 0.0,
            "longitude": gw.longitude if known else 0.0,
            "altitude": (gw.altitude or 0.0) if known else 0.0,
        }
        rx_info.append(rx)
    dr = lora_data_rate(spreading_factor, 125_000, frequency) or 0
    msg: dict[str, Any] = {
        "applicationID": str(application_id),
        "applicationName": application_name,
        "deviceName": device_name,
        "deviceProfileName": device_profile_name or "",
        "devEUI": _eui(dev),
    }
    if rx_info or json_pb:
        msg["rxInfo"] = rx_info
    if json_pb:
        msg["txInfo"] = {
            "frequency": frequency,
            "modulation": "LORA",
            "loRaModulationInfo": {
                "bandwidth": 125,
                "spreadingFactor": spreading_factor,
                "codeRate": "4/5",
                "polarizationInversion": False,
            },
        }
        msg.update(adr=True, dr=dr, fCnt=f_cnt, fPort=f_port, data=_b64(payload) or None)
        msg["devAddr"] = _b64(_digest("addr", dev)[:4])
        msg["confirmedUplink"] = False
        msg["objectJSON"] = orjson.dumps(object).decode() if object is not None else ""
        msg["tags"] = dict(tags or {})
        if published_at is None and time is not None:
            published_at = time + timedelta(milliseconds=80)
        if published_at is not None:
            msg["publishedAt"] = rfc3339(published_at)
    else:
        msg["txInfo"] = {"frequency": frequency, "dr": dr}
        msg.update(adr=True, fCnt=f_cnt, fPort=f_port, data=_b64(payload) or None)
        if object is not None:
            msg["object"] = object
        if tags:
            msg["tags"] = dict(tags)
    suffix = "rx" if legacy_topic else "event/up"
    return f"application/{application_id}/device/{dev}/{suffix}", _dump(msg)
