"""The user's validity proof (issue 17): what proving that a private input satisfies its model's
rule costs the user, and what verifying it costs the chain.

Per tabular demo model (its rule from `zkai.models.rule.rule_for`, k = 2 shares of part 0):

- the circuit: constraints, the setup (its time when built in this run; a cached circuit says so
  and gives the time its build recorded, labelled);
- proving in Python (`prove_validity`, what the Python client calls; it verifies its own proof
  before returning): `repeats` timed calls after one warm-up call that is not counted;
- proving in snarkjs (`prove_validity_snarkjs`: `groth16.fullProve` under Node, as a browser
  does): the in-process fullProve seconds snarkjs reports and the wall time of the whole Node
  process, start-up included; every Node process is new, so no call is a warm-up;
- off-chain verification (`verify_validity`);
- on-chain gas: the generic `Groth16Verifier` of the circuit's key, deployed through the
  `VerifierFactory` (reused when the key is already deployed), and a `verifyProof` transaction
  of the measured snarkjs proof (intrinsic gas and calldata included), with the EIP-1108 formula
  of the same call for comparison.

Growth: synthetic "ranges" rules of 8, 16, 32 and 64 values (mask 10, every range [0, 16]): how
constraints and proving time grow with the input's length (snarkjs for the smallest and the
largest).

The language model (tiny-lm, `lm_case`, not in --quick) is measured like a tabular model: its
"tokens" rule proves one token round (the request's proof is of the prompt's first token), so
its cost does not grow with the prompt's length. How it grows with the usage policy's size:
`policy_growth` compiles the rule's circuit with 0, 16, 32 and 48 forbidden tokens (constraints
only: compiling, no setup).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.logs import DISCARD

from zkai.bench.circuits import verify_gas_floor_formula
from zkai.bench.common import JSONDict, Progress, SampleStats, ms, ratio, sample_input, stats_ms
from zkai.chain.client import ChainClient, load_abi
from zkai.circuits.validity import (
    PromptSalts,
    ValidityArtifacts,
    ValidityProof,
    load_validity_artifacts,
    prove_validity,
    prove_validity_snarkjs,
    validity_artifacts,
    validity_constraints,
    verify_validity,
)
from zkai.crypto.field import encode_signed_vector
from zkai.crypto.sharing import random_field_element, random_vector, split
from zkai.errors import BenchmarkError
from zkai.models.demo import load_demo_manifest
from zkai.models.manifest import Manifest
from zkai.models.rule import ValidityRule, rule_for
from zkai.protocol.prompt import first_round_salt

__all__ = [
    "GROWTH_SIZES",
    "LM_NOTE",
    "SHARES",
    "VERIFY_GAS_LIMIT",
    "CaseResult",
    "ChainTarget",
    "PolicyRow",
    "ValidityCase",
    "ValidityResult",
    "demo_case",
    "lm_case",
    "policy_growth",
    "synthetic_case",
    "validity_section",
]

SHARES = 2
GROWTH_SIZES = (8, 16, 32, 64)
GROWTH_MASK = 10
GROWTH_RANGE = (0, 16)
VERIFY_GAS_LIMIT = 1_000_000
POLICY_SIZES = (0, 16, 32, 48)
LM_NOTE = (
    "a language model's validity proof is of one token round: the request carries the proof of "
    "the prompt's first token (position 0), so its cost is the same for any prompt length; "
    "later prompt tokens and generated tokens are not proven (a proof per token round, checked "
    "by the nodes, is not built). A larger policy removes tokens from the one-hot, so the "
    "circuit shrinks as the policy grows. tiny-lm's vocabulary has 64 tokens, so issue 17's "
    "'100 forbidden tokens' has no case here"
)


@dataclass(frozen=True)
class Opening:
    """Round 1's opening for one node (the shape `prove_validity` takes)."""

    share: tuple[int, ...]
    mask: tuple[int, ...]
    salt: int


@dataclass(frozen=True)
class ValidityCase:
    """A rule and a quantised input that satisfies it."""

    name: str
    rule: ValidityRule
    x: tuple[int, ...]


def demo_case(name: str, shares: int = SHARES) -> ValidityCase:
    """A demo model's rule and its first test input, quantised."""
    manifest = load_demo_manifest(name)
    rule = rule_for(manifest, shares)
    return ValidityCase(name, rule, tuple(manifest.quantise_input(sample_input(name))))


