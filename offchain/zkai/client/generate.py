"""`zkai generate`: text from a language model whose linear blocks run privately on the network.

`GenerationClient.generate` is `QueryClient.run` with the language model's user-side program
(`zkai.models.decoder`) in place of one forward pass; planning, the request, the rounds and the
claim wait are `QueryClient`'s own:
1. Check, before anything is read from the chain or paid: the decoder refuses an empty prompt,
   characters outside its vocabulary, a prompt plus new tokens longer than its context, fewer
   than one new token (`Decoder.check_request`). Then the budgets: part p's rounds per node are
   `Decoder.rounds(...)[p]` (passes x the part's blocks per pass), which may exceed the part's
   R_max (its claims are then chunked) but not the part's max budget on-chain; otherwise refused
   with the largest --tokens that fits.
2. Plan and pay as `zkai query` does (one request, escrow E = sum of budgets x prices x k).
3. `decoder.generate(manifest, prompt, n, linear)` runs on this device; its `linear(block, x)` is
   one round to the k nodes of the block's part (`QuerySession.evaluate_block`: fresh shares,
   sealed, signed, every answer checked, W x + b reconstructed). The first call, block 0 of part
   0, pays first: the request carries its commitments (`PaidRounds`). Which nodes are asked and
   when depends only on the prompt length and the token count, never on the values.
4. Each token goes to `on_token` as soon as it is sampled (the CLI prints it).
5. `wait_claims`: every assignment's claims (one per chunk) must record exactly the client's
   rounds and transcripts; only then is the text reported as verified.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from zkai.client.query import (
    DEFAULT_ROUND_WINDOW_S,
    BudgetTooLargeError,
    QueryClient,
    QueryOutcome,
    part_max_budget,
)
from zkai.client.validity import prove_prompt
from zkai.errors import ModelFormatError, QueryError
from zkai.models.decoder import Decoder
from zkai.models.decoder import generate as decoder_generate
from zkai.models.manifest import Manifest
from zkai.protocol.market import ModelTerms

__all__ = [
    "CheckedGeneration",
    "DecoderProgram",
    "GenerateFn",
    "GenerationClient",
    "GenerationOutcome",
    "TokenCallback",
    "check_generation",
    "load_program",
]

ROUND_WINDOW_PER_PASS_S = 10
"""The default round window of a generation: this many seconds per forward pass (five sequential
rounds), at least `DEFAULT_ROUND_WINDOW_S`. Nodes claim as soon as a budget is used, so a long
window does not delay the proofs of a generation that finishes early."""

Linear = Callable[[int, tuple[int, ...]], tuple[int, ...]]
# (index of the token among the new ones, token id, its text, seconds since the request was mined)
TokenCallback = Callable[[int, int, str, float], None]
Progress = Callable[[str, dict[str, Any]], None]


class DecoderProgram(Protocol):
    """What the client needs of `zkai.models.decoder.Decoder` (interfaces.md, section 2)."""

    @property
    def context(self) -> int: ...

    def decode(self, tokens: Sequence[int]) -> str: ...

    def check_request(self, prompt: str, new_tokens: int) -> tuple[int, ...]: ...

    def rounds(self, manifest: Manifest, prompt_len: int, new_tokens: int) -> Mapping[int, int]: ...


class GenerateFn(Protocol):
    """`zkai.models.decoder.generate`: yields each new token as soon as it is sampled."""

    def __call__(
        self,
        manifest: Manifest,
        prompt_tokens: Sequence[int],
        new_tokens: int,
        linear: Linear,
        *,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> Iterator[int]: ...


def load_program(manifest: Manifest) -> tuple[DecoderProgram, GenerateFn]:
    """The user-side program of a decoder manifest (QueryError naming `zkai query` otherwise)."""
    try:
        program = Decoder.from_manifest(manifest)
    except ModelFormatError as exc:
        raise QueryError(f"{exc}; `zkai generate` needs a language model") from None
    return program, decoder_generate


@dataclass(frozen=True)
class CheckedGeneration:
    """A generation request that passed every check that needs no payment."""

    prompt_tokens: tuple[int, ...]
    new_tokens: int
    budgets: tuple[int, ...]  # rounds per assignment, per part


def _budgets(
    program: DecoderProgram, manifest: Manifest, prompt_len: int, new_tokens: int
) -> tuple[int, ...]:
    rounds = program.rounds(manifest, prompt_len, new_tokens)
    missing = [p for p in range(len(manifest.parts)) if p not in rounds]
    if missing:
        raise QueryError(f"the decoder plans no rounds for parts {missing} of {manifest.name!r}")
    return tuple(int(rounds[p]) for p in range(len(manifest.parts)))


def check_generation(
    program: DecoderProgram,
    manifest: Manifest,
    prompt: str,
    new_tokens: int,
    terms: ModelTerms | None = None,
) -> CheckedGeneration:
    """The prompt and token count checked by the decoder, and the budgets they need checked
    against each part's max budget in `terms` (if given). Raises `InvalidInputError` (the
    decoder's message) or `QueryError` naming the largest --tokens that fits; reads nothing."""
    tokens = program.check_request(prompt, new_tokens)
    budgets = _budgets(program, manifest, len(tokens), new_tokens)
    if terms is None:
        return CheckedGeneration(tokens, new_tokens, budgets)
    limits = [part_max_budget(part) for part in terms.parts]
    if len(limits) != len(budgets):
        raise QueryError(
            f"model {terms.model_id} has {len(limits)} parts on-chain, the manifest {len(budgets)}"
        )
    over = [(p, b, m) for p, (b, m) in enumerate(zip(budgets, limits, strict=True)) if b > m]
    if not over:
        return CheckedGeneration(tokens, new_tokens, budgets)
    p, b, m = over[0]
    fits = next(
        (
            n
            for n in range(new_tokens - 1, 0, -1)
            if all(
                x <= y
                for x, y in zip(_budgets(program, manifest, len(tokens), n), limits, strict=True)
            )
        ),
        0,
    )
    why = (
        f"{len(tokens)} prompt characters and {new_tokens} new tokens need {b} rounds per node "
        f"of part {p}, but the model's terms allow at most {m}"
    )
    if fits:
        hint = f"{why}; use --tokens {fits} or fewer (or a shorter prompt)"
    else:
        hint = f"{why}, even for one new token; shorten the prompt"
    raise BudgetTooLargeError(p, b, m, terms.parts[p].max_rounds, message=hint, fits=fits)


