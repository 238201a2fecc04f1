"""ChirpStack v4 MQTT integration, JSON and protobuf marshalers.

Topic ``application/{application_id}/device/{dev_eui}/event/{event}`` (the default
``event_topic`` template). The marshaler is told by the first byte: ``{`` is JSON
(pbjson, lowerCamelCase, defaults emitted since v4.1 and omitted before), anything else
is the protobuf message of the topic's event from ``chirpstack_api.integration``.
Protobuf messages are turned into the same dict shape as the JSON marshaler (uplinks by
hand, for speed; other events with ``MessageToDict``) so one code path reads both.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from ingest.envelopes.base import (
    JsonObj,
    Parsed,
    b64,
    build,
    check_same,
    coding_rate,
    eui,
    items,
    load_object,
    location,
    lora_data_rate,
    model_id_like,
    opt_int,
    opt_str,
    opt_timestamp,
    req_str,
    req_sub,
    sub,
    timestamp,
)
from ingest.models import DeviceEvent, EventKind, Uplink
from lorawan_monitor.errors import EnvelopeError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_KINDS: dict[str, EventKind] = {
    "join": "join",
    "status": "status",
    "log": "log",
    "ack": "ack",
    "txack": "txack",
    "location": "location",
    "integration": "integration",
}


@functools.cache
def _proto_types() -> dict[str, type[Message]]:
    """The protobuf message types, imported on the first protobuf message only."""
    try:
        from chirpstack_api import integration as pb
    except Exception as exc:  # pragma: no cover - a broken protobuf runtime (gencode/runtime
        # version mismatch) must not break the JSON path
        raise EnvelopeError(f"ChirpStack protobuf: chirpstack_api unavailable ({exc})") from exc

    types: dict[str, type[Message]] = {
        "up": pb.UplinkEvent,
        "join": pb.JoinEvent,
        "ack": pb.AckEvent,
        "txack": pb.TxAckEvent,
        "log": pb.LogEvent,
        "status": pb.StatusEvent,
        "location": pb.LocationEvent,
    }
    integration_event = getattr(pb, "IntegrationEvent", None)  # removed from the API in v4.15
    if integration_event is not None:  # pragma: no cover - depends on the chirpstack-api version
        types["integration"] = integration_event
    return types


def split_topic(topic: str, label: str) -> tuple[str, str, str]:
    """``application/<app>/device/<dev_eui>/event/<event>`` -> (app, dev_eui, event)."""
    parts = topic.split("/")
    if (
        len(parts) != 6
        or parts[0] != "application"
        or parts[2] != "device"
        or parts[4] != "event"
        or not parts[1]
        or not parts[3]
        or not parts[5]
    ):
        raise EnvelopeError(
            f"{label}: unknown topic shape {topic!r} "
            "(want application/<id>/device/<dev_eui>/event/<event>)"
        )
    return parts[1], parts[3], parts[5]


def parse(topic: str, payload: bytes, received: float | None = None) -> Parsed:
    """Parse one ChirpStack v4 integration event (JSON or protobuf)."""
    app_id, topic_eui, event = split_topic(topic, "ChirpStack")
    kind = "up" if event == "up" else _KINDS.get(event)
    if kind is None:
        # forward compatibility: unknown events are recognised, not parsed
        return build(
            DeviceEvent,
            {
                "source": "chirpstack",
                "kind": "unknown",
                "device_id": topic_eui.lower(),
                "application": app_id,
            },
            "ChirpStack",
        )
    label = "ChirpStack uplink" if event == "up" else f"ChirpStack {event}"
    if payload[:1] == b"{":
        msg = load_object(payload, label)
    elif not payload:
        raise EnvelopeError(f"{label}: empty message")
    else:
        msg = _from_protobuf(event, payload, label)
    info = req_sub(msg, "deviceInfo", label)
    dev_eui = eui(info.get("devEui"), "deviceInfo.devEui", label)
    check_same(topic_eui, dev_eui, "dev_eui", "deviceInfo.devEui", label)
    if event == "up":
        return _uplink(msg, info, dev_eui, app_id, label)
    return _event(_KINDS[event], msg, info, dev_eui, app_id, label)


def _from_protobuf(event: str, payload: bytes, label: str) -> JsonObj:
    message_type = _proto_types().get(event)
    if message_type is None:
        raise EnvelopeError(f"{label}: no protobuf type for event {event!r}")
    try:
        message = message_type.FromString(payload)
    except (DecodeError, ValueError) as exc:
        raise EnvelopeError(
            f"{label}: not a valid protobuf {message_type.__name__} ({exc})"
        ) from exc
    try:
        if event == "up":
            return _uplink_dict(message)
        result: JsonObj = json_format.MessageToDict(message)
        return result
    except (json_format.Error, ValueError, TypeError, OverflowError) as exc:  # bad Timestamp…
        raise EnvelopeError(f"{label}: protobuf {message_type.__name__}: {exc}") from exc


def _pb_time(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    stamp = getattr(message, field)
    return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)


def _pb_value(value: Any) -> Any:
    """google.protobuf.Value -> the JSON value (numbers stay float, as in the JSON form)."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return {k: _pb_value(v) for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_pb_value(v) for v in value.list_value.values]
    if kind == "null_value" or kind is None:
        return None
    return getattr(value, kind)


