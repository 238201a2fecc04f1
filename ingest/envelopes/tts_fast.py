"""The Things Stack v3 uplinks in one validating decode from bytes (#19).

``msgspec`` decodes the JSON straight into the typed structs below: the fields we read,
typed and bounded as ``Uplink`` declares them, every other field skipped without
building it. ``uplink`` then maps them onto ``Uplink`` with the same helpers as
ingest/envelopes/tts.py (times, base64, EUIs, integers as strings), and constructs it
without a second validation: every value has been checked on the way.

This path is deliberately narrow. Whatever it does not take exactly as the general
parser would — a message that is not well-formed, a field of another type, a bound
exceeded, a modulation other than LoRa, a value to be coerced — raises, and
``tts.parse`` hands the same bytes to the general parser (``tts._uplink``), which accepts
it or rejects it with its reason naming the field, as before. So a well-formed uplink
costs one decode, and a broken one is reported exactly as before.
``tests/ingest/test_envelopes.py`` checks that both paths give equal results.
"""

from __future__ import annotations

import binascii
from datetime import datetime
from typing import Annotated, Any

import msgspec
import orjson
from msgspec import UNSET, Meta, Struct, UnsetType

from ingest.envelopes.base import (
    coding_rate,
    duration,
    eui,
    lora_data_rate,
    opt_timestamp,
    timestamp,
    to_int,
)
from ingest.models import U32, Gateway, Name, Radio, Uplink

_U32 = Annotated[int, Meta(ge=0, le=U32)]


class Fallback(Exception):
    """Not for the fast path: the general parser decides."""


class _AppIds(Struct, gc=False):
    application_id: str | None = None


class _Ids(Struct, gc=False):
    device_id: Name
    application_ids: _AppIds | None = None
    dev_eui: Any = None


class _GatewayIds(Struct, gc=False):
    gateway_id: Name
    eui: Any = None


class _PacketBroker(Struct, gc=False):
    forwarder_gateway_eui: Any = None


class _Location(Struct, gc=False):
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None


class _Rx(Struct, gc=False):
    gateway_ids: _GatewayIds
    # UNSET: missing, as opposed to null (``rx.get("rssi", rx.get("channel_rssi"))``)
    rssi: float | None | UnsetType = UNSET
    channel_rssi: float | None = None
    snr: float | None | UnsetType = UNSET
    channel_index: _U32 | None | UnsetType = UNSET
    gps_time: datetime | None = None
    time: datetime | None = None
    packet_broker: _PacketBroker | None = None
    location: _Location | None | UnsetType = UNSET


class _Lora(Struct, gc=False):
    spreading_factor: Annotated[int, Meta(ge=5, le=12)] | None = None
    bandwidth: _U32 | None = None
    coding_rate: Any = None


class _DataRate(Struct, gc=False):
    lora: _Lora | None = None
    fsk: Any = None
    lrfhss: Any = None


class _Settings(Struct, gc=False):
    data_rate: _DataRate | None = None
    frequency: Any = None
    coding_rate: Any = None
    data_rate_index: Annotated[int, Meta(ge=0, le=255)] | None = None


class _Versions(Struct, gc=False):
    brand_id: Any = None
    model_id: Any = None
    hardware_version: Any = None
    firmware_version: Any = None
    band_id: Any = None


class _UplinkMessage(Struct, gc=False):
    session_key_id: str | None = None
    f_port: Any = None
    f_cnt: Any = None
    frm_payload: str | None = None
    rx_metadata: list[_Rx] | None = None
    settings: _Settings | None = None
    received_at: Any = None
    consumed_airtime: Any = None
    version_ids: _Versions | None = None
    confirmed: bool = False
    app_s_key: Any = UNSET
    # kept as raw JSON and read with orjson, as the general parser does (its limits on
    # integers and nesting are the ones check_json_bounds counts on)
    decoded_payload: msgspec.Raw = msgspec.Raw()  # empty: missing
    decoded_payload_warnings: list[str] | None = None
    normalized_payload: msgspec.Raw = msgspec.Raw()
    attributes: Annotated[dict[Name, Name], Meta(max_length=64)] | None = None


class _ApplicationUp(Struct, gc=False):
    end_device_ids: _Ids
    uplink_message: _UplinkMessage
    correlation_ids: list[Any] | None = None
    received_at: Any = None
    simulated: bool = False


_DECODER = msgspec.json.Decoder(_ApplicationUp)
_NO_RADIO = Radio()


def _name(value: str) -> str:
    if len(value) > 256:
        raise Fallback
    return value


def _bounded(value: int, high: int) -> int:
    if not 0 <= value <= high:
        raise Fallback
    return value


def _correlation(ids: list[Any] | None, prefix: str) -> str | None:
    for cid in ids or ():
        if type(cid) is str and cid.startswith(prefix):
            return cid
    return None


def _radio(um: _UplinkMessage, label: str) -> Radio:
    settings = um.settings
    airtime = duration(um.consumed_airtime, "consumed_airtime", label)
    if settings is None:
        return _NO_RADIO if airtime is None else Radio(airtime=airtime)
    freq = settings.frequency
    frequency = (
        _bounded(to_int(freq, "settings.frequency", label), U32) if freq is not None else None
    )
    rate = settings.data_rate
    lora = rate.lora if rate is not None else None
    if lora is None:
        if rate is not None and (rate.fsk is not None or rate.lrfhss is not None):
            raise Fallback  # rare: the general parser maps them
        return Radio(frequency=frequency, airtime=airtime)
    sf, bw = lora.spreading_factor, lora.bandwidth
    dri = settings.data_rate_index
    if dri is None and sf is not None and bw is not None:
        dri = lora_data_rate(sf, bw, frequency)
    return Radio(
        modulation="lora",
        frequency=frequency,
        spreading_factor=sf,
        bandwidth=bw,
        coding_rate=coding_rate(lora.coding_rate or settings.coding_rate),
        data_rate=dri,
        airtime=airtime,
    )


