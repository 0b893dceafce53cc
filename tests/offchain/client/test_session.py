"""The user's session against nodes played with library calls: dealing, checking, reconstructing."""

from __future__ import annotations

import random

import pytest
from eth_account import Account

from zkai.client.session import AckError, QuerySession
from zkai.crypto.encryption import generate_keypair, open_sealed
from zkai.crypto.field import BN254_R, decode_signed_vector, encode_signed_vector
from zkai.crypto.transcript import input_transcript_step, output_transcript_step, transcript_start
from zkai.errors import SignatureError
from zkai.protocol.messages import AckMessage
from zkai.protocol.payload import RoundPayload
from zkai.protocol.wire import RoundAnswer, RoundRequest

CHAIN_ID = 31337
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
W = [[1, -2, 3], [0, 4, -1]]


class PlayedNode:
    """A node made of library calls: opens its payload and answers W s + m with a signed Ack."""

    def __init__(self) -> None:
        self.account = Account.create()
        self.ack = Account.create()
        self.keys = generate_keypair()

    def answer(
        self, session: QuerySession, request: RoundRequest, *, lie: bool = False
    ) -> RoundAnswer:
        payload = RoundPayload.from_bytes(open_sealed(self.keys.private_key, request.sealed))
        opening = payload.opening()
        out = [
            (sum(w * s for w, s in zip(row, opening.share, strict=True)) + m) % BN254_R
            for row, m in zip(encode_matrix(W), opening.mask, strict=True)
        ]
        if lie:
            out[0] = (out[0] + 1) % BN254_R
        state = session.assignment(request.message.part, self.account.address).state
        o_i = output_transcript_step(state.output_transcript, request.message.round, out)
        ack = AckMessage(
            request.message.query_id,
            request.message.part,
            self.account.address,
            request.message.round,
            request.message.input_transcript,
            o_i,
        ).sign(session.domain, self.ack)
        return RoundAnswer(tuple(out), o_i, ack)


def encode_matrix(w: list[list[int]]) -> list[list[int]]:
    return [encode_signed_vector(row) for row in w]


def make_session(nodes: list[PlayedNode], budget: int = 2) -> QuerySession:
    session = QuerySession(CHAIN_ID, MARKET, Account.create().address)
    for n in nodes:
        session.add_assignment(
            0,
            n.account.address,
            encryption_key=n.keys.public_key,
            ack_signer=n.ack.address,
            endpoint="http://unused",
            budget=budget,
        )
    return session


def test_session_three_nodes_reconstruct_w_x() -> None:
    nodes = [PlayedNode() for _ in range(3)]
    session = make_session(nodes)
    x = [5, -7, 11]
    prepared = session.prepare_block(0, 0, encode_signed_vector(x), 2)
    answers = [n.answer(session, p.request) for n, p in zip(nodes, prepared, strict=True)]
    for p, a in zip(prepared, answers, strict=True):
        session.accept(p, a)
    y = decode_signed_vector(QuerySession.reconstruct(prepared, answers))
    assert y == [sum(w * v for w, v in zip(row, x, strict=True)) for row in W]
    for n, p in zip(nodes, prepared, strict=True):
        s = session.assignment(0, n.account.address)
        assert s.rounds == 1
        assert s.state.input_transcript == input_transcript_step(
            transcript_start(s.tag), 1, 0, p.commitment
        )


def test_session_second_round_carries_output_transcript() -> None:
    nodes = [PlayedNode() for _ in range(2)]
    session = make_session(nodes)
    first = session.prepare_block(0, 0, encode_signed_vector([1, 2, 3]), 2)
    for n, p in zip(nodes, first, strict=True):
        session.accept(p, n.answer(session, p.request))
    second = session.prepare_block(0, 0, encode_signed_vector([4, 5, 6]), 2)
    for n, p in zip(nodes, second, strict=True):
        state = session.assignment(0, n.account.address).state
        assert p.round == 2
        assert p.request.message.prev_output_transcript == state.output_transcript
        signer = p.request.message.signer(session.domain, p.request.signature)
        assert signer == session.session_key.address


def test_session_budget_used_up_refused() -> None:
    nodes = [PlayedNode()]
    session = make_session(nodes, budget=1)
    (p,) = session.prepare_block(0, 0, encode_signed_vector([1, 2, 3]), 2)
    session.accept(p, nodes[0].answer(session, p.request))
    with pytest.raises(AckError, match="budget"):
        session.prepare_block(0, 0, encode_signed_vector([1, 2, 3]), 2)


