"""The REST API against a real anvil with real v2 events: every number is checked on the chain."""

from __future__ import annotations

import ape
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from zkai.api import db, repository
from zkai.api.indexer import Indexer
from zkai.models.demo import load_demo_manifest
from zkai.models.manifest import Manifest
from zkai.models.store import ManifestStore
from zkai.protocol.market import ValidityTerms, transcript_hash
from zkai.protocol.messages import AckMessage
from zkai.rewards import RewardTree

from .conftest import (
    BUDGETS,
    DEMO_MODEL,
    MAX_ROUNDS,
    PRICES,
    ROTATED_ENDPOINT,
    SHARES,
    LiveServer,
    api_settings,
    forwarder_bytecode,
    wait_for,
)

BPS = 10_000


def _wei(amount: dict[str, str]) -> int:
    return int(amount["wei"])


def _hex(query_id: bytes) -> str:
    return "0x" + query_id.hex()


def _payout(network, credit: int) -> int:
    protocol, contributor = network.market.fees()
    return credit - credit * protocol // BPS - credit * contributor // BPS


def _ids(network) -> list[bytes]:
    return list(network.queries)


def test_queries_status_follows_claims_and_settle(client, network):
    first, second, third = _ids(network)
    statuses = {q: client.get(f"/api/queries/{_hex(q)}").json()["status"] for q in _ids(network)}
    assert statuses == {first: "settled", second: "claiming", third: "requested"}
    assert network.market.getQuery(first).settled
    assert not network.market.getQuery(second).settled
    for status, total in (("settled", 1), ("claiming", 1), ("requested", 1), ("complete", 0)):
        assert client.get(f"/api/queries?status={status}").json()["total"] == total


def test_query_escrow_credits_refund_match_chain(client, network):
    for qid in _ids(network):
        body = client.get(f"/api/queries/{_hex(qid)}").json()
        record = network.market.getQuery(qid)
        assert body["query_id"] == _hex(qid)
        assert _wei(body["escrow"]) == record.escrow
        assert _wei(body["credits"]) == record.credits
        assert (body["round_deadline"], body["proof_deadline"], body["challenge_deadline"]) == (
            record.roundDeadline,
            record.proofDeadline,
            record.challengeDeadline,
        )
        assert body["session_key"] == record.sessionKey
        assert (body["protocol_bps"], body["contributor_bps"]) == (
            record.protocolBps,
            record.contributorBps,
        )
        assert _wei(body["slash_amount"]) == record.slashAmount
        assert body["parts"] == record.partCount == 2
        assert body["request_gas"] == network.request_receipts[qid].gas_used
    first = network.queries[_ids(network)[0]][0].query_id
    settled = client.get(f"/api/queries/{_hex(first)}").json()
    record = network.market.getQuery(first)
    assert _wei(settled["refund"]) == record.escrow - record.credits > 0


def test_query_assignments_match_chain(client, network, chain):
    for qid, known in network.queries.items():
        body = client.get(f"/api/queries/{_hex(qid)}").json()
        assert [(a["part"], a["node"]) for a in body["assignments"]] == [
            (a.part, a.node.address) for a in known
        ]
        for a in body["assignments"]:
            record = network.market.getAssignment(qid, a["part"], a["node"])
            assert a["budget"] == record.budget == BUDGETS[a["part"]]
            assert _wei(a["price_per_round"]) == record.price == PRICES[a["part"]]
            receipt = network.claim_receipts.get((qid, a["part"], a["node"]))
            if receipt is None:
                assert (a["status"], a["rounds"], _wei(a["credit"])) == ("assigned", None, 0)
                continue
            assert a["status"] == "claimed"
            assert a["rounds"] == record.rounds
            # the chain keeps keccak256(T_n, O_n); the API shows T_n and O_n from `Claimed`
            assert bytes(record.transcriptHash) == transcript_hash(
                int(a["input_transcript"]), int(a["output_transcript"])
            )
            assert _wei(a["credit"]) == record.rounds * record.price
            assert _wei(a["payout"]) == _payout(network, record.rounds * record.price)
            assert a["claim_tx"] == receipt.txn_hash
            assert a["claim_gas"] == receipt.gas_used
            assert a["claimed_at"] == chain.blocks[receipt.block_number].timestamp
        first_part = [a for a in body["assignments"] if a["part"] == 0]
        assert [int(a["first_commitment"]) for a in first_part] == [
            k.commitment for k in known if k.part == 0
        ]


