"""The alert side of the registry database: the evaluator lease, alert state, history, outbox.

Every write the evaluator makes (transitions, outbox rows, delivery marks) runs in one
transaction that first checks that this process still holds the lease (a fencing check:
``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite). A stalled
evaluator whose lease another process took over therefore writes nothing. The lease is a
row with an expiry rather than a PostgreSQL advisory lock, so one mechanism serves SQLite
(several ``ingest``/``api`` processes on one file) and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from alerts.tables import alert_history, alert_lease, alert_outbox, alert_state
from lorawan_monitor.errors import SinkUnavailableError
from storage.migrations import create_registry_engine, transaction, upgrade

LEASE = "evaluator"
#: outbox states not delivered yet: ``pending`` (not tried), ``sending`` (tried or being
#: tried as one message with one key: alerts/notify.py)
UNSENT = ("pending", "sending")
#: columns of alert_state the API owns; the evaluator never overwrites them
API_COLUMNS = (
    "acknowledged",
    "acknowledged_by",
    "ack_comment",
    "silenced_until",
    "silence_comment",
)


@dataclass
class Changes:
    """What one evaluation cycle writes, applied in one transaction."""

    insert_state: list[dict[str, Any]] = field(default_factory=list)
    update_state: list[dict[str, Any]] = field(default_factory=list)
    delete_state: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.insert_state
            or self.update_state
            or self.delete_state
            or self.history
            or self.outbox
        )


class AlertDb:
    """Alert tables on the registry database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pg = engine.dialect.name == "postgresql"

    @classmethod
    def open(cls, dsn: str) -> AlertDb:
        """An AlertDb with its own engine on ``dsn`` (migrated to head)."""
        engine = create_registry_engine(dsn)
        try:
            upgrade(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise SinkUnavailableError(f"alerts: registry database: {exc}") from exc
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[Connection]:
        with transaction(self.engine, write=write, what="alerts: registry database") as conn:
            yield conn

    # -- the lease ---------------------------------------------------------------------

    def acquire(self, holder: str, now: datetime, ttl_s: float) -> bool:
        """Take or renew the evaluator lease; True while ``holder`` holds it."""
        until = now + timedelta(seconds=ttl_s)
        lease = alert_lease.c
        with self._tx(write=True) as conn:
            ins = (postgresql if self._pg else sqlite).insert(alert_lease)
            conn.execute(
                ins.values(name=LEASE, holder=holder, expires_at=until).on_conflict_do_nothing()
            )
            got = conn.execute(
                update(alert_lease)
                .where(lease.name == LEASE, (lease.holder == holder) | (lease.expires_at < now))
                .values(holder=holder, expires_at=until)
            ).rowcount
        return bool(got)

    def release(self, holder: str) -> None:
        with self._tx(write=True) as conn:
            conn.execute(
                delete(alert_lease).where(
                    alert_lease.c.name == LEASE, alert_lease.c.holder == holder
                )
            )

    def holder(self) -> tuple[str, datetime] | None:
        with self._tx() as conn:
            row = conn.execute(
                select(alert_lease.c.holder, alert_lease.c.expires_at).where(
                    alert_lease.c.name == LEASE
                )
            ).first()
        return (row[0], row[1]) if row else None

    def _holds(self, conn: Connection, holder: str, now: datetime) -> bool:
        q = select(alert_lease.c.holder, alert_lease.c.expires_at).where(
            alert_lease.c.name == LEASE
        )
        if self._pg:
            q = q.with_for_update()
        row = conn.execute(q).first()
        return row is not None and row[0] == holder and row[1] >= now

    # -- state -------------------------------------------------------------------------

    def active(self, device_key: str | None = None) -> list[dict[str, Any]]:
        q = select(alert_state).order_by(alert_state.c.active_since, alert_state.c.id)
        if device_key is not None:
            q = q.where(alert_state.c.device_key == device_key)
        with self._tx() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def firing_counts(self) -> dict[tuple[str, str], int]:
        """Firing alerts per (rule, severity): one grouped query, for the gauge of a process
        that does not evaluate (a standby, or ``run`` beside its evaluator process)."""
        st = alert_state.c
        q = (
            select(st.rule, st.severity, func.count())
            .where(st.state == "firing")
            .group_by(st.rule, st.severity)
        )
        with self._tx() as conn:
            return {(r, s): int(n) for r, s, n in conn.execute(q)}

    def get(self, alert_id: str) -> dict[str, Any] | None:
        with self._tx() as conn:
            row = conn.execute(select(alert_state).where(alert_state.c.id == alert_id)).first()
        return dict(row._mapping) if row else None

    def apply(self, changes: Changes, *, holder: str, now: datetime) -> bool:
        """Write one cycle's changes if ``holder`` still holds the lease (else nothing)."""
        if not changes:
            return True
        st = alert_state.c
        with self._tx(write=True) as conn:
            if not self._holds(conn, holder, now):
                return False
            for part in _chunks(changes.delete_state):
                conn.execute(delete(alert_state).where(st.id.in_(part)))
            if changes.insert_state:
                conn.execute(insert(alert_state), changes.insert_state)
            by_cols: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in changes.update_state:
                cols = tuple(sorted(k for k in row if k != "id" and k not in API_COLUMNS))
                by_cols.setdefault(cols, []).append(
                    {"_id": row["id"], **{f"_{c}": row[c] for c in cols}}
                )
            for cols, params in by_cols.items():  # one executemany per column set
                stmt = (
                    update(alert_state)
                    .where(st.id == bindparam("_id"))
                    .values({c: bindparam(f"_{c}") for c in cols})
                )
                conn.execute(stmt, params)
            if changes.history:
                conn.execute(insert(alert_history), changes.history)
            if changes.outbox:
                conn.execute(insert(alert_outbox), changes.outbox)
        return True

    # -- the API's edits ---------------------------------------------------------------

    def acknowledge(self, alert_id: str, *, by: str, comment: str, now: datetime) -> bool:
        return self._edit(
            alert_id,
            {"acknowledged": True, "acknowledged_by": by, "ack_comment": comment},
            event="acknowledged",
            comment=comment,
            now=now,
        )

    def silence(self, alert_id: str, *, until: datetime, comment: str, now: datetime) -> bool:
        return self._edit(
            alert_id,
            {"silenced_until": until, "silence_comment": comment},
            event="silenced",
            comment=f"bis {until.isoformat()}: {comment}"
            if comment
            else f"bis {until.isoformat()}",
            now=now,
        )

    def _edit(
        self, alert_id: str, values: Mapping[str, Any], *, event: str, comment: str, now: datetime
    ) -> bool:
        st = alert_state.c
        with self._tx(write=True) as conn:
            row = conn.execute(select(alert_state).where(st.id == alert_id)).first()
            if row is None:
                return False
            conn.execute(update(alert_state).where(st.id == alert_id).values(dict(values)))
            m = row._mapping
            conn.execute(
                insert(alert_history).values(
                    alert_id=alert_id,
                    rule=m["rule"],
                    severity=m["severity"],
                    event=event,
                    at=now,
                    value=m["value"],
                    unit=m["unit"],
                    title=m["title"],
                    device_key=m["device_key"],
                    comment=comment or None,
                )
            )
        return True

    def history(
        self,
        *,
        device_key: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        h = alert_history.c
        q = select(alert_history).order_by(h.at.desc(), h.id.desc()).limit(max(0, limit))
        if device_key is not None:
            q = q.where(h.device_key == device_key)
        if since is not None:
            q = q.where(h.at >= since)
        with self._tx() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # -- the outbox --------------------------------------------------------------------

    def enqueue(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Outbox rows outside an evaluation (``alerts test``)."""
        with self._tx(write=True) as conn:
            conn.execute(insert(alert_outbox), [dict(r) for r in rows])

    def claim_due(
        self, *, holder: str | None, now: datetime, claim_s: float
    ) -> list[dict[str, Any]]:
        """Unsent rows of the channels that have a row due now, claimed for ``claim_s`` (their
        next attempt moves on, so a lease taken over meanwhile does not send them too). Rows
        not tried yet come along even if not due, so that a group is sent as one message;
        rows in a retry backoff wait for it, and so does a channel whose ``sending`` message
        does. ``holder=None``: no lease check."""
        o = alert_outbox.c
        with self._tx(write=True) as conn:
            if holder is not None and not self._holds(conn, holder, now):
                return []
            open_ = o.status.in_(UNSENT)
            # a channel whose last message waits for its retry is not due: new rows wait
            # for it (that message is sent again as it was, with its key)
            backing_off = select(o.channel).where(o.status == "sending", o.next_attempt_at > now)
            due = select(o.channel).where(
                open_, o.next_attempt_at <= now, o.channel.not_in(backing_off.scalar_subquery())
            )
            rows = [
                dict(r._mapping)
                for r in conn.execute(
                    select(alert_outbox)
                    .where(
                        open_,
                        o.channel.in_(due.distinct().scalar_subquery()),
                        (o.next_attempt_at <= now) | (o.attempts == 0),
                    )
                    .order_by(o.id)
                )
            ]
            for part in _chunks([r["id"] for r in rows]):
                conn.execute(
                    update(alert_outbox)
                    .where(o.id.in_(part))
                    .values(next_attempt_at=now + timedelta(seconds=claim_s))
                )
        return rows

    def release_claim(self, ids: Sequence[int], *, at: datetime) -> None:
        """Rows claimed but not tried (their group is still waiting): due again at ``at``."""
        if ids:
            with self._tx(write=True) as conn:
                for part in _chunks(ids):
                    conn.execute(
                        update(alert_outbox)
                        .where(alert_outbox.c.id.in_(part))
                        .values(next_attempt_at=at)
                    )

    def mark_sending(self, ids: Sequence[int]) -> None:
        """Bind ``ids`` into one message before it is handed to the channel (committed
        first): until it is accepted they are sent together, with the same key."""
        o = alert_outbox.c
        with self._tx(write=True) as conn:
            for part in _chunks(ids):
                conn.execute(update(alert_outbox).where(o.id.in_(part)).values(status="sending"))

    def mark_sent(self, ids: Sequence[int], *, now: datetime) -> None:
        o = alert_outbox.c
        with self._tx(write=True) as conn:
            for part in _chunks(ids):
                conn.execute(
                    update(alert_outbox)
                    .where(o.id.in_(part))
                    .values(status="sent", sent_at=now, attempts=o.attempts + 1, last_error=None)
                )

    def mark_failed(
        self, ids: Sequence[int], *, error: str, retry_at: Mapping[int, datetime]
    ) -> None:
        o = alert_outbox.c
        stmt = (
            update(alert_outbox)
            .where(o.id == bindparam("_id"))
            .values(
                attempts=o.attempts + 1,
                last_error=error[:500],
                next_attempt_at=bindparam("_at"),
            )
        )
        with self._tx(write=True) as conn:
            conn.execute(stmt, [{"_id": i, "_at": retry_at[i]} for i in ids])

    def next_due(self) -> datetime | None:
        """When the earliest pending outbox row is due (None: nothing pending)."""
        o = alert_outbox.c
        with self._tx() as conn:
            t = conn.execute(
                select(func.min(o.next_attempt_at)).where(o.status.in_(UNSENT))
            ).scalar()
        if not isinstance(t, datetime):
            return None
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t

    def outbox(self, *, status: str | None = None) -> list[dict[str, Any]]:
        q = select(alert_outbox).order_by(alert_outbox.c.id)
        if status is not None:
            q = q.where(alert_outbox.c.status == status)
        with self._tx() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]


def _chunks(items: Sequence[Any], size: int = 500) -> list[list[Any]]:
    """``items`` in parts small enough for SQLite's limit on bound parameters."""
    items = list(items)
    return [items[i : i + size] for i in range(0, len(items), size)]
