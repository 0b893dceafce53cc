"""Plaintext inference of one model: float numpy `W x + b`, the integer `Manifest.forward`, and
a node's compute on one share (`Manifest.masked_output`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zkai.bench.common import JSONDict, time_call
from zkai.crypto.field import encode_signed_vector
from zkai.crypto.sharing import deal
from zkai.models.manifest import Manifest

__all__ = ["PlaintextResult", "plaintext_section"]

NOTE = (
    "node compute = W s + m (mod r) in Python big integers for one share, "
    "without proving; numpy = float64 W x + b"
)


@dataclass(frozen=True)
class PlaintextResult:
    """Microseconds per call of each plaintext path, and the node's over numpy's."""

    numpy_float_us: float
    integer_forward_us: float
    node_masked_output_us: float
    node_compute_vs_numpy: float

    def to_json(self) -> JSONDict:
        return {
            "numpy_float_us": self.numpy_float_us,
            "integer_forward_us": self.integer_forward_us,
            "node_masked_output_us": self.node_masked_output_us,
            "node_compute_vs_numpy": self.node_compute_vs_numpy,
            "note": NOTE,
        }


def _float_model(manifest: Manifest) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    w = np.asarray(manifest.weights, dtype=np.float64) / float(1 << manifest.weight_scale_bits)
    b = np.asarray(manifest.bias, dtype=np.float64) / float(1 << manifest.output_scale_bits)
    return w, b


def plaintext_section(manifest: Manifest, x: Sequence[float]) -> PlaintextResult:
    """Float numpy W x + b, the integer `forward`, and a node's `masked_output` on one share."""
    w, b = _float_model(manifest)
    xf = np.asarray(x, dtype=np.float64)
    x_int = manifest.quantise_input(x)
    opening = deal(encode_signed_vector(x_int, what="input"), 2, manifest.output_size)[0].opening()
    numpy_s = time_call(lambda: w @ xf + b)
    forward_s = time_call(lambda: manifest.forward(x_int))
    masked_s = time_call(lambda: manifest.masked_output(opening.share, opening.mask))
    return PlaintextResult(
        numpy_float_us=round(numpy_s * 1e6, 3),
        integer_forward_us=round(forward_s * 1e6, 3),
        node_masked_output_us=round(masked_s * 1e6, 3),
        node_compute_vs_numpy=round(masked_s / numpy_s, 1),
    )
