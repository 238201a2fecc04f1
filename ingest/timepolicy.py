"""Which uplink times are plausible (#11 point 3 and 5).

A gateway with a broken GPS clock sends 2262 or 9999, a misconfigured one 1970 or year 1.
Such a time must never become a measurement time: it would move the device's
``last_seen`` into the future (the device is then never overdue and every later uplink
looks late), move the TTS refill watermark to 9999 (refill off for good), or be counted
``stored`` while InfluxDB refuses the point (it stores 1677-09-21 .. 2262-04-11 only).

The rule: a time is plausible when it is not before ``earliest`` (default 2015-01-01,
before any LoRaWAN network server we read existed) and not more than ``max_future_s``
after the moment the message reached us. An implausible uplink time falls back to the
network server's own time where the envelope carries one (``Uplink.server_time``);
otherwise the uplink is rejected with reason ``implausible_time``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from storage.base import to_ns

#: what InfluxDB (int64 nanoseconds, minus its reserved values) can store
INFLUX_MIN_NS = -9_223_372_036_854_775_806
INFLUX_MAX_NS = 9_223_372_036_854_775_806


@dataclass(frozen=True, slots=True)
class TimePolicy:
    #: seconds a time may lie after our receive time (gateway clocks drift)
    max_future_s: float = 600.0
    #: nothing before this is a LoRaWAN uplink time
    earliest: datetime = datetime(2015, 1, 1, tzinfo=UTC)
    earliest_ns: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "earliest_ns", max(to_ns(self.earliest), INFLUX_MIN_NS))

    def plausible_ns(self, t_ns: int, now_ns: int) -> bool:
        latest = min(now_ns + int(self.max_future_s * 1e9), INFLUX_MAX_NS)
        return self.earliest_ns <= t_ns <= latest

    def plausible_reading(self, t: datetime, now_ns: int) -> bool:
        """A reading's own time (from the payload): storable and not in the future. Not
        bounded by ``earliest``: a device may deliver logged history (SenML ``bt``)."""
        t_ns = to_ns(t)
        return INFLUX_MIN_NS <= t_ns <= min(now_ns + int(self.max_future_s * 1e9), INFLUX_MAX_NS)

    def plausible(self, t: datetime | None, now_ns: int) -> bool:
        return t is not None and self.plausible_ns(to_ns(t), now_ns)

    def describe(self, t: datetime, now_ns: int) -> str:
        late = datetime.fromtimestamp(now_ns / 1e9 + self.max_future_s, UTC)
        return (
            f"time {t.isoformat()} outside the plausible range "
            f"{self.earliest.isoformat()} .. {late.isoformat(timespec='seconds')}"
        )
