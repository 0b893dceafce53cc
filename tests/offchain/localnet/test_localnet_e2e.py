"""The user's day and the attacks of PROTOCOL.md, end to end on a real local network.

`zkai up` starts anvil, Redis (or uses the machine's), the deployed v2 contracts, four nodes (each
its round endpoint, Celery workers proving with Groth16 and its chain listener) and the API. The
queries go from a real client over real HTTP to the nodes' endpoints; every claim is a real proof
verified by the deployed verifier. The attacks use the library's own functions: a node that
answers wrongly is an HTTP server in this test that signs its wrong answers with its own key.
Module order matters: the tests that stop nodes or move the chain's clock come last.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI

from zkai.chain.client import ChainClient, Deployment
from zkai.client.query import QueryClient, QueryIncompleteError
from zkai.client.settlement import settle_query, slash_unproven
from zkai.crypto.encryption import generate_keypair, open_sealed
from zkai.crypto.field import BN254_R
from zkai.crypto.transcript import output_transcript_step, transcript_start
from zkai.devservices import free_port
from zkai.errors import ContractRevertError
from zkai.localnet.processes import stop_process
from zkai.localnet_state import DEMO_USER_INDEX, DEPLOYER_INDEX, LocalnetState, anvil_account
from zkai.models.catalog import ModelCatalog
from zkai.models.decoder import Decoder, generate, local_linear
from zkai.models.demo import load_demo_manifest, load_split
from zkai.models.manifest import Manifest
from zkai.protocol.ids import assignment_tag
from zkai.protocol.market import read_assignment, read_node, read_query
from zkai.protocol.messages import AckMessage, Domain
from zkai.protocol.payload import RoundPayload
from zkai.protocol.wire import RoundAnswer, RoundRequest
from zkai.toolchain import REPO_ROOT
from zkai.units import ETHER

LIAR_INDEX = 8  # an anvil account with ETH, not one of the network's own


def zkai(env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 300) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "zkai.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("localnet")
    shared = Path(os.environ.get("ZKAI_DATA_DIR", REPO_ROOT / ".zkai-test"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ZKAI_") and not k.startswith("APE_")
    }
    env.update(
        {
            "ZKAI_DATA_DIR": str(data_dir),
            # Circuit keys are cached by content hash: share them with the rest of the run.
            "ZKAI_ARTIFACTS_DIR": str(shared / "artifacts"),
            "ZKAI_REDIS_URL": redis_url,
        }
    )
    rpc_port, api_port, node_port = free_port(), free_port(), free_port()
    up = zkai(
        env,
        "up",
        "--rpc-port",
        str(rpc_port),
        "--api-port",
        str(api_port),
        "--node-port",
        str(node_port),
        "--json",
        # The first `zkai up` of a run builds every part's keys (tiny-lm's are the largest).
        timeout=1800,
    )
    state_file = data_dir / "localnet" / "state.json"
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        status = json.loads(up.stdout)
        chain = ChainClient(
            status["endpoints"]["rpc"],
            Deployment.load(data_dir / "localnet" / "deployments" / "local.json"),
        )
        catalog = ModelCatalog(chain.deployment.chain_id, data_dir)
        yield {
            "env": env,
            "status": status,
            "state_file": state_file,
            "data_dir": data_dir,
            "chain": chain,
            "models": {e.name: e.model_id for e in catalog.entries()},
        }
    finally:
        down = zkai(env, "down")
        assert down.returncode == 0, down.stderr
        for record in LocalnetState.load(state_file).processes:
            stop_process(record)


def _sample(name: str, i: int) -> list[float]:
    return [float(v) for v in load_split(name).x_test[i]]


def _balance(chain: ChainClient, address: str) -> int:
    return int(chain.call(chain.contract("ZKAIToken").functions.balanceOf(address)))


def _advance(chain: ChainClient, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _chain_time(chain: ChainClient) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def test_up_reports_every_service_running(network: dict[str, Any]) -> None:
    status = network["status"]
    names = {p["name"] for p in status["processes"] if p["running"]}
    assert {"anvil", "node-1", "node-2", "node-3", "node-4", "api"} <= names
    assert set(status["models"]) == {"digits", "breast-cancer", "digits-mlp", "tiny-lm"}
    again = zkai(network["env"], "status", "--json")
    assert json.loads(again.stdout)["running"] is True


def test_query_two_parts_from_the_cli_matches_the_plaintext_model(
    network: dict[str, Any],
) -> None:
    chain = network["chain"]
    manifest = load_demo_manifest("digits-mlp")
    x = _sample("digits-mlp", 3)
    expected = manifest.evaluate(manifest.quantise_input(x))
    user = anvil_account(DEMO_USER_INDEX).address
    before = _balance(chain, user)
    result = zkai(
        network["env"],
        "query",
        "--model",
        "digits-mlp",
        "--input",
        "-",
        "--json",
        stdin=json.dumps(x),
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    answer = json.loads(result.stdout)
    assert answer["outputs"] == list(expected.outputs)
    assert answer["prediction"] == manifest.decode(expected.outputs).label
    assert answer["verified"] is True
    assignments = answer["assignments"]
    assert len(assignments) == 4
    assert {a["part"] for a in assignments} == {0, 1}
    # No node hosts the whole model: the two parts went to four different nodes.
    assert len({a["node"] for a in assignments}) == 4
    assert all(a["claimed"] and a["rounds"] == 1 for a in assignments)
    assert all(0 < a["claim_gas"] < 400_000 for a in assignments)
    assert answer["cost"] == answer["escrow"] > 0
    assert before - _balance(chain, user) == answer["escrow"]
    # A client that restarted finds the query on the chain, with every claim.
    listed = zkai(network["env"], "queries", "list", "--address", user, "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = [q for q in json.loads(listed.stdout) if q["query_id"] == answer["query_id"]]
    assert row["unclaimed"] == 0
    shown = zkai(network["env"], "queries", "show", answer["query_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert sorted(a["rounds"] for a in json.loads(shown.stdout)["assignments"]) == [1, 1, 1, 1]


def test_query_one_part_model_every_answer_exact(network: dict[str, Any]) -> None:
    manifest = load_demo_manifest("breast-cancer")
    x = _sample("breast-cancer", 0)
    result = zkai(
        network["env"], "query", "-m", "breast-cancer", "-i", "-", "--json", stdin=json.dumps(x)
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    answer = json.loads(result.stdout)
    assert answer["outputs"] == list(manifest.evaluate(manifest.quantise_input(x)).outputs)
    assert answer["verified"] is True
    assert {a["part"] for a in answer["assignments"]} == {0}


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("[1, 2, 3]", "input has 3 features, model 'digits' takes 64"),
        (json.dumps([0] * 63 + ["x"]), "not a finite number"),
        (json.dumps([17] * 64), "outside the declared range"),
        ("not json", "not JSON"),
    ],
)
def test_query_bad_input_fails_clearly_before_paying(
    network: dict[str, Any], stdin: str, message: str
) -> None:
    chain = network["chain"]
    user = anvil_account(DEMO_USER_INDEX).address
    before = _balance(chain, user)
    result = zkai(network["env"], "query", "-m", "digits", "-i", "-", stdin=stdin)
    assert result.returncode == 1
    assert message in " ".join(result.stderr.split())
    assert _balance(chain, user) == before


def _greedy_text(prompt: str, tokens: int) -> str:
    manifest = load_demo_manifest("tiny-lm")
    decoder = Decoder.from_manifest(manifest)
    prompt_tokens = decoder.check_request(prompt, tokens)
    return decoder.decode(list(generate(manifest, prompt_tokens, tokens, local_linear(manifest))))


def test_generate_tiny_lm_from_the_cli_matches_the_plaintext_model_every_chunk_proven(
    network: dict[str, Any],
) -> None:
    """The language model in two parts on four nodes: one request, rounds over HTTP, the text
    exactly the plaintext quantised model's greedy text, every assignment's chunks claimed with
    the client's transcripts, and the escrow spent on exactly the rounds served."""
    chain = network["chain"]
    user = anvil_account(DEMO_USER_INDEX).address
    before = _balance(chain, user)
    prompt, tokens = "def ", 7
    result = zkai(
        network["env"],
        "generate",
        "--model",
        "tiny-lm",
        "--prompt",
        prompt,
        "--tokens",
        str(tokens),
        "--json",
        timeout=900,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    answer = json.loads(result.stdout)
    assert answer["text"] == _greedy_text(prompt, tokens)
    assert len(answer["tokens"]) == tokens
    assert answer["verified"] is True
    manifest = load_demo_manifest("tiny-lm")
    passes = len(prompt) + tokens - 1
    assignments = answer["assignments"]
    assert len(assignments) == 4
    assert len({a["node"] for a in assignments}) == 4  # no node hosts the whole model
    for a in assignments:
        part = manifest.part(a["part"])
        assert a["rounds"] == passes * len(part.schedule)
        assert a["claimed"]
        assert a["finalised"]
        assert a["claimed_rounds"] == a["rounds"]
        # Chunks of R_max rounds, the last one shorter: claims chain on-chain.
        assert len(a["chunks"]) == -(-a["rounds"] // part.max_rounds)
    # Part 1 (3 blocks a pass, R_max 15) needs more than one chunk for 10 passes.
    assert any(len(a["chunks"]) > 1 for a in assignments)
    assert answer["cost"] == answer["escrow"] > 0
    assert answer["refund"] == 0
    assert before - _balance(chain, user) == answer["escrow"]
    shown = zkai(network["env"], "queries", "show", answer["query_id"], "--json")
    assert shown.returncode == 0, shown.stderr


@pytest.mark.parametrize(
    ("prompt", "tokens", "message"),
    [
        ("The ", 4, "'T'"),
        ("x" * 60, 10, "context"),
        ("the ", 0, "token"),
    ],
)
def test_generate_refused_before_paying(
    network: dict[str, Any], prompt: str, tokens: int, message: str
) -> None:
    chain = network["chain"]
    user = anvil_account(DEMO_USER_INDEX).address
    before = (_balance(chain, user), chain.w3.eth.get_transaction_count(user))
    result = zkai(network["env"], "generate", "-m", "tiny-lm", "-p", prompt, "-n", str(tokens))
    assert result.returncode != 0
    assert message in " ".join(result.stderr.split()), result.stderr[-2000:]
    assert (_balance(chain, user), chain.w3.eth.get_transaction_count(user)) == before


def test_query_unknown_model_refused(network: dict[str, Any]) -> None:
    result = zkai(
        network["env"],
        "query",
        "-m",
        "no-such-model",
        "-i",
        "-",
        stdin=json.dumps(_sample("digits", 0)),
    )
    assert result.returncode == 1
    assert "unknown model 'no-such-model'" in " ".join(result.stderr.split())


def test_query_fee_cap_below_escrow_refused_before_paying(network: dict[str, Any]) -> None:
    chain = network["chain"]
    user = anvil_account(DEMO_USER_INDEX).address
    before = _balance(chain, user)
    result = zkai(
        network["env"],
        "query",
        "-m",
        "digits",
        "-i",
        "-",
        "--max-fee",
        "0.5",
        stdin=json.dumps(_sample("digits", 0)),
    )
    assert result.returncode == 1
    assert "above --max-fee" in " ".join(result.stderr.split())
    assert _balance(chain, user) == before


# -- a node that answers wrongly -----------------------------------------------------------------


class LyingNode:
    """A registered, staked node whose endpoint adds 1 to its first output and signs that.

    Built from the library's functions only (opening, W s + m, the O chain, the Ack)."""

    def __init__(self, chain: ChainClient, account: LocalAccount, manifest: Manifest) -> None:
        self.chain = chain
        self.account = account
        self.ack = Account.create()
        self.keys = generate_keypair()
        self.manifest = manifest
        self.domain = Domain(chain.deployment.chain_id, chain.contract("QueryMarket").address)
        self.transcripts: dict[tuple[bytes, int], int] = {}
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        app = FastAPI()
        app.post("/v2/rounds")(self.rounds)
        app.get("/v2/health")(self.health)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def health(self) -> dict[str, Any]:
        return {"node": self.account.address}

    def rounds(self, body: dict[str, Any]) -> dict[str, Any]:
        request = RoundRequest.from_json(body)
        m = request.message
        payload = RoundPayload.from_bytes(open_sealed(self.keys.private_key, request.sealed))
        opening = payload.opening()
        outputs = self.manifest.block(payload.header.block).apply(opening.share, opening.mask)
        outputs[0] = (outputs[0] + 1) % BN254_R
        key = (m.query_id, m.part)
        market = self.domain.market
        tag = assignment_tag(self.domain.chain_id, market, m.query_id, m.part, m.node)
        previous = self.transcripts.get(key, transcript_start(tag))
        o_i = output_transcript_step(previous, m.round, outputs)
        self.transcripts[key] = o_i
        ack = AckMessage(m.query_id, m.part, m.node, m.round, m.input_transcript, o_i)
        return RoundAnswer(tuple(outputs), o_i, ack.sign(self.domain, self.ack)).to_json()

    def start(self, model_id: int, stake: int) -> None:
        self.thread.start()
        deployer = anvil_account(DEPLOYER_INDEX)
        token = self.chain.contract("ZKAIToken")
        registry = self.chain.contract("NodeRegistry")
        self.chain.transact(deployer, token.functions.transfer(self.account.address, stake))
        self.chain.transact(self.account, token.functions.approve(registry.address, stake))
        self.chain.transact(
            self.account,
            registry.functions.register(
                self.keys.public_key, self.ack.address, self.endpoint, "lying-node", stake
            ),
        )
        self.chain.transact(self.account, registry.functions.setParts(model_id, [0], True))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_wrong_answer_cannot_be_claimed_and_its_ack_slashes_until_the_challenge_deadline(
    network: dict[str, Any],
) -> None:
    """Two queries on digits with [lying node, honest node-1]. The honest node claims at once;
    the liar cannot prove what it signed. After t_P the user settles (refund = the liar's part of
    the escrow) and then slashes the liar with its own Ack (evidence after settle is accepted);
    the second query's Ack, presented after t_C, is refused."""
    chain: ChainClient = network["chain"]
    manifest = load_demo_manifest("digits")
    model_id = network["models"]["digits"]
    liar = LyingNode(chain, anvil_account(LIAR_INDEX), manifest)
    liar.start(model_id, 2_000 * ETHER)
    try:
        honest = network["status"]["nodes"]["node-1"]
        user = anvil_account(DEMO_USER_INDEX)
        client = QueryClient(chain, user)
        x = _sample("digits", 5)
        expected = manifest.evaluate(manifest.quantise_input(x)).outputs
        outcomes = [
            client.run(
                "digits",
                manifest,
                model_id,
                x,
                nodes=[[liar.account.address, honest]],
                round_window_s=30,
                wait_proofs=False,
            )
            for _ in range(2)
        ]
    finally:
        liar.stop()
    for outcome in outcomes:
        assert outcome.outputs is not None
        assert outcome.outputs[0] == expected[0] + 1  # the user cannot tell, by design
        assert list(outcome.outputs[1:]) == list(expected[1:])
    stake_before = read_node(chain, liar.account.address).stake

    # The honest node claims its round; the liar's proof cannot be made, so it never claims.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = [read_assignment(chain, o.query_id, 0, honest) for o in outcomes]
        if all(int(r.rounds) == 1 for r in records):
            break
        time.sleep(0.5)
    assert all(int(r.rounds) == 1 for r in records)
    first, second = outcomes
    assert first.session is not None
    assert second.session is not None

    # Before t_P the Ack cannot slash (the node may still claim).
    with pytest.raises(ContractRevertError, match="SlashTooEarly"):
        slash_unproven(chain, user, first.session)

    _advance(chain, first.proof_deadline - _chain_time(chain) + 1)
    price = int(read_assignment(chain, first.query_id, 0, liar.account.address).price)
    before = _balance(chain, user.address)
    settled = settle_query(chain, user, first.query_id)
    assert settled.refund == price
    assert _balance(chain, user.address) - before == price
    slashed = slash_unproven(chain, user, first.session)
    assert [(s.part, s.node, s.round) for s in slashed] == [(0, liar.account.address, 1)]
    slash_amount = int(chain.call(chain.contract("QueryMarket").functions.slashAmount()))
    assert read_node(chain, liar.account.address).stake == stake_before - slash_amount
    # The honest node's Ack is no evidence against it: it proved what it signed.
    assert not read_assignment(chain, first.query_id, 0, honest).slashed

    challenge_deadline = int(read_query(chain, second.query_id).challengeDeadline)
    _advance(chain, challenge_deadline - _chain_time(chain) + 1)
    with pytest.raises(ContractRevertError, match="SlashTooLate"):
        slash_unproven(chain, user, second.session)
    assert read_node(chain, liar.account.address).stake == stake_before - slash_amount


def test_nodes_gone_mid_query_user_refunded_and_served_nodes_paid(
    network: dict[str, Any],
) -> None:
    """Runs last: it stops the nodes of part 1 of digits-mlp after the request. Part 0's nodes
    served and claim; nobody signed anything for part 1, so nobody is slashable; the user is
    refunded part 1's escrow by settle after t_P."""
    chain: ChainClient = network["chain"]
    manifest = load_demo_manifest("digits-mlp")
    model_id = network["models"]["digits-mlp"]
    state = LocalnetState.load(network["state_file"])
    part1 = [r for r in state.processes if r.name in ("node-3", "node-4")]
    user = anvil_account(DEMO_USER_INDEX)
    client = QueryClient(chain, user)

    def stop_part_1(event: str, _detail: dict[str, Any]) -> None:
        if event == "requested":
            for record in part1:
                stop_process(record)

    before = _balance(chain, user.address)
    with pytest.raises(QueryIncompleteError, match="queries settle") as failure:
        client.run(
            "digits-mlp",
            manifest,
            model_id,
            _sample("digits-mlp", 1),
            round_window_s=30,
            on_progress=stop_part_1,
        )
    outcome = failure.value.outcome
    session = outcome.session
    assert session is not None
    part0 = session.nodes_of(0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(int(read_assignment(chain, outcome.query_id, 0, n).rounds) == 1 for n in part0):
            break
        time.sleep(0.5)
    assert all(int(read_assignment(chain, outcome.query_id, 0, n).rounds) == 1 for n in part0)
    _advance(chain, outcome.proof_deadline - _chain_time(chain) + 1)
    settled = settle_query(chain, user, outcome.query_id)
    part1_escrow = sum(
        int(read_assignment(chain, outcome.query_id, 1, n).price) for n in session.nodes_of(1)
    )
    assert settled.refund == part1_escrow > 0
    assert before - _balance(chain, user.address) == outcome.escrow - part1_escrow
    assert slash_unproven(chain, user, session) == []
    # Starting over: a query plan now skips the stopped nodes, and says so before paying.
    result = zkai(
        network["env"],
        "query",
        "-m",
        "digits-mlp",
        "-i",
        "-",
        stdin=json.dumps(_sample("digits-mlp", 0)),
    )
    assert result.returncode == 1
    assert "eligible nodes that host it answer" in " ".join(result.stderr.split())
