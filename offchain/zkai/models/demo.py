"""The two demo models, trained by the project from data that ships with scikit-learn.

- `breast-cancer`: diagnosis from the 30 raw features of the Wisconsin breast-cancer data set,
  logistic regression (sigmoid; label 1 = benign, as in scikit-learn's target).
- `digits`: the 8x8 handwritten digits, a 10-class multinomial logistic regression on the 64
  raw pixel values 0..16 (argmax).
- `digits-mlp`: the same digits, an `MLPClassifier` 64 -> 32 ReLU -> 10 (seeded), in two parts:
  part 0 = the first layer, part 1 = the second; the user applies relu and the rescale between
  them (inputs at 2**8, weights at 2**16, hidden values rescaled back to 2**8 and clamped into
  twice the largest activation seen in training).

All are trained behind a `StandardScaler` (fixed random_state, stratified
75/25 split) and the scaler is folded into the weights, so the models take raw features.
Scales: breast-cancer features span 0.05 (smoothness) to 2500 (area), so inputs use 2**16 (a
resolution of 1.5e-5, far below any feature's spread); digits pixels are integers, so inputs are
exact at 2**0. Weights use 2**16 for both.

`python -m zkai.models.demo --report` prints float and quantised held-out accuracy (JSON);
`--write` retrains and rewrites the committed manifests in `models/demo/` and the report.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zkai.errors import ModelFormatError
from zkai.models.importers import from_sklearn
from zkai.models.manifest import Manifest

__all__ = [
    "DEMO_DIR",
    "DEMO_MODELS",
    "SHIPPED_MODELS",
    "DemoSplit",
    "evaluate",
    "load_demo_manifest",
    "load_split",
    "main",
    "report",
    "train",
]

DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_MODELS = ("breast-cancer", "digits", "digits-mlp")
SHIPPED_MODELS = (*DEMO_MODELS, "tiny-lm")
"""Every manifest in `models/demo/`; tiny-lm (a decoder, `zkai.models.decoder`) is trained by
scripts/train_tiny_lm.py, not by this module."""
RANDOM_STATE = 0
_SETTINGS: dict[str, dict[str, Any]] = {
    "breast-cancer": {
        "input_scale_bits": 16,
        "weight_scale_bits": 16,
        "description": "Breast cancer diagnosis (Wisconsin), logistic regression on 30 raw "
        "features; label 1 = benign",
        # Every feature is a non-negative measurement; allow up to twice the largest one seen in
        # training, so that held-out cases are not refused for being slightly larger.
        "input_range": lambda x: ([0.0] * x.shape[1], [2.0 * float(v) for v in x.max(axis=0)]),
    },
    "digits": {
        "input_scale_bits": 0,
        "weight_scale_bits": 16,
        "description": "8x8 handwritten digits, multinomial logistic regression on 64 raw "
        "pixel values 0..16",
        # The pixel domain, not the training range (pixel 0 is blank in every training image).
        "input_range": lambda x: ([0.0] * x.shape[1], [16.0] * x.shape[1]),
    },
    "digits-mlp": {
        "input_scale_bits": 8,
        "weight_scale_bits": 16,
        "description": "8x8 handwritten digits, MLP 64 -> 32 ReLU -> 10 on the 64 raw pixel "
        "values 0..16, in two parts (one per layer)",
        "input_range": lambda x: ([0.0] * x.shape[1], [16.0] * x.shape[1]),
        "parts": [[0], [1]],
    },
}


@dataclass(frozen=True)
class DemoSplit:
    """A demo data set's held-out split and its label names."""

    x_train: np.ndarray[Any, Any]
    x_test: np.ndarray[Any, Any]
    y_train: np.ndarray[Any, Any]
    y_test: np.ndarray[Any, Any]
    labels: list[str]


