"""The tiny-lm decoder: the shipped manifest, the user-side program and its exactness.

The reference used here (`reference_logits`) is written from the format's definition in matrix
form over a whole prefix (no KV cache), with a switch between the integer program (block inputs
rounded and clamped, blocks as exact integers) and the float model (the same parameters, no
rounding, no clamping). The network's arithmetic is reproduced with real additive shares mod r
(`zkai.crypto.sharing.deal`): each of k nodes computes W s_j + m_j, the user subtracts the masks
and adds b.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from zkai.crypto.field import BN254_R, encode_signed_vector
from zkai.crypto.sharing import deal
from zkai.errors import EncodingOverflowError, InvalidInputError, ModelFormatError
from zkai.models.decoder import (
    LAYER_NORM_EPS,
    Decoder,
    Linear,
    generate,
    local_linear,
    log_probabilities,
)
from zkai.models.demo import DEMO_DIR, load_demo_manifest
from zkai.models.manifest import Manifest

# The shipped manifest's content hash: registrations on every chain name it, so retraining
# (scripts/train_tiny_lm.py --write) must update it here, in tiny-lm-report.json and on-chain.
TINY_LM_HASH = "0x46242aad1e8e566f9c7261c02c33e1ae0b88982c5b476deba1e045417e4429f3"
PROMPT = "the "
# Greedy output of the quantised model for PROMPT (32 tokens), recorded from generate() and
# cross-checked below against the float model and the cache-free reference.
EXPECTED_GREEDY = "of the contally the contally the"


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_demo_manifest("tiny-lm")


@pytest.fixture(scope="module")
def decoder(manifest: Manifest) -> Decoder:
    return Decoder.from_manifest(manifest)


def reference_logits(manifest: Manifest, tokens: Sequence[int], *, quantised: bool) -> np.ndarray:
    """Logits (len(tokens) x V, floats) of every position, recomputed without a cache."""
    spec = manifest.decoder
    assert spec is not None
    ps = 2.0**spec.param_scale_bits
    ins, outs = 2.0**manifest.input_scale_bits, 2.0**manifest.output_scale_bits
    blocks = manifest.blocks
    t = len(tokens)
    d, nh = spec.d_model, spec.heads
    hd = d // nh

    def norm(name: str, x: np.ndarray) -> np.ndarray:
        ln = spec.layer_norm(name)
        mu = x.mean(axis=1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
        g, b = np.array(ln.gamma) / ps, np.array(ln.beta) / ps
        return (x - mu) / np.sqrt(var + LAYER_NORM_EPS) * g + b

    def block(b: int, x: np.ndarray) -> np.ndarray:
        """Rows of x through block b: quantised = round half to even at the input scale,
        clamp, exact integers (x already integers for mlp-down, see relu_rescale)."""
        w = np.array(blocks[b].weights, dtype=np.int64)
        bias = np.array(blocks[b].bias, dtype=np.int64)
        if not quantised:
            return x @ (w.T / 2.0**manifest.weight_scale_bits) + bias / outs
        if x.dtype == np.int64:
            return (x @ w.T + bias) / outs
        lo, hi = (np.array(v) for v in manifest.block_input_range(b))
        q = np.clip(np.rint(x * ins), lo, hi).astype(np.int64)
        return (q @ w.T + bias) / outs

    def relu_rescale(up: np.ndarray) -> np.ndarray:
        """The manifest's relu + rescale on mlp-up's integer outputs: round half up, clamp."""
        if not quantised:
            return np.maximum(up, 0.0)
        ints = np.rint(up * outs).astype(np.int64)
        shift = manifest.weight_scale_bits
        lo, hi = (np.array(v) for v in manifest.block_input_range(3))
        return np.clip((np.maximum(ints, 0) + (1 << (shift - 1))) >> shift, lo, hi)

    h = (
        np.array(spec.token_embedding)[list(tokens)] / ps
        + np.array(spec.position_embedding)[:t] / ps
    )
    qkv = block(0, norm("ln1", h))
    q, k, v = (qkv[:, i * d : (i + 1) * d].reshape(t, nh, hd).transpose(1, 0, 2) for i in range(3))
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd) + np.triu(np.full((t, t), -np.inf), 1)
    p = np.exp(scores - scores.max(axis=2, keepdims=True))
    p /= p.sum(axis=2, keepdims=True)
    att = (p @ v).transpose(1, 0, 2).reshape(t, d)
    h = h + block(1, att)
    up = block(2, norm("ln2", h))
    h = h + block(3, relu_rescale(up))
    return block(4, norm("ln_final", h))


def shared_linear(manifest: Manifest, k: int = 3) -> Linear:
    """W x + b through k additive shares mod r, as the nodes and the user compute it."""

    def linear(b: int, x: tuple[int, ...]) -> tuple[int, ...]:
        block = manifest.block(b)
        openings = [p.opening() for p in deal(encode_signed_vector(x), k, block.output_size)]
        outputs = [block.apply(o.share, o.mask) for o in openings]
        total = [
            (sum(out[i] for out in outputs) - sum(o.mask[i] for o in openings)) % BN254_R
            for i in range(block.output_size)
        ]
        return tuple(block.reconstruct(total))

    return linear


def greedy(manifest: Manifest, decoder: Decoder, prompt: str, n: int, linear: Linear) -> str:
    return decoder.decode(list(generate(manifest, decoder.check_request(prompt, n), n, linear)))


# -- the shipped manifest ----------------------------------------------------------------


def test_shipped_manifest_loads_with_a_stable_hash(manifest: Manifest) -> None:
    assert manifest.hash_hex == TINY_LM_HASH
    report = json.loads((DEMO_DIR / "tiny-lm-report.json").read_text())
    assert report["content_hash"] == TINY_LM_HASH
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest
    assert Manifest.from_json(manifest.canonical_json()).hash_hex == TINY_LM_HASH
    assert [b.input_size for b in manifest.blocks] == [32, 32, 32, 64, 32]
    assert [b.output_size for b in manifest.blocks] == [96, 32, 64, 32, 64]
    assert [p.schedule for p in manifest.parts] == [(0, 1), (2, 3, 4)]
    spec = manifest.decoder
    assert spec is not None
    assert spec.context == 64
    assert len(spec.vocab) == 64
    for part in manifest.parts:
        assert part.max_budget == (spec.context - 1) * len(part.schedule)
        assert part.max_rounds % len(part.schedule) == 0


def test_other_manifests_keep_their_form() -> None:
    digits = load_demo_manifest("digits-mlp")
    assert digits.decoder is None
    assert "decoder" not in digits.to_dict()
    assert Manifest.from_json(digits.to_json()).hash == digits.hash


def test_evaluate_and_predict_refuse_a_decoder(manifest: Manifest) -> None:
    with pytest.raises(ModelFormatError, match="decoder"):
        manifest.evaluate([0] * 32)
    with pytest.raises(ModelFormatError, match="generate"):
        manifest.predict([0.0] * 32)


def test_malformed_decoder_sections_are_refused(manifest: Manifest) -> None:
    data = json.loads(manifest.canonical_json())

    def broken(change: Any) -> dict[str, Any]:
        copied = copy.deepcopy(data)
        change(copied)
        return copied

    cases = {
        "missing": lambda m: m["decoder"].pop("vocab"),
        "repeats": lambda m: m["decoder"].update(vocab="a" * 64),
        "rows": lambda m: m["decoder"]["token_embedding"].pop(),
        "norms": lambda m: m["decoder"]["layer_norms"].pop("ln2"),
        "blocks": lambda m: m["decoder"]["blocks"].update(qkv=1),
        "decoder's steps": lambda m: m["steps"].pop(5),
        "shift": lambda m: m["steps"][1].update(shift=15),
        "activation": lambda m: m["decoder"].update(activation="gelu"),
    }
    for what, change in cases.items():
        with pytest.raises(ModelFormatError):
            Manifest.from_dict(broken(change))
        del what


def test_a_block_whose_clamp_allows_overflow_is_refused(manifest: Manifest) -> None:
    data = json.loads(manifest.canonical_json())
    data["steps"][1]["max"] = 2**250
    with pytest.raises(EncodingOverflowError, match="block 1"):
        Manifest.from_dict(data)


# -- exactness ------------------------------------------------------------------------------


def test_greedy_generation_is_the_recorded_text(manifest: Manifest, decoder: Decoder) -> None:
    text = greedy(manifest, decoder, PROMPT, 32, local_linear(manifest))
    assert text == EXPECTED_GREEDY


def test_the_float_model_agrees_with_the_quantised_one(
    manifest: Manifest, decoder: Decoder
) -> None:
    """On the recorded greedy text (teacher-forced), the float model's argmax is the quantised
    model's token almost everywhere, and its logits are close."""
    tokens = decoder.encode(PROMPT + EXPECTED_GREEDY)
    quantised = reference_logits(manifest, tokens, quantised=True)
    floats = reference_logits(manifest, tokens, quantised=False)
    start = len(PROMPT) - 1
    chosen = quantised[start:-1].argmax(axis=1)
    assert list(chosen) == list(decoder.encode(EXPECTED_GREEDY))
    agree = np.mean(floats[start:-1].argmax(axis=1) == chosen)
    assert agree >= 0.9
    assert np.abs(floats - quantised).max() < 0.05


