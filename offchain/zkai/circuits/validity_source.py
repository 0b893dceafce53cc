"""circom source of a version's validity circuit (the user's proof that a private query is valid).

Generated from the version's input rule (`zkai.models.rule.ValidityRule`). For k = rule.shares
nodes of part 0 and block b = block_0(1) (n inputs, m outputs), the public inputs, in this order
(the order `QueryMarket.requestQuery` builds them in), are

    ruleHash, tag_0, commitment_0, tag_1, commitment_1, ..., tag_{k-1}, commitment_{k-1}

and the private inputs, per node a, its round-1 share s_a (n values), mask m_a (m values) and
salt_a. The circuit proves

    ruleHash == rule.hash                                   (the rule is a circuit constant)
    commitment_a == hash_vector(tag_a, 1, b, s_a, m_a, salt_a)   for every a (as `round_commitment`)
    v = s_0 + ... + s_{k-1}  (mod r)
    rule "ranges":  minimum_j <= v_j <= maximum_j  for every feature j, as two bit decompositions:
                    v_j - minimum_j and maximum_j - v_j both in [0, 2^bits_j), bits_j =
                    bitlen(maximum_j - minimum_j) (sound: both fit only if v_j is in the range;
                    a v_j out of it makes one of them wrap to a value near r)

    rule "tokens":  private one-hots position[P] (P = the context) and token[U] (U = the tokens
                    the policy allows); the committed round is round_stride * t + 1 for the
                    selected position t (not fixed at 1: the same circuit proves any token
                    round, and a node that checks c_i for its round i pins t), and
                    v = table[t][u], selected as sum_outer outer[a] * (sum_inner inner[b] *
                    table(a, b)) with the smaller one-hot outside (min(P, U) * n products;
                    the inner sums are linear), so v is a vocabulary token's embedding at a
                    position within the context, of a token the policy does not forbid;
                    and at position 0, salt_a == Poseidon(digest, rho_a) for every a, with one
                    private digest: round 1's salts derive from the digest of the prompt's later
                    commitments (`zkai.protocol.prompt`), so this proof, checked on-chain, makes
                    every node of part 0 hold the same ones

so the commitments the nodes check at round 1 (PROTOCOL step 2d) open to shares of an input the
rule allows, for exactly these assignments (the tags are the market's, per query and node).
"""

from __future__ import annotations

from zkai.models.rule import ValidityRule

from .part_source import hash_chain, hash_output

__all__ = ["TEMPLATE_NAME", "public_input_names", "validity_source"]

TEMPLATE_NAME = "Validity"


def public_input_names(shares: int) -> list[str]:
    """The public inputs in the market's order (see the module docstring)."""
    names = ["ruleHash"]
    for a in range(shares):
        names += [f"tag{a}", f"commitment{a}"]
    return names


def _offset(value: str, constant: int) -> str:
    """`value - constant` as circom text (constants may be negative)."""
    return f"{value} - {constant}" if constant >= 0 else f"{value} + {-constant}"


def _lincomb(terms: list[tuple[str, int]]) -> str:
    """sum of signal * constant as circom text ("0" for none); zero constants dropped."""
    text = ""
    for signal, c in terms:
        if c == 0:
            continue
        term = signal if abs(c) == 1 else f"{signal} * {abs(c)}"
        text += (" - " if c < 0 else " + ") + term if text else ("-" if c < 0 else "") + term
    return text or "0"


def _tokens_lines_head(rule: ValidityRule) -> list[str]:
    """The "tokens" rule's one-hots and the committed round (module docstring)."""
    positions, allowed = rule.positions, len(rule.tokens)
    return [
        "    // one position and one allowed token, each a one-hot",
        "    var positions = 0;",
        f"    for (var t = 0; t < {positions}; t++) {{",
        "        position[t] * (position[t] - 1) === 0;",
        "        positions += position[t];",
        "    }",
        "    positions === 1;",
        "    var tokens = 0;",
        f"    for (var u = 0; u < {allowed}; u++) {{",
        "        token[u] * (token[u] - 1) === 0;",
        "        tokens += token[u];",
        "    }",
        "    tokens === 1;",
        "",
        f"    // the committed round: {rule.round_stride} * t + 1",
        "    signal round;",
        "    round <== "
        + _lincomb([(f"position[{t}]", rule.round_stride * t) for t in range(positions)])
        + " + 1;",
        "",
    ]


