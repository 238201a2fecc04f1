"""The Things Stack v3 (TTN, Cloud, Enterprise, Open Source): built-in MQTT server, JSON.

Topic ``v3/{application_id}[@{tenant_id}]/devices/{device_id}/{event}``; the payload is
an ``ApplicationUp`` with one of ``uplink_message``, ``uplink_normalized``,
``join_accept``, ``downlink_*``, ``service_data``, ``location_solved``.
TTS omits empty fields (``""``, ``0``, ``false``), so a missing ``f_port`` / ``f_cnt``
is 0; EUIs are upper-case hex, 64-bit integers are strings (``"868300000"``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ingest.envelopes import tts_fast
from ingest.envelopes.base import (
    JsonObj,
    Parsed,
    b64,
    build,
    check_same,
    coding_rate,
    duration,
    eui,
    items,
    load_object,
    location,
    lora_data_rate,
    opt_int,
    opt_str,
    opt_timestamp,
    req_str,
    req_sub,
    sub,
    timestamp,
    to_int,
)
from ingest.models import DeviceEvent, EventKind, Uplink
from lorawan_monitor.errors import EnvelopeError

#: what sends an uplink from the fast path to the general parser
_FALLBACK = (tts_fast.Fallback, EnvelopeError, msgspec.ValidationError, msgspec.DecodeError)

#: topic event suffix -> (ApplicationUp oneof key, DeviceEvent kind); None key = not checked
_EVENTS: dict[str, tuple[str | None, EventKind]] = {
    "up/normalized": ("uplink_normalized", "normalized"),
    "join": ("join_accept", "join"),
    "down/queued": ("downlink_queued", "downlink"),
    "down/sent": ("downlink_sent", "downlink"),
    "down/ack": ("downlink_ack", "downlink"),
    "down/nack": ("downlink_nack", "downlink"),
    "down/failed": ("downlink_failed", "downlink"),
    "down/invalidated": ("downlink_queue_invalidated", "downlink"),
    # queue operations published by applications; not ApplicationUp
    "down/push": (None, "downlink"),
    "down/replace": (None, "downlink"),
    "service/data": ("service_data", "service_data"),
    "location/solved": ("location_solved", "location"),
}


def parse(topic: str, payload: bytes, received: float | None = None) -> Parsed:
    """Parse one message from The Things Stack's MQTT server."""
    parts = topic.split("/", 4)
    if len(parts) != 5 or parts[0] != "v3" or parts[2] != "devices" or not parts[3]:
        raise EnvelopeError(
            f"TTS: unknown topic shape {topic!r} (want v3/<app>[@<tenant>]/devices/<device>/<event>)"
        )
    app, _, tenant = parts[1].partition("@")
    device, event = parts[3], parts[4]
    if event == "up":
        try:
            return tts_fast.uplink(payload, app, tenant or None, device)
        except _FALLBACK:
            # not well-formed for the fast path: the general parser accepts it or says why
            return _uplink(load_object(payload, "TTS uplink"), app, tenant or None, device)
    return _event(event, payload, app, device)


def _ids(msg: JsonObj, app: str, device: str, label: str) -> tuple[str, str | None]:
    ids = req_sub(msg, "end_device_ids", label)
    device_id = req_str(ids, "device_id", label)
    check_same(device, device_id, "device", "end_device_ids.device_id", label)
    app_ids = sub(ids, "application_ids", label)
    application = app_ids.get("application_id")
    if application is not None:
        if type(application) is not str:
            raise EnvelopeError(f"{label}: application_ids.application_id must be a string")
        check_same(app, application, "application", "application_ids.application_id", label)
    dev_eui = ids.get("dev_eui")
    return device_id, (eui(dev_eui, "end_device_ids.dev_eui", label) if dev_eui else None)


def _correlation(msg: JsonObj, label: str, prefix: str) -> str | None:
    for cid in items(msg, "correlation_ids", label):
        if type(cid) is str and cid.startswith(prefix):
            return cid
    return None


def _uplink(msg: JsonObj, app: str, tenant: str | None, device: str) -> Uplink:
    label = "TTS uplink"
    device_id, dev_eui = _ids(msg, app, device, label)
    um = req_sub(msg, "uplink_message", label)
    f_cnt = opt_int(um, "f_cnt", label) or 0
    uplink_id = _correlation(msg, label, "ns:uplink:") or _correlation(msg, label, "as:up:")
    if uplink_id is None:
        session = opt_str(um, "session_key_id", label) or ""
        uplink_id = f"{device_id}:{session}:{f_cnt}"

    received_at = um.get("received_at") or msg.get("received_at")
    if received_at is None:
        raise EnvelopeError(f"{label}: missing uplink_message.received_at and received_at")

    radio = _radio(um, label)
    # TTS omits zeros: a LoRa reception without "snr" had an SNR of 0 dB
    snr_default = 0.0 if radio.get("modulation") == "lora" else None
    gateways = [_gateway(rx, label, snr_default) for rx in items(um, "rx_metadata", label)]

    fields: dict[str, Any] = {
        "source": "tts",
        "uplink_id": uplink_id,
        "device_id": device_id,
        "dev_eui": dev_eui,
        "application": app,
        "tenant": tenant,
        "f_port": opt_int(um, "f_port", label) or 0,
        "f_cnt": f_cnt,
        "payload": b64(um.get("frm_payload"), "uplink_message.frm_payload", label),
        "received_at": timestamp(received_at, "uplink_message.received_at", label),
        "server_time": opt_timestamp(msg.get("received_at")),
        "gateways": gateways,
        "radio": radio,
        "confirmed": um.get("confirmed", False),
        "simulated": msg.get("simulated", False),
        "encrypted": "app_s_key" in um,
    }
    version = sub(um, "version_ids", label)
    brand, model = version.get("brand_id"), version.get("model_id")
    if brand and model:
        fields["model_id"] = f"{brand}/{model}"
    decoded = um.get("decoded_payload")
    if decoded is not None:
        if type(decoded) is not dict:
            raise EnvelopeError(f"{label}: decoded_payload must be an object")
        fields["lns_decoded"] = decoded
        warnings = um.get("decoded_payload_warnings")
        if warnings:
            fields["lns_decode_warnings"] = warnings
    normalized = um.get("normalized_payload")
    if normalized is not None:
        # kept as sent: entries that are not measurement objects become decode
        # warnings (decoders.normalized), not a rejected uplink
        fields["lns_normalized"] = tuple(normalized if type(normalized) is list else [normalized])
    versions = {
        k: v
        for k in ("hardware_version", "firmware_version", "band_id")
        if type(v := version.get(k)) is str and v
    }
    if versions:
        fields["version_ids"] = versions
    attributes = um.get("attributes")
    if attributes:
        fields["tags"] = attributes
    return build(Uplink, fields, label)


