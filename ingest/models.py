"""The normalized messages every envelope parser produces.

``Uplink`` is the one model of an uplink whatever the network server (a frozen
``msgspec.Struct``: it crosses the untrusted boundary). The constraints are declared on
the fields (``Meta``); the envelope parsers validate against them once, either while
decoding the bytes (The Things Stack, ingest/envelopes/tts_fast.py) or with
``msgspec.convert`` (``ingest.envelopes.base.build``). Calling ``Uplink(...)`` directly does
not validate: that is for values already validated (a re-decode from the journal).
``gc=False``: they hold only JSON values and each other, never a cycle, so the garbage
collector need not track the thousands made per second. ``DeviceEvent`` covers the non-uplink
events (join, status, log, ack, ...) that are recognised and not treated as readings.
``RawMessage`` is what the transport hands over: topic, payload bytes and the time
the broker delivered it (used only for ordering/latency, never as measurement time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, field

Source = Literal["tts", "chirpstack", "chirpstack-v3"]
#: the name of the one ``LORAWAN_MQTT__*`` broker where a source name is shown (the
#: ``source`` tag of ``lorawan_uplink``, the ``source`` label of ``lorawan_messages_total``)
SINGLE_SOURCE = "mqtt"
#: the largest 32-bit unsigned integer (frame counters, frequencies in Hz, channels)
U32 = 2**32 - 1
#: identities and names become tags and cache keys: bounded, or one message of 256 KiB
#: names could hold memory in every per-device cache (#11)
Name = Annotated[str, Meta(max_length=256)]
_U32 = Annotated[int, Meta(ge=0, le=U32)]


@dataclass(slots=True)  # one per broker message: not frozen, which costs (#2)
class RawMessage:
    topic: str
    payload: bytes
    #: when our transport received it (unix seconds); not a measurement time
    received: float = 0.0
    #: opaque handle for acknowledging (paho mid), None when not acknowledgeable
    ack_token: Any = None
    #: name of the source it came through (LORAWAN_SOURCES); "" = the single ``mqtt`` source
    #: (:data:`SINGLE_SOURCE`)
    source: str = ""


class Gateway(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    gateway_id: Name
    eui: str | None = None  # upper-case hex
    rssi: float | None = None  # dBm
    snr: float | None = None  # dB
    channel: _U32 | None = None
    time: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None


class Radio(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    modulation: Literal["lora", "fsk", "lr-fhss", "unknown"] = "unknown"
    frequency: _U32 | None = None  # Hz
    spreading_factor: Annotated[int, Meta(ge=5, le=12)] | None = None
    bandwidth: _U32 | None = None  # Hz (ChirpStack v3's kHz are converted)
    coding_rate: str | None = None  # "4/5"
    #: regional DR index, when given or derivable
    data_rate: Annotated[int, Meta(ge=0, le=255)] | None = None
    airtime: float | None = None  # seconds


class Uplink(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True, kw_only=True):
    source: Source
    #: idempotency key: TTS ns:uplink ULID, ChirpStack v4 deduplicationId, v3 devEUI:fCnt
    uplink_id: Name
    #: the network server's device id (TTS device_id; ChirpStack: dev_eui lower-case hex)
    device_id: Name
    dev_eui: str | None = None  # upper-case hex, 16 chars
    application: Name
    tenant: Name | None = None
    f_port: Annotated[int, Meta(ge=0, le=255)] = 0
    #: 32-bit: LoRaWAN counters are 16 or 32 bits (a bigger one cannot be stored)
    f_cnt: _U32 = 0
    payload: bytes = b""
    #: when the network server received the uplink (never our clock)
    received_at: datetime
    #: the network / application server's own clock where the envelope has one besides
    #: ``received_at``: the fallback when ``received_at`` is implausible (ingest/timepolicy.py)
    server_time: datetime | None = None
    gateways: tuple[Gateway, ...] = ()
    radio: Radio = field(default_factory=Radio)
    confirmed: bool = False
    #: TTN Device Repository id ``brand/model`` when the network server told us
    model_id: Name | None = None
    device_profile: Name | None = None
    device_name: Name | None = None
    tags: Annotated[dict[Name, Name], Meta(max_length=64)] = field(default_factory=dict)
    #: the network server's own decoded payload (TTS decoded_payload / ChirpStack object)
    lns_decoded: dict[str, Any] | None = None
    lns_decode_warnings: tuple[str, ...] = ()
    #: TTS ``normalized_payload``: measurements in the TTN Device Repository's schema (#13)
    lns_normalized: tuple[Any, ...] | None = None
    #: TTS ``version_ids`` besides brand/model: hardware_version, firmware_version, band_id
    version_ids: dict[str, str] = field(default_factory=dict)
    simulated: bool = False
    #: payload still encrypted (TTS skip_payload_crypto / ChirpStack joinServerContext)
    encrypted: bool = False

    @property
    def best_gateway(self) -> Gateway | None:
        gws = [g for g in self.gateways if g.rssi is not None]
        return max(gws, key=lambda g: g.rssi or -1e9) if gws else None


EventKind = Literal[
    "join",
    "status",
    "log",
    "ack",
    "txack",
    "location",
    "service_data",
    "downlink",
    "normalized",
    "error",
    "integration",
    "unknown",
]


class DeviceEvent(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True, kw_only=True):
    """A recognised non-uplink event. ``kind`` says which; fields are filled where known."""

    source: Source
    kind: EventKind
    device_id: Name
    dev_eui: str | None = None
    application: Name
    time: datetime | None = None
    # status events
    battery: float | None = None  # percent
    margin: Annotated[int, Meta(ge=-128, le=127)] | None = None
    external_power: bool | None = None
    # log / error events (ChirpStack codec errors become the device's decode status)
    level: str | None = None
    code: str | None = None
    description: Annotated[str, Meta(max_length=4000)] | None = None
    #: the uplink this event refers to (ChirpStack log context.deduplication_id)
    uplink_id: Name | None = None
    f_cnt: _U32 | None = None


Parsed = Uplink | DeviceEvent
