"""A digits-mlp query done the network's way, with real part proofs: per part k = 2 nodes, sealed
payload openings (zkai.protocol.payload), W s + m per node, the user's reconstruction and user
steps; the answer equals Manifest.evaluate bit for bit and every node's proof verifies."""

from __future__ import annotations

import secrets

from zkai.circuits.part import prove_part, round_outputs, verify_part
from zkai.crypto.field import BN254_R
from zkai.models.demo import load_demo_manifest, load_split
from zkai.protocol.payload import RoundHeader, deal_round

from ..conftest import PartBuild

MARKET = "0x" + "11" * 20
NODES = ("0x" + "22" * 20, "0x" + "33" * 20)


def test_part_proofs_of_a_shared_digits_mlp_query_reproduce_evaluate(demo_part: PartBuild) -> None:
    manifest = load_demo_manifest("digits-mlp")
    x = manifest.quantise_input(load_split("digits-mlp").x_test[0].tolist())
    query = secrets.token_bytes(32)
    values = tuple(x)
    for block in manifest.blocks:
        part = manifest.part_of_block(block.index).index
        artifacts = demo_part("digits-mlp", part)
        headers = [
            RoundHeader(
                31337,
                MARKET,
                query,
                part,
                node,
                1,
                block.index,
                block.input_size,
                block.output_size,
            )
            for node in NODES
        ]
        payloads = deal_round([v % BN254_R for v in values], headers)
        total = [0] * block.output_size
        for payload in payloads:
            opening = payload.opening()
            out = round_outputs(manifest, part, 1, opening.share, opening.mask)
            total = [
                (t + o - m) % BN254_R for t, o, m in zip(total, out, opening.mask, strict=True)
            ]
            tag = secrets.randbelow(BN254_R)
            proof = prove_part(artifacts, manifest, part, tag, [opening])
            assert verify_part(artifacts, proof)
        values = manifest.run_user_steps(block.index, block.reconstruct(total)).values
    assert values == manifest.evaluate(x).outputs
    assert (
        manifest.decode(values).label
        == manifest.predict(load_split("digits-mlp").x_test[0].tolist()).label
    )
