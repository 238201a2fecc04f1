"""The status fold: a batch's uplinks folded into their devices' rows, per device (#19).

Pure (no database): the rows are dicts as :mod:`storage.registry.fastpath` reads them, and
are changed in place. The batch is grouped by device; each device's uplinks (in time order)
move the counters one by one — frame counters, late deliveries, the learned interval —
and the "last …" fields are set once, from the newest uplink that carries each of them.
The result is the same row as folding the uplinks one at a time (``tests/storage/
registry/test_fold.py`` checks that against a per-uplink reference), at one pass of
integer arithmetic per uplink instead of some thirty field writes.

Frame counters, per in-order uplink: a forward jump adds ``f_cnt - last - 1`` to
``fcnt_missed``; a lower counter is a reset; the same counter again is a duplicate frame
(seen, journaled, not counted). An uplink older than ``last_seen`` (a late delivery or a
refill) counts and is journaled but leaves the "last …" fields alone, and when its
counter lies below the last one it closes one missed frame. A stored ``last_seen`` more
than a day ahead of our clock (a broken clock before #11) is not compared with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from storage.registry_base import (
    DEFAULT_INTERVAL_S,
    LEARN_MAX_STEP,
    LEARN_WINDOW,
    UplinkRecord,
    learned_interval,
)

_BATTERY = "battery"
_BATTERY_VOLTAGE = "battery_voltage"
#: an uplink's (status, error) when it differs from the record's (a pending codec error)
Overrides = dict[int, tuple[str, str | None]]
#: (device, uplink id, stored receive time): an uplink's identity in the journal
Ident = tuple[str, str, Any]


class Fresh(tuple[tuple[str, str, float], ...]):
    """An uplink's readings on their way to ``last_readings`` (stored as [[q, s, v]])."""

    __slots__ = ()


def blank() -> dict[str, Any]:
    return {"uplink_count": 0, "fcnt_missed": 0, "fcnt_resets": 0}


def identity(r: UplinkRecord) -> dict[str, Any]:
    return {
        "dev_eui": r.dev_eui,
        "device_id": r.device_id,
        "application": r.application,
        "source": r.source,
    }


def identity_from_key(key: str) -> dict[str, Any]:
    is_eui = len(key) == 16 and all(c in "0123456789ABCDEFabcdef" for c in key)
    return {
        "dev_eui": key.upper() if is_eui else None,
        "device_id": key.lower() if is_eui else key,
        "application": "",
        "source": "",
    }


class _Future:
    """ "More than a day ahead of our clock", with the clock read once per batch."""

    __slots__ = ("aware", "naive")

    def __init__(self) -> None:
        self.aware = datetime.now(UTC) + timedelta(days=1)
        self.naive = self.aware.replace(tzinfo=None)

    def __call__(self, t: datetime) -> bool:
        return t > (self.aware if t.tzinfo is not None else self.naive)


def new_uplinks(
    recs: Sequence[UplinkRecord],
    rows: Mapping[str, Mapping[str, Any]],
    seen: set[Ident],
    ts: Callable[[datetime], Any],
) -> tuple[list[tuple[UplinkRecord, Any]], dict[str, list[UplinkRecord]]]:
    """The uplinks of ``recs`` (sorted by time) not recorded yet, with their stored receive
    time, in order; and the same grouped by device. An uplink is (device, uplink_id,
    received_at): ChirpStack v3 ids are "devEUI:fCnt" and repeat after a counter reset,
    with another receive time. ``seen`` (the journaled identities) grows by the new ones."""
    new: list[tuple[UplinkRecord, Any]] = []
    per_device: dict[str, list[UplinkRecord]] = {}
    for r in recs:
        key, uid = r.device_key, r.uplink_id
        t = ts(r.received_at)
        if uid:
            ident = (key, uid, t)
            if ident in seen:
                continue
            st = rows[key]
            if uid == st["last_uplink_id"] and r.received_at == st["last_seen"]:
                continue
            seen.add(ident)
        new.append((r, t))
        group = per_device.get(key)
        if group is None:
            per_device[key] = [r]
        else:
            group.append(r)
    return new, per_device


def fold_batch(
    rows: Mapping[str, dict[str, Any]], per_device: Mapping[str, Sequence[UplinkRecord]]
) -> Overrides:
    """Fold each device's new uplinks (in time order) into its row; returns the uplinks
    whose journal status is not their record's (a codec error reported before they came)."""
    over: Overrides = {}
    future = _Future()
    for key, rs in per_device.items():
        fold_device(rows[key], rs, over, future)
    return over


