"""Slash evidence decoded from a slashing transaction (`zkai.api.evidence`): what the indexer does
with every transaction shape an `AssignmentSlashed` can come from. Transactions are built with
the market's real ABI (as `eth_getTransactionByHash` returns them); the chain-backed cases (a
direct slash, an equivocation, a slash through a forwarding contract) are in test_api.py."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from zkai.api.evidence import decode_slash_evidence
from zkai.chain.client import load_abi
from zkai.protocol.messages import AckMessage, Domain

MARKET = "0x" + "5a" * 20
OTHER = Web3.to_checksum_address("0x" + "6b" * 20)
QUERY = bytes(range(32))
NODE = Web3.to_checksum_address("0x" + "7c" * 20)
SIGNER = Account.create()
DOMAIN = Domain(31337, MARKET)


@pytest.fixture(scope="module")
def market() -> Any:
    return Web3().eth.contract(
        address=Web3.to_checksum_address(MARKET), abi=load_abi("QueryMarket")
    )


def _sign(t: int, o: int, domain: Domain = DOMAIN, round_: int = 1) -> bytes:
    return AckMessage(QUERY, 0, NODE, round_, t, o).sign(domain, SIGNER)


def _log(reason: int = 1, round_: int = 1) -> dict[str, Any]:
    return {
        "queryId": QUERY,
        "part": 0,
        "node": NODE,
        "round": round_,
        "amount": 5,
        "reason": reason,
    }


def _slash_tx(market: Any, signature: bytes, node: str = NODE, to: str | None = MARKET) -> Any:
    data = market.encode_abi("slash", args=[QUERY, 0, node, 1, 10, 20, signature])
    return {"to": to, "input": data}


def test_evidence_direct_slash_is_its_ack_with_the_signer(market):
    signature = _sign(10, 20)
    evidence = decode_slash_evidence(
        market, DOMAIN, _slash_tx(market, signature), _log(), SIGNER.address
    )
    assert (evidence.kind, evidence.detail) == ("ack", None)
    (ack,) = evidence.acks
    assert (ack.round, ack.input_transcript, ack.output_transcript) == (1, 10, 20)
    assert (ack.signature, ack.signer) == ("0x" + signature.hex(), SIGNER.address)


def test_evidence_equivocation_is_both_acks(market):
    sig1, sig2 = _sign(10, 20), _sign(10, 21)
    data = market.encode_abi(
        "slashEquivocation", args=[QUERY, 0, NODE, 1, 10, 20, sig1, 10, 21, sig2]
    )
    evidence = decode_slash_evidence(
        market, DOMAIN, {"to": MARKET, "input": data}, _log(reason=4), SIGNER.address
    )
    assert evidence.kind == "equivocation"
    assert [(a.output_transcript, a.signer) for a in evidence.acks] == [
        (20, SIGNER.address),
        (21, SIGNER.address),
    ]


@pytest.mark.parametrize(
    ("to", "says"),
    [(OTHER, f"through contract {OTHER}, not to the market"), (None, "a contract creation")],
)
def test_evidence_slash_not_sent_to_the_market_is_unavailable(market, to, says):
    tx = _slash_tx(market, _sign(10, 20), to=to)
    evidence = decode_slash_evidence(market, DOMAIN, tx, _log(), SIGNER.address)
    assert (evidence.kind, evidence.acks) == ("unavailable", ())
    assert says in evidence.detail


def test_evidence_input_that_is_no_market_call_is_unavailable(market):
    tx = {"to": MARKET, "input": "0xdeadbeef" + "00" * 64}
    evidence = decode_slash_evidence(market, DOMAIN, tx, _log(), SIGNER.address)
    assert evidence.kind == "unavailable"
    assert "does not decode as a QueryMarket call" in evidence.detail


def test_evidence_market_call_of_another_function_is_unavailable(market):
    tx = {"to": MARKET, "input": market.encode_abi("settle", args=[QUERY])}
    evidence = decode_slash_evidence(market, DOMAIN, tx, _log(), SIGNER.address)
    assert (evidence.kind, evidence.detail) == (
        "unavailable",
        "the transaction calls settle, not slash",
    )


def test_evidence_slash_whose_reason_is_equivocation_but_calls_slash_is_unavailable(market):
    tx = _slash_tx(market, _sign(10, 20))
    evidence = decode_slash_evidence(market, DOMAIN, tx, _log(reason=4), SIGNER.address)
    assert evidence.detail == "the transaction calls slash, not slashEquivocation"


@pytest.mark.parametrize("log", [_log(round_=2), {**_log(), "part": 1}, {**_log(), "node": OTHER}])
def test_evidence_slash_of_another_assignment_or_round_than_its_log_is_unavailable(market, log):
    tx = _slash_tx(market, _sign(10, 20))
    evidence = decode_slash_evidence(market, DOMAIN, tx, log, SIGNER.address)
    assert evidence.kind == "unavailable"
    assert "another assignment or round" in evidence.detail


def test_evidence_ack_of_another_domain_is_not_the_recorded_signers(market):
    foreign = _sign(10, 20, Domain(1, MARKET))  # signed for another chain
    evidence = decode_slash_evidence(
        market, DOMAIN, _slash_tx(market, foreign), _log(), SIGNER.address
    )
    assert evidence.kind == "unavailable"
    assert f"not to the recorded ack signer {SIGNER.address}" in evidence.detail


@pytest.mark.parametrize(
    ("signature", "says"),
    [(b"\x01" * 64, "65 bytes"), (b"\x11" * 32 + b"\xff" * 32 + b"\x1b", "high s")],
)
def test_evidence_malformed_signature_is_unavailable(market, signature, says):
    evidence = decode_slash_evidence(
        market, DOMAIN, _slash_tx(market, signature), _log(), SIGNER.address
    )
    assert evidence.kind == "unavailable"
    assert "does not recover" in evidence.detail
    assert says in evidence.detail
