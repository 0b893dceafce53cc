"""circom source of one part's circuit (protocol version 2), generated from the manifest.

The circuit has R = R_max slots; slot j is round i = j + 1 and evaluates the constant block
b_i = schedule[(i - 1) % len(schedule)] of the part, whose W is a circuit constant. Public inputs,
in this order (the order `claim` passes them to the verifier):

    tag, rounds (n), inputTranscript (T_n), prevOutputTranscript (O_{n-1}), outputTranscript (O_n)

Private: the active flags a_j and, per slot, share s_i, mask m_i and salt_i. The circuit proves

    a_j in {0, 1},  a_0 = 1,  a_j <= a_{j-1},  sum_j a_j = n        (exactly slots 1..n active)
    T_0 = O_0 = Poseidon(tag)
    for every slot:  c_i   = hash_vector(tag, i, b_i, s_i, m_i, salt_i)
                     out_i = W_{b_i} s_i + m_i                        (mod r, no bias)
                     T_i   = a ? hash_vector(T_{i-1}, i, b_i, c_i) : T_{i-1}
                     O_i   = a ? hash_vector(O_{i-1}, i, hash_vector(out_i)) : O_{i-1}
                     P_i   = a ? O_{i-1} : P_{i-1}                    (the O before the last active)
    T_R == T_n,  O_R == O_n,  P_R == O_{n-1}

so inactive (padded) slots leave the chains standing and cannot be counted as rounds, and n <= R.
`hash_vector` is `zkai.crypto.poseidon.hash_vector` with its chunking (`chunk_layout`): one
circomlib Poseidon for up to 16 values, chained beyond, exactly as `zkai.crypto.transcript`.
"""

from __future__ import annotations

from zkai.crypto.poseidon import chunk_layout
from zkai.models.manifest import Manifest
from zkai.models.steps import LinearBlock

__all__ = ["PUBLIC_INPUTS", "TEMPLATE_NAME", "part_source"]

TEMPLATE_NAME = "Part"
PUBLIC_INPUTS = ("tag", "rounds", "inputTranscript", "prevOutputTranscript", "outputTranscript")


def _hash_chain(name: str, values: list[str]) -> list[str]:
    """circom lines computing hash_vector(values) into component `{name}{last}`; last line's
    output is `{name}{k}.out` with k = len(chunk_layout) - 1."""
    lines: list[str] = []
    position = 0
    for call, size in enumerate(chunk_layout(len(values))):
        chained = 1 if call > 0 else 0
        lines.append(f"    component {name}{call} = Poseidon({size + chained});")
        if chained:
            lines.append(f"    {name}{call}.inputs[0] <== {name}{call - 1}.out;")
        for k in range(size):
            lines.append(f"    {name}{call}.inputs[{k + chained}] <== {values[position + k]};")
        position += size
    return lines


def _hash_out(name: str, length: int) -> str:
    return f"{name}{len(chunk_layout(length)) - 1}.out"