def _assert_acks_as_sent(network, chain, qid: bytes, part: int, node, slash: dict) -> None:
    """The indexed Ack(s) of a slash equal what its transaction sent, and each recovers to the
    ack signer the market recorded for the assignment."""
    sent = network.sent_acks[(qid, part, node.address)]
    shown = [slash["ack"]] + ([slash["second_ack"]] if slash["second_ack"] else [])
    recorded = network.market.getAssignment(qid, part, node).ackSigner
    assert [
        (
            ack["round"],
            int(ack["input_transcript"]),
            int(ack["output_transcript"]),
            ack["signature"],
            ack["signer"],
        )
        for ack in shown
    ] == [
        (a.round, a.input_transcript, a.output_transcript, "0x" + a.signature.hex(), a.signer)
        for a in sent
    ]
    assert {ack["signer"] for ack in shown} == {recorded}
    domain = network.domain(chain)
    for ack in shown:
        message = AckMessage(
            qid,
            part,
            node.address,
            ack["round"],
            int(ack["input_transcript"]),
            int(ack["output_transcript"]),
        )
        assert message.signer(domain, bytes.fromhex(ack["signature"][2:])) == recorded


def test_query_slashed_assignment_shows_the_ack_that_justified_it(client, network, chain):
    second = _ids(network)[1]
    node = network.nodes[1]
    body = client.get(f"/api/queries/{_hex(second)}").json()
    slashed = [a for a in body["assignments"] if a["slash"] is not None]
    assert [(a["part"], a["node"]) for a in slashed] == [(0, node.address)]
    (a,) = slashed
    assert network.market.getAssignment(second, 0, node).slashed
    slash = a["slash"]
    receipt = network.slash_receipts[(second, 0, node.address)]
    assert (slash["round"], slash["reason"], slash["tx"]) == (1, "no-claim", receipt.txn_hash)
    assert _wei(slash["amount"]) == network.market.getQuery(second).slashAmount
    assert (slash["evidence"], slash["evidence_detail"], slash["second_ack"]) == ("ack", None, None)
    _assert_acks_as_sent(network, chain, second, 0, node, slash)
    assert network.market.getAssignment(second, 0, node).ackSigner == network.ack_signers[1].address
    unslashed = [a["slash"] for a in body["assignments"] if a["node"] != node.address]
    assert unslashed == [None] * (len(body["assignments"]) - 1)
    slashes = client.get(f"/api/nodes/{node.address}/slashes").json()
    assert slashes["total"] == 1
    assert slashes["items"][0]["reason"] == _hex(second)


def test_node_assignments_show_each_slash_with_its_ack(client, network, chain):
    second = _ids(network)[1]
    node = network.nodes[1]
    page = client.get(f"/api/nodes/{node.address}/assignments").json()
    assert page["total"] == len(network.queries)
    by_query = {a["query_id"]: a for a in page["items"]}
    detail = client.get(f"/api/queries/{_hex(second)}").json()
    (expected,) = [a for a in detail["assignments"] if a["node"] == node.address]
    assert by_query[_hex(second)]["slash"] == expected["slash"]
    _assert_acks_as_sent(network, chain, second, 0, node, by_query[_hex(second)]["slash"])
    assert [q for q, a in by_query.items() if a["slash"] is not None] == [_hex(second)]


