"""Protocol v2: models in parts, queries in assignments (query, part, node), bytes32 query ids

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 01:20:00

The v1 tables of models, nodes, queries and shares describe v1 contracts, which v2 replaces (a
new deployment): they are dropped and created in their v2 form, and the cursor is removed, so the
indexer rebuilds the whole index from the deployment's first block. Token, reward and raw-event
tables keep their shape (they are emptied by that rebuild too).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

WEI = sa.String(length=78)
HASH = sa.String(length=66)
ADDRESS = sa.String(length=42)


def _drop_v1() -> None:
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shares_node"))
    op.drop_table("shares")
    with op.batch_alter_table("queries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queries_user"))
        batch_op.drop_index(batch_op.f("ix_queries_requested_at"))
        batch_op.drop_index(batch_op.f("ix_queries_model_id"))
    op.drop_table("queries")
    op.drop_table("model_versions")
    op.drop_table("nodes")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_models_owner"))
    op.drop_table("models")


def upgrade() -> None:
    _drop_v1()
    op.execute("DELETE FROM indexer_state")
    op.execute("DELETE FROM chain_parameters")
    op.create_table(
        "models",
        sa.Column("model_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner", ADDRESS, nullable=False),
        sa.Column("metadata_uri", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model_id"),
    )
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_models_owner"), ["owner"], unique=False)
    op.create_table(
        "model_versions",
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("manifest_hash", HASH, nullable=False),
        sa.Column("part_count", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.BigInteger(), nullable=False),
        sa.Column("published_block", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.model_id"]),
        sa.PrimaryKeyConstraint("model_id", "version"),
    )
    op.create_table(
        "model_parts",
        sa.Column("model_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("verifier", ADDRESS, nullable=False),
        sa.Column("price", WEI, nullable=False),
        sa.Column("max_rounds", sa.Integer(), nullable=False),
        sa.Column("min_proof_window", sa.BigInteger(), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("circuit_hash", HASH, nullable=False),
        sa.Column("key_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("model_id", "version", "part"),
    )
    op.create_table(
        "nodes",
        sa.Column("address", ADDRESS, nullable=False),
        sa.Column("encryption_key", HASH, nullable=False),
        sa.Column("ack_signer", ADDRESS, nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("metadata_uri", sa.Text(), nullable=False),
        sa.Column("stake", WEI, nullable=False),
        sa.Column("unlock_time", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn", WEI, nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("assignments", sa.Integer(), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("rounds_claimed", sa.BigInteger(), nullable=False),
        sa.Column("credited", WEI, nullable=False),
        sa.Column("earned", WEI, nullable=False),
        sa.Column("slashed", WEI, nullable=False),
        sa.Column("slash_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )
    op.create_table(
        "node_parts",
        sa.Column("node", ADDRESS, nullable=False),
        sa.Column("model_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["node"], ["nodes.address"]),
        sa.PrimaryKeyConstraint("node", "model_id", "part"),
    )
    op.create_table(
        "queries",
        sa.Column("query_id", HASH, nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("user", ADDRESS, nullable=False),
        sa.Column("session_key", ADDRESS, nullable=False),
        sa.Column("escrow", WEI, nullable=False),
        sa.Column("round_deadline", sa.BigInteger(), nullable=False),
        sa.Column("proof_deadline", sa.BigInteger(), nullable=False),
        sa.Column("challenge_deadline", sa.BigInteger(), nullable=False),
        sa.Column("protocol_bps", sa.Integer(), nullable=False),
        sa.Column("contributor_bps", sa.Integer(), nullable=False),
        sa.Column("slash_amount", WEI, nullable=False),
        sa.Column("assignment_count", sa.Integer(), nullable=False),
        sa.Column("claimed_count", sa.Integer(), nullable=False),
        sa.Column("credits", WEI, nullable=False),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("requested_block", sa.BigInteger(), nullable=False),
        sa.Column("request_tx", HASH, nullable=False),
        sa.Column("request_gas", sa.BigInteger(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("refund", WEI, nullable=False),
        sa.Column("settled_at", sa.BigInteger(), nullable=True),
        sa.Column("last_claim_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("query_id"),
    )
    with op.batch_alter_table("queries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_queries_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_queries_requested_at"), ["requested_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_queries_requested_block"), ["requested_block"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_queries_user"), ["user"], unique=False)
    op.create_table(
        "assignments",
        sa.Column("query_id", HASH, nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node", ADDRESS, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("price", WEI, nullable=False),
        sa.Column("first_commitment", sa.String(length=78), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=True),
        sa.Column("input_transcript", sa.String(length=78), nullable=True),
        sa.Column("output_transcript", sa.String(length=78), nullable=True),
        sa.Column("credit", WEI, nullable=False),
        sa.Column("payout", WEI, nullable=False),
        sa.Column("claimed_at", sa.BigInteger(), nullable=True),
        sa.Column("claim_tx", HASH, nullable=True),
        sa.Column("claim_gas", sa.BigInteger(), nullable=True),
        sa.Column("slashed", WEI, nullable=False),
        sa.Column("slash_round", sa.Integer(), nullable=True),
        sa.Column("slash_reason", sa.Integer(), nullable=True),
        sa.Column("slash_tx", HASH, nullable=True),
        sa.ForeignKeyConstraint(["query_id"], ["queries.query_id"]),
        sa.PrimaryKeyConstraint("query_id", "part", "node"),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignments_node"), ["node"], unique=False)


def downgrade() -> None:
    """Back to the v1 schema, empty (a v1 index is rebuilt from the v1 deployment)."""
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignments_node"))
    op.drop_table("assignments")
    with op.batch_alter_table("queries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queries_user"))
        batch_op.drop_index(batch_op.f("ix_queries_requested_block"))
        batch_op.drop_index(batch_op.f("ix_queries_requested_at"))
        batch_op.drop_index(batch_op.f("ix_queries_model_id"))
    op.drop_table("queries")
    op.drop_table("node_parts")
    op.drop_table("nodes")
    op.drop_table("model_parts")
    op.drop_table("model_versions")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_models_owner"))
    op.drop_table("models")
    op.execute("DELETE FROM indexer_state")
    op.execute("DELETE FROM chain_parameters")
    # The v1 tables as 0001 created them.
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
