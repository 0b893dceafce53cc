"""The generated part circuit source: deterministic, public inputs in the claim's order, the
schedule's blocks in their slots, W as constants."""

from __future__ import annotations

import re

from zkai.circuits.part_source import PUBLIC_INPUTS, part_source

from .toy import toy_manifest


def test_part_source_is_deterministic_and_names_the_model() -> None:
    manifest = toy_manifest()
    source = part_source(manifest, 0, 3)
    assert source == part_source(toy_manifest(), 0, 3)
    assert manifest.hash_hex in source
    assert "part 0, 3 slot(s)" in source
    assert source != part_source(manifest, 0, 2)


def test_part_source_public_inputs_are_in_the_claim_order() -> None:
    source = part_source(toy_manifest(), 0, 1)
    assert PUBLIC_INPUTS == (
        "tag",
        "startRounds",
        "startInputTranscript",
        "startOutputTranscript",
        "rounds",
        "inputTranscript",
        "prevOutputTranscript",
        "outputTranscript",
    )
    main = re.search(r"component main \{public \[(.*)\]\}", source)
    assert main is not None
    assert main.group(1).split(", ") == list(PUBLIC_INPUTS)
    declared = re.findall(r"^    signal input (\w+);", source.split("template Part()")[1], re.M)
    assert declared[:8] == list(PUBLIC_INPUTS)  # circom orders public inputs by declaration


def test_part_source_slots_follow_the_schedule() -> None:
    manifest = toy_manifest([{"schedule": [1, 0], "max_rounds": 3}])
    source = part_source(manifest, 0, 3)
    slots = re.findall(r"component slot(\d) = Block(\d)Slot\(\);", source)
    assert slots == [("0", "1"), ("1", "0"), ("2", "1")]
    # slot j is round n0 + j + 1: the round number in the hashes is a signal, not a constant
    rounds = re.findall(r"slot(\d)\.round <== startRounds \+ (\d);", source)
    assert rounds == [("0", "1"), ("1", "2"), ("2", "3")]


def test_part_source_constrains_the_chunk_start() -> None:
    source = part_source(toy_manifest(), 0, 3)
    assert "rounds - startRounds === total;" in source
    assert "startRounds === 3 * quotient;" in source
    assert "first.out * startInputTranscript === 0;" in source
    assert "first.out * startOutputTranscript === 0;" in source


def test_part_source_weights_are_circuit_constants() -> None:
    manifest = toy_manifest()
    source = part_source(manifest, 0, 1)
    assert "[1, -2, 3, 4]" in source
    assert "Block1Slot" not in source  # part 0 holds only block 0
    assert "[13, -14, 15]" in part_source(manifest, 1, 1)
