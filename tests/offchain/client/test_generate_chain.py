"""`GenerationClient.generate` end to end on a real chain: a private anvil with the v2 contracts,
the toy decoder-shaped model registered with its real part verifiers, four nodes (two per part)
whose real round endpoints (`zkai.node.endpoint` over `RoundService`) serve over HTTP from this
process, and their real claim logic (`ClaimProcessor`: Groth16 proof, `claim` transaction) once
their budgets are used. The text equals the plaintext generation; every assignment's claim is
accepted and matches the client's transcripts; a request that the decoder or the budget refuses
sends no transaction (the user's nonce and balances do not move)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import typer
import uvicorn
from typer.testing import CliRunner

from zkai.chain.client import ChainClient, Deployment
from zkai.client.cli import generate as generate_command
from zkai.client.generate import GenerationClient, check_generation, load_program
from zkai.client.query import BudgetTooLargeError
from zkai.config import get_settings
from zkai.devservices import free_port
from zkai.errors import InvalidInputError
from zkai.models.catalog import ModelCatalog
from zkai.models.decoder import build_manifest, local_linear
from zkai.models.manifest import Manifest
from zkai.models.store import ManifestStore
from zkai.node.chainview import ChainView
from zkai.node.claims import ClaimProcessor
from zkai.node.endpoint import create_endpoint
from zkai.node.keys import UnlockedNode, unlock
from zkai.node.operator import PartRef, init_node, register_node
from zkai.node.parts import ServedParts
from zkai.node.rounds import RoundService
from zkai.node.settings import NodeSettings
from zkai.node.store import RoundStore
from zkai.protocol.market import read_assignment
from zkai.wallet.keystore import Keystore

from ..node.localchain import (
    ETHER,
    MIN_STAKE,
    Anvil,
    deploy_system,
    fund,
    new_user,
    register_part_model,
)
from .toy_decoder import VOCAB, chunked_claims, toy_manifest, toy_program

pytestmark = pytest.mark.slow

PASSPHRASE = "client-test-passphrase"
PRICE = ETHER // 10
PROMPT, TOKENS = "ab", 2  # 3 passes: part 0 needs 6 rounds per node, part 1 needs 9


@dataclass
class PlayedNode:
    node: UnlockedNode
    service: RoundService
    claims: ClaimProcessor
    server: uvicorn.Server
    thread: threading.Thread


@dataclass
class ToyNetwork:
    chain: ChainClient
    models: dict[str, tuple[Manifest, int]]  # name -> (manifest, model id)
    nodes: list[PlayedNode]
    rpc_url: str
    record_dir: Path
    data_dir: Path

    def claim_every_query(self, stop: threading.Event, log: list[Any]) -> None:
        """Every node claims every query it served once its rounds are in (its claim task)."""
        start = int(self.chain.w3.eth.block_number)
        done: set[tuple[bytes, str, int]] = set()
        while not stop.is_set():
            latest = int(self.chain.w3.eth.block_number)
            for event in self.chain.events("QueryMarket", "QueryRequested", start, latest):
                query = bytes(event["args"]["queryId"])
                for n in self.nodes:
                    for part in (0, 1):
                        key = (query, n.node.address, part)
                        if key in done:
                            continue
                        if n.service.store.assignment(query, part, n.node.address) is None:
                            continue
                        outcome = n.claims.process(query, part)
                        log.append((n.node.address, part, outcome))
                        if outcome in ("claimed", "already_claimed", "expired", "failed"):
                            done.add(key)
            time.sleep(0.3)

    def claim_all(self, query: bytes, stop: threading.Event, log: list[Any]) -> None:
        """Each node claims its assignments as the node's claim task would, until claimed."""
        try:
            self._claim_all(query, stop, log)
        except Exception as exc:  # reported by the test
            log.append(exc)
            raise

    def _claim_all(self, query: bytes, stop: threading.Event, log: list[Any]) -> None:
        pending = {(n.node.address, p) for n in self.nodes for p in (0, 1)}
        by_address = {n.node.address: n for n in self.nodes}
        while pending and not stop.is_set():
            for address, part in list(pending):
                outcome = by_address[address].claims.process(query, part)
                log.append((address, part, outcome))
                if outcome in ("claimed", "already_claimed", "expired", "failed"):
                    pending.discard((address, part))
                elif by_address[address].service.store.assignment(query, part, address) is None:
                    pending.discard((address, part))  # not assigned to this part
            time.sleep(0.2)


