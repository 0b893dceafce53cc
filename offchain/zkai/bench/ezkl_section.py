"""The ezkl baseline of one demo model (a zkai-model/2 manifest).

A one-block model: `run_ezkl_baseline` on the block's own integers (W and b), rescaled to the
largest scales ezkl's float32 ONNX and 2^28 range checks accept (recorded as such). A model of two
linear blocks with relu between them (digits-mlp): the two-layer ReLU MLP exported to ONNX with the
manifest's weights as floats (W / 2^w, b / 2^(in + w)), scales calibrated by ezkl; the user's
rescale between the layers is a change of scale there, and its clamp (never reached by the
training range) is not in the ONNX graph (recorded in `scale_note`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zkai.bench.common import JSONDict, Progress
from zkai.errors import ZKAIError
from zkai.models.manifest import Manifest

if TYPE_CHECKING:
    from zkai.bench.ezkl_baseline import EzklResult

__all__ = ["EzklSection", "ezkl_scales", "ezkl_section"]

EZKL_MAX_ABS = 2**24  # ONNX float32 holds integers exactly below this
EZKL_OUTPUT_MAX_ABS = 2**27  # 128^4 = 2^28 range check on (signed) outputs


@dataclass(frozen=True)
class EzklSection:
    """ezkl's result for a model, and the scales it was proven at."""

    baseline: EzklResult
    input_scale_bits_used: int
    weight_scale_bits_used: int
    rescaled: bool
    scale_note: str

    def to_json(self) -> JSONDict:
        """ezkl's numbers (without the run's file paths) and the scales."""
        data = self.baseline.to_json_dict()
        data.pop("artifacts", None)
        data["input_scale_bits_used"] = self.input_scale_bits_used
        data["weight_scale_bits_used"] = self.weight_scale_bits_used
        data["rescaled"] = self.rescaled
        data["scale_note"] = self.scale_note
        return data


def ezkl_scales(manifest: Manifest, x_int: Sequence[int]) -> tuple[int, int]:
    """(input bits dropped, weight bits dropped): the smallest reduction of the manifest's
    scales for which W, b and x are below 2^24 and the sample's |W x + b| below 2^27."""
    w, b = _block_arrays(manifest, 0)
    x = np.asarray(list(x_int), dtype=object)
    best: tuple[int, int] | None = None
    for total in range(manifest.input_scale_bits + manifest.weight_scale_bits + 1):
        for dx in range(min(total, manifest.input_scale_bits) + 1):
            dw = total - dx
            if dw > manifest.weight_scale_bits:
                continue
            ws, bs, xs = _rescaled(w, b, x, dx, dw)
            y = ws.dot(xs) + bs
            fits = (
                max(_abs_max(ws), _abs_max(bs), _abs_max(xs)) < EZKL_MAX_ABS
                and _abs_max(y) < EZKL_OUTPUT_MAX_ABS
            )
            if fits and (best is None or abs(dx - dw) < abs(best[0] - best[1])):
                best = (dx, dw)
        if best is not None:
            return best
    raise ZKAIError(f"no scale of {manifest.name} fits ezkl's 2^24 limit")


def _block_arrays(
    manifest: Manifest, index: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    block = manifest.block(index)
    return np.asarray(block.weights, dtype=object), np.asarray(block.bias, dtype=object)


def _mlp_layers(manifest: Manifest) -> tuple[Any, Any, Any, Any, float]:
    """(W1, b1, W2, b2, input divisor) as floats, for a relu MLP of two blocks."""
    from zkai.models.steps import Relu

    kinds = [type(s).__name__ for s in manifest.steps]
    if len(manifest.blocks) != 2 or not any(isinstance(s, Relu) for s in manifest.steps):
        raise ZKAIError(f"ezkl baseline: {manifest.name} is not a two-layer relu MLP ({kinds})")
    wbits, xbits = manifest.weight_scale_bits, manifest.input_scale_bits
    layers = []
    for index in range(2):
        w, b = _block_arrays(manifest, index)
        layers.append(w.astype(np.float64) / 2.0**wbits)
        layers.append(b.astype(np.float64) / 2.0 ** (wbits + xbits))
    return layers[0], layers[1], layers[2], layers[3], 2.0**xbits


def _shift(values: np.ndarray[Any, Any], bits: int) -> np.ndarray[Any, Any]:
    if bits == 0:
        return values
    half = 1 << (bits - 1)
    shifted: np.ndarray[Any, Any] = np.vectorize(
        lambda v: (int(v) + half) >> bits, otypes=[object]
    )(values)
    return shifted


def _rescaled(
    w: np.ndarray[Any, Any], b: np.ndarray[Any, Any], x: np.ndarray[Any, Any], dx: int, dw: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return _shift(w, dw), _shift(b, dx + dw), _shift(x, dx)


def _abs_max(values: np.ndarray[Any, Any]) -> int:
    return int(max(abs(int(v)) for v in np.ravel(values)))


def ezkl_section(
    manifest: Manifest,
    x: Sequence[float],
    workdir: Path,
    *,
    repeats: int,
    rpc_url: str | None,
    say: Progress,
) -> EzklSection:
    """ezkl proving the manifest's model on the sample `x` (module docstring)."""
    from zkai.bench.ezkl_baseline import run_ezkl_baseline

    x_int = manifest.quantise_input(x)
    if len(manifest.blocks) > 1:
        w1, b1, w2, b2, divisor = _mlp_layers(manifest)
        note = (
            "two-layer ReLU MLP as ONNX with the manifest's weights as floats; ezkl calibrates "
            "its own scales; the rescale's clamp between the layers is not in the graph"
        )
        say(f"{manifest.name}: ezkl baseline ({note})")
        result = run_ezkl_baseline(
            w1,
            b1,
            np.asarray(x_int, dtype=np.float64) / divisor,
            workdir,
            repeats=repeats,
            deploy_rpc_url=rpc_url,
            second_layer=(w2, b2),
        )
        return EzklSection(
            baseline=result,
            input_scale_bits_used=result.input_scale,
            weight_scale_bits_used=result.param_scale,
            rescaled=True,
            scale_note=note,
        )
    dx, dw = ezkl_scales(manifest, x_int)
    w, b = _block_arrays(manifest, 0)
    ws, bs, xs = _rescaled(w, b, np.asarray(x_int, dtype=object), dx, dw)
    note = (
        "manifest integers used as they are"
        if dx == dw == 0
        else f"manifest integers exceed ezkl's float32 limit (2^24) or its 2^28 output range "
        f"at scales 2^{manifest.input_scale_bits} (input) / 2^{manifest.weight_scale_bits} "
        f"(weights); ezkl proves the same model at 2^{manifest.input_scale_bits - dx} / "
        f"2^{manifest.weight_scale_bits - dw}"
    )
    say(f"{manifest.name}: ezkl baseline ({note})")
    result = run_ezkl_baseline(
        ws.astype(np.int64),
        bs.astype(np.int64),
        xs.astype(np.int64),
        workdir,
        repeats=repeats,
        deploy_rpc_url=rpc_url,
    )
    return EzklSection(
        baseline=result,
        input_scale_bits_used=manifest.input_scale_bits - dx,
        weight_scale_bits_used=manifest.weight_scale_bits - dw,
        rescaled=bool(dx or dw),
        scale_note=note,
    )
