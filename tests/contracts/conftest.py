"""Fixtures of the contract tests: roles, the deployed system, real circuits and a query factory.

Session-scoped fixtures deploy once per run; ape's isolation reverts every test's changes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.contracts.zk import Circuit, Share, load_circuit

ETHER = 10**18
SUPPLY_CAP = 10**9 * ETHER
INITIAL_SUPPLY = 10**8 * ETHER
MIN_STAKE = 1_000 * ETHER
UNBONDING_PERIOD = 7 * 24 * 3600
SLASH_AMOUNT = 100 * ETHER
PROTOCOL_FEE_BPS = 500
CONTRIBUTOR_FEE_BPS = 1_000
MAX_DEADLINE_WINDOW = 24 * 3600
CLAIM_WINDOW = 30 * 24 * 3600
SHARES = 3
PRICE = 3 * ETHER
USER_FUNDS = 1_000 * ETHER
NODE_FUNDS = 10_000 * ETHER


# ------------------------------------------------------------------ roles


@pytest.fixture(scope="session")
def owner(accounts):
    """Deployer and owner of every contract."""
    return accounts[0]


@pytest.fixture(scope="session")
def treasury(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def node_accounts(accounts):
    return [accounts[2], accounts[3], accounts[4]]


@pytest.fixture(scope="session")
def user(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def contributor(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def aggregator(accounts):
    return accounts[7]


@pytest.fixture(scope="session")
def model_owner(accounts):
    return accounts[8]


@pytest.fixture(scope="session")
def stranger(accounts):
    """An account with no role (and a spare node that did not register)."""
    return accounts[9]


# ------------------------------------------------------------------ contracts


@pytest.fixture(scope="session")
def token(project, owner):
    return project.ZKAIToken.deploy(owner, SUPPLY_CAP, owner, INITIAL_SUPPLY, sender=owner)


@pytest.fixture(scope="session")
def node_registry(project, owner, token, treasury):
    return project.NodeRegistry.deploy(
        owner, token, MIN_STAKE, UNBONDING_PERIOD, treasury, sender=owner
    )


@pytest.fixture(scope="session")
def model_registry(project, owner):
    return project.ModelRegistry.deploy(sender=owner)


@pytest.fixture(scope="session")
def rewards(project, owner, token, aggregator):
    contract = project.ContributorRewards.deploy(owner, token, CLAIM_WINDOW, sender=owner)
    contract.setAggregator(aggregator, True, sender=owner)
    return contract


@pytest.fixture(scope="session")
def deploy_market(project, owner, token, node_registry, model_registry, treasury, rewards):
    """Factory: a market with the default configuration, `overrides` applied by field name."""

    def deploy(**overrides):
        config: dict[str, Any] = {
            "owner": owner.address,
            "token": token.address,
            "nodeRegistry": node_registry.address,
            "modelRegistry": model_registry.address,
            "treasury": treasury.address,
            "rewardsPool": rewards.address,
            "protocolFeeBps": PROTOCOL_FEE_BPS,
            "contributorFeeBps": CONTRIBUTOR_FEE_BPS,
            "slashAmount": SLASH_AMOUNT,
            "maxDeadlineWindow": MAX_DEADLINE_WINDOW,
        }
        assert set(overrides) <= set(config), overrides
        config.update(overrides)
        return project.QueryMarket.deploy(tuple(config.values()), sender=owner)

    return deploy


@pytest.fixture(scope="session")
def market(deploy_market, node_registry, owner):
    contract = deploy_market()
    node_registry.setSlasher(contract, True, sender=owner)
    return contract


@pytest.fixture(scope="session")
def nodes(token, node_registry, node_accounts, owner):
    """Three registered nodes staked at twice the minimum."""
    for i, node in enumerate(node_accounts):
        token.transfer(node, NODE_FUNDS, sender=owner)
        token.approve(node_registry, 2**256 - 1, sender=node)
        node_registry.register(
            bytes([i + 1]) * 32, f"https://node{i}.example", 2 * MIN_STAKE, sender=node
        )
    return node_accounts


@pytest.fixture(scope="session")
def funded_user(token, user, owner, market):
    token.transfer(user, USER_FUNDS, sender=owner)
    token.approve(market, 2**256 - 1, sender=user)
    return user


# ------------------------------------------------------------------ circuits and models


@pytest.fixture(scope="session")
def circuit10() -> Circuit:
    """The 10-output test circuit (11 public inputs: the gas target's shape)."""
    return load_circuit("share_2x10.circom", 10)


@pytest.fixture(scope="session")
def circuit3() -> Circuit:
    return load_circuit("share_2x3.circom", 3)


@pytest.fixture(scope="session")
def deploy_verifier(owner, project):
    """Factory: the generated verifier of `circuit`, and its adapter."""

    def deploy(circuit: Circuit):
        verifier = owner.deploy(circuit.verifier_container())
        adapter = project.Groth16VerifierAdapter.deploy(verifier, circuit.outputs + 1, sender=owner)
        return verifier, adapter

    return deploy


@pytest.fixture(scope="session")
def verifier10(deploy_verifier, circuit10):
    return deploy_verifier(circuit10)


@pytest.fixture(scope="session")
def model10(model_registry, verifier10, model_owner):
    """Model id of a k=3, 10-output model priced PRICE, verified by the 10-output circuit."""
    _, adapter = verifier10
    receipt = model_registry.registerModel(
        adapter, b"\x42" * 32, 2, 10, SHARES, PRICE, sender=model_owner
    )
    return receipt.events.filter(model_registry.ModelRegistered)[0].modelId


@dataclass
class PlacedQuery:
    query_id: int
    shares: list[Share]
    nodes: list[Any]
    deadline: int
    receipt: Any


@pytest.fixture(scope="session")
def rng() -> random.Random:
    return random.Random(20261125)


@pytest.fixture
def place_query(
    market, funded_user, nodes, model10, circuit10, chain, rng
) -> Callable[..., PlacedQuery]:
    """Factory: request a query to the 10-output model with fresh random shares."""

    def place(
        *,
        sender=None,
        model_id: int | None = None,
        circuit: Circuit | None = None,
        node_list: Sequence[Any] | None = None,
        window: int = 3600,
    ) -> PlacedQuery:
        circuit = circuit or circuit10
        chosen = list(node_list or nodes)
        shares = [circuit.random_share(rng) for _ in chosen]
        deadline = chain.pending_timestamp + window
        receipt = market.requestQuery(
            model10 if model_id is None else model_id,
            chosen,
            [share.commitment for share in shares],
            [f"payload-{i}".encode() for i in range(len(chosen))],
            deadline,
            sender=sender or funded_user,
        )
        query_id = receipt.events.filter(market.QueryRequested)[0].queryId
        return PlacedQuery(query_id, shares, chosen, deadline, receipt)

    return place


def warp_to(chain, timestamp: int) -> None:
    """Mine a block at `timestamp` (or just after the head) so later transactions run after it."""
    chain.mine(timestamp=max(timestamp, chain.blocks.head.timestamp + 1))