def _uplink_dict(ev: Any) -> JsonObj:
    """An UplinkEvent as the dict the JSON marshaler would give (only what we read).

    MessageToDict costs ~200 us per uplink; this costs a tenth of that. Bytes and
    timestamps are handed over decoded (``b64`` / ``timestamp`` accept them as is).
    """
    di = ev.device_info
    tx = ev.tx_info
    mod = tx.modulation.WhichOneof("parameters")
    modulation: JsonObj = {}
    if mod == "lora":
        lora = tx.modulation.lora
        modulation["lora"] = {
            "bandwidth": lora.bandwidth,
            "spreadingFactor": lora.spreading_factor,
            "codeRate": _pb_code_rate(lora),
        }
    elif mod == "fsk":
        modulation["fsk"] = {}
    elif mod == "lr_fhss":
        lr = tx.modulation.lr_fhss
        modulation["lrFhss"] = {
            "operatingChannelWidth": lr.operating_channel_width,
            "codeRate": _pb_code_rate(lr),
        }
    rx_info = []
    for rx in ev.rx_info:
        gw: JsonObj = {
            "gatewayId": rx.gateway_id,
            "rssi": rx.rssi,
            "snr": rx.snr if mod == "lora" else None,
            "channel": rx.channel,
            "gwTime": _pb_time(rx, "gw_time"),
            "nsTime": _pb_time(rx, "ns_time"),
        }
        if rx.HasField("location"):
            loc = rx.location
            gw["location"] = {
                "latitude": loc.latitude,
                "longitude": loc.longitude,
                "altitude": loc.altitude,
            }
        rx_info.append(gw)
    msg: JsonObj = {
        "deduplicationId": ev.deduplication_id,
        "time": _pb_time(ev, "time")
        or (_pb_time(ev.rx_info[0], "ns_time") if ev.rx_info else None),
        "deviceInfo": {
            "tenantId": di.tenant_id,
            "tenantName": di.tenant_name,
            "applicationId": di.application_id,
            "applicationName": di.application_name,
            "deviceProfileName": di.device_profile_name,
            "deviceName": di.device_name,
            "devEui": di.dev_eui,
            "tags": dict(di.tags),
        },
        "dr": ev.dr,
        "fCnt": ev.f_cnt,
        "fPort": ev.f_port,
        "confirmed": ev.confirmed,
        "data": ev.data,
        "rxInfo": rx_info,
        "txInfo": {"frequency": tx.frequency, "modulation": modulation},
    }
    if ev.HasField("object"):
        msg["object"] = {k: _pb_value(v) for k, v in ev.object.fields.items()}
    if ev.HasField("join_server_context"):
        msg["joinServerContext"] = {}
    return msg


def _pb_code_rate(message: Any) -> str | None:
    field = message.DESCRIPTOR.fields_by_name["code_rate"].enum_type
    value = field.values_by_number.get(message.code_rate)
    return None if value is None or value.number == 0 else str(value.name)


def _application(info: JsonObj, app_id: str, label: str) -> str:
    application_id = opt_str(info, "applicationId", label)
    if application_id is not None:
        check_same(app_id, application_id, "application", "deviceInfo.applicationId", label)
    return opt_str(info, "applicationName", label) or application_id or app_id


