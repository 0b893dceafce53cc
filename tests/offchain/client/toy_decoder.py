"""A toy decoder-shaped model for the client's tests: five linear blocks (qkv 0, out 1, up 2,
down 3, head 4) each after a `rescale` that bounds its input, in two parts ([0, 1] and [2, 3, 4]),
and a user-side program with the interface of `zkai.models.decoder` (interfaces.md, section 2):
check_request, rounds, decode, generate(manifest, prompt, n, linear, temperature=, seed=).

Its passes are stateful (a running sum of block 0's outputs over the positions, like a KV cache),
so a token depends on the whole history and a wrong round anywhere changes the text. Small enough
that its part circuits prove in seconds; the client's tests use it where the real tiny-lm would
make a test slow, and against `ToyDecoder.local_linear` (plaintext W x + b) for exactness.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from zkai.errors import InvalidInputError
from zkai.models.manifest import Manifest, Part
from zkai.models.steps import LinearBlock, Rescale

Linear = Callable[[int, tuple[int, ...]], tuple[int, ...]]

VOCAB = "ab c."
D = 4
LIMIT = 16  # every block's input is clamped into [-LIMIT, LIMIT]


def _matrix(seed: int, rows: int, cols: int) -> tuple[tuple[int, ...], ...]:
    rng = random.Random(seed)
    return tuple(tuple(rng.randint(-7, 7) for _ in range(cols)) for _ in range(rows))


def chunked_claims() -> bool:
    """Whether this checkout has chunked claims: `Part.max_budget` in manifests, the registry's
    `PartTerms.max_budget` and the node's chunk scheduler."""
    from zkai.node import claims
    from zkai.protocol.market import PartTerms

    return (
        "max_budget" in {f.name for f in dataclasses.fields(Part)}
        and "max_budget" in {f.name for f in dataclasses.fields(PartTerms)}
        and hasattr(claims, "next_claim")
    )


def toy_manifest(
    *,
    max_rounds: tuple[int, int] = (12, 18),
    max_budgets: tuple[int, int] | None = None,
    name: str = "toy-lm",
    version: int = 1,
) -> Manifest:
    """The toy model; `max_budgets` above `max_rounds` make its claims chunked."""
    sizes = [(D, D), (D, D), (2 * D, D), (D, 2 * D), (len(VOCAB), D)]  # (outputs, inputs)
    steps: list[LinearBlock | Rescale] = []
    for b, (rows, cols) in enumerate(sizes):
        if b > 0:
            steps.append(Rescale(3, -LIMIT, LIMIT))
        bias = tuple(random.Random(100 + b).randint(-20, 20) for _ in range(rows))
        steps.append(LinearBlock(b, _matrix(b, rows, cols), bias))
    return Manifest(
        name=name,
        version=version,
        input_scale_bits=3,
        weight_scale_bits=3,
        input_min=(-LIMIT,) * D,
        input_max=(LIMIT,) * D,
        steps=tuple(steps),
        parts=tuple(
            Part(p, schedule, max_rounds[p])
            if max_budgets is None
            else Part(p, schedule, max_rounds[p], max_budget=max_budgets[p])  # type: ignore[call-arg]
            for p, schedule in enumerate([(0, 1), (2, 3, 4)])
        ),
        postprocess="argmax",
        description="the client tests' toy decoder",
    )


def _clamp(values: Sequence[int]) -> tuple[int, ...]:
    return tuple(min(max((v + 4) >> 3, -LIMIT), LIMIT) for v in values)


@dataclass(frozen=True)
class ToyDecoder:
    vocab: str = VOCAB
    context: int = 8
    passes_per_token = 1

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> ToyDecoder:
        return cls()

    def encode(self, prompt: str) -> tuple[int, ...]:
        unknown = sorted({c for c in prompt if c not in self.vocab})
        if unknown:
            raise InvalidInputError(
                f"the prompt has characters outside the vocabulary: {unknown!r}; "
                f"use only {self.vocab!r}"
            )
        return tuple(self.vocab.index(c) for c in prompt)

    def decode(self, tokens: Sequence[int]) -> str:
        return "".join(self.vocab[t] for t in tokens)

    def passes(self, prompt_len: int, new_tokens: int) -> int:
        return prompt_len + new_tokens - 1

    def check_request(self, prompt: str, new_tokens: int) -> tuple[int, ...]:
        if not prompt:
            raise InvalidInputError("the prompt is empty; give at least one character")
        tokens = self.encode(prompt)
        if new_tokens < 1:
            raise InvalidInputError("ask for at least one new token (--tokens 1 or more)")
        if len(tokens) + new_tokens > self.context:
            raise InvalidInputError(
                f"{len(tokens)} prompt characters + {new_tokens} new tokens exceed the context "
                f"of {self.context}; use --tokens {self.context - len(tokens)} or fewer"
            )
        return tokens

    def rounds(self, manifest: Manifest, prompt_len: int, new_tokens: int) -> dict[int, int]:
        passes = self.passes(prompt_len, new_tokens)
        return {p.index: passes * len(p.schedule) for p in manifest.parts}

    @staticmethod
    def local_linear(manifest: Manifest) -> Linear:
        return lambda b, x: tuple(manifest.block(b).forward(x))


def toy_generate(
    manifest: Manifest,
    prompt_tokens: Sequence[int],
    new_tokens: int,
    linear: Linear,
    *,
    temperature: float = 0.0,
    seed: int | None = None,
) -> Iterator[int]:
    """One pass per position; a running sum of block 0's outputs carries the history."""
    rng = random.Random(seed)
    tokens = list(prompt_tokens)
    memory = [0] * D
    for position in range(len(prompt_tokens) + new_tokens - 1):
        t = tokens[position]
        x = _clamp([(t + 1) * (j + 1) * 5 - position * 3 for j in range(D)])
        q = linear(0, x)
        memory = [m + v for m, v in zip(memory, q, strict=True)]
        h = linear(1, _clamp([m // (position + 1) for m in memory]))
        up = linear(2, _clamp(h))
        down = linear(3, _clamp([max(v, 0) for v in up]))
        logits = linear(4, _clamp([a + b for a, b in zip(down, x, strict=True)]))
        if position < len(prompt_tokens) - 1:
            continue
        if temperature == 0:
            nxt = max(range(len(logits)), key=lambda i: (logits[i], -i))
        else:
            top = max(logits)
            weights = [math.exp((v - top) / (8 * temperature)) for v in logits]
            nxt = rng.choices(range(len(logits)), weights)[0]
        tokens.append(nxt)
        yield nxt


def toy_program(manifest: Manifest) -> tuple[ToyDecoder, Callable[..., Iterator[int]]]:
    return ToyDecoder.from_manifest(manifest), toy_generate
