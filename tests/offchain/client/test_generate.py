"""`zkai generate`'s client, chain-free: the checks before paying, the budgets against the part's
max budget (and the largest --tokens that fits), the network `linear` through real sealed rounds
to in-process node logic (`zkai.inference.LocalNode`: opens the payload, checks the commitment,
answers W s + m with a signed Ack; the user's side checks every answer) reproducing the plaintext
linear exactly, the chunk-aware claim check, and the JSON the CLI prints."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_account import Account

from zkai.chain.client import ChainClient, Deployment
from zkai.client.claims import check_claim
from zkai.client.generate import (
    GenerationClient,
    GenerationOutcome,
    check_generation,
    load_program,
)
from zkai.client.query import (
    AssignmentOutcome,
    BudgetTooLargeError,
    ClaimChunk,
    QueryOutcome,
)
from zkai.client.session import AckError, PreparedRound, QuerySession
from zkai.errors import InvalidInputError, QueryError
from zkai.inference import LOCAL_CHAIN_ID, LOCAL_MARKET, LocalNode
from zkai.models.decoder import local_linear
from zkai.models.demo import load_demo_manifest
from zkai.models.manifest import Manifest
from zkai.protocol.market import AssignmentRecord, ModelTerms, PartTerms, transcript_hash
from zkai.protocol.wire import RoundAnswer

from .toy_decoder import ToyDecoder, toy_generate, toy_manifest, toy_program


def _terms(manifest: Manifest, max_budgets: list[int]) -> ModelTerms:
    parts = []
    has_max_budget = "max_budget" in {f.name for f in dataclasses.fields(PartTerms)}
    for part, limit in zip(manifest.parts, max_budgets, strict=True):
        fields: dict[str, Any] = {
            "verifier": "0x" + "11" * 20,
            "price": 10**18,
            "max_rounds": part.max_rounds,
            "min_proof_window": 60,
            "shares": 2,
            "circuit_hash": b"\0" * 32,
            "key_hash": b"\0" * 32,
        }
        if has_max_budget:
            fields["max_budget"] = limit
        terms = PartTerms(**fields)
        if not has_max_budget:  # the registry before chunked claims: set it as the new one does
            object.__setattr__(terms, "max_budget", limit)
        parts.append(terms)
    return ModelTerms(1, "0x" + "22" * 20, True, 1, manifest.hash, tuple(parts))


class _Session:
    """A user's session with two in-process nodes per part (real sealing, Acks, checks)."""

    def __init__(self, manifest: Manifest, budgets: dict[int, int]) -> None:
        self.manifest = manifest
        self.session = QuerySession(LOCAL_CHAIN_ID, LOCAL_MARKET, Account.create().address)
        self.nodes = [[LocalNode(), LocalNode()] for _ in manifest.parts]
        for p, nodes in enumerate(self.nodes):
            for n in nodes:
                self.session.add_assignment(
                    p,
                    n.account.address,
                    encryption_key=n.keys.public_key,
                    ack_signer=n.ack.address,
                    endpoint="in-process",
                    budget=budgets[p],
                )
        self.sent: list[tuple[int, int]] = []

    def send(self, pending: Any) -> list[RoundAnswer]:
        part = pending[0].part
        self.sent.append((part, pending[0].block))
        return [
            node.serve(self.session, self.manifest, prepared)
            for node, prepared in zip(self.nodes[part], pending, strict=True)
        ]

    def linear(self, block: int, x: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(self.session.evaluate_block(self.manifest, block, x, self.send))


# -- checks before paying ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "tokens", "match"),
    [
        ("ab", 0, "at least one new token"),
        ("", 3, "prompt is empty"),
        ("abx", 2, "outside the vocabulary"),
        ("abc", 6, "exceed the context"),
    ],
)
def test_check_generation_refuses_what_the_decoder_refuses(
    prompt: str, tokens: int, match: str
) -> None:
    manifest = toy_manifest()
    with pytest.raises(InvalidInputError, match=match):
        check_generation(ToyDecoder(), manifest, prompt, tokens)


