"""Train `tiny-lm`, the character-level decoder the network serves, and write its manifest.

    pip install -e '.[train-lm]'            # autograd, the only training dependency
    python scripts/train_tiny_lm.py          # train, quantise, report (JSON on stdout)
    python scripts/train_tiny_lm.py --write  # ... and rewrite the shipped manifest and report
    python scripts/train_tiny_lm.py --report --eval-windows 100000
                                             # the shipped manifest on the whole held-out split

Model: token + position embeddings (d = 32, context 64), one pre-LN transformer block
(2-head causal self-attention with Q, K, V fused as one d -> 3d linear and an output
projection; MLP d -> 64 -> d with ReLU), final layer norm and an LM head d -> V. Corpus: the
English prose of the Python documentation topics that ship with the standard library
(`pydoc_data.topics`), lower-cased; typographic quotes and dashes are mapped to their ASCII
forms by an explicit table (`ASCII_FORMS`); every other character outside the vocabulary is
dropped and counted (reported). Topics are concatenated in sorted key order; the last 10% of the
text is the held-out split.

Training: full-batch-free Adam on random windows, seeded (numpy Generator), float64, one BLAS
thread, so a run reproduces the same weights on the same machine. The quantised model
(`zkai.models.decoder`, the program users run with blocks evaluated exactly) is measured on the
same held-out text; both losses are reported in bits per character.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import math
import sys
import time
from typing import Any

import numpy as np

from zkai.models import decoder as dec
from zkai.models.demo import DEMO_DIR
from zkai.models.manifest import Manifest

SEED = 16
VOCAB = "\n !\"#%'()*+,-./0123456789:;<=>?[]_abcdefghijklmnopqrstuvwxyz{|}~"
ASCII_FORMS = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
               "\u2014": "-", "\u2026": "..."}  # fmt: skip
CONTEXT = 64
D_MODEL = 32
HEADS = 2
MLP_HIDDEN = 64
HELD_OUT = 0.1
STEPS = 2000
BATCH = 32
LR = 3e-3
INPUT_SCALE_BITS = 12
WEIGHT_SCALE_BITS = 16
PARAM_SCALE_BITS = 16
CLAMP_MARGIN = 1.5
# R_max per part: part 0 = [qkv, out] x 8 passes, part 1 = [up, down, head] x 5 passes; measured
# (zkai.circuits.part, the 5-input circuit of branch lm) at 118,415 and 104,742 constraints.
MAX_ROUNDS = (16, 15)
SAMPLE_PROMPTS = ("the ", "a function ", "if the ")
MANIFEST_PATH = DEMO_DIR / "tiny-lm.json"
REPORT_PATH = DEMO_DIR / "tiny-lm-report.json"


def corpus() -> tuple[str, dict[str, int]]:
    """The lower-cased topics text over VOCAB, and the count of each dropped character."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics)).lower()
    for src, dst in ASCII_FORMS.items():
        text = text.replace(src, dst)
    dropped: dict[str, int] = {}
    kept = []
    allowed = set(VOCAB)
    for ch in text:
        if ch in allowed:
            kept.append(ch)
        else:
            dropped[ch] = dropped.get(ch, 0) + 1
    return "".join(kept), dropped


def split(text: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    ids = np.array([VOCAB.index(c) for c in text], dtype=np.int64)
    cut = int(len(ids) * (1 - HELD_OUT))
    return ids[:cut], ids[cut:]


# -- the float model (autograd.numpy) ---------------------------------------------------------


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray[Any, Any]]:
    v, d, h, c = len(VOCAB), D_MODEL, MLP_HIDDEN, CONTEXT

    def normal(*shape: int, std: float) -> np.ndarray[Any, Any]:
        return rng.normal(0.0, std, size=shape)

    return {
        "tok": normal(v, d, std=0.3),
        "pos": normal(c, d, std=0.1),
        "ln1_g": np.ones(d), "ln1_b": np.zeros(d),
        "qkv_w": normal(3 * d, d, std=d**-0.5), "qkv_b": np.zeros(3 * d),
        "out_w": normal(d, d, std=0.5 * d**-0.5), "out_b": np.zeros(d),
        "ln2_g": np.ones(d), "ln2_b": np.zeros(d),
        "up_w": normal(h, d, std=d**-0.5), "up_b": np.zeros(h),
        "down_w": normal(d, h, std=0.5 * h**-0.5), "down_b": np.zeros(d),
        "lnf_g": np.ones(d), "lnf_b": np.zeros(d),
        "head_w": normal(v, d, std=d**-0.5), "head_b": np.zeros(v),
    }  # fmt: skip


