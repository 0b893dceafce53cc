"""The REST API against a real anvil with real events: every number is checked on the chain."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from zkai.api import db
from zkai.api.indexer import Indexer
from zkai.rewards import RewardTree

from .conftest import LiveServer, api_settings, wait_for


def _wei(amount: dict[str, str]) -> int:
    return int(amount["wei"])


def test_stats_totals_match_chain(client, network):
    stats = client.get("/api/stats").json()
    stakes = [network.registry.getNode(n).stake for n in network.nodes]
    assert _wei(stats["total_staked"]) == sum(stakes)
    assert stats["queries"] == 2
    assert stats["queries_complete"] == 1
    payout = network.market.shareSplit(1)[0]
    assert _wei(stats["node_earnings"]) == 5 * payout
    assert _wei(stats["node_payouts"]) == 2 * payout
    assert _wei(stats["fees_paid"]) == 2 * 3 * 10**18
    assert _wei(stats["rewards_distributed"]) == 5 * 10**18
    gases = [r.gas_used for r in network.submit_receipts.values()]
    assert stats["mean_verification_gas"] == sum(gases) // len(gases)


def test_token_supply_and_treasury_match_chain(client, network):
    token = client.get("/api/token").json()
    assert _wei(token["total_supply"]) == network.token.totalSupply()
    treasury = network.market.treasury()
    assert token["treasury"] == treasury
    assert _wei(token["treasury_balance"]) == network.token.balanceOf(treasury)
    assert _wei(token["market_escrow"]) == network.token.balanceOf(network.market)
    assert _wei(token["staked"]) == network.token.balanceOf(network.registry)
    assert _wei(token["rewards_pool_balance"]) == network.token.balanceOf(network.rewards)
    assert token["total_supply"]["tokens"] == str(network.token.totalSupply() // 10**18)


def test_nodes_stake_earnings_and_claims_match_chain(client, network):
    page = client.get("/api/nodes").json()
    assert page["total"] == 3
    payout = network.market.shareSplit(1)[0]
    by_address = {n["address"]: n for n in page["items"]}
    for index, account in enumerate(network.nodes):
        node = by_address[account.address]
        assert _wei(node["stake"]) == network.registry.getNode(account).stake
        assert node["status"] == "active"
        proven = 2 if index < 2 else 1
        assert node["queries_served"] == proven
        assert _wei(node["earned"]) == proven * payout
        assert _wei(node["paid"]) == (2 * payout if index == 0 else 0)
        assert _wei(node["unclaimed"]) == _wei(node["earned"]) - _wei(node["paid"])
    shares = client.get(f"/api/nodes/{network.nodes[0].address.lower()}/shares").json()
    assert [s["status"] for s in shares["items"]] == ["paid", "paid"]
    assert client.get(f"/api/nodes/{network.nodes[0].address}/slashes").json()["total"] == 0


def test_queries_status_shares_gas_and_latency(client, network, chain):
    complete = client.get("/api/queries/1").json()
    assert complete["status"] == "complete"
    assert complete["shares_submitted"] == 3
    for share in complete["shares"]:
        receipt = network.submit_receipts[(1, share["share_index"])]
        assert share["gas_used"] == receipt.gas_used
        assert share["submit_tx"] == receipt.txn_hash
    started = chain.blocks[complete["requested_block"]].timestamp
    last = max(
        chain.blocks[network.submit_receipts[(1, i)].block_number].timestamp for i in range(3)
    )
    assert complete["latency_seconds"] == last - started
    pending = client.get("/api/queries/2").json()
    assert pending["status"] == "pending"
    assert [s["status"] for s in pending["shares"]] == ["paid", "submitted", "pending"]
    assert client.get("/api/queries?status=complete").json()["total"] == 1
    assert client.get(f"/api/queries?user={network.user.address}").json()["total"] == 2


def test_contributors_rewards_and_claim_status_match_chain(client, network):
    tree = network.trees[0]
    claimed_account, claimed_amount = tree.entries[0]
    open_account, open_amount = tree.entries[1]
    assert network.rewards.isClaimed(1, claimed_account, claimed_amount)
    assert not network.rewards.isClaimed(1, open_account, open_amount)
    first = client.get(f"/api/contributors/{claimed_account}").json()
    assert first["rewards"][0]["status"] == "claimed"
    assert _wei(first["claimed"]) == claimed_amount
    second = client.get(f"/api/contributors/{open_account}").json()
    assert _wei(second["unclaimed"]) == open_amount
    assert second["rewards"][0]["status"] == "unclaimed"
    epoch = client.get("/api/epochs/1").json()
    assert _wei(epoch["total"]) == network.rewards.getEpoch(1).total
    assert _wei(epoch["claimed"]) == network.rewards.getEpoch(1).claimed
    assert epoch["distribution_known"] is True


def test_distribution_rebuilds_the_epochs_on_chain_root(client, network):
    body = client.get("/api/epochs/1/distribution").json()
    entries = [(e["contributor"], _wei(e["amount"])) for e in body["entries"]]
    assert sorted(entries) == sorted(network.trees[0].entries)
    assert RewardTree.of(entries).root == bytes(network.rewards.getEpoch(1).root)
    assert body["root"] == "0x" + network.trees[0].root.hex()


def test_models_and_versions(client, network):
    model = client.get(f"/api/models/{network.model_id}").json()
    assert model["current"]["shares"] == 3
    assert _wei(model["current"]["price_per_query"]) == 3 * 10**18
    assert model["queries"] == 2
    assert len(client.get(f"/api/models/{network.model_id}/versions").json()) == 1


def test_accountLookup_covers_every_role(client, network):
    node = client.get(f"/api/accounts/{network.nodes[0].address}").json()
    assert node["node"]["queries_served"] == 2
    assert _wei(node["balance"]) == network.token.balanceOf(network.nodes[0])
    user = client.get(f"/api/accounts/{network.user.address.lower()}").json()
    assert user["queries_made"] == 2


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/nodes/0x1234", 422),
        ("/api/nodes/0xZZ00000000000000000000000000000000000000", 422),
        ("/api/nodes/0x000000000000000000000000000000000000dEaD", 404),
        ("/api/accounts/0x000000000000000000000000000000000000dEaD", 404),
        ("/api/contributors/0x000000000000000000000000000000000000dEaD", 404),
        ("/api/queries/999", 404),
        ("/api/queries/0", 422),
        ("/api/models/77", 404),
        ("/api/epochs/9", 404),
        ("/api/epochs/9/distribution", 404),
        ("/api/manifests/0x" + "ab" * 32, 404),
        ("/api/manifests/0x1234", 422),
        ("/api/training/rounds/no-such-round", 404),
        ("/api/training/rounds/bad%20id", 422),
        ("/api/training/rounds?state=lost", 422),
        ("/api/nodes?limit=0", 422),
        ("/api/nodes?limit=201", 422),
        ("/api/nodes?offset=-1", 422),
        ("/api/queries?status=lost", 422),
        ("/api/queries?user=alice", 422),
    ],
)
def test_badInput_clear4xx(client, path, status):
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_openapi_only_reads_but_the_training_upload(client):
    schema = client.get("/openapi.json").json()
    writes = {(path, m) for path, ops in schema["paths"].items() for m in ops if m != "get"}
    # Uploading an encrypted training update moves no funds and needs no key but the signature.
    assert writes == {("/api/training/rounds/{round_id}/updates", "post")}
    assert client.post("/api/stats").status_code == 405


def test_pagination_pages_through_everything(client):
    first = client.get("/api/nodes?limit=2").json()
    second = client.get("/api/nodes?limit=2&offset=2").json()
    assert (first["total"], len(first["items"]), len(second["items"])) == (3, 2, 1)
    assert {n["address"] for n in first["items"]}.isdisjoint(n["address"] for n in second["items"])


def _snapshot(app) -> dict[str, object]:
    with app.state.zkai.sessions() as session:
        totals = {t.name: t.value for t in session.scalars(select(db.Total))}
        events = session.scalar(select(func.count()).select_from(db.RawEvent))
        nodes = {n.address: (n.stake, n.earned, n.paid) for n in session.scalars(select(db.Node))}
    return {"totals": totals, "events": events, "nodes": nodes}


def test_indexer_replay_from_start_is_idempotent(indexed_app, network):
    app, _ = indexed_app
    before = _snapshot(app)
    indexer: Indexer = app.state.zkai.indexer
    assert indexer.sync_once() == 0
    with app.state.zkai.sessions.begin() as session:
        session.get(db.IndexerState, 1).last_block = network.deployment().start_block - 1
    indexer.sync_once()
    assert _snapshot(app) == before


def test_indexer_new_instance_resumes_from_stored_cursor(indexed_app, network, chain):
    app, _ = indexed_app
    state = app.state.zkai
    cursor = state.indexer.cursor()
    network.request(chain)
    fresh = Indexer(state.indexer.client, state.sessions)
    assert fresh.cursor() == cursor
    assert fresh.sync_once() == chain.blocks.head.number - cursor
    with state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(db.Query)) == 3


def test_http_live_server_follows_chain(network, chain, tmp_path):
    """Over real HTTP (uvicorn), with the indexer thread of the app's lifespan."""
    from zkai.api.app import create_app

    app = create_app(
        api_settings(network, chain.provider.uri, tmp_path), deployment=network.deployment()
    )
    with LiveServer(app) as server:
        wait_for(
            lambda: (
                httpx.get(f"{server.url}/api/health").json()["indexed_block"]
                == chain.blocks.head.number
            ),
            what="the indexer to reach the head",
        )
        before = httpx.get(f"{server.url}/api/stats").json()["queries"]
        network.request(chain)
        wait_for(
            lambda: httpx.get(f"{server.url}/api/stats").json()["queries"] == before + 1,
            what="the new query to be indexed",
        )
        health = httpx.get(f"{server.url}/api/health").json()
        assert health["status"] == "ok"
        assert health["rpc_ok"]
        page = httpx.get(f"{server.url}/")
        assert page.status_code == 200
        assert "ZKAI network" in page.text
        assert httpx.get(f"{server.url}/static/app.js").status_code == 200
