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

import fcntl
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, cast

from sqlalchemy import (
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from lorawan_monitor import metrics as m
from lorawan_monitor.errors import ConfigError, SinkUnavailableError, UnknownDeviceError
from storage.migrations import (
    META_FIELDS,
    STATUS_COLS,
    create_registry_engine,
    devices,
    journal,
    overdue_after,
    positional,
    raw_binds,
    result_processors,
    safe_url,
    transaction,
    upgrade,
)
from storage.registry_base import (
    DEFAULT_INTERVAL_S,
    LEARN_MAX_STEP,
    LEARN_WINDOW,
    DeviceMeta,
    DeviceStatus,
    JournalEntry,
    UplinkRecord,
    effective_interval,
    learned_interval,
)

log = logging.getLogger(__name__)

__all__ = ["SqlRegistry", "create_registry_engine", "upgrade"]
_BATTERY = "battery"
#: journal columns in the order of the compiled INSERT's parameters
_JOURNAL_COLS = (
    "device_key",
    "received_at",
    "f_port",
    "f_cnt",
    "payload",
    "status",
    "model_id",
    "error",
    "decoded",
    "gateways",
    "uplink_id",
)
_BATTERY_VOLTAGE = "battery_voltage"


class SqlRegistry:
    """The :class:`storage.registry_base.Registry` on SQLite or PostgreSQL."""

    def __init__(self, dsn: str, *, journal_per_device: int = 100) -> None:
        if journal_per_device < 0:
            raise ConfigError("journal_per_device must be >= 0")
        self._n = journal_per_device
        #: uplinks the database refused alone (dropped from status and journal, #11)
        self.rejected_records = 0
        self._trim_every = max(1, journal_per_device // 4)
        self._since_trim: dict[str, int] = {}
        self._lock = threading.Lock()  # one writer per process (SQLite :memory: shares a conn)
        self.engine = create_registry_engine(dsn)
        #: SQLite file shared by several processes (``ingest --workers N``): writers queue on
        #: a file lock, which wakes the next one at once, instead of SQLite's busy handler,
        #: which sleeps in growing steps and wastes most of the time under contention
        db_file = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        self._flock_path = f"{db_file}.writelock" if db_file and db_file != ":memory:" else None
        try:
            with self._writing():  # processes starting together must not migrate at once
                upgrade(self.engine)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise SinkUnavailableError(f"registry database {safe_url(dsn)}: {exc}") from exc
        dialect = self.engine.dialect
        self._pg = dialect.name == "postgresql"
        self._set_status = (
            update(devices)
            .where(devices.c.device_key == bindparam("k"))
            .values({c: bindparam(c) for c in STATUS_COLS})
        )
        # the hot path (record_uplinks) runs these through the DB-API with parameters
        # converted here, as the column types would convert them (#2)
        self._bind = raw_binds(dialect)
        self._insert_sql, names = positional(
            insert(journal).values({c: bindparam(c) for c in _JOURNAL_COLS}), dialect
        )
        assert names == _JOURNAL_COLS, names
        self._update_sql, names = positional(self._set_status, dialect)
        assert names == (*STATUS_COLS, "k"), names
        kinds = {c.name: type(c.type).__name__ for c in devices.columns}
        self._status_ts = tuple(c for c in STATUS_COLS if kinds[c] == "UtcDateTime")
        self._status_js = tuple(c for c in STATUS_COLS if kinds[c] == "FastJson")
        self._row_procs: tuple[tuple[str, Callable[[Any], Any] | None], ...] = ()
        prep = dialect.identifier_preparer
        self._select_rows = (
            "SELECT {} FROM devices WHERE device_key IN ({{}}) ORDER BY device_key{}".format(
                ", ".join(prep.quote(c.name) for c in devices.columns),
                " FOR UPDATE" if self._pg else "",
            )
        )
        self._select_seen = (
            "SELECT device_key, uplink_id, received_at FROM journal WHERE device_key IN ({}) "
            "AND received_at >= {p} AND received_at <= {p}"
        )
        self._ph = "%s" if self._pg else "?"
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
    def _writing(self) -> Iterator[None]:
        with self._lock:
            if self._flock_path is None:
                yield
                return
            with open(self._flock_path, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[Connection]:
        with transaction(self.engine, write=write, what="registry") as conn:
            yield conn

    def _read_rows(self, conn: Connection, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The device rows ``keys`` (locked on PostgreSQL), values as SQLAlchemy reads them."""
        sql = self._select_rows.format(", ".join([self._ph] * len(keys)))
        res = conn.exec_driver_sql(sql, tuple(keys))
        if not self._row_procs:
            desc = res.cursor.description if res.cursor is not None else None
            self._row_procs = result_processors(devices, self.engine.dialect, desc or ())
        procs = self._row_procs
        return {
            row[0]: {
                n: (v if p is None or v is None else p(v))
                for (n, p), v in zip(procs, row, strict=True)
            }
            for row in res.all()
        }

    def _lock_rows(
        self,
        conn: Connection,
        keys: Sequence[str],
        new: Callable[[str], Mapping[str, Any]] = lambda _key: {},
    ) -> dict[str, dict[str, Any]]:
        """Read (and lock) the devices ``keys``; a missing row is created with ``new(key)``."""
        rows = self._read_rows(conn, keys)
        missing = [k for k in keys if k not in rows]
        if missing:
            ins = (postgresql if self._pg else sqlite).insert(devices).on_conflict_do_nothing()
            conn.execute(ins, [{"device_key": k, **_blank(), **new(k)} for k in missing])
            rows.update(self._read_rows(conn, missing))
        return rows

    def _journaled(
        self, conn: Connection, recs: Sequence[UplinkRecord], rows: Mapping[str, Mapping[str, Any]]
    ) -> set[tuple[str, str, Any]]:
        """(device, uplink id, stored receive time) of the journaled uplinks among ``recs``.

        Only an uplink not newer than its device's last_seen can already be in the journal
        (a replay, redelivery or refill): the live stream needs no look-up."""
        old = [
            r
            for r in recs
            if r.uplink_id
            and (last := rows[r.device_key]["last_seen"]) is not None
            and r.received_at <= last
        ]
        if not old:
            return set()
        ids = {r.uplink_id for r in old}
        keys = sorted({r.device_key for r in old})
        sql = self._select_seen.format(", ".join([self._ph] * len(keys)), p=self._ph)
        ts = self._bind.ts
        params = (*keys, ts(old[0].received_at), ts(old[-1].received_at))
        found = conn.exec_driver_sql(sql, params)
        return {(k, u, t) for k, u, t in found if u in ids}

    # -- ingest ------------------------------------------------------------------------

    def record_uplinks(
        self,
        records: Sequence[UplinkRecord],
        *,
        on_rejected: Callable[[UplinkRecord, str], None] | None = None,
    ) -> None:
        """Fold uplinks into device status and journal, one transaction per batch.

        Never raises because of a bad record (#11): when a batch fails for any reason
        but the database itself, it is split until the record(s) the database or the
        JSON encoder refuse stand alone; those are dropped, logged and counted
        (``rejected_records``, ``lorawan_dropped_total{reason="registry_rejected"}``),
        the rest is recorded. Infrastructure errors (database down, locked, connection
        lost) raise ``SinkUnavailableError`` so the caller can retry the batch; a retry
        of records already recorded changes nothing (journal identity check)."""
        if not records:
            return
        recs = sorted(records, key=attrgetter("received_at"))
        try:
            self._record_batch(recs)
        except Exception as exc:
            if _infrastructure(exc):
                raise
            self._isolate(recs, exc, on_rejected)

    def _isolate(
        self,
        recs: Sequence[UplinkRecord],
        exc: Exception,
        on_rejected: Callable[[UplinkRecord, str], None] | None,
    ) -> None:
        if len(recs) == 1:
            self.rejected_records += 1
            r = recs[0]
            if on_rejected is not None:  # the caller keeps it (dead letter) and counts it
                on_rejected(r, f"{type(exc).__name__}: {exc}"[:1000])
            else:
                m.DROPPED.labels(reason="registry_rejected").inc()
            log.warning(
                "registry refused the uplink %s of %s (dropped from status and journal): %s",
                r.uplink_id,
                r.device_key,
                f"{type(exc).__name__}: {exc}"[:300],
            )
            return
        mid = len(recs) // 2
        for half in (recs[:mid], recs[mid:]):
            try:
                self._record_batch(half)
            except Exception as sub_exc:
                if _infrastructure(sub_exc):
                    raise
                self._isolate(half, sub_exc, on_rejected)

    def _record_batch(self, recs: Sequence[UplinkRecord]) -> None:
        """One transaction for ``recs`` (sorted by time)."""
        keys = sorted({r.device_key for r in recs})
        first = {r.device_key: r for r in reversed(recs)}  # a new device: its first uplink
        ts, js = self._bind.ts, self._bind.js
        with self._writing(), self._tx(write=True) as conn:
            rows = self._lock_rows(conn, keys, lambda k: _identity(first[k]))
            # an uplink is (device, uplink_id, received_at): ChirpStack v3 ids are
            # "devEUI:fCnt" and repeat after a counter reset, with another receive time
            seen = self._journaled(conn, recs, rows)
            entries: list[tuple[Any, ...]] = []
            changed: set[str] = set()
            journaling = self._n > 0
            for r in recs:
                key, uid = r.device_key, r.uplink_id
                st = rows[key]
                t = ts(r.received_at)
                if uid:
                    ident = (key, uid, t)
                    if ident in seen or (
                        uid == st["last_uplink_id"] and r.received_at == st["last_seen"]
                    ):
                        continue
                    seen.add(ident)
                status, error = _apply(st, r)
                changed.add(key)
                if journaling:
                    d, gws = r.decoded, r.gateways
                    if d is not None and type(d) is not dict:
                        d = dict(d)
                    if type(gws) is not tuple and type(gws) is not list or not _plain(gws):
                        gws = [dict(g) for g in gws]
                    entries.append(
                        (
                            key,
                            t,
                            r.f_port,
                            r.f_cnt,
                            bytes(r.payload),
                            status,
                            r.model_id,
                            error,
                            js(d),
                            js(gws),
                            uid or None,
                        )
                    )
            if entries:
                conn.exec_driver_sql(self._insert_sql, entries)
            if changed:
                conn.exec_driver_sql(
                    self._update_sql, [self._status_row(rows[k]) for k in sorted(changed)]
                )
            self._trim_journal(conn, [e[0] for e in entries])

    def _status_row(self, st: Mapping[str, Any]) -> tuple[Any, ...]:
        """The parameters of the compiled status UPDATE for the device row ``st``."""
        params = {c: st[c] for c in STATUS_COLS}
        for c in self._status_ts:
            params[c] = self._bind.ts(params[c])
        for c in self._status_js:
            v = params[c]
            if type(v) is _Fresh:
                v = [[q, s, float(x)] for q, s, x in v]
            params[c] = self._bind.js(v)
        return (*params.values(), st["device_key"])

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
        with self._writing(), self._tx(write=True) as conn:
            keys = list(conn.execute(select(devices.c.device_key)).scalars())
            self._trim_journal(conn, keys, force=True)

    def record_codec_error(
        self, device_key: str, *, time: datetime, message: str, uplink_id: str | None
    ) -> None:
        with self._writing(), self._tx(write=True) as conn:
            st = self._lock_rows(conn, [device_key])[device_key]
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
        with self._writing(), self._tx(write=True) as conn:
            st = self._lock_rows(conn, [device_key])[device_key]
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
        with self._writing(), self._tx(write=True) as conn:
            exists = conn.execute(
                select(devices.c.device_key).where(devices.c.device_key == device_key)
            ).first()
            if not exists and not create:
                raise UnknownDeviceError(f"no device {device_key!r} in the registry")
            st = self._lock_rows(conn, [device_key], _identity_from_key)[device_key]
            st.update(values)
            iv, _ = effective_interval(st["expected_interval_s"], st["learned_interval_s"])
            st["overdue_after"] = overdue_after(st["last_seen"], iv)
            values["overdue_after"] = st["overdue_after"]
            conn.execute(update(devices).where(devices.c.device_key == device_key).values(values))
        return _status(st)

    def import_meta(self, entries: Sequence[tuple[str, DeviceMeta]]) -> tuple[int, int]:
        """Set the metadata of many devices, creating the ones not known yet, in one
        transaction (a devices file: thousands of rows, #11). Returns (created, updated);
        a key given twice counts once and its last row wins."""
        if not entries:
            return 0, 0
        keys = sorted({k for k, _ in entries})
        created = 0
        with self._writing(), self._tx(write=True) as conn:
            rows: dict[str, dict[str, Any]] = {}
            for i in range(0, len(keys), 500):  # SQLite's bound-parameter limit
                part = keys[i : i + 500]
                known = self._read_rows(conn, part)
                created += len(part) - len(known)
                rows.update(self._lock_rows(conn, part, _identity_from_key))
            changed: dict[str, dict[str, Any]] = {}
            for key, meta in entries:
                values = {f: getattr(meta, f) for f in META_FIELDS if getattr(meta, f) is not None}
                st = rows[key]
                st.update(values)
                changed.setdefault(key, {}).update(values)
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for key, values in changed.items():
                st = rows[key]
                iv, _ = effective_interval(st["expected_interval_s"], st["learned_interval_s"])
                values["overdue_after"] = overdue_after(st["last_seen"], iv)
                groups.setdefault(tuple(sorted(values)), []).append(
                    {"k_": key, **{f"v_{c}": v for c, v in values.items()}}
                )
            for cols, params in groups.items():  # one executemany per set of columns
                stmt = (
                    update(devices)
                    .where(devices.c.device_key == bindparam("k_"))
                    .values({c: bindparam(f"v_{c}") for c in cols})
                )
                conn.execute(stmt, params)
        return created, len(keys) - created

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
        problems_at: datetime | None = None,
        problems_first_at: datetime | None = None,
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
            conds.append(
                or_(devices.c.last_status.is_(None), devices.c.last_status.not_in(failing))
            )
        if search:
            pat = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            cols = ("device_key", "device_id", "name", "device_name", "site", "notes")
            conds.append(or_(*(devices.c[c].ilike(pat, escape="\\") for c in cols)))
        q = select(devices).where(*conds)
        with self._tx() as conn:
            total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            order = [devices.c.device_key]
            if problems_first_at is not None:
                order.insert(0, _problem_rank(problems_first_at))
            rows = conn.execute(q.order_by(*order).offset(max(0, offset)).limit(max(0, limit)))
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
        with self._writing(), self._tx(write=True) as conn:
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
                        last_readings_at=r.received_at if r.readings else None,
                    )
                )
        return updated

    def close(self) -> None:
        self.engine.dispose()


# -- row helpers (pure) --------------------------------------------------------------------

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


def _infrastructure(exc: BaseException) -> bool:
    """The database itself failed (down, locked, connection lost), not one record."""
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    if isinstance(exc, SinkUnavailableError):
        cause = exc.__cause__
        if not isinstance(cause, SQLAlchemyError):
            return True  # closed registry, lock trouble: retry later
        return bool(
            isinstance(cause, (sa_exc.OperationalError, sa_exc.InterfaceError))
            or isinstance(cause, (sa_exc.DisconnectionError, sa_exc.TimeoutError))
            or getattr(cause, "connection_invalidated", False)
        )
    return False


def _in_future(t: datetime) -> bool:
    """More than a day ahead of our clock: a stored time no uplink may be compared with."""
    now = datetime.now(UTC)
    return t > (now if t.tzinfo is not None else now.replace(tzinfo=None)) + timedelta(days=1)


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
    uid, t, f_cnt = r.uplink_id, r.received_at, r.f_cnt
    if uid and uid == st["pending_error_uplink_id"]:
        status, error = "error", st["pending_error"]
        st["pending_error_uplink_id"] = st["pending_error"] = None
    first_seen = st["first_seen"]
    if first_seen is None or t < first_seen:
        st["first_seen"] = t
    last_seen, last = st["last_seen"], st["last_f_cnt"]
    if last_seen is not None and _in_future(last_seen):  # a broken clock before #11
        last_seen = None
    if last_seen is not None and t < last_seen:  # late delivery / refill
        st["uplink_count"] += 1
        if last is not None and f_cnt < last and st["fcnt_missed"] > 0:
            st["fcnt_missed"] -= 1
        return status, error
    if last is None:
        st["uplink_count"] += 1
    elif f_cnt > last:
        st["uplink_count"] += 1
        st["fcnt_missed"] += f_cnt - last - 1
        if last_seen is not None:  # registry_base.add_gap / learned_interval, inlined (#2)
            step, dt = f_cnt - last, (t - last_seen).total_seconds()
            if step <= LEARN_MAX_STEP and dt >= step:
                gaps = st["interval_gaps"]
                gaps = [*gaps[1 - LEARN_WINDOW :], round(dt / step)] if gaps else [round(dt / step)]
                st["interval_gaps"] = gaps
                st["learned_interval_s"] = learned_interval(gaps)
    elif f_cnt < last:
        st["uplink_count"] += 1
        st["fcnt_resets"] += 1
    # the identity is the uplink's (dev_eui too, even when the uplink has none)
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
        st["last_readings"] = _Fresh(r.readings)  # made a list once per batch (_status_row)
        st["last_readings_at"] = t
        for q, s, v in r.readings:
            if q == _BATTERY and (st["last_battery_at"] is None or t >= st["last_battery_at"]):
                st["last_battery"], st["last_battery_at"] = float(v), t
            elif q == _BATTERY_VOLTAGE or (q == "voltage" and s == "battery"):
                st["last_battery_voltage"] = float(v)
    # effective_interval(), inlined: this runs for every uplink (#2)
    iv = st["expected_interval_s"] or st["learned_interval_s"] or DEFAULT_INTERVAL_S
    st["overdue_after"] = t + timedelta(seconds=2 * iv)
    return status, error


class _Fresh(tuple[tuple[str, str, float], ...]):
    """An uplink's readings on their way to ``last_readings`` (stored as [[q, s, v]])."""

    __slots__ = ()


def _plain(items: Sequence[Any]) -> bool:
    """Every item is a dict (JSON-serialisable as it is, like the ``dict(g)`` copy)."""
    for g in items:
        if type(g) is not dict:
            return False
    return True


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
        device_name=m["device_name"],
        learned_interval_s=m["learned_interval_s"],
        last_readings_at=m["last_readings_at"],
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
