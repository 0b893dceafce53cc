"""The language model's float reference and the ONNX graph ezkl proves for one token.

`FloatDecoder` holds a decoder manifest's parameters dequantised to float64 (tables and layer
norms / 2^param_scale, W / 2^weight_scale, b / 2^(input_scale + weight_scale)) and runs the same
forward pass as `zkai.models.decoder` with no rounding or clamping between blocks: the float
reference of the quantised model the nodes serve, and exactly what the ONNX graph computes.

`build_lm_onnx(model, position, path)` writes one forward pass for one token at `position` as an
ONNX graph (opset 13, float32) built with `onnx.helper`:

    inputs   token [1, V] (one-hot), past_k [t, d], past_v [t, d] (the KV cache; t = position,
             absent at position 0)
    embed    MatMul(token, tok) + pos[t]                 (embedding as a one-hot MatMul)
    ln1      ReduceMean, Sub, Mul, ReduceMean, Add eps, Sqrt, Div, Mul gamma, Add beta
    q, k, v  three Gemms (the qkv block's rows), k and v appended to the cache (Concat)
    heads    Reshape/Transpose to [H, 1, hd] x [H, hd, t+1], scale 1/sqrt(hd), Softmax,
             MatMul with [H, t+1, hd], back to [1, d]
    out      Gemm, residual Add; ln2; up Gemm, Relu, down Gemm, residual Add; ln_final; head
    output   logits [1, V]

The new position's k and v are not graph outputs (a per-token proof chain would also have to
commit to them); the baseline proves the logits of one token given the cache.

numpy and onnx are imported inside the functions (the ezkl stage children import this package).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkai.errors import BenchmarkError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from zkai.models.manifest import Manifest

__all__ = ["LAYER_NORM_EPS", "FloatDecoder", "build_lm_onnx", "lm_onnx_inputs"]

LAYER_NORM_EPS = 1e-5  # zkai.models.decoder.LAYER_NORM_EPS
ROLES = ("qkv", "attention_out", "mlp_up", "mlp_down", "lm_head")
NORMS = ("ln1", "ln2", "ln_final")
OPSET = 13


@dataclass(frozen=True)
class FloatDecoder:
    """A decoder manifest's parameters as float64 arrays (module docstring)."""

    name: str
    vocab: str
    context: int
    d_model: int
    heads: int
    tok: NDArray[Any]
    pos: NDArray[Any]
    norms: dict[str, tuple[NDArray[Any], NDArray[Any]]]
    weights: tuple[NDArray[Any], ...]
    biases: tuple[NDArray[Any], ...]

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> FloatDecoder:
        import numpy as np

        spec = getattr(manifest, "decoder", None)
        if spec is None:
            raise BenchmarkError(f"model {manifest.name!r} is not a decoder (no decoder object)")
        ps = float(1 << spec.param_scale_bits)
        ws = float(1 << manifest.weight_scale_bits)
        bs = float(1 << (manifest.input_scale_bits + manifest.weight_scale_bits))
        if len(manifest.blocks) != len(ROLES):
            raise BenchmarkError(f"a decoder has {len(ROLES)} blocks, not {len(manifest.blocks)}")
        return cls(
            name=manifest.name,
            vocab=spec.vocab,
            context=spec.context,
            d_model=spec.d_model,
            heads=spec.heads,
            tok=np.array(spec.token_embedding, dtype=np.float64) / ps,
            pos=np.array(spec.position_embedding, dtype=np.float64) / ps,
            norms={
                name: (
                    np.array(spec.layer_norm(name).gamma, dtype=np.float64) / ps,
                    np.array(spec.layer_norm(name).beta, dtype=np.float64) / ps,
                )
                for name in NORMS
            },
            weights=tuple(np.array(b.weights, dtype=np.float64) / ws for b in manifest.blocks),
            biases=tuple(np.array(b.bias, dtype=np.float64) / bs for b in manifest.blocks),
        )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    def _norm(self, name: str, x: NDArray[Any]) -> NDArray[Any]:
        gamma, beta = self.norms[name]
        centred = x - x.mean()
        sd = math.sqrt(float((centred**2).mean()) + LAYER_NORM_EPS)
        out: NDArray[Any] = centred / sd * gamma + beta
        return out

    def step(
        self, token: int, past_k: NDArray[Any], past_v: NDArray[Any]
    ) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
        """One forward pass for `token` after the cache (past_k, past_v: [t, d]): the logits
        and the cache with this position's k and v appended."""
        import numpy as np

        t = past_k.shape[0]
        if not 0 <= token < len(self.vocab) or t >= self.context:
            raise BenchmarkError(f"token {token} at position {t} is outside the model")
        d, nh, hd = self.d_model, self.heads, self.head_dim
        w, b = self.weights, self.biases
        h = self.tok[token] + self.pos[t]
        qkv = w[0] @ self._norm("ln1", h) + b[0]
        keys = np.vstack([past_k, qkv[d : 2 * d]])
        values = np.vstack([past_v, qkv[2 * d :]])
        q = qkv[:d].reshape(nh, hd)
        scores = np.einsum("he,the->ht", q, keys.reshape(-1, nh, hd)) / math.sqrt(hd)
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        attention = np.einsum("ht,the->he", p, values.reshape(-1, nh, hd)).reshape(d)
        h = h + w[1] @ attention + b[1]
        up = w[2] @ self._norm("ln2", h) + b[2]
        h = h + w[3] @ np.maximum(up, 0.0) + b[3]
        logits: NDArray[Any] = w[4] @ self._norm("ln_final", h) + b[4]
        return logits, keys, values

    def empty_cache(self) -> tuple[NDArray[Any], NDArray[Any]]:
        import numpy as np

        return np.zeros((0, self.d_model)), np.zeros((0, self.d_model))

    def generate(self, prompt: Sequence[int], new_tokens: int) -> list[int]:
        """Greedy generation (first maximal logit), one pass per token with the cache."""
        if not prompt or new_tokens < 1 or len(prompt) + new_tokens > self.context:
            raise BenchmarkError("the float reference needs a prompt and room in the context")
        keys, values = self.empty_cache()
        out: list[int] = []
        current = prompt[0]
        for token in prompt[1:]:
            _, keys, values = self.step(current, keys, values)
            current = token
        for _ in range(new_tokens):
            logits, keys, values = self.step(current, keys, values)
            current = int(logits.argmax())
            out.append(current)
        return out

    def cache_at(
        self, tokens: Sequence[int], position: int
    ) -> tuple[int, NDArray[Any], NDArray[Any]]:
        """(token at `position`, the cache of positions 0..position-1) for the sequence
        `tokens` extended greedily by the float model as far as needed."""
        if not tokens or position >= self.context:
            raise BenchmarkError(f"position {position} needs tokens and must be below the context")
        seq = list(tokens)
        if len(seq) <= position:
            seq += self.generate(seq, position + 1 - len(seq))
        keys, values = self.empty_cache()
        for token in seq[:position]:
            _, keys, values = self.step(token, keys, values)
        return seq[position], keys, values


