"""QueryMarket v2, requestQuery with the user's validity proof (PROTOCOL.md, "User validity proof").

A version with an input rule has a validity verifier; the market builds the proof's public inputs
itself, [ruleHash, tag_0, c_0, tag_1, c_1] (the rule from the registry, the tags of part 0's nodes
for this query, the request's first commitments), and refuses the request before anything is
recorded or escrowed unless the proof holds. Real Groth16 proofs of the toy validity circuits
(tests/contracts/circuits/validity_toy*.circom): no mocks.
"""

from __future__ import annotations

import ape
import pytest

from tests.contracts.conftest import (
    CHUNKED,
    NO_VALIDITY,
    ZERO_PROOF,
    part_terms,
    validity_terms,
)
from tests.contracts.zk import (
    OTHER_VALIDITY_RULE,
    VALIDITY_RULE,
    validity_commitment,
    validity_public_inputs,
)
from zkai.protocol.ids import query_id

BUDGET = 3
ESCROW = CHUNKED["shares"] * BUDGET * CHUNKED["price"]


@pytest.fixture
def pair(nodes):
    """Part 0's two nodes (model_validity, model_other_rule)."""
    return [nodes[0], nodes[1]]


def _qid(proto, salt: bytes, sender=None) -> bytes:
    sender = sender or proto.user
    return query_id(proto.chain.chain_id, proto.market.address, sender.address, salt)


def _request(proto, model_id, pair, **kwargs):
    return proto.request(model_id=model_id, nodes=[pair], budgets=[BUDGET], **kwargs)


def _balances(token, user, market):
    return token.balanceOf(user), token.balanceOf(market)


def test_valid_proof_accepted_and_query_recorded(
    proto, market, token, funded_user, pair, model_validity, validity_verifier
):
    before_user, before_market = _balances(token, funded_user, market)
    placed = _request(proto, model_validity, pair, validity_secrets=[5, 7])
    assert placed.escrow == ESCROW
    assert _balances(token, funded_user, market) == (before_user - ESCROW, before_market + ESCROW)
    query = market.getQuery(placed.query_id)
    assert (query.user, query.modelId, query.version) == (funded_user.address, model_validity, 1)
    tags = [market.assignmentTag(placed.query_id, 0, n) for n in pair]
    commitments = [validity_commitment(t, s) for t, s in zip(tags, [5, 7], strict=True)]
    assigned = placed.receipt.events.filter(market.Assigned)
    assert [(e.node, e.firstCommitment) for e in assigned] == list(
        zip([n.address for n in pair], commitments, strict=True)
    )
    # The inputs the market built: the registry's rule, the market's own tags, the commitments.
    inputs = validity_public_inputs(VALIDITY_RULE, tags, commitments)
    assert validity_verifier.verifyProof(placed.validity_proof, inputs)


def test_assignments_of_a_validity_query_are_claimed_as_usual(proto, market, pair, model_validity):
    placed = _request(proto, model_validity, pair)
    receipt, _ = proto.claim(placed, 0, pair[1], BUDGET)
    assert receipt.events.filter(market.Claimed)[0].rounds == BUDGET


@pytest.mark.parametrize("proof", ["zero", "other_secrets", "flipped_word"])
def test_invalid_proof_reverts_nothing_escrowed(
    proto, market, token, funded_user, pair, model_validity, validity_circuit, proof
):
    salt = b"\x17" * 32
    qid = _qid(proto, salt)
    rule = (validity_circuit, VALIDITY_RULE)
    words, commitments = proto.validity_proof(qid, pair, rule, [1, 2])
    if proof == "zero":
        words = list(ZERO_PROOF)
    elif proof == "other_secrets":
        # A valid proof, but of the commitments of other secrets.
        words, _ = proto.validity_proof(qid, pair, rule, [3, 4])
    else:
        # a.x + 1: still a field element, no longer the proof (a point off the curve).
        words = [words[0] + 1, *words[1:]]
    before = _balances(token, funded_user, market)
    with ape.reverts(market.InvalidValidityProof, queryId=qid):
        _request(
            proto,
            model_validity,
            pair,
            salt=salt,
            first_commitments=commitments,
            validity_proof=words,
        )
    assert _balances(token, funded_user, market) == before
    assert market.getQuery(qid).sessionKey == "0x" + "00" * 20
    assert market.getAssignment(qid, 0, pair[0]).budget == 0
    assert market.getQueryNodes(qid, 0) == []
    # The same request with its own proof then goes through (nothing was left behind).
    words, _ = proto.validity_proof(qid, pair, rule, [1, 2])
    placed = _request(
        proto, model_validity, pair, salt=salt, first_commitments=commitments, validity_proof=words
    )
    assert placed.query_id == qid
    assert _balances(token, funded_user, market) == (before[0] - ESCROW, before[1] + ESCROW)


