"""The user's validity proof in a query: the version's registered key, checked before paying, and
the proof of part 0's round 1 that goes with the request (PROTOCOL.md, "User validity proof")."""

from __future__ import annotations

from collections.abc import Sequence

from zkai.circuits.validity import ValidityArtifacts, load_validity_artifacts, prove_validity
from zkai.client.session import PreparedRound, QuerySession
from zkai.config import get_settings
from zkai.errors import ProofError, QueryError
from zkai.models.manifest import Manifest
from zkai.models.rule import rule_for
from zkai.protocol.market import ModelTerms
from zkai.registration import validity_mismatch

__all__ = ["validity_keys", "validity_proof"]


def validity_keys(manifest: Manifest, terms: ModelTerms) -> ValidityArtifacts | None:
    """The registered validity circuit of the version (None if it has no input rule), checked
    before paying: the registered rule and circuit are the ones the manifest gives
    (`validity_mismatch`), and this machine holds the key whose hash the registry records."""
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
    try:
        return list(prove_validity(artifacts, tags, openings).proof)
    except ProofError as exc:
        raise QueryError(f"{exc}; nothing was paid") from exc
