"""The device registry contract (SQL implementation in ``storage/registry.py``).

Ingest records every uplink (batched), every recognised status/log event, and reads
per-device metadata (model override, tags, category, site). The API reads device
status and the journal and edits metadata. One contract test suite runs it against
SQLite and PostgreSQL.

A device's key is its DevEUI (16 upper-case hex). Devices without a DevEUI (rare TTS
ABP devices) use ``"<source>:<application>/<device_id>"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

DecodeStatus = Literal[
    "decoded",  # our native / JS decoder decoded it
    "lns_decoded",  # no decoder of ours; the network server's decoded payload was used
    "lns_normalized",  # no decoder of ours; TTS normalized_payload (repository schema) used
    "codec_error",  # the model's codec cannot run (broken file, repository resolution failed)
    "error",  # decoding failed (our decoder, or the network server reported a codec error)
    "no_decoder",  # neither a decoder nor a network-server decoded payload
    "no_payload",  # f_port 0 / MAC-only / encrypted: nothing to decode
]


@dataclass(kw_only=True, slots=True)
class UplinkRecord:
    """What ingest tells the registry about one uplink (after decoding).

    Not frozen: one is built per uplink, and a frozen dataclass's ``__init__`` costs
    four times as much (#2); nothing changes a record after the pipeline made it."""

    device_key: str
    dev_eui: str | None
    device_id: str
    application: str
    source: str
    received_at: datetime
    f_port: int
    f_cnt: int
    payload: bytes
    model_id: str | None
    decoder: str | None  # e.g. "native:dragino/lht65", "js:acme/x", "lns", None
    status: DecodeStatus
    error: str | None = None
    decoded: Mapping[str, Any] | None = None
    warnings: Sequence[str] = ()
    #: canonical readings as (quantity, sensor, value) for "last readings"
    readings: Sequence[tuple[str, str, float]] = ()
    gateways: Sequence[Mapping[str, Any]] = ()  # {gateway_id, rssi, snr}
    rssi: float | None = None  # best gateway
    snr: float | None = None
    spreading_factor: int | None = None
    frequency: int | None = None
    gateway_count: int = 0
    uplink_id: str = ""
    device_profile: str | None = None
    device_name: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceMeta:
    """Editable metadata (API, devices file). ``None`` = not set."""

    name: str | None = None
    category: str | None = None  # environment | tourism | traffic
    site: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    model_override: str | None = None
    expected_interval_s: int | None = None
    public: bool | None = None
    notes: str | None = None
    variables: Mapping[str, Any] | None = None  # decoder options (calibration ...)
    tags: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class DeviceStatus:
    device_key: str
    dev_eui: str | None
    device_id: str
    application: str
    source: str
    meta: DeviceMeta
    model_id: str | None  # effective: override, else what the uplinks told us
    first_seen: datetime | None
    last_seen: datetime | None
    uplink_count: int
    last_f_cnt: int | None
    fcnt_missed: int
    fcnt_resets: int
    last_status: DecodeStatus | None
    last_error: str | None
    decoder: str | None
    last_battery: float | None  # percent
    last_battery_voltage: float | None
    rssi: float | None
    snr: float | None
    spreading_factor: int | None
    gateway_count: int | None
    last_readings: Sequence[tuple[str, str, float]] = field(default_factory=tuple)
    #: the network server's display name (ChirpStack deviceName), when it sent one
    device_name: str | None = None

    @property
    def missed_percent(self) -> float:
        expected = self.uplink_count + self.fcnt_missed
        return 100.0 * self.fcnt_missed / expected if expected else 0.0

    def overdue(self, now: datetime) -> bool:
        iv = self.meta.expected_interval_s
        if not iv or self.last_seen is None:
            return False
        return (now - self.last_seen).total_seconds() > 2 * iv  # one missed uplink is tolerated


@dataclass(frozen=True, kw_only=True)
class JournalEntry:
    device_key: str
    received_at: datetime
    f_port: int
    f_cnt: int
    payload: bytes
    status: DecodeStatus
    model_id: str | None
    error: str | None
    decoded: Mapping[str, Any] | None
    gateways: Sequence[Mapping[str, Any]]
    uplink_id: str


class Registry(Protocol):
    def record_uplinks(self, records: Sequence[UplinkRecord]) -> None:
        """Upsert device status and append to the journal; one transaction per batch."""

    def record_codec_error(
        self, device_key: str, *, time: datetime, message: str, uplink_id: str | None
    ) -> None:
        """The network server reported a codec error (ChirpStack log / v3 error event)."""

    def record_battery(self, device_key: str, *, time: datetime, percent: float) -> None:
        """Battery from a status event (ChirpStack DevStatusAns)."""

    def device_meta(self, device_key: str) -> DeviceMeta | None:
        """Metadata for ingest (cached by the caller; cheap)."""

    def get_device(self, device_key: str) -> DeviceStatus | None: ...

    def list_devices(
        self,
        *,
        category: str | None = None,
        site: str | None = None,
        overdue_at: datetime | None = None,
        decode_errors: bool | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[DeviceStatus], int]: ...

    def update_meta(
        self, device_key: str, meta: DeviceMeta, *, create: bool = False
    ) -> DeviceStatus:
        """Set the non-None fields of ``meta`` (create the device when asked)."""

    def journal(self, device_key: str, *, limit: int = 50) -> list[JournalEntry]: ...

    def journal_for_redecode(
        self, *, model_id: str | None, start: datetime, end: datetime
    ) -> list[JournalEntry]: ...

    def record_redecode(self, records: Sequence[UplinkRecord]) -> int:
        """New decode results for journaled uplinks (redecode); returns entries updated."""

    def close(self) -> None: ...
