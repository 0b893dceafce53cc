"""Validity circuits: build with snarkjs-compatible keys, prove in Python or in snarkjs, verify.

    artifacts = validity_artifacts(rule)                  # built once, cached by content hash
    proof = prove_validity(artifacts, tags, openings)     # the user's client (Python); a
                                                          # language model's round 1 also takes
                                                          # prompt=(D, rhos), its salts' inputs
    proof = prove_validity_snarkjs(artifacts, tags, openings)   # the same proof as a browser
                                                          # makes it (snarkjs under Node)
    proof.proof           # 8 words, Groth16Verifier.verifyProof's order
    proof.public_inputs   # (ruleHash, tag_0, c_0, ..., tag_{k-1}, c_{k-1}): what requestQuery
                          # builds itself
    verify_validity(artifacts, proof)

The user's side must run in a browser, so the key is a snarkjs `.zkey` and the witness calculator
the circom compiler's own wasm (circom2, circom compiled to WebAssembly, from npm), and both the
Python client and snarkjs prove with them: the Python client imports the `.zkey` into groth16py
(`import_zkey`) and proves on the circuit's wasm witness (`prove_wtns`), snarkjs runs
`groth16.fullProve(input, circuit.wasm, circuit.zkey)`. The verifier words come from the `.zkey`'s
verification key. A build directory (`<artifacts_path>/validity-<key>/`):

    circuit.circom          the generated source (zkai.circuits.validity_source)
    rule.json               the rule it was generated from
    circuit.r1cs            circom2's constraint system
    circuit.wasm            circom2's witness calculator (what a browser downloads)
    circuit.zkey            snarkjs Groth16 key (what a browser downloads)
    proving_key.bin         the same key imported into groth16py
    verification_key.json   snarkjs format; its words go to VerifierFactory
    artifacts.json          metadata: constraints, setup time and kind, hashes, ptau power

Setup: the phase-1 powers of tau (`<artifacts_path>/ptau/dev-bn128-<power>.ptau`, shared by all
circuits of that size) and the phase-2 contribution are made here with fresh randomness by one
party: DEVELOPMENT ONLY (whoever ran it could forge validity proofs, PROTOCOL.md "Keys and
verifiers"). A production key takes the same `.zkey` path from a multi-party ceremony.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import groth16py

from zkai.config import get_settings
from zkai.crypto.field import BN254_R, decode_signed_vector, is_field_element
from zkai.crypto.transcript import round_commitment
from zkai.errors import (
    CircuitBuildError,
    InputRangeError,
    InvalidInputError,
    ProofError,
)
from zkai.models.rule import ValidityRule
from zkai.toolchain import REPO_ROOT

from .artifacts import BuiltCircuit, SetupKind
from .build import build_atomically
from .prove import proof_from_snarkjs, proof_words, prove_inputs, verify_words
from .snarkjs_cli import (
    compile_circom,
    dev_ptau,
    node_binary,
    ptau_power,
    snarkjs,
    tool_versions,
)
from .statement import Opening
from .validity_check import record_made_here
from .validity_source import public_input_names, validity_source

__all__ = [
    "PromptSalts",
    "ValidityArtifacts",
    "ValidityProof",
    "prove_validity",
    "prove_validity_snarkjs",
    "proven_round",
    "validity_artifacts",
    "validity_constraints",
    "validity_inputs",
    "validity_public_inputs",
    "verify_validity",
]

log = logging.getLogger(__name__)

_SNARKJS_PROVE = Path(__file__).resolve().parent / "snarkjs_prove.js"


@dataclass(frozen=True)
class ValidityProof:
    """A validity proof and its public inputs (ruleHash, tag_0, c_0, ...)."""

    proof: tuple[int, ...]
    public_inputs: tuple[int, ...]

    @property
    def rule_hash(self) -> int:
        return self.public_inputs[0]

    @property
    def commitments(self) -> tuple[int, ...]:
        return self.public_inputs[2::2]


@dataclass(frozen=True)
class ValidityArtifacts(BuiltCircuit):
    """A built validity circuit (see the module docstring). Keys load lazily."""

    directory: Path
    key: str
    rule: ValidityRule
    constraints: int
    setup_seconds: float
    setup_kind: SetupKind
    ptau_power: int

    @property
    def n_public(self) -> int:
        return 1 + 2 * self.rule.shares

    @property
    def wasm_path(self) -> Path:
        return self.directory / "circuit.wasm"

    @property
    def zkey_path(self) -> Path:
        return self.directory / "circuit.zkey"


# ------------------------------------------------------------------ statement


def proven_round(rule: ValidityRule, position: int) -> int:
    """The round whose commitments a proof of `position` opens: 1 for position 0, and for a
    tokens rule the round of the prompt's token at `position` (round_stride * position + 1)."""
    if position == 0:
        return 1
    if rule.kind != "tokens" or not 0 < position < rule.positions:
        raise ProofError(
            f"the validity rule of {rule.model} v{rule.version} proves no position {position}"
        )
    return rule.round_stride * position + 1


