"""The API's response models. Token amounts are `Amount`s: exact wei as a decimal string plus the
amount in tokens (18 decimals) as a decimal string; never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Path
from pydantic import BaseModel, Field

from zkai.units import TOKEN_DECIMALS

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"

AddressPath = Annotated[
    str,
    Path(
        pattern=ADDRESS_PATTERN,
        description="An Ethereum address: 0x and 40 hex digits (any letter case).",
        examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"],
    ),
]

T = TypeVar("T")


class Amount(BaseModel):
    wei: str = Field(description="Exact amount in the token's smallest unit, decimal.")
    tokens: str = Field(description="The amount in ZKAI (18 decimals), decimal.")

    @classmethod
    def of(cls, wei: int) -> Amount:
        tokens = Decimal(wei).scaleb(-TOKEN_DECIMALS)
        text = format(tokens.normalize(), "f") if wei else "0"
        return cls(wei=str(wei), tokens=text)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="Items matching, over all pages.")
    limit: int
    offset: int


QUERY_ID_PATTERN = r"^0x[0-9a-fA-F]{64}$"

QueryIdPath = Annotated[
    str,
    Path(
        pattern=QUERY_ID_PATTERN,
        description="A query id: bytes32, 0x and 64 hex digits (any letter case).",
        examples=["0x" + "ab" * 32],
    ),
]


class PartTermsOut(BaseModel):
    """One part's terms in a model version, as `ModelRegistry.getPart` returns them."""

    part: int = Field(description="0-based part index.")
    verifier: str = Field(description="The part's Groth16 verifier (from the VerifierFactory).")
    price_per_round: Amount = Field(description="Paid per round per assignment.")
    shares: int = Field(description="k: nodes per part in every query.")
    max_rounds: int = Field(
        description="R_max: slots of the part's circuit, the most rounds one claim proves."
    )
    max_budget: int = Field(
        description="Largest budget per assignment; above R_max it is claimed in chunks."
    )
    min_proof_window: int = Field(description="Seconds the part's proof needs, at least.")
    circuit_hash: str
    key_hash: str = Field(description="keccak256 of the part's verification-key words.")
    verifier_vk_hash: str | None = Field(
        description="The verifier's key hash from its VerifierDeployed event (None: not seen)."
    )
    key_matches: bool = Field(
        description="Whether the verifier was deployed for exactly the key the part declares."
    )


class ModelVersionOut(BaseModel):
    model_id: int
    version: int
    manifest_hash: str = Field(description="keccak256 of the version's manifest.")
    part_count: int
    parts: list[PartTermsOut]
    published_at: int
    published_block: int


class ModelOut(BaseModel):
    model_id: int
    owner: str
    metadata_uri: str
    active: bool
    current_version: int
    registered_at: int
    current: ModelVersionOut | None
    versions: list[ModelVersionOut] = Field(description="Every published version, oldest first.")
    queries: int


NodeStatus = Literal["active", "under-staked", "unbonding", "exited"]


class HostedPartOut(BaseModel):
    model_id: int
    part: int
    since: int = Field(description="Block time of its PartHosted event.")


class NodeOut(BaseModel):
    address: str
    status: NodeStatus
    stake: Amount
    unlock_time: int | None
    endpoint: str = Field(description="Where the node takes rounds (POST /v2/rounds).")
    metadata_uri: str
    encryption_key: str
    ack_signer: str
    registered_at: int
    parts: list[HostedPartOut] = Field(description="The (model, part)s it hosts now.")
    assignments: int
    claims: int = Field(description="Its assignments claimed (a chunked one counts once).")
    rounds_claimed: int
    credited: Amount = Field(description="Credits of its claims (rounds x price), before cuts.")
    earnings: Amount = Field(description="Payouts of its claims (paid when it claimed).")
    slashed: Amount
    slash_count: int