@dataclass
class GenerationOutcome:
    """What `zkai generate --json` prints (see `as_json`)."""

    prompt: str
    prompt_tokens: tuple[int, ...]
    query: QueryOutcome | None = None
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    temperature: float = 0.0
    seed: int | None = None
    token_times_s: list[float] = field(default_factory=list)  # since the request was mined
    proofs_after_last_token_s: float | None = None
    latency_s: float = 0.0

    @property
    def time_to_first_token_s(self) -> float | None:
        """From the request mined to the first new token (the prompt's passes included)."""
        return self.token_times_s[0] if self.token_times_s else None

    @property
    def tokens_per_s(self) -> float | None:
        """Tokens per second as streamed: (N - 1) tokens over the time from the first token to
        the last (one forward pass each); N / time to it for a single token."""
        t = self.token_times_s
        if not t:
            return None
        if len(t) == 1 or t[-1] <= t[0]:
            return len(t) / t[0] if t[0] > 0 else None
        return (len(t) - 1) / (t[-1] - t[0])

    @property
    def verified(self) -> bool:
        return self.query is not None and self.query.verified

    def as_json(self) -> dict[str, Any]:
        q = self.query
        per_token = None
        if q is not None and self.tokens:
            total = q.request_gas + sum(a.claim_gas for a in q.assignments)
            per_token = total // len(self.tokens)
        rate = self.tokens_per_s
        first = self.time_to_first_token_s
        return {
            "prompt": self.prompt,
            "text": self.text,
            "tokens": list(self.tokens),
            "temperature": self.temperature,
            "seed": self.seed,
            "query_id": None if q is None else "0x" + q.query_id.hex(),
            "model": None if q is None else q.model,
            "model_id": None if q is None else q.model_id,
            "version": None if q is None else q.version,
            "escrow": None if q is None else q.escrow,
            "cost": None if q is None else q.cost,
            "refund": None if q is None else q.refund,
            "gas": None
            if q is None
            else {
                "request": q.request_gas,
                "claims": sum(a.claim_gas for a in q.assignments),
                "claim_chunks": sum(len(a.chunks) for a in q.assignments),
                "total": q.request_gas + sum(a.claim_gas for a in q.assignments),
                "per_token": per_token,
            },
            "request_tx": None if q is None else q.request_tx,
            "deadlines": None
            if q is None
            else {"rounds": q.round_deadline, "proofs": q.proof_deadline},
            "assignments": [] if q is None else [a.as_json() for a in q.assignments],
            "verified": self.verified,
            "token_times_s": [round(t, 4) for t in self.token_times_s],
            "time_to_first_token_s": None if first is None else round(first, 3),
            "tokens_per_s": None if rate is None else round(rate, 3),
            "proofs_after_last_token_s": None
            if self.proofs_after_last_token_s is None
            else round(self.proofs_after_last_token_s, 3),
            "latency_s": round(self.latency_s, 3),
        }