def test_queries_filter_by_user_model_node(client, network):
    everything = client.get("/api/queries").json()
    assert everything["total"] == 3
    assert [q["query_id"] for q in everything["items"]] == [_hex(q) for q in _ids(network)[::-1]]
    assert client.get(f"/api/queries?user={network.user.address.lower()}").json()["total"] == 3
    assert client.get(f"/api/queries?user={network.owner.address}").json()["total"] == 0
    assert client.get(f"/api/queries?model_id={network.model_id}").json()["total"] == 3
    assert client.get(f"/api/queries?model_id={network.model_id + 1}").json()["total"] == 0
    served = client.get(f"/api/queries?node={network.nodes[2].address}&status=settled").json()
    assert [q["query_id"] for q in served["items"]] == [_hex(_ids(network)[0])]
    page = client.get("/api/queries?limit=2&offset=2").json()
    assert (page["total"], len(page["items"])) == (3, 1)


def test_nodes_endpoint_parts_stake_claims_earnings_match_chain(client, network):
    page = client.get("/api/nodes").json()
    assert page["total"] == 3
    by_address = {n["address"]: n for n in page["items"]}
    for index, account in enumerate(network.nodes):
        node = by_address[account.address]
        record = network.registry.getNode(account)
        assert _wei(node["stake"]) == record.stake
        assert node["endpoint"] == record.endpoint
        assert node["metadata_uri"] == record.metadataURI
        assert node["ack_signer"] == record.ackSigner == network.ack_signers[index].address
        assert node["encryption_key"] == "0x" + bytes(record.encryptionKey).hex()
        hosted = [(p["model_id"], p["part"]) for p in node["parts"]]
        assert hosted == [
            (network.model_id, p)
            for p in range(2)
            if network.registry.hostsPart(account, network.model_id, p)
        ]
        claims = [(q, p) for (q, p, n) in network.claim_receipts if n == account.address]
        credits = [
            network.market.getAssignment(q, p, account).rounds * PRICES[p] for q, p in claims
        ]
        assert node["claims"] == len(claims)
        assert _wei(node["credited"]) == sum(credits)
        assert _wei(node["earnings"]) == sum(_payout(network, c) for c in credits)
    rotated = by_address[network.nodes[0].address]
    assert (rotated["endpoint"], rotated["encryption_key"]) == (ROTATED_ENDPOINT, "0x" + "09" * 32)
    assert [p["part"] for p in by_address[network.nodes[2].address]["parts"]] == [1]
    assert by_address[network.nodes[1].address]["slash_count"] == 1
    assert _wei(by_address[network.nodes[1].address]["slashed"]) == network.market.slashAmount()
    assignments = client.get(f"/api/nodes/{network.nodes[0].address.lower()}/assignments").json()
    assert assignments["total"] == 3
    assert [a["query_id"] for a in assignments["items"]] == [_hex(q) for q in _ids(network)[::-1]]


def test_models_versions_with_parts_match_chain(client, network, project):
    model = client.get(f"/api/models/{network.model_id}").json()
    record = network.models.getModel(network.model_id)
    assert (model["owner"], model["active"]) == (record.owner, record.active)
    assert model["current_version"] == record.currentVersion == 1
    assert model["metadata_uri"] == "ipfs://zkai-test-model"
    version = model["current"]
    assert version["part_count"] == network.models.getVersion(network.model_id, 1).partCount
    manifest = load_demo_manifest(DEMO_MODEL)
    assert version["manifest_hash"] == manifest.hash_hex
    served = client.get(f"/api/manifests/{version['manifest_hash']}")
    assert served.status_code == 200
    assert Manifest.from_json(served.content).hash == manifest.hash
    assert len(manifest.parts) == version["part_count"]
    for part in version["parts"]:
        terms = network.models.getPart(network.model_id, 1, part["part"])
        assert part["verifier"] == terms.verifier
        assert _wei(part["price_per_round"]) == terms.price == PRICES[part["part"]]
        assert part["shares"] == terms.shares == SHARES[part["part"]]
        assert part["max_rounds"] == terms.maxRounds == MAX_ROUNDS
        assert part["min_proof_window"] == terms.minProofWindow
        assert part["key_hash"] == "0x" + bytes(terms.keyHash).hex()
        verifier = project.Groth16Verifier.at(terms.verifier)
        assert part["verifier_vk_hash"] == "0x" + bytes(verifier.vkHash()).hex()
        assert part["key_matches"] is True
    assert model["queries"] == 3
    assert client.get(f"/api/models/{network.model_id}/versions").json() == model["versions"]
    assert client.get("/api/models").json()["items"] == [model]


