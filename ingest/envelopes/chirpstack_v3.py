"""ChirpStack Application Server v3 MQTT integration: ``json_v3`` and ``json`` marshalers.

Topics ``application/{applicationID}/device/{devEUI}/event/{event}`` (v3.11+) and the
older ``application/{id}/device/{devEUI}/{rx|join|ack|error|status|location|txack}``.
``json_v3`` (the default) has hex EUIs and an ``object``; ``json`` (protobuf JSON
mapping) has base64 EUIs, ``objectJSON`` as a string, ``publishedAt`` and bandwidth in
kHz. The ``protobuf`` marshaler is not supported (a clear EnvelopeError).

v3 has no deduplication id: ``uplink_id`` is ``{devEUI}:{fCnt}`` (plus ``publishedAt``
when present). ``received_at`` is the first gateway time, else ``publishedAt``, else the
MQTT receive time the caller passes as ``received``.
"""

from __future__ import annotations

import binascii
from datetime import datetime
from typing import Any

from ingest.envelopes.base import (
    JsonObj,
    Parsed,
    b64,
    build,
    check_same,
    coding_rate,
    from_unix,
    items,
    load_object,
    location,
    lora_from_data_rate,
    model_id_like,
    opt_int,
    opt_str,
    opt_timestamp,
    sub,
    timestamp,
)
from ingest.models import DeviceEvent, EventKind, Uplink
from lorawan_monitor.errors import EnvelopeError

#: old per-event topics (before v3.11) and new event names -> kind; "up" is the uplink
_KINDS: dict[str, EventKind | None] = {
    "up": None,
    "rx": None,
    "join": "join",
    "ack": "ack",
    "txack": "txack",
    "error": "error",
    "status": "status",
    "location": "location",
    "integration": "integration",
}


def parse(topic: str, payload: bytes, received: float | None = None) -> Parsed:
    """Parse one ChirpStack AS v3 event (json_v3 or json marshaler)."""
    parts = topic.split("/")
    shape_ok = len(parts) >= 5 and parts[0] == "application" and parts[2] == "device"
    if shape_ok and len(parts) == 6:
        shape_ok = parts[4] == "event"
    elif shape_ok:
        shape_ok = len(parts) == 5
    if not shape_ok or not parts[1] or not parts[3] or not parts[-1]:
        raise EnvelopeError(
            f"ChirpStack v3: unknown topic shape {topic!r} "
            "(want application/<id>/device/<devEUI>/event/<event> or .../<devEUI>/rx)"
        )
    app_id, topic_eui, event = parts[1], parts[3], parts[-1]
    if event not in _KINDS or (len(parts) == 6 and event == "rx"):
        if len(parts) == 5:
            raise EnvelopeError(f"ChirpStack v3: unknown topic {topic!r}")
        return build(
            DeviceEvent,
            {
                "source": "chirpstack-v3",
                "kind": "unknown",
                "device_id": topic_eui.lower(),
                "application": app_id,
            },
            "ChirpStack v3",
        )
    kind = _KINDS[event]
    label = "ChirpStack v3 uplink" if kind is None else f"ChirpStack v3 {event}"
    if payload[:1] != b"{":
        raise EnvelopeError(
            f"{label}: not JSON; only the json_v3 and json marshalers are supported"
        )
    msg = load_object(payload, label)
    dev_eui = _eui(msg.get("devEUI"), "devEUI", label)
    check_same(topic_eui, dev_eui, "devEUI", "devEUI", label)
    application_id = msg.get("applicationID")
    if application_id is not None:
        check_same(app_id, str(application_id), "application", "applicationID", label)
    application = opt_str(msg, "applicationName", label) or app_id
    if kind is None:
        return _uplink(msg, dev_eui, application, received, label)
    return _event(kind, msg, dev_eui, application, received, label)


def _eui(value: Any, what: str, label: str) -> str:
    """json_v3 lower-case hex or json-marshaler base64 (12 chars) -> upper-case hex."""
    if type(value) is str:
        if len(value) == 16:
            try:
                bytes.fromhex(value)
                return value.upper()
            except ValueError:
                pass
        elif len(value) == 12:
            try:
                raw = binascii.a2b_base64(value, strict_mode=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) == 8:
                return raw.hex().upper()
    if value is None:
        raise EnvelopeError(f"{label}: missing {what}")
    raise EnvelopeError(
        f"{label}: {what} is neither 16 hex digits nor base64 of 8 bytes: {value!r}"
    )