def forward(params: dict[str, Any], x: Any, anp: Any, seen: dict[str, Any] | None = None) -> Any:
    """Logits (B, T, V) for token ids x (B, T): the same computation as zkai.models.decoder."""
    b, t = x.shape
    d, hd = D_MODEL, D_MODEL // HEADS

    def ln(z: Any, g: Any, beta: Any) -> Any:
        mu = anp.mean(z, axis=-1, keepdims=True)
        var = anp.mean((z - mu) ** 2, axis=-1, keepdims=True)
        return (z - mu) / anp.sqrt(var + dec.LAYER_NORM_EPS) * g + beta

    h = params["tok"][x] + params["pos"][:t]
    a = ln(h, params["ln1_g"], params["ln1_b"])
    qkv = anp.matmul(a, params["qkv_w"].T) + params["qkv_b"]

    def heads(z: Any) -> Any:  # (B, T, d) -> (B, H, T, hd)
        return anp.transpose(anp.reshape(z, (b, t, HEADS, hd)), (0, 2, 1, 3))

    q, k, v = heads(qkv[:, :, :d]), heads(qkv[:, :, d : 2 * d]), heads(qkv[:, :, 2 * d :])
    scores = anp.matmul(q, anp.transpose(k, (0, 1, 3, 2))) / math.sqrt(hd)
    scores = scores + np.triu(np.full((t, t), -1e9), 1)
    scores = scores - anp.max(scores, axis=-1, keepdims=True)
    p = anp.exp(scores)
    p = p / anp.sum(p, axis=-1, keepdims=True)
    att = anp.reshape(anp.transpose(anp.matmul(p, v), (0, 2, 1, 3)), (b, t, d))
    h = h + anp.matmul(att, params["out_w"].T) + params["out_b"]
    m = ln(h, params["ln2_g"], params["ln2_b"])
    u = anp.maximum(anp.matmul(m, params["up_w"].T) + params["up_b"], 0.0)
    h = h + anp.matmul(u, params["down_w"].T) + params["down_b"]
    f = ln(h, params["lnf_g"], params["lnf_b"])
    if seen is not None:
        seen.update(qkv=a, attention_out=att, mlp_up=m, mlp_down=u, lm_head=f)
    return anp.matmul(f, params["head_w"].T) + params["head_b"]


def block_inputs(params: dict[str, Any], x: np.ndarray[Any, Any]) -> dict[str, float]:
    """The largest |value| each linear block's input takes on windows x (float model)."""
    seen: dict[str, Any] = {}
    forward(params, x, np, seen)
    return {role: float(np.abs(value).max()) for role, value in seen.items()}


def windows(ids: np.ndarray[Any, Any], length: int) -> np.ndarray[Any, Any]:
    """Non-overlapping windows of `length` + 1 ids (inputs and next-character targets)."""
    n = (len(ids) - 1) // length
    return np.stack([ids[i * length : i * length + length + 1] for i in range(n)])


