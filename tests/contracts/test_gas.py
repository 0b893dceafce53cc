"""Gas of the hot paths: request (1 and 2 parts), claim, and the raw verifyProof of the same proof
(the floor). The target (issue #15) is a claim within 1.3x the floor. With the 8 public inputs of
chunked claims, measured here (anvil): claim 333.5k against 268.2k (1.243x; with 5 inputs it was
312.4k against 247.8k, 1.261x); a chunked assignment's first chunk 333.7k and a continuation chunk
317.4k against 269.1k (1.240x, 1.180x: a continuation rewrites the transcript-hash slot instead of
filling it, and reads it once). A claim writes the transcript hash and the assignment's first slot
(rounds, finalised), reads the query's first slot and the assignment's terms, and pays the node;
the query's credits and the fee totals are not written by claims (settle derives them from the
assignments). The rest of the overhead is the payout transfer (~13k), ECDSA (~4k), the verifier
call and calldata.

A request for a version with an input rule also verifies the user's validity proof (k = 2: five
public inputs), its verifier call on top of the request's own cost; the test prints both, with the
raw verifyProof of that proof.

`ape run gas_report --network ethereum:local:foundry` prints the same numbers.
"""

from __future__ import annotations

from tests.contracts.zk import VALIDITY_RULE, Statement, validity_public_inputs

CLAIM_OVER_FLOOR = 1.3


def test_claim_gas_within_factor_of_raw_verify(proto, market, verifier, nodes, model1, owner):
    warm = proto.request(model_id=model1, nodes=[[nodes[0]]], budgets=[1])
    proto.claim(warm, 0, nodes[0], 1)  # the fee accumulators are non-zero from now on, as in use
    one = proto.request(model_id=model1, nodes=[[nodes[0]]], budgets=[1])
    two = proto.request()
    receipt, claim = proto.claim(one, 0, nodes[0], 1)
    claim_gas = receipt.gas_used
    s: Statement = claim.statement
    assert verifier.verifyProof(claim.proof, s.public_inputs)
    floor = verifier.verifyProof.transact(claim.proof, s.public_inputs, sender=owner).gas_used
    trace = proto.chain.provider.make_request(
        "debug_traceTransaction", [receipt.txn_hash, {"tracer": "callTracer"}]
    )
    frames = {call["to"].lower(): int(call["gasUsed"], 16) for call in trace.get("calls", [])}
    print(
        f"\nrequestQuery 1 part (k=1): {one.receipt.gas_used}"
        f"\nrequestQuery 2 parts (k=2, k=1): {two.receipt.gas_used}"
        f"\nclaim: {claim_gas}\nverifyProof (floor): {floor}"
        f"\nclaim / floor: {claim_gas / floor:.3f}"
        f"\nclaim's verifier frame: {frames.get(verifier.address.lower())}"
    )
    assert claim_gas <= CLAIM_OVER_FLOOR * floor, (claim_gas, floor)


def test_chunk_claim_gas_within_factor_of_raw_verify(proto, market, verifier, nodes, owner):
    """A chunked assignment (R_max 3, budget 8): the first chunk and a continuation chunk, which
    also reads the recorded transcript hash and takes two more calldata words that are not 0."""
    chunked = [[nodes[0], nodes[1]]]
    warm = proto.request(model_id=proto.model_chunked, nodes=chunked, budgets=[8])
    proto.claim(warm, 0, nodes[1], 3)
    placed = proto.request(model_id=proto.model_chunked, nodes=chunked, budgets=[8])
    first_receipt, first = proto.claim(placed, 0, nodes[0], 3)
    next_receipt, chunk = proto.claim(placed, 0, nodes[0], 6, after=first)
    s: Statement = chunk.statement
    floor = verifier.verifyProof.transact(chunk.proof, s.public_inputs, sender=owner).gas_used
    first_gas, next_gas = first_receipt.gas_used, next_receipt.gas_used
    print(
        f"\nfirst chunk claim: {first_gas} ({first_gas / floor:.3f} x floor)"
        f"\ncontinuation chunk claim: {next_gas} ({next_gas / floor:.3f} x floor)"
        f"\nverifyProof (floor, continuation's inputs): {floor}"
    )
    assert first_gas <= CLAIM_OVER_FLOOR * floor, (first_gas, floor)
    assert next_gas <= CLAIM_OVER_FLOOR * floor, (next_gas, floor)


def test_request_gas_with_validity_proof(
    proto, market, nodes, model_chunked, model_validity, validity_verifier, owner
):
    """requestQuery of one part, k = 2, budget 3: a version without an input rule, then one with
    a rule (the same part terms) and the user's validity proof."""
    pair = [[nodes[0], nodes[1]]]
    proto.request(model_id=model_chunked, nodes=pair, budgets=[3])  # warm the market's balance
    plain = proto.request(model_id=model_chunked, nodes=pair, budgets=[3])
    ruled = proto.request(model_id=model_validity, nodes=pair, budgets=[3])
    tags = [market.assignmentTag(ruled.query_id, 0, n) for n in pair[0]]
    firsts = [e.firstCommitment for e in ruled.receipt.events.filter(market.Assigned)]
    inputs = validity_public_inputs(VALIDITY_RULE, tags, firsts)
    floor = validity_verifier.verifyProof.transact(
        ruled.validity_proof, inputs, sender=owner
    ).gas_used
    plain_gas, ruled_gas = plain.receipt.gas_used, ruled.receipt.gas_used
    print(
        f"\nrequestQuery 1 part (k=2), no input rule: {plain_gas}"
        f"\nrequestQuery 1 part (k=2), validity proof: {ruled_gas}"
        f"\n  difference: {ruled_gas - plain_gas}"
        f"\nvalidity verifyProof (5 inputs, raw transaction): {floor}"
    )
    assert ruled_gas > plain_gas