def test_stats_totals_match_chain(client, network):
    stats = client.get("/api/stats").json()
    stakes = [network.registry.getNode(n).stake for n in network.nodes]
    assert _wei(stats["total_staked"]) == sum(stakes)
    assert (stats["queries"], stats["queries_settled"], stats["assignments"]) == (3, 1, 9)
    assert stats["claims"] == len(network.claim_receipts)
    records = [network.market.getQuery(q) for q in _ids(network)]
    assert _wei(stats["escrowed"]) == sum(r.escrow for r in records)
    assert _wei(stats["credits"]) == sum(r.credits for r in records)
    credits = [
        network.market.getAssignment(*key).rounds * PRICES[key[1]] for key in network.claim_receipts
    ]
    assert _wei(stats["node_earnings"]) == sum(_payout(network, c) for c in credits)
    protocol_bps, _ = network.market.fees()
    assert _wei(stats["protocol_fees"]) == sum(c * protocol_bps // BPS for c in credits)
    assert _wei(stats["contributor_cuts"]) == sum(
        c - _payout(network, c) - c * protocol_bps // BPS for c in credits
    )
    # on chain, a query's cuts accrue when it settles: the accrued fees are the settled query's
    settled = [
        network.market.getAssignment(*key).rounds * PRICES[key[1]]
        for key in network.claim_receipts
        if network.market.getQuery(key[0]).settled
    ]
    assert settled
    accrued = network.market.accruedFees()
    assert accrued[0] == sum(c * protocol_bps // BPS for c in settled)
    assert sum(accrued) == sum(c - _payout(network, c) for c in settled)
    assert _wei(stats["refunds"]) == records[0].escrow - records[0].credits
    assert _wei(stats["slashed"]) == network.market.slashAmount()
    assert _wei(stats["rewards_distributed"]) == 5 * 10**18
    gases = [r.gas_used for r in network.claim_receipts.values()]
    assert stats["mean_verification_gas"] == sum(gases) // len(gases)


def test_stats_conservation_per_query_escrow_is_payouts_cuts_refund(client, network):
    for qid in _ids(network):
        body = client.get(f"/api/queries/{_hex(qid)}").json()
        payouts = sum(_wei(a["payout"]) for a in body["assignments"])
        credits = sum(_wei(a["credit"]) for a in body["assignments"])
        assert credits == _wei(body["credits"])
        cuts = credits - payouts
        if body["status"] == "settled":
            assert _wei(body["escrow"]) == payouts + cuts + _wei(body["refund"])


def test_timeseries_counts_queries_escrow_and_claims(client, network):
    series = client.get("/api/stats/timeseries?bucket_seconds=31536000").json()
    (bucket,) = series["buckets"]
    assert bucket["queries"] == 3
    assert _wei(bucket["fees"]) == sum(network.market.getQuery(q).escrow for q in _ids(network))
    assert bucket["verifications"] == len(network.claim_receipts)
    gases = [r.gas_used for r in network.claim_receipts.values()]
    assert bucket["mean_verification_gas"] == sum(gases) // len(gases)


def test_token_supply_and_treasury_match_chain(client, network):
    token = client.get("/api/token").json()
    assert _wei(token["total_supply"]) == network.token.totalSupply()
    treasury = network.market.treasury()
    assert token["treasury"] == treasury
    assert _wei(token["treasury_balance"]) == network.token.balanceOf(treasury)
    assert _wei(token["market_escrow"]) == network.token.balanceOf(network.market)
    assert _wei(token["staked"]) == network.token.balanceOf(network.registry)
    assert _wei(token["rewards_pool_balance"]) == network.token.balanceOf(network.rewards)


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


def test_account_lookup_covers_every_role(client, network):
    node = client.get(f"/api/accounts/{network.nodes[0].address}").json()
    assert node["node"]["claims"] == 2
    assert _wei(node["balance"]) == network.token.balanceOf(network.nodes[0])
    user = client.get(f"/api/accounts/{network.user.address.lower()}").json()
    assert user["queries_made"] == 3
    owner = client.get(f"/api/accounts/{network.owner.address}").json()
    assert owner["models_owned"] == [network.model_id]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/nodes/0x1234", 422),
        ("/api/nodes/0xZZ00000000000000000000000000000000000000", 422),
        ("/api/nodes/0x000000000000000000000000000000000000dEaD", 404),
        ("/api/nodes/0x000000000000000000000000000000000000dEaD/assignments", 404),
        ("/api/accounts/0x000000000000000000000000000000000000dEaD", 404),
        ("/api/contributors/0x000000000000000000000000000000000000dEaD", 404),
        ("/api/queries/0x" + "ab" * 32, 404),
        ("/api/queries/1", 422),
        ("/api/queries/0x" + "ab" * 31, 422),
        ("/api/queries/0x" + "zz" * 32, 422),
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
        ("/api/queries?status=pending", 422),
        ("/api/queries?user=alice", 422),
        ("/api/queries?node=0x12", 422),
    ],
)
def test_bad_input_clear_4xx(client, path, status):
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_query_id_any_letter_case_finds_the_query(client, network):
    qid = _hex(_ids(network)[0])
    upper = "0x" + qid[2:].upper()
    assert client.get(f"/api/queries/{upper}").json()["query_id"] == qid


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
        nodes = {
            n.address: (n.stake, n.earned, n.claims, n.slashed)
            for n in session.scalars(select(db.Node))
        }
        assignments = {
            (a.query_id, a.part, a.node): (a.rounds, a.credit, a.payout, a.slashed)
            for a in session.scalars(select(db.Assignment))
        }
        acks = {
            (k.query_id, k.part, k.node, k.position): (k.round, k.signature, k.signer)
            for k in session.scalars(select(db.SlashAck))
        }
    assert acks, "the scenario's slash has its Ack indexed"
    return {
        "totals": totals,
        "events": events,
        "nodes": nodes,
        "assignments": assignments,
        "acks": acks,
    }


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
        assert session.scalar(select(func.count()).select_from(db.Query)) == 4
        assert session.scalar(select(func.count()).select_from(db.Assignment)) == 12


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
        qid = network.request(chain)
        wait_for(
            lambda: httpx.get(f"{server.url}/api/stats").json()["queries"] == before + 1,
            what="the new query to be indexed",
        )
        network.claim(chain, qid, 1, network.nodes[2], 2)
        wait_for(
            lambda: (
                httpx.get(f"{server.url}/api/queries/{_hex(qid)}").json()["status"] == "claiming"
            ),
            what="the new claim to be indexed",
        )
        health = httpx.get(f"{server.url}/api/health").json()
        assert health["status"] == "ok"
        assert health["rpc_ok"]
        page = httpx.get(f"{server.url}/")
        assert page.status_code == 200
        assert "ZKAI network" in page.text
        assert httpx.get(f"{server.url}/static/app.js").status_code == 200