class SlashOut(BaseModel):
    node: str
    slasher: str
    reason: str
    requested: Amount
    slashed: Amount
    recipient: str
    tx_hash: str
    block_number: int
    block_time: int


QueryStatus = Literal["requested", "claiming", "complete", "settled"]
AssignmentStatus = Literal["assigned", "claiming", "claimed"]
SLASH_REASONS = {1: "no-claim", 2: "fewer-rounds", 3: "transcript-differs", 4: "equivocation"}


SlashEvidenceKind = Literal["ack", "equivocation", "unavailable"]


class AckOut(BaseModel):
    """An Ack as the slashing transaction sent it: Ack(queryId, part, node, round, T_i, O_i)."""

    round: int = Field(description="i: the round the node acknowledged.")
    input_transcript: str = Field(description="T_i, decimal.")
    output_transcript: str = Field(description="O_i, decimal.")
    signature: str = Field(description="The node's EIP-712 signature, 0x + 130 hex digits.")
    signer: str = Field(
        description="The address the signature recovers to: the assignment's recorded ack "
        "signer (the indexer checks it)."
    )


class AssignmentSlashOut(BaseModel):
    """An assignment's slash and the acknowledgement that justified it."""

    round: int = Field(description="The round of the Ack the slash was judged on.")
    reason: str = Field(description="no-claim, fewer-rounds, transcript-differs or equivocation.")
    amount: Amount = Field(description="The slash amount recorded at request.")
    tx: str = Field(description="The slashing transaction.")
    evidence: SlashEvidenceKind = Field(
        description="ack: `ack` is the Ack the slash sent; equivocation: `ack` and `second_ack` "
        "are the two Acks of one round with different transcripts; unavailable: the slash came "
        "through another contract (its calldata is not a market call), see `evidence_detail`."
    )
    evidence_detail: str | None = Field(description="Why the evidence is unavailable.")
    ack: AckOut | None = Field(description="The Ack (None: evidence unavailable).")
    second_ack: AckOut | None = Field(
        default=None, description="An equivocation's second Ack (same round, other transcripts)."
    )


class AssignmentOut(BaseModel):
    """An assignment (query, part, node): its terms, its claim, its slash."""

    query_id: str
    part: int
    node: str
    status: AssignmentStatus = Field(
        description="assigned (no claim), claiming (claimed in chunks, more may follow), claimed "
        "(finalised: its budget used or its last chunk shorter than R_max)."
    )
    budget: int = Field(description="B: rounds escrowed for it.")
    price_per_round: Amount
    first_commitment: str = Field(description="Round-1 commitment (part 0 only; else 0).")
    rounds: int | None = Field(
        description="Rounds claimed: n of its latest claim or chunk (None before its claim)."
    )
    claims: int = Field(description="Its claims: 1, or one per chunk of a chunked claim.")
    input_transcript: str | None = Field(description="T_n claimed, decimal.")
    output_transcript: str | None = Field(description="O_n claimed, decimal.")
    credit: Amount = Field(description="Sum of its claims' credits.")
    payout: Amount = Field(description="Sum of its claims' payouts.")
    claimed_at: int | None = Field(description="Time of its latest claim.")
    claim_tx: str | None = Field(description="Its latest claim's transaction.")
    claim_gas: int | None = Field(description="Gas of its latest claim transaction.")
    slash: AssignmentSlashOut | None = Field(description="Its slash (None: not slashed).")


