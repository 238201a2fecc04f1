"""The alert tables of the registry database (migration ``0004``), for SQLAlchemy Core.

* ``alert_state``   one row per active alert (pending or firing); the evaluator owns
  every column but ``acknowledged*`` and ``silence*``, which the API writes;
* ``alert_history`` every transition (pending, firing, resolved, acknowledged, silenced);
* ``alert_outbox``  one row per notification per channel, written in the same
  transaction as the transition that caused it, sent later and marked sent: a kill -9
  between the two loses nothing, and a sent row is never sent again;
* ``alert_lease``   who is the evaluator, until when (works on SQLite and PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from storage.migrations import FastJson, UtcDateTime

_md = MetaData()
_TS = UtcDateTime()
_ID = BigInteger().with_variant(Integer(), "sqlite")

alert_state = Table(
    "alert_state",
    _md,
    Column("id", String(300), primary_key=True),  # "<rule>:<device key or gateway>"
    Column("rule", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("state", String(20), nullable=False),  # pending | firing
    Column("active_since", _TS, nullable=False),  # condition true since
    Column("firing_since", _TS),
    Column("last_eval", _TS),
    Column("last_notified", _TS),
    Column("value", Float),
    Column("unit", String(20)),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("device_key", String(200)),
    Column("device_name", String(200)),
    Column("site", String(200)),
    Column("labels", FastJson),  # device tag, dev_eui, gateway for the time-series point
    Column("acknowledged", Boolean, nullable=False),
    Column("acknowledged_by", String(200)),
    Column("ack_comment", Text),
    Column("silenced_until", _TS),
    Column("silence_comment", Text),
)
alert_history = Table(
    "alert_history",
    _md,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("alert_id", String(300), nullable=False),
    Column("rule", String(100), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("event", String(20), nullable=False),  # pending|firing|resolved|acknowledged|silenced
    Column("at", _TS, nullable=False),
    Column("value", Float),
    Column("unit", String(20)),
    Column("title", Text),
    Column("device_key", String(200)),
    Column("comment", Text),
)
alert_outbox = Table(
    "alert_outbox",
    _md,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("channel", String(100), nullable=False),
    Column("alert_id", String(300)),
    Column("rule", String(100), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("event", String(20), nullable=False),  # firing | resolved | reminder | test
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("status", String(20), nullable=False),  # pending | sending | sent
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", _TS, nullable=False),
    Column("last_error", Text),
    Column("sent_at", _TS),
)
alert_lease = Table(
    "alert_lease",
    _md,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", _TS, nullable=False),
)

# the indexes migration 0004 creates (tests/storage compares code and database with alembic)
Index("ix_alert_state_device", alert_state.c.device_key)
Index("ix_alert_history_at", alert_history.c.at)
Index("ix_alert_history_device", alert_history.c.device_key, alert_history.c.at)
Index("ix_alert_outbox_pending", alert_outbox.c.status, alert_outbox.c.channel, alert_outbox.c.id)