def test_proof_of_another_query_refused(proto, market, pair, model_validity, validity_circuit):
    """Another salt is another query id, so other tags: the proof does not carry over."""
    first, second = b"\x21" * 32, b"\x22" * 32
    rule = (validity_circuit, VALIDITY_RULE)
    words, commitments = proto.validity_proof(_qid(proto, first), pair, rule)
    with ape.reverts(market.InvalidValidityProof, queryId=_qid(proto, second)):
        _request(
            proto,
            model_validity,
            pair,
            salt=second,
            first_commitments=commitments,
            validity_proof=words,
        )
    placed = _request(
        proto, model_validity, pair, salt=first, first_commitments=commitments, validity_proof=words
    )
    assert placed.query_id == _qid(proto, first)


def test_proof_copied_by_another_user_refused(
    proto, market, pair, model_validity, validity_circuit, accounts, token, owner
):
    """The same salt from another sender is another query: a copied (front-run) request fails."""
    other = accounts[6]
    token.transfer(other, 10 * ESCROW, sender=owner)
    token.approve(market, 2**256 - 1, sender=other)
    salt = b"\x23" * 32
    words, commitments = proto.validity_proof(
        _qid(proto, salt), pair, (validity_circuit, VALIDITY_RULE)
    )
    with ape.reverts(market.InvalidValidityProof, queryId=_qid(proto, salt, other)):
        _request(
            proto,
            model_validity,
            pair,
            salt=salt,
            first_commitments=commitments,
            validity_proof=words,
            sender=other,
        )


def test_proof_of_another_rule_refused(
    proto, market, pair, model_validity, model_other_rule, other_rule_circuit
):
    """A proof made under another rule (its circuit fixes OTHER_VALIDITY_RULE) for this very
    query's tags and commitments holds on that rule's model only."""
    salt = b"\x31" * 32
    qid = _qid(proto, salt)
    words, commitments = proto.validity_proof(qid, pair, (other_rule_circuit, OTHER_VALIDITY_RULE))
    args = {"salt": salt, "first_commitments": commitments, "validity_proof": words}
    with ape.reverts(market.InvalidValidityProof, queryId=qid):
        _request(proto, model_validity, pair, **args)
    placed = _request(proto, model_other_rule, pair, **args)
    assert market.getQuery(placed.query_id).modelId == model_other_rule


def test_registered_rule_hash_not_the_circuits_refuses_every_proof(
    proto,
    market,
    pair,
    model_registry,
    verifier,
    validity_verifier,
    validity_circuit,
    model_owner,
    node_registry,
):
    """A version whose rule hash is not its circuit's constant: the market puts the registry's
    rule hash in the inputs, so a proof of the circuit's own rule never holds."""
    receipt = model_registry.registerModel(
        b"\x46" * 32,
        "ipfs://mismatched-rule",
        [part_terms(verifier, **CHUNKED)],
        validity_terms(validity_verifier, OTHER_VALIDITY_RULE),
        sender=model_owner,
    )
    model_id = receipt.events.filter(model_registry.ModelRegistered)[0].modelId
    for node in pair:
        node_registry.setParts(model_id, [0], True, sender=node)
    salt = b"\x32" * 32
    qid = _qid(proto, salt)
    words, commitments = proto.validity_proof(qid, pair, (validity_circuit, VALIDITY_RULE))
    with ape.reverts(market.InvalidValidityProof, queryId=qid):
        _request(
            proto, model_id, pair, salt=salt, first_commitments=commitments, validity_proof=words
        )