def test_the_cache_equals_recomputing_every_pass(manifest: Manifest, decoder: Decoder) -> None:
    for prompt in (PROMPT, "return the value of x", "a"):
        tokens = decoder.check_request(prompt, 20)
        out = list(generate(manifest, tokens, 20, local_linear(manifest)))
        sequence = list(tokens)
        for token in out:
            logits = reference_logits(manifest, sequence, quantised=True)[-1]
            assert token == int(np.argmax(logits))
            sequence.append(token)
        # and the teacher-forced log-probabilities are the reference's
        forced = log_probabilities(manifest, sequence[:-1], local_linear(manifest))
        ref = reference_logits(manifest, sequence[:-1], quantised=True)
        ref = ref - ref.max(axis=1, keepdims=True)
        ref = ref - np.log(np.exp(ref).sum(axis=1, keepdims=True))
        assert np.abs(np.stack(forced) - ref).max() < 1e-9


def test_shares_mod_r_give_the_same_generation(manifest: Manifest, decoder: Decoder) -> None:
    tokens = decoder.check_request(PROMPT, 12)
    plain = list(generate(manifest, tokens, 12, local_linear(manifest)))
    shared = list(generate(manifest, tokens, 12, shared_linear(manifest)))
    assert shared == plain
    sampled = [
        list(generate(manifest, tokens, 12, lin, temperature=1.0, seed=5))
        for lin in (local_linear(manifest), shared_linear(manifest, k=2))
    ]
    assert sampled[0] == sampled[1]