def validity_public_inputs(
    rule: ValidityRule, tags: Sequence[int], openings: Sequence[Opening], position: int = 0
) -> tuple[int, ...]:
    """(ruleHash, tag_0, c_0, ...) of part 0's round 1 (or of a prompt's token at `position`)
    dealt with these openings."""
    _check_statement(rule, tags, openings)
    i = proven_round(rule, position)
    public = [rule.hash]
    for tag, opening in zip(tags, openings, strict=True):
        commitment = round_commitment(tag, i, rule.block, opening.share, opening.mask, opening.salt)
        public += [tag, commitment]
    return tuple(public)


PromptSalts = tuple[int, Sequence[int]]
"""(D, (rho_0, ..., rho_{k-1})): round 1's salts of a language model are Poseidon(D, rho_a)."""


def validity_inputs(
    rule: ValidityRule,
    public: Sequence[int],
    openings: Sequence[Opening],
    position: int = 0,
    prompt: PromptSalts | None = None,
) -> dict[str, Any]:
    """The circuit's input signals (for a tokens rule, the one-hots of the position, 0 for
    round 1, and of the token whose embedding the shares reconstruct, and round 1's `prompt`
    salts; a later position's salts are free and these inputs unused)."""
    inputs: dict[str, Any] = dict(zip(public_input_names(rule.shares), public, strict=True))
    for a, opening in enumerate(openings):
        inputs[f"share{a}"] = list(opening.share)
        inputs[f"mask{a}"] = list(opening.mask)
        inputs[f"salt{a}"] = opening.salt
    if rule.kind == "tokens":
        total = [sum(column) % BN254_R for column in zip(*(o.share for o in openings), strict=True)]
        try:
            u = rule.locate(decode_signed_vector(total), position)
        except (InputRangeError, InvalidInputError) as exc:
            raise ProofError(
                f"the input does not satisfy the validity rule of {rule.model} "
                f"v{rule.version}: {exc}"
            ) from exc
        inputs["position"] = [int(t == position) for t in range(rule.positions)]
        inputs["token"] = [int(x == u) for x in range(len(rule.tokens))]
        digest, rhos = prompt if prompt is not None else (0, [0] * rule.shares)
        if len(rhos) != rule.shares:
            raise ProofError(f"round 1's salts need {rule.shares} rho values, got {len(rhos)}")
        inputs["digest"] = digest
        for a, rho in enumerate(rhos):
            inputs[f"rho{a}"] = rho
    return inputs


def _check_statement(rule: ValidityRule, tags: Sequence[int], openings: Sequence[Opening]) -> None:
    if len(tags) != rule.shares or len(openings) != rule.shares:
        raise ProofError(
            f"the rule covers {rule.shares} shares of part 0, got {len(tags)} tags and "
            f"{len(openings)} openings"
        )
    for a, opening in enumerate(openings):
        if len(opening.share) != rule.input_size or len(opening.mask) != rule.mask_size:
            raise ProofError(
                f"share {a}: round 1 takes a {rule.input_size}-value share and a "
                f"{rule.mask_size}-value mask, got {len(opening.share)} and {len(opening.mask)}"
            )
        values = (tags[a], *opening.share, *opening.mask, opening.salt)
        if not all(is_field_element(v) for v in values):
            raise ProofError(f"share {a}: a value is not a field element in [0, r)")


# ------------------------------------------------------------------ build