def _tokens_lines_tail(rule: ValidityRule) -> list[str]:
    """The "tokens" rule's table selection: v = table[t][u] (module docstring)."""
    n, positions, allowed = rule.input_size, rule.positions, len(rule.tokens)
    lines = ["    // the input the shares reconstruct is table[t][u]"]
    outer_is_position = positions <= allowed
    outer_name, outer_size = ("position", positions) if outer_is_position else ("token", allowed)
    inner_name, inner_size = ("token", allowed) if outer_is_position else ("position", positions)

    def entry(a: int, c: int, j: int) -> int:
        return rule.table[a][c][j] if outer_is_position else rule.table[c][a][j]

    lines.append(f"    signal pick[{outer_size}][{n}];")
    picked: list[list[str]] = [[] for _ in range(n)]
    for a in range(outer_size):
        for j in range(n):
            inner = _lincomb([(f"{inner_name}[{c}]", entry(a, c, j)) for c in range(inner_size)])
            if inner == "0":
                continue
            lines.append(f"    pick[{a}][{j}] <== {outer_name}[{a}] * ({inner});")
            picked[j].append(f"pick[{a}][{j}]")
    for j in range(n):
        lines.append(f"    v[{j}] === {' + '.join(picked[j]) or '0'};")
    return lines


def validity_source(rule: ValidityRule) -> str:
    """The circom 2 source of the rule's validity circuit (same rule, same text)."""
    k, n, m, b = rule.shares, rule.input_size, rule.mask_size, rule.block
    tokens = rule.kind == "tokens"
    round_index = "round" if tokens else "1"
    publics = public_input_names(k)
    lines = [
        "// Generated by zkai.circuits.validity_source from a validity rule. Do not edit.",
        f"// rule {rule.kind}, {k} share(s) of part 0's round 1 (block {b})",
        f"// rule hash: {rule.hash}",
        "pragma circom 2.1.0;",
        "",
        'include "poseidon.circom";',
        'include "bitify.circom";',
        "",
        f"template {TEMPLATE_NAME}() {{",
        *(f"    signal input {name};" for name in publics),
    ]
    for a in range(k):
        lines += [
            f"    signal input share{a}[{n}];",
            f"    signal input mask{a}[{m}];",
            f"    signal input salt{a};",
        ]
    if tokens:
        lines += [
            f"    signal input position[{rule.positions}];",
            f"    signal input token[{len(rule.tokens)}];",
            "    signal input digest;",
            *(f"    signal input rho{a};" for a in range(k)),
        ]
    lines += ["", "    // the rule is this circuit's", f"    ruleHash === {rule.hash};", ""]
    if tokens:
        # the one-hots first: the commitments hash `round`
        lines += _tokens_lines_head(rule)
        lines.append("    // round 1: every salt is Poseidon(digest, rho_a), for one prompt digest")
        for a in range(k):
            lines += [
                f"    component first{a} = Poseidon(2);",
                f"    first{a}.inputs[0] <== digest;",
                f"    first{a}.inputs[1] <== rho{a};",
                f"    position[0] * (salt{a} - first{a}.out) === 0;",
            ]
        lines.append("")
    for a in range(k):
        committed = (
            [f"tag{a}", round_index, str(b)]
            + [f"share{a}[{j}]" for j in range(n)]
            + [f"mask{a}[{j}]" for j in range(m)]
            + [f"salt{a}"]
        )
        lines += [
            f"    // commitment{a} = hash_vector(tag{a}, {round_index}, {b}, share{a}, mask{a}, "
            f"salt{a})",
            *hash_chain(f"commit{a}_", committed),
            f"    commitment{a} === {hash_output(f'commit{a}_', len(committed))};",
            "",
        ]
    total = " + ".join(f"share{a}[j]" for a in range(k))
    lines += [
        "    // the input the shares reconstruct",
        f"    signal v[{n}];",
        f"    for (var j = 0; j < {n}; j++) {{",
        f"        v[j] <== {total};",
        "    }",
        "",
    ]
    if tokens:
        lines += _tokens_lines_tail(rule)
    else:
        lines += _ranges_lines(rule)
    lines += [
        "}",
        "",
        f"component main {{public [{', '.join(publics)}]}} = {TEMPLATE_NAME}();",
        "",
    ]
    return "\n".join(lines)


def _ranges_lines(rule: ValidityRule) -> list[str]:
    """The "ranges" rule: every feature in its range (module docstring)."""
    lines = ["    // every feature in its range"]
    for j, (lo, hi) in enumerate(zip(rule.minimum, rule.maximum, strict=True)):
        width = hi - lo
        if width == 0:
            lines.append(f"    v[{j}] === {lo};" if lo >= 0 else f"    v[{j}] + {-lo} === 0;")
            continue
        bits = width.bit_length()
        lines += [
            f"    component low{j} = Num2Bits({bits});",
            f"    low{j}.in <== {_offset(f'v[{j}]', lo)};",
            f"    component high{j} = Num2Bits({bits});",
            f"    high{j}.in <== {hi} - v[{j}];",
        ]
    return lines
