"""End to end: encode -> share -> commit -> seal -> (node) open, compute, prove -> (user)
verify, reconstruct, decode. The result equals the plaintext quantised model exactly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.prove import ShareProof
from zkai.crypto.encryption import generate_keypair
from zkai.crypto.field import BN254_R
from zkai.errors import (
    CommitmentMismatchError,
    DecryptionError,
    EncodingOverflowError,
    InputRangeError,
    InvalidInputError,
    ProofError,
    ShareError,
)
from zkai.inference import (
    finish_query,
    node_respond,
    open_request,
    prepare_query,
    reconstruct,
    run_local,
)
from zkai.models.demo import load_demo_manifest
from zkai.models.manifest import Manifest

from .independent import IndependentChecks

Build = Callable[[str], CircuitArtifacts]
KEYS = [generate_keypair() for _ in range(4)]


def inputs_in_range(manifest: Manifest) -> st.SearchStrategy[list[float]]:
    scale = 1 << manifest.input_scale_bits
    return st.tuples(
        *(
            st.integers(min_value=lo, max_value=hi).map(lambda v: v / scale)
            for lo, hi in zip(manifest.input_min, manifest.input_max, strict=True)
        )
    ).map(list)


@pytest.mark.parametrize("name", ["breast-cancer", "digits"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), k=st.integers(min_value=1, max_value=4))
def test_shared_computation_equals_the_quantised_model(
    name: str, data: st.DataObject, k: int
) -> None:
    manifest = load_demo_manifest(name)
    x = data.draw(inputs_in_range(manifest))
    keys = KEYS[:k]
    query = prepare_query(manifest, x, [key.public_key for key in keys], check_range=True)
    outputs = []
    for key, request in zip(keys, query.requests, strict=True):
        opening = open_request(manifest, key.private_key, request.ciphertext, request.commitment)
        outputs.append(manifest.masked_output(opening.share, opening.mask))
    expected = manifest.forward(manifest.quantise_input(x))
    assert reconstruct(manifest, query.secrets, outputs) == expected


@pytest.mark.parametrize(("name", "k"), [("breast-cancer", 2), ("digits", 3)])
@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_proven_round_equals_the_quantised_model(
    demo_artifacts: Build,
    independent: IndependentChecks,
    name: str,
    k: int,
    data: st.DataObject,
) -> None:
    artifacts = demo_artifacts(name)
    manifest = artifacts.manifest
    x = data.draw(inputs_in_range(manifest))
    run = run_local(artifacts, x, k=k)
    expected = manifest.forward(manifest.quantise_input(x))
    assert list(run.prediction.raw) == expected
    assert run.prediction == manifest.predict(expected)
    for proof in run.proofs:
        independent.check(artifacts, proof)


@pytest.fixture(scope="module")
def proven(
    demo_artifacts: Build, independent: IndependentChecks
) -> tuple[CircuitArtifacts, object, list[ShareProof]]:
    artifacts = demo_artifacts("breast-cancer")
    manifest = artifacts.manifest
    x = [
        (lo + hi) / 2 / (1 << manifest.input_scale_bits)
        for lo, hi in zip(manifest.input_min, manifest.input_max, strict=True)
    ]
    query = prepare_query(manifest, x, [KEYS[0].public_key, KEYS[1].public_key])
    proofs = [
        node_respond(artifacts, key.private_key, req.ciphertext, req.commitment)
        for key, req in zip(KEYS[:2], query.requests, strict=True)
    ]
    for proof in proofs:
        independent.check(artifacts, proof)
    return artifacts, query, proofs


def test_finish_query_rejects_a_wrong_output(proven: tuple) -> None:  # type: ignore[type-arg]
    artifacts, query, proofs = proven
    bad = replace(
        proofs[0], public_inputs=(proofs[0].commitment, (proofs[0].outputs[0] + 1) % BN254_R)
    )
    with pytest.raises(ProofError, match="node 0 does not verify"):
        finish_query(artifacts, query.secrets, [bad, proofs[1]])


def test_finish_query_rejects_a_proof_for_another_commitment(proven: tuple) -> None:  # type: ignore[type-arg]
    artifacts, query, proofs = proven
    with pytest.raises(CommitmentMismatchError, match="node 0"):
        finish_query(artifacts, query.secrets, [proofs[1], proofs[0]])
    with pytest.raises(ShareError, match="1 proofs given"):
        finish_query(artifacts, query.secrets, proofs[:1])


def test_finish_query_accepts_the_honest_proofs(proven: tuple) -> None:  # type: ignore[type-arg]
    artifacts, query, proofs = proven
    prediction = finish_query(artifacts, query.secrets, proofs)
    assert list(prediction.raw) == artifacts.manifest.forward(list(query.quantised_input))
    assert prediction.probability is not None


def test_node_rejects_a_payload_that_does_not_open_the_commitment() -> None:
    manifest = load_demo_manifest("breast-cancer")
    query = prepare_query(manifest, [10.0] * 30, [KEYS[0].public_key, KEYS[1].public_key])
    request = query.requests[0]
    with pytest.raises(CommitmentMismatchError, match="was posted"):
        open_request(manifest, KEYS[0].private_key, request.ciphertext, request.commitment + 1)
    other = query.requests[1]
    with pytest.raises(CommitmentMismatchError):
        open_request(manifest, KEYS[1].private_key, other.ciphertext, request.commitment)


def test_node_rejects_tampered_or_misaddressed_ciphertexts() -> None:
    manifest = load_demo_manifest("breast-cancer")
    query = prepare_query(manifest, [10.0] * 30, [KEYS[0].public_key, KEYS[1].public_key])
    request = query.requests[1]
    tampered = bytearray(request.ciphertext)
    tampered[60] ^= 0x40
    with pytest.raises(DecryptionError):
        open_request(manifest, KEYS[1].private_key, bytes(tampered), request.commitment)
    with pytest.raises(DecryptionError):
        open_request(manifest, KEYS[0].private_key, request.ciphertext, request.commitment)


def test_node_rejects_a_payload_for_another_model() -> None:
    cancer, digits = load_demo_manifest("breast-cancer"), load_demo_manifest("digits")
    query = prepare_query(cancer, [10.0] * 30, [KEYS[0].public_key])
    request = query.requests[0]
    with pytest.raises(ShareError, match="30 inputs, the model has 64"):
        open_request(digits, KEYS[0].private_key, request.ciphertext, request.commitment)


def test_bad_user_inputs_give_clear_errors() -> None:
    manifest = load_demo_manifest("digits")
    keys = [KEYS[0].public_key, KEYS[1].public_key]
    with pytest.raises(InvalidInputError, match="63 features"):
        prepare_query(manifest, [1.0] * 63, keys)
    with pytest.raises(InputRangeError, match=r"input\[0\] = 17.0 is outside"):
        prepare_query(manifest, [17.0] + [0.0] * 63, keys, check_range=True)
    with pytest.raises(EncodingOverflowError, match="output 0 can reach"):
        prepare_query(manifest, [2.0**240] * 64, keys)
    with pytest.raises(EncodingOverflowError, match="not a finite number"):
        prepare_query(manifest, [float("nan")] + [0.0] * 63, keys)
    with pytest.raises(ShareError, match="distinct"):
        prepare_query(manifest, [0.0] * 64, [keys[0], keys[0]])


def test_reconstruct_refuses_a_wrong_number_of_outputs() -> None:
    manifest = load_demo_manifest("digits")
    query = prepare_query(manifest, [1.0] * 64, [KEYS[0].public_key, KEYS[1].public_key])
    with pytest.raises(ShareError, match="1 node outputs given"):
        reconstruct(manifest, query.secrets, [[0] * 10])
    with pytest.raises(ShareError, match="returned 9 outputs"):
        reconstruct(manifest, query.secrets, [[0] * 10, [0] * 9])
    with pytest.raises(ShareError, match="different model"):
        reconstruct(load_demo_manifest("breast-cancer"), query.secrets, [[0], [0]])