@pytest.mark.parametrize("swap", ["commitments", "nodes"])
def test_assignments_swapped_refused(proto, market, pair, model_validity, validity_circuit, swap):
    """Each commitment is bound to its own assignment's tag: swapping the two commitments, or the
    two nodes (so their tags), breaks the proof."""
    salt = b"\x41" * 32
    qid = _qid(proto, salt)
    words, commitments = proto.validity_proof(qid, pair, (validity_circuit, VALIDITY_RULE))
    nodes = pair
    if swap == "commitments":
        commitments = commitments[::-1]
    else:
        nodes = pair[::-1]
    with ape.reverts(market.InvalidValidityProof, queryId=qid):
        _request(
            proto,
            model_validity,
            nodes,
            salt=salt,
            first_commitments=commitments,
            validity_proof=words,
        )


@pytest.mark.parametrize("proof", ["zero", "garbage"])
def test_version_without_rule_ignores_the_proof(proto, market, pair, model_chunked, proof):
    words = list(ZERO_PROOF) if proof == "zero" else [1, 2, 3, 4, 5, 6, 7, 8]
    placed = _request(proto, model_chunked, pair, validity_proof=words)
    assert market.getQuery(placed.query_id).modelId == model_chunked


def test_rule_follows_the_pinned_version(
    proto,
    market,
    pair,
    model_registry,
    verifier,
    validity_verifier,
    model_validity,
    model_chunked,
    model_owner,
):
    """A version published without a rule takes a zero proof; one published with a rule on a
    model that had none needs a proof."""
    model_registry.publishVersion(
        model_validity,
        b"\x47" * 32,
        [part_terms(verifier, **CHUNKED)],
        NO_VALIDITY,
        sender=model_owner,
    )
    _request(proto, model_validity, pair, version=2, validity_proof=list(ZERO_PROOF))
    model_registry.publishVersion(
        model_chunked,
        b"\x48" * 32,
        [part_terms(verifier, **CHUNKED)],
        validity_terms(validity_verifier),
        sender=model_owner,
    )
    salt = b"\x51" * 32
    with ape.reverts(market.InvalidValidityProof, queryId=_qid(proto, salt)):
        _request(proto, model_chunked, pair, version=2, salt=salt, validity_proof=list(ZERO_PROOF))
    placed = _request(proto, model_chunked, pair, version=2, salt=salt)  # proto proves
    assert market.getQuery(placed.query_id).version == 2


def test_request_terms_checked_before_the_proof(proto, market, pair, nodes, model_validity):
    """The request's own terms (shapes, fee cap, deadlines) are refused with their own errors,
    before the proof is read."""
    with ape.reverts(market.ShareCountMismatch, part=0, expected=2, actual=1):
        proto.request(
            model_id=model_validity,
            nodes=[[pair[0]]],
            budgets=[BUDGET],
            first_commitments=[1, 2],
            validity_proof=list(ZERO_PROOF),
        )
    with ape.reverts(market.FeeCapExceeded, escrow=ESCROW, feeCap=ESCROW - 1):
        _request(
            proto,
            model_validity,
            pair,
            fee_cap=ESCROW - 1,
            first_commitments=[1, 2],
            validity_proof=list(ZERO_PROOF),
        )
    with ape.reverts(market.RoundDeadlineInPast):
        _request(
            proto,
            model_validity,
            pair,
            round_deadline=proto.now() - 1,
            proof_deadline=proto.now() + 10_000,
            first_commitments=[1, 2],
            validity_proof=list(ZERO_PROOF),
        )
    with ape.reverts(market.ProofWindowTooShort):
        _request(
            proto,
            model_validity,
            pair,
            proof_window=CHUNKED["minProofWindow"] - 1,
            first_commitments=[1, 2],
            validity_proof=list(ZERO_PROOF),
        )