def load_split(name: str) -> DemoSplit:
    """The stratified 75/25 train/test split of a demo data set."""
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.model_selection import train_test_split

    if name == "breast-cancer":
        data = load_breast_cancer()
    elif name in ("digits", "digits-mlp"):
        data = load_digits()
    else:
        raise ModelFormatError(f"unknown demo model {name!r}; choose from {DEMO_MODELS}")
    x, y = np.asarray(data.data, np.float64), np.asarray(data.target)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=RANDOM_STATE, stratify=y
    )
    return DemoSplit(x_train, x_test, y_train, y_test, [str(t) for t in data.target_names])


def train(name: str) -> tuple[Manifest, float]:
    """Train a demo model; returns its manifest and the float model's held-out accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    split = load_split(name)
    estimator: Any = (
        MLPClassifier(hidden_layer_sizes=(32,), max_iter=2000, random_state=RANDOM_STATE)
        if name == "digits-mlp"
        else LogisticRegression(max_iter=5000, random_state=RANDOM_STATE)
    )
    pipeline = make_pipeline(StandardScaler(), estimator)
    pipeline.fit(split.x_train, split.y_train)
    float_accuracy = float(np.mean(pipeline.predict(split.x_test) == split.y_test))
    settings = _SETTINGS[name]
    manifest = from_sklearn(
        pipeline,
        split.x_train,
        name=name,
        version=1,
        input_scale_bits=settings["input_scale_bits"],
        weight_scale_bits=settings["weight_scale_bits"],
        labels=split.labels,
        description=settings["description"],
        input_range=settings["input_range"](split.x_train),
        parts=settings.get("parts"),
    )
    return manifest, float_accuracy


def evaluate(manifest: Manifest, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> float:
    """Accuracy of the quantised model (exact integer arithmetic) on labelled inputs."""
    hits = 0
    for row, target in zip(x, y, strict=True):
        prediction = manifest.predict(row.tolist())
        hits += int(prediction.label == int(target))
    return hits / len(y)


def load_demo_manifest(name: str) -> Manifest:
    """A committed manifest (`models/demo/<name>.json`): a demo model or tiny-lm."""
    if name not in SHIPPED_MODELS:
        raise ModelFormatError(f"unknown demo model {name!r}; choose from {SHIPPED_MODELS}")
    return Manifest.load(DEMO_DIR / f"{name}.json")


def report(*, retrain: bool = False) -> dict[str, Any]:
    """Held-out accuracy (float and quantised) and sizes for each demo model."""
    result: dict[str, Any] = {}
    for name in DEMO_MODELS:
        fresh, float_accuracy = train(name)
        manifest = fresh if retrain else load_demo_manifest(name)
        split = load_split(name)
        result[name] = {
            "float_accuracy": round(float_accuracy, 6),
            "quantised_accuracy": round(evaluate(manifest, split.x_test, split.y_test), 6),
            "test_samples": len(split.y_test),
            "input_size": manifest.input_size,
            "output_size": manifest.output_size,
            "blocks": [f"{b.input_size}->{b.output_size}" for b in manifest.blocks],
            "parts": [",".join(str(b) for b in p.schedule) for p in manifest.parts],
            "input_scale_bits": manifest.input_scale_bits,
            "weight_scale_bits": manifest.weight_scale_bits,
            "manifest_bytes": len(manifest.to_json().encode()),
            "content_hash": manifest.hash_hex,
            "matches_fresh_training": fresh.hash == manifest.hash,
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zkai.models.demo", description=__doc__)
    parser.add_argument("--report", action="store_true", help="print accuracies as JSON")
    parser.add_argument("--write", action="store_true", help="retrain and rewrite the files")
    args = parser.parse_args(argv)
    if args.write:
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        for name in DEMO_MODELS:
            manifest, _ = train(name)
            manifest.save(DEMO_DIR / f"{name}.json")
        (DEMO_DIR / "report.json").write_text(json.dumps(report(), indent=2) + "\n")
    if args.report or not args.write:
        json.dump(report(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
