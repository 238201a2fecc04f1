"""Envelope builders: the inverse of ``ingest.envelopes`` — pure functions returning
``(topic, payload_bytes)`` exactly as the network servers publish them.

* The Things Stack v3 (:mod:`.tts`): snake_case, empty fields omitted (``f_port`` 0,
  ``confirmed`` false, ``channel_index`` 0 are absent), upper-case hex EUIs, 64-bit
  integers as strings (``"868100000"``), ``Z`` timestamps with 0/3/6 fractional digits,
  durations ``"0.06s"``.
* ChirpStack v4 (:mod:`.chirpstack`): lowerCamelCase, integration fields always emitted
  (``emit_fields``, v4.1+), nested gateway fields omitted when default, ``+00:00``
  timestamps, lower-case hex EUIs, codec output as JSON numbers of f64 (``776.0``); or the
  same message as protobuf.
* ChirpStack v3 (:mod:`.chirpstack_v3`): ``json_v3`` (hex EUIs, ``object``) or ``json``
  (base64 EUIs, ``objectJSON`` string, ``publishedAt``, bandwidth in kHz).

Identifiers that a server would draw at random (TTS ULIDs, ChirpStack deduplication
UUIDs) are derived from the inputs by hashing, so the same call gives the same bytes.
Gateways and formats are in :mod:`._common`; the radio arithmetic (data rate, time on
air) in :mod:`lorawan_monitor.radio`, which the parsers use too.
"""

from __future__ import annotations

from lorawan_monitor.radio import lora_airtime
from simulator.envelopes._common import (
    DEFAULT_GATEWAYS,
    GatewayRx,
    Message,
    pb_duration,
    rfc3339,
    ulid,
    uuid4_from,
)
from simulator.envelopes.chirpstack import (
    CS_TENANT_ID,
    Marshaler,
    chirpstack_log,
    chirpstack_status,
    chirpstack_uplink,
)
from simulator.envelopes.chirpstack_v3 import chirpstack_v3_uplink
from simulator.envelopes.tts import tts_join, tts_normalized, tts_uplink

__all__ = [
    "CS_TENANT_ID",
    "DEFAULT_GATEWAYS",
    "GatewayRx",
    "Marshaler",
    "Message",
    "chirpstack_log",
    "chirpstack_status",
    "chirpstack_uplink",
    "chirpstack_v3_uplink",
    "lora_airtime",
    "pb_duration",
    "rfc3339",
    "tts_join",
    "tts_normalized",
    "tts_uplink",
    "ulid",
    "uuid4_from",
]
