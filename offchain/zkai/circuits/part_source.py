"""circom source of one part's circuit (protocol version 2, chunked claims), from the manifest.

The circuit has R = R_max slots and proves one chunk of an assignment: rounds n0+1..n with
1 <= n - n0 <= R. Slot j (0-based) is round i = n0 + j + 1 (a signal: the round number in the
hashes) and evaluates the constant block b_j = schedule[j % len(schedule)] of the part, whose W
is a circuit constant. That block is block_p(i) because n0 is a multiple of R (constrained) and,
for a part whose budget may exceed R, R % len(schedule) == 0 (the manifest's check). Public
inputs, in this order (the order `claim` passes them to the verifier):

    tag, startRounds (n0), startInputTranscript (T_n0 or 0), startOutputTranscript (O_n0 or 0),
    rounds (n), inputTranscript (T_n), prevOutputTranscript (O_{n-1}), outputTranscript (O_n)

Private: the active flags a_j, the quotient q = n0 / R and, per slot, share s_i, mask m_i and
salt_i. The circuit proves

    a_j in {0, 1},  a_0 = 1,  a_j <= a_{j-1},  sum_j a_j = n - n0   (exactly slots 1..n-n0 active)
    n0 = R q with q < 2^32                                          (chunks start at multiples of R)
    n0 == 0  =>  startInputTranscript == startOutputTranscript == 0, and the chains start from
                 T_0 = O_0 = Poseidon(tag);
    n0 != 0  =>  the chains start from T_n0 = startInputTranscript, O_n0 = startOutputTranscript
    for every slot:  c_i   = hash_vector(tag, i, b_j, s_i, m_i, salt_i)
                     out_i = W_{b_j} s_i + m_i                        (mod r, no bias)
                     T_i   = a ? hash_vector(T_{i-1}, i, b_j, c_i) : T_{i-1}
                     O_i   = a ? hash_vector(O_{i-1}, i, hash_vector(out_i)) : O_{i-1}
                     P_i   = a ? O_{i-1} : P_{i-1}                    (the O before the last active)
    T_R == T_n,  O_R == O_n,  P_R == O_{n-1}

so inactive (padded) slots leave the chains standing and cannot be counted as rounds. For n0 = 0
this is exactly the one-claim statement (tag, n, T_n, O_{n-1}, O_n) with three zeros inserted.
`hash_vector` is `zkai.crypto.poseidon.hash_vector` with its chunking (`chunk_layout`): one
circomlib Poseidon for up to 16 values, chained beyond, exactly as `zkai.crypto.transcript`.
"""

from __future__ import annotations

from zkai.crypto.poseidon import chunk_layout
from zkai.models.manifest import Manifest
from zkai.models.steps import LinearBlock

__all__ = [
    "PUBLIC_INPUTS",
    "QUOTIENT_BITS",
    "TEMPLATE_NAME",
    "hash_chain",
    "hash_output",
    "part_source",
]

TEMPLATE_NAME = "Part"
PUBLIC_INPUTS = (
    "tag",
    "startRounds",
    "startInputTranscript",
    "startOutputTranscript",
    "rounds",
    "inputTranscript",
    "prevOutputTranscript",
    "outputTranscript",
)
QUOTIENT_BITS = 32
"""n0 / R is range-checked to this many bits (n0 is a uint32 on-chain)."""


def hash_chain(name: str, values: list[str]) -> list[str]:
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


def hash_output(name: str, length: int) -> str:
    return f"{name}{len(chunk_layout(length)) - 1}.out"


def _slot_template(block: LinearBlock) -> list[str]:
    """`Block<b>Slot()`: one round (signal `round`) of block b, chains advanced when `active`."""
    n, m, b = block.input_size, block.output_size, block.index
    rows = ",\n        ".join("[" + ", ".join(str(w) for w in row) + "]" for row in block.weights)
    committed = (
        ["tag", "round", str(b)]
        + [f"share[{k}]" for k in range(n)]
        + [f"mask[{k}]" for k in range(m)]
        + ["salt"]
    )
    lines = [
        f"template Block{b}Slot() {{",
        "    signal input tag;",
        "    signal input round;",
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
        *hash_chain("commit", committed),
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
        *hash_chain("digest", [f"out[{k}]" for k in range(m)]),
        "",
        "    // T_i = hash_vector(T_{i-1}, i, b, c_i); O_i = hash_vector(O_{i-1}, i, digest)",
        "    component tStep = Poseidon(4);",
        "    tStep.inputs[0] <== tIn;",
        "    tStep.inputs[1] <== round;",
        f"    tStep.inputs[2] <== {b};",
        f"    tStep.inputs[3] <== {hash_output('commit', len(committed))};",
        "    component oStep = Poseidon(3);",
        "    oStep.inputs[0] <== oIn;",
        "    oStep.inputs[1] <== round;",
        f"    oStep.inputs[2] <== {hash_output('digest', m)};",
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
    """The circom 2 source of part `part` with `rounds` slots (same inputs, same text).

    Slot j evaluates schedule[j % len(schedule)]; a chunk starting at n0 = a multiple of
    `rounds` meets the same blocks only if n0 % len(schedule) == 0, which the manifest ensures
    for every part whose budget exceeds its max_rounds (and `statement` checks before proving).
    """
    p = manifest.part(part)
    blocks = [manifest.block(p.block_for_round(j + 1)) for j in range(rounds)]
    lines = [
        "// Generated by zkai.circuits.part_source from a model manifest. Do not edit.",
        f"// model: {manifest.name} v{manifest.version}, part {part}, {rounds} slot(s)",
        f"// manifest content hash: {manifest.hash_hex}",
        "pragma circom 2.1.0;",
        "",
        'include "poseidon.circom";',
        'include "comparators.circom";',
        'include "bitify.circom";',
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
        "    rounds - startRounds === total;",
        "",
        f"    // chunks start at multiples of R = {rounds}: n0 = R q, q < 2^{QUOTIENT_BITS}",
        "    signal quotient;",
        f"    quotient <-- startRounds \\ {rounds};",
        f"    startRounds === {rounds} * quotient;",
        f"    component quotientBits = Num2Bits({QUOTIENT_BITS});",
        "    quotientBits.in <== quotient;",
        "",
        "    // n0 == 0: both start inputs are 0, the chains start from T_0 = O_0 = Poseidon(tag);",
        "    // n0 != 0: they start from the given (T_n0, O_n0)",
        "    component first = IsZero();",
        "    first.in <== startRounds;",
        "    first.out * startInputTranscript === 0;",
        "    first.out * startOutputTranscript === 0;",
        "    component start = Poseidon(1);",
        "    start.inputs[0] <== tag;",
        "    signal tStart;",
        "    signal oStart;",
        "    tStart <== startInputTranscript + first.out * start.out;",
        "    oStart <== startOutputTranscript + first.out * start.out;",
    ]
    previous = ("tStart", "oStart", "oStart")
    for j, block in enumerate(blocks):
        slot = f"slot{j}"
        lines += [
            f"    component {slot} = Block{block.index}Slot();",
            f"    {slot}.tag <== tag;",
            f"    {slot}.round <== startRounds + {j + 1};",
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
