"""Contributor-side training: a clipped, weighted update of the current model on private data.

Parameter space. Gradient descent on raw features is badly conditioned (digits pixels span
0..16, breast-cancer features 0.05..2500), so training works on features divided by the
magnitude of the manifest's *declared* input range, s_j = max(|min_j|, |max_j|) (public: it is
in the manifest). A model W x + b is the same model as W' x' + b with x' = x / s and
W' = W * s (column-wise). The update vector is taken in that space, laid out as
[W' row-major (outputs x inputs), b], so P = m*n + m (650 for digits); every party converts with
the functions here (`parameters_of`, `manifest_from_parameters`).

The update: from the dequantised current weights, `epochs` full-batch gradient-descent steps of
softmax cross-entropy (argmax models) or logistic loss (sigmoid models), with a small L2 penalty.
Delta = theta_end - theta_start is clipped to L2 norm `clip_norm` (bounding any one contributor's
influence, as in DP-FedAvg) and multiplied by the clipped sample count min(n, `max_weight`), so
the key holder's new parameters are theta + sum(w_i delta_i) / sum(w_i), a weighted FedAvg step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from zkai.errors import TrainingError
from zkai.models.importers import from_linear
from zkai.models.manifest import Manifest
from zkai.models.steps import LinearBlock

__all__ = [
    "LocalTrainingConfig",
    "LocalUpdate",
    "feature_scale",
    "manifest_from_parameters",
    "parameter_count",
    "parameters_of",
    "train_local",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LocalTrainingConfig:
    """Hyper-parameters of a local update (the round announces them; defaults suit the demos)."""

    epochs: int = 30
    learning_rate: float = 0.5
    l2: float = 1e-4
    clip_norm: float = 2.0
    """L2 bound on one contributor's (unweighted) parameter delta."""
    max_weight: int = 500
    """A contributor's weight is its sample count, clipped to this."""

    def __post_init__(self) -> None:
        positive = {"learning rate": self.learning_rate, "clip norm": self.clip_norm}
        for what, value in positive.items():
            if not math.isfinite(value) or value <= 0:  # NaN fails both comparisons
                raise TrainingError(f"the {what} must be a positive number, not {value}")
        if not math.isfinite(self.l2) or self.l2 < 0:
            raise TrainingError(f"the L2 penalty must be >= 0, not {self.l2}")
        if self.epochs < 1 or self.max_weight < 1:
            raise TrainingError("epochs and the weight cap must be at least 1")


class LocalUpdate(NamedTuple):
    """A contributor's weighted update (`vector` = weight * clipped delta) and its weight."""

    vector: FloatArray
    weight: int
    delta_norm: float
    """The delta's L2 norm before clipping."""


def linear_block(manifest: Manifest) -> LinearBlock:
    """The one linear block of a trainable model (training handles one-layer models only)."""
    if len(manifest.blocks) != 1:
        raise TrainingError(
            f"model {manifest.name!r} has {len(manifest.blocks)} linear blocks: encrypted training "
            "handles one-layer (linear or logistic) models only"
        )
    return manifest.blocks[0]


def parameter_count(manifest: Manifest) -> int:
    """P = outputs * inputs + outputs."""
    return manifest.output_size * manifest.input_size + manifest.output_size


def feature_scale(manifest: Manifest) -> FloatArray:
    """s_j = the magnitude of feature j's declared range (1 where the range is {0})."""
    lo = np.asarray(manifest.input_min, dtype=np.float64)
    hi = np.asarray(manifest.input_max, dtype=np.float64)
    scale = np.maximum(np.abs(lo), np.abs(hi)) / float(1 << manifest.input_scale_bits)
    return np.where(scale > 0, scale, 1.0)


def parameters_of(manifest: Manifest) -> FloatArray:
    """The manifest's dequantised model in training space: [W' row-major, b]."""
    block = linear_block(manifest)
    w = np.asarray(block.weights, dtype=np.float64) / float(1 << manifest.weight_scale_bits)
    b = np.asarray(block.bias, dtype=np.float64) / float(1 << manifest.output_scale_bits)
    return np.concatenate([(w * feature_scale(manifest)).reshape(-1), b])


