"""The per-device, per-batch status fold (#19) against the per-uplink definition.

``reference_apply`` below is the fold as it was written before #19 — one uplink at a time,
every field written per uplink (storage/registry.py, ``_apply``). ``fold_device`` folds a
device's whole batch at once; for every generated batch (in-order runs, duplicates,
counter resets, late deliveries, "no payload" frames, a pending codec error, battery
levels older than a status event, a stored last_seen from a broken clock) the row must
come out the same, and so must each uplink's journal status.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage.registry.fold import Fresh, blank, fold_batch, fold_device, new_uplinks
from storage.registry_base import (
    DEFAULT_INTERVAL_S,
    LEARN_MAX_STEP,
    LEARN_WINDOW,
    UplinkRecord,
    learned_interval,
)

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
KEY = "70B3D57ED0000001"


def _in_future(t: datetime) -> bool:
    now = datetime.now(UTC)
    return t > (now if t.tzinfo is not None else now.replace(tzinfo=None)) + timedelta(days=1)


def reference_apply(st: dict[str, Any], r: UplinkRecord) -> tuple[str, str | None]:
    """One new uplink folded into ``st`` (the per-uplink fold before #19, verbatim)."""
    status, error = r.status, r.error
    uid, t, f_cnt = r.uplink_id, r.received_at, r.f_cnt
    if uid and uid == st["pending_error_uplink_id"]:
        status, error = "error", st["pending_error"]
        st["pending_error_uplink_id"] = st["pending_error"] = None
    first_seen = st["first_seen"]
    if first_seen is None or t < first_seen:
        st["first_seen"] = t
    last_seen, last = st["last_seen"], st["last_f_cnt"]
    if last_seen is not None and _in_future(last_seen):
        last_seen = None
    if last_seen is not None and t < last_seen:
        st["uplink_count"] += 1
        if last is not None and f_cnt < last and st["fcnt_missed"] > 0:
            st["fcnt_missed"] -= 1
        return status, error
    if last is None:
        st["uplink_count"] += 1
    elif f_cnt > last:
        st["uplink_count"] += 1
        st["fcnt_missed"] += f_cnt - last - 1
        if last_seen is not None:
            step, dt = f_cnt - last, (t - last_seen).total_seconds()
            if step <= LEARN_MAX_STEP and dt >= step:
                gaps = st["interval_gaps"]
                gaps = [*gaps[1 - LEARN_WINDOW :], round(dt / step)] if gaps else [round(dt / step)]
                st["interval_gaps"] = gaps
                st["learned_interval_s"] = learned_interval(gaps)
    elif f_cnt < last:
        st["uplink_count"] += 1
        st["fcnt_resets"] += 1
    st["dev_eui"], st["device_id"] = r.dev_eui, r.device_id
    st["application"], st["source"] = r.application, r.source
    if r.device_name:
        st["device_name"] = r.device_name
    if r.device_profile:
        st["device_profile"] = r.device_profile
    if r.model_id:
        st["uplink_model_id"] = r.model_id
    st["last_seen"], st["last_f_cnt"], st["last_uplink_id"] = t, f_cnt, uid
    if status != "no_payload" or st["last_status"] is None:
        st["last_status"], st["last_error"], st["decoder"] = status, error, r.decoder
    if r.rssi is not None or r.gateway_count:
        st["rssi"], st["snr"], st["gateway_count"] = r.rssi, r.snr, r.gateway_count
    if r.spreading_factor:
        st["spreading_factor"] = r.spreading_factor
    if r.readings:
        st["last_readings"] = tuple(r.readings)
        st["last_readings_at"] = t
        for q, s, v in r.readings:
            if q == "battery" and (st["last_battery_at"] is None or t >= st["last_battery_at"]):
                st["last_battery"], st["last_battery_at"] = float(v), t
            elif q == "battery_voltage" or (q == "voltage" and s == "battery"):
                st["last_battery_voltage"] = float(v)
    iv = st["expected_interval_s"] or st["learned_interval_s"] or DEFAULT_INTERVAL_S
    st["overdue_after"] = t + timedelta(seconds=2 * iv)
    return status, error


_ROW_FIELDS = (
    "dev_eui device_id application source device_name device_profile uplink_model_id "
    "first_seen last_seen last_f_cnt last_uplink_id last_status last_error decoder "
    "last_battery last_battery_at last_battery_voltage rssi snr spreading_factor "
    "gateway_count last_readings last_readings_at overdue_after pending_error_uplink_id "
    "pending_error learned_interval_s interval_gaps expected_interval_s"
).split()


def _row(rng: random.Random) -> dict[str, Any]:
    """A device row as the database might hold it (new, or with some history)."""
    st: dict[str, Any] = {"device_key": KEY, **blank(), **dict.fromkeys(_ROW_FIELDS)}
    if rng.random() < 0.7:
        st.update(
            uplink_count=rng.randint(1, 50),
            fcnt_missed=rng.choice([0, 0, 1, 3]),
            last_seen=T0 + timedelta(minutes=rng.randint(0, 20)),
            first_seen=T0 - timedelta(days=1),
            last_f_cnt=rng.randint(0, 20),
            last_uplink_id=f"old-{rng.randint(0, 5)}",
            last_status=rng.choice([None, "decoded", "error"]),
            interval_gaps=rng.choice([None, [600, 600], [600, 610, 590, 600, 605]]),
            expected_interval_s=rng.choice([None, None, 900]),
        )
        if rng.random() < 0.1:  # a broken clock before #11
            st["last_seen"] = datetime.now(UTC) + timedelta(days=30)
        if rng.random() < 0.3:  # a status event newer than the uplinks
            st["last_battery_at"] = T0 + timedelta(minutes=rng.randint(0, 60))
            st["last_battery"] = 55.0
    if rng.random() < 0.2:
        st["pending_error_uplink_id"], st["pending_error"] = f"up-{rng.randint(0, 15)}", "bad"
    return st


def _batch(rng: random.Random) -> list[UplinkRecord]:
    """One device's uplinks of one batch, sorted by time as ``record_uplinks`` sorts them."""
    recs = []
    f_cnt = rng.randint(0, 25)
    for i in range(rng.randint(1, 15)):
        move = rng.random()
        if move < 0.6:
            f_cnt += 1
        elif move < 0.75:
            f_cnt += rng.randint(2, 5)  # missed frames
        elif move < 0.85:
            pass  # the same counter again
        elif move < 0.9:
            f_cnt = rng.randint(0, 3)  # a reset
        else:
            f_cnt = max(0, f_cnt - rng.randint(1, 4))  # an older frame
        readings: list[tuple[str, str, float]] = []
        if rng.random() < 0.7:
            readings.append(("temperature", "", 20.0 + i))
        if rng.random() < 0.3:
            readings.append(("battery", "", float(rng.randint(10, 100))))
        if rng.random() < 0.3:
            readings.append(rng.choice([("battery_voltage", "", 3.0), ("voltage", "battery", 3.1)]))
        recs.append(
            UplinkRecord(
                device_key=KEY,
                dev_eui=rng.choice([KEY, None]),
                device_id=rng.choice(["eui-a", "eui-b"]),
                application="city",
                source="tts",
                received_at=T0 + timedelta(minutes=rng.randint(-5, 40), seconds=i),
                f_port=2,
                f_cnt=f_cnt,
                payload=b"\x01",
                model_id=rng.choice(["dragino/lht65", None]),
                decoder=rng.choice(["native:dragino/lht65", None]),
                status=rng.choice(["decoded", "decoded", "no_payload", "error", "no_decoder"]),
                error=rng.choice([None, "boom"]),
                readings=tuple(readings),
                rssi=rng.choice([-80.0, None]),
                snr=rng.choice([7.0, None]),
                gateway_count=rng.choice([0, 1, 2]),
                spreading_factor=rng.choice([None, 7, 9]),
                uplink_id=f"up-{i}",
                device_name=rng.choice([None, "", "Lamp 4"]),
                device_profile=rng.choice([None, "LHT65"]),
            )
        )
    return sorted(recs, key=lambda r: r.received_at)


def _plain(st: dict[str, Any]) -> dict[str, Any]:
    out = dict(st)
    if isinstance(out["last_readings"], Fresh):
        out["last_readings"] = tuple(out["last_readings"])
    return out


@pytest.mark.parametrize("seed", range(400))
def test_batch_fold_equals_the_per_uplink_fold(seed: int) -> None:
    rng = random.Random(seed)
    st = _row(rng)
    recs = _batch(rng)
    expected = dict(st)
    expected_status = [reference_apply(expected, r) for r in recs]
    got = dict(st)
    over: dict[int, tuple[str, str | None]] = {}
    fold_device(got, recs, over)
    assert _plain(got) == _plain(expected)
    assert [over.get(id(r)) or (r.status, r.error) for r in recs] == expected_status


def test_several_uplinks_of_one_device_fold_once() -> None:
    """A batch of 10 in-order uplinks with 2 missed frames: counted one by one, the last
    values from the newest uplink that has each (battery from an older one)."""
    recs: list[UplinkRecord] = []
    base = {
        "device_key": KEY,
        "dev_eui": KEY,
        "device_id": "eui-a",
        "application": "city",
        "source": "tts",
        "f_port": 2,
        "payload": b"",
        "model_id": "dragino/lht65",
        "decoder": "native:dragino/lht65",
        "status": "decoded",
    }
    counters = [1, 2, 3, 5, 6, 7, 8, 10, 11, 12]
    for i, f in enumerate(counters):
        readings = [("temperature", "", float(i))]
        if f == 5:
            readings.append(("battery", "", 77.0))
        recs.append(
            UplinkRecord(
                **base,  # type: ignore[arg-type]
                received_at=T0 + timedelta(minutes=10 * i),
                f_cnt=f,
                uplink_id=f"u{f}",
                readings=tuple(readings),
                rssi=-70.0 - i if i < 8 else None,
                snr=5.0,
                gateway_count=1 if i < 8 else 0,
            )
        )
    st: dict[str, Any] = {"device_key": KEY, **blank(), **dict.fromkeys(_ROW_FIELDS)}
    rows = {KEY: st}
    new, per_device = new_uplinks(recs, rows, set(), lambda t: t)
    assert len(new) == 10
    fold_batch(rows, per_device)
    assert (st["uplink_count"], st["fcnt_missed"], st["fcnt_resets"]) == (10, 2, 0)
    assert st["last_f_cnt"] == 12 and st["last_seen"] == T0 + timedelta(minutes=90)
    assert st["first_seen"] == T0
    assert tuple(st["last_readings"]) == (("temperature", "", 9.0),)
    assert st["last_battery"] == 77.0 and st["last_battery_at"] == T0 + timedelta(minutes=30)
    assert st["rssi"] == -77.0  # the newest uplink heard through a gateway
    # per-frame gaps of the last five steps: 600, 600, 300 (two frames in 10 min), 600, 600
    assert st["interval_gaps"] == [600, 600, 300, 600, 600]
    assert st["learned_interval_s"] == 600
