"""What a claim records of its transcripts: keccak256(abi.encode(T_n, O_n)), compared by hash."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from zkai.crypto.field import BN254_R
from zkai.protocol.market import AssignmentRecord, PartTerms, transcript_hash

T_N, O_N = 12345, BN254_R - 1


def _record(rounds: int, t: int, o: int) -> AssignmentRecord:
    fields = {"rounds": rounds, "transcriptHash": transcript_hash(t, o)}
    return AssignmentRecord(b"\x01" * 32, 0, "0x" + "11" * 20, fields)


def test_transcript_hash_is_abi_encoding_keccak() -> None:
    assert transcript_hash(T_N, O_N) == keccak(encode(["uint256", "uint256"], [T_N, O_N]))
    assert transcript_hash(T_N, O_N) != transcript_hash(O_N, T_N)


@pytest.mark.parametrize("bad", [-1, 2**256])
def test_transcript_hash_out_of_range_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="uint256"):
        transcript_hash(bad, O_N)


def test_claimed_transcripts_matches_only_the_claimed_pair() -> None:
    record = _record(3, T_N, O_N)
    assert record.claimed_transcripts(T_N, O_N)
    assert not record.claimed_transcripts(T_N, O_N - 1)
    assert not record.claimed_transcripts(T_N + 1, O_N)


def test_claimed_transcripts_unclaimed_never_matches() -> None:
    assert not _record(0, T_N, O_N).claimed_transcripts(T_N, O_N)


def _terms(max_rounds: int, max_budget: int) -> PartTerms:
    return PartTerms("0x" + "22" * 20, 5, max_rounds, max_budget, 60, 1, b"\x01" * 32, b"\x02" * 32)


def test_part_terms_carry_max_budget_in_abi_order() -> None:
    terms = _terms(4, 12)
    assert terms.as_tuple()[2:4] == (4, 12)
    fields = dict(
        verifier=terms.verifier,
        price=5,
        maxRounds=4,
        maxBudget=12,
        minProofWindow=60,
        shares=1,
        circuitHash=b"\x01" * 32,
        keyHash=b"\x02" * 32,
    )
    assert PartTerms.from_fields(fields) == terms


def test_part_terms_max_budget_below_max_rounds_refused() -> None:
    with pytest.raises(ValueError, match="set it to max_rounds"):
        _terms(4, 3)


def test_assignment_record_reads_chunk_state() -> None:
    fields = {"rounds": 6, "finalised": False, "maxRounds": 3, "transcriptHash": b"\0" * 32}
    record = AssignmentRecord(b"\x01" * 32, 0, "0x" + "11" * 20, fields)
    assert (record.rounds, record.finalised, record.max_rounds) == (6, False, 3)
