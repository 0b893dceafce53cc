"""Importing trained models into a "zkai-model/2" `Manifest`.

Sources:
- scikit-learn: any fitted estimator with `coef_` / `intercept_` (LogisticRegression,
  LinearSVC, RidgeClassifier, LinearRegression, ...) or a ReLU `MLPClassifier` /
  `MLPRegressor` (`coefs_` / `intercepts_`), or a `Pipeline` of `StandardScaler` steps followed
  by one (the scaling is folded into the first layer, so the manifest takes raw features).
  Binary classifiers get `sigmoid`, multi-class ones `argmax`, regressors `none`.
- `from_layers`: float ReLU networks from any source (relu + rescale between blocks).
- ONNX: a graph whose core is one `Gemm`, or `MatMul` followed by `Add`, with the weights (and
  bias) as initializers, optionally followed by `Sigmoid` (-> sigmoid) or `Softmax` / `ArgMax`
  (-> argmax). This is what `torch.onnx.export` produces for `nn.Linear` (Gemm with
  transB=1, or MatMul+Add), so PyTorch models are imported through their ONNX export; torch
  itself is not a dependency.

Quantisation: weights are rounded at 2**weight_scale_bits, the bias at
2**(input_scale_bits + weight_scale_bits), the declared input range at 2**input_scale_bits
(floor of the minimum, ceiling of the maximum, so the training data lies inside it). Between
blocks a rescale by 2**weight_scale_bits returns to the input scale (see `from_layers`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from zkai.crypto.field import quantise, quantise_vector
from zkai.errors import EncodingOverflowError, ModelFormatError
from zkai.models.manifest import Manifest, Part, Postprocess
from zkai.models.steps import LinearBlock, Relu, Rescale, Step

__all__ = [
    "from_layers",
    "from_linear",
    "from_onnx",
    "from_sklearn",
    "input_range_of",
]

FloatArray = npt.NDArray[np.float64]


def input_range_of(data: npt.ArrayLike) -> tuple[list[float], list[float]]:
    """Per-feature (min, max) of a sample of inputs (rows are samples)."""
    array = np.asarray(data, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ModelFormatError("input sample must be a non-empty 2-D array (samples x features)")
    return [float(v) for v in array.min(axis=0)], [float(v) for v in array.max(axis=0)]


def from_linear(
    weights: npt.ArrayLike,
    bias: npt.ArrayLike,
    *,
    name: str,
    version: int,
    input_scale_bits: int,
    weight_scale_bits: int,
    postprocess: Postprocess,
    input_min: Sequence[float],
    input_max: Sequence[float],
    labels: Sequence[str] | None = None,
    description: str = "",
) -> Manifest:
    """Quantise a float linear layer y = W x + b (W: outputs x inputs): one block, one part."""
    return from_layers(
        [(weights, bias)],
        name=name,
        version=version,
        input_scale_bits=input_scale_bits,
        weight_scale_bits=weight_scale_bits,
        postprocess=postprocess,
        input_min=input_min,
        input_max=input_max,
        labels=labels,
        description=description,
    )


def from_layers(
    layers: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]],
    *,
    name: str,
    version: int,
    input_scale_bits: int,
    weight_scale_bits: int,
    postprocess: Postprocess,
    input_min: Sequence[float],
    input_max: Sequence[float],
    hidden_max: Sequence[float] = (),
    parts: Sequence[Sequence[int]] | None = None,
    labels: Sequence[str] | None = None,
    description: str = "",
) -> Manifest:
    """Quantise a float ReLU network: layers (W_l, b_l), ReLU between them.

    Block l's input is at scale 2**input_scale_bits, its output at 2**(input_scale_bits +
    weight_scale_bits); between blocks the user applies relu, then a rescale by
    2**weight_scale_bits back to the input scale, clamped into [0, hidden_max[l]] (the declared
    range of block l+1's inputs, in float units). `parts` lists each part's blocks (default: one
    part per block); each part gets R_max = the length of its schedule.
    """
    if not layers:
        raise ModelFormatError("a model needs at least one layer")
    if len(hidden_max) != len(layers) - 1:
        raise ModelFormatError(
            f"{len(layers)} layers need {len(layers) - 1} hidden ranges, got {len(hidden_max)}"
        )
    scale = float(1 << input_scale_bits)
    steps: list[Step] = []
    size: int | None = None
    try:
        for index, (weights, bias) in enumerate(layers):
            w = np.asarray(weights, dtype=np.float64)
            b = np.asarray(bias, dtype=np.float64).reshape(-1)
            if w.ndim != 2:
                raise ModelFormatError(f"layer {index}: W must be a 2-D matrix, got {w.shape}")
            m, n = w.shape
            if b.shape != (m,):
                raise ModelFormatError(f"layer {index}: bias has shape {b.shape}, expected ({m},)")
            if size is not None and n != size:
                raise ModelFormatError(f"layer {index} takes {n} values, layer before gives {size}")
            size = m
            if index > 0:
                top = _bound(hidden_max[index - 1], scale, math.ceil, f"hidden_max[{index - 1}]")
                steps += [Relu(), Rescale(weight_scale_bits, 0, top)]
            steps.append(
                LinearBlock(
                    index,
                    tuple(
                        tuple(quantise_vector(row, weight_scale_bits, what="weight")) for row in w
                    ),
                    tuple(quantise_vector(b, input_scale_bits + weight_scale_bits, what="bias")),
                )
            )
        first = np.asarray(layers[0][0]).shape[1]
        if len(input_min) != first or len(input_max) != first:
            raise ModelFormatError(f"input range must have {first} entries per bound")
        lows = [_bound(v, scale, math.floor, f"input_min[{j}]") for j, v in enumerate(input_min)]
        highs = [_bound(v, scale, math.ceil, f"input_max[{j}]") for j, v in enumerate(input_max)]
    except EncodingOverflowError as exc:
        raise ModelFormatError(f"cannot quantise model {name!r}: {exc}") from exc
    groups = [[b] for b in range(len(layers))] if parts is None else [list(g) for g in parts]
    return Manifest(
        name=name,
        version=version,
        input_scale_bits=input_scale_bits,
        weight_scale_bits=weight_scale_bits,
        input_min=tuple(lows),
        input_max=tuple(highs),
        steps=tuple(steps),
        parts=tuple(Part(p, tuple(g), max(1, len(g))) for p, g in enumerate(groups)),
        postprocess=postprocess,
        labels=None if labels is None else tuple(labels),
        description=description,
    )


def _bound(value: float, scale: float, rounding: Any, what: str) -> int:
    if not math.isfinite(value):
        raise EncodingOverflowError(f"{what} = {value!r} is not finite")
    return quantise(float(rounding(value * scale)), 0, what=what)


def from_sklearn(
    estimator: Any,
    training_inputs: npt.ArrayLike,
    *,
    name: str,
    version: int,
    input_scale_bits: int,
    weight_scale_bits: int,
    postprocess: Postprocess | None = None,
    labels: Sequence[str] | None = None,
    description: str = "",
    input_range: tuple[Sequence[float], Sequence[float]] | None = None,
    hidden_margin: float = 2.0,
    parts: Sequence[Sequence[int]] | None = None,
) -> Manifest:
    """A fitted scikit-learn linear model or ReLU `MLPClassifier` / `MLPRegressor`.

    The declared input range is `input_range` (per-feature minima and maxima, from knowledge of
    the domain) when given, else the range seen in `training_inputs`. For an MLP, hidden layer l's
    clamp range is [0, hidden_margin x the largest activation seen on `training_inputs`].
    """
    layers, classes = _sklearn_layers(estimator)
    if classes is not None:
        labels = labels if labels is not None else [str(c) for c in classes]
        default: Postprocess = "sigmoid" if layers[-1][0].shape[0] == 1 else "argmax"
    else:
        default = "none"
    low, high = input_range if input_range is not None else input_range_of(training_inputs)
    hidden: list[float] = []
    activations = np.asarray(training_inputs, dtype=np.float64)
    for w, b in layers[:-1]:
        activations = np.maximum(activations @ w.T + b, 0.0)
        hidden.append(hidden_margin * float(activations.max(initial=0.0)))
    return from_layers(
        layers,
        name=name,
        version=version,
        input_scale_bits=input_scale_bits,
        weight_scale_bits=weight_scale_bits,
        postprocess=postprocess or default,
        input_min=low,
        input_max=high,
        hidden_max=hidden,
        parts=parts,
        labels=labels,
        description=description,
    )


def _sklearn_layers(estimator: Any) -> tuple[list[tuple[FloatArray, FloatArray]], Any]:
    """[(W, b), ...] and classes_ of a linear model or ReLU MLP, folding leading StandardScalers."""
    steps = list(getattr(estimator, "steps", [("model", estimator)]))
    final = steps[-1][1]
    coefs = getattr(final, "coefs_", None)
    if coefs is not None:
        if getattr(final, "activation", None) != "relu":
            raise ModelFormatError(
                f"{type(final).__name__} uses activation {getattr(final, 'activation', None)!r}; "
                "only ReLU networks are supported"
            )
        layers = [
            (np.asarray(c, np.float64).T, np.asarray(i, np.float64).reshape(-1))
            for c, i in zip(coefs, final.intercepts_, strict=True)
        ]
    else:
        coef = getattr(final, "coef_", None)
        intercept = getattr(final, "intercept_", None)
        if coef is None or intercept is None:
            raise ModelFormatError(
                f"{type(final).__name__} has no coef_ / intercept_: not a fitted linear model"
            )
        w = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        b = np.broadcast_to(np.asarray(intercept, dtype=np.float64), (w.shape[0],)).copy()
        layers = [(w, b)]
    w, b = layers[0]
    for step_name, step in reversed(steps[:-1]):
        if type(step).__name__ != "StandardScaler":
            raise ModelFormatError(
                f"pipeline step {step_name!r} ({type(step).__name__}) cannot be folded into a "
                "linear layer; only StandardScaler steps are supported"
            )
        # W ((x - mean) / scale) + b == (W / scale) x + (b - W (mean / scale))
        scale = getattr(step, "scale_", None)
        mean = getattr(step, "mean_", None)
        scale_arr = np.ones(w.shape[1]) if scale is None else np.asarray(scale, np.float64)
        mean_arr = np.zeros(w.shape[1]) if mean is None else np.asarray(mean, np.float64)
        w = w / scale_arr
        b = b - w @ mean_arr
    layers[0] = (w, b)
    return layers, getattr(final, "classes_", None)


def from_onnx(
    model: Any,
    *,
    name: str,
    version: int,
    input_scale_bits: int,
    weight_scale_bits: int,
    input_min: Sequence[float],
    input_max: Sequence[float],
    labels: Sequence[str] | None = None,
    postprocess: Postprocess | None = None,
    description: str = "",
) -> Manifest:
    """An ONNX linear model (a `ModelProto`, a path or the serialized bytes)."""
    import onnx
    from onnx import numpy_helper

    if isinstance(model, str | Path):
        try:
            model = onnx.load(str(model))
        except (OSError, onnx.onnx_cpp2py_export.checker.ValidationError) as exc:
            raise ModelFormatError(f"cannot load ONNX model {model}: {exc}") from exc
    elif isinstance(model, bytes | bytearray):
        try:
            model = onnx.load_from_string(bytes(model))
        except Exception as exc:  # onnx raises DecodeError from protobuf
            raise ModelFormatError(f"not a serialized ONNX model: {exc}") from exc
    if not isinstance(model, onnx.ModelProto):
        raise ModelFormatError(f"expected an ONNX ModelProto, got {type(model).__name__}")
    graph = model.graph
    initializers = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    constants = {
        node.output[0]: numpy_helper.to_array(node.attribute[0].t)
        for node in graph.node
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value"
    }
    initializers.update(constants)
    nodes = [n for n in graph.node if n.op_type not in {"Constant", "Identity"}]
    ops = [n.op_type for n in nodes]

    def attr(node: Any, key: str, default: float | int) -> Any:
        for a in node.attribute:
            if a.name == key:
                return onnx.helper.get_attribute_value(a)
        return default

    def weight_of(tensor_name: str) -> FloatArray:
        if tensor_name not in initializers:
            raise ModelFormatError(f"ONNX tensor {tensor_name!r} is not a constant initializer")
        return np.asarray(initializers[tensor_name], dtype=np.float64)

    if ops and ops[0] == "Gemm":
        gemm = nodes[0]
        if int(attr(gemm, "transA", 0)) != 0:
            raise ModelFormatError("Gemm with transA=1 is not a linear layer on a row input")
        b_matrix = weight_of(gemm.input[1])
        w = b_matrix if int(attr(gemm, "transB", 0)) else b_matrix.T
        w = w * float(attr(gemm, "alpha", 1.0))
        bias = (
            weight_of(gemm.input[2]) * float(attr(gemm, "beta", 1.0))
            if len(gemm.input) > 2 and gemm.input[2]
            else np.zeros(w.shape[0])
        )
        rest = nodes[1:]
    elif ops[:2] == ["MatMul", "Add"]:
        matmul, add = nodes[0], nodes[1]
        w = weight_of(matmul.input[1]).T
        other = [i for i in add.input if i != matmul.output[0]]
        if len(other) != 1 or len(add.input) != 2:
            raise ModelFormatError("the Add after MatMul must add one constant bias")
        bias = weight_of(other[0])
        rest = nodes[2:]
    else:
        raise ModelFormatError(
            f"unsupported ONNX graph {ops}: expected Gemm or MatMul+Add, optionally followed "
            "by Sigmoid, Softmax or ArgMax"
        )
    bias = np.broadcast_to(np.asarray(bias, dtype=np.float64).reshape(-1), (w.shape[0],))
    tail = [n.op_type for n in rest]
    detected: Postprocess
    if not tail:
        detected = "none"
    elif tail in (["Sigmoid"],):
        detected = "sigmoid"
    elif tail in (["Softmax"], ["ArgMax"], ["Softmax", "ArgMax"]):
        detected = "argmax"
    else:
        raise ModelFormatError(f"unsupported ONNX post-processing {tail} after the linear layer")
    return from_linear(
        w,
        bias,
        name=name,
        version=version,
        input_scale_bits=input_scale_bits,
        weight_scale_bits=weight_scale_bits,
        postprocess=postprocess or detected,
        input_min=input_min,
        input_max=input_max,
        labels=labels,
        description=description,
    )
