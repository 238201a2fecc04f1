"""Codec errors that arrive before their uplink (ChirpStack log event first).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("pending_error_uplink_id", sa.String(200), nullable=True))
        batch.add_column(sa.Column("pending_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("pending_error")
        batch.drop_column("pending_error_uplink_id")
