"""The user-side program of a decoder manifest (a character-level language model such as tiny-lm).

A decoder manifest (`Manifest.decoder` is a `DecoderSpec`) has five linear blocks, evaluated on
the nodes: qkv (0, d -> 3d), attention-out (1, d -> d), mlp-up (2, d -> h), mlp-down (3, h -> d)
and lm-head (4, d -> V). Everything else runs here, on the user's device, for each forward pass
(one token at position t):

    h   = tok[x] + pos[t]                             embedding lookup (param scale)
    a   = LN1(h);   y0 = L0(q(a))                     q(): round to the input scale, clamp
    q, k, v = y0;   append k, v to the KV cache
    att = softmax(q k^T / sqrt(d/H)) v per head       over the cache (positions 0..t)
    h  += L1(q(att))
    m   = LN2(h);   u = L2(q(m))
    h  += L3(rescale(relu(u)))                        the manifest's own relu + rescale steps
    f   = LNf(h);   logits = L4(q(f))                 integers at the block output scale

`Li` is the `Linear` callable: (block index, input integers) -> W x + b exactly. `local_linear`
computes it in plaintext; the network client's version deals each call as one round to the
part's k nodes. Because the user-side steps are this one deterministic code (float64 numpy,
then np.rint and clamping into the block's clamp interval, which `clamped` counts), generation
through the network equals plaintext generation as long as every W x + b is exact. Block outputs
are read as floats by dividing by 2**(input_scale_bits + weight_scale_bits); tables and
layer-norm parameters by 2**param_scale_bits.

Passes: a prompt of L tokens and N new tokens take L + N - 1 passes (the last sampled token is
never fed back), each calling blocks 0..4 once, so part p serves passes * len(schedule_p)
rounds. Sampling: temperature 0 is greedy (the first maximal logit, on the exact integers);
temperature > 0 samples from softmax(logits / T) with numpy's PCG64 seeded by `seed`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from zkai.errors import InvalidInputError, ModelFormatError
from zkai.models.manifest import DecoderSpec, LayerNorm, Manifest, Part
from zkai.models.steps import LinearBlock, Relu, Rescale, Step

__all__ = [
    "LAYER_NORM_EPS",
    "Decoder",
    "Linear",
    "build_manifest",
    "generate",
    "local_linear",
    "log_probabilities",
    "token_inputs",
]

Linear = Callable[[int, tuple[int, ...]], tuple[int, ...]]
"""(block index, input integers at the input scale) -> W x + b exactly (integers)."""
LAYER_NORM_EPS = 1e-5
_INT64_SAFE = 1 << 62
FloatArray = npt.NDArray[np.float64]


def _spec(manifest: Manifest) -> DecoderSpec:
    if manifest.decoder is None:
        raise ModelFormatError(
            f'model {manifest.name!r} is not a decoder (its manifest has no "decoder" '
            "object); run it with `zkai query`"
        )
    return manifest.decoder


@dataclass(frozen=True)
class Decoder:
    """A decoder's vocabulary and limits: encoding, request checks and round counts."""

    vocab: str
    context: int
    passes_per_token: int = 1
    max_passes: int | None = None
    """The most passes every part's max_budget allows (None: not limited by the manifest)."""
    forbidden: tuple[int, ...] = ()
    """The manifest's usage policy: token ids a prompt must not contain."""

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> Decoder:
        spec = _spec(manifest)
        max_passes = min(p.max_budget // len(p.schedule) for p in manifest.parts)
        return cls(spec.vocab, spec.context, 1, max_passes, spec.forbidden)

    def encode(self, prompt: str) -> tuple[int, ...]:
        """Token ids of `prompt`; InvalidInputError naming every character not in the vocab."""
        unknown = sorted({c for c in prompt if c not in self.vocab})
        if unknown:
            raise InvalidInputError(
                f"the prompt has characters this model cannot read: "
                f"{', '.join(repr(c) for c in unknown)}; use only {self.vocab!r}"
                + (
                    " (the model is lower-case: try prompt.lower())"
                    if _has_upper(unknown, self.vocab)
                    else ""
                )
            )
        return tuple(self.vocab.index(c) for c in prompt)

    def decode(self, tokens: Sequence[int]) -> str:
        for t in tokens:
            if not isinstance(t, int | np.integer) or not 0 <= int(t) < len(self.vocab):
                raise InvalidInputError(f"token {t!r} is not in 0..{len(self.vocab) - 1}")
        return "".join(self.vocab[int(t)] for t in tokens)

    def passes(self, prompt_len: int, new_tokens: int) -> int:
        """Forward passes of a generation: prompt_len + new_tokens - 1."""
        return prompt_len + new_tokens - 1

    def check_tokens(self, prompt_tokens: Sequence[int], new_tokens: int) -> tuple[int, ...]:
        """Refuse (InvalidInputError, saying how to fix) what no generation can serve."""
        tokens = tuple(prompt_tokens)
        if not isinstance(new_tokens, int) or isinstance(new_tokens, bool) or new_tokens < 1:
            raise InvalidInputError(f"ask for at least 1 new token (got {new_tokens!r})")
        if not tokens:
            raise InvalidInputError("the prompt is empty: give at least one character")
        for t in tokens:
            if not isinstance(t, int | np.integer) or not 0 <= int(t) < len(self.vocab):
                raise InvalidInputError(f"token {t!r} is not in 0..{len(self.vocab) - 1}")
        if len(tokens) + new_tokens > self.context:
            fit = self.context - len(tokens)
            raise InvalidInputError(
                f"prompt ({len(tokens)} characters) + {new_tokens} new tokens exceed the "
                f"model's context of {self.context}; "
                + (
                    f"ask for at most {fit} tokens"
                    if fit >= 1
                    else f"shorten the prompt to at most {self.context - 1} characters"
                )
            )
        banned = sorted({int(t) for t in tokens} & set(self.forbidden))
        if banned:
            raise InvalidInputError(
                "the prompt uses tokens the model's usage policy forbids: "
                + ", ".join(repr(self.vocab[t]) for t in banned)
                + "; refused before paying (remove them from the prompt)"
            )
        passes = self.passes(len(tokens), new_tokens)
        if self.max_passes is not None and passes > self.max_passes:
            raise InvalidInputError(
                f"{passes} forward passes exceed the {self.max_passes} the model's parts allow "
                f"(max_budget); ask for at most {self.max_passes + 1 - len(tokens)} tokens"
            )
        return tuple(int(t) for t in tokens)

    def check_request(self, prompt: str, new_tokens: int) -> tuple[int, ...]:
        """Encode `prompt` and refuse an empty prompt, unknown characters, too long a request
        for the context (or the parts' budgets), or fewer than 1 new token."""
        if not isinstance(prompt, str) or not prompt:
            raise InvalidInputError("the prompt is empty: give at least one character")
        return self.check_tokens(self.encode(prompt), new_tokens)

    def rounds(self, manifest: Manifest, prompt_len: int, new_tokens: int) -> dict[int, int]:
        """Rounds each node of part p serves: passes * (p's blocks per pass)."""
        passes = self.passes(prompt_len, new_tokens)
        return {p.index: passes * manifest.rounds_per_pass(p.index) for p in manifest.parts}


def _has_upper(chars: Sequence[str], vocab: str) -> bool:
    return any(c.lower() != c and c.lower() in vocab for c in chars)


# -- plaintext blocks -------------------------------------------------------------------------


def local_linear(manifest: Manifest) -> Linear:
    """Plaintext W x + b in exact integers (int64 numpy when no value can pass 2**62, else
    Python integers with the block's bound check)."""
    blocks = manifest.blocks
    row_sums = [max(sum(abs(w) for w in row) for row in b.weights) for b in blocks]
    fast = [
        np.array(b.weights, dtype=np.int64)
        if max(abs(w) for row in b.weights for w in row) < _INT64_SAFE
        else None
        for b in blocks
    ]

    def linear(block: int, x: tuple[int, ...]) -> tuple[int, ...]:
        if not isinstance(block, int) or not 0 <= block < len(blocks):
            raise ModelFormatError(f"model {manifest.name!r} has blocks 0..{len(blocks) - 1}")
        b = blocks[block]
        if len(x) != b.input_size or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in x
        ):
            raise InvalidInputError(f"block {block} takes {b.input_size} integers")
        w = fast[block]
        largest = max(abs(v) for v in x)
        safe = largest < _INT64_SAFE and (
            row_sums[block] * largest + max(abs(v) for v in b.bias) < _INT64_SAFE
        )
        if w is not None and safe:
            y = w @ np.array(x, dtype=np.int64)
            return tuple(int(v) + c for v, c in zip(y.tolist(), b.bias, strict=True))
        return tuple(b.forward(x))

    return linear


