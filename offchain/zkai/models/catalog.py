"""Model names -> on-chain model ids and manifests, per chain.

The chain knows a model by id and by the hash of its manifest; people know it by name. The
catalogue (`<data_dir>/catalog/<chain_id>.json`) records, for each name, the model id and where its
manifest lives (a file path, or `demo:<name>` for the models shipped with the package). Whoever
uses an entry checks the manifest's hash against the model's current on-chain commitment, so a
stale or tampered catalogue cannot make anyone prove or pay for the wrong model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zkai.config import get_settings
from zkai.errors import ModelFormatError, UnknownModelError
from zkai.models.demo import load_demo_manifest
from zkai.models.manifest import Manifest
from zkai.models.store import ManifestStore, resolve_manifest

if TYPE_CHECKING:
    from zkai.chain.client import ChainClient

__all__ = ["CatalogEntry", "ModelCatalog", "current_version"]

DEMO_PREFIX = "demo:"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    model_id: int
    manifest_ref: str

    def manifest(self) -> Manifest:
        if self.manifest_ref.startswith(DEMO_PREFIX):
            return load_demo_manifest(self.manifest_ref.removeprefix(DEMO_PREFIX))
        return Manifest.load(self.manifest_ref)

    def manifest_candidates(self) -> list[Manifest]:
        """The entry's manifest if it loads, as a candidate for `resolve_manifest` (it may be
        another version's: the commitment decides)."""
        try:
            return [self.manifest()]
        except ModelFormatError:
            return []


class ModelCatalog:
    def __init__(self, chain_id: int, root: Path | None = None) -> None:
        self.path = (root or get_settings().data_dir) / "catalog" / f"{chain_id}.json"

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            data: dict[str, dict[str, object]] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return data

    def entries(self) -> list[CatalogEntry]:
        return [
            CatalogEntry(name, int(str(e["model_id"])), str(e["manifest"]))
            for name, e in sorted(self._read().items())
        ]

    def get(self, name_or_id: str) -> CatalogEntry:
        """An entry by name, or by numeric model id."""
        for entry in self.entries():
            if name_or_id in (entry.name, str(entry.model_id)):
                return entry
        known = ", ".join(e.name for e in self.entries()) or "none"
        raise UnknownModelError(
            f"unknown model {name_or_id!r} on this chain (known: {known}); "
            "register it or add it with `zkai models add`"
        )

    def add(self, name: str, model_id: int, manifest_ref: str) -> CatalogEntry:
        data = self._read()
        data[name] = {"model_id": model_id, "manifest": manifest_ref}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)
        return CatalogEntry(name, model_id, manifest_ref)


def current_version(
    chain: ChainClient, entry: CatalogEntry, store: ManifestStore | None = None
) -> tuple[Manifest, int]:
    """The manifest of the model's current on-chain version, and that version's number.

    Read as ModelRegistry v2's `getModel(id).currentVersion` and `getVersion(id, v).manifestHash`;
    found by that manifest hash (`zkai.models.store.resolve_manifest`): the entry's
    own manifest if it still matches, else the manifest store, else the API. So a model whose
    owner published a new version (a training round, say) is queried with the new weights.
    """
    registry = chain.contract("ModelRegistry")
    model = chain.call(registry.functions.getModel(entry.model_id))
    latest = int(model[2])
    if latest == 0:
        raise UnknownModelError(f"model {entry.name!r} (id {entry.model_id}) is not on this chain")
    version = chain.call(registry.functions.getVersion(entry.model_id, latest))
    commitment = bytes(version[0])
    return resolve_manifest(commitment, candidates=entry.manifest_candidates(), store=store), latest
