"""The registry's hot path in raw SQL: statements compiled once, run through the DB-API.

``record_uplinks`` runs per batch: read (and on PostgreSQL lock) the batch's device rows,
look up which of its older uplinks are journaled already, insert the journal rows
(``executemany``), write one status row per device, and now and then trim the journal.
The parameters are converted here as the column types would convert them (#2:
SQLAlchemy's per-parameter processing cost more than the statements).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from storage.migrations import STATUS_COLS, devices, journal, positional, raw_binds
from storage.migrations import result_processors as _result_processors
from storage.registry.fold import Fresh, Ident, blank
from storage.registry_base import UplinkRecord

#: journal columns in the order of the compiled INSERT's parameters
JOURNAL_COLS = (
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


class FastPath:
    """The compiled statements of one registry engine, and the helpers that run them."""

    def __init__(self, engine: Engine, journal_per_device: int) -> None:
        dialect = engine.dialect
        self.dialect = dialect
        self.pg = dialect.name == "postgresql"
        self.n = journal_per_device
        self.set_status = (
            update(devices)
            .where(devices.c.device_key == bindparam("k"))
            .values({c: bindparam(c) for c in STATUS_COLS})
        )
        self.bind = raw_binds(dialect)
        self.insert_sql, names = positional(
            insert(journal).values({c: bindparam(c) for c in JOURNAL_COLS}), dialect
        )
        assert names == JOURNAL_COLS, names
        self.update_sql, names = positional(self.set_status, dialect)
        assert names == (*STATUS_COLS, "k"), names
        kinds = {c.name: type(c.type).__name__ for c in devices.columns}
        self._status_ts = tuple(c for c in STATUS_COLS if kinds[c] == "UtcDateTime")
        self._status_js = tuple(c for c in STATUS_COLS if kinds[c] == "FastJson")
        self._row_procs: tuple[tuple[str, Callable[[Any], Any] | None], ...] = ()
        prep = dialect.identifier_preparer
        self._select_rows = (
            "SELECT {} FROM devices WHERE device_key IN ({{}}) ORDER BY device_key{}".format(
                ", ".join(prep.quote(c.name) for c in devices.columns),
                " FOR UPDATE" if self.pg else "",
            )
        )
        self._select_seen = (
            "SELECT device_key, uplink_id, received_at FROM journal WHERE device_key IN ({}) "
            "AND received_at >= {p} AND received_at <= {p}"
        )
        self.ph = "%s" if self.pg else "?"
        p = self.ph
        # every row of the device but its newest n (the journal's order: time, then id)
        self._trim_sql = (
            f"DELETE FROM journal WHERE device_key = {p} AND id NOT IN (SELECT id FROM journal "
            f"WHERE device_key = {p} ORDER BY received_at DESC, id DESC LIMIT {int(self.n)})"
        )

    # -- device rows -------------------------------------------------------------------

    def read_rows(self, conn: Connection, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The device rows ``keys`` (locked on PostgreSQL), values as SQLAlchemy reads them."""
        sql = self._select_rows.format(", ".join([self.ph] * len(keys)))
        res = conn.exec_driver_sql(sql, tuple(keys))
        if not self._row_procs:
            desc = res.cursor.description if res.cursor is not None else None
            self._row_procs = _result_processors(devices, self.dialect, desc or ())
        procs = self._row_procs
        return {
            row[0]: {
                n: (v if p is None or v is None else p(v))
                for (n, p), v in zip(procs, row, strict=True)
            }
            for row in res.all()
        }

    def lock_rows(
        self,
        conn: Connection,
        keys: Sequence[str],
        new: Callable[[str], Mapping[str, Any]] = lambda _key: {},
    ) -> dict[str, dict[str, Any]]:
        """Read (and lock) the devices ``keys``; a missing row is created with ``new(key)``."""
        rows = self.read_rows(conn, keys)
        missing = [k for k in keys if k not in rows]
        if missing:
            ins = (postgresql if self.pg else sqlite).insert(devices).on_conflict_do_nothing()
            conn.execute(ins, [{"device_key": k, **blank(), **new(k)} for k in missing])
            rows.update(self.read_rows(conn, missing))
        return rows

    def status_row(self, st: Mapping[str, Any]) -> tuple[Any, ...]:
        """The parameters of the compiled status UPDATE for the device row ``st``."""
        params = {c: st[c] for c in STATUS_COLS}
        for c in self._status_ts:
            params[c] = self.bind.ts(params[c])
        for c in self._status_js:
            v = params[c]
            if type(v) is Fresh:
                v = [[q, s, float(x)] for q, s, x in v]
            params[c] = self.bind.js(v)
        return (*params.values(), st["device_key"])

    def write_status(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """One UPDATE per device row (``executemany``)."""
        if rows:
            conn.exec_driver_sql(self.update_sql, [self.status_row(st) for st in rows])

    # -- journal -----------------------------------------------------------------------

    def journaled(
        self, conn: Connection, recs: Sequence[UplinkRecord], rows: Mapping[str, Mapping[str, Any]]
    ) -> set[Ident]:
        """(device, uplink id, stored receive time) of the journaled uplinks among ``recs``
        (sorted by time).

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
        sql = self._select_seen.format(", ".join([self.ph] * len(keys)), p=self.ph)
        ts = self.bind.ts
        params = (*keys, ts(old[0].received_at), ts(old[-1].received_at))
        found = conn.exec_driver_sql(sql, params)
        return {(k, u, t) for k, u, t in found if u in ids}

    def insert_journal(
        self,
        conn: Connection,
        new: Sequence[tuple[UplinkRecord, Any]],
        status: Callable[[UplinkRecord], tuple[str, str | None]],
    ) -> None:
        """The journal rows of the uplinks ``new`` ((record, stored time), in order)."""
        js = self.bind.js
        entries: list[tuple[Any, ...]] = []
        for r, t in new:
            d, gws = r.decoded, r.gateways
            if d is not None and type(d) is not dict:
                d = dict(d)
            if type(gws) is not tuple and type(gws) is not list or not _plain(gws):
                gws = [dict(g) for g in gws]
            decode_status, error = status(r)
            entries.append(
                (
                    r.device_key,
                    t,
                    r.f_port,
                    r.f_cnt,
                    bytes(r.payload),
                    decode_status,
                    r.model_id,
                    error,
                    js(d),
                    js(gws),
                    r.uplink_id or None,
                )
            )
        if entries:
            conn.exec_driver_sql(self.insert_sql, entries)

    def trim(self, conn: Connection, keys: Sequence[str]) -> None:
        """Keep the newest ``journal_per_device`` rows of each device ``keys``."""
        if keys:
            conn.exec_driver_sql(self._trim_sql, [(k, k) for k in keys])


def _plain(items: Sequence[Any]) -> bool:
    """Every item is a dict (JSON-serialisable as it is, like the ``dict(g)`` copy)."""
    for g in items:
        if type(g) is not dict:
            return False
    return True