def lm_onnx_inputs(
    model: FloatDecoder, token: int, past_k: NDArray[Any], past_v: NDArray[Any]
) -> list[list[float]]:
    """The graph's inputs, flattened, in the graph's order (ezkl's input_data)."""
    import numpy as np

    one_hot = np.zeros(len(model.vocab))
    one_hot[token] = 1.0
    data = [one_hot.tolist()]
    if past_k.shape[0]:
        data += [past_k.reshape(-1).tolist(), past_v.reshape(-1).tolist()]
    return data


def build_lm_onnx(model: FloatDecoder, position: int, path: Path) -> None:
    """Write one forward pass for one token at `position` (module docstring) to `path`."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not 0 <= position < model.context:
        raise BenchmarkError(f"position {position} is outside the context of {model.context}")
    d, nh, hd, vocab = model.d_model, model.heads, model.head_dim, len(model.vocab)
    t = position
    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: Any, dtype: Any = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def gemm(x: str, name: str, w: NDArray[Any], b: NDArray[Any]) -> str:
        return node("Gemm", [x, const(f"{name}_w", w), const(f"{name}_b", b)], name, transB=1)

    def norm(x: str, name: str) -> str:
        gamma, beta = model.norms[name]
        mean = node("ReduceMean", [x], f"{name}_mean", axes=[-1], keepdims=1)
        centred = node("Sub", [x, mean], f"{name}_centred")
        square = node("Mul", [centred, centred], f"{name}_square")
        var = node("ReduceMean", [square], f"{name}_var", axes=[-1], keepdims=1)
        shifted = node("Add", [var, const(f"{name}_eps", [LAYER_NORM_EPS])], f"{name}_var_eps")
        sd = node("Sqrt", [shifted], f"{name}_sd")
        normed = node("Div", [centred, sd], f"{name}_normed")
        scaled = node("Mul", [normed, const(f"{name}_gamma", gamma)], f"{name}_scaled")
        return node("Add", [scaled, const(f"{name}_beta", beta)], f"{name}_out")

    def shape(name: str, dims: list[int]) -> str:
        return const(name, dims, np.int64)

    w, b = model.weights, model.biases
    emb = node("MatMul", ["token", const("tok", model.tok)], "embed")
    h0 = node("Add", [emb, const("pos_t", model.pos[t : t + 1])], "h0")
    a = norm(h0, "ln1")
    q = gemm(a, "q", w[0][:d], b[0][:d])
    k = gemm(a, "k", w[0][d : 2 * d], b[0][d : 2 * d])
    v = gemm(a, "v", w[0][2 * d :], b[0][2 * d :])
    if t > 0:
        k = node("Concat", ["past_k", k], "keys", axis=0)
        v = node("Concat", ["past_v", v], "values", axis=0)
    qh = node("Reshape", [q, shape("q_shape", [1, nh, hd])], "q_heads")
    qh = node("Transpose", [qh], "q_hT", perm=[1, 0, 2])  # [H, 1, hd]
    kh = node("Reshape", [k, shape("k_shape", [t + 1, nh, hd])], "k_heads")
    kh = node("Transpose", [kh], "k_hT", perm=[1, 2, 0])  # [H, hd, T]
    vh = node("Reshape", [v, shape("v_shape", [t + 1, nh, hd])], "v_heads")
    vh = node("Transpose", [vh], "v_hT", perm=[1, 0, 2])  # [H, T, hd]
    scores = node("MatMul", [qh, kh], "scores")
    scaled = node("Mul", [scores, const("inv_sqrt_hd", [1.0 / math.sqrt(hd)])], "scores_scaled")
    probs = node("Softmax", [scaled], "probs", axis=-1)
    mixed = node("MatMul", [probs, vh], "mixed")  # [H, 1, hd]
    mixed = node("Transpose", [mixed], "mixed_T", perm=[1, 0, 2])
    att = node("Reshape", [mixed, shape("att_shape", [1, d])], "attention")
    h1 = node("Add", [h0, gemm(att, "attn_out", w[1], b[1])], "h1")
    up = gemm(norm(h1, "ln2"), "mlp_up", w[2], b[2])
    down = gemm(node("Relu", [up], "mlp_act"), "mlp_down", w[3], b[3])
    h2 = node("Add", [h1, down], "h2")
    head = gemm(norm(h2, "ln_final"), "lm_head", w[4], b[4])
    nodes.append(helper.make_node("Identity", [head], ["logits"]))

    inputs = [helper.make_tensor_value_info("token", TensorProto.FLOAT, [1, vocab])]
    if t > 0:
        inputs += [
            helper.make_tensor_value_info("past_k", TensorProto.FLOAT, [t, d]),
            helper.make_tensor_value_info("past_v", TensorProto.FLOAT, [t, d]),
        ]
    graph = helper.make_graph(
        nodes,
        f"{model.name}-token-at-{t}",
        inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, vocab])],
        inits,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, str(path))