def lm_case(manifest: Manifest, first: str, shares: int = SHARES) -> ValidityCase:
    """A language model's rule and round 1's input for a prompt starting with `first`."""
    spec = manifest.decoder
    if spec is None or first not in spec.vocab:
        raise BenchmarkError(f"{manifest.name} is not a decoder whose vocabulary has {first!r}")
    rule = rule_for(manifest, shares)
    token = spec.vocab.index(first)
    if token not in rule.tokens:
        raise BenchmarkError(f"{first!r} is forbidden by {manifest.name}'s usage policy")
    return ValidityCase(manifest.name, rule, rule.table[0][rule.tokens.index(token)])


@dataclass(frozen=True)
class PolicyRow:
    """A usage policy's size and its circuit's constraints."""

    forbidden: int
    allowed: int
    constraints: int

    def to_json(self) -> JSONDict:
        return {
            "forbidden_tokens": self.forbidden,
            "allowed_tokens": self.allowed,
            "constraints": self.constraints,
        }


def policy_growth(
    manifest: Manifest, sizes: Sequence[int] = POLICY_SIZES, shares: int = SHARES
) -> tuple[PolicyRow, ...]:
    """The constraints of the decoder's rule with the last n vocabulary tokens forbidden, for
    each n in `sizes` (compiled only)."""
    spec = manifest.decoder
    if spec is None:
        raise BenchmarkError(f"{manifest.name} is not a decoder: it has no usage policy")
    rows = []
    vocab = len(spec.vocab)
    for n in sizes:
        if not 0 <= n < vocab:
            raise BenchmarkError(f"a policy of {n} tokens does not fit a vocabulary of {vocab}")
        policy = replace(manifest, decoder=replace(spec, forbidden=tuple(range(vocab - n, vocab))))
        rule = rule_for(policy, shares)
        rows.append(PolicyRow(n, len(rule.tokens), validity_constraints(rule)))
    return tuple(rows)


def synthetic_case(
    input_size: int,
    mask_size: int = GROWTH_MASK,
    bounds: tuple[int, int] = GROWTH_RANGE,
    shares: int = SHARES,
) -> ValidityCase:
    """A ranges rule of `input_size` values, each in `bounds`, and an input inside it."""
    lo, hi = bounds
    rule = ValidityRule(
        model=f"synthetic-{input_size}",
        version=1,
        manifest_hash="0x00",
        shares=shares,
        block=0,
        input_size=input_size,
        mask_size=mask_size,
        kind="ranges",
        minimum=(lo,) * input_size,
        maximum=(hi,) * input_size,
    )
    rng = random.Random(input_size)
    return ValidityCase(rule.model, rule, tuple(rng.randint(lo, hi) for _ in range(input_size)))


def _deal(case: ValidityCase) -> tuple[list[int], list[Opening], PromptSalts | None]:
    """Fresh tags and round-1 openings of the case's input, as the client deals them (a
    language model's round-1 salts derive from a prompt digest: `first_round_salt`)."""
    rule = case.rule
    rule.check(case.x)
    shares = split(encode_signed_vector(case.x), rule.shares)
    rhos = [random_field_element() for _ in shares]
    digest = random_field_element()
    openings = [
        Opening(
            tuple(s),
            tuple(random_vector(rule.mask_size)),
            first_round_salt(digest, rho) if rule.kind == "tokens" else rho,
        )
        for s, rho in zip(shares, rhos, strict=True)
    ]
    prompt = (digest, rhos) if rule.kind == "tokens" else None
    return [random_field_element() for _ in range(rule.shares)], openings, prompt


@dataclass(frozen=True)
class ChainTarget:
    """Where the gas is measured: a chain with a `VerifierFactory`, and who sends."""

    chain: ChainClient
    sender: LocalAccount


@dataclass(frozen=True)
class VerifyGas:
    """A verifyProof transaction of a validity proof on the factory's verifier."""

    verifier: str
    deployed_now: bool
    deploy_gas: int | None
    verify_proof_gas: int
    calldata_bytes: int
    formula_gas: int

    def to_json(self) -> JSONDict:
        return {
            "verifier": self.verifier,
            "verifier_deployed_now": self.deployed_now,
            "verifier_deploy_gas": self.deploy_gas,
            "verify_proof_gas": self.verify_proof_gas,
            "verify_proof_calldata_bytes": self.calldata_bytes,
            "verify_proof_formula_gas": self.formula_gas,
            "verify_proof_over_formula": ratio(self.verify_proof_gas, self.formula_gas, 4),
        }


