"""EIP-712 Round and Ack messages: signing, recovery, domain separation, malleability."""

from __future__ import annotations

import pytest
from eth_account import Account

from zkai.errors import SignatureError
from zkai.protocol.ids import assignment_tag, new_salt, query_id
from zkai.protocol.messages import AckMessage, Domain, RoundMessage

MARKET = "0x" + "11" * 20
OTHER_MARKET = "0x" + "22" * 20
USER = "0x" + "33" * 20
NODE = "0x" + "44" * 20
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _round(**changes: object) -> RoundMessage:
    fields: dict[str, object] = {
        "query_id": b"\x01" * 32,
        "part": 0,
        "node": NODE,
        "round": 1,
        "commitment": 5,
        "input_transcript": 6,
        "prev_output_transcript": 7,
    }
    fields.update(changes)
    return RoundMessage(**fields)  # type: ignore[arg-type]


def test_round_sign_recovers_the_session_key() -> None:
    session = Account.create()
    domain = Domain(31337, MARKET)
    message = _round()
    assert message.signer(domain, message.sign(domain, session)) == session.address


def test_round_signature_is_bound_to_domain_and_every_field() -> None:
    session = Account.create()
    domain = Domain(31337, MARKET)
    signature = _round().sign(domain, session)
    assert _round().signer(Domain(1, MARKET), signature) != session.address
    assert _round().signer(Domain(31337, OTHER_MARKET), signature) != session.address
    for change in (
        {"query_id": b"\x02" * 32},
        {"part": 1},
        {"node": USER},
        {"round": 2},
        {"commitment": 50},
        {"input_transcript": 60},
        {"prev_output_transcript": 70},
    ):
        assert _round(**change).signer(domain, signature) != session.address


def test_ack_sign_recovers_the_ack_signer_and_differs_from_round() -> None:
    signer = Account.create()
    domain = Domain(31337, MARKET)
    ack = AckMessage(b"\x01" * 32, 0, NODE, 1, 6, 8)
    signature = ack.sign(domain, signer)
    assert ack.signer(domain, signature) == signer.address
    assert AckMessage(b"\x01" * 32, 0, NODE, 1, 6, 9).signer(domain, signature) != signer.address


def test_signer_refuses_high_s_and_bad_length_and_v() -> None:
    session = Account.create()
    domain = Domain(31337, MARKET)
    message = _round()
    signature = message.sign(domain, session)
    s = int.from_bytes(signature[32:64], "big")
    flipped = bytes([55 - signature[64]])  # 27 <-> 28
    high_s = signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + flipped
    with pytest.raises(SignatureError, match="high s"):
        message.signer(domain, high_s)
    with pytest.raises(SignatureError, match="65 bytes"):
        message.signer(domain, signature[:64])
    with pytest.raises(SignatureError, match="v must be"):
        message.signer(domain, signature[:64] + b"\x01")


def test_query_id_and_tag_depend_on_every_input() -> None:
    salt = new_salt()
    qid = query_id(31337, MARKET, USER, salt)
    assert len(qid) == 32
    assert qid != query_id(1, MARKET, USER, salt)
    assert qid != query_id(31337, OTHER_MARKET, USER, salt)
    assert qid != query_id(31337, MARKET, NODE, salt)
    assert qid != query_id(31337, MARKET, USER, new_salt())
    tag = assignment_tag(31337, MARKET, qid, 0, NODE)
    assert 0 <= tag < 2**254
    assert tag != assignment_tag(31337, MARKET, qid, 1, NODE)
    assert tag != assignment_tag(31337, MARKET, qid, 0, USER)
    assert tag != assignment_tag(1, MARKET, qid, 0, NODE)
