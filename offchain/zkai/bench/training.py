"""Encrypted training: the product's CKKS path (`zkai.training.he`, its default parameters)
encrypting updates, aggregating them as the worker does, and decrypting the sum."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from zkai.bench.common import (
    JSONDict,
    Progress,
    installed_version,
    ms,
    peak_rss_mib,
    reset_peak_rss,
    rss_mib,
)

__all__ = ["TrainingResult", "TrainingRow", "training_section"]


@dataclass(frozen=True)
class TrainingRow:
    """One update size: times in ms, sizes in bytes, memory in MiB."""

    parameters: int
    ciphertexts_per_update: int
    encrypt_ms_median: float
    aggregate_updates: int
    aggregate_ms: float
    decrypt_sum_ms: float
    ciphertext_bytes_per_update: int
    rss_growth_mib: float
    peak_rss_mib: float
    max_abs_error_of_sum: float


@dataclass(frozen=True)
class TrainingResult:
    """The CKKS parameters and one row per update size."""

    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int
    tenseal: str | None
    rows: tuple[TrainingRow, ...]

    def to_json(self) -> JSONDict:
        return {
            "scheme": "CKKS",
            "poly_modulus_degree": self.poly_modulus_degree,
            "coeff_mod_bit_sizes": list(self.coeff_mod_bit_sizes),
            "scale_bits": self.scale_bits,
            "tenseal": self.tenseal,
            "rows": [asdict(row) for row in self.rows],
        }


def training_section(sizes: Sequence[int], updates: int, say: Progress) -> TrainingResult:
    """The product's encrypted-training path (`zkai.training.he`, its default CKKS parameters):
    encrypting one update into its wire envelope, adding `updates` of them to a running sum as
    the aggregation worker does, and the key holder's decryption of the sum."""
    from zkai.training.he import CkksParameters, EncryptedSum, KeyHolder, encrypt_update

    parameters = CkksParameters.default()
    holder = KeyHolder.generate(parameters)
    public = holder.public_context()
    rows: list[TrainingRow] = []
    rng = np.random.default_rng(7)
    for size in sizes:
        say(
            f"encrypted training: {updates} updates of {size} parameters "
            f"(CKKS N={parameters.poly_modulus_degree})"
        )
        vectors = [rng.normal(0.0, 0.01, size) for _ in range(updates)]
        reset_peak_rss()
        rss0 = rss_mib()
        encrypt_s: list[float] = []
        encrypted: list[bytes] = []
        for vector in vectors:
            t0 = time.perf_counter()
            encrypted.append(encrypt_update(public, vector))
            encrypt_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        accumulator = EncryptedSum(public, size)
        for update in encrypted:
            accumulator.add(update)
        total = accumulator.to_bytes()
        aggregate_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        decrypted = holder.decrypt_sum(total, min_updates=updates)
        decrypt_s = time.perf_counter() - t0
        error = float(np.max(np.abs(decrypted - np.sum(vectors, axis=0))))
        rows.append(
            TrainingRow(
                parameters=size,
                ciphertexts_per_update=parameters.chunks(size),
                encrypt_ms_median=round(statistics.median(encrypt_s) * 1000.0, 3),
                aggregate_updates=updates,
                aggregate_ms=ms(aggregate_s),
                decrypt_sum_ms=ms(decrypt_s),
                ciphertext_bytes_per_update=len(encrypted[0]),
                rss_growth_mib=round(rss_mib() - rss0, 1),
                peak_rss_mib=round(peak_rss_mib(), 1),
                max_abs_error_of_sum=error,
            )
        )
        del encrypted, accumulator, total
    return TrainingResult(
        poly_modulus_degree=parameters.poly_modulus_degree,
        coeff_mod_bit_sizes=tuple(parameters.coeff_mod_bit_sizes),
        scale_bits=parameters.global_scale_bits,
        tenseal=installed_version("tenseal"),
        rows=tuple(rows),
    )