class QueryOut(BaseModel):
    query_id: str = Field(description="bytes32, 0x + 64 hex digits.")
    model_id: int
    model_version: int
    user: str
    session_key: str
    status: QueryStatus = Field(
        description="requested (no claim yet), claiming, complete (every assignment claimed to "
        "its end, finalised), settled."
    )
    escrow: Amount
    credits: Amount
    refund: Amount
    round_deadline: int
    proof_deadline: int
    challenge_deadline: int
    protocol_bps: int
    contributor_bps: int
    slash_amount: Amount
    requested_at: int
    requested_block: int
    request_tx: str
    request_gas: int
    parts: int
    assignment_count: int
    claimed_count: int
    rounds_claimed: int
    forward_passes: int | None = Field(
        description="Forward passes the claimed rounds cover: over the query's parts, the fewest "
        "of (the part's least claimed rounds) // (its rounds per pass in the version's "
        "manifest). One per token position for a language model (prompt + generated - 1), 1 "
        "for a tabular model. None when the API does not hold the manifest or nothing is "
        "claimed yet."
    )
    settled_at: int | None
    latency_seconds: int | None = Field(
        description="From the request's block to the last claim's block (complete queries)."
    )
    verification_gas: int | None = Field(description="Mean gas of the query's claim txs.")


class QueryDetail(QueryOut):
    assignments: list[AssignmentOut]


RewardStatus = Literal["claimed", "unclaimed", "expired"]


class RewardOut(BaseModel):
    epoch: int
    contributor: str
    amount: Amount
    status: RewardStatus
    claimed_at: int | None
    claim_tx: str | None
    claim_deadline: int


class ContributorOut(BaseModel):
    address: str
    allocated: Amount = Field(description="Rewards of epochs whose distribution is published.")
    claimed: Amount
    unclaimed: Amount = Field(description="Allocated, not claimed, claim window still open.")
    epochs: int


class ContributorDetail(ContributorOut):
    rewards: list[RewardOut]


class EpochOut(BaseModel):
    epoch: int
    aggregator: str
    root: str
    total: Amount
    claimed: Amount
    claim_deadline: int
    closed: bool
    rolled_over: Amount
    posted_at: int
    distribution_known: bool


class TokenOut(BaseModel):
    address: str
    total_supply: Amount
    treasury: str | None
    treasury_balance: Amount
    rewards_pool: str | None
    rewards_pool_balance: Amount
    market_escrow: Amount = Field(description="Tokens held by the query market.")
    staked: Amount = Field(description="Tokens held by the node registry.")
    holders: int


class NetworkStats(BaseModel):
    indexed_block: int
    indexed_block_time: int
    nodes: int
    active_nodes: int
    models: int
    queries: int
    queries_complete: int = Field(
        description="Every assignment claimed to its end, finalised (settled or not)."
    )
    queries_settled: int
    assignments: int
    claims: int = Field(description="Assignments claimed (a chunked one counts once).")
    rounds_claimed: int
    total_staked: Amount
    escrowed: Amount = Field(description="Escrow of every query.")
    credits: Amount = Field(description="Credits of every claim: what users paid for rounds.")
    refunds: Amount
    node_earnings: Amount = Field(description="Payouts of every claim.")
    protocol_fees: Amount
    contributor_cuts: Amount
    rewards_posted: Amount
    rewards_distributed: Amount = Field(description="Contributor rewards claimed.")
    slashed: Amount
    slashes: int
    mean_verification_gas: int | None = Field(description="Mean gas of a claim transaction.")
    mean_latency_seconds: float | None


class TimeBucket(BaseModel):
    start: int = Field(description="Bucket start, unix seconds (block time).")
    queries: int
    fees: Amount = Field(description="Escrow of the queries requested in the bucket.")
    verifications: int = Field(description="Claims (one proof each) in the bucket.")
    mean_verification_gas: int | None


class TimeSeries(BaseModel):
    bucket_seconds: int
    buckets: list[TimeBucket]


class AccountOut(BaseModel):
    address: str
    balance: Amount
    node: NodeOut | None
    contributor: ContributorOut | None
    queries_made: int
    models_owned: list[int]


class Health(BaseModel):
    """`unavailable` (HTTP 503): the indexer is not running or the index is more than
    `max_lag_blocks` behind the head; `degraded`: the RPC does not answer; else `ok`."""

    status: Literal["ok", "degraded", "unavailable"]
    chain_id: int
    indexed_block: int | None
    head: int | None
    behind_blocks: int | None
    max_lag_blocks: int
    rpc_ok: bool
    last_error: str | None
    indexer_running: bool
    indexer_failures: int