def float_bits_per_char(params: dict[str, Any], ids: np.ndarray[Any, Any]) -> float:
    """Held-out cross entropy in bits per character, over non-overlapping context windows."""
    w = windows(ids, CONTEXT)
    total, count = 0.0, 0
    for start in range(0, len(w), 64):
        chunk = w[start : start + 64]
        logits = forward(params, chunk[:, :-1], np)
        logits = logits - logits.max(-1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        target = chunk[:, 1:]
        total -= float(np.take_along_axis(logp, target[..., None], -1).sum())
        count += target.size
    return total / count / math.log(2)


def train(
    train_ids: np.ndarray[Any, Any], log: Any, steps: int = STEPS
) -> dict[str, np.ndarray[Any, Any]]:
    import autograd.numpy as anp
    from autograd import grad

    rng = np.random.default_rng(SEED)
    params = init_params(rng)

    def loss(p: dict[str, Any], batch: np.ndarray[Any, Any]) -> Any:
        logits = forward(p, batch[:, :-1], anp)
        logits = logits - anp.max(logits, axis=-1, keepdims=True)
        logp = logits - anp.log(anp.sum(anp.exp(logits), axis=-1, keepdims=True))
        onehot = np.eye(len(VOCAB))[batch[:, 1:]]
        return -anp.sum(logp * onehot) / batch[:, 1:].size

    gradient = grad(loss)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    s = {k: np.zeros_like(v) for k, v in params.items()}
    beta1, beta2, eps = 0.9, 0.99, 1e-8
    started = time.perf_counter()
    for step in range(1, steps + 1):
        starts = rng.integers(0, len(train_ids) - CONTEXT - 1, size=BATCH)
        batch = np.stack([train_ids[i : i + CONTEXT + 1] for i in starts])
        g = gradient(params, batch)
        lr = LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for k in params:
            m[k] = beta1 * m[k] + (1 - beta1) * g[k]
            s[k] = beta2 * s[k] + (1 - beta2) * g[k] ** 2
            m_hat = m[k] / (1 - beta1**step)
            s_hat = s[k] / (1 - beta2**step)
            params[k] = params[k] - lr * m_hat / (np.sqrt(s_hat) + eps)
        if step % 250 == 0 or step == 1:
            value = float(loss(params, batch))
            log(f"step {step}/{steps} loss {value:.3f} ({time.perf_counter() - started:.0f} s)")
    return params


# -- quantisation ---------------------------------------------------------------------------


def quantise_model(
    params: dict[str, np.ndarray[Any, Any]], calibration: np.ndarray[Any, Any]
) -> Manifest:
    """The manifest: blocks at 2**16 (W) and 2**(12+16) (b), clamps from the training data."""
    ranges: dict[str, float] = {}
    for start in range(0, len(calibration), 64):
        for role, value in block_inputs(params, calibration[start : start + 64]).items():
            ranges[role] = max(ranges.get(role, 0.0), value)
    clamps = {role: CLAMP_MARGIN * value for role, value in ranges.items()}
    layers = {
        "qkv": ("qkv_w", "qkv_b"),
        "attention_out": ("out_w", "out_b"),
        "mlp_up": ("up_w", "up_b"),
        "mlp_down": ("down_w", "down_b"),
        "lm_head": ("head_w", "head_b"),
    }
    passes = CONTEXT - 1
    return dec.build_manifest(
        name="tiny-lm",
        version=1,
        description=(
            "Character-level decoder-only transformer (d=32, 2 heads, MLP 64, context 64, one "
            "block) trained on the Python documentation topics (pydoc_data); part 0 = Q/K/V and "
            "attention output, part 1 = MLP up, MLP down and LM head"
        ),
        vocab=VOCAB,
        context=CONTEXT,
        heads=HEADS,
        input_scale_bits=INPUT_SCALE_BITS,
        weight_scale_bits=WEIGHT_SCALE_BITS,
        param_scale_bits=PARAM_SCALE_BITS,
        token_embedding=params["tok"],
        position_embedding=params["pos"],
        layer_norms={
            "ln1": (params["ln1_g"], params["ln1_b"]),
            "ln2": (params["ln2_g"], params["ln2_b"]),
            "ln_final": (params["lnf_g"], params["lnf_b"]),
        },
        linear={role: (params[w], params[b]) for role, (w, b) in layers.items()},
        clamps=clamps,
        max_rounds=MAX_ROUNDS,
        max_budgets=(passes * 2, passes * 3),
    )


def quantised_bits_per_char(manifest: Manifest, ids: np.ndarray[Any, Any], limit: int) -> float:
    """The integer program's held-out bits per character (first `limit` windows)."""
    w = windows(ids, CONTEXT)[:limit]
    linear = dec.local_linear(manifest)
    total, count = 0.0, 0
    for row in w:
        for target, logp in zip(
            row[1:], dec.log_probabilities(manifest, row[:-1], linear), strict=True
        ):
            total -= logp[int(target)]
            count += 1
    return total / count / math.log(2)


def dequantised_params(manifest: Manifest) -> dict[str, np.ndarray[Any, Any]]:
    """The float model a manifest states (its integers over their scales, no clamping)."""
    spec = manifest.decoder
    assert spec is not None
    ps = float(1 << spec.param_scale_bits)
    ws, bs = float(1 << manifest.weight_scale_bits), float(1 << manifest.output_scale_bits)
    params = {
        "tok": np.array(spec.token_embedding) / ps,
        "pos": np.array(spec.position_embedding) / ps,
    }
    for key, name in (("ln1", "ln1"), ("ln2", "ln2"), ("lnf", "ln_final")):
        norm = spec.layer_norm(name)
        params[f"{key}_g"] = np.array(norm.gamma) / ps
        params[f"{key}_b"] = np.array(norm.beta) / ps
    for key, block in zip(("qkv", "out", "up", "down", "head"), manifest.blocks, strict=True):
        params[f"{key}_w"] = np.array(block.weights, dtype=np.float64) / ws
        params[f"{key}_b"] = np.array(block.bias, dtype=np.float64) / bs
    return params


def samples(manifest: Manifest) -> list[dict[str, Any]]:
    decoder = dec.Decoder.from_manifest(manifest)
    linear = dec.local_linear(manifest)
    out = []
    for i, prompt in enumerate(SAMPLE_PROMPTS):
        tokens = decoder.check_request(prompt, 32)
        greedy = decoder.decode(list(dec.generate(manifest, tokens, 32, linear)))
        sampled = decoder.decode(
            list(dec.generate(manifest, tokens, 32, linear, temperature=0.8, seed=i))
        )
        out.append({"prompt": prompt, "greedy": greedy, "temperature_0.8_seed_" + str(i): sampled})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the shipped manifest")
    parser.add_argument("--report", action="store_true", help="report on the shipped manifest")
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps")
    parser.add_argument("--eval-windows", type=int, default=100, help="held-out windows for bpc")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    text, dropped = corpus()
    train_ids, held_ids = split(text)
    log(f"corpus {len(text)} chars, vocabulary {len(VOCAB)}, dropped {sum(dropped.values())}")
    result: dict[str, Any] = {
        "corpus_chars": len(text),
        "train_chars": len(train_ids),
        "held_out_chars": len(held_ids),
        "dropped_chars": dict(sorted(dropped.items(), key=lambda kv: -kv[1])),
    }
    if args.report:
        manifest = Manifest.load(MANIFEST_PATH)
        params = dequantised_params(manifest)
        result["float_model"] = "the manifest's parameters in float64, no rounding or clamping"
        result["float_bits_per_char"] = round(float_bits_per_char(params, held_ids), 4)
        result["float_loss_nats"] = round(result["float_bits_per_char"] * math.log(2), 4)
        subset = held_ids[: args.eval_windows * CONTEXT + 1]
        result["float_bits_per_char_eval_windows"] = round(float_bits_per_char(params, subset), 4)
    else:
        params = train(train_ids, log, args.steps)
        result["float_bits_per_char"] = round(float_bits_per_char(params, held_ids), 4)
        result["float_loss_nats"] = round(result["float_bits_per_char"] * math.log(2), 4)
        calibration = windows(train_ids, CONTEXT)[:, :-1]
        manifest = quantise_model(params, calibration)
        # the float model's bpc on the same windows the quantised one is measured on
        subset = held_ids[: args.eval_windows * CONTEXT + 1]
        result["float_bits_per_char_eval_windows"] = round(float_bits_per_char(params, subset), 4)
    started = time.perf_counter()
    result["quantised_bits_per_char_eval_windows"] = round(
        quantised_bits_per_char(manifest, held_ids, args.eval_windows), 4
    )
    result["eval_windows"] = min(args.eval_windows, len(windows(held_ids, CONTEXT)))
    result["quantised_loss_nats_eval_windows"] = round(
        result["quantised_bits_per_char_eval_windows"] * math.log(2), 4
    )
    result["quantised_eval_s"] = round(time.perf_counter() - started, 1)
    result["samples"] = samples(manifest)
    result["content_hash"] = manifest.hash_hex
    result["manifest_bytes"] = len(manifest.to_json().encode())
    if args.write:
        if args.steps != STEPS or args.report:
            raise SystemExit("--write needs the default --steps and no --report")
        manifest.save(MANIFEST_PATH)
        REPORT_PATH.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        log(f"wrote {MANIFEST_PATH} and {REPORT_PATH}")
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
