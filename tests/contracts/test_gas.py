"""The gas target: submitResult with a valid proof for a 10-output model stays under 360k.

`ape run gas_report --network ethereum:local:foundry` prints the breakdown.
"""

from __future__ import annotations

SUBMIT_RESULT_TARGET = 360_000


def test_submitResult_ten_outputs_under_gas_target(market, place_query, circuit10):
    placed = place_query()
    gas = []
    for index in range(3):
        share = placed.shares[index]
        receipt = market.submitResult(
            placed.query_id,
            index,
            share.outputs,
            circuit10.prove(share),
            sender=placed.nodes[index],
        )
        gas.append(receipt.gas_used)
    assert max(gas) < SUBMIT_RESULT_TARGET, gas