def test_check_generation_budgets_are_passes_times_blocks_per_part() -> None:
    manifest = toy_manifest()
    checked = check_generation(ToyDecoder(), manifest, "ab", 3)
    assert checked.prompt_tokens == (0, 1)
    # 2 + 3 - 1 = 4 passes; part 0 has 2 blocks per pass, part 1 three.
    assert checked.budgets == (8, 12)


def test_check_generation_budget_above_max_budget_names_the_largest_tokens_that_fit() -> None:
    manifest = toy_manifest(max_rounds=(4, 6))
    decoder = ToyDecoder()
    # Max budgets 10 and 15 rounds: 5 passes at most, so prompt 2 + tokens 4 fits, 5 does not.
    terms = _terms(manifest, [10, 15])
    assert check_generation(decoder, manifest, "ab", 4, terms).budgets == (10, 15)
    with pytest.raises(BudgetTooLargeError, match="use --tokens 4 or fewer") as refused:
        check_generation(decoder, manifest, "ab", 5, terms)
    assert (refused.value.part, refused.value.budget, refused.value.max_budget) == (0, 12, 10)
    assert refused.value.fits == 4
    # A budget above R_max is fine when the max budget allows it (chunked claims).
    assert check_generation(decoder, manifest, "ab", 3, terms).budgets[1] > 6


def test_check_generation_prompt_alone_too_long_says_shorten_it() -> None:
    manifest = toy_manifest(max_rounds=(4, 6))
    terms = _terms(manifest, [4, 6])  # two passes at most
    with pytest.raises(QueryError, match="shorten the prompt"):
        check_generation(ToyDecoder(), manifest, "abcab", 1, terms)


