"""Learned reporting interval: "overdue" without a configured interval (#14).

``interval_gaps`` keeps the last few per-frame gaps between a device's in-order uplinks
(seconds between two uplinks divided by their frame-counter step, so a missed frame does
not double the estimate); ``learned_interval_s`` is their median. ``overdue_after`` is
then computed from the configured interval, else the learned one, else a default (see
``storage.registry_base.effective_interval``). Existing devices get the default deadline
here; the next uplink of each device starts its learning. ``last_readings_at`` says when
the "last readings" were received (the last uplink may have carried none).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from datetime import UTC, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: keep in step with storage.registry_base.DEFAULT_INTERVAL_S (a migration is frozen code)
_DEFAULT_INTERVAL_S = 12 * 3600


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("learned_interval_s", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("interval_gaps", sa.JSON(), nullable=True))
        # when the "last readings" were received (the last uplink may have carried none)
        batch.add_column(sa.Column("last_readings_at", sa.DateTime(timezone=True)))
    devices = sa.table(
        "devices",
        sa.column("device_key", sa.String()),
        sa.column("last_seen", sa.DateTime(timezone=True)),
        sa.column("overdue_after", sa.DateTime(timezone=True)),
    )
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    rows = conn.execute(
        sa.select(devices.c.device_key, devices.c.last_seen).where(
            devices.c.overdue_after.is_(None), devices.c.last_seen.is_not(None)
        )
    ).all()
    for key, last_seen in rows:
        seen = last_seen.replace(tzinfo=UTC) if last_seen.tzinfo is None else last_seen
        after = seen + timedelta(seconds=2 * _DEFAULT_INTERVAL_S)
        conn.execute(
            sa.update(devices)
            .where(devices.c.device_key == key)
            .values(overdue_after=after.replace(tzinfo=None) if sqlite else after)
        )


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("last_readings_at")
        batch.drop_column("interval_gaps")
        batch.drop_column("learned_interval_s")
