"""``SqlRegistry``: the :class:`storage.registry_base.Registry` on SQLite or PostgreSQL.

This module holds the transactions and what each public method does with them; the jobs
it hands out live beside it: ``locking`` (one writer at a time), ``fastpath`` (the
compiled raw-SQL statements of the ingest path), ``fold`` (uplinks folded into device
rows, per device and batch), ``queries`` (the API's reads), ``redecode``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy import exc as sa_exc
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
    safe_url,
    transaction,
    upgrade,
)
from storage.registry import queries
from storage.registry import redecode as _redecode
from storage.registry.fastpath import FastPath
from storage.registry.fold import fold_batch, identity, identity_from_key, new_uplinks
from storage.registry.locking import WriteLock
from storage.registry_base import (
    DeviceMeta,
    DeviceStatus,
    JournalEntry,
    UplinkRecord,
    effective_interval,
)

log = logging.getLogger(__name__)


class SqlRegistry:
    """The :class:`storage.registry_base.Registry` on SQLite or PostgreSQL.

    ``journal_per_device``: the journal rows kept per device (the API shows at most
    these); a device's journal is trimmed back to them once it has grown by
    ``journal_per_device // 2`` rows, so it holds up to 1.5 times as many for a while:
    every journal row is deleted once, and the fewer the trims, the fewer rows each
    trim reads besides the ones it deletes (#19: 25 rows at a time cost about 1.5 times
    what 50 do)."""

    def __init__(self, dsn: str, *, journal_per_device: int = 100) -> None:
        if journal_per_device < 0:
            raise ConfigError("journal_per_device must be >= 0")
        self._n = journal_per_device
        #: uplinks the database refused alone (dropped from status and journal, #11)
        self.rejected_records = 0
        self._trim_every = max(1, journal_per_device // 2)
        self._since_trim: dict[str, int] = {}
        self.engine = create_registry_engine(dsn)
        self._writing = WriteLock(self.engine)
        try:
            with self._writing():  # processes starting together must not migrate at once
                upgrade(self.engine)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise SinkUnavailableError(f"registry database {safe_url(dsn)}: {exc}") from exc
        self._fast = FastPath(self.engine, journal_per_device)
        self._pg = self._fast.pg

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[Connection]:
        with transaction(self.engine, write=write, what="registry") as conn:
            yield conn

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
        """One transaction for ``recs`` (sorted by time): one status row per device."""
        fast = self._fast
        keys = sorted({r.device_key for r in recs})
        first = {r.device_key: r for r in reversed(recs)}  # a new device: its first uplink
        with self._writing(), self._tx(write=True) as conn:
            rows = fast.lock_rows(conn, keys, lambda k: identity(first[k]))
            seen = fast.journaled(conn, recs, rows)
            new, per_device = new_uplinks(recs, rows, seen, fast.bind.ts)
            over = fold_batch(rows, per_device)
            if self._n > 0 and new:
                fast.insert_journal(conn, new, lambda r: over.get(id(r)) or (r.status, r.error))
            fast.write_status(conn, [rows[k] for k in sorted(per_device)])
            if self._n > 0:
                self._trim_due(conn, {k: len(v) for k, v in per_device.items()})

    def _trim_due(self, conn: Connection, added: dict[str, int], force: bool = False) -> None:
        """Trim the journals that grew by ``_trim_every`` rows since their last trim."""
        due = []
        since = self._since_trim
        for k, n in added.items():
            grown = since.get(k, 0) + n
            if force or grown >= self._trim_every:
                due.append(k)
                grown = 0
            since[k] = grown
        self._fast.trim(conn, sorted(due))

    def trim_journal(self) -> None:
        """Trim every device's journal to ``journal_per_device`` now (normally batched)."""
        with self._writing(), self._tx(write=True) as conn:
            keys = list(conn.execute(select(devices.c.device_key)).scalars())
            self._trim_due(conn, dict.fromkeys(keys, 0), force=True)

    def record_codec_error(
        self, device_key: str, *, time: datetime, message: str, uplink_id: str | None
    ) -> None:
        with self._writing(), self._tx(write=True) as conn:
            st = self._fast.lock_rows(conn, [device_key])[device_key]
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
            conn.execute(self._fast.set_status, [_status_params(st)])

    def record_battery(self, device_key: str, *, time: datetime, percent: float) -> None:
        with self._writing(), self._tx(write=True) as conn:
            st = self._fast.lock_rows(conn, [device_key])[device_key]
            if st["last_battery_at"] is None or time >= st["last_battery_at"]:
                st["last_battery"], st["last_battery_at"] = float(percent), time
                conn.execute(self._fast.set_status, [_status_params(st)])

    # -- metadata ----------------------------------------------------------------------

    def device_meta(self, device_key: str) -> DeviceMeta | None:
        with self._tx() as conn:
            return queries.device_meta(conn, device_key)

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
            st = self._fast.lock_rows(conn, [device_key], identity_from_key)[device_key]
            st.update(values)
            iv, _ = effective_interval(st["expected_interval_s"], st["learned_interval_s"])
            st["overdue_after"] = overdue_after(st["last_seen"], iv)
            values["overdue_after"] = st["overdue_after"]
            conn.execute(update(devices).where(devices.c.device_key == device_key).values(values))
        return queries.status(st)

    def import_meta(self, entries: Sequence[tuple[str, DeviceMeta]]) -> tuple[int, int]:
        """Set the metadata of many devices, creating the ones not known yet, in one
        transaction (a devices file: thousands of rows, #11). Returns (created, updated);
        a key given twice counts once and its last row wins."""
        if not entries:
            return 0, 0
        keys = sorted({k for k, _ in entries})
        created = 0
        fast = self._fast
        with self._writing(), self._tx(write=True) as conn:
            rows: dict[str, dict[str, Any]] = {}
            for i in range(0, len(keys), 500):  # SQLite's bound-parameter limit
                part = keys[i : i + 500]
                known = fast.read_rows(conn, part)
                created += len(part) - len(known)
                rows.update(fast.lock_rows(conn, part, identity_from_key))
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
            return queries.get_device(conn, device_key)

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
        with self._tx() as conn:
            return queries.list_devices(
                conn,
                category=category,
                site=site,
                overdue_at=overdue_at,
                decode_errors=decode_errors,
                search=search,
                offset=offset,
                limit=limit,
                problems_at=problems_at,
                problems_first_at=problems_first_at,
            )

    def journal(self, device_key: str, *, limit: int = 50) -> list[JournalEntry]:
        """The device's newest journal entries first (at most ``journal_per_device``)."""
        with self._tx() as conn:
            return queries.journal_entries(conn, device_key, min(limit, self._n))

    def journal_for_redecode(
        self, *, model_id: str | None, start: datetime, end: datetime
    ) -> list[JournalEntry]:
        """Entries with ``start <= received_at < end``, oldest first; ``model_id`` matches the
        model recorded with the uplink or the device's effective model now."""
        with self._tx() as conn:
            return queries.journal_for_redecode(conn, model_id=model_id, start=start, end=end)

    def record_redecode(self, records: Sequence[UplinkRecord]) -> int:
        """Store the result of decoding journaled uplinks again (``lorawan-monitor
        redecode``): see :func:`storage.registry.redecode.record_redecode`. (#6)"""
        with self._writing(), self._tx(write=True) as conn:
            return _redecode.record_redecode(conn, records)

    def close(self) -> None:
        self.engine.dispose()


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


def _status_params(st: dict[str, Any]) -> dict[str, Any]:
    return {"k": st["device_key"], **{c: st[c] for c in STATUS_COLS}}


__all__ = ["SqlRegistry", "create_registry_engine", "upgrade"]