def micro_lm() -> Manifest:
    """A real decoder manifest (`zkai.models.decoder.build_manifest`), tiny enough to prove in
    seconds: d_model 4, one head, MLP hidden 8, the toy vocabulary, context 8."""
    rng = np.random.default_rng(5)
    d, h, v = 4, 8, len(VOCAB)

    def w(rows: int, cols: int) -> Any:
        return rng.normal(0, 0.5, (rows, cols))

    return build_manifest(
        name="micro-lm",
        version=1,
        description="the client tests' real decoder",
        vocab=VOCAB,
        context=8,
        heads=1,
        input_scale_bits=4,
        weight_scale_bits=4,
        param_scale_bits=8,
        token_embedding=w(v, d),
        position_embedding=w(8, d),
        layer_norms={n: (np.ones(d), np.zeros(d)) for n in ("ln1", "ln2", "ln_final")},
        linear={
            "qkv": (w(3 * d, d), np.zeros(3 * d)),
            "attention_out": (w(d, d), np.zeros(d)),
            "mlp_up": (w(h, d), np.zeros(h)),
            "mlp_down": (w(d, h), np.zeros(d)),
            "lm_head": (w(v, d), np.zeros(v)),
        },
        clamps={"qkv": 4, "attention_out": 4, "mlp_up": 4, "mlp_down": 4, "lm_head": 4},
        max_rounds=(6, 9),
        max_budgets=(6, 9),
    )