def _gateway(rx: Any, label: str, snr_default: float | None) -> JsonObj:
    if type(rx) is not dict:
        raise EnvelopeError(f"{label}: rx_metadata entries must be objects")
    ids = sub(rx, "gateway_ids", label)
    gw: JsonObj = {
        "gateway_id": req_str(ids, "gateway_id", label + " rx_metadata.gateway_ids"),
        "rssi": rx.get("rssi", rx.get("channel_rssi")),
        "snr": rx.get("snr", snr_default),
        "channel": rx.get("channel_index", 0),
        "time": rx.get("gps_time") or rx.get("time"),
    }
    gw_eui = ids.get("eui")
    if gw_eui is None:
        gw_eui = sub(rx, "packet_broker", label).get("forwarder_gateway_eui")
    if gw_eui is not None:
        gw["eui"] = eui(gw_eui, "rx_metadata.gateway_ids.eui", label)
    if "location" in rx:
        gw.update(location(rx["location"]))
    return gw


def _radio(um: JsonObj, label: str) -> JsonObj:
    settings = sub(um, "settings", label)
    rate = sub(settings, "data_rate", label)
    freq = settings.get("frequency")
    frequency = to_int(freq, "settings.frequency", label) if freq is not None else None
    radio: JsonObj = {
        "frequency": frequency,
        "airtime": duration(um.get("consumed_airtime"), "consumed_airtime", label),
    }
    lora = rate.get("lora")
    if lora is not None:
        if type(lora) is not dict:
            raise EnvelopeError(f"{label}: settings.data_rate.lora must be an object")
        sf, bw = lora.get("spreading_factor"), lora.get("bandwidth")
        radio["modulation"] = "lora"
        radio["spreading_factor"] = sf
        radio["bandwidth"] = bw
        # coding_rate moved into data_rate.lora in v3.22
        radio["coding_rate"] = coding_rate(lora.get("coding_rate") or settings.get("coding_rate"))
        dri = settings.get("data_rate_index")  # removed in v3.16; omitted when 0 before that
        if dri is None and type(sf) is int and type(bw) is int:
            dri = lora_data_rate(sf, bw, frequency)
        radio["data_rate"] = dri
    elif rate.get("fsk") is not None:
        radio["modulation"] = "fsk"
    elif rate.get("lrfhss") is not None:
        lrfhss = sub(rate, "lrfhss", label)
        radio["modulation"] = "lr-fhss"
        radio["bandwidth"] = lrfhss.get("operating_channel_width")
        radio["coding_rate"] = coding_rate(lrfhss.get("coding_rate"))
    return radio


def _event(event: str, payload: bytes, app: str, device: str) -> DeviceEvent:
    key, kind = _EVENTS.get(event, (None, "unknown"))
    label = f"TTS {event}"
    msg = load_object(payload, label)
    if key is None and "end_device_ids" not in msg:
        # downlink queue operations and unknown events: the topic names the device
        ids = {"source": "tts", "kind": kind, "device_id": device, "application": app}
        return build(DeviceEvent, ids, label)
    device_id, dev_eui = _ids(msg, app, device, label)
    body = req_sub(msg, key, label) if key else {}
    when = body.get("received_at") or msg.get("received_at")
    fields: dict[str, Any] = {
        "source": "tts",
        "kind": kind,
        "device_id": device_id,
        "dev_eui": dev_eui,
        "application": app,
        "time": timestamp(when, "received_at", label) if when else None,
    }
    if kind in ("normalized", "service_data", "location"):
        fields["uplink_id"] = _correlation(msg, label, "ns:uplink:")
    elif kind == "downlink":
        down = sub(body, "downlink", label) if key == "downlink_failed" else body
        fields["f_cnt"] = opt_int(down, "f_cnt", label, None)
        if key == "downlink_failed":
            error = sub(body, "error", label)
            fields["code"] = opt_str(error, "name", label)
            fields["description"] = opt_str(error, "message_format", label)
    return build(DeviceEvent, fields, label)
