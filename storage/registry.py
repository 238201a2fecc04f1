"""The device registry in SQL: SQLite embedded, PostgreSQL when several workers share it.

One code path (SQLAlchemy 2 Core) for both. The schema is owned by the alembic
migrations in ``storage/migrations``; :class:`SqlRegistry` runs ``upgrade head`` when
it opens, so an upgraded service migrates its database and keeps the data.

Writes (``record_uplinks``) are one transaction per batch: the batch's device rows are
read with ``SELECT … FOR UPDATE`` (PostgreSQL; SQLite write transactions are
``BEGIN IMMEDIATE``), updated in memory, then written back with ``executemany``.
Nothing about a device is cached between batches, so several ingest workers may share
one PostgreSQL registry.

Frame counters, per in-order uplink: a forward jump adds ``f_cnt - last - 1`` to
``fcnt_missed``; a lower counter is a reset; the same counter again is a duplicate frame
(seen, journaled, not counted). An uplink older than ``last_seen`` (a late delivery or a
refill) counts and is journaled but leaves the "last …" fields alone, and when its
counter lies below the last one it closes one missed frame. Recording the same
uplink (``uplink_id`` and ``received_at``) twice changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from lorawan_monitor.errors import ConfigError, SinkUnavailableError, UnknownDeviceError
from storage.migrations import (
    META_FIELDS,
    STATUS_COLS,
    WRITE,
    create_registry_engine,
    devices,
    journal,
    overdue_after,
    safe_url,
    upgrade,
)
from storage.registry_base import DeviceMeta, DeviceStatus, JournalEntry, UplinkRecord

__all__ = ["SqlRegistry", "create_registry_engine", "upgrade"]
_BATTERY = "battery"
_BATTERY_VOLTAGE = "battery_voltage"


class SqlRegistry:
    """The :class:`storage.registry_base.Registry` on SQLite or PostgreSQL."""

    def __init__(self, dsn: str, *, journal_per_device: int = 100) -> None:
        if journal_per_device < 0:
            raise ConfigError("journal_per_device must be >= 0")
        self._n = journal_per_device
        self._trim_every = max(1, journal_per_device // 4)
        self._since_trim: dict[str, int] = {}
        self._lock = threading.Lock()  # one writer per process (SQLite :memory: shares a conn)
        self.engine = create_registry_engine(dsn)
        try:
            upgrade(self.engine)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise SinkUnavailableError(f"registry database {safe_url(dsn)}: {exc}") from exc
        self._pg = self.engine.dialect.name == "postgresql"
        self._set_status = (
            update(devices)
            .where(devices.c.device_key == bindparam("k"))
            .values({c: bindparam(c) for c in STATUS_COLS})
        )
        keep = (
            select(journal.c.id)
            .where(journal.c.device_key == bindparam("k"))
            .order_by(journal.c.received_at.desc(), journal.c.id.desc())
            .limit(self._n)
        )
        self._trim = delete(journal).where(
            journal.c.device_key == bindparam("k"), journal.c.id.not_in(keep)
        )

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(**{WRITE: True})
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise SinkUnavailableError(f"registry: {exc}") from exc

    def _lock_rows(
        self, conn: Connection, keys: Sequence[str], new: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Read (and lock) the devices ``keys``; rows are created from ``new`` if missing."""
        q = select(devices).where(devices.c.device_key.in_(keys)).order_by(devices.c.device_key)
        rows = {r.device_key: dict(r._mapping) for r in conn.execute(q.with_for_update())}
        missing = [k for k in keys if k not in rows]
        if missing:
            ins = (postgresql if self._pg else sqlite).insert(devices).on_conflict_do_nothing()
            conn.execute(ins, [{"device_key": k, **_blank(), **new.get(k, {})} for k in missing])
            q2 = q.where(devices.c.device_key.in_(missing)).with_for_update()
            rows.update({r.device_key: dict(r._mapping) for r in conn.execute(q2)})
        return rows

    # -- ingest ------------------------------------------------------------------------

    def record_uplinks(self, records: Sequence[UplinkRecord]) -> None:
        if not records:
            return
        recs = sorted(records, key=lambda r: r.received_at)
        keys = sorted({r.device_key for r in recs})
        new = {r.device_key: _identity(r) for r in reversed(recs)}
        ids = {r.uplink_id for r in recs if r.uplink_id}
        with self._lock, self._tx(write=True) as conn:
            rows = self._lock_rows(conn, keys, new)
            # an uplink is (device, uplink_id, received_at): ChirpStack v3 ids are
            # "devEUI:fCnt" and repeat after a counter reset, with another receive time
            seen: set[tuple[str, str, datetime]] = set()
            # only an uplink not newer than its device's last_seen can already be in the
            # journal (a replay, redelivery or refill): the live stream needs no look-up
            old = [
                r
                for r in recs
                if r.uplink_id
                and rows[r.device_key]["last_seen"] is not None
                and r.received_at <= rows[r.device_key]["last_seen"]
            ]
            if ids and old:
                j = journal.c
                q = select(j.device_key, j.uplink_id, j.received_at).where(
                    j.device_key.in_(sorted({r.device_key for r in old})),
                    j.received_at >= old[0].received_at,
                    j.received_at <= old[-1].received_at,
                )
                seen = {(k, u, t) for k, u, t in conn.execute(q) if u in ids}
            entries: list[dict[str, Any]] = []
            changed: set[str] = set()
            for r in recs:
                st = rows[r.device_key]
                if r.uplink_id:
                    ident = (r.device_key, r.uplink_id, r.received_at)
                    last = (st["device_key"], st["last_uplink_id"], st["last_seen"])
                    if ident in seen or ident == last:
                        continue
                    seen.add(ident)
                status, error = _apply(st, r)
                changed.add(r.device_key)
                if self._n:
                    entries.append(_entry(r, status, error))
            if entries:
                conn.execute(journal.insert(), entries)
            if changed:
                conn.execute(self._set_status, [_status_params(rows[k]) for k in sorted(changed)])
            self._trim_journal(conn, [e["device_key"] for e in entries])

    def _trim_journal(self, conn: Connection, keys: Sequence[str], force: bool = False) -> None:
        for k in keys:
            self._since_trim[k] = self._since_trim.get(k, 0) + 1
        due = [{"k": k} for k in set(keys) if force or self._since_trim[k] >= self._trim_every]
        for d in due:
            self._since_trim[d["k"]] = 0
        if due:
            conn.execute(self._trim, due)

    def trim_journal(self) -> None:
        """Trim every device's journal to ``journal_per_device`` now (normally batched)."""
        with self._lock, self._tx(write=True) as conn:
            keys = list(conn.execute(select(devices.c.device_key)).scalars())
            self._trim_journal(conn, keys, force=True)

    def record_codec_error(
        self, device_key: str, *, time: datetime, message: str, uplink_id: str | None
    ) -> None:
        with self._lock, self._tx(write=True) as conn:
            st = self._lock_rows(conn, [device_key], {})[device_key]
            found = 0
            if uplink_id:
                found = conn.execute(
                    update(journal)
                    .where(journal.c.device_key == device_key, journal.c.uplink_id == uplink_id)
                    .values(status="error", error=message)
                ).rowcount
            if uplink_id == st["last_uplink_id"] or (
                not uplink_id and (st["last_seen"] is None or time >= st["last_seen"])
            ):
                st["last_status"], st["last_error"] = "error", message
                st["decoder"] = st["decoder"] or "lns"
            elif uplink_id and not found:
                # the uplink itself is still on its way (batched ingest): apply it on arrival
                st["pending_error_uplink_id"], st["pending_error"] = uplink_id, message
            conn.execute(self._set_status, [_status_params(st)])

    def record_battery(self, device_key: str, *, time: datetime, percent: float) -> None:
        with self._lock, self._tx(write=True) as conn:
            st = self._lock_rows(conn, [device_key], {})[device_key]
            if st["last_battery_at"] is None or time >= st["last_battery_at"]:
                st["last_battery"], st["last_battery_at"] = float(percent), time
                conn.execute(self._set_status, [_status_params(st)])

    # -- metadata ----------------------------------------------------------------------

    def device_meta(self, device_key: str) -> DeviceMeta | None:
        cols = [devices.c[f] for f in META_FIELDS]
        with self._tx() as conn:
            row = conn.execute(select(*cols).where(devices.c.device_key == device_key)).first()
        return _meta(row._mapping) if row else None

    def update_meta(
        self, device_key: str, meta: DeviceMeta, *, create: bool = False
    ) -> DeviceStatus:
        values = {f: getattr(meta, f) for f in META_FIELDS if getattr(meta, f) is not None}
        with self._lock, self._tx(write=True) as conn:
            exists = conn.execute(
                select(devices.c.device_key).where(devices.c.device_key == device_key)
            ).first()
            if not exists and not create:
                raise UnknownDeviceError(f"no device {device_key!r} in the registry")
            new = {device_key: _identity_from_key(device_key)}
            st = self._lock_rows(conn, [device_key], new)[device_key]
            st.update(values)
            st["overdue_after"] = overdue_after(st["last_seen"], st["expected_interval_s"])
            values["overdue_after"] = st["overdue_after"]
            conn.execute(update(devices).where(devices.c.device_key == device_key).values(values))
        return _status(st)

    # -- queries -----------------------------------------------------------------------

    def get_device(self, device_key: str) -> DeviceStatus | None:
        with self._tx() as conn:
            row = conn.execute(select(devices).where(devices.c.device_key == device_key)).first()
        return _status(row._mapping) if row else None

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
    ) -> tuple[list[DeviceStatus], int]:
        conds: list[Any] = []
        if category is not None:
            conds.append(devices.c.category == category)
        if site is not None:
            conds.append(devices.c.site == site)
        if overdue_at is not None:
            conds.append(devices.c.overdue_after < overdue_at)
        if decode_errors is True:
            conds.append(devices.c.last_status == "error")
        elif decode_errors is False:
            conds.append(or_(devices.c.last_status.is_(None), devices.c.last_status != "error"))
        if search:
            pat = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            cols = ("device_key", "device_id", "name", "device_name", "site", "notes")
            conds.append(or_(*(devices.c[c].ilike(pat, escape="\\") for c in cols)))
        q = select(devices).where(*conds)
        with self._tx() as conn:
            total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            rows = conn.execute(
                q.order_by(devices.c.device_key).offset(max(0, offset)).limit(max(0, limit))
            )
            return [_status(r._mapping) for r in rows], int(total)

    def journal(self, device_key: str, *, limit: int = 50) -> list[JournalEntry]:
        """The device's newest journal entries first (at most ``journal_per_device``)."""
        q = (
            select(journal)
            .where(journal.c.device_key == device_key)
            .order_by(journal.c.received_at.desc(), journal.c.id.desc())
            .limit(max(0, min(limit, self._n)))
        )
        with self._tx() as conn:
            return [_journal_entry(r._mapping) for r in conn.execute(q)]

    def journal_for_redecode(
        self, *, model_id: str | None, start: datetime, end: datetime
    ) -> list[JournalEntry]:
        """Entries with ``start <= received_at < end``, oldest first; ``model_id`` matches the
        model recorded with the uplink or the device's effective model now."""
        q = select(journal).where(journal.c.received_at >= start, journal.c.received_at < end)
        if model_id is not None:
            effective = func.coalesce(devices.c.model_override, devices.c.uplink_model_id)
            now_model = select(devices.c.device_key).where(effective == model_id)
            q = q.where(or_(journal.c.model_id == model_id, journal.c.device_key.in_(now_model)))
        q = q.order_by(journal.c.received_at, journal.c.id)
        with self._tx() as conn:
            return [_journal_entry(r._mapping) for r in conn.execute(q)]

    def record_redecode(self, records: Sequence[UplinkRecord]) -> int:
        """Store the result of decoding journaled uplinks again (``lorawan-monitor
        redecode``): each matching journal entry (device, uplink id or frame counter,
        receive time) gets the new status, error, model and decoded payload; a device whose
        last uplink it is gets the new decode status and last readings. Counters and
        "last seen" are left alone. Returns the number of journal entries updated. (#6)"""
        updated = 0
        j = journal.c
        with self._lock, self._tx(write=True) as conn:
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
                d = devices.c
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
                    )
                )
        return updated

    def close(self) -> None:
        self.engine.dispose()


