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

from zkai.config import get_settings
from zkai.errors import UnknownModelError
from zkai.models.demo import load_demo_manifest
from zkai.models.manifest import Manifest

__all__ = ["CatalogEntry", "ModelCatalog"]

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
