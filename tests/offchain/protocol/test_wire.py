"""The round messages on the wire: round-trips and strict refusals."""

from __future__ import annotations

import pytest

from zkai.crypto.field import BN254_R
from zkai.protocol.messages import RoundMessage
from zkai.protocol.wire import RoundAnswer, RoundRefusal, RoundRequest, WireError

NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def request() -> RoundRequest:
    message = RoundMessage(b"\x11" * 32, 1, NODE, 2, 5, 6, 7)
    return RoundRequest(message, b"\x01" * 65, b"sealed bytes")


def test_wire_request_round_trip() -> None:
    r = request()
    assert RoundRequest.from_json(r.to_json()) == r


def test_wire_request_with_prompt_and_proof_round_trips() -> None:
    r = request()
    full = RoundRequest(r.message, r.signature, r.sealed, ((1, 2), (3, BN254_R - 1)), (5,) * 8)
    body = full.to_json()
    assert RoundRequest.from_json(body) == full
    assert "prompt" not in r.to_json()
    assert "validity" not in r.to_json()
    empty = RoundRequest(r.message, r.signature, r.sealed, ((), ()))  # a one-token prompt
    assert RoundRequest.from_json(empty.to_json()) == empty


def test_wire_answer_round_trip() -> None:
    a = RoundAnswer((1, BN254_R - 1), 9, b"\x02" * 65)
    assert RoundAnswer.from_json(a.to_json()) == a


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("query", "0x1234", "32 bytes"),
        ("query", 5, "hex string"),
        ("part", -1, "'part'"),
        ("part", True, "'part'"),
        ("round", 0, "'round'"),
        ("node", "0xnot", "address"),
        ("commitment", hex(BN254_R), "below the field order"),
        ("commitment", "0x" + "f" * 65, "hex field element"),
        ("signature", "0x" + "00" * 64, "65 bytes"),
        ("payload", "***", "base64"),
        ("prompt", [], "non-empty list of lists"),
        ("prompt", [["0x1"], []], "same length"),
        ("prompt", [[hex(BN254_R)]], "below the field order"),
        ("validity", ["0x1"] * 7, "8 proof words"),
        ("validity", ["0x" + "f" * 65] * 8, "at most 32 bytes"),
    ],
)
def test_wire_request_malformed_field_refused(field: str, value: object, match: str) -> None:
    body = request().to_json()
    body[field] = value
    with pytest.raises(WireError, match=match):
        RoundRequest.from_json(body)


def test_wire_answer_malformed_refused() -> None:
    with pytest.raises(WireError, match="non-empty"):
        RoundAnswer.from_json({"outputs": [], "output_transcript": "0x1", "ack": "0x" + "00" * 65})
    with pytest.raises(WireError, match="below the field order"):
        RoundAnswer.from_json(
            {"outputs": [hex(BN254_R)], "output_transcript": "0x1", "ack": "0x" + "00" * 65}
        )


def test_wire_refusal_tolerates_garbage() -> None:
    assert RoundRefusal.from_json([1]).reason == "malformed-refusal"
    assert RoundRefusal.from_json({"reason": "budget", "detail": 3}) == RoundRefusal("budget", "")
