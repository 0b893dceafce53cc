"""Importers: scikit-learn estimators, pipelines and ReLU MLPs, and ONNX Gemm / MatMul+Add graphs.

ONNX graphs are built with onnx.helper in the two shapes torch.onnx.export produces for
nn.Linear (Gemm with transB=1, and MatMul + Add) and evaluated with onnx's reference runtime,
an implementation independent of the importer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from zkai.errors import ModelFormatError
from zkai.models.importers import from_layers, from_onnx, from_sklearn
from zkai.models.steps import LinearBlock, Relu, Rescale

RNG = np.random.default_rng(7)
X = RNG.normal(size=(200, 5)) * np.array([1.0, 10.0, 0.1, 100.0, 3.0])
Y_BINARY = (X[:, 0] + X[:, 1] / 10 > 0).astype(int)
Y_MULTI = np.digitize(X[:, 0], [-0.5, 0.5])


def float_outputs(manifest: Any, x: np.ndarray) -> np.ndarray:
    raw = [manifest.evaluate(manifest.quantise_input(row.tolist())).outputs for row in x]
    return np.asarray(raw, dtype=np.float64) / (1 << manifest.output_scale_bits)


def test_sklearn_binary_logistic_regression_imports_one_block() -> None:
    model = LogisticRegression().fit(X, Y_BINARY)
    manifest = from_sklearn(
        model, X, name="bin", version=1, input_scale_bits=12, weight_scale_bits=16
    )
    assert manifest.postprocess == "sigmoid"
    assert manifest.labels == ("0", "1")
    np.testing.assert_allclose(
        float_outputs(manifest, X[:20])[:, 0], model.decision_function(X[:20]), atol=1e-2
    )


def test_sklearn_pipeline_scaler_is_folded() -> None:
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y_MULTI)
    manifest = from_sklearn(
        pipeline, X, name="multi", version=1, input_scale_bits=12, weight_scale_bits=16
    )
    assert manifest.postprocess == "argmax"
    assert manifest.output_size == 3
    np.testing.assert_allclose(
        float_outputs(manifest, X[:20]), pipeline.decision_function(X[:20]), atol=1e-2
    )


def test_sklearn_regressor_and_unsupported_steps_are_handled() -> None:
    regressor = LinearRegression().fit(X, X[:, 0] * 2)
    manifest = from_sklearn(
        regressor, X, name="reg", version=1, input_scale_bits=8, weight_scale_bits=8
    )
    assert manifest.postprocess == "none"
    with pytest.raises(ModelFormatError, match="MinMaxScaler"):
        from_sklearn(
            make_pipeline(MinMaxScaler(), LinearRegression()).fit(X, X[:, 0]),
            X,
            name="x",
            version=1,
            input_scale_bits=8,
            weight_scale_bits=8,
        )
    with pytest.raises(ModelFormatError, match="not a fitted linear model"):
        from_sklearn(object(), X, name="x", version=1, input_scale_bits=8, weight_scale_bits=8)


def test_sklearn_declared_range_covers_the_training_data() -> None:
    manifest = from_sklearn(
        LinearRegression().fit(X, X[:, 0]),
        X,
        name="reg",
        version=1,
        input_scale_bits=8,
        weight_scale_bits=8,
    )
    for row in X:
        manifest.quantise_input(row.tolist(), check_range=True)


def test_sklearn_mlp_imports_blocks_relu_and_rescale() -> None:
    pipeline = make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=2000, random_state=0)
    ).fit(X, Y_MULTI)
    manifest = from_sklearn(
        pipeline, X, name="mlp", version=1, input_scale_bits=12, weight_scale_bits=16
    )
    kinds = [type(s) for s in manifest.steps]
    assert kinds == [LinearBlock, Relu, Rescale, LinearBlock]
    assert [p.schedule for p in manifest.parts] == [(0,), (1,)]
    rescale = manifest.steps[2]
    assert isinstance(rescale, Rescale)
    assert rescale.shift == 16
    assert manifest.output_scale_bits == 12 + 16
    mlp = pipeline[-1]
    hidden = np.maximum(pipeline[0].transform(X[:20]) @ mlp.coefs_[0] + mlp.intercepts_[0], 0)
    logits = hidden @ mlp.coefs_[1] + mlp.intercepts_[1]
    np.testing.assert_allclose(float_outputs(manifest, X[:20]), logits, atol=2e-2)
    for row in X:  # the training data is never clamped
        assert manifest.evaluate(manifest.quantise_input(row.tolist())).clamped == 0


def test_from_layers_checks_shapes_and_ranges() -> None:
    w0, b0, w1, b1 = np.ones((4, 3)), np.zeros(4), np.ones((2, 4)), np.zeros(2)
    common: dict[str, Any] = {
        "name": "x",
        "version": 1,
        "input_scale_bits": 4,
        "weight_scale_bits": 8,
        "postprocess": "none",
        "input_min": [0.0] * 3,
        "input_max": [1.0] * 3,
    }
    manifest = from_layers([(w0, b0), (w1, b1)], hidden_max=[3.0], parts=[[0, 1]], **common)
    assert manifest.parts[0].schedule == (0, 1)
    assert manifest.parts[0].max_rounds == 2
    with pytest.raises(ModelFormatError, match="need 1 hidden ranges"):
        from_layers([(w0, b0), (w1, b1)], **common)
    with pytest.raises(ModelFormatError, match="layer 1 takes 3 values"):
        from_layers([(w0, b0), (w0, b0)], hidden_max=[1.0], **common)
    with pytest.raises(ModelFormatError, match="at least one layer"):
        from_layers([], **common)


def linear_graph(kind: str, w: np.ndarray, b: np.ndarray, tail: list[str]) -> onnx.ModelProto:
    n_in = w.shape[1]
    inits = []
    nodes = []
    if kind == "gemm":  # torch.onnx.export of nn.Linear: Gemm(x, W, b, transB=1)
        inits = [
            numpy_helper.from_array(w.astype(np.float32), "W"),
            numpy_helper.from_array(b.astype(np.float32), "b"),
        ]
        nodes.append(helper.make_node("Gemm", ["x", "W", "b"], ["y0"], transB=1))
    else:  # MatMul(x, W^T) + b
        inits = [
            numpy_helper.from_array(w.T.astype(np.float32), "Wt"),
            numpy_helper.from_array(b.astype(np.float32), "b"),
        ]
        nodes += [
            helper.make_node("MatMul", ["x", "Wt"], ["mm"]),
            helper.make_node("Add", ["b", "mm"], ["y0"]),
        ]
    last = "y0"
    for i, op in enumerate(tail):
        out = f"t{i}"
        attrs = {"axis": 1} if op in ("Softmax", "ArgMax") else {}
        nodes.append(helper.make_node(op, [last], [out], **attrs))
        last = out
    out_type = TensorProto.INT64 if tail[-1:] == ["ArgMax"] else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info(last, out_type, None)],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("kind", ["gemm", "matmul"])
@pytest.mark.parametrize(
    ("tail", "postprocess"), [([], "none"), (["Sigmoid"], "sigmoid"), (["Softmax"], "argmax")]
)
def test_onnx_linear_layer_matches_the_reference_runtime(
    kind: str, tail: list[str], postprocess: str
) -> None:
    n_out = 1 if postprocess == "sigmoid" else 3
    w = RNG.normal(size=(n_out, 5))
    b = RNG.normal(size=n_out)
    model = linear_graph(kind, w, b, tail)
    low, high = X.min(axis=0).tolist(), X.max(axis=0).tolist()
    manifest = from_onnx(
        model.SerializeToString(),
        name="onnx-model",
        version=1,
        input_scale_bits=12,
        weight_scale_bits=20,
        input_min=low,
        input_max=high,
    )
    assert manifest.postprocess == postprocess
    reference = ReferenceEvaluator(linear_graph(kind, w, b, []))
    for row in X[:10]:
        (expected,) = reference.run(None, {"x": row.reshape(1, -1).astype(np.float32)})
        got = float_outputs(manifest, row.reshape(1, -1))[0]
        np.testing.assert_allclose(got, expected[0], rtol=1e-3, atol=1e-2)


def test_onnx_unsupported_graph_is_refused() -> None:
    w, b = RNG.normal(size=(2, 5)), RNG.normal(size=2)
    model = linear_graph("gemm", w, b, ["Relu"])
    with pytest.raises(ModelFormatError, match="post-processing"):
        from_onnx(
            model,
            name="x",
            version=1,
            input_scale_bits=8,
            weight_scale_bits=8,
            input_min=[0.0] * 5,
            input_max=[1.0] * 5,
        )
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
    )
    with pytest.raises(ModelFormatError, match="expected Gemm or MatMul"):
        from_onnx(
            helper.make_model(graph),
            name="x",
            version=1,
            input_scale_bits=8,
            weight_scale_bits=8,
            input_min=[0.0] * 5,
            input_max=[1.0] * 5,
        )
    with pytest.raises(ModelFormatError, match="not a serialized ONNX model"):
        from_onnx(
            b"\xff\x00garbage",
            name="x",
            version=1,
            input_scale_bits=8,
            weight_scale_bits=8,
            input_min=[0.0] * 5,
            input_max=[1.0] * 5,
        )
