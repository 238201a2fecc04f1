"""The device registry in SQL: SQLite embedded, PostgreSQL when several workers share it.

One code path (SQLAlchemy 2 Core, the hot path as compiled raw SQL) for both. The schema
is owned by the alembic migrations in ``storage/migrations``; :class:`SqlRegistry` runs
``upgrade head`` when it opens, so an upgraded service migrates its database and keeps
the data.

Writes (``record_uplinks``) are one transaction per batch: the batch's device rows are
read with ``SELECT … FOR UPDATE`` (PostgreSQL; SQLite write transactions are
``BEGIN IMMEDIATE``), the batch's uplinks are folded into them per device in memory
(``fold``), and written back as one status row per device and one journal row per
uplink (``executemany``). Nothing about a device is cached between batches, so several
ingest workers may share one PostgreSQL registry. Recording the same uplink
(``uplink_id`` and ``received_at``) twice changes nothing.

The modules, one job each:

* ``sql``: :class:`SqlRegistry`, its transactions and public methods;
* ``locking``: one writer at a time (thread lock; file lock for a shared SQLite file);
* ``fastpath``: the ingest path's statements, compiled once and run through the DB-API;
* ``fold``: the status fold (frame counters, late deliveries, learned interval, last
  values, battery, decode status), pure;
* ``queries``: the API's reads (devices, journal) and row conversion;
* ``redecode``: storing the results of ``lorawan-monitor redecode``.
"""

from storage.migrations import create_registry_engine, upgrade
from storage.registry.sql import SqlRegistry

__all__ = ["SqlRegistry", "create_registry_engine", "upgrade"]