def _noop(_event: str, _detail: dict[str, Any]) -> None:
    return None


class GenerationClient(QueryClient):
    """Plans, pays for and runs private generations from one wallet (`zkai generate`)."""

    def generate(
        self,
        name: str,
        manifest: Manifest,
        model_id: int,
        prompt: str,
        new_tokens: int,
        *,
        temperature: float = 0.0,
        seed: int | None = None,
        nodes: Sequence[Sequence[str]] | None = None,
        max_fee: int | None = None,
        round_window_s: int | None = None,
        wait_proofs: bool = True,
        on_token: TokenCallback | None = None,
        on_progress: Progress | None = None,
        program: tuple[DecoderProgram, GenerateFn] | None = None,
    ) -> GenerationOutcome:
        """Generate `new_tokens` tokens after `prompt`, paying once; see the module docstring.
        `program` is the decoder's (default: `load_program(manifest)`)."""
        progress = on_progress or _noop
        started = time.monotonic()
        decoder, run_decoder = program or load_program(manifest)
        # Everything the decoder can refuse, before the chain is even read.
        check_generation(decoder, manifest, prompt, new_tokens)
        if temperature < 0:
            raise QueryError(f"--temperature must be 0 (greedy) or positive, not {temperature}")
        terms = self.read_terms(manifest, model_id)
        checked = check_generation(decoder, manifest, prompt, new_tokens, terms)
        if round_window_s is None:
            passes = len(checked.prompt_tokens) + new_tokens - 1
            round_window_s = max(DEFAULT_ROUND_WINDOW_S, ROUND_WINDOW_PER_PASS_S * passes)
        plan = self.plan(
            manifest,
            model_id,
            budgets=checked.budgets,
            terms=terms,
            nodes=nodes,
            round_window_s=round_window_s,
            on_progress=progress,
        )
        fee_cap = self.fee_cap(plan, max_fee)
        self.check_funds(plan.escrow)
        session = self.open_session(plan)
        if plan.validity is not None and plan.validity.rule.kind == "tokens":
            prove_prompt(plan.validity, session, manifest, checked.prompt_tokens, progress)
        outcome = GenerationOutcome(
            prompt, checked.prompt_tokens, temperature=temperature, seed=seed
        )
        mined: list[float] = []

        def on_paid(event: str, detail: dict[str, Any]) -> None:
            if event == "requested":
                mined.append(time.monotonic())
            progress(event, detail)

        rounds = self.paid_rounds(name, plan, session, fee_cap, on_progress=on_paid)

        def linear(block: int, inputs: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(session.evaluate_block(manifest, block, inputs, rounds))

        stream = run_decoder(
            manifest,
            checked.prompt_tokens,
            new_tokens,
            linear,
            temperature=temperature,
            seed=seed,
        )
        for i, token in enumerate(stream):
            elapsed = time.monotonic() - mined[0]
            outcome.tokens.append(token)
            outcome.token_times_s.append(elapsed)
            piece = decoder.decode([token])
            outcome.text += piece
            if on_token is not None:
                on_token(i, token, piece, elapsed)
        last_token = time.monotonic()
        outcome.text = decoder.decode(outcome.tokens)
        query = rounds.paid()
        outcome.query = query
        query.answer_s = last_token - started
        progress("generated", {"tokens": len(outcome.tokens), "text": outcome.text})
        if wait_proofs:
            self.wait_claims(query, session, on_progress=progress)
            outcome.proofs_after_last_token_s = time.monotonic() - last_token
        outcome.latency_s = time.monotonic() - started
        query.latency_s = outcome.latency_s
        return outcome
