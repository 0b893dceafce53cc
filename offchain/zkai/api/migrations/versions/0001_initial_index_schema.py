"""Initial index schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 05:54:40.581241
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "accounts",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("balance", sa.String(length=78), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )
    op.create_table(
        "chain_parameters",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "epochs",
        sa.Column("epoch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("aggregator", sa.String(length=42), nullable=False),
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("total", sa.String(length=78), nullable=False),
        sa.Column("claimed", sa.String(length=78), nullable=False),
        sa.Column("claim_deadline", sa.BigInteger(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("rolled_over", sa.String(length=78), nullable=False),
        sa.Column("posted_at", sa.BigInteger(), nullable=False),
        sa.Column("distribution_known", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("epoch"),
    )
    op.create_table(
        "indexer_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "models",
        sa.Column("model_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(length=42), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model_id"),
    )
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_models_owner"), ["owner"], unique=False)

    op.create_table(
        "nodes",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("encryption_key", sa.String(length=66), nullable=False),
        sa.Column("metadata_uri", sa.Text(), nullable=False),
        sa.Column("stake", sa.String(length=78), nullable=False),
        sa.Column("unlock_time", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn", sa.String(length=78), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("shares_assigned", sa.Integer(), nullable=False),
        sa.Column("shares_proven", sa.Integer(), nullable=False),
        sa.Column("shares_paid", sa.Integer(), nullable=False),
        sa.Column("shares_missed", sa.Integer(), nullable=False),
        sa.Column("earned", sa.String(length=78), nullable=False),
        sa.Column("paid", sa.String(length=78), nullable=False),
        sa.Column("slashed", sa.String(length=78), nullable=False),
        sa.Column("slash_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )
    op.create_table(
        "queries",
        sa.Column("query_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=42), nullable=False),
        sa.Column("fee", sa.String(length=78), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("share_count", sa.Integer(), nullable=False),
        sa.Column("payout_per_share", sa.String(length=78), nullable=False),
        sa.Column("protocol_cut_per_share", sa.String(length=78), nullable=False),
        sa.Column("contributor_cut_per_share", sa.String(length=78), nullable=False),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("requested_block", sa.BigInteger(), nullable=False),
        sa.Column("request_tx", sa.String(length=66), nullable=False),
        sa.Column("request_gas", sa.BigInteger(), nullable=False),
        sa.Column("shares_submitted", sa.Integer(), nullable=False),
        sa.Column("shares_missed", sa.Integer(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("refund", sa.String(length=78), nullable=False),
        sa.Column("last_result_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("query_id"),
    )
    with op.batch_alter_table("queries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_queries_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_queries_requested_at"), ["requested_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_queries_user"), ["user"], unique=False)

    op.create_table(
        "raw_events",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index"),
    )
    with op.batch_alter_table("raw_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_raw_events_block_number"), ["block_number"], unique=False
        )

    op.create_table(
        "slashes",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=42), nullable=False),
        sa.Column("slasher", sa.String(length=42), nullable=False),
        sa.Column("reason", sa.String(length=66), nullable=False),
        sa.Column("requested", sa.String(length=78), nullable=False),
        sa.Column("slashed", sa.String(length=78), nullable=False),
        sa.Column("recipient", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index"),
    )
    with op.batch_alter_table("slashes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slashes_node"), ["node"], unique=False)

    op.create_table(
        "totals",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("value", sa.String(length=78), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("verifier", sa.String(length=42), nullable=False),
        sa.Column("weights_commitment", sa.String(length=66), nullable=False),
        sa.Column("input_size", sa.Integer(), nullable=False),
        sa.Column("output_size", sa.Integer(), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("price", sa.String(length=78), nullable=False),
        sa.Column("published_at", sa.BigInteger(), nullable=False),
        sa.Column("published_block", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.model_id"],
        ),
        sa.PrimaryKeyConstraint("model_id", "version"),
    )
    op.create_table(
        "reward_allocations",
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("contributor", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.String(length=78), nullable=False),
        sa.Column("claimed", sa.Boolean(), nullable=False),
        sa.Column("claimed_at", sa.BigInteger(), nullable=True),
        sa.Column("claim_tx", sa.String(length=66), nullable=True),
        sa.ForeignKeyConstraint(
            ["epoch"],
            ["epochs.epoch"],
        ),
        sa.PrimaryKeyConstraint("epoch", "contributor", "amount"),
    )
    op.create_table(
        "shares",
        sa.Column("query_id", sa.BigInteger(), nullable=False),
        sa.Column("share_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node", sa.String(length=42), nullable=False),
        sa.Column("commitment", sa.String(length=78), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", sa.BigInteger(), nullable=True),
        sa.Column("submit_tx", sa.String(length=66), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("paid_tx", sa.String(length=66), nullable=True),
        sa.Column("slashed", sa.String(length=78), nullable=False),
        sa.ForeignKeyConstraint(
            ["query_id"],
            ["queries.query_id"],
        ),
        sa.PrimaryKeyConstraint("query_id", "share_index"),
    )
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shares_node"), ["node"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shares_node"))

    op.drop_table("shares")
    op.drop_table("reward_allocations")
    op.drop_table("model_versions")
    op.drop_table("totals")
    with op.batch_alter_table("slashes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slashes_node"))

    op.drop_table("slashes")
    with op.batch_alter_table("raw_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_raw_events_block_number"))

    op.drop_table("raw_events")
    with op.batch_alter_table("queries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queries_user"))
        batch_op.drop_index(batch_op.f("ix_queries_requested_at"))
        batch_op.drop_index(batch_op.f("ix_queries_model_id"))

    op.drop_table("queries")
    op.drop_table("nodes")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_models_owner"))

    op.drop_table("models")
    op.drop_table("indexer_state")
    op.drop_table("epochs")
    op.drop_table("chain_parameters")
    op.drop_table("accounts")