def _samples(stats: SampleStats | None, samples: Sequence[float]) -> JSONDict | None:
    if stats is None:
        return None
    return {
        "median": stats.median,
        "p90": stats.p90,
        "min": stats.min,
        "max": stats.max,
        "samples": [ms(s) for s in samples],
    }


@dataclass(frozen=True)
class CaseResult:
    """One rule's figures: times in ms (snarkjs also in s), gas in gas units."""

    name: str
    input_size: int
    mask_size: int
    shares: int
    public_inputs: int
    constraints: int
    ptau_power: int
    key_hash: str
    cached: bool
    setup_s: float
    python_prove_s: tuple[float, ...]
    verify_s: tuple[float, ...]
    snarkjs_fullprove_s: tuple[float, ...]
    snarkjs_wall_s: tuple[float, ...]
    verified: bool
    gas: VerifyGas | None = None

    def to_json(self) -> JSONDict:
        python = stats_ms(self.python_prove_s) if self.python_prove_s else None
        verify = stats_ms(self.verify_s) if self.verify_s else None
        full = self.snarkjs_fullprove_s
        wall = self.snarkjs_wall_s
        return {
            "input_size": self.input_size,
            "mask_size": self.mask_size,
            "shares": self.shares,
            "public_inputs": self.public_inputs,
            "constraints": self.constraints,
            "ptau_power": self.ptau_power,
            "key_hash": self.key_hash,
            "setup_cached": self.cached,
            # a cached circuit was built before this run: its recorded build time, labelled
            "setup_s": None if self.cached else self.setup_s,
            "setup_s_recorded_at_build": self.setup_s if self.cached else None,
            "python_prove_ms": _samples(python, self.python_prove_s),
            "python_prove_ms_median": None if python is None else python.median,
            "verify_offchain_ms": _samples(verify, self.verify_s),
            "verify_offchain_ms_median": None if verify is None else verify.median,
            "snarkjs_fullprove_s": [round(s, 4) for s in full],
            "snarkjs_fullprove_s_median": round(statistics.median(full), 4) if full else None,
            "snarkjs_wall_s": [round(s, 4) for s in wall],
            "snarkjs_wall_s_median": round(statistics.median(wall), 4) if wall else None,
            "proofs_verified": self.verified,
            "gas": None if self.gas is None else self.gas.to_json(),
        }


@dataclass(frozen=True)
class ValidityResult:
    """The document's `validity` section."""

    repeats: int
    snarkjs_repeats: int
    models: dict[str, CaseResult]
    growth: tuple[CaseResult, ...]
    errors: dict[str, str] = field(default_factory=dict)
    gas_note: str | None = None
    language_model: str | None = None
    """The name of the decoder case in `models`, if one was measured."""
    policy: tuple[PolicyRow, ...] = ()

    def _growth(self) -> JSONDict:
        rows = [
            {
                "input_size": r.input_size,
                "mask_size": r.mask_size,
                "constraints": r.constraints,
                "setup_cached": r.cached,
                "setup_s": None if r.cached else r.setup_s,
                "python_prove_ms_median": r.to_json()["python_prove_ms_median"],
                "snarkjs_fullprove_s_median": r.to_json()["snarkjs_fullprove_s_median"],
                "snarkjs_wall_s_median": r.to_json()["snarkjs_wall_s_median"],
                "proofs_verified": r.verified,
            }
            for r in self.growth
        ]
        slopes: JSONDict = {}
        if len(rows) >= 2:
            first, last = rows[0], rows[-1]
            span = last["input_size"] - first["input_size"]
            if span > 0:
                slopes = {
                    "constraints_per_input_value": round(
                        (last["constraints"] - first["constraints"]) / span, 2
                    ),
                    "python_prove_ms_per_input_value": round(
                        (last["python_prove_ms_median"] - first["python_prove_ms_median"]) / span,
                        3,
                    ),
                    "between_input_sizes": [first["input_size"], last["input_size"]],
                }
        return {
            "rule": f"ranges, every value in [{GROWTH_RANGE[0]}, {GROWTH_RANGE[1]}], "
            f"mask {GROWTH_MASK}, k = {SHARES}",
            "rows": rows,
            **slopes,
        }

    def to_json(self) -> JSONDict:
        return {
            "shares": SHARES,
            "repeats": self.repeats,
            "snarkjs_repeats": self.snarkjs_repeats,
            "timing_note": (
                f"python_prove: {self.repeats} timed prove_validity calls after one warm-up call "
                "(not counted); prove_validity verifies its own proof before returning. snarkjs: "
                "fullProve seconds as snarkjs reports them (in process) and the wall time of the "
                "Node process including its start-up; each call is a new process (none excluded)"
            ),
            "setup": "development single-party (DEVELOPMENT ONLY)",
            "models": {name: r.to_json() for name, r in self.models.items()},
            "growth": self._growth(),
            "language_model": {
                "model": self.language_model,
                "rule": None if self.language_model is None else "tokens",
                "measured": self.language_model in self.models,
                "policy_growth": [row.to_json() for row in self.policy],
                "note": LM_NOTE,
            },
            "gas_note": self.gas_note,
            "errors": dict(self.errors),
        }


