"""One index on the journal instead of three (#2: ingest throughput).

``(device_key, received_at, uplink_id)``, unique, serves every journal query: a device's
entries newest first, the trim, the duplicate look-up of a replayed batch (by device and
time window) and the uniqueness of an uplink. The separate ``(device_key, received_at)``
and ``(received_at)`` indexes cost two more B-tree inserts and deletes per uplink;
``redecode``'s time-window query now scans the journal (devices x journal_per_device
rows: an offline command). Measured with bench/registry.py (40,000 records, batches of
2,000): 18.6 -> 15.6 µs per live record, 25.5 -> 20.5 per late one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ux_journal_device_time_uplink",
        "journal",
        ["device_key", "received_at", "uplink_id"],
        unique=True,
    )
    op.drop_index("ux_journal_uplink", table_name="journal")
    op.drop_index("ix_journal_device_time", table_name="journal")
    op.drop_index("ix_journal_time", table_name="journal")


def downgrade() -> None:
    op.create_index("ix_journal_time", "journal", ["received_at"])
    op.create_index("ix_journal_device_time", "journal", ["device_key", "received_at"])
    op.create_index(
        "ux_journal_uplink", "journal", ["device_key", "uplink_id", "received_at"], unique=True
    )
    op.drop_index("ux_journal_device_time_uplink", table_name="journal")