def manifest_from_parameters(base: Manifest, parameters: npt.ArrayLike, version: int) -> Manifest:
    """`base` with the training-space parameters quantised in, as version `version`."""
    theta = np.asarray(parameters, dtype=np.float64).reshape(-1)
    m, n = base.output_size, base.input_size
    if theta.size != parameter_count(base):
        raise TrainingError(f"{theta.size} parameters given, model {base.name!r} has {m * n + m}")
    w = theta[: m * n].reshape(m, n) / feature_scale(base)
    in_scale = float(1 << base.input_scale_bits)
    return from_linear(
        w,
        theta[m * n :],
        name=base.name,
        version=version,
        input_scale_bits=base.input_scale_bits,
        weight_scale_bits=base.weight_scale_bits,
        postprocess=base.postprocess,
        input_min=[v / in_scale for v in base.input_min],
        input_max=[v / in_scale for v in base.input_max],
        labels=base.labels,
        description=base.description,
    )


def train_local(
    manifest: Manifest,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    config: LocalTrainingConfig | None = None,
) -> LocalUpdate:
    """A clipped, weighted update of `manifest` on the private data (x raw features, y labels)."""
    config = config or LocalTrainingConfig()
    features = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y).reshape(-1)
    m, n = manifest.output_size, manifest.input_size
    if features.ndim != 2 or features.shape[1] != n or features.shape[0] != labels.size:
        raise TrainingError(
            f"training data must be (samples x {n}) features with one label per sample, got "
            f"{features.shape} and {labels.shape}"
        )
    if labels.size == 0:
        raise TrainingError("no training samples")
    if not np.all(np.isfinite(features)):
        raise TrainingError("training features must be finite")
    targets = _targets(manifest, labels)
    scaled = features / feature_scale(manifest)
    start = parameters_of(manifest)
    theta = start.copy()
    for _ in range(config.epochs):
        theta -= config.learning_rate * _gradient(theta, scaled, targets, m, n, config.l2)
    delta = theta - start
    norm = float(np.linalg.norm(delta))
    if norm > config.clip_norm:
        delta *= config.clip_norm / norm
    weight = min(int(labels.size), config.max_weight)
    return LocalUpdate(delta * weight, weight, norm)


def _targets(manifest: Manifest, labels: npt.NDArray[Any]) -> FloatArray:
    if not np.issubdtype(labels.dtype, np.integer):
        raise TrainingError(f"labels must be integer class indexes, got {labels.dtype}")
    if manifest.postprocess == "argmax":
        classes = manifest.output_size
        if labels.min() < 0 or labels.max() >= classes:
            raise TrainingError(f"labels must be class indexes in 0..{classes - 1}")
        one_hot: FloatArray = np.eye(classes)[labels]
        return one_hot
    if manifest.postprocess == "sigmoid":
        if not set(np.unique(labels).tolist()) <= {0, 1}:
            raise TrainingError("a sigmoid model's labels must be 0 or 1")
        return labels.astype(np.float64).reshape(-1, 1)
    raise TrainingError(
        f"model {manifest.name!r} has post-processing {manifest.postprocess!r}: only argmax "
        "(softmax) and sigmoid (logistic) models can be trained"
    )


def _gradient(
    theta: FloatArray, x: FloatArray, targets: FloatArray, m: int, n: int, l2: float
) -> FloatArray:
    w, b = theta[: m * n].reshape(m, n), theta[m * n :]
    logits = x @ w.T + b
    if m == 1:
        probabilities = 1.0 / (1.0 + np.exp(-logits))
    else:
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    error = (probabilities - targets) / x.shape[0]
    grad_w = error.T @ x + l2 * w
    return np.concatenate([grad_w.reshape(-1), error.sum(axis=0)])
