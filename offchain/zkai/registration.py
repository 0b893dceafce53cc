"""Putting a model version on-chain: one factory verifier per part, and its ModelRegistry entry.

For every part of a manifest, `register_model` / `publish_version` build (or load from the cache)
the part's circuit and keys (`zkai.circuits.part`), have the `VerifierFactory` deploy the one
generic Groth16 verifier with that verification key (idempotent per key: an identical key reuses
the verifier), and record the part's terms: verifier, price per round, R_max (the circuit's slot
count), the minimum proof window, k and the circuit and key hashes that nodes and users check.
The registry accepts only factory verifiers, so no model owner can point a part at arbitrary code.
Every version also gets its input rule (`zkai.models.rule`: feature ranges for a tabular model,
allowed tokens within the context for a language model): the validity circuit's factory
verifier, the rule hash and the circuit and key hashes (`ValidityTerms`), which the market uses to
verify every request's validity proof before anything is escrowed.

Keys default to the single-party development setup; these functions know nothing about the
command line: `zkai up`, the training key holder and the CLI call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address
from web3.logs import DISCARD
from web3.types import TxReceipt

from zkai.chain.client import ChainClient
from zkai.circuits.artifacts import PartArtifacts
from zkai.circuits.part import part_artifacts
from zkai.circuits.validity import ValidityArtifacts, validity_artifacts
from zkai.circuits.validity_source import validity_source
from zkai.errors import ChainError, ModelFormatError
from zkai.models.manifest import Manifest
from zkai.models.rule import rule_for
from zkai.protocol.market import ModelTerms, PartTerms, ValidityTerms

__all__ = [
    "DEFAULT_MIN_PROOF_WINDOW_S",
    "PartPricing",
    "deploy_part_verifier",
    "part_terms",
    "publish_version",
    "register_model",
    "validity_mismatch",
    "validity_terms",
    "verifier_matches",
]

# Seconds a node needs at least to prove a part after the last round (registered per part, never
# below the market's floor). Generous against measured prove times of a second or less.
DEFAULT_MIN_PROOF_WINDOW_S = 60


@dataclass(frozen=True)
class PartPricing:
    """What a model owner chooses for a part: the price of one round and k."""

    price: int
    shares: int
    min_proof_window: int = DEFAULT_MIN_PROOF_WINDOW_S


def deploy_part_verifier(
    chain: ChainClient, owner: LocalAccount, artifacts: PartArtifacts | ValidityArtifacts
) -> str:
    """The factory's verifier for `artifacts`' key (deployed now unless it exists)."""
    factory = chain.contract("VerifierFactory")
    # The factory names a key by keccak256 of its packed words: the artifacts' key hash.
    existing = chain.call(factory.functions.verifierOf(artifacts.key_hash))
    if int(existing, 16) != 0:
        return to_checksum_address(existing)
    receipt = chain.transact(owner, factory.functions.deploy(list(artifacts.vk_words())))
    logs = factory.events.VerifierDeployed().process_receipt(receipt, errors=DISCARD)
    if not logs:
        raise ChainError("VerifierFactory.deploy logged no VerifierDeployed")
    return to_checksum_address(logs[0]["args"]["verifier"])


def verifier_matches(
    chain: ChainClient, verifier: str, artifacts: PartArtifacts | ValidityArtifacts
) -> bool:
    """Is `verifier` a factory verifier for exactly `artifacts`' key? (what nodes and users
    check)"""
    factory = chain.contract("VerifierFactory")
    if not chain.call(factory.functions.isVerifier(verifier)):
        return False
    return bool(
        to_checksum_address(chain.call(factory.functions.verifierOf(artifacts.key_hash)))
        == to_checksum_address(verifier)
    )


def part_terms(
    chain: ChainClient,
    owner: LocalAccount,
    manifest: Manifest,
    pricing: Sequence[PartPricing],
) -> list[PartTerms]:
    if len(pricing) != len(manifest.parts):
        raise ChainError(
            f"model {manifest.name!r} has {len(manifest.parts)} parts, {len(pricing)} prices given"
        )
    terms = []
    for p, price in enumerate(pricing):
        artifacts = part_artifacts(manifest, p)
        part = manifest.parts[p]
        # The manifest's largest budget (zkai-model/2 "max_budget", default max_rounds): above
        # R_max, assignments are claimed in chunks of at most R_max rounds.
        max_budget = int(getattr(part, "max_budget", part.max_rounds))
        terms.append(
            PartTerms(
                verifier=deploy_part_verifier(chain, owner, artifacts),
                price=price.price,
                max_rounds=artifacts.rounds,
                max_budget=max_budget,
                min_proof_window=price.min_proof_window,
                shares=price.shares,
                circuit_hash=artifacts.circuit_hash,
                key_hash=artifacts.key_hash,
            )
        )
    return terms


def validity_terms(
    chain: ChainClient,
    owner: LocalAccount,
    manifest: Manifest,
    pricing: Sequence[PartPricing],
) -> ValidityTerms:
    """The version's input rule on-chain: its validity circuit built (cached by content hash),
    its verifier deployed by the factory."""
    artifacts = validity_artifacts(rule_for(manifest, pricing[0].shares))
    return ValidityTerms(
        verifier=deploy_part_verifier(chain, owner, artifacts),
        rule_hash=artifacts.rule.hash,
        circuit_hash=artifacts.circuit_hash,
        key_hash=artifacts.key_hash,
    )


def validity_mismatch(manifest: Manifest, terms: ModelTerms) -> str | None:
    """Why a version's registered input rule is not its manifest's, or None (also None for a
    version without a rule, unless its manifest sets a usage policy). The registry ties the
    rule and circuit hashes to nothing; users and nodes derive the rule from the manifest and
    require the registered circuit to be that rule's own generated source, so an owner cannot
    register a circuit that checks less."""
    if not terms.validity.required:
        if manifest.decoder is not None and manifest.decoder.forbidden:
            # the manifest's policy would be shown but never proven
            return (
                "its manifest sets a usage policy (forbidden tokens) but the version registers "
                "no input rule, so nothing enforces it"
            )
        return None
    try:
        rule = rule_for(manifest, terms.parts[0].shares)
    except ModelFormatError as exc:
        return f"it registered an input rule, but its manifest gives none: {exc}"
    if rule.hash != terms.validity.rule_hash:
        return (
            f"its registered rule hash {terms.validity.rule_hash} is not its manifest's rule "
            f"{rule.hash}"
        )
    if bytes(keccak(validity_source(rule).encode())) != terms.validity.circuit_hash:
        return "its registered validity circuit is not the one its manifest's rule gives"
    return None


def _event_arg(chain: ChainClient, receipt: TxReceipt, event: str, arg: str) -> int:
    contract_event = getattr(chain.contract("ModelRegistry").events, event)()
    logs = contract_event.process_receipt(receipt, errors=DISCARD)
    if not logs:
        raise ChainError(f"ModelRegistry emitted no {event} in {receipt['transactionHash'].hex()}")
    return int(logs[0]["args"][arg])


def register_model(
    chain: ChainClient,
    owner: LocalAccount,
    manifest: Manifest,
    pricing: Sequence[PartPricing],
    *,
    metadata_uri: str = "",
    validity: bool = True,
) -> tuple[int, int]:
    """Register `manifest` as a new model owned by `owner`; returns (model id, version 1).
    `validity=False` registers it without an input rule."""
    terms = part_terms(chain, owner, manifest, pricing)
    rule = validity_terms(chain, owner, manifest, pricing) if validity else ValidityTerms.NONE
    registry = chain.contract("ModelRegistry")
    receipt = chain.transact(
        owner,
        registry.functions.registerModel(
            manifest.hash,
            metadata_uri or manifest.name,
            [t.as_tuple() for t in terms],
            rule.as_tuple(),
        ),
    )
    model_id = _event_arg(chain, receipt, "ModelRegistered", "modelId")
    version = _event_arg(chain, receipt, "ModelVersionPublished", "version")
    return model_id, version


def publish_version(
    chain: ChainClient,
    owner: LocalAccount,
    model_id: int,
    manifest: Manifest,
    pricing: Sequence[PartPricing],
    *,
    validity: bool = True,
) -> int:
    """Publish `manifest` as the new current version of `model_id`; returns the version.
    `validity=False` publishes it without an input rule."""
    terms = part_terms(chain, owner, manifest, pricing)
    rule = validity_terms(chain, owner, manifest, pricing) if validity else ValidityTerms.NONE
    registry = chain.contract("ModelRegistry")
    receipt = chain.transact(
        owner,
        registry.functions.publishVersion(
            model_id, manifest.hash, [t.as_tuple() for t in terms], rule.as_tuple()
        ),
    )
    return _event_arg(chain, receipt, "ModelVersionPublished", "version")
