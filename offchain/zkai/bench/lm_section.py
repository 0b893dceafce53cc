"""The document's `language_model` section: tiny-lm (a decoder manifest) measured side by side.

- `plaintext` (`lm_plaintext`): time per token of the quantised model and its float reference.
- `circuits` (`lm_circuits`): per part, constraints, setup and one full R_max-slot chunk proof;
  the prover time per token and per node of the generation, derived from that chunk.
- `ezkl` (`lm_ezkl`, `--skip-ezkl`): one forward pass for one token, ezkl's defaults and its
  best settings.
- `e2e` (`lm_e2e`, `--skip-e2e`): generations through `zkai generate`'s client on the bench's
  network (filled in by the runner, which owns the network).
- `ratios` (`ratios.lm_ratios`).

The generation is `PROMPT` followed by `NEW_TOKENS` tokens (`--quick`: `QUICK_NEW_TOKENS`, one proof
per chunk circuit and no ezkl, said in the JSON's `plan`); the ezkl token is at `EZKL_POSITION`
(attending over EZKL_POSITION + 1 positions: a context of 32).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from zkai.bench.common import JSONDict, Progress
from zkai.errors import BenchmarkError

if TYPE_CHECKING:
    from zkai.bench.lm_circuits import LmCircuitsResult
    from zkai.bench.lm_e2e import LmE2EResult
    from zkai.bench.lm_ezkl import LmEzklResult
    from zkai.bench.lm_plaintext import LmPlaintextResult
    from zkai.bench.options import BenchOptions
    from zkai.models.manifest import Manifest

__all__ = [
    "EZKL_POSITION",
    "LM_NAME",
    "NEW_TOKENS",
    "PROMPT",
    "LmPlan",
    "LmSection",
    "lm_manifest",
    "lm_plan",
    "run_lm_offline",
]

T = TypeVar("T")


class SectionRunner(Protocol):
    """The runner's `_Sections.run`: the action's result, or None (failure recorded)."""

    def __call__(self, what: str, action: Callable[[], T]) -> T | None: ...


LM_NAME = "tiny-lm"
PROMPT = "the "
NEW_TOKENS, QUICK_NEW_TOKENS = 32, 8
EZKL_POSITION = 31
SHARES = 2  # k nodes per part on the bench network (zkai.bench.network.SHARES)


@dataclass(frozen=True)
class LmPlan:
    """What the section measures under the run's options."""

    prompt: str
    new_tokens: int
    ezkl_position: int
    repeats: int
    generations: int
    quick: bool

    @property
    def ezkl(self) -> bool:
        """ezkl runs only in a full bench: it proves one token of tiny-lm in minutes, with a
        proving key of about 700 MB."""
        return not self.quick

    def to_json(self) -> JSONDict:
        return {
            "prompt": self.prompt,
            "prompt_len": len(self.prompt),
            "new_tokens": self.new_tokens,
            "ezkl_position": self.ezkl_position,
            "repeats": self.repeats,
            "generations": self.generations,
            "quick": self.quick,
            "quick_note": f"--quick: {self.new_tokens} new tokens instead of {NEW_TOKENS}, "
            f"{self.repeats} proof per chunk circuit, one generation, and no ezkl baseline (it "
            "proves one token in minutes); run without --quick for the issue's measurements"
            if self.quick
            else None,
        }


def lm_plan(options: BenchOptions) -> LmPlan:
    if options.quick:
        return LmPlan(PROMPT, QUICK_NEW_TOKENS, EZKL_POSITION, 1, 1, True)
    return LmPlan(
        PROMPT, NEW_TOKENS, EZKL_POSITION, min(options.repeats, 3), min(options.queries, 2), False
    )


def lm_manifest() -> Manifest:
    """tiny-lm's shipped manifest (zkai/models/demo/tiny-lm.json)."""
    from zkai.models.demo import DEMO_DIR
    from zkai.models.manifest import Manifest

    path = DEMO_DIR / f"{LM_NAME}.json"
    if not path.is_file():
        raise BenchmarkError(
            f"{path} is missing: the language model's manifest ships with the repository "
            "(scripts/train_tiny_lm.py --write makes it)"
        )
    return Manifest.load(path)


@dataclass(frozen=True)
class LmSection:
    """Everything measured of the language model; a part that was skipped or failed is None."""

    plan: LmPlan
    manifest_hash: str
    plaintext: LmPlaintextResult | None
    circuits: LmCircuitsResult | None
    ezkl: LmEzklResult | None
    e2e: LmE2EResult | None = None

    def to_json(self, gas: JSONDict | None = None) -> JSONDict:
        """The section; `gas` (the gas section's JSON) adds the derived gas per token."""
        from zkai.bench.ratios import lm_ratios

        return {
            "model": LM_NAME,
            "manifest_hash": self.manifest_hash,
            "plan": self.plan.to_json(),
            "plaintext": None if self.plaintext is None else self.plaintext.to_json(),
            "circuits": None if self.circuits is None else self.circuits.to_json(),
            "ezkl": None if self.ezkl is None else self.ezkl.to_json(),
            "e2e": None if self.e2e is None else self.e2e.to_json(),
            "ratios": lm_ratios(self.plaintext, self.circuits, self.ezkl, self.e2e, gas).to_json(),
        }


def run_lm_offline(
    manifest: Manifest,
    plan: LmPlan,
    workdir: Path,
    *,
    skip_ezkl: bool,
    run: SectionRunner,
    say: Progress,
) -> LmSection:
    """The parts that need no network: plaintext, circuits, ezkl (each run through `run`, the
    runner's failure-recording wrapper)."""
    from zkai.bench.lm_circuits import lm_circuits_section
    from zkai.bench.lm_ezkl import lm_ezkl_section
    from zkai.bench.lm_plaintext import lm_plaintext_section
    from zkai.models.decoder import Decoder

    tokens = Decoder.from_manifest(manifest).check_request(plan.prompt, plan.new_tokens)
    plaintext = run(
        "language_model plaintext",
        lambda: lm_plaintext_section(manifest, plan.prompt, plan.new_tokens, max(plan.repeats, 3)),
    )
    circuits = run(
        "language_model circuits",
        lambda: lm_circuits_section(
            manifest,
            prompt_len=len(tokens),
            new_tokens=plan.new_tokens,
            shares=SHARES,
            repeats=plan.repeats,
            say=say,
        ),
    )
    ezkl = None
    if plan.ezkl and not skip_ezkl:
        ezkl = run(
            "language_model ezkl",
            lambda: lm_ezkl_section(
                manifest,
                tokens,
                plan.ezkl_position,
                workdir / "ezkl-lm",
                repeats=plan.repeats,
                say=say,
            ),
        )
    return LmSection(
        plan=plan,
        manifest_hash=manifest.hash_hex,
        plaintext=plaintext,
        circuits=circuits,
        ezkl=ezkl,
    )
