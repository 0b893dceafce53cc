"""Poseidon: Python == light-poseidon (independent Rust) and == the compiled circuit."""

from __future__ import annotations

from pathlib import Path

import groth16py
import light_poseidon_python
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkai.crypto.field import BN254_R
from zkai.crypto.poseidon import chunk_layout, hash_vector, poseidon

field = st.integers(min_value=0, max_value=BN254_R - 1)
WIDTHS = (1, 2, 7, 16)
CHAIN_LENGTH = 20


def test_known_answer_circomlib_poseidon_1_2() -> None:
    # The value in circomlib's and circomlibjs's own tests.
    assert poseidon([1, 2]) == int(
        "0x115cc0f5e7d690413df64c6b9662e9cf2a3617f2743245519e19607a4417189a", 16
    )


@given(field, field)
def test_matches_light_poseidon_on_two_inputs(a: int, b: int) -> None:
    assert poseidon([a, b]) == int(light_poseidon_python.poseidon_hash([a, b]))


def test_chunk_layout_uses_widest_calls() -> None:
    assert chunk_layout(1) == [1]
    assert chunk_layout(16) == [16]
    assert chunk_layout(17) == [16, 1]
    assert chunk_layout(75) == [16, 15, 15, 15, 14]
    assert chunk_layout(32) == [16, 15, 1]


def test_refuses_bad_arity_and_non_field_inputs() -> None:
    with pytest.raises(ValueError, match=r"1\.\.16"):
        poseidon([])
    with pytest.raises(ValueError, match=r"1\.\.16"):
        poseidon(list(range(17)))
    with pytest.raises(Exception, match="not a field element"):
        poseidon([BN254_R])


def _circuit_source() -> str:
    lines = ["pragma circom 2.1.0;", 'include "poseidon.circom";', "template Widths() {"]
    for w in WIDTHS:
        lines += [
            f"    signal input in{w}[{w}];",
            f"    signal input h{w};",
            f"    component p{w} = Poseidon({w});",
            f"    for (var i = 0; i < {w}; i++) {{ p{w}.inputs[i] <== in{w}[i]; }}",
            f"    h{w} === p{w}.out;",
        ]
    lines += [f"    signal input chain[{CHAIN_LENGTH}];", "    signal input hchain;"]
    position = 0
    for call, size in enumerate(chunk_layout(CHAIN_LENGTH)):
        extra = 1 if call else 0
        lines.append(f"    component c{call} = Poseidon({size + extra});")
        if extra:
            lines.append(f"    c{call}.inputs[0] <== c{call - 1}.out;")
        for k in range(size):
            lines.append(f"    c{call}.inputs[{k + extra}] <== chain[{position + k}];")
        position += size
    lines.append(f"    hchain === c{len(chunk_layout(CHAIN_LENGTH)) - 1}.out;")
    public = ", ".join([*(f"h{w}" for w in WIDTHS), "hchain"])
    lines += ["}", f"component main {{public [{public}]}} = Widths();"]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def widths_circuit(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[groth16py.ProvingKey, groth16py.Verifier]:
    path = Path(tmp_path_factory.mktemp("poseidon")) / "widths.circom"
    path.write_text(_circuit_source())
    pk, vk = groth16py.setup_circom(str(path), [groth16py.circomlib_path(2)])
    return pk, groth16py.Verifier(vk)


@settings(max_examples=3, deadline=None)
@given(st.data())
def test_matches_the_circuit_for_several_widths_and_the_chain(
    widths_circuit: tuple[groth16py.ProvingKey, groth16py.Verifier], data: st.DataObject
) -> None:
    pk, verifier = widths_circuit
    inputs: dict[str, object] = {}
    public: list[int] = []
    for w in WIDTHS:
        values = data.draw(st.lists(field, min_size=w, max_size=w))
        inputs[f"in{w}"] = values
        inputs[f"h{w}"] = poseidon(values)
        public.append(poseidon(values))
    chain = data.draw(st.lists(field, min_size=CHAIN_LENGTH, max_size=CHAIN_LENGTH))
    inputs["chain"] = chain
    inputs["hchain"] = hash_vector(chain)
    public.append(hash_vector(chain))
    proof = groth16py.prove(pk, inputs)
    assert verifier.verify(proof, public)
    wrong = [*public[:-1], (public[-1] + 1) % BN254_R]
    assert not verifier.verify(proof, wrong)