def _root(artifacts_root: Path | None) -> Path:
    return artifacts_root if artifacts_root is not None else get_settings().artifacts_path


def _key(source: str, setup_kind: SetupKind) -> str:
    digest = hashlib.sha256()
    for item in (source.encode(), tool_versions(), setup_kind.encode()):
        digest.update(len(item).to_bytes(8, "big") + item)
    return digest.hexdigest()


def _read(directory: Path, rule: ValidityRule) -> ValidityArtifacts:
    meta = json.loads((directory / "artifacts.json").read_text())
    return ValidityArtifacts(
        directory=directory,
        key=meta["key"],
        rule=rule,
        constraints=int(meta["constraints"]),
        setup_seconds=float(meta["setup_seconds"]),
        setup_kind=meta["setup"],
        ptau_power=int(meta["ptau_power"]),
    )


def load_validity_artifacts(
    rule: ValidityRule, *, artifacts_root: Path | None = None
) -> ValidityArtifacts | None:
    """The cached artifacts of the rule's circuit, or None if never built."""
    directory = (
        _root(artifacts_root)
        / f"validity-{_key(validity_source(rule), 'development-single-party')}"
    )
    if not (directory / "artifacts.json").exists():
        return None
    return _read(directory, rule)


def validity_artifacts(
    rule: ValidityRule, *, artifacts_root: Path | None = None
) -> ValidityArtifacts:
    """Build (or load from the cache) the rule's validity circuit with a single-party setup:
    DEVELOPMENT ONLY. Safe across processes (a lock per circuit, built in a staging directory
    renamed into place)."""
    root = _root(artifacts_root)
    source = validity_source(rule)
    key = _key(source, "development-single-party")
    final = build_atomically(
        root, f"validity-{key}", lambda staging: _build_into(staging, rule, source, key, root)
    )
    return _read(final, rule)


def _compile(directory: Path, rule: ValidityRule, source: str) -> int:
    return compile_circom(directory, source, f"compiling the validity circuit of {rule.model}")


def validity_constraints(rule: ValidityRule) -> int:
    """The rule's circuit's constraint count, compiled only (no setup, nothing cached)."""
    with tempfile.TemporaryDirectory(prefix="zkai-validity-count-") as tmp:
        return _compile(Path(tmp), rule, validity_source(rule))


def _build_into(directory: Path, rule: ValidityRule, source: str, key: str, root: Path) -> None:
    log.warning(
        "single-party Groth16 setup of the validity circuit of %s v%d: DEVELOPMENT ONLY, the "
        "key is forgeable by whoever ran it",
        rule.model,
        rule.version,
    )
    started = time.perf_counter()
    (directory / "rule.json").write_text(json.dumps(rule.to_dict(), indent=1))
    constraints = _compile(directory, rule, source)
    os.rename(directory / "circuit_js" / "circuit.wasm", directory / "circuit.wasm")
    shutil.rmtree(directory / "circuit_js")
    power = ptau_power(constraints, 1 + 2 * rule.shares)
    ptau = dev_ptau(power, root)
    snarkjs(["groth16", "setup", "circuit.r1cs", str(ptau), "c0.zkey"], directory, "groth16 setup")
    snarkjs(
        ["zkey", "contribute", "c0.zkey", "circuit.zkey"],
        directory,
        "phase-2 contribution",
        entropy=secrets.token_hex(32),
    )
    (directory / "c0.zkey").unlink()
    snarkjs(
        ["zkey", "export", "verificationkey", "circuit.zkey", "verification_key.json"],
        directory,
        "verification key export",
    )
    try:
        pk, _vk = groth16py.import_zkey(str(directory / "circuit.zkey"))
    except (groth16py.SetupError, OSError, ValueError) as exc:
        raise CircuitBuildError(f"groth16py could not import the validity key: {exc}") from exc
    pk.save(str(directory / "proving_key.bin"))
    vk = json.loads((directory / "verification_key.json").read_text())
    if int(vk["nPublic"]) != 1 + 2 * rule.shares:
        raise CircuitBuildError(f"validity circuit has {vk['nPublic']} public inputs")
    meta: dict[str, Any] = {
        "key": key,
        "model": rule.model,
        "model_version": rule.version,
        "rule_hash": str(rule.hash),
        "shares": rule.shares,
        "public_inputs": public_input_names(rule.shares),
        "setup": "development-single-party",
        "development_only": True,
        "warning": (
            "single-party setup (powers of tau and phase 2 made here): DEVELOPMENT ONLY; whoever "
            "ran it can forge validity proofs. Production keys come from a ceremony."
        ),
        "constraints": constraints,
        "ptau_power": power,
        "ptau": ptau.name,
        "setup_seconds": round(time.perf_counter() - started, 3),
    }
    (directory / "artifacts.json").write_text(json.dumps(meta, indent=1))
    artifacts = _read(directory, rule)
    meta["circuit_hash"] = "0x" + artifacts.circuit_hash.hex()
    meta["key_hash"] = "0x" + artifacts.key_hash.hex()
    (directory / "artifacts.json").write_text(json.dumps(meta, indent=1))
    record_made_here(directory, source, ptau)


