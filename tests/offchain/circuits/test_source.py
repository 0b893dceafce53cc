"""The generated circom source."""

from __future__ import annotations

from zkai.circuits.source import circuit_source, public_input_count
from zkai.models.demo import load_demo_manifest


def test_source_is_deterministic_and_names_the_model() -> None:
    manifest = load_demo_manifest("digits")
    source = circuit_source(manifest)
    assert source == circuit_source(load_demo_manifest("digits"))
    assert manifest.content_hash_hex in source
    assert "component main {public [commitment, out]}" in source
    # 75 committed values: Poseidon(16) then four chained calls
    assert source.count("= Poseidon(") == 5
    assert public_input_count(manifest) == 11


def test_weights_are_constants_of_the_circuit() -> None:
    manifest = load_demo_manifest("breast-cancer")
    source = circuit_source(manifest)
    row = ", ".join(str(w) for w in manifest.weights[0])
    assert f"[{row}]" in source
    assert "signal input bias" not in source