# -- row helpers (pure) --------------------------------------------------------------------


def _blank() -> dict[str, Any]:
    return {"uplink_count": 0, "fcnt_missed": 0, "fcnt_resets": 0}


def _identity(r: UplinkRecord) -> dict[str, Any]:
    return {
        "dev_eui": r.dev_eui,
        "device_id": r.device_id,
        "application": r.application,
        "source": r.source,
    }


def _identity_from_key(key: str) -> dict[str, Any]:
    is_eui = len(key) == 16 and all(c in "0123456789ABCDEFabcdef" for c in key)
    return {
        "dev_eui": key.upper() if is_eui else None,
        "device_id": key.lower() if is_eui else key,
        "application": "",
        "source": "",
    }


def _apply(st: dict[str, Any], r: UplinkRecord) -> tuple[str, str | None]:
    """Fold one new uplink into the device row ``st``; returns its (status, error)."""
    status, error = r.status, r.error
    if r.uplink_id and r.uplink_id == st["pending_error_uplink_id"]:
        status, error = "error", st["pending_error"]
        st["pending_error_uplink_id"] = st["pending_error"] = None
    if st["first_seen"] is None or r.received_at < st["first_seen"]:
        st["first_seen"] = r.received_at
    last_seen, last = st["last_seen"], st["last_f_cnt"]
    if last_seen is not None and r.received_at < last_seen:  # late delivery / refill
        st["uplink_count"] += 1
        if last is not None and r.f_cnt < last and st["fcnt_missed"] > 0:
            st["fcnt_missed"] -= 1
        return status, error
    if last is None or r.f_cnt != last:
        st["uplink_count"] += 1
    if last is not None and r.f_cnt > last:
        st["fcnt_missed"] += r.f_cnt - last - 1
    elif last is not None and r.f_cnt < last:
        st["fcnt_resets"] += 1
    st.update(_identity(r))
    st["dev_eui"] = r.dev_eui or st["dev_eui"]
    st["device_name"] = r.device_name or st["device_name"]
    st["device_profile"] = r.device_profile or st["device_profile"]
    st["uplink_model_id"] = r.model_id or st["uplink_model_id"]
    st["last_seen"], st["last_f_cnt"], st["last_uplink_id"] = r.received_at, r.f_cnt, r.uplink_id
    if status != "no_payload" or st["last_status"] is None:
        st["last_status"], st["last_error"], st["decoder"] = status, error, r.decoder
    if r.rssi is not None or r.gateway_count:
        st["rssi"], st["snr"], st["gateway_count"] = r.rssi, r.snr, r.gateway_count
    st["spreading_factor"] = r.spreading_factor or st["spreading_factor"]
    if r.readings:
        st["last_readings"] = [[q, s, float(v)] for q, s, v in r.readings]
        for q, s, v in r.readings:
            if q == _BATTERY and (
                st["last_battery_at"] is None or r.received_at >= st["last_battery_at"]
            ):
                st["last_battery"], st["last_battery_at"] = float(v), r.received_at
            elif q == _BATTERY_VOLTAGE or (q == "voltage" and s == "battery"):
                st["last_battery_voltage"] = float(v)
    st["overdue_after"] = overdue_after(r.received_at, st["expected_interval_s"])
    return status, error


