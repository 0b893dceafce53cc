"""`zkai demo`: private queries on the local network, a private generation by the language model,
then an encrypted training round.

Queries: several per demo model from the demo wallet, each compared exactly with the plaintext
quantised model's output (`Manifest.evaluate`) and checked to have every share proven on-chain.

Generation (`run_demo_generation`): tiny-lm, in two parts on different nodes, writes text after
a prompt through `zkai generate`'s client (one request, rounds over HTTP, every chunk's proof
on-chain), and the text is compared with the plaintext quantised model's greedy output
(`decoder.generate` with `local_linear`).

Training (`run_demo_training`), every step through the same code as the commands:
1. the key holder (the deployer, who owns the demo models) opens a round on `digits` for three
   contributors (`zkai train open`);
2. each contributor trains on its own third of the training data, written to its own CSV file,
   and uploads its signed, CKKS-encrypted update over HTTP (`zkai contribute`); the aggregation
   worker adds it to the encrypted sum;
3. the deployer adds the demo's training emission to the reward pool, and the key holder
   finalises the round (`zkai train finalise`): decrypts only the sum, checks the new weights on
   the held-out split, publishes version 2 (circuit, verifier, registry) and the reward epoch;
4. private queries on version 2 — served by the nodes that were started before it existed —
   are checked exactly against version 2's plaintext model;
5. each contributor claims its reward (`zkai rewards claim`) and its balance is checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from eth_utils.address import to_checksum_address

from zkai.chain.client import ChainClient, connect, with_retries
from zkai.client.generate import GenerationClient
from zkai.client.query import QueryClient
from zkai.config import get_settings
from zkai.errors import ZKAIError
from zkai.localnet_state import DEMO_USER_INDEX, DEPLOYER_INDEX, anvil_account
from zkai.models.catalog import ModelCatalog, current_version
from zkai.models.decoder import Decoder, generate, local_linear
from zkai.models.demo import DEMO_MODELS, load_split
from zkai.rewards.claims import claim_rewards, rewards_of
from zkai.training.client import TrainingApi, contribute
from zkai.training.keyholder import finalise_training_round, open_training_round
from zkai.units import ETHER, format_amount

TRAINING_MODEL = "digits"
CONTRIBUTOR_INDEXES = (100, 101, 102)
"""The demo contributors' anvil-mnemonic accounts (beyond the funded ten; the demo sends gas)."""
CONTRIBUTOR_SHARES = (0.5, 0.3, 0.2)
"""How the training split is divided among them: unequal, so the rewards' proportional split and
the weight cap (a round's max_weight, 500 samples) both show."""
TRAINING_EMISSION = 100 * ETHER
"""Tokens the deployer adds to the reward pool for the demo round (besides the swept fees)."""
LANGUAGE_MODEL = "tiny-lm"
DEMO_PROMPT = "the python "
DEMO_TOKENS = 32
KEY_HOLDER_PASSPHRASE = "zkai-local-development-only"  # noqa: S105 - local demo keystore only

Say = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


@dataclass
class DemoQuery:
    model: str
    sample: int
    expected: int | None
    answer: int | None
    true_label: int
    exact: bool
    verified: bool
    latency_s: float
    cost: int
    parts: int = 0
    nodes: int = 0
    claim_gas: list[int] = field(default_factory=list)
    served_by: dict[int, list[str]] = field(default_factory=dict)
    """Part -> the addresses of the nodes that served it."""
    answer_s: float = 0.0
    query_id: str | None = None
    version: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.exact and self.verified


@dataclass
class DemoContributor:
    address: str
    samples: int
    status: str = "not submitted"
    weight: int = 0
    reward: int = 0
    claimed: int = 0
    claim_tx: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "accepted" and self.reward > 0 and self.claimed == self.reward


