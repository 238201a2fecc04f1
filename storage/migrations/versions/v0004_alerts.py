"""Alert state, history, outbox and the evaluator lease (#17).

The tables are described in ``alerts/tables.py``. Plain column types (no project types)
so the migration stays as it was written when the code moves on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_state",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("active_since", _TS, nullable=False),
        sa.Column("firing_since", _TS),
        sa.Column("last_eval", _TS),
        sa.Column("last_notified", _TS),
        sa.Column("value", sa.Float),
        sa.Column("unit", sa.String(20)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("device_key", sa.String(200)),
        sa.Column("device_name", sa.String(200)),
        sa.Column("site", sa.String(200)),
        sa.Column("labels", sa.JSON()),
        sa.Column("acknowledged", sa.Boolean, nullable=False),
        sa.Column("acknowledged_by", sa.String(200)),
        sa.Column("ack_comment", sa.Text),
        sa.Column("silenced_until", _TS),
        sa.Column("silence_comment", sa.Text),
    )
    op.create_index("ix_alert_state_device", "alert_state", ["device_key"])
    op.create_table(
        "alert_history",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(300), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("unit", sa.String(20)),
        sa.Column("title", sa.Text),
        sa.Column("device_key", sa.String(200)),
        sa.Column("comment", sa.Text),
    )
    op.create_index("ix_alert_history_at", "alert_history", ["at"])
    op.create_index("ix_alert_history_device", "alert_history", ["device_key", "at"])
    op.create_table(
        "alert_outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("alert_id", sa.String(300)),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", _TS),
    )
    op.create_index("ix_alert_outbox_pending", "alert_outbox", ["status", "channel", "id"])
    op.create_table(
        "alert_lease",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_lease")
    op.drop_index("ix_alert_outbox_pending", table_name="alert_outbox")
    op.drop_table("alert_outbox")
    op.drop_index("ix_alert_history_device", table_name="alert_history")
    op.drop_index("ix_alert_history_at", table_name="alert_history")
    op.drop_table("alert_history")
    op.drop_index("ix_alert_state_device", table_name="alert_state")
    op.drop_table("alert_state")