def _verify_gas(
    target: ChainTarget, artifacts: ValidityArtifacts, proof: ValidityProof
) -> VerifyGas:
    """The factory's verifier of the key (deployed if new) and a verifyProof transaction."""
    chain, sender = target.chain, target.sender
    factory = chain.contract("VerifierFactory")
    existing = chain.call(factory.functions.verifierOf(artifacts.key_hash))
    deploy_gas: int | None = None
    if int(existing, 16) != 0:
        address = to_checksum_address(existing)
    else:
        receipt = chain.transact(sender, factory.functions.deploy(list(artifacts.vk_words())))
        logs = factory.events.VerifierDeployed().process_receipt(receipt, errors=DISCARD)
        if not logs:
            raise BenchmarkError("VerifierFactory.deploy logged no VerifierDeployed")
        address = to_checksum_address(logs[0]["args"]["verifier"])
        deploy_gas = int(receipt["gasUsed"])
    verifier = chain.w3.eth.contract(address=address, abi=load_abi("Groth16Verifier"))
    if bytes(chain.call(verifier.functions.vkHash())) != artifacts.key_hash:
        raise BenchmarkError("the factory's verifier has another key than the circuit's")
    fn = verifier.functions.verifyProof(list(proof.proof), list(proof.public_inputs))
    if not chain.call(fn):
        raise BenchmarkError("the validity verifier rejects the measured proof")
    # Explicit gas: a pairing precompile out of gas makes verifyProof return false, not revert.
    receipt = chain.transact(sender, fn, gas=VERIFY_GAS_LIMIT)
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    provider: Any = chain.w3.provider
    trace = provider.make_request("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
    output = str((trace.get("result") or {}).get("output", "0x"))
    if int(output, 16) != 1:
        raise BenchmarkError(f"verifyProof returned {output} in its transaction {tx_hash}")
    tx = chain.w3.eth.get_transaction(receipt["transactionHash"])
    return VerifyGas(
        verifier=address,
        deployed_now=deploy_gas is not None,
        deploy_gas=deploy_gas,
        verify_proof_gas=int(receipt["gasUsed"]),
        calldata_bytes=len(bytes(tx["input"])),
        formula_gas=verify_gas_floor_formula(len(proof.public_inputs)),
    )


def _measure(
    case: ValidityCase,
    *,
    repeats: int,
    snarkjs_repeats: int,
    target: ChainTarget | None,
    say: Progress,
) -> CaseResult:
    rule = case.rule
    cached = load_validity_artifacts(rule) is not None
    if not cached:
        say(f"validity {case.name}: building the circuit (development single-party setup)")
    artifacts = validity_artifacts(rule)
    say(
        f"validity {case.name}: {artifacts.constraints:,} constraints; {repeats} Python proofs"
        + (f", {snarkjs_repeats} snarkjs" if snarkjs_repeats else "")
    )
    proofs: list[ValidityProof] = []
    python_s: list[float] = []
    for i in range(repeats + 1):
        tags, openings, prompt = _deal(case)
        t0 = time.perf_counter()
        proof = prove_validity(artifacts, tags, openings, prompt=prompt)
        elapsed = time.perf_counter() - t0
        if i > 0:  # the first call is a warm-up (keys loaded, witness calculator started)
            python_s.append(elapsed)
        proofs.append(proof)
    verify_s: list[float] = []
    verified = True
    for proof in proofs[1:]:
        t0 = time.perf_counter()
        ok = verify_validity(artifacts, proof)
        verify_s.append(time.perf_counter() - t0)
        verified = verified and ok
    full_s: list[float] = []
    wall_s: list[float] = []
    browser: ValidityProof | None = None
    for _ in range(snarkjs_repeats):
        tags, openings, prompt = _deal(case)
        t0 = time.perf_counter()
        browser, seconds = prove_validity_snarkjs(artifacts, tags, openings, prompt)
        wall_s.append(time.perf_counter() - t0)
        full_s.append(seconds)
        verified = verified and verify_validity(artifacts, browser)
    if not verified:
        raise BenchmarkError(f"a measured validity proof of {case.name} does not verify")
    gas = None
    if target is not None:
        gas = _verify_gas(target, artifacts, browser or proofs[-1])
        say(f"validity {case.name}: verifyProof {gas.verify_proof_gas:,} gas")
    return CaseResult(
        name=case.name,
        input_size=rule.input_size,
        mask_size=rule.mask_size,
        shares=rule.shares,
        public_inputs=artifacts.n_public,
        constraints=artifacts.constraints,
        ptau_power=artifacts.ptau_power,
        key_hash="0x" + artifacts.key_hash.hex(),
        cached=cached,
        setup_s=artifacts.setup_seconds,
        python_prove_s=tuple(python_s),
        verify_s=tuple(verify_s),
        snarkjs_fullprove_s=tuple(full_s),
        snarkjs_wall_s=tuple(wall_s),
        verified=verified,
        gas=gas,
    )


def validity_section(
    models: Sequence[ValidityCase],
    growth: Sequence[ValidityCase],
    *,
    repeats: int,
    snarkjs_repeats: int,
    target: ChainTarget | None,
    say: Progress,
    growth_repeats: int | None = None,
    policy: Manifest | None = None,
    policy_sizes: Sequence[int] = POLICY_SIZES,
) -> ValidityResult:
    """Every model case in full (gas too when `target` is given), then the growth rows (Python
    proofs; snarkjs for the smallest and the largest input). A case that fails is recorded
    under the section's `errors` and the others still run."""
    if repeats < 1:
        raise BenchmarkError("the validity section needs at least one timed proof")
    errors: dict[str, str] = {}
    results: dict[str, CaseResult] = {}
    for case in models:
        try:
            results[case.name] = _measure(
                case,
                repeats=repeats,
                snarkjs_repeats=snarkjs_repeats,
                target=target,
                say=say,
            )
        except Exception as exc:  # recorded; the other cases still run
            errors[case.name] = f"{type(exc).__name__}: {exc}"[:2000]
            say(f"validity {case.name} FAILED: {errors[case.name]}")
    rows: list[CaseResult] = []
    ordered = sorted(growth, key=lambda c: c.rule.input_size)
    ends = {id(ordered[0]), id(ordered[-1])} if ordered else set()
    for case in ordered:
        try:
            rows.append(
                _measure(
                    case,
                    repeats=growth_repeats or repeats,
                    snarkjs_repeats=max(1, snarkjs_repeats) if id(case) in ends else 0,
                    target=None,
                    say=say,
                )
            )
        except Exception as exc:  # recorded; the other rows still run
            errors[f"growth {case.name}"] = f"{type(exc).__name__}: {exc}"[:2000]
            say(f"validity growth {case.name} FAILED: {errors[f'growth {case.name}']}")
    policy_rows: tuple[PolicyRow, ...] = ()
    if policy is not None:
        say(f"validity {policy.name}: constraints under usage policies of {policy_sizes} tokens")
        try:
            policy_rows = policy_growth(policy, policy_sizes)
        except Exception as exc:  # recorded; the rest stands
            errors["policy growth"] = f"{type(exc).__name__}: {exc}"[:2000]
    if not results and not rows:
        raise BenchmarkError("; ".join(f"{k}: {v}" for k, v in errors.items()) or "no cases")
    return ValidityResult(
        repeats=repeats,
        snarkjs_repeats=snarkjs_repeats,
        models=results,
        growth=tuple(rows),
        errors=errors,
        gas_note=None
        if target is not None
        else "no chain (the gas section was skipped or its chain did not start): no gas",
        language_model=next(
            (c.name for c in models if c.rule.kind == "tokens"),
            None if policy is None else policy.name,
        ),
        policy=policy_rows,
    )
