"""A small synthetic decoder manifest (random weights, tiny-lm's structure: five blocks, parts
[qkv, out] and [up, down, head]) for the language-model bench tests."""

from __future__ import annotations

import numpy as np

from zkai.models.manifest import Manifest

VOCAB = "\n abcdefgh."


def small_decoder(
    *,
    d: int = 8,
    heads: int = 2,
    hidden: int = 16,
    context: int = 12,
    max_rounds: tuple[int, int] = (2, 3),
    max_budgets: tuple[int, int] = (2 * 12, 3 * 12),
    seed: int = 0,
    forbidden: str = "",
    name: str = "bench-small-lm",
) -> Manifest:
    from zkai.models.decoder import build_manifest

    rng = np.random.default_rng(seed)
    vocab_size = len(VOCAB)

    def layer(outputs: int, inputs: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.normal(0, inputs**-0.5, (outputs, inputs)), rng.normal(0, 0.1, outputs)

    return build_manifest(
        name=name,
        version=1,
        description="synthetic decoder for the bench tests",
        vocab=VOCAB,
        context=context,
        heads=heads,
        input_scale_bits=12,
        weight_scale_bits=16,
        param_scale_bits=16,
        token_embedding=rng.normal(0, 1, (vocab_size, d)),
        position_embedding=rng.normal(0, 0.3, (context, d)),
        layer_norms={
            name: (1 + rng.normal(0, 0.1, d), rng.normal(0, 0.1, d))
            for name in ("ln1", "ln2", "ln_final")
        },
        linear={
            "qkv": layer(3 * d, d),
            "attention_out": layer(d, d),
            "mlp_up": layer(hidden, d),
            "mlp_down": layer(d, hidden),
            "lm_head": layer(vocab_size, d),
        },
        clamps={"qkv": 8.0, "attention_out": 8.0, "mlp_up": 8.0, "mlp_down": 16.0, "lm_head": 8.0},
        max_rounds=max_rounds,
        max_budgets=max_budgets,
        forbidden=forbidden,
    )