@dataclass
class DemoTraining:
    round_id: str = ""
    model: str = TRAINING_MODEL
    base_version: int = 0
    version: int | None = None
    accepted: bool = False
    reason: str = ""
    old_accuracy: float | None = None
    new_accuracy: float | None = None
    pool: int = 0
    epoch: int | None = None
    contributors: list[DemoContributor] = field(default_factory=list)
    queries: list[DemoQuery] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.accepted
            and self.version == self.base_version + 1
            and len(self.contributors) == len(CONTRIBUTOR_INDEXES)
            and all(c.ok for c in self.contributors)
            and bool(self.queries)
            and all(q.ok and q.version == self.version for q in self.queries)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.__dict__.items() if k not in ("contributors", "queries")},
            "pool": str(self.pool),
            "ok": self.ok,
            "contributors": [
                {**c.__dict__, "reward": str(c.reward), "claimed": str(c.claimed), "ok": c.ok}
                for c in self.contributors
            ],
            "queries": [{**q.__dict__, "ok": q.ok} for q in self.queries],
        }


@dataclass
class DemoReport:
    queries: list[DemoQuery] = field(default_factory=list)
    generation: DemoGeneration | None = None
    training: DemoTraining | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        queries_ok = bool(self.queries) and all(q.ok for q in self.queries)
        generation_ok = self.generation is None or self.generation.ok
        return queries_ok and generation_ok and (self.training is None or self.training.ok)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "queries": [{**q.__dict__, "ok": q.ok} for q in self.queries],
            "generation": None if self.generation is None else self.generation.as_json(),
            "training": None if self.training is None else self.training.as_json(),
        }


def _query(
    client: QueryClient,
    catalog: ModelCatalog,
    chain: ChainClient,
    name: str,
    sample: int,
    round_window_s: int,
) -> DemoQuery:
    """One private query on `name`'s current version, compared with its plaintext model."""
    entry = catalog.get(name)
    manifest, _version = current_version(chain, entry)
    split = load_split(name)
    x = [float(v) for v in split.x_test[sample]]
    expected_raw = list(manifest.evaluate(manifest.quantise_input(x)).outputs)
    expected = manifest.decode(expected_raw).label
    result = DemoQuery(
        name, sample, expected, None, int(split.y_test[sample]), False, False, 0.0, 0
    )
    try:
        outcome = client.run(name, manifest, entry.model_id, x, round_window_s=round_window_s)
        result.query_id = "0x" + outcome.query_id.hex()
        result.version = outcome.version
        result.cost = outcome.cost
        result.latency_s = round(outcome.latency_s, 3)
        result.answer_s = round(outcome.answer_s, 3)
        result.parts = len({a.part for a in outcome.assignments})
        result.nodes = len({a.node for a in outcome.assignments})
        for a in outcome.assignments:
            result.served_by.setdefault(a.part, []).append(a.node)
        result.claim_gas = [a.claim_gas for a in outcome.assignments]
        result.verified = outcome.verified
        assert outcome.prediction is not None
        result.answer = outcome.prediction.label
        result.exact = outcome.outputs == expected_raw
    except ZKAIError as exc:
        result.error = str(exc)
    return result


def run_demo_queries(
    samples_per_model: int = 3,
    on_query: Callable[[DemoQuery], None] | None = None,
    round_window_s: int = 120,
) -> DemoReport:
    """Several private queries per demo model from the demo wallet, each compared exactly with
    the plaintext quantised model's output (`Manifest.evaluate`)."""
    report = DemoReport()
    started = time.monotonic()
    chain = connect()
    client = QueryClient(chain, anvil_account(DEMO_USER_INDEX))
    catalog = ModelCatalog(chain.deployment.chain_id)
    for name in DEMO_MODELS:
        for i in range(samples_per_model):
            result = _query(client, catalog, chain, name, i, round_window_s)
            report.queries.append(result)
            if on_query is not None:
                on_query(result)
    report.seconds = time.monotonic() - started
    return report


