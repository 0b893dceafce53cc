"""Gas of the hot paths, measured on a fresh deployment: `ape run gas_report --network <net>`.

Prints one JSON object: requestQuery (k = 3), submitResult for the 10-output test circuit (11
public inputs) with its breakdown, and a reward claim. The breakdown comes from the transaction's
call trace (`debug_traceTransaction` with the callTracer, which anvil serves): the generated
verifier's frame, the adapter's own frame, and everything else (intrinsic gas and calldata, the
market's checks, storage and event). For comparison it also sends the bare verifier call and the
adapter call as transactions of their own.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import click
from ape import accounts, chain, project

from scripts.deploy import Parameters, deploy
from zkai.rewards import RewardTree
from zkai.toolchain import load_module_from_path
from zkai.units import ETHER


def _load_test_circuits() -> ModuleType:
    """The contract tests' circuit helpers (by path: another `tests` package may be installed)."""
    return load_module_from_path(
        "zkai_contract_test_circuits",
        Path(__file__).resolve().parents[1] / "tests" / "contracts" / "zk.py",
    )


_zk = _load_test_circuits()
load_circuit, snarkjs_args = _zk.load_circuit, _zk.snarkjs_args

PRICE = 3 * ETHER
SHARES = 3
# A sealed box of the test circuit's share (2 inputs, 10 masks, a salt: 13 field elements).
PAYLOAD_BYTES = 13 * 32 + 48


def _intrinsic(data: bytes) -> int:
    zeros = data.count(0)
    return 21_000 + 4 * zeros + 16 * (len(data) - zeros)


def _frames(tx_hash: str) -> dict[str, Any]:
    trace: dict[str, Any] = chain.provider.make_request(
        "debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}]
    )
    return trace


def _submit_breakdown(receipt: Any, adapter: str, verifier: str) -> dict[str, int]:
    trace = _frames(receipt.txn_hash)
    adapter_frame = next(c for c in trace.get("calls", []) if c["to"].lower() == adapter.lower())
    verifier_frame = next(
        c for c in adapter_frame.get("calls", []) if c["to"].lower() == verifier.lower()
    )
    adapter_gas = int(adapter_frame["gasUsed"], 16)
    verifier_gas = int(verifier_frame["gasUsed"], 16)
    intrinsic = _intrinsic(bytes.fromhex(trace["input"].removeprefix("0x")))
    total = receipt.gas_used
    return {
        "total": total,
        "verifier_frame": verifier_gas,
        "adapter_frame_excluding_verifier": adapter_gas - verifier_gas,
        "intrinsic_and_calldata": intrinsic,
        "market_bookkeeping": total - adapter_gas - intrinsic,
    }


def measure() -> dict[str, Any]:
    test_accounts = accounts.test_accounts
    owner, nodes, user = test_accounts[0], list(test_accounts[2:6]), test_accounts[6]
    with tempfile.TemporaryDirectory() as folder:
        contracts = deploy(owner, Path(folder) / "gas.json", Parameters())
    token, registry = contracts["ZKAIToken"], contracts["NodeRegistry"]
    models, market, rewards = (
        contracts["ModelRegistry"],
        contracts["QueryMarket"],
        contracts["ContributorRewards"],
    )

    circuit = load_circuit("share_2x10.circom", 10)
    verifier = owner.deploy(circuit.verifier_container())
    adapter = project.Groth16VerifierAdapter.deploy(verifier, 11, sender=owner)
    model_id = (
        models.registerModel(adapter, b"\x42" * 32, 2, 10, SHARES, PRICE, sender=owner)
        .events[0]
        .modelId
    )
    min_stake = registry.minStake()
    for i, node in enumerate(nodes):
        token.transfer(node, 2 * min_stake, sender=owner)
        token.approve(registry, 2 * min_stake, sender=node)
        registry.register(
            bytes([i + 1]) * 32, f"https://node{i}.example", 2 * min_stake, sender=node
        )
    token.transfer(user, 100 * PRICE, sender=owner)
    token.approve(market, 2**256 - 1, sender=user)

    rng = random.Random(1)

    def request() -> tuple[Any, list[Any]]:
        shares = [circuit.random_share(rng) for _ in range(SHARES)]
        receipt = market.requestQuery(
            model_id,
            nodes[:SHARES],
            [s.commitment for s in shares],
            [rng.randbytes(PAYLOAD_BYTES) for _ in shares],
            chain.pending_timestamp + 3600,
            sender=user,
        )
        return receipt, shares

    first_request, first_shares = request()
    second_request, second_shares = request()
    query_one = first_request.events.filter(market.QueryRequested)[0].queryId
    query_two = second_request.events.filter(market.QueryRequested)[0].queryId

    share = first_shares[0]
    proof = circuit.prove(share)
    bare = verifier.verifyProof.transact(*snarkjs_args(proof, share.public_inputs), sender=owner)
    through_adapter = adapter.verify.transact(share.public_inputs, proof, sender=owner)
    first_submit = market.submitResult(query_one, 0, share.outputs, proof, sender=nodes[0])
    share = second_shares[0]
    later_submit = market.submitResult(
        query_two, 0, share.outputs, circuit.prove(share), sender=nodes[0]
    )

    contributors = [a.address for a in test_accounts[7:10]] + [
        f"0x{rng.getrandbits(160):040x}" for _ in range(13)
    ]
    tree = RewardTree.of((c, (i + 1) * ETHER) for i, c in enumerate(contributors))
    token.transfer(rewards, tree.total, sender=owner)
    rewards.setAggregator(owner, True, sender=owner)
    epoch = rewards.postEpoch(tree.root, tree.total, sender=owner).events[0].epoch
    claimant, amount = tree.entries[0]
    claim = rewards.claim(epoch, claimant, amount, tree.proof(claimant, amount), sender=owner)
    payouts = market.claimPayouts([query_one, query_two], [0, 0], sender=nodes[0])

    return {
        "network": f"{chain.provider.network.ecosystem.name}:{chain.provider.network.name}:"
        f"{chain.provider.name}",
        "requestQuery": {
            "shares": SHARES,
            "payload_bytes_per_share": PAYLOAD_BYTES,
            "first_query": first_request.gas_used,
            "later_query": second_request.gas_used,
        },
        "submitResult": {
            "outputs": 10,
            "public_inputs": 11,
            "first_result_of_node": _submit_breakdown(
                first_submit, adapter.address, verifier.address
            ),
            "later_result_of_node": _submit_breakdown(
                later_submit, adapter.address, verifier.address
            ),
            "bare_verifier_transaction": bare.gas_used,
            "adapter_transaction": through_adapter.gas_used,
            "target": 360_000,
        },
        "claimPayouts": {"shares": 2, "gas": payouts.gas_used},
        "claim": {
            "leaves": len(contributors),
            "proof_length": len(tree.proof(claimant, amount)),
            "gas": claim.gas_used,
        },
    }


def main() -> None:
    click.echo(json.dumps(measure(), indent=2))