def _gateway(rx: _Rx, label: str, snr_default: float | None) -> Gateway:
    ids = rx.gateway_ids
    if not ids.gateway_id:
        raise Fallback
    gw_eui = ids.eui
    if gw_eui is None and rx.packet_broker is not None:
        gw_eui = rx.packet_broker.forwarder_gateway_eui
    lat = lon = alt = None
    loc = rx.location
    if type(loc) is _Location:
        if loc.latitude is not None and loc.longitude is not None:
            if not (loc.latitude == 0 and loc.longitude == 0):
                lat, lon, alt = loc.latitude, loc.longitude, loc.altitude
    channel = rx.channel_index
    return Gateway(
        gateway_id=ids.gateway_id,
        eui=eui(gw_eui, "rx_metadata.gateway_ids.eui", label) if gw_eui is not None else None,
        rssi=rx.channel_rssi if rx.rssi is UNSET else rx.rssi,
        snr=snr_default if rx.snr is UNSET else rx.snr,
        channel=0 if channel is UNSET else channel,
        time=rx.gps_time or rx.time,
        latitude=lat,
        longitude=lon,
        altitude=alt,
    )


def uplink(payload: bytes, app: str, tenant: str | None, device: str) -> Uplink:
    """A well-formed TTS uplink, or an exception: ``Fallback``, ``EnvelopeError`` or
    msgspec's errors (the caller then asks the general parser)."""
    label = "TTS uplink"
    msg = _DECODER.decode(payload)
    ids = msg.end_device_ids
    device_id = ids.device_id
    if not device_id or (device != device_id and device.lower() != device_id.lower()):
        raise Fallback
    app_ids = ids.application_ids
    if app_ids is not None and app_ids.application_id is not None:
        application = app_ids.application_id
        if app != application and app.lower() != application.lower():
            raise Fallback
    dev_eui = eui(ids.dev_eui, "end_device_ids.dev_eui", label) if ids.dev_eui else None
    um = msg.uplink_message
    f_cnt = _bounded(to_int(um.f_cnt, "f_cnt", label), U32) if um.f_cnt is not None else 0
    f_port = _bounded(to_int(um.f_port, "f_port", label), 255) if um.f_port is not None else 0
    uplink_id = _correlation(msg.correlation_ids, "ns:uplink:") or _correlation(
        msg.correlation_ids, "as:up:"
    )
    if uplink_id is None:
        uplink_id = f"{device_id}:{um.session_key_id or ''}:{f_cnt}"
    received_at = um.received_at or msg.received_at
    if received_at is None:
        raise Fallback
    radio = _radio(um, label)
    # TTS omits zeros: a LoRa reception without "snr" had an SNR of 0 dB
    snr_default = 0.0 if radio.modulation == "lora" else None
    frm = um.frm_payload
    try:
        payload_bytes = binascii.a2b_base64(frm, strict_mode=True) if frm else b""
    except (binascii.Error, ValueError) as exc:
        raise Fallback from exc

    model_id = None
    versions: dict[str, str] = {}
    v = um.version_ids
    if v is not None:
        if v.brand_id and v.model_id:
            if type(v.brand_id) is not str or type(v.model_id) is not str:
                # the general parser formats what JSON gave; msgspec reads integers beyond
                # 64 bits differently from orjson, so anything but strings goes there
                raise Fallback
            model_id = _name(f"{v.brand_id}/{v.model_id}")
        for key, value in (
            ("hardware_version", v.hardware_version),
            ("firmware_version", v.firmware_version),
            ("band_id", v.band_id),
        ):
            if type(value) is str and value:
                versions[key] = value
    lns_decoded = None
    warnings: tuple[str, ...] = ()
    if len(um.decoded_payload):
        lns_decoded = orjson.loads(memoryview(um.decoded_payload))
        if lns_decoded is not None:
            if type(lns_decoded) is not dict:
                raise Fallback
            if um.decoded_payload_warnings:
                warnings = tuple(um.decoded_payload_warnings)
    lns_normalized = None
    if len(um.normalized_payload):
        normalized = orjson.loads(memoryview(um.normalized_payload))
        if normalized is not None:
            lns_normalized = tuple(normalized if type(normalized) is list else [normalized])
    return Uplink(
        source="tts",
        uplink_id=_name(uplink_id),
        device_id=device_id,
        dev_eui=dev_eui,
        application=_name(app),
        tenant=_name(tenant) if tenant is not None else None,
        f_port=f_port,
        f_cnt=f_cnt,
        payload=payload_bytes,
        received_at=timestamp(received_at, "uplink_message.received_at", label),
        server_time=opt_timestamp(msg.received_at),
        gateways=tuple(_gateway(rx, label, snr_default) for rx in um.rx_metadata or ()),
        radio=radio,
        confirmed=um.confirmed,
        model_id=model_id,
        tags=um.attributes or {},
        lns_decoded=lns_decoded,
        lns_decode_warnings=warnings,
        lns_normalized=lns_normalized,
        version_ids=versions,
        simulated=msg.simulated,
        encrypted=um.app_s_key is not UNSET,
    )