def test_local_linear_is_exact_beyond_int64(manifest: Manifest) -> None:
    linear = local_linear(manifest)
    block = manifest.block(3)
    x = tuple([2**60] * block.input_size)
    assert linear(3, x) == tuple(block.forward(x))
    small = tuple(range(-16, 16))
    assert linear(0, small) == tuple(manifest.block(0).forward(small))


def test_blocks_are_called_in_order_and_rounds_match(manifest: Manifest, decoder: Decoder) -> None:
    calls: list[int] = []
    plain = local_linear(manifest)

    def counting(b: int, x: tuple[int, ...]) -> tuple[int, ...]:
        calls.append(b)
        return plain(b, x)

    tokens = decoder.check_request("if ", 5)
    stream = generate(manifest, tokens, 5, counting)
    assert calls == []  # nothing runs before the first token is asked for
    first = next(stream)
    assert calls == [0, 1, 2, 3, 4] * len(tokens)
    rest = list(stream)
    assert len(rest) == 4
    assert 0 <= first < 64
    passes = decoder.passes(len(tokens), 5)
    assert passes == len(tokens) + 4
    assert calls == [0, 1, 2, 3, 4] * passes
    rounds = decoder.rounds(manifest, len(tokens), 5)
    assert rounds == {p.index: sum(calls.count(b) for b in p.schedule) for p in manifest.parts}


# -- sampling and refusals ----------------------------------------------------------------


def test_seeded_sampling_is_reproducible_and_seeds_differ(
    manifest: Manifest, decoder: Decoder
) -> None:
    tokens = decoder.check_request(PROMPT, 24)
    linear = local_linear(manifest)

    def run(seed: int) -> list[int]:
        return list(generate(manifest, tokens, 24, linear, temperature=1.0, seed=seed))

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert run(1) != list(generate(manifest, tokens, 24, linear))


def test_requests_the_model_cannot_serve_are_refused(decoder: Decoder) -> None:
    with pytest.raises(InvalidInputError, match=r"'A'.*lower"):
        decoder.check_request("A cat", 4)
    with pytest.raises(InvalidInputError, match="'\u20ac'"):
        decoder.check_request("5 \u20ac", 4)
    with pytest.raises(InvalidInputError, match="context of 64; ask for at most 4 tokens"):
        decoder.check_request("x" * 60, 5)
    with pytest.raises(InvalidInputError, match="shorten the prompt"):
        decoder.check_request("x" * 64, 1)
    with pytest.raises(InvalidInputError, match="at least 1 new token"):
        decoder.check_request("the", 0)
    with pytest.raises(InvalidInputError, match="empty"):
        decoder.check_request("", 3)
    assert decoder.check_request("x" * 60, 4) == decoder.encode("x" * 60)
    assert decoder.decode(decoder.encode("print(x)\n")) == "print(x)\n"


def test_generate_refuses_before_calling_any_block(manifest: Manifest) -> None:
    def never(b: int, x: tuple[int, ...]) -> tuple[int, ...]:
        raise AssertionError("no block may run for a refused request")

    for tokens, n, kwargs in (
        ((), 3, {}),
        ((1, 2), 0, {}),
        ((1,) * 40, 30, {}),
        ((99,), 3, {}),
        ((1,), 3, {"temperature": -1.0}),
        ((1,), 3, {"temperature": float("nan")}),
    ):
        with pytest.raises(InvalidInputError):
            generate(manifest, tokens, n, never, **kwargs)


def test_a_non_decoder_manifest_is_refused() -> None:
    with pytest.raises(ModelFormatError, match="not a decoder"):
        Decoder.from_manifest(load_demo_manifest("digits"))
