"""Initial registry schema: devices (metadata + status) and the raw-uplink journal.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("device_key", sa.String(200), primary_key=True),
        sa.Column("dev_eui", sa.String(16), nullable=True),
        sa.Column("device_id", sa.String(200), nullable=False, server_default=""),
        sa.Column("application", sa.String(200), nullable=False, server_default=""),
        sa.Column("source", sa.String(20), nullable=False, server_default=""),
        sa.Column("device_name", sa.String(200), nullable=True),
        sa.Column("device_profile", sa.String(200), nullable=True),
        sa.Column("uplink_model_id", sa.String(100), nullable=True),
        # editable metadata
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("category", sa.String(20), nullable=True),
        sa.Column("site", sa.String(200), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("model_override", sa.String(100), nullable=True),
        sa.Column("expected_interval_s", sa.Integer(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        # status
        sa.Column("first_seen", _TS, nullable=True),
        sa.Column("last_seen", _TS, nullable=True),
        sa.Column("uplink_count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("last_f_cnt", sa.BigInteger(), nullable=True),
        sa.Column("last_uplink_id", sa.String(200), nullable=True),
        sa.Column("fcnt_missed", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("fcnt_resets", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_status", sa.String(20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("decoder", sa.String(100), nullable=True),
        sa.Column("last_battery", sa.Float(), nullable=True),
        sa.Column("last_battery_at", _TS, nullable=True),
        sa.Column("last_battery_voltage", sa.Float(), nullable=True),
        sa.Column("rssi", sa.Float(), nullable=True),
        sa.Column("snr", sa.Float(), nullable=True),
        sa.Column("spreading_factor", sa.Integer(), nullable=True),
        sa.Column("gateway_count", sa.Integer(), nullable=True),
        sa.Column("last_readings", sa.JSON(), nullable=True),
        # last_seen + 2 * expected_interval_s, kept on write so "overdue" is one comparison
        sa.Column("overdue_after", _TS, nullable=True),
    )
    op.create_index("ix_devices_dev_eui", "devices", ["dev_eui"])
    op.create_index("ix_devices_category", "devices", ["category"])
    op.create_index("ix_devices_site", "devices", ["site"])
    op.create_index("ix_devices_overdue_after", "devices", ["overdue_after"])
    op.create_table(
        "journal",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("device_key", sa.String(200), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("f_port", sa.Integer(), nullable=False),
        sa.Column("f_cnt", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("model_id", sa.String(100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("decoded", sa.JSON(), nullable=True),
        sa.Column("gateways", sa.JSON(), nullable=True),
        sa.Column("uplink_id", sa.String(200), nullable=True),
    )
    op.create_index("ix_journal_device_time", "journal", ["device_key", "received_at"])
    op.create_index("ix_journal_time", "journal", ["received_at"])
    op.create_index(
        "ux_journal_uplink", "journal", ["device_key", "uplink_id", "received_at"], unique=True
    )


def downgrade() -> None:
    op.drop_table("journal")
    op.drop_table("devices")
