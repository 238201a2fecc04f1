"""The registry's read side for the API: device status, lists, the journal (SQLAlchemy Core).

Each function runs inside a connection the caller opened (``SqlRegistry._tx``) and turns
rows into the contract's dataclasses (``storage.registry_base``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import case, func, or_, select
from sqlalchemy.engine import Connection

from storage.migrations import META_FIELDS, devices, journal
from storage.registry_base import DeviceMeta, DeviceStatus, JournalEntry


def get_device(conn: Connection, device_key: str) -> DeviceStatus | None:
    row = conn.execute(select(devices).where(devices.c.device_key == device_key)).first()
    return status(row._mapping) if row else None


def device_meta(conn: Connection, device_key: str) -> DeviceMeta | None:
    cols = [devices.c[f] for f in META_FIELDS]
    row = conn.execute(select(*cols).where(devices.c.device_key == device_key)).first()
    return meta(row._mapping) if row else None


def list_devices(
    conn: Connection,
    *,
    category: str | None,
    site: str | None,
    overdue_at: datetime | None,
    decode_errors: bool | None,
    search: str | None,
    offset: int,
    limit: int,
    problems_at: datetime | None,
    problems_first_at: datetime | None,
) -> tuple[list[DeviceStatus], int]:
    conds: list[Any] = []
    if problems_at is not None:
        conds.append(_problem_rank(problems_at) < _RANK_OK)
    if category is not None:
        conds.append(devices.c.category == category)
    if site is not None:
        conds.append(devices.c.site == site)
    if overdue_at is not None:
        conds.append(devices.c.overdue_after < overdue_at)
    failing = ("error", "codec_error")  # codec_error: the model's codec cannot run (#13)
    if decode_errors is True:
        conds.append(devices.c.last_status.in_(failing))
    elif decode_errors is False:
        conds.append(or_(devices.c.last_status.is_(None), devices.c.last_status.not_in(failing)))
    if search:
        pat = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        cols = ("device_key", "device_id", "name", "device_name", "site", "notes")
        conds.append(or_(*(devices.c[c].ilike(pat, escape="\\") for c in cols)))
    q = select(devices).where(*conds)
    total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    order = [devices.c.device_key]
    if problems_first_at is not None:
        order.insert(0, _problem_rank(problems_first_at))
    rows = conn.execute(q.order_by(*order).offset(max(0, offset)).limit(max(0, limit)))
    return [status(r._mapping) for r in rows], int(total)


def journal_entries(conn: Connection, device_key: str, limit: int) -> list[JournalEntry]:
    """The device's newest journal entries first."""
    q = (
        select(journal)
        .where(journal.c.device_key == device_key)
        .order_by(journal.c.received_at.desc(), journal.c.id.desc())
        .limit(max(0, limit))
    )
    return [journal_entry(r._mapping) for r in conn.execute(q)]


def journal_for_redecode(
    conn: Connection, *, model_id: str | None, start: datetime, end: datetime
) -> list[JournalEntry]:
    """Entries with ``start <= received_at < end``, oldest first; ``model_id`` matches the
    model recorded with the uplink or the device's effective model now."""
    q = select(journal).where(journal.c.received_at >= start, journal.c.received_at < end)
    if model_id is not None:
        effective = func.coalesce(devices.c.model_override, devices.c.uplink_model_id)
        now_model = select(devices.c.device_key).where(effective == model_id)
        q = q.where(or_(journal.c.model_id == model_id, journal.c.device_key.in_(now_model)))
    q = q.order_by(journal.c.received_at, journal.c.id)
    return [journal_entry(r._mapping) for r in conn.execute(q)]


#: the traffic light's order of urgency ("problems first"): silent devices first (no data
#: at all), then decode errors, devices without a decoder, devices never heard, healthy ones
_RANK_OK = 4


def _problem_rank(at: datetime) -> Any:
    """SQL for the rank of a device's traffic light at ``at`` (``api.routes.devices``)."""
    d = devices.c
    return case(
        (d.last_seen.is_(None), 3),
        (d.overdue_after < at, 0),
        (d.last_status == "error", 1),
        (d.last_status == "no_decoder", 2),
        else_=_RANK_OK,
    )


def meta(m: Mapping[Any, Any]) -> DeviceMeta:
    return DeviceMeta(**{f: m[f] for f in META_FIELDS})


def status(m: Mapping[Any, Any]) -> DeviceStatus:
    meta_ = meta(m)
    return DeviceStatus(
        device_key=m["device_key"],
        dev_eui=m["dev_eui"],
        device_id=m["device_id"] or "",
        application=m["application"] or "",
        source=m["source"] or "",
        meta=meta_,
        model_id=meta_.model_override or m["uplink_model_id"],
        first_seen=m["first_seen"],
        last_seen=m["last_seen"],
        uplink_count=int(m["uplink_count"] or 0),
        last_f_cnt=m["last_f_cnt"],
        fcnt_missed=int(m["fcnt_missed"] or 0),
        fcnt_resets=int(m["fcnt_resets"] or 0),
        last_status=m["last_status"],
        last_error=m["last_error"],
        decoder=m["decoder"],
        last_battery=m["last_battery"],
        last_battery_voltage=m["last_battery_voltage"],
        rssi=m["rssi"],
        snr=m["snr"],
        spreading_factor=m["spreading_factor"],
        gateway_count=m["gateway_count"],
        last_readings=tuple((q, s, float(v)) for q, s, v in m["last_readings"] or ()),
        device_name=m["device_name"],
        learned_interval_s=m["learned_interval_s"],
        last_readings_at=m["last_readings_at"],
        source_name=m["source_name"],
    )


def journal_entry(m: Mapping[Any, Any]) -> JournalEntry:
    return JournalEntry(
        device_key=m["device_key"],
        received_at=m["received_at"],
        f_port=m["f_port"],
        f_cnt=m["f_cnt"],
        payload=bytes(m["payload"]),
        status=cast(Any, m["status"]),
        model_id=m["model_id"],
        error=m["error"],
        decoded=m["decoded"],
        gateways=tuple(m["gateways"] or ()),
        uplink_id=m["uplink_id"] or "",
    )