def test_indexer_equivocation_slash_shows_both_acks(network, chain, tmp_path):
    """Two Acks of one round with different transcripts: slashed at once (reason 4), and both
    Acks are indexed as sent. On an index of its own: ape reverts the chain after each test, and
    the module's index has seen blocks of earlier tests that no longer exist."""
    from zkai.api.app import create_app

    qid = network.request(chain)
    node = network.nodes[2]
    acks = [network.sign_ack(chain, qid, 1, 2, 1, 10, output) for output in (11, 12)]
    receipt = network.slash_equivocation(chain, qid, 1, 2, acks)
    app = create_app(
        api_settings(network, chain.provider.uri, tmp_path),
        deployment=network.deployment(),
        run_indexer=False,
    )
    with TestClient(app) as client:
        app.state.zkai.indexer.sync_once()
        body = client.get(f"/api/queries/{_hex(qid)}").json()
        node_body = client.get(f"/api/nodes/{node.address}").json()
        served = client.get(f"/api/nodes/{node.address}/assignments").json()
    (slashed,) = [a for a in body["assignments"] if a["slash"] is not None]
    assert (slashed["part"], slashed["node"]) == (1, node.address)
    slash = slashed["slash"]
    assert (slash["round"], slash["reason"], slash["tx"]) == (1, "equivocation", receipt.txn_hash)
    assert slash["evidence"] == "equivocation"
    _assert_acks_as_sent(network, chain, qid, 1, node, slash)
    assert (slash["ack"]["output_transcript"], slash["second_ack"]["output_transcript"]) == (
        "11",
        "12",
    )
    assert _wei(slash["amount"]) == network.market.getQuery(qid).slashAmount
    assert network.market.getAssignment(qid, 1, node).slashed
    assert body["status"] == "requested"
    assert node_body["slash_count"] == 1
    assert _wei(node_body["stake"]) == network.registry.getNode(node).stake
    (mine,) = [a for a in served["items"] if a["query_id"] == _hex(qid)]
    assert mine["slash"] == slash


