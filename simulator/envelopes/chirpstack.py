"""ChirpStack v4 envelopes: JSON (lowerCamelCase, ``+00:00`` timestamps, codec output
as f64) or the same message as protobuf."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from lorawan_monitor.radio import lora_data_rate
from simulator.envelopes._common import (
    DEFAULT_GATEWAYS,
    GatewayRx,
    Message,
    as_f64,
    b64,
    digest,
    dump,
    rfc3339,
    uuid4_from,
)

CS_TENANT_ID = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"


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
        return dump(msg)
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
            "uplinkId": int.from_bytes(digest("up", dev_eui, f_cnt, i)[:4], "big"),
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
        rx["context"] = b64(digest("ctx", dev_eui, f_cnt, i)[:4])
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
        "devAddr": digest("addr", dev_eui)[:4].hex(),
        "adr": True,
        "dr": lora_data_rate(spreading_factor, 125_000, frequency) or 0,
        "fCnt": f_cnt,
        "fPort": f_port,
        "confirmed": confirmed,
        "data": b64(payload),
    }
    if object is not None:
        msg["object"] = as_f64(object)
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