def _uplink(msg: JsonObj, info: JsonObj, dev_eui: str, app_id: str, label: str) -> Uplink:
    rx_info = items(msg, "rxInfo", label)
    gateways = [_gateway(rx, label) for rx in rx_info]
    when = msg.get("time")
    if not when and rx_info:  # pre-4.6 gateways: rxInfo[].time, then gwTime / nsTime
        first = rx_info[0]
        when = first.get("gwTime") or first.get("nsTime") or first.get("time")
    if not when:
        raise EnvelopeError(f"{label}: missing time (and no rxInfo gwTime/nsTime)")
    tags = sub(info, "tags", label)
    profile = opt_str(info, "deviceProfileName", label)
    model = tags.get("model")
    fields: dict[str, Any] = {
        "source": "chirpstack",
        "uplink_id": req_str(msg, "deduplicationId", label),
        "device_id": dev_eui.lower(),
        "dev_eui": dev_eui,
        "application": _application(info, app_id, label),
        "tenant": opt_str(info, "tenantName", label) or opt_str(info, "tenantId", label),
        "f_port": opt_int(msg, "fPort", label),
        "f_cnt": opt_int(msg, "fCnt", label),
        "payload": b64(msg.get("data"), "data", label),
        "received_at": timestamp(when, "time", label),
        "server_time": opt_timestamp(rx_info[0].get("nsTime"))
        if rx_info and type(rx_info[0]) is dict
        else None,
        "gateways": gateways,
        "radio": _radio(msg, label),
        "confirmed": msg.get("confirmed", False),
        "model_id": model_id_like(model if type(model) is str else None) or model_id_like(profile),
        "device_profile": profile,
        "device_name": opt_str(info, "deviceName", label),
        "tags": tags,
        "encrypted": msg.get("joinServerContext") is not None,
    }
    obj = msg.get("object")
    if obj is not None:
        if type(obj) is not dict:
            raise EnvelopeError(f"{label}: object must be a JSON object")
        fields["lns_decoded"] = obj
    return build(Uplink, fields, label)


def _gateway(rx: Any, label: str) -> JsonObj:
    if type(rx) is not dict:
        raise EnvelopeError(f"{label}: rxInfo entries must be objects")
    gateway_id = req_str(rx, "gatewayId", label + " rxInfo")
    gw: JsonObj = {
        "gateway_id": gateway_id,
        "eui": eui(gateway_id, "rxInfo.gatewayId", label),
        "rssi": rx.get("rssi"),
        "snr": rx.get("snr"),
        "channel": rx.get("channel", 0),
        "time": rx.get("gwTime") or rx.get("time"),
    }
    if "location" in rx:
        gw.update(location(rx["location"]))
    return gw


def _radio(msg: JsonObj, label: str) -> JsonObj:
    tx = sub(msg, "txInfo", label)
    frequency = opt_int(tx, "frequency", label, None)
    modulation = sub(tx, "modulation", label)
    dr = opt_int(msg, "dr", label, None)
    radio: JsonObj = {"frequency": frequency, "data_rate": dr}
    if "lora" in modulation:
        lora = sub(modulation, "lora", label)
        sf = opt_int(lora, "spreadingFactor", label, None)
        bw = opt_int(lora, "bandwidth", label, None)
        radio.update(
            modulation="lora",
            spreading_factor=sf,
            bandwidth=bw,
            coding_rate=coding_rate(lora.get("codeRate")),
        )
        if dr is None:
            radio["data_rate"] = lora_data_rate(sf, bw, frequency)
    elif "fsk" in modulation:
        radio["modulation"] = "fsk"
    elif "lrFhss" in modulation:
        lr = sub(modulation, "lrFhss", label)
        radio.update(
            modulation="lr-fhss",
            bandwidth=lr.get("operatingChannelWidth"),
            coding_rate=coding_rate(lr.get("codeRate")),
        )
    return radio


def _event(
    kind: EventKind, msg: JsonObj, info: JsonObj, dev_eui: str, app_id: str, label: str
) -> DeviceEvent:
    when = msg.get("time")
    fields: dict[str, Any] = {
        "source": "chirpstack",
        "kind": kind,
        "device_id": dev_eui.lower(),
        "dev_eui": dev_eui,
        "application": _application(info, app_id, label),
        "time": timestamp(when, "time", label) if when is not None else None,
        "uplink_id": opt_str(msg, "deduplicationId", label),
    }
    if kind == "status":
        external = bool(msg.get("externalPowerSource", False))
        unavailable = bool(msg.get("batteryLevelUnavailable", False))
        level = msg.get("batteryLevel", 0.0)
        fields["margin"] = opt_int(msg, "margin", label)
        fields["external_power"] = external
        # raw 0 = external power, 255 = unavailable: either way no battery percentage
        fields["battery"] = None if external or unavailable else level
    elif kind == "log":
        context = sub(msg, "context", label)
        fields["level"] = opt_str(msg, "level", label) or "INFO"
        fields["code"] = opt_str(msg, "code", label) or "UNKNOWN"
        fields["description"] = opt_str(msg, "description", label)
        fields["uplink_id"] = opt_str(context, "deduplication_id", label)
    elif kind in ("ack", "txack"):
        fields["f_cnt"] = opt_int(msg, "fCntDown", label)
        if kind == "ack":
            acked = bool(msg.get("acknowledged", False))
            fields["description"] = "acknowledged" if acked else "not acknowledged"
    return build(DeviceEvent, fields, label)
