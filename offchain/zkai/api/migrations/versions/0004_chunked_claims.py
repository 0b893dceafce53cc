"""Chunked claims: an assignment's claim count and whether it is finalised

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:00:00

Adds `model_parts.max_budget`, `assignments.claims` (its Claimed events: one per chunk),
`assignments.finalised` and `queries.finalised_count`. Before this revision no part could be
chunked and every claim was a whole claim, so an index built then is upgraded in place: a part's
max budget is its max rounds, a claimed assignment has one claim and is finalised, and a query's
finalised count is its claimed count. No rebuild is needed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# Plain ALTER TABLE ADD / DROP COLUMN (SQLite >= 3.35 and PostgreSQL): a batch copy of
# `assignments` would drop the table that `slash_acks` references.


def upgrade() -> None:
    op.add_column(
        "model_parts", sa.Column("max_budget", sa.Integer(), nullable=False, server_default="0")
    )
    op.execute("UPDATE model_parts SET max_budget = max_rounds")
    op.add_column(
        "assignments", sa.Column("claims", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "assignments",
        sa.Column("finalised", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "queries",
        sa.Column("finalised_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute("UPDATE assignments SET claims = 1, finalised = true WHERE rounds IS NOT NULL")
    op.execute("UPDATE queries SET finalised_count = claimed_count")


def downgrade() -> None:
    op.drop_column("queries", "finalised_count")
    op.drop_column("assignments", "finalised")
    op.drop_column("assignments", "claims")
    op.drop_column("model_parts", "max_budget")
