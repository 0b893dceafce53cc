"""The node's durable round store, its key generations and its prover-capacity model."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from zkai.errors import KeystoreError
from zkai.node.capacity import ProofJob, first_late_job
from zkai.node.keys import NodeKeys, unlock
from zkai.node.operator import init_node, parse_part
from zkai.node.store import AssignmentRow, RoundRow, RoundStore, StoreConflictError
from zkai.wallet.keystore import Keystore

QUERY = b"\x42" * 32
NODE = "0x" + "ab" * 20


def _row(i: int, commitment: int) -> RoundRow:
    return RoundRow(
        round=i,
        block=0,
        commitment=commitment,
        input_transcript=10 + i,
        prev_output_transcript=20 + i,
        output_transcript=30 + i,
        signature=b"\x01" * 65,
        share=(1, 2, 3),
        mask=(4, 5),
        salt=6,
        outputs=(7, 8),
        ack=b"\x02" * 65,
    )


def _assignment() -> AssignmentRow:
    return AssignmentRow(QUERY, 0, NODE, 99, 1, 1, 3, 1_000, 2_000, NODE, b"\x03" * 32)


def test_store_round_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "rounds.sqlite3"
    store = RoundStore(path)
    store.ensure_assignment(_assignment())
    store.record_round(QUERY, 0, NODE, _row(1, 111))
    store.close()
    reopened = RoundStore(path)
    assert reopened.rounds(QUERY, 0, NODE) == [_row(1, 111)]
    assert reopened.assignment(QUERY, 0, NODE) == _assignment()
    assert reopened.commitment_served(111)


def test_store_commitment_never_stored_twice(tmp_path: Path) -> None:
    store = RoundStore(tmp_path / "rounds.sqlite3")
    store.record_round(QUERY, 0, NODE, _row(1, 111))
    with pytest.raises(StoreConflictError):
        store.record_round(QUERY, 0, NODE, _row(2, 111))
    assert [r.round for r in store.rounds(QUERY, 0, NODE)] == [1]


def test_store_round_gap_or_repeat_refused(tmp_path: Path) -> None:
    store = RoundStore(tmp_path / "rounds.sqlite3")
    with pytest.raises(StoreConflictError, match="not the next round"):
        store.record_round(QUERY, 0, NODE, _row(2, 222))
    store.record_round(QUERY, 0, NODE, _row(1, 111))
    with pytest.raises(StoreConflictError, match="not the next round"):
        store.record_round(QUERY, 0, NODE, _row(1, 333))


def test_keys_rotation_keeps_every_generation(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path, scrypt_n=2**4)
    init_node(keystore, "n", "pass")
    first = unlock(keystore, "n", "pass")
    NodeKeys(keystore, "n").create("pass")
    rotated = unlock(keystore, "n", "pass")
    assert len(rotated.generations) == 2
    assert rotated.address == first.address
    old = first.current
    assert rotated.by_ack_signer(old.ack_signer) == old
    assert rotated.by_encryption_key(old.encryption_key) == old
    assert rotated.current.ack_signer != old.ack_signer


def test_keys_files_hold_no_plain_secret(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path, scrypt_n=2**4)
    init_node(keystore, "n", "pass")
    node = unlock(keystore, "n", "pass")
    (path,) = NodeKeys(keystore, "n").paths()
    text = path.read_text()
    assert node.current.encryption_secret.hex() not in text
    assert bytes(node.current.ack_account.key).hex() not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(json.loads(text)) >= {"ack_signer", "encryption_key", "ack", "encryption"}


def test_keys_wrong_passphrase_refused(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path, scrypt_n=2**4)
    init_node(keystore, "n", "pass")
    with pytest.raises(KeystoreError):
        unlock(keystore, "n", "wrong")


def test_parse_part_bad_text_says_the_form() -> None:
    assert str(parse_part("3:1")) == "3:1"
    with pytest.raises(Exception, match="MODEL:PART"):
        parse_part("three")


def test_capacity_on_time_queue_accepted() -> None:
    jobs = [ProofJob("a", 0, 5, 100), ProofJob("b", 50, 5, 100)]
    assert first_late_job(jobs, now=0, workers=1, margin_s=10) is None


def test_capacity_late_job_named() -> None:
    jobs = [ProofJob("a", 0, 40, 50), ProofJob("b", 0, 40, 60)]
    late = first_late_job(jobs, now=0, workers=1, margin_s=5)
    assert late is not None
    assert late[0].key == "b"
    assert late[1] == 80
    assert first_late_job(jobs, now=0, workers=2, margin_s=5) is None


def test_capacity_job_waits_for_its_round_deadline() -> None:
    late = first_late_job([ProofJob("a", 90, 20, 100)], now=0, workers=1, margin_s=0)
    assert late is not None
    assert late[1] == 110