@dataclass
class DemoGeneration:
    """One private generation, compared with the plaintext quantised model's."""

    model: str
    prompt: str
    tokens: int
    text: str = ""
    expected: str = ""
    verified: bool = False
    query_id: str | None = None
    cost: int = 0
    refund: int = 0
    claims: int = 0
    gas: int = 0
    tokens_per_s: float | None = None
    proofs_after_last_token_s: float | None = None
    served_by: dict[int, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def exact(self) -> bool:
        return bool(self.text) and self.text == self.expected

    @property
    def ok(self) -> bool:
        return self.error is None and self.exact and self.verified

    def as_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "cost": str(self.cost),
            "refund": str(self.refund),
            "exact": self.exact,
            "ok": self.ok,
        }


def run_demo_generation(
    prompt: str = DEMO_PROMPT,
    tokens: int = DEMO_TOKENS,
    on_token: Callable[[str], None] | None = None,
) -> DemoGeneration:
    """`tiny-lm` writes `tokens` characters after `prompt` from the demo wallet: greedy, so the
    text must equal the plaintext quantised model's, and every assignment's chunk claims must
    carry this client's transcripts (verified)."""
    started = time.monotonic()
    result = DemoGeneration(LANGUAGE_MODEL, prompt, tokens)
    chain = connect()
    client = GenerationClient(chain, anvil_account(DEMO_USER_INDEX))
    entry = ModelCatalog(chain.deployment.chain_id).get(LANGUAGE_MODEL)
    try:
        manifest, _version = current_version(chain, entry)
        decoder = Decoder.from_manifest(manifest)
        expected = generate(
            manifest, decoder.check_request(prompt, tokens), tokens, local_linear(manifest)
        )
        result.expected = decoder.decode(list(expected))
        outcome = client.generate(
            LANGUAGE_MODEL,
            manifest,
            entry.model_id,
            prompt,
            tokens,
            on_token=None if on_token is None else lambda _i, _t, piece, _s: on_token(piece),
        )
        result.text = outcome.text
        result.verified = outcome.verified
        result.tokens_per_s = outcome.tokens_per_s
        result.proofs_after_last_token_s = outcome.proofs_after_last_token_s
        query = outcome.query
        if query is not None:
            result.query_id = "0x" + query.query_id.hex()
            result.cost = query.cost
            result.refund = query.escrow - query.cost
            result.claims = sum(len(a.chunks) for a in query.assignments)
            result.gas = query.request_gas + sum(a.claim_gas for a in query.assignments)
            for a in query.assignments:
                result.served_by.setdefault(a.part, []).append(a.node)
    except ZKAIError as exc:
        result.error = str(exc)
    result.seconds = time.monotonic() - started
    return result


