"""ChirpStack v3 envelopes: ``json_v3`` (hex EUIs, ``object``) or ``json`` (base64 EUIs,
``objectJSON`` string, ``publishedAt``, bandwidth in kHz)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from lorawan_monitor.radio import lora_data_rate
from simulator.envelopes._common import (
    DEFAULT_GATEWAYS,
    GatewayRx,
    Message,
    b64,
    digest,
    dump,
    rfc3339,
    uuid4_from,
)


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
        return b64(bytes.fromhex(hex_eui)) if json_pb else hex_eui.lower()

    rx_info = []
    for i, gw in enumerate(gws):
        rx: dict[str, Any] = {"gatewayID": _eui(gw.eui)}
        if time is not None:
            rx["time"] = rfc3339(time)
        rx["rssi"] = gw.rssi
        rx["loRaSNR"] = gw.snr
        if json_pb:
            rx.update(channel=gw.channel, rfChain=0, board=0, antenna=0, crcStatus="CRC_OK")
            rx["uplinkID"] = b64(digest("up3", dev, f_cnt, i)[:16])
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
        msg.update(adr=True, dr=dr, fCnt=f_cnt, fPort=f_port, data=b64(payload) or None)
        msg["devAddr"] = b64(digest("addr", dev)[:4])
        msg["confirmedUplink"] = False
        msg["objectJSON"] = orjson.dumps(object).decode() if object is not None else ""
        msg["tags"] = dict(tags or {})
        if published_at is None and time is not None:
            published_at = time + timedelta(milliseconds=80)
        if published_at is not None:
            msg["publishedAt"] = rfc3339(published_at)
    else:
        msg["txInfo"] = {"frequency": frequency, "dr": dr}
        msg.update(adr=True, fCnt=f_cnt, fPort=f_port, data=b64(payload) or None)
        if object is not None:
            msg["object"] = object
        if tags:
            msg["tags"] = dict(tags)
    suffix = "rx" if legacy_topic else "event/up"
    return f"application/{application_id}/device/{dev}/{suffix}", dump(msg)
