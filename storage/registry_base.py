"""The device registry contract (SQL implementation in ``storage/registry.py``).

Ingest records every uplink (batched), every recognised status/log event, and reads
per-device metadata (model override, tags, category, site). The API reads device
status and the journal and edits metadata. One contract test suite runs it against
SQLite and PostgreSQL.

A device's key is its DevEUI (16 upper-case hex). Devices without a DevEUI (rare TTS
ABP devices) use ``"<source>:<application>/<device_id>"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


# -- the expected interval ---------------------------------------------------------------
#
# A device is overdue when it has been silent for more than twice its expected interval
# (one missed uplink is tolerated). The interval is, in this order:
#
# 1. configured (``expected_interval_s`` from the API or the devices file);
# 2. learned from the device's own cadence: every in-order uplink whose frame counter
#    moved forward by ``step`` (1 .. LEARN_MAX_STEP) after ``dt`` seconds gives one
#    per-frame gap ``dt / step``, so missed frames do not stretch the estimate; the
#    median of the last LEARN_WINDOW gaps is the interval once there are LEARN_MIN_GAPS
#    of them. The median ignores a single odd gap (a device switched off, a burst after
#    a button press), and when a device changes its interval the estimate follows after
#    LEARN_WINDOW // 2 + 1 uplinks at the new cadence. Repeated frames (same counter),
#    counter resets and late deliveries teach nothing;
# 3. DEFAULT_INTERVAL_S: a device heard fewer than LEARN_MIN_GAPS + 1 times is overdue
#    after a day of silence. A silent device is never "OK".
#
# Event-driven devices (parking sensors, buttons) send at irregular times: their learned
# interval is their busy-hour cadence, so configure their heartbeat interval instead.

LEARN_WINDOW = 5
LEARN_MIN_GAPS = 3
LEARN_MAX_STEP = 1000
DEFAULT_INTERVAL_S = 12 * 3600

IntervalSource = Literal["configured", "learned", "default"]


def add_gap(gaps: list[int] | None, dt_s: float, step: int) -> list[int] | None:
    """``gaps`` with the per-frame gap of one more uplink (``None``: nothing learned)."""
    if step < 1 or step > LEARN_MAX_STEP or dt_s < step:
        return None
    gap = round(dt_s / step)
    return [*gaps[1 - LEARN_WINDOW :], gap] if gaps else [gap]


def learned_interval(gaps: Sequence[int] | None) -> int | None:
    """The median of the recent per-frame gaps, once there are enough of them."""
    n = len(gaps) if gaps else 0
    if not gaps or n < LEARN_MIN_GAPS:
        return None
    s = sorted(gaps)  # statistics.median, without its overhead (runs per uplink)
    return s[n // 2] if n % 2 else round((s[n // 2 - 1] + s[n // 2]) / 2)


def effective_interval(configured: int | None, learned: int | None) -> tuple[int, IntervalSource]:
    """The interval "overdue" is judged against, and where it comes from."""
    if configured:
        return configured, "configured"
    if learned:
        return learned, "learned"
    return DEFAULT_INTERVAL_S, "default"


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
    #: name of the source (LORAWAN_SOURCES) it came through; None: the one
    #: ``LORAWAN_MQTT__*`` broker, or a re-decode (``source`` is the network server kind)
    source_name: str | None = None


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
    #: the interval learned from the device's own uplinks (see ``effective_interval``)
    learned_interval_s: int | None = None
    #: when ``last_readings`` were received
    last_readings_at: datetime | None = None
    #: the source (LORAWAN_SOURCES) the latest uplink came through; None: not recorded
    source_name: str | None = None

    @property
    def interval(self) -> tuple[int, IntervalSource]:
        """The expected interval and its source (configured, learned, default)."""
        return effective_interval(self.meta.expected_interval_s, self.learned_interval_s)

    @property
    def missed_percent(self) -> float:
        expected = self.uplink_count + self.fcnt_missed
        return 100.0 * self.fcnt_missed / expected if expected else 0.0

    def overdue(self, now: datetime) -> bool:
        if self.last_seen is None:
            return False
        iv, _ = self.interval
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
    def record_uplinks(
        self,
        records: Sequence[UplinkRecord],
        *,
        on_rejected: Callable[[UplinkRecord, str], None] | None = None,
    ) -> None:
        """Upsert device status and append to the journal; one transaction per batch.
        A record the database refuses is dropped alone and handed to ``on_rejected`` with
        the reason (the ingest dead-letters it); infrastructure errors raise."""

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
        problems_at: datetime | None = None,
        problems_first_at: datetime | None = None,
    ) -> tuple[list[DeviceStatus], int]:
        """Devices matching every filter given. ``problems_at``: only devices whose traffic
        light at that time is not OK (overdue, decode error, no decoder, never seen);
        ``problems_first_at``: sorted by that light's urgency, then by key."""

    def update_meta(
        self, device_key: str, meta: DeviceMeta, *, create: bool = False
    ) -> DeviceStatus:
        """Set the non-None fields of ``meta`` (create the device when asked)."""

    def import_meta(self, entries: Sequence[tuple[str, DeviceMeta]]) -> tuple[int, int]:
        """Set the metadata of many devices (creating missing ones) in one transaction;
        returns (created, updated)."""

    def journal(self, device_key: str, *, limit: int = 50) -> list[JournalEntry]: ...

    def journal_for_redecode(
        self, *, model_id: str | None, start: datetime, end: datetime
    ) -> list[JournalEntry]: ...

    def record_redecode(self, records: Sequence[UplinkRecord]) -> int:
        """New decode results for journaled uplinks (redecode); returns entries updated."""

    def close(self) -> None: ...
