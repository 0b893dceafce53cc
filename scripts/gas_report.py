"""Gas of the hot paths, measured on a fresh deployment: `ape run gas_report --network <net>`.

Prints one JSON object: requestQuery with 1 part (k = 1) and 2 parts (k = 2, k = 1), requestQuery
with 1 part (k = 2) for a version without an input rule and for one with a rule (the user's
validity proof of the contract tests' toy validity circuit, 5 public inputs, and its verifier
frame), claim with
a real proof of the contract tests' toy circuit (8 public inputs, as every v2 part circuit), the
claim's verifier frame (from the call trace, `debug_traceTransaction` with the callTracer, which
anvil serves), the raw verifyProof transaction of the same proof (the floor) and the ratio, a
chunked assignment's first chunk and continuation chunk (R_max 2, budget 4), the settle of the
claimed query (which sums its assignments' credits and cuts), and a reward claim.
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
from eth_account import Account

from scripts.deploy import Parameters, deploy
from zkai.protocol.ids import assignment_tag, query_id
from zkai.protocol.messages import Domain, RoundMessage
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
FIELD = _zk.FIELD
PRICE = 3 * ETHER
ZERO_PERMIT = (0, 0, 0, b"\x00" * 32, b"\x00" * 32)
ZERO_PROOF = [0] * 8
NO_VALIDITY = ("0x" + "00" * 20, 0, b"\x00" * 32, b"\x00" * 32)


def _verifier_gas(receipt: Any, verifier: str) -> int:
    trace: dict[str, Any] = chain.provider.make_request(
        "debug_traceTransaction", [receipt.txn_hash, {"tracer": "callTracer"}]
    )
    frame = next(c for c in trace.get("calls", []) if c["to"].lower() == verifier.lower())
    return int(frame["gasUsed"], 16)


def measure() -> dict[str, Any]:
    test_accounts = accounts.test_accounts
    owner, nodes, user = test_accounts[0], list(test_accounts[2:5]), test_accounts[6]
    with tempfile.TemporaryDirectory() as folder:
        contracts = deploy(owner, Path(folder) / "gas.json", Parameters())
    token, registry = contracts["ZKAIToken"], contracts["NodeRegistry"]
    models, market, rewards = (
        contracts["ModelRegistry"],
        contracts["QueryMarket"],
        contracts["ContributorRewards"],
    )
    factory = contracts["VerifierFactory"]
    circuit = _zk.load_circuit()
    factory_receipt = factory.deploy(circuit.vk_words, sender=owner)
    verifier = project.Groth16Verifier.at(factory.verifierOf(_zk.vk_hash(circuit.vk_words)))

    key = _zk.vk_hash(circuit.vk_words)
    validity_circuit = _zk.load_validity_circuit()
    factory.deploy(validity_circuit.vk_words, sender=owner)
    validity_key = _zk.vk_hash(validity_circuit.vk_words)
    validity_verifier = factory.verifierOf(validity_key)
    rule = (validity_verifier, _zk.VALIDITY_RULE, b"\xd1" * 32, validity_key)

    def terms(shares: int, max_rounds: int = 4, max_budget: int = 4) -> tuple[Any, ...]:
        return (verifier.address, PRICE, max_rounds, max_budget, 60, shares, b"\xc1" * 32, key)

    def register(parts: list[tuple[Any, ...]], validity: tuple[Any, ...] = NO_VALIDITY) -> int:
        receipt = models.registerModel(b"\x42" * 32, "ipfs://gas", parts, validity, sender=owner)
        return int(receipt.events.filter(models.ModelRegistered)[0].modelId)

    one_part, two_parts = register([terms(1)]), register([terms(2), terms(1)])
    chunked = register([terms(1, max_rounds=2, max_budget=4)])
    one_part_k2, one_part_k2_rule = register([terms(2)]), register([terms(2)], rule)
    min_stake = registry.minStake()
    for i, node in enumerate(nodes):
        token.transfer(node, 2 * min_stake, sender=owner)
        token.approve(registry, 2 * min_stake, sender=node)
        registry.register(
            bytes([i + 1]) * 32,
            node.address,
            f"https://node{i}.example",
            "",
            2 * min_stake,
            sender=node,
        )
        registry.setParts(one_part, [0], True, sender=node)
        registry.setParts(two_parts, [0, 1], True, sender=node)
        registry.setParts(chunked, [0], True, sender=node)
        registry.setParts(one_part_k2, [0], True, sender=node)
        registry.setParts(one_part_k2_rule, [0], True, sender=node)
    token.transfer(user, 1000 * PRICE, sender=owner)
    token.approve(market, 2**256 - 1, sender=user)
    rng = random.Random(1)
    domain = Domain(chain.chain_id, market.address)

    def request(
        model_id: int, part_nodes: list[list[Any]], budget: int = 2, prove: bool = False
    ) -> tuple[Any, bytes, Any]:
        """Request a query; `prove`: with the user's validity proof of the toy validity circuit."""
        session, salt = Account.create(), rng.randbytes(32)
        t_r = chain.pending_timestamp + 600
        query = query_id(chain.chain_id, market.address, user.address, salt)
        firsts = [rng.randrange(FIELD) for _ in part_nodes[0]]
        proof = ZERO_PROOF
        if prove:
            tags = [
                assignment_tag(chain.chain_id, market.address, query, 0, n.address)
                for n in part_nodes[0]
            ]
            secrets = [rng.randrange(FIELD) for _ in tags]
            proof, firsts = _zk.prove_validity(validity_circuit, _zk.VALIDITY_RULE, tags, secrets)
        receipt = market.requestQuery(
            (
                salt,
                model_id,
                1,
                10**30,
                [[n.address for n in p] for p in part_nodes],
                [budget] * len(part_nodes),
                t_r,
                t_r + 600,
                session.address,
                firsts,
            ),
            ZERO_PERMIT,
            proof,
            sender=user,
        )
        return receipt, query, session

    def claim(
        query: bytes, session: Any, node: Any, rounds: int = 2, after: Any = None
    ) -> tuple[Any, Any, list[int]]:
        """Claim rounds 1..`rounds`, or the chunk after the statement `after`."""
        tag = assignment_tag(chain.chain_id, market.address, query, 0, node.address)
        prev, w = rng.randrange(FIELD), rng.randrange(1, FIELD)
        if after is None:
            statement = _zk.Statement.make(tag, rounds, prev, w)
        else:
            statement = after.then(rounds, prev, w)
        commitment = rng.randrange(FIELD)
        signature = RoundMessage(
            query,
            0,
            node.address,
            rounds,
            commitment,
            statement.input_transcript,
            statement.prev_output_transcript,
        ).sign(domain, session)
        proof = circuit.prove(statement)
        receipt = market.claim(
            query,
            0,
            rounds,
            commitment,
            statement.input_transcript,
            statement.prev_output_transcript,
            statement.output_transcript,
            statement.start_input_transcript,
            statement.start_output_transcript,
            signature,
            proof,
            sender=node,
        )
        return receipt, statement, proof

    first_one, query_a, session_a = request(one_part, [[nodes[0]]])
    later_one, query_b, session_b = request(one_part, [[nodes[0]]])
    two, _, _ = request(two_parts, [[nodes[0], nodes[1]], [nodes[2]]])
    k2_no_rule, _, _ = request(one_part_k2, [[nodes[0], nodes[1]]])
    k2_rule, _, _ = request(one_part_k2_rule, [[nodes[0], nodes[1]]], prove=True)
    first_claim, _, _ = claim(query_a, session_a, nodes[0])
    later_claim, statement, proof = claim(query_b, session_b, nodes[0])
    floor = verifier.verifyProof.transact(proof, statement.public_inputs, sender=owner).gas_used
    _, query_c, session_c = request(chunked, [[nodes[0]]], budget=4)
    first_chunk, first_statement, _ = claim(query_c, session_c, nodes[0], 2)
    next_chunk, chunk_statement, chunk_proof = claim(
        query_c, session_c, nodes[0], 4, after=first_statement
    )
    chunk_floor = verifier.verifyProof.transact(
        chunk_proof, chunk_statement.public_inputs, sender=owner
    ).gas_used
    # every assignment of query b is claimed: it settles at once, summing credits and cuts
    settle = market.settle(query_b, sender=user)

    contributors = [a.address for a in test_accounts[7:10]] + [
        f"0x{rng.getrandbits(160):040x}" for _ in range(13)
    ]
    tree = RewardTree.of((c, (i + 1) * ETHER) for i, c in enumerate(contributors))
    token.transfer(rewards, tree.total, sender=owner)
    rewards.setAggregator(owner, True, sender=owner)
    epoch = rewards.postEpoch(tree.root, tree.total, sender=owner).events[0].epoch
    claimant, amount = tree.entries[0]
    reward = rewards.claim(epoch, claimant, amount, tree.proof(claimant, amount), sender=owner)

    return {
        "network": f"{chain.provider.network.ecosystem.name}:{chain.provider.network.name}:"
        f"{chain.provider.name}",
        "verifierFactory.deploy": factory_receipt.gas_used,
        "requestQuery": {
            "one_part_k1_first": first_one.gas_used,
            "one_part_k1_later": later_one.gas_used,
            "two_parts_k2_k1": two.gas_used,
            "one_part_k2_no_rule": k2_no_rule.gas_used,
            "one_part_k2_validity_proof": k2_rule.gas_used,
            "validity_verifier_frame": _verifier_gas(k2_rule, validity_verifier),
        },
        "claim": {
            "public_inputs": 8,
            "first_claim_of_market": first_claim.gas_used,
            "later_claim": later_claim.gas_used,
            "verifier_frame": _verifier_gas(later_claim, verifier.address),
            "raw_verifyProof_transaction": floor,
            "later_claim_over_floor": round(later_claim.gas_used / floor, 3),
            "target_over_floor": 1.3,
        },
        "chunked_claim": {
            "max_rounds": 2,
            "budget": 4,
            "first_chunk": first_chunk.gas_used,
            "continuation_chunk": next_chunk.gas_used,
            "raw_verifyProof_transaction": chunk_floor,
            "first_chunk_over_floor": round(first_chunk.gas_used / chunk_floor, 3),
            "continuation_chunk_over_floor": round(next_chunk.gas_used / chunk_floor, 3),
        },
        "settle": {"one_part_k1_claimed": settle.gas_used},
        "rewardClaim": {
            "leaves": len(contributors),
            "proof_length": len(tree.proof(claimant, amount)),
            "gas": reward.gas_used,
        },
    }


def main() -> None:
    click.echo(json.dumps(measure(), indent=2))
