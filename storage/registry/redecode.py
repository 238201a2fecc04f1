"""Storing the result of decoding journaled uplinks again (``lorawan-monitor redecode``, #6)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.engine import Connection

from storage.migrations import devices, journal
from storage.registry_base import UplinkRecord


def record_redecode(conn: Connection, records: Sequence[UplinkRecord]) -> int:
    """Each matching journal entry (device, uplink id or frame counter, receive time) gets
    the new status, error, model and decoded payload; a device whose last uplink it is gets
    the new decode status and last readings. Counters and "last seen" are left alone.
    Returns the number of journal entries updated."""
    updated = 0
    j = journal.c
    d = devices.c
    for r in records:
        match = [j.device_key == r.device_key, j.received_at == r.received_at]
        if r.uplink_id:
            match.append(j.uplink_id == r.uplink_id)
        else:
            match += [j.uplink_id.is_(None), j.f_cnt == r.f_cnt]
        values = {
            "status": r.status,
            "error": r.error,
            "model_id": r.model_id,
            "decoded": dict(r.decoded) if r.decoded is not None else None,
        }
        updated += conn.execute(update(journal).where(*match).values(values)).rowcount
        conn.execute(
            update(devices)
            .where(
                d.device_key == r.device_key,
                d.last_seen == r.received_at,
                d.last_uplink_id == r.uplink_id if r.uplink_id else d.last_f_cnt == r.f_cnt,
            )
            .values(
                last_status=r.status,
                last_error=r.error,
                decoder=r.decoder,
                last_readings=[[q, s, float(v)] for q, s, v in r.readings] or None,
                last_readings_at=r.received_at if r.readings else None,
            )
        )
    return updated
