"""The language model end to end on the bench's `zkai up` network: `zkai generate`'s client
(`zkai.client.generate.GenerationClient.generate`, greedy) generating `new_tokens` tokens after
the prompt, `generations` times in sequence. Per generation: tokens per second as streamed (the
client's own figure: (N - 1) tokens over the time from the first token to the last), the time to
the first token, the time from the last token to the last proof accepted on-chain, gas per query
(requestQuery + every chunk claim; settle is not included, anyone may send it later) and per
token, and each node's chunk claims. Every generation must be verified (every assignment's
claims record the client's rounds and transcripts) and equal the plaintext quantised model's
tokens (`zkai.models.decoder.generate` with `local_linear`), or the section fails."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zkai.bench.common import JSONDict
from zkai.errors import BenchmarkError

if TYPE_CHECKING:
    from zkai.bench.network import NetworkBench

__all__ = ["LM_MODEL", "LmE2EResult", "LmGeneration", "lm_e2e_section"]

LM_MODEL = "tiny-lm"


@dataclass(frozen=True)
class LmGeneration:
    """One generation's figures, from `GenerationOutcome.as_json()`."""

    tokens_per_s: float
    time_to_first_token_s: float
    proofs_after_last_token_s: float
    latency_s: float
    gas_total: int
    gas_request: int
    gas_claims: int
    claim_chunks: int
    chunks_per_assignment: dict[str, int]

    @classmethod
    def of(cls, outcome: JSONDict, new_tokens: int) -> LmGeneration:
        gas = outcome.get("gas") or {}
        chunks: dict[str, int] = {}
        for a in outcome.get("assignments") or []:
            chunks[f"part {a['part']} / {a['node']}"] = len(a.get("chunks") or [])
        missing = [
            k
            for k in ("tokens_per_s", "time_to_first_token_s", "proofs_after_last_token_s")
            if outcome.get(k) is None
        ]
        if missing or not gas:
            raise BenchmarkError(f"the generation's outcome lacks {missing or ['gas']}")
        return cls(
            tokens_per_s=float(outcome["tokens_per_s"]),
            time_to_first_token_s=float(outcome["time_to_first_token_s"]),
            proofs_after_last_token_s=float(outcome["proofs_after_last_token_s"]),
            latency_s=float(outcome["latency_s"]),
            gas_total=int(gas["total"]),
            gas_request=int(gas["request"]),
            gas_claims=int(gas["claims"]),
            claim_chunks=int(gas.get("claim_chunks") or sum(chunks.values())),
            chunks_per_assignment=chunks,
        )


@dataclass(frozen=True)
class LmE2EResult:
    model: str
    prompt: str
    new_tokens: int
    nodes: int
    shares: int
    text: str
    generations: tuple[LmGeneration, ...]

    def _median(self, key: str) -> float:
        return round(statistics.median(float(getattr(g, key)) for g in self.generations), 3)

    def to_json(self) -> JSONDict:
        gas = int(statistics.median(g.gas_total for g in self.generations))
        return {
            "model": self.model,
            "prompt": self.prompt,
            "new_tokens": self.new_tokens,
            "nodes": self.nodes,
            "shares": self.shares,
            "generations": len(self.generations),
            "text": self.text,
            "exact_vs_plaintext": True,
            "tokens_per_s_median": self._median("tokens_per_s"),
            "time_to_first_token_s_median": self._median("time_to_first_token_s"),
            "proofs_after_last_token_s_median": self._median("proofs_after_last_token_s"),
            "proofs_after_last_token_s_max": max(
                g.proofs_after_last_token_s for g in self.generations
            ),
            "latency_s_median": self._median("latency_s"),
            "gas_per_query_median": gas,
            "gas_per_token_median": gas // self.new_tokens,
            "claim_gas_per_query_median": int(
                statistics.median(g.gas_claims for g in self.generations)
            ),
            "request_gas_median": int(statistics.median(g.gas_request for g in self.generations)),
            "claim_chunks_per_query": self.generations[-1].claim_chunks,
            "chunk_claims_per_assignment": self.generations[-1].chunks_per_assignment,
            "per_generation": [
                {
                    "tokens_per_s": g.tokens_per_s,
                    "time_to_first_token_s": g.time_to_first_token_s,
                    "proofs_after_last_token_s": g.proofs_after_last_token_s,
                    "latency_s": g.latency_s,
                    "gas_total": g.gas_total,
                }
                for g in self.generations
            ],
            "note": "gas per query = requestQuery + every chunk claim (settle not included); "
            "tokens/s as the client streams them",
        }


def lm_e2e_section(
    net: NetworkBench, prompt: str, new_tokens: int, generations: int
) -> LmE2EResult:
    """`generations` sequential generations of `new_tokens` tokens after `prompt`."""
    from zkai.client.generate import GenerationClient
    from zkai.localnet_state import DEMO_USER_INDEX, anvil_account
    from zkai.models.decoder import Decoder, generate, local_linear

    if generations < 1:
        raise BenchmarkError("at least one generation")
    chain = net.chain()
    user = anvil_account(DEMO_USER_INDEX)
    model_id, manifest = net.model(LM_MODEL)
    decoder = Decoder.from_manifest(manifest)
    prompt_tokens = decoder.check_request(prompt, new_tokens)
    expected = list(generate(manifest, prompt_tokens, new_tokens, local_linear(manifest)))
    results = []
    text = ""
    for i in range(generations):
        outcome: Any = GenerationClient(chain, user).generate(
            LM_MODEL, manifest, model_id, prompt, new_tokens
        )
        data: JSONDict = outcome.as_json()
        if not data.get("verified"):
            raise BenchmarkError(
                f"generation {i + 1}: not every proof was accepted before the proof deadline"
            )
        if list(data["tokens"]) != expected:
            raise BenchmarkError(
                f"generation {i + 1} gave {decoder.decode(data['tokens'])!r}, the plaintext "
                f"model {decoder.decode(expected)!r}"
            )
        generation = LmGeneration.of(data, new_tokens)
        results.append(generation)
        text = str(data["text"])
        net.say(
            f"e2e {LM_MODEL}: generation {i + 1}/{generations}: {generation.tokens_per_s:.2f} "
            f"tokens/s, proofs {generation.proofs_after_last_token_s:.1f} s after the last token, "
            f"{generation.gas_total:,} gas"
        )
    return LmE2EResult(
        model=LM_MODEL,
        prompt=prompt,
        new_tokens=new_tokens,
        nodes=net.options.nodes,
        shares=net.options.shares,
        text=text,
        generations=tuple(results),
    )