# -- the user-side program --------------------------------------------------------------------


class _Program:
    """The decoder's dequantised user-side parameters and clamp intervals (per manifest)."""

    def __init__(self, manifest: Manifest) -> None:
        spec = _spec(manifest)
        self.manifest = manifest
        self.spec = spec
        ps = float(1 << spec.param_scale_bits)
        self.tok = np.array(spec.token_embedding, dtype=np.float64) / ps
        self.pos = np.array(spec.position_embedding, dtype=np.float64) / ps
        self.norms: dict[str, tuple[FloatArray, FloatArray]] = {
            name: (
                np.array(norm.gamma, dtype=np.float64) / ps,
                np.array(norm.beta, dtype=np.float64) / ps,
            )
            for name, norm in spec.layer_norms
        }
        self.in_scale = float(1 << manifest.input_scale_bits)
        self.out_scale = float(1 << manifest.output_scale_bits)
        lows, highs = [], []
        for b in range(len(manifest.blocks)):
            lo, hi = manifest.block_input_range(b)
            lows.append(np.array(lo, dtype=np.float64))
            highs.append(np.array(hi, dtype=np.float64))
        self.lows, self.highs = lows, highs
        self.heads = spec.heads
        self.head_dim = spec.d_model // spec.heads

    def quantise(self, block: int, values: FloatArray) -> tuple[tuple[int, ...], int]:
        """Round to the input scale and clamp into block's input interval; (ints, clamped)."""
        scaled = np.rint(values * self.in_scale)
        clipped = np.clip(scaled, self.lows[block], self.highs[block])
        clamped = int(np.count_nonzero(clipped != scaled))
        return tuple(int(v) for v in clipped), clamped

    def embed(self, token: int, t: int) -> tuple[FloatArray, tuple[tuple[int, ...], int]]:
        """Token `token` at position `t`: the residual E[token] + P[t] and block 0's input, the
        quantised LN1 of it, with its clamp count (a function of (t, token) only)."""
        h = self.tok[token] + self.pos[t]
        return h, self.quantise(0, self.layer_norm("ln1", h))

    def layer_norm(self, name: str, x: FloatArray) -> FloatArray:
        gamma, beta = self.norms[name]
        mu = x.mean()
        var = ((x - mu) ** 2).mean()
        out: FloatArray = (x - mu) / math.sqrt(var + LAYER_NORM_EPS) * gamma + beta
        return out

    def block_output(self, linear: Linear, block: int, x: tuple[int, ...]) -> tuple[int, ...]:
        y = linear(block, x)
        size = self.manifest.blocks[block].output_size
        if len(y) != size:
            raise InvalidInputError(f"block {block} returned {len(y)} values, not {size}")
        return tuple(y)

    def floats(self, y: tuple[int, ...]) -> FloatArray:
        return np.array(y, dtype=np.float64) / self.out_scale