def _slot_template(block: LinearBlock) -> list[str]:
    """`Block<b>Slot(ROUND)`: one round of block b, chains advanced when `active`."""
    n, m, b = block.input_size, block.output_size, block.index
    rows = ",\n        ".join("[" + ", ".join(str(w) for w in row) + "]" for row in block.weights)
    committed = (
        ["tag", "ROUND", str(b)]
        + [f"share[{k}]" for k in range(n)]
        + [f"mask[{k}]" for k in range(m)]
        + ["salt"]
    )
    lines = [
        f"template Block{b}Slot(ROUND) {{",
        "    signal input tag;",
        "    signal input active;",
        "    signal input tIn;",
        "    signal input oIn;",
        "    signal input pIn;",
        f"    signal input share[{n}];",
        f"    signal input mask[{m}];",
        "    signal input salt;",
        "    signal output tOut;",
        "    signal output oOut;",
        "    signal output pOut;",
        "",
        f"    var W[{m}][{n}] = [",
        f"        {rows}",
        "    ];",
        "",
        "    // c_i = hash_vector(tag, i, b, share, mask, salt)",
        *_hash_chain("commit", committed),
        "",
        "    // out_i = W share + mask (mod r)",
        f"    signal out[{m}];",
        "    var acc;",
        f"    for (var i = 0; i < {m}; i++) {{",
        "        acc = mask[i];",
        f"        for (var k = 0; k < {n}; k++) {{",
        "            acc += W[i][k] * share[k];",
        "        }",
        "        out[i] <== acc;",
        "    }",
        *_hash_chain("digest", [f"out[{k}]" for k in range(m)]),
        "",
        "    // T_i = hash_vector(T_{i-1}, i, b, c_i); O_i = hash_vector(O_{i-1}, i, digest)",
        "    component tStep = Poseidon(4);",
        "    tStep.inputs[0] <== tIn;",
        "    tStep.inputs[1] <== ROUND;",
        f"    tStep.inputs[2] <== {b};",
        f"    tStep.inputs[3] <== {_hash_out('commit', len(committed))};",
        "    component oStep = Poseidon(3);",
        "    oStep.inputs[0] <== oIn;",
        "    oStep.inputs[1] <== ROUND;",
        f"    oStep.inputs[2] <== {_hash_out('digest', m)};",
        "",
        "    // inactive slots leave the chains standing",
        "    tOut <== tIn + active * (tStep.out - tIn);",
        "    oOut <== oIn + active * (oStep.out - oIn);",
        "    pOut <== pIn + active * (oIn - pIn);",
        "}",
        "",
    ]
    return lines


def part_source(manifest: Manifest, part: int, rounds: int) -> str:
    """The circom 2 source of part `part` with `rounds` slots (same inputs, same text)."""
    p = manifest.part(part)
    blocks = [manifest.block(p.block_for_round(j + 1)) for j in range(rounds)]
    lines = [
        "// Generated by zkai.circuits.part_source from a model manifest. Do not edit.",
        f"// model: {manifest.name} v{manifest.version}, part {part}, {rounds} slot(s)",
        f"// manifest content hash: {manifest.hash_hex}",
        "pragma circom 2.1.0;",
        "",
        'include "poseidon.circom";',
        "",
    ]
    for index in sorted({b.index for b in blocks}):
        lines += _slot_template(manifest.block(index))
    lines += [
        f"template {TEMPLATE_NAME}() {{",
        *(f"    signal input {name};" for name in PUBLIC_INPUTS),
        f"    signal input active[{rounds}];",
    ]
    for j, block in enumerate(blocks):
        lines += [
            f"    signal input share{j}[{block.input_size}];",
            f"    signal input mask{j}[{block.output_size}];",
        ]
    lines += [
        f"    signal input salt[{rounds}];",
        "",
        "    // exactly the first n slots are active",
        "    var total = 0;",
        f"    for (var j = 0; j < {rounds}; j++) {{",
        "        active[j] * (active[j] - 1) === 0;",
        "        total += active[j];",
        "    }",
        f"    for (var j = 1; j < {rounds}; j++) {{",
        "        active[j] * (1 - active[j - 1]) === 0;",
        "    }",
        "    active[0] === 1;",
        "    rounds === total;",
        "",
        "    // T_0 = O_0 = Poseidon(tag)",
        "    component start = Poseidon(1);",
        "    start.inputs[0] <== tag;",
    ]
    previous = ("start.out", "start.out", "start.out")
    for j, block in enumerate(blocks):
        slot = f"slot{j}"
        lines += [
            f"    component {slot} = Block{block.index}Slot({j + 1});",
            f"    {slot}.tag <== tag;",
            f"    {slot}.active <== active[{j}];",
            f"    {slot}.tIn <== {previous[0]};",
            f"    {slot}.oIn <== {previous[1]};",
            f"    {slot}.pIn <== {previous[2]};",
            f"    {slot}.share <== share{j};",
            f"    {slot}.mask <== mask{j};",
            f"    {slot}.salt <== salt[{j}];",
        ]
        previous = (f"{slot}.tOut", f"{slot}.oOut", f"{slot}.pOut")
    lines += [
        "",
        f"    inputTranscript === {previous[0]};",
        f"    outputTranscript === {previous[1]};",
        f"    prevOutputTranscript === {previous[2]};",
        "}",
        "",
        f"component main {{public [{', '.join(PUBLIC_INPUTS)}]}} = {TEMPLATE_NAME}();",
        "",
    ]
    return "\n".join(lines)
