"""The Things Stack v3 envelopes, as its MQTT server publishes them (snake_case,
empty fields omitted, 64-bit integers as strings, ``Z`` timestamps)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from lorawan_monitor.radio import lora_airtime
from simulator.envelopes._common import (
    DEFAULT_GATEWAYS,
    GatewayRx,
    Message,
    b64,
    digest,
    dump,
    pb_duration,
    rfc3339,
    ulid,
)


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
    return f"v3/{_tts_app(application, tenant)}/devices/{device_id}/{event}", dump(msg)


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
    um: dict[str, Any] = {"session_key_id": b64(digest("skey", device_id)[:16])}
    if f_port:
        um["f_port"] = f_port
    if f_cnt:
        um["f_cnt"] = f_cnt
    if payload:
        um["frm_payload"] = b64(payload)
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
        "session_key_id": b64(digest("skey", device_id, received_at)[:16]),
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
        body["frm_payload"] = b64(payload)
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
