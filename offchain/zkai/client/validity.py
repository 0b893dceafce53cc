"""The user's validity proof in a query: the version's registered key, checked before paying, and
the proof of part 0's round 1 that goes with the request (PROTOCOL.md, "User validity proof"),
and for a language model the prompt's later tokens, dealt and proven before paying
(`zkai.protocol.prompt`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from zkai.circuits.validity import ValidityArtifacts, load_validity_artifacts, prove_validity
from zkai.circuits.validity_check import check_validity_key
from zkai.circuits.validity_source import validity_source
from zkai.client.session import PreparedRound, QuerySession
from zkai.config import get_settings
from zkai.crypto.field import encode_signed_vector
from zkai.errors import KeyCheckError, ProofError, QueryError
from zkai.models.manifest import Manifest
from zkai.models.rule import rule_for
from zkai.protocol.market import ModelTerms
from zkai.protocol.prompt import prompt_round
from zkai.registration import validity_mismatch

__all__ = ["prove_prompt", "validity_keys", "validity_proof"]


def validity_keys(
    manifest: Manifest,
    terms: ModelTerms,
    on_progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> ValidityArtifacts | None:
    """The registered validity circuit of the version (None if it has no input rule), checked
    before paying: the registered rule and circuit are the ones the manifest gives
    (`validity_mismatch`), this machine holds the key whose hash the registry records, and the
    key is well formed for the manifest's circuit and the published powers of tau
    (`check_validity_key`, once per key: event "checking_validity_key")."""
    where = f"model {terms.model_id} v{terms.version}"
    mismatch = validity_mismatch(manifest, terms)
    if mismatch is not None:
        raise QueryError(
            f"{where}: {mismatch}; the rule would not be enforced or requests would be "
            "refused, so nothing is paid"
        )
    if not terms.validity.required:
        return None
    artifacts = load_validity_artifacts(rule_for(manifest, terms.parts[0].shares))
    if (
        artifacts is None
        or artifacts.key_hash != terms.validity.key_hash
        or artifacts.circuit_hash != terms.validity.circuit_hash
    ):
        raise QueryError(
            f"{where} needs a validity proof, and its registered key "
            f"(0x{terms.validity.key_hash.hex()}) is not in {get_settings().artifacts_path}: "
            "copy the model owner's validity-<key> directory there (zkai up builds it)"
        )
    if on_progress is not None:
        on_progress("checking_validity_key", {"constraints": artifacts.constraints})
    try:
        check_validity_key(artifacts.directory, validity_source(artifacts.rule), artifacts.n_public)
    except KeyCheckError as exc:
        raise QueryError(f"{where}: {exc}; nothing was paid") from exc
    return artifacts


def validity_proof(
    artifacts: ValidityArtifacts,
    nodes: Sequence[str],
    session: QuerySession,
    first: Sequence[PreparedRound],
) -> list[int]:
    """The proof words for part 0's round 1 dealt as `first` to `nodes` (the request's order):
    the shares open the commitments the request carries and sum to an input the rule allows."""
    by_node = {p.node: p for p in first}
    states = [session.assignment(0, node) for node in nodes]
    tags = [s.tag for s in states]
    openings = [by_node[s.node].opening for s in states]
    prompt = session.prompt
    salts = None if prompt is None else (prompt.digest, [prompt.rhos[s.node] for s in states])
    try:
        return list(prove_validity(artifacts, tags, openings, prompt=salts).proof)
    except ProofError as exc:
        raise QueryError(f"{exc}; nothing was paid") from exc


def prove_prompt(
    artifacts: ValidityArtifacts,
    session: QuerySession,
    manifest: Manifest,
    tokens: Sequence[int],
    on_progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> None:
    """Deal part 0's rounds of the prompt's tokens 1..L-1 into `session` (their commitments
    become round 1's salt) and prove each of them valid at its position, before anything is
    paid. `QueryError` if a token is not one the rule allows."""
    rule = artifacts.rule
    allowed = {u: j for j, u in enumerate(rule.tokens)}
    if len(tokens) > rule.positions:
        raise QueryError(f"the prompt has {len(tokens)} tokens, the context {rule.positions}")
    refused = [t for t in tokens if t not in allowed]
    if refused:
        raise QueryError(
            f"token {refused[0]} is forbidden by the usage policy of {rule.model} "
            f"v{rule.version}; nothing was paid"
        )
    block = manifest.block(rule.block)
    dealing = session.deal_prompt(
        rule.block,
        rule.round_stride,
        [encode_signed_vector(rule.table[t][allowed[x]]) for t, x in enumerate(tokens) if t > 0],
        block.output_size,
    )
    states = [session.assignment(0, node) for node in session.nodes_of(0)]
    tags = [s.tag for s in states]
    for t in range(1, len(tokens)):
        if on_progress is not None:
            on_progress(
                "proving_prompt",
                {"token": t + 1, "of": len(tokens), "constraints": artifacts.constraints},
            )
        i = prompt_round(rule.round_stride, t)
        openings = [dealing.opening(s.node, i) for s in states]
        try:
            words = prove_validity(artifacts, tags, openings, position=t).proof
        except ProofError as exc:
            raise QueryError(f"prompt token {t + 1}: {exc}; nothing was paid") from exc
        dealing.proofs[i] = tuple(words)
