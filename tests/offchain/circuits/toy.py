"""Small manifests for the circuit tests (fast to build): a multi-round part and a two-block one."""

from __future__ import annotations

import secrets
from typing import Any

from zkai.crypto.field import BN254_R
from zkai.models.manifest import FORMAT, Manifest
from zkai.protocol.payload import RoundOpening


def toy_manifest(parts: list[dict[str, Any]] | None = None) -> Manifest:
    """Blocks 0 (4 -> 3) and 1 (3 -> 2); default parts: [0] with R_max 3, [1] with R_max 1."""
    return Manifest.from_dict(
        {
            "format": FORMAT,
            "name": "circuit-toy",
            "version": 1,
            "description": "",
            "input_scale_bits": 4,
            "weight_scale_bits": 8,
            "input_min": [-64] * 4,
            "input_max": [64] * 4,
            "steps": [
                {
                    "kind": "linear",
                    "W": [[1, -2, 3, 4], [5, 0, -7, 8], [-9, 10, 11, -12]],
                    "b": [1, 2, 3],
                },
                {"kind": "relu"},
                {"kind": "rescale", "shift": 8, "min": 0, "max": 255},
                {"kind": "linear", "W": [[13, -14, 15], [-16, 17, 18]], "b": [0, -5]},
            ],
            "parts": parts
            or [{"schedule": [0], "max_rounds": 3}, {"schedule": [1], "max_rounds": 1}],
            "postprocess": "argmax",
            "labels": None,
        }
    )


def random_opening(manifest: Manifest, part: int, i: int) -> RoundOpening:
    block = manifest.block(manifest.part(part).block_for_round(i))
    return RoundOpening(
        share=tuple(secrets.randbelow(BN254_R) for _ in range(block.input_size)),
        mask=tuple(secrets.randbelow(BN254_R) for _ in range(block.output_size)),
        salt=secrets.randbelow(BN254_R),
    )


def openings(manifest: Manifest, part: int, n: int) -> list[RoundOpening]:
    return [random_opening(manifest, part, i) for i in range(1, n + 1)]
