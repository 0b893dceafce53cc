"""The language model without proofs or network: time per token of the quantised model the nodes
serve (`zkai.models.decoder.generate` with `local_linear`: exact integer blocks, the user-side
program in between) and of its float reference (`lm_onnx.FloatDecoder`: the dequantised
weights, float64, no rounding between blocks), each generating `new_tokens` greedy tokens after
the prompt, median of `repeats` generations. Per token = the generation's time (the prompt's
passes included) / new_tokens. The two continuations are reported with how many tokens agree."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from zkai.bench.common import JSONDict
from zkai.bench.lm_onnx import FloatDecoder
from zkai.errors import BenchmarkError
from zkai.models.manifest import Manifest

__all__ = ["LmPlaintextResult", "lm_plaintext_section"]


@dataclass(frozen=True)
class LmPlaintextResult:
    prompt: str
    new_tokens: int
    repeats: int
    quantised_ms_per_token: float
    float_ms_per_token: float
    quantised_text: str
    float_text: str
    tokens_agreeing: int

    @property
    def quantised_tokens_per_s(self) -> float:
        return round(1000.0 / self.quantised_ms_per_token, 1)

    def to_json(self) -> JSONDict:
        return {
            "prompt": self.prompt,
            "new_tokens": self.new_tokens,
            "repeats": self.repeats,
            "quantised_ms_per_token": self.quantised_ms_per_token,
            "quantised_tokens_per_s": self.quantised_tokens_per_s,
            "float_reference_ms_per_token": self.float_ms_per_token,
            "quantised_text": self.quantised_text,
            "float_reference_text": self.float_text,
            "tokens_agreeing": self.tokens_agreeing,
            "note": "quantised = zkai.models.decoder.generate with local_linear (greedy); float "
            "reference = the dequantised weights in float64 numpy, no rounding between blocks",
        }


def _median_ms(run: Callable[[], Iterable[int]], repeats: int) -> tuple[float, list[int]]:
    times: list[float] = []
    out: list[int] = []
    for _ in range(repeats):
        started = time.perf_counter()
        out = list(run())
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000.0, out


def lm_plaintext_section(
    manifest: Manifest, prompt: str, new_tokens: int, repeats: int
) -> LmPlaintextResult:
    """`repeats` greedy generations of `new_tokens` after `prompt`, quantised and float."""
    from zkai.models.decoder import Decoder, generate, local_linear

    if repeats < 1 or new_tokens < 1:
        raise BenchmarkError("the plaintext LM section needs a token and a repeat")
    decoder = Decoder.from_manifest(manifest)
    tokens = decoder.check_request(prompt, new_tokens)
    linear = local_linear(manifest)
    reference = FloatDecoder.from_manifest(manifest)
    quantised_ms, quantised = _median_ms(
        lambda: generate(manifest, tokens, new_tokens, linear), repeats
    )
    float_ms, floats = _median_ms(lambda: reference.generate(tokens, new_tokens), repeats)
    return LmPlaintextResult(
        prompt=prompt,
        new_tokens=new_tokens,
        repeats=repeats,
        quantised_ms_per_token=round(quantised_ms / new_tokens, 3),
        float_ms_per_token=round(float_ms / new_tokens, 3),
        quantised_text=decoder.decode(quantised),
        float_text=decoder.decode(floats),
        tokens_agreeing=sum(a == b for a, b in zip(quantised, floats, strict=True)),
    )