def test_session_ack_by_another_key_refused() -> None:
    node = PlayedNode()
    session = make_session([node])
    (p,) = session.prepare_block(0, 0, encode_signed_vector([1, 2, 3]), 2)
    node.ack = Account.create()
    with pytest.raises(AckError, match="recorded signer"):
        session.accept(p, node.answer(session, p.request))
    assert session.assignment(0, node.account.address).rounds == 0


def test_session_output_transcript_mismatch_refused() -> None:
    node = PlayedNode()
    session = make_session([node])
    (p,) = session.prepare_block(0, 0, encode_signed_vector([1, 2, 3]), 2)
    good = node.answer(session, p.request)
    bad = RoundAnswer(
        (good.outputs[0], (good.outputs[1] + 1) % BN254_R), good.output_transcript, good.ack
    )
    with pytest.raises(AckError, match="transcript"):
        session.accept(p, bad)
    short = RoundAnswer(good.outputs[:1], good.output_transcript, good.ack)
    with pytest.raises(AckError, match="outputs"):
        session.accept(p, short)


def test_session_lying_node_detected_only_by_its_proof() -> None:
    """A node that adds 1 to an output signs a consistent Ack: the user cannot tell, the answer is
    off by one, and the node's own signature commits it to outputs it cannot prove."""
    nodes = [PlayedNode() for _ in range(2)]
    session = make_session(nodes)
    x = [3, 1, 4]
    prepared = session.prepare_block(0, 0, encode_signed_vector(x), 2)
    answers = [nodes[0].answer(session, prepared[0].request, lie=True)]
    answers.append(nodes[1].answer(session, prepared[1].request))
    for p, a in zip(prepared, answers, strict=True):
        session.accept(p, a)
    y = decode_signed_vector(QuerySession.reconstruct(prepared, answers))
    honest = [sum(w * v for w, v in zip(row, x, strict=True)) for row in W]
    assert y[0] == honest[0] + 1


def test_session_malformed_ack_signature_refused() -> None:
    node = PlayedNode()
    session = make_session([node])
    (p,) = session.prepare_block(0, 0, encode_signed_vector([1, 2, 3]), 2)
    good = node.answer(session, p.request)
    with pytest.raises(SignatureError):
        session.accept(
            p, RoundAnswer(good.outputs, good.output_transcript, good.ack[:64] + b"\x01")
        )


def test_session_payloads_fresh_per_round_and_node() -> None:
    rng = random.Random(1)
    nodes = [PlayedNode() for _ in range(2)]
    session = make_session(nodes)
    x = [rng.randrange(-100, 100) for _ in range(3)]
    a = session.prepare_block(0, 0, encode_signed_vector(x), 2)
    for n, p in zip(nodes, a, strict=True):
        session.accept(p, n.answer(session, p.request))
    b = session.prepare_block(0, 0, encode_signed_vector(x), 2)
    commitments = {p.commitment for p in a} | {p.commitment for p in b}
    masks = {p.opening.mask for p in a} | {p.opening.mask for p in b}
    assert len(commitments) == 4
    assert len(masks) == 4


def test_session_recorded_keys_reseal_and_check_acks() -> None:
    """A node that rotated its keys between the user's plan and the request's mining: the client
    adopts the keys the market recorded, re-seals the first round to them, and from then on
    accepts only Acks by the recorded signer."""
    node = PlayedNode()
    session = make_session([node])
    (p,) = session.prepare_block(0, 0, encode_signed_vector([1, 2, 3]), 2)
    old_ack = node.ack
    node.keys, node.ack = generate_keypair(), Account.create()
    changed = session.use_recorded_keys(
        0, node.account.address, node.keys.public_key, node.ack.address
    )
    assert changed
    resealed = session.reseal(p)
    assert resealed.request.message == p.request.message
    session.accept(resealed, node.answer(session, resealed.request))  # opens with the new key
    assert session.assignment(0, node.account.address).rounds == 1
    (q,) = session.prepare_block(0, 0, encode_signed_vector([4, 5, 6]), 2)
    node.ack = old_ack
    with pytest.raises(AckError, match="recorded signer"):
        session.accept(q, node.answer(session, q.request))
