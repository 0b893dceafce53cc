"""The user's check of a validity key before proving with it (PROTOCOL.md, "User validity
proof", leakage): a key made on this machine is recorded as made here; a copy checked afresh
passes `snarkjs zkey verify` once and is remembered; a copy with any file that is not the
manifest's circuit's or the verified key's is refused, and nothing is recorded for it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.offchain.circuits.test_validity import RULE
from zkai.circuits.validity import ValidityArtifacts, validity_artifacts
from zkai.circuits.validity_check import KeyCheck, check_validity_key
from zkai.circuits.validity_source import validity_source
from zkai.errors import KeyCheckError
from zkai.models.rule import ValidityRule

OTHER = ValidityRule(**{**RULE.__dict__, "maximum": (15, 5, 1000, 7)})


@pytest.fixture(scope="module")
def artifacts() -> ValidityArtifacts:
    return validity_artifacts(RULE)


def _copy(artifacts: ValidityArtifacts, tmp_path: Path) -> Path:
    # the copy sits beside the original so that its root's ptau is the same
    copy = tmp_path / "owner-validity"
    shutil.copytree(artifacts.directory, copy)
    return copy


def _check(directory: Path, records: Path, rule: ValidityRule = RULE) -> KeyCheck:
    return check_validity_key(
        directory, validity_source(rule), 1 + 2 * rule.shares, record_dir=records
    )


def test_a_key_made_here_is_recorded_and_a_copy_is_verified_once(
    artifacts: ValidityArtifacts, tmp_path: Path
) -> None:
    made = check_validity_key(artifacts.directory, validity_source(RULE), artifacts.n_public)
    assert made.cached
    assert made.how == "made-here"
    records = tmp_path / "records"
    copy = _copy(artifacts, tmp_path)
    first = _check(copy, records)
    assert (first.how, first.cached) == ("verified", False)
    assert first.seconds > 0
    record = json.loads((records / f"{first.digest}.json").read_text())
    assert record["how"] == "verified"
    again = _check(copy, records)
    assert again.cached
    assert again.digest == first.digest
    # the record is for these files and this circuit only
    with pytest.raises(KeyCheckError, match="is not circom2's compilation"):
        _check(copy, records, OTHER)


def _tampered(artifacts: ValidityArtifacts, tmp_path: Path, name: str) -> Path:
    copy = _copy(artifacts, tmp_path)
    path = copy / name
    if name == "verification_key.json":
        vk = json.loads(path.read_text())
        vk["vk_delta_2"], vk["vk_gamma_2"] = vk["vk_gamma_2"], vk["vk_delta_2"]
        path.write_text(json.dumps(vk))
    elif name == "circuit.zkey":
        # another setup's key for another circuit
        shutil.copy(validity_artifacts(OTHER).zkey_path, path)
    else:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    return copy


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("circuit.wasm", "circuit.wasm is not circom2's compilation"),
        ("circuit.zkey", "zkey verify failed"),
        ("proving_key.bin", "proving_key.bin is not groth16py's import"),
        ("verification_key.json", "verification_key.json is not the verified key's"),
    ],
)
def test_a_file_that_is_not_the_circuits_or_the_keys_is_refused(
    artifacts: ValidityArtifacts, tmp_path: Path, name: str, message: str
) -> None:
    records = tmp_path / "records"
    copy = _tampered(artifacts, tmp_path, name)
    with pytest.raises(KeyCheckError, match=re.escape(message)):
        _check(copy, records)
    assert not records.exists() or not list(records.glob("*.json"))


def test_a_corrupted_key_fails_snarkjs_zkey_verify(
    artifacts: ValidityArtifacts, tmp_path: Path
) -> None:
    copy = _copy(artifacts, tmp_path)
    zkey = copy / "circuit.zkey"
    data = bytearray(zkey.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # zeroes in a point section
    zkey.write_bytes(bytes(data))
    with pytest.raises(KeyCheckError, match="a malformed key could leak the input"):
        _check(copy, tmp_path / "records")


def test_a_missing_file_names_itself(artifacts: ValidityArtifacts, tmp_path: Path) -> None:
    copy = _copy(artifacts, tmp_path)
    (copy / "proving_key.bin").unlink()
    with pytest.raises(KeyCheckError, match=r"has no proving_key\.bin"):
        _check(copy, tmp_path / "records")
