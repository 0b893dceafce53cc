"""The model ezkl proves: y = W x + b as a one-node ONNX graph, and the checks its arrays pass.

numpy and onnx are imported inside the functions (the ezkl stage children import this package).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkai.errors import BenchmarkError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["FLOAT32_EXACT_INT", "build_linear_onnx", "build_mlp_onnx", "check_model_arrays"]

# ONNX float32 holds every integer up to 2^24 exactly.
FLOAT32_EXACT_INT = 2**24


def build_linear_onnx(weights: ArrayLike, bias: ArrayLike, path: Path) -> None:
    """Write y = W x + b as a one-node ONNX graph (Gemm, input shape [1, n], float32)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.asarray(weights, dtype=np.float32)
    b = np.asarray(bias, dtype=np.float32)
    outputs, inputs = w.shape
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "weight", "bias"], ["output"], transB=1)],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, inputs])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, outputs])],
        [numpy_helper.from_array(w, "weight"), numpy_helper.from_array(b, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def build_mlp_onnx(w1: ArrayLike, b1: ArrayLike, w2: ArrayLike, b2: ArrayLike, path: Path) -> None:
    """Write y = W2 relu(W1 x + b1) + b2 as an ONNX graph (Gemm, Relu, Gemm; float32)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    arrays = [np.asarray(a, dtype=np.float32) for a in (w1, b1, w2, b2)]
    hidden, inputs = arrays[0].shape
    outputs = arrays[2].shape[0]
    if (
        arrays[2].shape[1] != hidden
        or arrays[1].shape != (hidden,)
        or arrays[3].shape != (outputs,)
    ):
        raise BenchmarkError("the two layers' shapes do not chain")
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["input", "w1", "b1"], ["h"], transB=1),
            helper.make_node("Relu", ["h"], ["a"]),
            helper.make_node("Gemm", ["a", "w2", "b2"], ["output"], transB=1),
        ],
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, inputs])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, outputs])],
        [
            numpy_helper.from_array(a, name)
            for a, name in zip(arrays, ("w1", "b1", "w2", "b2"), strict=True)
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def check_model_arrays(
    weights: ArrayLike, bias: ArrayLike, sample_input: ArrayLike
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], bool]:
    """The arrays as float64, and whether all are integers that float32 holds exactly."""
    import numpy as np

    w = np.asarray(weights, dtype=np.float64)
    b = np.asarray(bias, dtype=np.float64)
    x = np.asarray(sample_input, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] == 0:
        raise BenchmarkError(f"weights must be a non-empty m x n matrix, got shape {w.shape}")
    if b.shape != (w.shape[0],):
        raise BenchmarkError(f"bias must have shape ({w.shape[0]},), got {b.shape}")
    if x.shape != (w.shape[1],):
        raise BenchmarkError(f"sample_input must have shape ({w.shape[1]},), got {x.shape}")
    arrays = (w, b, x)
    if not all(np.isfinite(a).all() for a in arrays):
        raise BenchmarkError("weights, bias and sample_input must be finite")
    integral = all(np.equal(np.rint(a), a).all() for a in arrays)
    if integral and max(float(np.abs(a).max()) for a in arrays) >= FLOAT32_EXACT_INT:
        raise BenchmarkError(
            "integer values must stay below 2^24 in magnitude to pass through ONNX float32"
        )
    return w, b, x, integral