class _State:
    """One generation's KV cache and position."""

    def __init__(self, program: _Program, linear: Linear) -> None:
        self.program = program
        self.linear = linear
        self.keys: list[FloatArray] = []
        self.values: list[FloatArray] = []
        self.clamped = 0

    @property
    def position(self) -> int:
        return len(self.keys)

    def step(self, token: int) -> tuple[int, ...]:
        """One forward pass for `token` at the next position: the logits (integers)."""
        pr = self.program
        t = self.position
        if t >= pr.spec.context:
            raise InvalidInputError(f"position {t} is beyond the context of {pr.spec.context}")
        d, nh, hd = pr.spec.d_model, pr.heads, pr.head_dim
        h, (x0, c0) = pr.embed(token, t)
        qkv = pr.floats(pr.block_output(self.linear, 0, x0))
        q = qkv[:d].reshape(nh, hd)
        self.keys.append(qkv[d : 2 * d].reshape(nh, hd))
        self.values.append(qkv[2 * d :].reshape(nh, hd))
        keys, values = np.stack(self.keys), np.stack(self.values)  # (t+1, H, hd)
        scores = np.einsum("he,the->ht", q, keys) / math.sqrt(hd)
        weights = np.exp(scores - scores.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        attention = np.einsum("ht,the->he", weights, values).reshape(d)
        x1, c1 = pr.quantise(1, attention)
        h = h + pr.floats(pr.block_output(self.linear, 1, x1))
        x2, c2 = pr.quantise(2, pr.layer_norm("ln2", h))
        up = pr.block_output(self.linear, 2, x2)
        hidden = pr.manifest.run_user_steps(2, up)  # relu, rescale (exact integers)
        h = h + pr.floats(pr.block_output(self.linear, 3, hidden.values))
        x4, c4 = pr.quantise(4, pr.layer_norm("ln_final", h))
        logits = pr.block_output(self.linear, 4, x4)
        self.clamped += c0 + c1 + c2 + hidden.clamped + c4
        return logits


def token_inputs(manifest: Manifest) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """table[t][x]: block 0's input (part 0's first round of a pass) for token x at position t,
    exactly as the client computes it in a generation (`_State.step`). A validity rule over
    tokens (`zkai.models.rule`) holds this table."""
    program = _Program(manifest)
    spec = program.spec
    return tuple(
        tuple(program.embed(x, t)[1][0] for x in range(len(spec.vocab)))
        for t in range(spec.context)
    )


def _sample(
    logits: tuple[int, ...], out_scale: float, temperature: float, rng: np.random.Generator | None
) -> int:
    if temperature == 0.0 or rng is None:
        best = max(logits)
        return logits.index(best)
    z = np.array(logits, dtype=np.float64) / out_scale / temperature
    p = np.exp(z - z.max())
    cumulative = np.cumsum(p)
    u = rng.random() * cumulative[-1]
    return int(min(np.searchsorted(cumulative, u, side="right"), len(logits) - 1))


def generate(
    manifest: Manifest,
    prompt_tokens: Sequence[int],
    new_tokens: int,
    linear: Linear,
    *,
    temperature: float = 0.0,
    seed: int | None = None,
) -> Iterator[int]:
    """Generate `new_tokens` tokens after `prompt_tokens`, yielding each once it is sampled.

    The request is checked now (InvalidInputError for an empty prompt, unknown token ids, a
    request beyond the context or the parts' budgets, new_tokens < 1, a negative or non-finite
    temperature); the passes run as the iterator is consumed, calling `linear` once per block
    per pass in block order. temperature 0: greedy; > 0: sampling reproducible from `seed`.
    """
    decoder = Decoder.from_manifest(manifest)
    tokens = decoder.check_tokens(prompt_tokens, new_tokens)
    if (
        not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or temperature < 0
    ):
        raise InvalidInputError(f"temperature must be a finite number >= 0, got {temperature!r}")
    program = _Program(manifest)
    rng = np.random.default_rng(seed) if temperature > 0 else None

    def run() -> Iterator[int]:
        state = _State(program, linear)
        for token in tokens[:-1]:
            state.step(token)
        current = tokens[-1]
        for _ in range(new_tokens):
            current = _sample(state.step(current), program.out_scale, float(temperature), rng)
            yield current

    return run()


def log_probabilities(
    manifest: Manifest, tokens: Sequence[int], linear: Linear
) -> list[FloatArray]:
    """Teacher-forced next-token log-probabilities (natural log) after each of `tokens`
    (at most a context of them): what held-out bits per character are measured with."""
    spec = _spec(manifest)
    checked = tuple(int(t) for t in tokens)
    if not 1 <= len(checked) <= spec.context:
        raise InvalidInputError(f"give 1..{spec.context} tokens, got {len(checked)}")
    if not all(0 <= t < len(spec.vocab) for t in checked):
        raise InvalidInputError(f"token ids must be in 0..{len(spec.vocab) - 1}")
    program = _Program(manifest)
    state = _State(program, linear)
    result = []
    for token in checked:
        z = np.array(state.step(token), dtype=np.float64) / program.out_scale
        z = z - z.max()
        result.append(z - math.log(float(np.exp(z).sum())))
    return result


# -- quantisation -----------------------------------------------------------------------------


def _round_matrix(value: npt.ArrayLike, bits: int) -> list[list[int]]:
    array = np.asarray(value, dtype=np.float64)
    return [[int(v) for v in row] for row in np.rint(array * float(1 << bits))]


def _round_vector(value: npt.ArrayLike, bits: int) -> list[int]:
    return [int(v) for v in np.rint(np.asarray(value, dtype=np.float64) * float(1 << bits))]


def _token_ids(vocab: str, characters: Sequence[str]) -> tuple[int, ...]:
    unknown = sorted({c for c in characters if c not in vocab})
    if unknown:
        raise ModelFormatError(
            f"the usage policy forbids characters that are not in the vocabulary: {unknown!r}"
        )
    return tuple(sorted({vocab.index(c) for c in characters}))


def build_manifest(
    *,
    name: str,
    version: int,
    description: str,
    vocab: str,
    context: int,
    heads: int,
    input_scale_bits: int,
    weight_scale_bits: int,
    param_scale_bits: int,
    token_embedding: npt.ArrayLike,
    position_embedding: npt.ArrayLike,
    layer_norms: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    linear: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    clamps: Mapping[str, float],
    max_rounds: tuple[int, int],
    max_budgets: tuple[int, int],
    forbidden: Sequence[str] = (),
) -> Manifest:
    """Quantise a float decoder into a manifest.

    `linear[role]` = (W, b) with W (outputs x inputs) for each role in DECODER_ROLES; W is
    rounded at 2**weight_scale_bits and b at 2**(input_scale_bits + weight_scale_bits). Block
    inputs are clamped into +-clamps[role] (mlp_down: [0, clamps[role]]), rounded outwards at
    the input scale. Tables and layer norms are rounded at 2**param_scale_bits. Parts: 0 =
    [qkv, attention_out], 1 = [mlp_up, mlp_down, lm_head], with the given R_max and budgets.
    `forbidden`: the usage policy, characters of `vocab` a prompt must not contain.
    """
    from zkai.models.manifest import DECODER_ROLES

    tok = np.asarray(token_embedding, dtype=np.float64)
    d = tok.shape[1]
    in_scale = float(1 << input_scale_bits)

    def bound(role: str) -> int:
        return math.ceil(clamps[role] * in_scale)

    steps: list[Step] = []
    for index, role in enumerate(DECODER_ROLES):
        if role == "mlp_down":
            steps += [Relu(), Rescale(weight_scale_bits, 0, bound(role))]
        elif index > 0:
            steps.append(Rescale(weight_scale_bits, -bound(role), bound(role)))
        w, b = linear[role]
        steps.append(
            LinearBlock(
                index,
                tuple(tuple(r) for r in _round_matrix(w, weight_scale_bits)),
                tuple(_round_vector(b, input_scale_bits + weight_scale_bits)),
            )
        )
    hidden = np.asarray(linear["mlp_up"][0]).shape[0]
    spec = DecoderSpec(
        vocab=vocab,
        context=context,
        d_model=d,
        heads=heads,
        mlp_hidden=hidden,
        activation="relu",
        param_scale_bits=param_scale_bits,
        token_embedding=tuple(tuple(r) for r in _round_matrix(tok, param_scale_bits)),
        position_embedding=tuple(
            tuple(r) for r in _round_matrix(position_embedding, param_scale_bits)
        ),
        layer_norms=tuple(
            (
                norm,
                LayerNorm(
                    tuple(_round_vector(g, param_scale_bits)),
                    tuple(_round_vector(beta, param_scale_bits)),
                ),
            )
            for norm, (g, beta) in layer_norms.items()
        ),
        blocks=tuple((role, b) for b, role in enumerate(DECODER_ROLES)),
        forbidden=_token_ids(vocab, forbidden),
    )
    b0 = bound("qkv")
    return Manifest(
        name=name,
        version=version,
        input_scale_bits=input_scale_bits,
        weight_scale_bits=weight_scale_bits,
        input_min=(-b0,) * d,
        input_max=(b0,) * d,
        steps=tuple(steps),
        parts=(
            Part(0, (0, 1), max_rounds[0], max_budgets[0]),
            Part(1, (2, 3, 4), max_rounds[1], max_budgets[1]),
        ),
        postprocess="none",
        labels=None,
        description=description,
        decoder=spec,
    )
