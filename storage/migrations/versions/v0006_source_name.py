"""The source a device came through (#16): ``source_name``, the name of the entry of
``LORAWAN_SOURCES`` (or ``sources:`` in the config file) whose broker delivered the
device's latest uplink. Nullable: devices of a single-broker ingest (``LORAWAN_MQTT__*``)
and devices not heard since the upgrade have none.

The column ``source`` (since 0001) keeps meaning the network server kind (``tts``,
``chirpstack``, ``chirpstack-v3``); the API has served it under that name since the start.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        # SourceSettings.name: at most 63 characters
        batch.add_column(sa.Column("source_name", sa.String(63), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("source_name")
