"""Manifests by content hash: stored under their hash, a tampered file is never served."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkai.errors import ModelFormatError, UnknownModelError
from zkai.models.demo import load_demo_manifest
from zkai.models.store import ManifestStore, parse_commitment, resolve_manifest


def test_store_put_and_get_by_hash(tmp_path: Path) -> None:
    store = ManifestStore(tmp_path)
    manifest = load_demo_manifest("digits-mlp")
    path = store.put(manifest)
    assert path.name == manifest.hash.hex() + ".json"
    assert store.get(manifest.hash) == manifest
    assert store.get(b"\0" * 32) is None


def test_store_tampered_file_is_not_served(tmp_path: Path) -> None:
    store = ManifestStore(tmp_path)
    manifest = load_demo_manifest("digits")
    path = store.put(manifest)
    path.write_text(path.read_text().replace('"version": 1', '"version": 2'))
    assert store.get(manifest.hash) is None


def test_store_resolve_prefers_store_then_candidates_and_stays_offline(tmp_path: Path) -> None:
    store = ManifestStore(tmp_path)
    manifest = load_demo_manifest("breast-cancer")
    assert (
        resolve_manifest(manifest.hash, candidates=[manifest], store=store, api_url="") == manifest
    )
    assert store.get(manifest.hash) == manifest
    with pytest.raises(UnknownModelError, match="no manifest"):
        resolve_manifest(b"\1" * 32, store=store, api_url="")


def test_store_parse_commitment_checks_the_form() -> None:
    assert parse_commitment("0x" + "ab" * 32) == b"\xab" * 32
    with pytest.raises(ModelFormatError, match="32-byte"):
        parse_commitment("0x1234")
    with pytest.raises(ModelFormatError, match="32 bytes"):
        parse_commitment(b"\0")