def _entry(r: UplinkRecord, status: str, error: str | None) -> dict[str, Any]:
    return {
        "device_key": r.device_key,
        "received_at": r.received_at,
        "f_port": r.f_port,
        "f_cnt": r.f_cnt,
        "payload": bytes(r.payload),
        "status": status,
        "model_id": r.model_id,
        "error": error,
        "decoded": dict(r.decoded) if r.decoded is not None else None,
        "gateways": [dict(g) for g in r.gateways],
        "uplink_id": r.uplink_id or None,
    }


def _status_params(st: Mapping[str, Any]) -> dict[str, Any]:
    return {"k": st["device_key"], **{c: st[c] for c in STATUS_COLS}}


def _meta(m: Mapping[Any, Any]) -> DeviceMeta:
    return DeviceMeta(**{f: m[f] for f in META_FIELDS})


def _status(m: Mapping[Any, Any]) -> DeviceStatus:
    meta = _meta(m)
    return DeviceStatus(
        device_key=m["device_key"],
        dev_eui=m["dev_eui"],
        device_id=m["device_id"] or "",
        application=m["application"] or "",
        source=m["source"] or "",
        meta=meta,
        model_id=meta.model_override or m["uplink_model_id"],
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
    )


def _journal_entry(m: Mapping[Any, Any]) -> JournalEntry:
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
