"""The same real proofs through QueryMarket on ape's in-process EVM (py-evm).

A pairing check takes seconds there, so this pass keeps to one accepted and one rejected proof.
"""

from __future__ import annotations

import ape
import pytest

from tests.contracts.zk import FIELD

pytestmark = pytest.mark.pyevm


def test_submitResult_valid_proof_accepted_on_in_process_evm(market, place_query, circuit10, chain):
    assert chain.provider.name == "test"
    placed = place_query()
    share = placed.shares[0]
    receipt = market.submitResult(
        placed.query_id, 0, share.outputs, circuit10.prove(share), sender=placed.nodes[0]
    )
    assert list(receipt.events.filter(market.ResultSubmitted)[0].outputs) == share.outputs
    assert market.getShare(placed.query_id, 0).status == 2


def test_submitResult_changed_output_rejected_on_in_process_evm(
    market, place_query, circuit10, chain
):
    assert chain.provider.name == "test"
    placed = place_query()
    share = placed.shares[1]
    outputs = list(share.outputs)
    outputs[0] = (outputs[0] + 1) % FIELD
    with ape.reverts(market.InvalidProof, queryId=placed.query_id, shareIndex=1):
        market.submitResult(
            placed.query_id, 1, outputs, circuit10.prove(share), sender=placed.nodes[1]
        )
