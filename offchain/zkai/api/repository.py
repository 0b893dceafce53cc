"""Read side of the index for models, nodes and queries: rows to response models; raises
`NotIndexedError`. Contributors and epochs are `zkai.api.rewards_view`; totals, the token and
accounts are `zkai.api.aggregates`.

Amount sums are done in Python over decimal-string columns (exact for uint256); this is sized for
local networks and testnets, not for a chain with millions of queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from eth_utils.address import to_checksum_address
from sqlalchemy import ColumnElement, and_, func, select, tuple_
from sqlalchemy.orm import Session

from zkai.api import db
from zkai.api.schemas import (
    SLASH_REASONS,
    AckOut,
    Amount,
    AssignmentOut,
    AssignmentSlashOut,
    AssignmentStatus,
    HostedPartOut,
    ModelOut,
    ModelVersionOut,
    NodeOut,
    NodeStatus,
    Page,
    PartTermsOut,
    QueryDetail,
    QueryOut,
    QueryStatus,
    SlashEvidenceKind,
    SlashOut,
)
from zkai.errors import NotIndexedError, ZKAIError
from zkai.models.manifest import Manifest
from zkai.models.store import ManifestStore


def checksum(address: str) -> str:
    return to_checksum_address(address.lower())


def state_row(session: Session) -> db.IndexerState:
    state = session.get(db.IndexerState, 1)
    if state is None:
        return db.IndexerState(id=1, chain_id=0, last_block=-1, last_block_time=0)
    return state


def now_of(session: Session) -> int:
    """The block time the index has reached (the API's clock)."""
    return state_row(session).last_block_time


def parameter(session: Session, key: str) -> str | None:
    row = session.get(db.ChainParameter, key)
    return None if row is None else row.value


def total(session: Session, name: str) -> int:
    row = session.get(db.Total, name)
    return 0 if row is None else row.value


# ------------------------------------------------------------------ models


def _versions_of(session: Session, model_ids: Sequence[int]) -> dict[int, list[ModelVersionOut]]:
    """Every version of the models, with its parts and their verifiers, in three statements."""
    if not model_ids:
        return {}
    parts: dict[tuple[int, int], list[PartTermsOut]] = defaultdict(list)
    part_rows = list(
        session.scalars(
            select(db.ModelPart)
            .where(db.ModelPart.model_id.in_(model_ids))
            .order_by(db.ModelPart.model_id, db.ModelPart.version, db.ModelPart.part)
        )
    )
    verifiers = {
        v.address: v.vk_hash
        for v in session.scalars(
            select(db.Verifier).where(db.Verifier.address.in_({p.verifier for p in part_rows}))
        )
    }
    for p in part_rows:
        vk_hash = verifiers.get(p.verifier)
        parts[(p.model_id, p.version)].append(
            PartTermsOut(
                part=p.part,
                verifier=p.verifier,
                price_per_round=Amount.of(p.price),
                shares=p.shares,
                max_rounds=p.max_rounds,
                max_budget=p.max_budget,
                min_proof_window=p.min_proof_window,
                circuit_hash=p.circuit_hash,
                key_hash=p.key_hash,
                verifier_vk_hash=vk_hash,
                key_matches=vk_hash is not None and vk_hash == p.key_hash,
            )
        )
    versions: dict[int, list[ModelVersionOut]] = defaultdict(list)
    version_rows = session.scalars(
        select(db.ModelVersion)
        .where(db.ModelVersion.model_id.in_(model_ids))
        .order_by(db.ModelVersion.model_id, db.ModelVersion.version)
    )
    for v in version_rows:
        versions[v.model_id].append(
            ModelVersionOut(
                model_id=v.model_id,
                version=v.version,
                manifest_hash=v.manifest_hash,
                part_count=v.part_count,
                parts=parts[(v.model_id, v.version)],
                published_at=v.published_at,
                published_block=v.published_block,
            )
        )
    return versions


def _models_out(session: Session, models: Sequence[db.Model]) -> list[ModelOut]:
    ids = [m.model_id for m in models]
    versions = _versions_of(session, ids)
    counts = dict(
        session.execute(
            select(db.Query.model_id, func.count())
            .where(db.Query.model_id.in_(ids))
            .group_by(db.Query.model_id)
        )
        .tuples()
        .all()
    )
    out = []
    for m in models:
        mine = versions.get(m.model_id, [])
        current = next((v for v in mine if v.version == m.current_version), None)
        out.append(
            ModelOut(
                model_id=m.model_id,
                owner=m.owner,
                metadata_uri=m.metadata_uri,
                active=m.active,
                current_version=m.current_version,
                registered_at=m.registered_at,
                current=current,
                versions=mine,
                queries=counts.get(m.model_id, 0),
            )
        )
    return out


def list_models(session: Session, limit: int, offset: int) -> Page[ModelOut]:
    count = session.scalar(select(func.count()).select_from(db.Model)) or 0
    rows = session.scalars(select(db.Model).order_by(db.Model.model_id).limit(limit).offset(offset))
    return Page(items=_models_out(session, list(rows)), total=count, limit=limit, offset=offset)


def get_model(session: Session, model_id: int) -> ModelOut:
    model = session.get(db.Model, model_id)
    if model is None:
        raise NotIndexedError(f"model {model_id} is not registered")
    return _models_out(session, [model])[0]


def list_versions(session: Session, model_id: int) -> list[ModelVersionOut]:
    return get_model(session, model_id).versions


# ------------------------------------------------------------------ nodes


def node_status(n: db.Node, min_stake: int) -> NodeStatus:
    if n.unlock_time:
        return "unbonding"
    if n.stake == 0 and n.withdrawn > 0:
        return "exited"
    return "active" if n.stake >= max(min_stake, 1) else "under-staked"


def min_stake_of(session: Session) -> int:
    return int(parameter(session, "min_stake") or 0)


def _nodes_out(session: Session, nodes: Sequence[db.Node]) -> list[NodeOut]:
    addresses = [n.address for n in nodes]
    parts: dict[str, list[HostedPartOut]] = defaultdict(list)
    if addresses:
        rows = session.scalars(
            select(db.NodePart)
            .where(db.NodePart.node.in_(addresses))
            .order_by(db.NodePart.model_id, db.NodePart.part)
        )
        for row in rows:
            parts[row.node].append(
                HostedPartOut(model_id=row.model_id, part=row.part, since=row.since)
            )
    min_stake = min_stake_of(session)
    return [
        NodeOut(
            address=n.address,
            status=node_status(n, min_stake),
            stake=Amount.of(n.stake),
            unlock_time=n.unlock_time or None,
            endpoint=n.endpoint,
            metadata_uri=n.metadata_uri,
            encryption_key=n.encryption_key,
            ack_signer=n.ack_signer,
            registered_at=n.registered_at,
            parts=parts[n.address],
            assignments=n.assignments,
            claims=n.claims,
            rounds_claimed=n.rounds_claimed,
            credited=Amount.of(n.credited),
            earnings=Amount.of(n.earned),
            slashed=Amount.of(n.slashed),
            slash_count=n.slash_count,
        )
        for n in nodes
    ]


def node_out(session: Session, node: db.Node) -> NodeOut:
    return _nodes_out(session, [node])[0]


def list_nodes(session: Session, limit: int, offset: int) -> Page[NodeOut]:
    count = session.scalar(select(func.count()).select_from(db.Node)) or 0
    rows = session.scalars(
        select(db.Node).order_by(db.Node.registered_at, db.Node.address).limit(limit).offset(offset)
    )
    return Page(items=_nodes_out(session, list(rows)), total=count, limit=limit, offset=offset)


def _node_row(session: Session, address: str) -> db.Node:
    node = session.get(db.Node, checksum(address))
    if node is None:
        raise NotIndexedError(f"{checksum(address)} is not a registered node")
    return node


def get_node(session: Session, address: str) -> NodeOut:
    return node_out(session, _node_row(session, address))


def list_slashes(session: Session, address: str, limit: int, offset: int) -> Page[SlashOut]:
    node = _node_row(session, address)
    where = db.Slash.node == node.address
    count = session.scalar(select(func.count()).select_from(db.Slash).where(where)) or 0
    rows = session.scalars(
        select(db.Slash)
        .where(where)
        .order_by(db.Slash.block_number, db.Slash.log_index)
        .limit(limit)
        .offset(offset)
    )
    items = [
        SlashOut(
            node=s.node,
            slasher=s.slasher,
            reason=s.reason,
            requested=Amount.of(s.requested),
            slashed=Amount.of(s.slashed),
            recipient=s.recipient,
            tx_hash=s.tx_hash,
            block_number=s.block_number,
            block_time=s.block_time,
        )
        for s in rows
    ]
    return Page(items=items, total=count, limit=limit, offset=offset)


def list_node_assignments(
    session: Session, address: str, limit: int, offset: int
) -> Page[AssignmentOut]:
    node = _node_row(session, address)
    where = db.Assignment.node == node.address
    count = session.scalar(select(func.count()).select_from(db.Assignment).where(where)) or 0
    rows = session.scalars(
        select(db.Assignment)
        .join(db.Query, db.Query.query_id == db.Assignment.query_id)
        .where(where)
        .order_by(db.Query.requested_block.desc(), db.Assignment.position)
        .limit(limit)
        .offset(offset)
    )
    return Page(items=assignments_out(session, list(rows)), total=count, limit=limit, offset=offset)


# ------------------------------------------------------------------ queries


def query_status(q: db.Query) -> QueryStatus:
    if q.settled:
        return "settled"
    if q.assignment_count and q.finalised_count == q.assignment_count:
        return "complete"
    return "claiming" if q.claimed_count else "requested"


def _status_filter(status: QueryStatus) -> ColumnElement[bool]:
    """`query_status(q) == status`, as SQL."""
    every = and_(
        db.Query.assignment_count > 0, db.Query.finalised_count == db.Query.assignment_count
    )
    open_ = ~db.Query.settled
    if status == "settled":
        return db.Query.settled.is_(True)
    if status == "complete":
        return and_(open_, every)
    if status == "claiming":
        return and_(open_, ~every, db.Query.claimed_count > 0)
    return and_(open_, db.Query.claimed_count == 0)


AssignmentKey = tuple[str, int, str]


def _acks_of(
    session: Session, assignments: Sequence[db.Assignment]
) -> dict[AssignmentKey, list[db.SlashAck]]:
    """The Acks behind the slashed ones among `assignments`, in one statement."""
    slashed = {(a.query_id, a.part, a.node) for a in assignments if a.slash_tx is not None}
    found: dict[AssignmentKey, list[db.SlashAck]] = defaultdict(list)
    if slashed:
        rows = session.scalars(
            select(db.SlashAck)
            .where(db.SlashAck.query_id.in_({key[0] for key in slashed}))
            .order_by(db.SlashAck.position)
        )
        for ack in rows:
            key = (ack.query_id, ack.part, ack.node)
            if key in slashed:
                found[key].append(ack)
    return found


def _ack_out(ack: db.SlashAck) -> AckOut:
    return AckOut(
        round=ack.round,
        input_transcript=ack.input_transcript,
        output_transcript=ack.output_transcript,
        signature=ack.signature,
        signer=ack.signer,
    )


def _slash_out(a: db.Assignment, acks: Sequence[db.SlashAck]) -> AssignmentSlashOut | None:
    if a.slash_tx is None or a.slash_round is None or a.slash_reason is None:
        return None
    expected = {"ack": 1, "equivocation": 2}.get(a.slash_evidence or "")
    evidence: SlashEvidenceKind = "unavailable"
    detail: str | None = a.slash_evidence_detail or "the index holds no Ack for this slash"
    if expected is not None and len(acks) == expected:
        evidence, detail = ("ack" if expected == 1 else "equivocation"), None
    shown: list[AckOut] = [_ack_out(ack) for ack in acks] if detail is None else []
    return AssignmentSlashOut(
        round=a.slash_round,
        reason=SLASH_REASONS.get(a.slash_reason, str(a.slash_reason)),
        amount=Amount.of(a.slashed),
        tx=a.slash_tx,
        evidence=evidence,
        evidence_detail=detail,
        ack=shown[0] if shown else None,
        second_ack=shown[1] if len(shown) > 1 else None,
    )


def _assignment_status(a: db.Assignment) -> AssignmentStatus:
    if a.rounds is None:
        return "assigned"
    return "claimed" if a.finalised else "claiming"


def assignments_out(session: Session, assignments: Sequence[db.Assignment]) -> list[AssignmentOut]:
    acks = _acks_of(session, assignments)
    return [
        AssignmentOut(
            query_id=a.query_id,
            part=a.part,
            node=a.node,
            status=_assignment_status(a),
            budget=a.budget,
            price_per_round=Amount.of(a.price),
            first_commitment=a.first_commitment,
            rounds=a.rounds,
            claims=a.claims,
            input_transcript=a.input_transcript,
            output_transcript=a.output_transcript,
            credit=Amount.of(a.credit),
            payout=Amount.of(a.payout),
            claimed_at=a.claimed_at,
            claim_tx=a.claim_tx,
            claim_gas=a.claim_gas,
            slash=_slash_out(a, acks.get((a.query_id, a.part, a.node), [])),
        )
        for a in assignments
    ]


def _manifests_of(
    session: Session, queries: Sequence[db.Query], store: ManifestStore | None
) -> dict[tuple[int, int], Manifest | None]:
    """The manifest of each (model, version) the queries use, each loaded once; None when the
    API's store does not hold it (or no store is given)."""
    keys = {(q.model_id, q.model_version) for q in queries}
    if not keys or store is None:
        return dict.fromkeys(keys)
    rows = session.scalars(
        select(db.ModelVersion).where(
            tuple_(db.ModelVersion.model_id, db.ModelVersion.version).in_(sorted(keys))
        )
    )
    hashes = {(r.model_id, r.version): r.manifest_hash for r in rows}
    found: dict[tuple[int, int], Manifest | None] = {}
    for key in keys:
        digest = hashes.get(key)
        found[key] = None if digest is None else store.get(bytes.fromhex(digest.removeprefix("0x")))
    return found


def forward_passes(manifest: Manifest | None, assignments: Sequence[db.Assignment]) -> int | None:
    """The forward passes every part's claimed rounds cover: over the parts, the fewest of
    (the part's least claimed rounds) // (its rounds per pass). None without the manifest or
    before any claim."""
    if manifest is None:
        return None
    least: dict[int, int] = {}
    for a in assignments:
        rounds = a.rounds or 0
        least[a.part] = min(least.get(a.part, rounds), rounds)
    if not least or all(a.rounds is None for a in assignments):
        return None
    if any(not 0 <= p < len(manifest.parts) for p in least):
        return None  # the registry took more parts than the manifest has
    try:
        return min(rounds // manifest.rounds_per_pass(p) for p, rounds in least.items())
    except (ZKAIError, ValueError, KeyError, IndexError, ZeroDivisionError):
        return None  # the manifest does not describe these parts


def _query_fields(
    q: db.Query, assignments: Sequence[db.Assignment], manifest: Manifest | None
) -> dict[str, object]:
    gases = sorted({(a.claim_tx, a.claim_gas) for a in assignments if a.claim_gas is not None})
    complete = q.assignment_count and q.finalised_count == q.assignment_count
    latency = q.last_claim_at - q.requested_at if complete and q.last_claim_at else None
    return {
        "query_id": q.query_id,
        "model_id": q.model_id,
        "model_version": q.model_version,
        "user": q.user,
        "session_key": q.session_key,
        "status": query_status(q),
        "escrow": Amount.of(q.escrow),
        "credits": Amount.of(q.credits),
        "refund": Amount.of(q.refund),
        "round_deadline": q.round_deadline,
        "proof_deadline": q.proof_deadline,
        "challenge_deadline": q.challenge_deadline,
        "protocol_bps": q.protocol_bps,
        "contributor_bps": q.contributor_bps,
        "slash_amount": Amount.of(q.slash_amount),
        "requested_at": q.requested_at,
        "requested_block": q.requested_block,
        "request_tx": q.request_tx,
        "request_gas": q.request_gas,
        "parts": len({a.part for a in assignments}),
        "assignment_count": q.assignment_count,
        "claimed_count": q.claimed_count,
        "rounds_claimed": sum(a.rounds or 0 for a in assignments),
        "forward_passes": forward_passes(manifest, assignments),
        "settled_at": q.settled_at,
        "latency_seconds": latency,
        "verification_gas": sum(g for _, g in gases) // len(gases) if gases else None,
    }


def _assignments_of(session: Session, query_ids: Sequence[str]) -> dict[str, list[db.Assignment]]:
    found: dict[str, list[db.Assignment]] = defaultdict(list)
    if query_ids:  # every assignment of a page in one statement, not one per query
        rows = session.scalars(
            select(db.Assignment)
            .where(db.Assignment.query_id.in_(query_ids))
            .order_by(db.Assignment.position)
        )
        for a in rows:
            found[a.query_id].append(a)
    return found


def list_queries(
    session: Session,
    limit: int,
    offset: int,
    *,
    user: str | None = None,
    model_id: int | None = None,
    node: str | None = None,
    status: QueryStatus | None = None,
    manifests: ManifestStore | None = None,
) -> Page[QueryOut]:
    """`manifests`: the API's manifest store (for `forward_passes`; None without it)."""
    conditions: list[ColumnElement[bool]] = []
    if user is not None:
        conditions.append(db.Query.user == checksum(user))
    if model_id is not None:
        conditions.append(db.Query.model_id == model_id)
    if node is not None:
        served = select(db.Assignment.query_id).where(db.Assignment.node == checksum(node))
        conditions.append(db.Query.query_id.in_(served))
    if status is not None:
        conditions.append(_status_filter(status))
    count = session.scalar(select(func.count()).select_from(db.Query).where(*conditions)) or 0
    page = list(
        session.scalars(
            select(db.Query)
            .where(*conditions)
            .order_by(db.Query.requested_block.desc(), db.Query.request_tx, db.Query.query_id)
            .limit(limit)
            .offset(offset)
        )
    )
    assignments = _assignments_of(session, [q.query_id for q in page])
    found = _manifests_of(session, page, manifests)
    items = [
        QueryOut(**_query_fields(q, assignments[q.query_id], found[q.model_id, q.model_version]))  # type: ignore[arg-type]
        for q in page
    ]
    return Page(items=items, total=count, limit=limit, offset=offset)


def get_query(
    session: Session, query_id: str, *, manifests: ManifestStore | None = None
) -> QueryDetail:
    """`manifests`: the API's manifest store (for `forward_passes`; None without it)."""
    key = query_id.lower()
    q = session.get(db.Query, key)
    if q is None:
        raise NotIndexedError(f"query {key} does not exist")
    assignments = _assignments_of(session, [key])[key]
    manifest = _manifests_of(session, [q], manifests)[q.model_id, q.model_version]
    return QueryDetail(
        **_query_fields(q, assignments, manifest),  # type: ignore[arg-type]
        assignments=assignments_out(session, assignments),
    )
