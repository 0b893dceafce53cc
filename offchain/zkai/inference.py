"""A whole private query in one process, with no chain and no network: `run_local`.

The user's side is the real one (`zkai.client.session.QuerySession`: dealing, sealing, signing,
checking every answer, reconstructing, the user steps); each node is played by library calls of
the node's own computation: open the sealed payload, check its header and commitment, return
W s + m with an Ack signed by its key. Its result equals the plaintext quantised model
(`Manifest.evaluate`) exactly, which the property tests check, and the openings it keeps are what
the part circuits prove (`zkai.circuits.part.prove_part`, used by the benchmark and the tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

from zkai.client.session import PreparedRound, QuerySession
from zkai.crypto.encryption import NodeKeyPair, generate_keypair, open_sealed
from zkai.crypto.transcript import output_transcript_step
from zkai.errors import CommitmentMismatchError, ShareError
from zkai.models.manifest import Manifest, Prediction
from zkai.protocol.messages import AckMessage
from zkai.protocol.payload import RoundOpening, RoundPayload
from zkai.protocol.wire import RoundAnswer

__all__ = ["LocalNode", "LocalRun", "run_local"]

LOCAL_CHAIN_ID = 31337
LOCAL_MARKET = "0x000000000000000000000000000000000000dEaD"


@dataclass
class LocalNode:
    """A node played in-process: its keys and the openings of every round it served."""

    account: LocalAccount = field(default_factory=Account.create)
    ack: LocalAccount = field(default_factory=Account.create)
    keys: NodeKeyPair = field(default_factory=generate_keypair)
    served: dict[tuple[bytes, int], list[RoundOpening]] = field(default_factory=dict)

    def serve(
        self, session: QuerySession, manifest: Manifest, prepared: PreparedRound
    ) -> RoundAnswer:
        request = prepared.request
        payload = RoundPayload.from_bytes(open_sealed(self.keys.private_key, request.sealed))
        header = payload.header
        m = request.message
        if (header.query_id, header.part, header.node, header.round) != (
            m.query_id,
            m.part,
            m.node,
            m.round,
        ):
            raise ShareError("the sealed header does not match the signed round")
        block = manifest.block(header.block)
        opening = payload.opening()
        state = session.assignment(m.part, m.node)
        if opening.commitment(state.tag, header) != m.commitment:
            raise CommitmentMismatchError("the payload does not open the signed commitment")
        outputs = block.apply(opening.share, opening.mask)
        o_i = output_transcript_step(state.state.output_transcript, m.round, outputs)
        ack = AckMessage(m.query_id, m.part, m.node, m.round, m.input_transcript, o_i).sign(
            session.domain, self.ack
        )
        self.served.setdefault((m.query_id, m.part), []).append(opening)
        return RoundAnswer(tuple(outputs), o_i, ack)


@dataclass(frozen=True)
class LocalRun:
    outputs: tuple[int, ...]
    prediction: Prediction
    session: QuerySession
    nodes: tuple[tuple[LocalNode, ...], ...]  # per part
    clamped: int

    def openings(self, part: int, index: int) -> list[RoundOpening]:
        """The openings node `index` of `part` served, in round order (what its proof covers)."""
        node = self.nodes[part][index]
        return node.served[(self.session.query_id, part)]

    def tag(self, part: int, index: int) -> int:
        return self.session.assignment(part, self.nodes[part][index].account.address).tag


def run_local(
    manifest: Manifest,
    x: Sequence[float],
    *,
    shares: int = 2,
    nodes: Sequence[Sequence[LocalNode]] | None = None,
    check_range: bool = False,
) -> LocalRun:
    """One private query of `manifest` on `x` with `shares` played nodes per part."""
    values = manifest.quantise_input(x, check_range=check_range)
    user = Account.create()
    session = QuerySession(LOCAL_CHAIN_ID, LOCAL_MARKET, user.address)
    per_part = (
        tuple(tuple(p) for p in nodes)
        if nodes is not None
        else tuple(tuple(LocalNode() for _ in range(shares)) for _ in manifest.parts)
    )
    for p, part_nodes in enumerate(per_part):
        budget = manifest.rounds_per_pass(p)
        for n in part_nodes:
            session.add_assignment(
                p,
                n.account.address,
                encryption_key=n.keys.public_key,
                ack_signer=n.ack.address,
                endpoint="in-process",
                budget=budget,
            )
    values, clamped = session.run_blocks(
        manifest,
        values,
        lambda pending: [
            node.serve(session, manifest, prepared)
            for node, prepared in zip(per_part[pending[0].part], pending, strict=True)
        ],
    )
    return LocalRun(
        tuple(values), manifest.decode(values, clamped=clamped), session, per_part, clamped
    )
