"""The language-model validity rule ("tokens"): block 0's input is an allowed token's embedding
at a position within the context, the committed round pins the position, and the usage policy
removes tokens from what can be proven (issue #17, PROTOCOL.md "User validity proof").

A small synthetic decoder (d_model 4, context 6, vocabulary of 11 with "h" and "." forbidden)
keeps the build short; tiny-lm's rule is built by `zkai up` and measured by `zkai bench`.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.offchain.bench.lm_fixture import VOCAB, small_decoder
from tests.offchain.circuits.validity_openings import Opening, deal_openings
from zkai.circuits.prove import proof_words, prove_inputs
from zkai.circuits.validity import (
    PromptSalts,
    ValidityArtifacts,
    ValidityProof,
    prove_validity,
    prove_validity_snarkjs,
    validity_artifacts,
    validity_inputs,
    validity_public_inputs,
    verify_validity,
)
from zkai.circuits.validity_source import public_input_names
from zkai.crypto.field import BN254_R
from zkai.crypto.sharing import random_field_element
from zkai.crypto.transcript import round_commitment
from zkai.errors import InputRangeError, InvalidInputError, ProofError
from zkai.models.decoder import Decoder, token_inputs
from zkai.models.manifest import Manifest
from zkai.models.rule import rule_for
from zkai.protocol.prompt import first_round_salt

FORBIDDEN = "h."
MANIFEST = small_decoder(d=4, heads=1, hidden=8, context=6, forbidden=FORBIDDEN, name="micro-lm")
RULE = rule_for(MANIFEST, 2)
TABLE = token_inputs(MANIFEST)  # every token's input, forbidden ones included


def deal(x: tuple[int, ...], k: int = 2) -> tuple[list[Opening], PromptSalts]:
    """Round 1's openings, whose salts are Poseidon(D, rho_a) for a prompt digest D, and
    (D, the rhos)."""
    digest = random_field_element()
    openings = deal_openings(RULE, x, k)
    rhos = [o.salt for o in openings]
    salted = [replace(o, salt=first_round_salt(digest, o.salt)) for o in openings]
    return salted, (digest, rhos)


def prove(artifacts: ValidityArtifacts, tags: list[int], x: tuple[int, ...]) -> ValidityProof:
    openings, prompt = deal(x)
    return prove_validity(artifacts, tags, openings, prompt=prompt)


@pytest.fixture(scope="module")
def artifacts() -> ValidityArtifacts:
    return validity_artifacts(RULE)


def test_the_rule_is_the_manifests_tokens_and_policy() -> None:
    banned = {VOCAB.index(c) for c in FORBIDDEN}
    assert RULE.kind == "tokens"
    assert RULE.tokens == tuple(x for x in range(len(VOCAB)) if x not in banned)
    assert (RULE.positions, RULE.round_stride, RULE.input_size) == (6, 2, 4)
    for t in range(RULE.positions):
        assert RULE.table[t] == tuple(TABLE[t][x] for x in RULE.tokens)
    # the policy is part of the rule: another policy (or none) is another rule hash
    others = (
        small_decoder(d=4, heads=1, hidden=8, context=6, name="micro-lm"),
        small_decoder(d=4, heads=1, hidden=8, context=6, forbidden="h", name="micro-lm"),
    )
    hashes = {RULE.hash, *(rule_for(m, 2).hash for m in others)}
    assert len(hashes) == 3
    # and so of the manifest: a manifest without a policy keeps the format it had
    assert "forbidden" in MANIFEST.to_dict()["decoder"]
    assert "forbidden" not in others[0].to_dict()["decoder"]
    assert Manifest.from_dict(MANIFEST.to_dict()).hash == MANIFEST.hash


def test_forbidden_prompts_and_positions_are_refused_in_the_clear() -> None:
    decoder = Decoder.from_manifest(MANIFEST)
    assert decoder.check_request("abc", 2) == (2, 3, 4)
    with pytest.raises(InvalidInputError, match=r"usage policy forbids: 'h', '\.'"):
        decoder.check_request("ah.", 1)
    RULE.check(TABLE[0][VOCAB.index("a")])
    with pytest.raises(InputRangeError, match="not the embedding of a token"):
        RULE.check(TABLE[0][VOCAB.index("h")])
    with pytest.raises(InvalidInputError, match="beyond the context"):
        RULE.locate(TABLE[0][0], 6)


def test_allowed_tokens_prove_and_verify_with_every_input_bound(
    artifacts: ValidityArtifacts, tags: list[int]
) -> None:
    assert artifacts.development_only
    for c in ("a", "\n", "g"):
        proof = prove(artifacts, tags, TABLE[0][VOCAB.index(c)])
        assert verify_validity(artifacts, proof)
    public = list(proof.public_inputs)
    assert public[0] == RULE.hash
    assert public[1::2] == tags
    for index in range(5):
        moved = [*public]
        moved[index] = (moved[index] + 1) % BN254_R
        assert not verify_validity(artifacts, ValidityProof(proof.proof, tuple(moved)))


@pytest.mark.parametrize("case", ["forbidden", "no_token", "later_position", "zero"])
def test_what_the_rule_does_not_allow_cannot_be_proven(
    artifacts: ValidityArtifacts, tags: list[int], case: str
) -> None:
    x = {
        "forbidden": TABLE[0][VOCAB.index("h")],
        "no_token": tuple(v + (j == 0) for j, v in enumerate(TABLE[0][VOCAB.index("a")])),
        # a token's input at position 1 is not round 1's (position 0)
        "later_position": TABLE[1][VOCAB.index("a")],
        "zero": (0,) * RULE.input_size,
    }[case]
    assert all(TABLE[0][y] != x for y in RULE.tokens)  # no allowed token shares it
    with pytest.raises(ProofError, match="does not satisfy the validity rule"):
        prove(artifacts, tags, x)


def test_the_witness_calculator_refuses_a_forged_selection(
    artifacts: ValidityArtifacts, tags: list[int]
) -> None:
    """The one-hots are checked by the circuit, not by the Python client: two tokens at once, a
    forbidden token's input presented as an allowed token's, or no position at all fail."""
    openings, prompt = deal(TABLE[0][VOCAB.index("a")])
    public = validity_public_inputs(RULE, tags, openings)
    good = validity_inputs(RULE, public, openings, 0, prompt)
    assert proof_words(prove_inputs(artifacts, good, witness="node"))
    two = [*good["token"]]
    two[0] = 1 - two[0]
    for forged in (
        {**good, "token": [1 if v == 0 else 0 for v in good["token"]]},  # all the others
        {**good, "token": two},
        {**good, "position": [0] * RULE.positions},
    ):
        with pytest.raises(ProofError):
            prove_inputs(artifacts, forged, witness="node")


def test_the_committed_round_pins_the_position(
    artifacts: ValidityArtifacts, tags: list[int]
) -> None:
    """A proof of position 1 exists, but for commitments of round 3 (= 2 * 1 + 1): a node
    checking round 1's commitment refuses them, so the request's proof is of the first token."""
    openings = deal_openings(RULE, TABLE[1][VOCAB.index("b")])  # fresh salts, as later rounds
    third = [RULE.hash]
    for tag, o in zip(tags, openings, strict=True):
        third += [tag, round_commitment(tag, 3, RULE.block, o.share, o.mask, o.salt)]
    inputs: dict[str, object] = dict(zip(public_input_names(2), third, strict=True))
    for a, o in enumerate(openings):
        inputs |= {f"share{a}": list(o.share), f"mask{a}": list(o.mask), f"salt{a}": o.salt}
    inputs["position"] = [int(t == 1) for t in range(RULE.positions)]
    inputs["token"] = [int(y == VOCAB.index("b")) for y in RULE.tokens]
    inputs |= {"digest": 0, "rho0": 0, "rho1": 0}  # unused away from round 1
    words = proof_words(prove_inputs(artifacts, inputs, witness="node"))
    assert verify_validity(artifacts, ValidityProof(words, tuple(third)))
    first = validity_public_inputs(RULE, tags, openings)  # the same shares as round 1's
    assert not verify_validity(artifacts, ValidityProof(words, first))


def test_round_1s_salts_are_equal_and_a_later_tokens_need_not_be(
    artifacts: ValidityArtifacts, tags: list[int]
) -> None:
    """Round 1's proof makes every salt Poseidon(D, rho_a) for one D (each node checks its salt
    against the digest of the prompt rows it received and its own rho, so all hold the same
    rows); a later prompt token's round has fresh salts per node and proves at its position."""
    x = TABLE[0][VOCAB.index("a")]
    openings, (digest, rhos) = deal(x)
    assert verify_validity(artifacts, prove_validity(artifacts, tags, openings, 0, (digest, rhos)))
    for wrong in (
        (digest, rhos[::-1]),  # another node's rho
        ((digest + 1) % BN254_R, rhos),  # another digest
        None,  # none
    ):
        with pytest.raises(ProofError, match="does not satisfy the validity rule"):
            prove_validity(artifacts, tags, openings, 0, wrong)
    # two digests, one per node: no proof (the rows the nodes hold would differ)
    other = replace(openings[1], salt=first_round_salt((digest + 1) % BN254_R, rhos[1]))
    for prompt in ((digest, rhos), ((digest + 1) % BN254_R, rhos)):
        with pytest.raises(ProofError, match="does not satisfy the validity rule"):
            prove_validity(artifacts, tags, [openings[0], other], 0, prompt)
    later = deal_openings(RULE, TABLE[1][VOCAB.index("b")])
    proof = prove_validity(artifacts, tags, later, position=1)
    assert verify_validity(artifacts, proof)
    assert proof.public_inputs[2] == round_commitment(
        tags[0], 3, RULE.block, later[0].share, later[0].mask, later[0].salt
    )
    with pytest.raises(ProofError, match="does not satisfy the validity rule"):
        prove_validity(artifacts, tags, deal_openings(RULE, TABLE[1][VOCAB.index("h")]), position=1)
    with pytest.raises(ProofError, match="proves no position 6"):
        prove_validity(artifacts, tags, later, position=6)


def test_snarkjs_proves_a_token_as_the_python_client_does(
    artifacts: ValidityArtifacts, tags: list[int]
) -> None:
    openings, prompt = deal(TABLE[0][VOCAB.index("c")])
    proof, seconds = prove_validity_snarkjs(artifacts, tags, openings, prompt)
    assert seconds > 0
    assert verify_validity(artifacts, proof)
    assert proof.public_inputs == validity_public_inputs(RULE, tags, openings)


def test_a_rule_needs_allowed_tokens_and_a_table() -> None:
    from zkai.errors import ModelFormatError

    with pytest.raises(ModelFormatError, match="distinct token ids"):
        replace(RULE, tokens=(3, 2))
    with pytest.raises(ModelFormatError, match="table row 0"):
        replace(RULE, table=(RULE.table[0][:-1], *RULE.table[1:]))
    with pytest.raises(ModelFormatError, match="forbids every token"):
        small_decoder(d=4, heads=1, hidden=8, context=6, forbidden=VOCAB)
