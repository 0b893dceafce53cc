"""Manifests by content hash: the one way every party finds the manifest of a model version.

The chain records each version's weights commitment, which is the keccak256 of the manifest's
canonical JSON (`Manifest.hash`). So a manifest can come from anywhere and be trusted as
soon as its hash equals the commitment. `ManifestStore` keeps them under
`<data_dir>/manifests/<hash hex>.json`; `resolve_manifest` looks there, then in the candidates
the caller knows (a catalogue entry), then asks the API (`GET /api/manifests/<hash>`), checks the
hash, and caches what it fetched. Nodes use it for versions published after they started, users
for the current version of a model, contributors for the version a training round trains.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import requests

from zkai.config import get_settings
from zkai.errors import ManifestUnavailableError, ModelFormatError, UnknownModelError
from zkai.models.manifest import Manifest

__all__ = ["ManifestStore", "fetch_manifest", "parse_commitment", "resolve_manifest"]

_HASH = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
FETCH_TIMEOUT_S = 10.0
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
"""Largest manifest fetched (a 1,024 x 10 model's manifest is about 60 KB)."""


def parse_commitment(value: str | bytes) -> bytes:
    """A 32-byte commitment from bytes or (0x-)hex; `ModelFormatError` otherwise."""
    if isinstance(value, bytes):
        if len(value) != 32:
            raise ModelFormatError(f"a manifest hash is 32 bytes, got {len(value)}")
        return value
    if not _HASH.match(value):
        raise ModelFormatError(f"{value!r} is not a 32-byte hex manifest hash")
    return bytes.fromhex(value.removeprefix("0x"))


class ManifestStore:
    """Content-addressed manifest files; a file whose content does not hash to its name is
    ignored (and reported as missing), so a corrupted or edited file is never served."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or get_settings().manifests_path

    def path(self, commitment: bytes) -> Path:
        return self.root / f"{commitment.hex()}.json"

    def put(self, manifest: Manifest) -> Path:
        """Store `manifest` under its content hash (atomic; a no-op when already there)."""
        path = self.path(manifest.hash)
        if self.get(manifest.hash) is None:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(manifest.to_json())
            os.replace(tmp, path)
        return path

    def get(self, commitment: bytes) -> Manifest | None:
        """The stored manifest with this hash, or None."""
        try:
            manifest = Manifest.load(self.path(commitment))
        except ModelFormatError:
            return None
        return manifest if manifest.hash == commitment else None


def fetch_manifest(api_url: str, commitment: bytes) -> Manifest:
    """`GET <api>/api/manifests/0x<hash>`, accepted only if the manifest hashes to `commitment`.

    `ManifestUnavailableError` when the API does not answer or fails (worth retrying),
    `UnknownModelError` when it has no such manifest or serves another one.
    """
    url = f"{api_url.rstrip('/')}/api/manifests/0x{commitment.hex()}"
    try:
        with requests.get(url, timeout=FETCH_TIMEOUT_S, stream=True) as response:
            body = response.raw.read(MAX_MANIFEST_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise ManifestUnavailableError(
            f"cannot fetch manifest 0x{commitment.hex()} from {url}: {exc}"
        ) from exc
    if len(body) > MAX_MANIFEST_BYTES:
        raise UnknownModelError(f"{url} served more than {MAX_MANIFEST_BYTES:,} bytes: refused")
    if response.status_code >= 500:
        raise ManifestUnavailableError(
            f"the API at {api_url} failed to serve manifest 0x{commitment.hex()} (HTTP "
            f"{response.status_code})"
        )
    if response.status_code != 200:
        raise UnknownModelError(
            f"the API at {api_url} has no manifest 0x{commitment.hex()} (HTTP "
            f"{response.status_code})"
        )
    manifest = Manifest.from_json(body)
    if manifest.hash != commitment:
        raise UnknownModelError(
            f"the API at {api_url} served a manifest hashing to {manifest.hash_hex}, "
            f"not 0x{commitment.hex()}: refused"
        )
    return manifest


def resolve_manifest(
    commitment: bytes,
    *,
    candidates: Iterable[Manifest] = (),
    store: ManifestStore | None = None,
    api_url: str | None = None,
) -> Manifest:
    """The manifest that hashes to `commitment`: from the store, a candidate, or the API.

    A manifest found among the candidates or fetched is added to the store. `api_url` defaults
    to the settings' API; pass "" to stay offline.
    """
    store = store or ManifestStore()
    found = store.get(commitment)
    if found is not None:
        return found
    for candidate in candidates:
        if candidate.hash == commitment:
            store.put(candidate)
            return candidate
    url = get_settings().api_base_url if api_url is None else api_url
    if not url:
        raise UnknownModelError(
            f"no manifest 0x{commitment.hex()} under {store.root}; copy it there or set "
            "ZKAI_API_URL to an API that serves it"
        )
    fetched = fetch_manifest(url, commitment)
    store.put(fetched)
    return fetched