def fold_device(
    st: dict[str, Any],
    rs: Sequence[UplinkRecord],
    over: Overrides,
    future: Callable[[datetime], bool] | None = None,
) -> None:
    """Fold one device's new uplinks ``rs`` (sorted by time, at least one) into ``st``."""
    in_future = future or _Future()
    pending = st["pending_error_uplink_id"]
    if pending:
        for r in rs:
            if r.uplink_id == pending:  # the network server's codec error came first
                over[id(r)] = ("error", st["pending_error"])
                st["pending_error_uplink_id"] = st["pending_error"] = None
                break
    first = rs[0].received_at
    if st["first_seen"] is None or first < st["first_seen"]:
        st["first_seen"] = first
    count, missed, resets = st["uplink_count"], st["fcnt_missed"], st["fcnt_resets"]
    last_seen, last = st["last_seen"], st["last_f_cnt"]
    gaps = st["interval_gaps"]
    learned = False
    live = len(rs)  # index of the first in-order uplink (every later one is in order too)
    for i, r in enumerate(rs):
        t, f_cnt = r.received_at, r.f_cnt
        if last_seen is not None and in_future(last_seen):
            last_seen = None
        if last_seen is not None and t < last_seen:  # late delivery / refill
            count += 1
            if last is not None and f_cnt < last and missed > 0:
                missed -= 1
            continue
        if live > i:
            live = i
        if last is None:
            count += 1
        elif f_cnt > last:
            count += 1
            step = f_cnt - last
            missed += step - 1
            if last_seen is not None and step <= LEARN_MAX_STEP:
                dt = (t - last_seen).total_seconds()
                if dt >= step:
                    gap = round(dt / step)
                    gaps = [*gaps[1 - LEARN_WINDOW :], gap] if gaps else [gap]
                    learned = True
        elif f_cnt < last:
            count += 1
            resets += 1
        last_seen, last = t, f_cnt
    st["uplink_count"], st["fcnt_missed"], st["fcnt_resets"] = count, missed, resets
    if learned:
        st["interval_gaps"] = gaps
        st["learned_interval_s"] = learned_interval(gaps)
    if live < len(rs):
        _last_fields(st, rs[live:], over)


def _last_fields(st: dict[str, Any], live: Sequence[UplinkRecord], over: Overrides) -> None:
    """The "last …" fields from the newest of the in-order uplinks ``live`` that has each."""
    r = live[-1]
    t = r.received_at
    # the identity is the uplink's (dev_eui too, even when the uplink has none)
    st["dev_eui"], st["device_id"] = r.dev_eui, r.device_id
    st["application"], st["source"] = r.application, r.source
    st["last_seen"], st["last_f_cnt"], st["last_uplink_id"] = t, r.f_cnt, r.uplink_id
    newest = live[::-1]
    for x in newest:
        if x.device_name:
            st["device_name"] = x.device_name
            break
    for x in newest:  # the latest uplink's source wins (#16)
        if x.source_name:
            st["source_name"] = x.source_name
            break
    for x in newest:
        if x.device_profile:
            st["device_profile"] = x.device_profile
            break
    for x in newest:
        if x.model_id:
            st["uplink_model_id"] = x.model_id
            break
    for x in newest:  # "no payload" keeps the last decode status, unless there is none
        status, error = over.get(id(x)) or (x.status, x.error)
        if status != "no_payload":
            st["last_status"], st["last_error"], st["decoder"] = status, error, x.decoder
            break
    else:
        if st["last_status"] is None:
            x = live[0]
            status, error = over.get(id(x)) or (x.status, x.error)
            st["last_status"], st["last_error"], st["decoder"] = status, error, x.decoder
    for x in newest:
        if x.rssi is not None or x.gateway_count:
            st["rssi"], st["snr"], st["gateway_count"] = x.rssi, x.snr, x.gateway_count
            break
    for x in newest:
        if x.spreading_factor:
            st["spreading_factor"] = x.spreading_factor
            break
    _readings(st, newest)
    # effective_interval(), inlined
    iv = st["expected_interval_s"] or st["learned_interval_s"] or DEFAULT_INTERVAL_S
    st["overdue_after"] = t + timedelta(seconds=2 * iv)


def _readings(st: dict[str, Any], newest: Sequence[UplinkRecord]) -> None:
    """Last readings, battery level and battery voltage from the newest uplinks first."""
    have_readings = have_battery = have_voltage = False
    for x in newest:
        readings = x.readings
        if not readings:
            continue
        t = x.received_at
        if not have_readings:
            have_readings = True
            st["last_readings"] = Fresh(readings)  # made a list once per batch
            st["last_readings_at"] = t
        for q, s, v in reversed(readings):
            if q == _BATTERY:
                if not have_battery:
                    have_battery = True
                    if st["last_battery_at"] is None or t >= st["last_battery_at"]:
                        st["last_battery"], st["last_battery_at"] = float(v), t
            elif q == _BATTERY_VOLTAGE or (q == "voltage" and s == "battery"):
                if not have_voltage:
                    have_voltage = True
                    st["last_battery_voltage"] = float(v)
        if have_battery and have_voltage:
            return