def test_generate_refuses_before_reading_the_chain() -> None:
    """The decoder's refusals come before the client reads (or pays on) any chain: this client's
    chain is an RPC endpoint where nothing listens, so any chain call would fail differently."""
    deployment = Deployment(
        "local", 31337, {n: "0x" + "33" * 20 for n in ("QueryMarket", "ZKAIToken")}
    )
    chain = ChainClient("http://127.0.0.1:9", deployment)
    client = GenerationClient(chain, Account.create())
    manifest = toy_manifest()
    for prompt, tokens, match in [
        ("abz", 2, "outside the vocabulary"),
        ("abc", 9, "exceed the context"),
        ("ab", 0, "at least one new token"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            client.generate("toy-lm", manifest, 1, prompt, tokens, program=toy_program(manifest))
    with pytest.raises(QueryError, match="temperature"):
        client.generate(
            "toy-lm", manifest, 1, "ab", 2, temperature=-1, program=toy_program(manifest)
        )


# -- the network linear --------------------------------------------------------------------------


@pytest.mark.parametrize(("temperature", "seed"), [(0.0, None), (0.9, 7)])
def test_network_linear_reproduces_the_plaintext_generation(
    temperature: float, seed: int | None
) -> None:
    manifest = toy_manifest()
    decoder = ToyDecoder()
    checked = check_generation(decoder, manifest, "ab c", 4)
    expected = list(
        toy_generate(
            manifest,
            checked.prompt_tokens,
            4,
            decoder.local_linear(manifest),
            temperature=temperature,
            seed=seed,
        )
    )
    played = _Session(manifest, dict(enumerate(checked.budgets)))
    got = list(
        toy_generate(
            manifest,
            checked.prompt_tokens,
            4,
            played.linear,
            temperature=temperature,
            seed=seed,
        )
    )
    assert got == expected
    # Every assignment used exactly its budget, rounds in manifest order, part 0 first.
    for (p, _node), s in played.session.assignments.items():
        assert s.rounds == checked.budgets[p]
    passes = decoder.passes(4, 4)
    assert played.sent == [(0, 0), (0, 1), (1, 2), (1, 3), (1, 4)] * passes


def test_network_linear_detects_a_wrong_answer() -> None:
    """A node answering W s + m + 1 is caught by the Ack/transcript check before it is used."""
    manifest = toy_manifest()
    played = _Session(manifest, {0: 8, 1: 12})
    honest = played.nodes[0][1].serve

    def lie(session: QuerySession, m: Manifest, prepared: PreparedRound) -> RoundAnswer:
        a = honest(session, m, prepared)
        return RoundAnswer((a.outputs[0] + 1, *a.outputs[1:]), a.output_transcript, a.ack)

    played.nodes[0][1].serve = lie  # type: ignore[method-assign,assignment]
    with pytest.raises(AckError, match="output transcript"):
        list(toy_generate(manifest, (0, 1), 3, played.linear))


def test_budget_exhausted_is_refused_before_dealing() -> None:
    manifest = toy_manifest()
    played = _Session(manifest, {0: 2, 1: 3})  # one pass only
    with pytest.raises(AckError, match="budget"):
        list(toy_generate(manifest, (0, 1), 2, played.linear))


# -- claims: chunks ------------------------------------------------------------------------------


def _played_assignment(rounds: int) -> tuple[QuerySession, AssignmentOutcome]:
    manifest = toy_manifest()
    played = _Session(manifest, {0: rounds, 1: rounds})
    node = played.nodes[0][0]
    for _ in range(rounds // 2):
        played.linear(0, (1, 2, 3, 4))
        played.linear(1, (1, 2, 3, 4))
    return played.session, AssignmentOutcome(0, node.account.address, rounds)


def _record(session: QuerySession, a: AssignmentOutcome, n: int, *, finalised: bool) -> Any:
    state = session.assignment(a.part, a.node)
    if n == 0:
        digest = b"\0" * 32
    else:
        _i, t_n, o_n, _sig = state.acks[n - 1]
        digest = transcript_hash(t_n, o_n)
    return AssignmentRecord(
        b"\1" * 32,
        a.part,
        a.node,
        {"rounds": n, "transcriptHash": digest, "price": 5, "finalised": finalised},
    )


def test_claim_check_a_partial_chunk_is_not_a_claim() -> None:
    session, a = _played_assignment(6)
    check = check_claim
    assert check(a, _record(session, a, 0, finalised=False), session) is None
    # First chunk of R_max = 4 rounds: recorded, checked against the client's T_4, O_4, pending.
    assert check(a, _record(session, a, 4, finalised=False), session) is None
    assert (a.claimed, a.claimed_rounds, a.credit) == (False, 4, 20)
    # The final chunk brings it to the client's 6 rounds: claimed.
    assert check(a, _record(session, a, 6, finalised=True), session) is True
    assert (a.claimed, a.claimed_rounds, a.credit, a.finalised) == (True, 6, 30, True)


def test_claim_check_finalised_short_is_not_verified() -> None:
    session, a = _played_assignment(6)
    assert check_claim(a, _record(session, a, 4, finalised=True), session) is False
    assert not a.claimed


def test_claim_check_a_chunk_with_another_transcript_is_an_error() -> None:
    session, a = _played_assignment(6)
    record = _record(session, a, 4, finalised=False)
    wrong = dataclasses.replace(
        record, fields={**record.fields, "transcriptHash": transcript_hash(1, 2)}
    )
    with pytest.raises(QueryError, match="differs from this client's"):
        check_claim(a, wrong, session)


def test_claim_check_more_rounds_than_signed_is_an_error() -> None:
    session, a = _played_assignment(4)
    record = _record(session, a, 4, finalised=False)
    more = dataclasses.replace(record, fields={**record.fields, "rounds": 5})
    with pytest.raises(QueryError, match="more than"):
        check_claim(a, more, session)


def test_claim_check_before_chunked_claims_a_claim_finalises() -> None:
    """Records without `finalised` (the market before chunked claims): a claim is final."""
    session, a = _played_assignment(4)
    record = _record(session, a, 2, finalised=False)
    old = dataclasses.replace(
        record, fields={k: v for k, v in record.fields.items() if k != "finalised"}
    )
    assert check_claim(a, old, session) is False


# -- the outcome ---------------------------------------------------------------------------------


def test_generation_json_has_what_the_cli_promises() -> None:
    chunks = [
        ClaimChunk(0, 16, "0xaa", 300_000, 16 * 5, 16 * 4),
        ClaimChunk(16, 20, "0xbb", 280_000, 4 * 5, 4 * 4),
    ]
    a = AssignmentOutcome(
        0, "0x" + "44" * 20, 20, claimed=True, claimed_rounds=20, finalised=True, credit=100
    )
    a.chunks = chunks
    a.claim_gas = sum(c.gas for c in chunks)
    q = QueryOutcome(
        query_id=b"\2" * 32,
        model="toy-lm",
        model_id=3,
        version=1,
        escrow=150,
        request_tx="0xcc",
        request_gas=400_000,
        request_block=7,
        round_deadline=100,
        proof_deadline=200,
        assignments=[a],
        verified=True,
        cost=100,
    )
    g = GenerationOutcome("ab", (0, 1), q, tokens=[2, 3, 4], text="c.a")
    g.token_times_s = [1.0, 1.5, 2.0]
    g.proofs_after_last_token_s = 12.0
    doc = g.as_json()
    assert doc["text"] == "c.a"
    assert doc["tokens"] == [2, 3, 4]
    assert doc["query_id"] == "0x" + "02" * 32
    assert (doc["cost"], doc["refund"], doc["escrow"]) == (100, 50, 150)
    assert doc["gas"]["request"] == 400_000
    assert doc["gas"]["claims"] == 580_000
    assert doc["gas"]["claim_chunks"] == 2
    assert doc["gas"]["per_token"] == (400_000 + 580_000) // 3
    assert doc["assignments"][0]["chunks"][1] == {
        "start": 16,
        "rounds": 20,
        "tx_hash": "0xbb",
        "gas_used": 280_000,
        "credit": 20,
        "payout": 16,
    }
    assert doc["verified"] is True
    assert doc["tokens_per_s"] == 2.0  # two tokens after the first, in one second
    assert doc["time_to_first_token_s"] == 1.0
    assert doc["proofs_after_last_token_s"] == 12.0


# -- the real decoder (tiny-lm) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm() -> Manifest:
    return load_demo_manifest("tiny-lm")


def test_tiny_lm_refusals_before_paying(tiny_lm: Manifest) -> None:
    decoder, _ = load_program(tiny_lm)
    for prompt, tokens, match in [
        ("the @ sign", 4, "cannot read"),
        ("", 4, "empty"),
        ("the ", 0, "at least 1 new token"),
        ("x" * 60, 5, "exceed the model's context"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            check_generation(decoder, tiny_lm, prompt, tokens)
    # Budgets: passes x blocks per pass, beyond R_max (chunked) but within the max budget.
    checked = check_generation(decoder, tiny_lm, "the ", 32)
    assert checked.budgets == (35 * 2, 35 * 3)
    assert checked.budgets[0] > tiny_lm.part(0).max_rounds
    # A registry whose terms allow fewer rounds than the manifest: refused, with the fit.
    terms = _terms(tiny_lm, [40, 60])  # 20 passes at most
    with pytest.raises(BudgetTooLargeError, match="use --tokens 17 or fewer"):
        check_generation(decoder, tiny_lm, "the ", 32, terms)
    assert check_generation(decoder, tiny_lm, "the ", 17, terms).budgets == (40, 60)


def test_load_program_refuses_a_model_that_is_not_a_language_model() -> None:
    with pytest.raises(QueryError, match="needs a language model"):
        load_program(load_demo_manifest("digits"))


@pytest.mark.parametrize(("temperature", "seed", "tokens"), [(0.0, None, 5), (0.8, 11, 3)])
def test_tiny_lm_network_linear_reproduces_local_linear(
    tiny_lm: Manifest, temperature: float, seed: int | None, tokens: int
) -> None:
    """tiny-lm's generation through real sealed rounds to in-process nodes (k = 2 per part)
    equals its plaintext generation (`local_linear`) token for token."""
    decoder, run = load_program(tiny_lm)
    checked = check_generation(decoder, tiny_lm, "def ", tokens)
    expected = list(
        run(
            tiny_lm,
            checked.prompt_tokens,
            tokens,
            local_linear(tiny_lm),
            temperature=temperature,
            seed=seed,
        )
    )
    played = _Session(tiny_lm, dict(enumerate(checked.budgets)))
    got = list(
        run(
            tiny_lm,
            checked.prompt_tokens,
            tokens,
            played.linear,
            temperature=temperature,
            seed=seed,
        )
    )
    assert got == expected
    assert len(got) == tokens
    for (p, _node), s in played.session.assignments.items():
        assert s.rounds == checked.budgets[p]
