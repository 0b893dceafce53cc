"""Slash evidence: the Ack(s) each assignment slash carried in its calldata

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 02:00:00

Adds `assignments.slash_evidence` ("ack", "equivocation" or "unavailable") with its detail, and
the `slash_acks` table (one row per Ack: position 1, and 2 for an equivocation's second Ack).
Slashes indexed before this revision have no evidence recorded, and only the chain holds it: if
the index has any, its cursor is removed so that the indexer rebuilds the index from the
deployment's first block and reads every slash's transaction. An index without slashes keeps its
cursor.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

HASH = sa.String(length=66)
ADDRESS = sa.String(length=42)


def upgrade() -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slash_evidence", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("slash_evidence_detail", sa.Text(), nullable=True))
    op.create_table(
        "slash_acks",
        sa.Column("query_id", HASH, nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node", ADDRESS, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("input_transcript", sa.String(length=78), nullable=False),
        sa.Column("output_transcript", sa.String(length=78), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("signer", ADDRESS, nullable=False),
        sa.ForeignKeyConstraint(
            ["query_id", "part", "node"],
            ["assignments.query_id", "assignments.part", "assignments.node"],
        ),
        sa.PrimaryKeyConstraint("query_id", "part", "node", "position"),
    )
    op.execute(
        "DELETE FROM indexer_state WHERE EXISTS "
        "(SELECT 1 FROM assignments WHERE slash_tx IS NOT NULL)"
    )


def downgrade() -> None:
    op.drop_table("slash_acks")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("slash_evidence_detail")
        batch_op.drop_column("slash_evidence")
