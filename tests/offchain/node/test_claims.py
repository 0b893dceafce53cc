"""Claims (PROTOCOL.md v2 step 4): one real Groth16 proof of all of an assignment's rounds, sent
with the user's Round for n, verified by the on-chain Groth16Verifier and paid. Real anvil, Redis
and proofs; the node's round logic in this process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from zkai.chain.client import ChainClient
from zkai.errors import ContractRevertError
from zkai.localnet_state import anvil_account
from zkai.node.chainview import ChainView
from zkai.node.claims import ClaimProcessor
from zkai.node.endpoint import create_endpoint
from zkai.node.keys import UnlockedNode
from zkai.node.rounds import RoundService
from zkai.protocol.market import transcript_hash

from .conftest import PRICE, Network
from .localchain import UserQuery, increase_time


@pytest.fixture
def node(network: Network) -> UnlockedNode:
    return network.new_node()


@pytest.fixture
def service(network: Network, node: UnlockedNode, tmp_path: Path) -> RoundService:
    return network.service(node, tmp_path / "rounds.sqlite3")


@pytest.fixture
def claims(network: Network, service: RoundService, redis_client: redis.Redis) -> ClaimProcessor:
    return ClaimProcessor(
        service.node, ChainView(network.chain), service.store, service.parts, redis_client
    )


def _balance(chain: ChainClient, address: str) -> int:
    return int(chain.contract("ZKAIToken").functions.balanceOf(address).call())


def _keys(network: Network, node: UnlockedNode) -> dict[str, bytes]:
    record = network.chain.contract("NodeRegistry").functions.getNode(node.address).call()
    return {node.address: bytes(record[0])}


def _serve_rounds(
    network: Network, node: UnlockedNode, service: RoundService, user: UserQuery, rounds: int
) -> list[dict[str, Any]]:
    """Deal, request (after round 1 is dealt) and serve `rounds` rounds; the node's answers."""
    client = TestClient(create_endpoint(service))
    answers = []
    for i in range(1, rounds + 1):
        (sent,) = user.deal(i, [i, 2 * i, 3 * i], _keys(network, node))
        if i == 1:
            user.request(round_s=120, proof_s=120)
        response = client.post("/v2/rounds", content=json.dumps(sent.body))
        assert response.status_code == 200, response.json()
        answer = response.json()
        user.accept(node.address, sent, [int(v, 16) for v in answer["outputs"]])
        answers.append(answer)
    return answers


def _assignment(chain: ChainClient, user: UserQuery, node: UnlockedNode) -> Any:
    return chain.contract("QueryMarket").functions.getAssignment(user.query, 0, node.address).call()


def _expected_payout(chain: ChainClient, credit: int) -> int:
    market = chain.contract("QueryMarket")
    query_bps = (500, 1_000)  # the deployment's protocol and contributor cuts
    del market
    return credit - credit * query_bps[0] // 10_000 - credit * query_bps[1] // 10_000


def test_claim_full_budget_is_proven_and_paid(
    network: Network, node: UnlockedNode, service: RoundService, claims: ClaimProcessor
) -> None:
    user = network.user_query([node], budget=3)
    answers = _serve_rounds(network, node, service, user, 3)
    before = _balance(network.chain, node.address)
    assert claims.process(user.query, 0) == "claimed"
    record = _assignment(network.chain, user, node)
    assert record[2] == 3  # rounds
    t_3 = user.pending[3][0].message.input_transcript
    o_3 = int(answers[-1]["output_transcript"], 16)
    assert bytes(record[9]) == transcript_hash(t_3, o_3)  # keccak256(T_n, O_n)
    assert record[5]  # finalised: the budget is used
    assert _balance(network.chain, node.address) - before == _expected_payout(
        network.chain, 3 * PRICE
    )
    assert claims.process(user.query, 0) == "already_claimed"


def test_claim_user_stops_after_round_one_paid_for_one_not_slashable(
    network: Network, node: UnlockedNode, service: RoundService, claims: ClaimProcessor
) -> None:
    user = network.user_query([node], budget=3)
    (answer,) = _serve_rounds(network, node, service, user, 1)
    assert claims.process(user.query, 0) == "not_due"  # round 2 may still come
    increase_time(network.chain, 121)  # past t_R
    before = _balance(network.chain, node.address)
    assert claims.process(user.query, 0) == "claimed"
    assert _assignment(network.chain, user, node)[2] == 1
    assert _balance(network.chain, node.address) - before == _expected_payout(network.chain, PRICE)
    increase_time(network.chain, 121)  # past t_P: the challenge window is open
    market = network.chain.contract("QueryMarket")
    t_1 = user.pending[1][0].message.input_transcript
    with pytest.raises(ContractRevertError) as refused:
        network.chain.transact(
            anvil_account(3),
            market.functions.slash(
                user.query,
                0,
                node.address,
                1,
                t_1,
                int(answer["output_transcript"], 16),
                bytes.fromhex(answer["ack"][2:]),
            ),
        )
    assert refused.value.error == "NotSlashable"


def test_claim_unserved_assignment_is_not_due(
    network: Network, node: UnlockedNode, claims: ClaimProcessor
) -> None:
    user = network.user_query([node], budget=1)
    assert claims.process(user.query, 0) == "not_due"


def test_claim_after_proof_deadline_expires(
    network: Network, node: UnlockedNode, service: RoundService, claims: ClaimProcessor
) -> None:
    user = network.user_query([node], budget=2)
    _serve_rounds(network, node, service, user, 1)
    increase_time(network.chain, 300)
    assert claims.process(user.query, 0) == "expired"
    assert _assignment(network.chain, user, node)[2] == 0
