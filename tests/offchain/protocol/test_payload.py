"""Round payloads: wire format, header binding, sizes, field range, and dealing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkai.crypto.field import BN254_R
from zkai.crypto.sharing import reconstruct
from zkai.errors import ShareError
from zkai.protocol.payload import RoundHeader, RoundPayload, deal_round

MARKET = "0x" + "11" * 20
NODES = ["0x" + f"{j + 0x40:02x}" * 20 for j in range(3)]


def _header(node: str = NODES[0], **changes: object) -> RoundHeader:
    fields: dict[str, object] = {
        "chain_id": 31337,
        "market": MARKET,
        "query_id": b"\x07" * 32,
        "part": 1,
        "node": node,
        "round": 2,
        "block": 3,
        "input_size": 4,
        "output_size": 2,
    }
    fields.update(changes)
    return RoundHeader(**fields)  # type: ignore[arg-type]


@given(secret=st.lists(st.integers(0, BN254_R - 1), min_size=4, max_size=4))
@settings(max_examples=25)
def test_deal_round_shares_sum_to_the_secret_and_round_trip(secret: list[int]) -> None:
    payloads = deal_round(secret, [_header(node) for node in NODES])
    parsed = [RoundPayload.from_bytes(p.to_bytes()) for p in payloads]
    assert parsed == payloads
    assert reconstruct([p.opening().share for p in parsed]) == secret
    assert parsed[0].header.node == NODES[0]
    assert parsed[2].header.node == NODES[2]


def test_every_round_gets_fresh_masks_and_salts() -> None:
    a = deal_round([1, 2, 3, 4], [_header()])[0].opening()
    b = deal_round([1, 2, 3, 4], [_header()])[0].opening()
    assert a.mask != b.mask
    assert a.salt != b.salt


def test_from_bytes_refuses_malformed_payloads() -> None:
    good = deal_round([1, 2, 3, 4], [_header(NODES[0]), _header(NODES[1])])
    seeded, explicit = good[0].to_bytes(), good[1].to_bytes()
    with pytest.raises(ShareError, match="shorter"):
        RoundPayload.from_bytes(seeded[:40])
    with pytest.raises(ShareError, match="version"):
        RoundPayload.from_bytes(b"\x01" + seeded[1:])
    with pytest.raises(ShareError, match="kind"):
        RoundPayload.from_bytes(seeded[:1] + b"\x07" + seeded[2:])
    with pytest.raises(ShareError, match="must be"):
        RoundPayload.from_bytes(seeded + b"\x00")
    with pytest.raises(ShareError, match="must be"):
        RoundPayload.from_bytes(explicit[:-1])
    too_big = explicit[:-32] + BN254_R.to_bytes(32, "big")
    with pytest.raises(ShareError, match="field order"):
        RoundPayload.from_bytes(too_big)


def test_header_is_read_back_exactly() -> None:
    payload = deal_round([9, 9, 9, 9], [_header(round=7, block=2, part=3)])[0]
    header = RoundPayload.from_bytes(payload.to_bytes()).header
    assert (header.round, header.block, header.part, header.query_id) == (7, 2, 3, b"\x07" * 32)
    assert header.chain_id == 31337
    assert header.market.lower() == MARKET


def test_deal_round_refuses_size_mismatch_and_out_of_field_secret() -> None:
    with pytest.raises(ShareError, match="inputs"):
        deal_round([1, 2, 3], [_header()])
    with pytest.raises(ShareError, match="field order"):
        deal_round([BN254_R, 0, 0, 0], [_header()])
    with pytest.raises(ShareError, match="at least one"):
        deal_round([1, 2, 3, 4], [])