def _uplink(
    msg: JsonObj, dev_eui: str, application: str, received: float | None, label: str
) -> Uplink:
    f_cnt = opt_int(msg, "fCnt", label) or 0
    published = opt_str(msg, "publishedAt", label)
    uplink_id = f"{dev_eui.lower()}:{f_cnt}" + (f":{published}" if published else "")
    rx_info = items(msg, "rxInfo", label)
    gateways = [_gateway(rx, label) for rx in rx_info]
    when: datetime | None = None
    for rx in rx_info:
        if rx.get("time"):
            when = timestamp(rx["time"], "rxInfo.time", label)
            break
    if when is None:
        when = (
            timestamp(published, "publishedAt", label) if published else from_unix(received, label)
        )

    tags = sub(msg, "tags", label)
    profile = opt_str(msg, "deviceProfileName", label)
    model = tags.get("model")
    fields: dict[str, Any] = {
        "source": "chirpstack-v3",
        "uplink_id": uplink_id,
        "device_id": dev_eui.lower(),
        "dev_eui": dev_eui,
        "application": application,
        "f_port": opt_int(msg, "fPort", label) or 0,
        "f_cnt": f_cnt,
        "payload": b64(msg.get("data"), "data", label),
        "received_at": when,
        "server_time": opt_timestamp(published),
        "gateways": gateways,
        "radio": _radio(msg, label),
        "confirmed": msg.get("confirmedUplink", False),
        "model_id": model_id_like(model if type(model) is str else None) or model_id_like(profile),
        "device_profile": profile,
        "device_name": opt_str(msg, "deviceName", label),
        "tags": tags,
    }
    if "objectJSON" in msg:
        text = msg["objectJSON"]
        if text:
            if type(text) is not str:
                raise EnvelopeError(f"{label}: objectJSON must be a string")
            fields["lns_decoded"] = load_object(text.encode(), f"{label} objectJSON")
    elif msg.get("object") is not None:
        obj = msg["object"]
        if type(obj) is not dict:
            raise EnvelopeError(f"{label}: object must be a JSON object")
        fields["lns_decoded"] = obj
    return build(Uplink, fields, label)


def _gateway(rx: Any, label: str) -> JsonObj:
    if type(rx) is not dict:
        raise EnvelopeError(f"{label}: rxInfo entries must be objects")
    gateway = _eui(rx.get("gatewayID"), "rxInfo.gatewayID", label)
    gw: JsonObj = {
        "gateway_id": opt_str(rx, "name", label) or gateway.lower(),
        "eui": gateway,
        "rssi": rx.get("rssi"),
        "snr": rx.get("loRaSNR"),
        "channel": rx.get("channel", 0),
        "time": rx.get("time"),
    }
    gw.update(location(rx.get("location")))
    return gw


def _radio(msg: JsonObj, label: str) -> JsonObj:
    tx = sub(msg, "txInfo", label)
    frequency = opt_int(tx, "frequency", label, None)
    dr = opt_int(tx, "dr", label, None)  # json_v3
    if dr is None:
        dr = opt_int(msg, "dr", label, None)  # json marshaler
    radio: JsonObj = {"frequency": frequency, "data_rate": dr}
    lora = tx.get("loRaModulationInfo")
    if lora is not None:
        if type(lora) is not dict:
            raise EnvelopeError(f"{label}: txInfo.loRaModulationInfo must be an object")
        bw_khz = opt_int(lora, "bandwidth", label, None)
        radio.update(
            modulation="lora",
            spreading_factor=opt_int(lora, "spreadingFactor", label, None),
            bandwidth=bw_khz * 1000 if bw_khz is not None else None,  # kHz in v3
            coding_rate=coding_rate(lora.get("codeRate")),
        )
    elif tx.get("modulation") == "FSK":
        radio["modulation"] = "fsk"
    else:
        sf_bw = lora_from_data_rate(dr, frequency)  # json_v3 carries only the DR
        if sf_bw is not None:
            radio.update(modulation="lora", spreading_factor=sf_bw[0], bandwidth=sf_bw[1])
    return radio


def _event(
    kind: EventKind,
    msg: JsonObj,
    dev_eui: str,
    application: str,
    received: float | None,
    label: str,
) -> DeviceEvent:
    published = opt_str(msg, "publishedAt", label)
    fields: dict[str, Any] = {
        "source": "chirpstack-v3",
        "kind": kind,
        "device_id": dev_eui.lower(),
        "dev_eui": dev_eui,
        "application": application,
        "time": timestamp(published, "publishedAt", label)
        if published
        else (from_unix(received, label) if received is not None else None),
        "f_cnt": opt_int(msg, "fCnt", label, None),
    }
    if kind == "error":
        fields["level"] = "ERROR"
        fields["code"] = opt_str(msg, "type", label)
        fields["description"] = opt_str(msg, "error", label)
        if fields["f_cnt"] is not None:
            fields["uplink_id"] = f"{dev_eui.lower()}:{fields['f_cnt']}"
    elif kind == "status":
        external = bool(msg.get("externalPowerSource", False))
        unavailable = bool(msg.get("batteryLevelUnavailable", False))
        fields["margin"] = opt_int(msg, "margin", label)
        fields["external_power"] = external
        fields["battery"] = None if external or unavailable else msg.get("batteryLevel")
    elif kind == "ack":
        acked = bool(msg.get("acknowledged", False))
        fields["description"] = "acknowledged" if acked else "not acknowledged"
    return build(DeviceEvent, fields, label)