def test_indexer_slash_through_another_contract_has_its_evidence_unavailable(
    network, chain, tmp_path, project
):
    """A slash sent through a forwarding contract: the market accepts it (anyone may slash), but
    the transaction's calldata is the forwarder's, so the index records the slash with its
    evidence unavailable and says why; the indexer carries on."""
    from ape.contracts import ContractContainer
    from ethpm_types import ContractType

    from zkai.api.app import create_app

    qid = network.request(chain)
    node = network.nodes[0]
    bytecode = "0x" + forwarder_bytecode(network.market.address).hex()
    forwarder = network.owner.deploy(
        ContractContainer(
            ContractType(contractName="Forwarder", deploymentBytecode={"bytecode": bytecode})
        )
    )
    chain.pending_timestamp = network.market.getQuery(qid).proofDeadline + 1
    receipt = network.slash_unclaimed(chain, qid, 0, 0, via=forwarder)
    assert receipt.receiver == forwarder.address
    assert network.market.getAssignment(qid, 0, node).slashed
    app = create_app(
        api_settings(network, chain.provider.uri, tmp_path),
        deployment=network.deployment(),
        run_indexer=False,
    )
    with TestClient(app) as client:
        indexer: Indexer = app.state.zkai.indexer
        indexer.sync_once()
        body = client.get(f"/api/queries/{_hex(qid)}").json()
        head = chain.blocks.head.number
    assert indexer.status.last_block == head
    assert indexer.status.last_error is None
    (slashed,) = [a for a in body["assignments"] if a["slash"] is not None]
    slash = slashed["slash"]
    assert (slashed["part"], slashed["node"]) == (0, node.address)
    assert (slash["round"], slash["reason"], slash["tx"]) == (1, "no-claim", receipt.txn_hash)
    assert _wei(slash["amount"]) == network.market.getQuery(qid).slashAmount
    assert (slash["evidence"], slash["ack"], slash["second_ack"]) == ("unavailable", None, None)
    assert forwarder.address in slash["evidence_detail"]
    assert "not to the market" in slash["evidence_detail"]


