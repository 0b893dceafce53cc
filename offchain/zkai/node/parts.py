"""The model parts a node can serve: a version's manifest (by the hash the chain records) and the
part's circuit artifacts, checked against the terms the chain records for that part.

A part is servable when the manifest of (model, version) is in the node's manifest store (or
fetched from the API and checked against its hash, `zkai.models.store.resolve_manifest`), the
part exists in it, and the part circuit built from it has the circuit and key hashes that the
ModelRegistry records (else the node would acknowledge rounds it cannot prove: "part-not-served").
Loaded parts are cached per process; building a part circuit is cached on disk by content hash.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from zkai.circuits.artifacts import PartArtifacts
from zkai.circuits.part import part_artifacts
from zkai.errors import NodeError, ZKAIError
from zkai.models.manifest import Manifest
from zkai.models.store import ManifestStore
from zkai.node.chainview import ChainView
from zkai.protocol.market import PartTerms
from zkai.registration import validity_mismatch, verifier_matches

__all__ = ["PartUnavailableError", "ServedPart", "ServedParts"]


class PartUnavailableError(NodeError):
    """The node cannot serve this part (no manifest, no such part, keys not the chain's)."""


@dataclass(frozen=True)
class ServedPart:
    model_id: int
    version: int
    part: int
    manifest: Manifest
    artifacts: PartArtifacts
    terms: PartTerms
    # Why the registry's R_max/max_budget are not the manifest's, or None. Such a part takes no
    # new assignment (RoundService refuses its round 1), but it is still loaded, so rounds an
    # older node version acked can be proven and claimed.
    limits_mismatch: str | None = None

    def block_of_round(self, i: int) -> int:
        return self.manifest.part(self.part).block_for_round(i)

    def block_sizes(self, block: int) -> tuple[int, int]:
        """(share length n, mask length m) of a linear block."""
        linear = self.manifest.block(block)
        return linear.input_size, linear.output_size

    def apply(self, block: int, share: tuple[int, ...], mask: tuple[int, ...]) -> list[int]:
        """out = W s + m (mod r), no bias: what the part circuit proves."""
        return [int(v) for v in self.manifest.block(block).apply(list(share), list(mask))]


def _hash_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return value.to_bytes(32, "big")
    return bytes.fromhex(str(value).removeprefix("0x"))


class ServedParts:
    """Per-process cache of loaded parts (module docstring)."""

    def __init__(self, view: ChainView, store: ManifestStore | None = None) -> None:
        self.view = view
        self.manifests = store or ManifestStore()
        self._parts: dict[tuple[int, int, int], ServedPart] = {}
        self._lock = threading.Lock()

    def get(self, model_id: int, version: int, part: int) -> ServedPart:
        key = (model_id, version, part)
        with self._lock:
            if key not in self._parts:
                self._parts[key] = self._load(model_id, version, part)
            return self._parts[key]

    def _load(self, model_id: int, version: int, part: int) -> ServedPart:
        manifest_hash = self.view.manifest_hash(model_id, version)
        manifest = self.manifests.get(manifest_hash)
        if manifest is None:
            raise PartUnavailableError(
                f"the manifest of model {model_id} version {version} (0x{manifest_hash.hex()}) "
                "is not in this node's manifest store; copy it there (`zkai models ...`)"
            )
        if not 0 <= part < len(manifest.parts):
            raise PartUnavailableError(
                f"model {model_id} version {version} has {len(manifest.parts)} parts, not {part}"
            )
        terms = self.view.part(model_id, version, part)
        try:
            artifacts = part_artifacts(manifest, part, rounds=terms.max_rounds)
        except ZKAIError as exc:
            raise PartUnavailableError(f"cannot build part {part}'s circuit: {exc}") from exc
        for what, ours, theirs in (
            ("circuit", _hash_bytes(artifacts.circuit_hash), terms.circuit_hash),
            ("key", _hash_bytes(artifacts.key_hash), terms.key_hash),
        ):
            if ours != theirs:
                raise PartUnavailableError(
                    f"part {part} of model {model_id} v{version}: this node's {what} hash "
                    f"0x{ours.hex()} is not the registry's 0x{theirs.hex()}"
                )
        if not verifier_matches(self.view.chain, terms.verifier, artifacts):
            raise PartUnavailableError(
                f"part {part} of model {model_id} v{version}: its verifier {terms.verifier} is not "
                "the factory's verifier for this node's key; refusing to sign rounds it could "
                "not claim"
            )
        mismatch = terms.limits_mismatch(manifest.part(part))
        if mismatch is None and part == 0:
            # part 0's round 1 is what the version's input rule covers: a rule its manifest
            # does not give (a circuit that checks less) is not served either
            rule = validity_mismatch(manifest, self.view.model(model_id, version))
            mismatch = None if rule is None else f"the version's input rule: {rule}"
        return ServedPart(model_id, version, part, manifest, artifacts, terms, mismatch)