def write_training_csv(path: Path, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> Path:
    """Features then the label, one sample per row (the format `zkai contribute` reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.column_stack([x, y]).tolist()
    path.write_text("".join(",".join(f"{v:g}" for v in row) + "\n" for row in rows))
    return path


def _eth_balance(chain: ChainClient, address: str) -> int:
    return int(with_retries(lambda: chain.w3.eth.get_balance(to_checksum_address(address))))


def _token_balance(chain: ChainClient, address: str) -> int:
    return int(chain.call(chain.contract("ZKAIToken").functions.balanceOf(address)))


def run_demo_training(
    samples: int = 2,
    say: Say = _quiet,
    on_query: Callable[[DemoQuery], None] | None = None,
    round_window_s: int = 120,
) -> DemoTraining:
    """A training round with three contributors, a new version queried, rewards claimed."""
    started = time.monotonic()
    report = DemoTraining()
    try:
        _training(report, samples, say, on_query, round_window_s)
    except ZKAIError as exc:
        report.error = str(exc)
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _training(
    report: DemoTraining,
    samples: int,
    say: Say,
    on_query: Callable[[DemoQuery], None] | None,
    round_window_s: int,
) -> None:
    settings = get_settings()
    chain = connect()
    deployer = anvil_account(DEPLOYER_INDEX)
    catalog = ModelCatalog(chain.deployment.chain_id)
    _manifest, report.base_version = current_version(chain, catalog.get(TRAINING_MODEL))
    split = load_split(TRAINING_MODEL)
    folder = settings.data_dir / "demo" / "training"
    accounts = [anvil_account(i) for i in CONTRIBUTOR_INDEXES]
    order = np.random.default_rng(0).permutation(len(split.y_train))
    parts = np.split(order, (np.cumsum(CONTRIBUTOR_SHARES)[:-1] * len(order)).astype(int))
    files = [
        write_training_csv(folder / f"contributor-{i + 1}.csv", split.x_train[p], split.y_train[p])
        for i, p in enumerate(parts)
    ]
    for account in accounts:  # gas for their claims
        if _eth_balance(chain, account.address) < ETHER // 10:
            chain.send_ether(deployer, account.address, ETHER)

    opened = open_training_round(
        chain,
        deployer,
        model=TRAINING_MODEL,
        contributors=[a.address for a in accounts],
        duration_s=600,
        passphrase=KEY_HOLDER_PASSPHRASE,
        round_id=f"demo-{TRAINING_MODEL}-v{report.base_version}-{int(time.time())}",
    )
    report.round_id = opened.info.round_id
    say(
        f"training round {report.round_id} open for 3 contributors "
        f"(public CKKS context published by the API)"
    )

    api = TrainingApi(settings.api_base_url)
    for account, path, part in zip(accounts, files, parts, strict=True):
        contributor = DemoContributor(account.address, len(part))
        report.contributors.append(contributor)
        result = contribute(
            api, chain, account, model=TRAINING_MODEL, data=path, round_id=report.round_id
        )
        contributor.status, contributor.weight = result.status, result.weight
        say(
            f"contributor {account.address} ({len(part)} private samples in {path.name}): "
            f"update {result.status}, {result.ciphertext_bytes:,} bytes of ciphertext"
        )

    token = chain.contract("ZKAIToken")
    rewards = chain.contract("ContributorRewards")
    chain.transact(deployer, token.functions.transfer(rewards.address, TRAINING_EMISSION))
    say(
        f"deployer added a training emission of {format_amount(TRAINING_EMISSION)} ZKAI to the pool"
    )
    record = finalise_training_round(
        chain,
        round_id=report.round_id,
        passphrase=KEY_HOLDER_PASSPHRASE,
        held_out_x=split.x_test,
        held_out_y=split.y_test,
        signer=deployer,
        say=say,
    )
    report.accepted, report.reason = bool(record["accepted"]), str(record["reason"])
    report.old_accuracy, report.new_accuracy = record["old_accuracy"], record["new_accuracy"]
    report.version, report.epoch = record["version"], record["epoch"]
    report.pool = int(record["pool"])
    if not report.accepted:
        return
    amounts = {address: int(amount) for address, amount in record["rewards"]}
    for contributor in report.contributors:
        contributor.reward = amounts.get(contributor.address, 0)

    client = QueryClient(chain, anvil_account(DEMO_USER_INDEX))
    for i in range(samples):
        query = _query(client, catalog, chain, TRAINING_MODEL, i, round_window_s)
        report.queries.append(query)
        if on_query is not None:
            on_query(query)

    _wait_for_rewards(settings.api_base_url, [c.address for c in report.contributors])
    for account, contributor in zip(accounts, report.contributors, strict=True):
        before = _token_balance(chain, account.address)
        claims = claim_rewards(chain, account, settings.api_base_url)
        contributor.claimed = _token_balance(chain, account.address) - before
        contributor.claim_tx = next((c.tx_hash for c in claims if c.tx_hash), None)
        say(
            f"contributor {account.address} claimed {format_amount(contributor.claimed)} ZKAI "
            f"(weight {contributor.weight})"
        )


def _wait_for_rewards(api_url: str, addresses: list[str], timeout_s: float = 60.0) -> None:
    """Until the API's indexer shows every contributor's unclaimed reward."""
    deadline = time.monotonic() + timeout_s
    while True:
        pending = [
            a
            for a in addresses
            if not any(r["status"] == "unclaimed" for r in rewards_of(api_url, a)["rewards"])
        ]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise ZKAIError(f"the API did not index the rewards of {pending} in {timeout_s:.0f} s")
        time.sleep(0.5)