def test_indexer_fees_swept_to_treasury_and_pool(network, chain, tmp_path):
    """sweepFees moves the accrued cuts: the token view follows, the cuts earned stay."""
    from zkai.api.app import create_app

    treasury, pool = network.market.treasury(), network.market.rewardsPool()
    accrued = network.market.accruedFees()  # the cuts of the settled query
    assert accrued[0] > 0
    credits = [
        network.market.getAssignment(*key).rounds * PRICES[key[1]] for key in network.claim_receipts
    ]
    protocol_bps, _ = network.market.fees()
    earned = sum(c * protocol_bps // BPS for c in credits)
    earned_cuts = sum(c - _payout(network, c) for c in credits)
    network.market.sweepFees(sender=network.owner)
    app = create_app(
        api_settings(network, chain.provider.uri, tmp_path),
        deployment=network.deployment(),
        run_indexer=False,
    )
    with TestClient(app) as client:
        app.state.zkai.indexer.sync_once()
        token = client.get("/api/token").json()
        stats = client.get("/api/stats").json()
    assert _wei(token["treasury_balance"]) == network.token.balanceOf(treasury)
    assert _wei(token["rewards_pool_balance"]) == network.token.balanceOf(pool)
    assert _wei(token["market_escrow"]) == network.token.balanceOf(network.market)
    assert network.market.accruedFees() == (0, 0)
    # the API's totals are the cuts every claim earned, swept or not
    assert (_wei(stats["protocol_fees"]), _wei(stats["contributor_cuts"])) == (
        earned,
        earned_cuts - earned,
    )


def test_models_parts_key_matches_its_verifier(network, chain, tmp_path):
    """Every indexed part's declared key hash is its verifier's (the registry refuses any other:
    tests/contracts/test_model_registry.py), and the API shows both."""
    from zkai.api.app import create_app

    terms = [list(t) for t in network.models.getParts(network.model_id, 1)]
    terms[1][7] = b"\x13" * 32  # part 1 declares a key its verifier was not deployed for
    with ape.reverts():
        network.models.publishVersion(
            network.model_id,
            b"\x24" * 32,
            [tuple(t) for t in terms],
            ValidityTerms.NONE.as_tuple(),
            sender=network.owner,
        )
    app = create_app(
        api_settings(network, chain.provider.uri, tmp_path),
        deployment=network.deployment(),
        run_indexer=False,
    )
    with TestClient(app) as client:
        app.state.zkai.indexer.sync_once()
        model = client.get(f"/api/models/{network.model_id}").json()
    assert model["current_version"] == 1
    assert [p["key_matches"] for p in model["current"]["parts"]] == [True, True]


def test_indexer_chunked_claims_sum_into_one_assignment(network, chain, tmp_path):
    """Part 0 (R_max 4, maxBudget 10) with a budget of 6, claimed in two chunks, 1..4 and 5..6:
    the assignment shows the latest rounds, the summed credit and payout, 2 claims, and is
    "claiming" until its final chunk; the query is complete only once every assignment is
    finalised. On an index of its own (ape reverts the chain after each test)."""
    from zkai.api.app import create_app

    qid = network.request(chain, budgets=(6, 2))
    node = network.nodes[0]
    app = create_app(
        api_settings(network, chain.provider.uri, tmp_path),
        deployment=network.deployment(),
        run_indexer=False,
    )
    with TestClient(app) as client:

        def mine() -> tuple[dict, dict]:
            app.state.zkai.indexer.sync_once()
            body = client.get(f"/api/queries/{_hex(qid)}").json()
            (a,) = [a for a in body["assignments"] if a["part"] == 0 and a["node"] == node.address]
            return body, a

        app.state.zkai.indexer.sync_once()
        node_before = client.get(f"/api/nodes/{node.address}").json()
        first = network.claim(chain, qid, 0, node, MAX_ROUNDS)  # a full chunk: not final
        body, a = mine()
        assert (a["status"], a["rounds"], a["claims"]) == ("claiming", MAX_ROUNDS, 1)
        assert body["status"] == "claiming"
        second = network.claim(chain, qid, 0, node, 6)  # rounds 5..6: the budget, final
        network.claim(chain, qid, 0, network.nodes[1], 2)  # a short first chunk: final
        body, a = mine()
        credits = [int(r.events.filter(network.market.Claimed)[0].credit) for r in (first, second)]
        assert credits == [MAX_ROUNDS * PRICES[0], (6 - MAX_ROUNDS) * PRICES[0]]
        assert (a["status"], a["rounds"], a["claims"]) == ("claimed", 6, 2)
        assert _wei(a["credit"]) == sum(credits)
        assert _wei(a["payout"]) == sum(_payout(network, c) for c in credits)
        assert a["claim_tx"] == second.txn_hash
        record = network.market.getAssignment(qid, 0, node)
        assert bytes.fromhex(
            transcript_hash(int(a["input_transcript"]), int(a["output_transcript"])).hex()
        ) == bytes(record.transcriptHash)
        assert (body["claimed_count"], body["status"]) == (2, "claiming")  # part 1 unclaimed
        node_after = client.get(f"/api/nodes/{node.address}").json()
        assert node_after["claims"] == node_before["claims"] + 1
        assert node_after["rounds_claimed"] == node_before["rounds_claimed"] + 6
        network.claim(chain, qid, 1, network.nodes[2], 2)
        body, _ = mine()
        assert body["status"] == "complete"
        model = client.get(f"/api/models/{network.model_id}").json()
    assert [p["max_budget"] for p in model["current"]["parts"]] == [10, 4]


def test_query_forward_passes_are_claimed_rounds_over_rounds_per_pass(
    indexed_app, network, tmp_path
):
    """forward_passes: over the parts, the least claimed rounds // the part's rounds per pass,
    from the manifest in the API's store (digits-mlp: 1 round per pass per part); None
    without the manifest or before any claim."""
    app, _ = indexed_app
    state = app.state.zkai
    store = ManifestStore(state.settings.manifests_path)
    manifest = load_demo_manifest("digits-mlp")
    assert store.get(manifest.hash) is not None
    with state.sessions() as session:
        page = repository.list_queries(session, 200, 0, manifests=store)
        bare = repository.list_queries(session, 200, 0, manifests=ManifestStore(tmp_path))
        assert {q.forward_passes for q in bare.items} == {None}
        assert {q.forward_passes for q in repository.list_queries(session, 200, 0).items} == {None}
        seen = set()
        for q in page.items:
            detail = repository.get_query(session, q.query_id, manifests=store)
            assert detail.forward_passes == q.forward_passes
            by_part: dict[int, list[int | None]] = {}
            for a in detail.assignments:
                by_part.setdefault(a.part, []).append(a.rounds)
            if all(r is None for rounds in by_part.values() for r in rounds):
                assert q.forward_passes is None
                continue
            expected = min(
                min(r or 0 for r in rounds) // manifest.rounds_per_pass(p)
                for p, rounds in by_part.items()
            )
            assert q.forward_passes == expected
            seen.add(expected)
            # a multi-round-per-pass manifest divides the same rounds
            rows = session.scalars(
                select(db.Assignment).where(db.Assignment.query_id == q.query_id)
            ).all()
            two = type(
                "TwoRoundsPerPass",
                (),
                {"parts": manifest.parts, "rounds_per_pass": lambda self, p: 2},
            )()
            assert repository.forward_passes(two, rows) == expected // 2
        assert seen, "some query has claimed rounds"
        # a claimed part the manifest does not have (the registry took more parts): None, not 400
        extra = type("Row", (), {"part": len(manifest.parts), "rounds": 3})()
        assert repository.forward_passes(manifest, [extra]) is None
    # over HTTP, the routes read the API's own manifest store
    with TestClient(app) as client:
        listed = {
            q["query_id"]: q["forward_passes"] for q in client.get("/api/queries").json()["items"]
        }
        assert listed == {q.query_id: q.forward_passes for q in page.items}
        some = next(q for q in page.items if q.forward_passes is not None)
        assert (
            client.get(f"/api/queries/{some.query_id}").json()["forward_passes"]
            == some.forward_passes
        )