def _serve(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "a node endpoint did not start"
        time.sleep(0.05)
    return server, thread


@pytest.fixture(scope="module")
def toy_network(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[ToyNetwork]:
    tmp = tmp_path_factory.mktemp("generate-chain")
    anvil = Anvil(tmp)
    record_dir = tmp / "deployments"
    deploy_system(anvil.url, record_dir)
    chain = ChainClient(anvil.url, Deployment.load(record_dir / "local.json"))
    # One model whose budgets fit R_max, and where the chunked claims exist one whose parts
    # are claimed in chunks (R_max 4 and 6, max budgets 6 and 9: two chunks per assignment).
    manifests = [toy_manifest(max_rounds=(6, 9)), micro_lm()]
    if chunked_claims():
        manifests.append(toy_manifest(max_rounds=(4, 6), max_budgets=(6, 9), name="toy-chunked"))
    data_dir = tmp / "data"
    store = ManifestStore(data_dir / "manifests")
    models = {}
    for manifest in manifests:
        models[manifest.name] = (
            manifest,
            register_part_model(chain, manifest, price=PRICE, shares=2),
        )
        store.put(manifest)
    keystore = Keystore(data_dir, scrypt_n=2**4)
    r = redis.Redis.from_url(redis_url)
    played: list[PlayedNode] = []
    try:
        for i in range(4):
            name = f"toy{i}"
            init_node(keystore, name, PASSPHRASE)
            node = unlock(keystore, name, PASSPHRASE)
            fund(chain, node.address, tokens=2 * MIN_STAKE)
            port = free_port()
            register_node(
                chain,
                node,
                stake=2 * MIN_STAKE,
                endpoint=f"http://127.0.0.1:{port}",
                parts=[PartRef(model_id, i // 2) for _, model_id in models.values()],
                keystore=keystore,
            )
            view = ChainView(chain, 0)
            parts = ServedParts(view, store)
            service = RoundService(
                node,
                view,
                RoundStore(tmp / f"{name}.sqlite3"),
                parts,
                NodeSettings(deadline_margin_s=2, capacity_margin_s=1),
            )
            claims = ClaimProcessor(node, ChainView(chain), service.store, parts, r)
            server, thread = _serve(create_endpoint(service), port)
            played.append(PlayedNode(node, service, claims, server, thread))
        yield ToyNetwork(chain, models, played, anvil.url, record_dir, data_dir)
    finally:
        for p in played:
            p.server.should_exit = True
            p.thread.join(timeout=10)
        r.close()
        anvil.stop()


def _nonce_and_balances(chain: ChainClient, address: str) -> tuple[int, int, int]:
    token = chain.contract("ZKAIToken")
    return (
        int(chain.w3.eth.get_transaction_count(address)),  # type: ignore[arg-type]
        int(chain.w3.eth.get_balance(address)),  # type: ignore[arg-type]
        int(token.functions.balanceOf(address).call()),
    )


@pytest.mark.parametrize("model", ["toy-lm", "toy-chunked", "micro-lm"])
def test_generate_on_chain_equals_the_plaintext_and_every_proof_is_accepted(
    toy_network: ToyNetwork, model: str
) -> None:
    net = toy_network
    if model not in net.models:
        pytest.skip("this checkout has no chunked claims (Part.max_budget)")
    manifest, model_id = net.models[model]
    user = new_user(net.chain)
    decoder, run = load_program(manifest) if model == "micro-lm" else toy_program(manifest)
    prompt_tokens = decoder.check_request(PROMPT, TOKENS)
    expected = list(run(manifest, prompt_tokens, TOKENS, local_linear(manifest)))
    before = _nonce_and_balances(net.chain, user.address)
    stop = threading.Event()
    claimer: list[threading.Thread] = []
    streamed: list[tuple[int, str]] = []
    claim_log: list[Any] = []

    query: list[bytes] = []

    def on_progress(event: str, detail: dict[str, Any]) -> None:
        # As a node's claim task: started once its budget is used (here: every round served).
        if event == "requested":
            query.append(detail["query_id"])
        if event == "generated":
            t = threading.Thread(target=net.claim_all, args=(query[0], stop, claim_log))
            t.start()
            claimer.append(t)

    client = GenerationClient(net.chain, user)
    try:
        outcome = client.generate(
            model,
            manifest,
            model_id,
            PROMPT,
            TOKENS,
            round_window_s=30,
            on_progress=on_progress,
            on_token=lambda _i, token, piece, _t: streamed.append((token, piece)),
            program=None if model == "micro-lm" else toy_program(manifest),
        )
    finally:
        stop.set()
        for t in claimer:
            t.join(timeout=120)
    assert outcome.tokens == expected
    assert streamed == [(t, decoder.decode([t])) for t in expected]
    assert outcome.text == decoder.decode(expected)
    q = outcome.query
    assert q is not None
    assert outcome.verified is True, (q.assignments, claim_log)
    assert len(q.assignments) == 4
    budgets = check_generation(decoder, manifest, PROMPT, TOKENS).budgets
    assert {a.part for a in q.assignments} == {0, 1}
    for a in q.assignments:
        assert a.claimed
        assert a.rounds == a.claimed_rounds == budgets[a.part]
        # One chunk per R_max rounds (the last one shorter), consecutive, ending at the budget.
        r_max = manifest.part(a.part).max_rounds
        assert len(a.chunks) == -(-a.rounds // r_max)
        assert [c.start for c in a.chunks] == [r_max * j for j in range(len(a.chunks))]
        assert a.chunks[-1].rounds == a.rounds
        assert sum(c.credit for c in a.chunks) == a.credit
        assert 0 < a.claim_gas < 1_000_000
        record = read_assignment(net.chain, q.query_id, a.part, a.node)
        assert int(record.rounds) == a.rounds
    # Paid once: the escrow is every assignment's budget at the price; nothing left over.
    assert q.escrow == PRICE * 2 * sum(budgets)
    assert q.cost == q.escrow
    assert q.refund == 0
    after = _nonce_and_balances(net.chain, user.address)
    assert after[0] == before[0] + 1  # one transaction: the request
    assert before[2] - after[2] == q.escrow
    doc = outcome.as_json()
    assert doc["verified"] is True
    assert doc["gas"]["claim_chunks"] == sum(len(a.chunks) for a in q.assignments) >= 4
    assert doc["proofs_after_last_token_s"] >= 0
    assert doc["tokens_per_s"] > 0


@pytest.mark.parametrize(
    ("prompt", "tokens", "error", "match"),
    [
        ("abz", 2, InvalidInputError, "outside the vocabulary"),
        ("ab", 7, InvalidInputError, "exceed the context"),
        ("ab", 0, InvalidInputError, "at least one new token"),
        # 2 + 3 - 1 = 4 passes need 8 rounds of part 0, whose terms allow 6 (= R_max here).
        ("ab", 3, BudgetTooLargeError, "use --tokens 2 or fewer"),
    ],
)
def test_generate_refusals_send_nothing(
    toy_network: ToyNetwork, prompt: str, tokens: int, error: type[Exception], match: str
) -> None:
    net = toy_network
    manifest, model_id = net.models["toy-lm"]
    user = new_user(net.chain)
    before = _nonce_and_balances(net.chain, user.address)
    client = GenerationClient(net.chain, user)
    with pytest.raises(error, match=match):
        client.generate(
            "toy-lm",
            manifest,
            model_id,
            prompt,
            tokens,
            program=toy_program(manifest),
        )
    assert _nonce_and_balances(net.chain, user.address) == before


def test_cli_generate_streams_then_prints_the_json_outcome(
    toy_network: ToyNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`zkai generate --json` against this network: the user's wallet from the keystore, the
    model from the catalogue, the real decoder; the JSON carries the verified outcome."""
    net = toy_network
    manifest, model_id = net.models["micro-lm"]
    user = new_user(net.chain)
    artifacts = str(get_settings().artifacts_path.resolve())
    for key, value in {
        "ZKAI_RPC_URL": net.rpc_url,
        "ZKAI_DEPLOYMENTS_DIR": str(net.record_dir),
        "ZKAI_NETWORK": "local",
        "ZKAI_DATA_DIR": str(net.data_dir),
        "ZKAI_ARTIFACTS_DIR": artifacts,
        "ZKAI_API_URL": "",
        "ZKAI_PASSPHRASE": PASSPHRASE,
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        Keystore(net.data_dir, scrypt_n=2**4).import_private_key(
            "buyer", user.key.hex(), PASSPHRASE
        )
        ModelCatalog(net.chain.deployment.chain_id, net.data_dir).add(
            "micro-lm", model_id, str(net.data_dir / "micro-lm.json")
        )
        manifest.save(net.data_dir / "micro-lm.json")
        app = typer.Typer()
        app.command()(generate_command)
        runner = CliRunner()
        refused = runner.invoke(
            app, ["--model", "micro-lm", "--prompt", "abQ", "--tokens", "2", "--wallet", "buyer"]
        )
        assert refused.exit_code == 1
        assert "cannot read" in refused.output
        stop = threading.Event()
        log: list[Any] = []
        claimer = threading.Thread(target=net.claim_every_query, args=(stop, log))
        claimer.start()
        try:
            result = runner.invoke(
                app,
                [
                    "--model", "micro-lm", "--prompt", PROMPT, "--tokens", str(TOKENS),
                    "--wallet", "buyer", "--round-window", "30", "--json",
                ],
            )  # fmt: skip
        finally:
            stop.set()
            claimer.join(timeout=120)
        assert result.exit_code == 0, (result.output, log)
        doc = json.loads(result.stdout.strip().splitlines()[-1])
        # Without --json: the prompt and the text on one line, then the summary.
        stop.clear()
        claimer = threading.Thread(target=net.claim_every_query, args=(stop, log))
        claimer.start()
        try:
            shown = runner.invoke(
                app,
                [
                    "--model", "micro-lm", "--prompt", PROMPT, "--tokens", str(TOKENS),
                    "--wallet", "buyer", "--round-window", "30",
                ],
            )  # fmt: skip
        finally:
            stop.set()
            claimer.join(timeout=120)
        assert shown.exit_code == 0, (shown.output, log)
    finally:
        get_settings.cache_clear()
    decoder, run = load_program(manifest)
    expected = list(
        run(manifest, decoder.check_request(PROMPT, TOKENS), TOKENS, local_linear(manifest))
    )
    assert doc["tokens"] == expected
    assert doc["text"] == decoder.decode(expected)
    print(shown.stdout)
    assert PROMPT + doc["text"] in shown.stdout.splitlines()
    assert "4 of 4 accepted on-chain" in shown.stdout
    assert "verified" in shown.stdout
    assert doc["verified"] is True
    assert doc["cost"] == doc["escrow"] > 0
    assert doc["refund"] == 0
    assert len(doc["assignments"]) == 4
    assert all(a["claimed"] and len(a["chunks"]) >= 1 for a in doc["assignments"])
    assert doc["gas"]["request"] > 21_000
    assert doc["tokens_per_s"] > 0
    assert doc["proofs_after_last_token_s"] >= 0
