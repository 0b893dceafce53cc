"""The same real proofs through QueryMarket v2 on ape's in-process EVM (py-evm).

A pairing check takes seconds there, so this pass keeps to one accepted and one refused claim.
"""

from __future__ import annotations

import ape
import pytest

from tests.contracts.zk import FIELD

pytestmark = pytest.mark.pyevm


def test_claim_valid_proof_accepted_on_in_process_evm(proto, market, nodes, chain):
    assert chain.provider.name == "test"
    placed = proto.request()
    receipt, _ = proto.claim(placed, 0, nodes[0], 2)
    assert receipt.events.filter(market.Claimed)[0].rounds == 2
    assert market.getAssignment(placed.query_id, 0, nodes[0]).rounds == 2


def test_claim_changed_output_refused_on_in_process_evm(proto, market, nodes, chain):
    assert chain.provider.name == "test"
    placed = proto.request()
    claim = proto.prove(placed, 0, nodes[1], 1)
    args = list(claim.args(placed.query_id, 0))
    args[6] = (args[6] + 1) % FIELD
    with ape.reverts(market.InvalidProof):
        market.claim(*args, sender=nodes[1])