# ------------------------------------------------------------------ prove and verify


def _require_rule(artifacts: ValidityArtifacts, rule: ValidityRule) -> None:
    if artifacts.rule.hash != rule.hash:
        raise ProofError("these validity artifacts are for another rule")


def prove_validity(
    artifacts: ValidityArtifacts,
    tags: Sequence[int],
    openings: Sequence[Opening],
    position: int = 0,
    prompt: PromptSalts | None = None,
) -> ValidityProof:
    """The user's validity proof for round 1 of part 0 dealt with `openings` to the nodes
    with these tags (in the request's node order), or for a prompt's token at `position`
    (`proven_round`); a language model's round 1 needs its `prompt` salts. `ProofError` if
    the input the shares reconstruct breaks the rule (the circuit's witness calculator refuses
    it) or the proof does not verify."""
    rule = artifacts.rule
    public = validity_public_inputs(rule, tags, openings, position)
    inputs = validity_inputs(rule, public, openings, position, prompt)
    try:
        words = proof_words(prove_inputs(artifacts, inputs, witness="node"))
    except ProofError as exc:
        raise ProofError(
            f"the input does not satisfy the validity rule of {rule.model} v{rule.version}: {exc}"
        ) from exc
    proof = ValidityProof(words, public)
    if not verify_validity(artifacts, proof):
        raise ProofError("the validity proof does not verify: the witness breaks the circuit")
    return proof


def prove_validity_snarkjs(
    artifacts: ValidityArtifacts,
    tags: Sequence[int],
    openings: Sequence[Opening],
    prompt: PromptSalts | None = None,
) -> tuple[ValidityProof, float]:
    """The same proof made by snarkjs (`groth16.fullProve` with the circuit's wasm and zkey,
    as a browser makes it) under Node; returns the proof and snarkjs's own proving time (s)."""
    rule = artifacts.rule
    public = validity_public_inputs(rule, tags, openings)
    inputs = validity_inputs(rule, public, openings, 0, prompt)
    with tempfile.TemporaryDirectory(prefix="zkai-snarkjs-") as tmp:
        request = Path(tmp) / "input.json"
        request.write_text(json.dumps(_strings(inputs)))
        env = {**os.environ, "ZKAI_NODE_MODULES": str(REPO_ROOT / "node_modules")}
        try:
            done = subprocess.run(
                [
                    node_binary(),
                    str(_SNARKJS_PROVE),
                    str(artifacts.wasm_path),
                    str(artifacts.zkey_path),
                    str(request),
                ],
                capture_output=True,
                text=True,
                timeout=600,
                env=env,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ProofError(f"snarkjs failed: {exc}") from exc
        if done.returncode != 0:
            raise ProofError(f"snarkjs refused the input: {done.stderr.strip()[-1000:]}")
        reply = json.loads(done.stdout)
    if [int(v) for v in reply["publicSignals"]] != list(public):
        raise ProofError("snarkjs computed other public signals than the statement")
    return ValidityProof(proof_from_snarkjs(reply["proof"]), public), float(reply["seconds"])


def verify_validity(artifacts: ValidityArtifacts, proof: ValidityProof) -> bool:
    """Off-chain verification (False for a wrong proof or public inputs)."""
    return verify_words(artifacts, proof.proof, proof.public_inputs)


def _strings(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    return str(value)