class ErrorOut(BaseModel):
    detail: str


def not_found(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entry of a route that answers 404 for an unknown resource."""
    return {404: {"model": ErrorOut, "description": description}}


# ------------------------------------------------------------------ reward distributions


class DistributionEntry(BaseModel):
    contributor: str
    amount: Amount


class DistributionOut(BaseModel):
    """An epoch's published (contributor, amount) leaves; their Merkle root is the epoch's."""

    epoch: int
    root: str
    entries: list[DistributionEntry]


# ------------------------------------------------------------------ training rounds

RoundState = Literal["open", "closed", "finalised"]
SubmissionState = Literal["pending", "accepted", "rejected"]
ROUND_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_UPDATE_BASE64 = 12 * 1024 * 1024
"""Largest base64 ciphertext an upload may carry (a 650-parameter update is ~88 KB)."""

RoundIdPath = Annotated[str, Path(pattern=ROUND_ID_PATTERN, description="A training round's id.")]


class RoundResultOut(BaseModel):
    """The key holder's verdict and what was published on-chain."""

    accepted: bool
    reason: str
    published: bool
    version: int | None
    epoch: int | None
    old_accuracy: float | None
    new_accuracy: float | None
    total_weight: int
    pool: Amount
    manifest_hash: str | None
    rewards: list[DistributionEntry]
    finalised_at: int


class RoundOut(BaseModel):
    """A training round as contributors see it (everything here is public)."""

    round_id: str
    model_name: str
    model_id: int | None
    base_version: int
    base_manifest_hash: str = Field(description="keccak256 of the manifest to train from.")
    parameter_count: int
    deadline: int = Field(description="Unix time after which no update is added.")
    state: RoundState
    contributors: list[str] = Field(description="The wallets allowed to contribute.")
    context_fingerprint: str = Field(description="sha256 hex of the public CKKS context.")
    clip_norm: float
    max_weight: int
    min_updates: int
    accepted: int
    rejected: int
    pending: int
    announcement: str | None = Field(
        default=None,
        description="The model owner's EIP-191 signature of the round's announcement text "
        "(`RoundInfo.announcement`): contributors check it against the owner on-chain.",
    )
    result: RoundResultOut | None = Field(
        default=None, description="The key holder's verdict, once the round is finalised."
    )


class UpdateOut(BaseModel):
    address: str
    weight: int


class RejectionOut(BaseModel):
    address: str
    reason: str
    detail: str


class RoundDetail(RoundOut):
    updates: list[UpdateOut]
    rejections: list[RejectionOut]


class UpdateIn(BaseModel):
    """A contributor's signed, CKKS-encrypted update (`zkai.training.rounds.make_submission`)."""

    address: str = Field(pattern=ADDRESS_PATTERN)
    weight: int = Field(ge=1, le=2**31 - 1, description="Clipped sample count (signed).")
    signature: str = Field(
        pattern=r"^(0x)?[0-9a-fA-F]{130}$", description="EIP-191 signature of the submission text."
    )
    ciphertext: str = Field(
        max_length=MAX_UPDATE_BASE64,
        pattern=r"^[A-Za-z0-9+/]*={0,2}$",
        description="The ZKHE update envelope, base64.",
    )


class SubmissionOut(BaseModel):
    round_id: str
    address: str
    status: SubmissionState
    ciphertext: str = Field(description="sha256 hex of the ciphertext.")
    weight: int | None = None
    reason: str | None = Field(default=None, description="Why it was rejected (a short code).")
    detail: str | None = None


class RejectedOut(BaseModel):
    """A refused upload: `reason` is a short code (see `UpdateRejectedError`); it is absent only
    when the request body could not be parsed at all."""

    detail: str
    reason: str | None = None
