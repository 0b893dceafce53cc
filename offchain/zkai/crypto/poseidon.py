"""circomlib's Poseidon over BN254, in Python, and the one vector-hash scheme built on it.

`poseidon(inputs)` is circomlib's `Poseidon(n)` template (n = 1..16 inputs, width t = n + 1,
initial state 0, 8 full rounds, the partial-round counts of the circomlib source, x^5 S-box)
computed the way the template computes it: the "optimised" round structure with the constants
C, S, M, P. The constants are read from the circomlib that the circuits are compiled against
(`groth16py.circomlib_path(2)/poseidon_constants.circom`), so Python and circuit cannot drift
apart. Tests check this function against light-poseidon (an independent Rust implementation,
2 inputs) and against the compiled circuit for several widths.

`hash_vector(values)` hashes a vector of any length L >= 1 with one fixed chaining scheme
(`chunk_layout(L)` is its single definition, used by the circuit generator too):

    h = Poseidon16(v[0:16])                      # or Poseidon(L) if L <= 16
    h = Poseidon(1 + len(chunk))(h, chunk)       # for each following chunk of up to 15 values

Every Poseidon call is as wide as circomlib allows, because a wide permutation costs far fewer
constraints per absorbed element than folding with Poseidon(2) (TOOLCHAIN.md: ~6x). The length
L is not absorbed: every use hashes vectors whose length is fixed by the model's circuit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from zkai.crypto.field import BN254_R, require_field_elements
from zkai.errors import ZKAIError

__all__ = [
    "MAX_INPUTS",
    "PoseidonParameters",
    "chunk_layout",
    "constants_source",
    "hash_vector",
    "parameters",
    "poseidon",
]

MAX_INPUTS = 16
"""The widest circomlib Poseidon: 16 inputs (t = 17)."""

_N_ROUNDS_F = 8
_N_ROUNDS_P = (56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68)  # t = 2..17
_FUNCTION = re.compile(r"function\s+POSEIDON_([CSMP])\s*\(\s*t\s*\)")
_BRANCH = re.compile(r"if\s*\(\s*t\s*==\s*(\d+)\s*\)")
_NUMBER = re.compile(r"0x[0-9a-fA-F]+|\b\d+\b")


@dataclass(frozen=True)
class PoseidonParameters:
    """The constants circomlib's `PoseidonEx` uses for one width t."""

    t: int
    n_rounds_p: int
    c: tuple[int, ...]
    s: tuple[int, ...]
    m: tuple[tuple[int, ...], ...]
    p: tuple[tuple[int, ...], ...]


def constants_source() -> Path:
    """The circomlib file the constants come from (vendored in the groth16py wheel)."""
    import groth16py

    return Path(groth16py.circomlib_path(2)) / "poseidon_constants.circom"


@lru_cache(maxsize=1)
def _parsed_constants() -> dict[str, dict[int, list[int]]]:
    path = constants_source()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ZKAIError(f"cannot read circomlib's Poseidon constants at {path}: {exc}") from exc
    # Drop the header comment: it contains numbers (the prime, round counts) that are not data.
    text = re.sub(r"//[^\n]*", "", text)
    functions = list(_FUNCTION.finditer(text))
    parsed: dict[str, dict[int, list[int]]] = {}
    for index, match in enumerate(functions):
        end = functions[index + 1].start() if index + 1 < len(functions) else len(text)
        body = text[match.end() : end]
        branches = list(_BRANCH.finditer(body))
        per_t: dict[int, list[int]] = {}
        for b_index, branch in enumerate(branches):
            b_end = branches[b_index + 1].start() if b_index + 1 < len(branches) else len(body)
            chunk = body[branch.end() : b_end].split("else")[0]
            per_t[int(branch.group(1))] = [int(n, 0) for n in _NUMBER.findall(chunk)]
        parsed[match.group(1)] = per_t
    return parsed


@lru_cache(maxsize=MAX_INPUTS)
def parameters(t: int) -> PoseidonParameters:
    """circomlib's constants for width t (2..17), checked for the expected sizes."""
    if not 2 <= t <= MAX_INPUTS + 1:
        raise ValueError(f"circomlib Poseidon supports widths 2..{MAX_INPUTS + 1}, not {t}")
    n_rounds_p = _N_ROUNDS_P[t - 2]
    tables = _parsed_constants()
    c = tables["C"].get(t, [])
    s = tables["S"].get(t, [])
    m = tables["M"].get(t, [])
    p = tables["P"].get(t, [])
    expected = {
        "C": (len(c), t * _N_ROUNDS_F + n_rounds_p),
        "S": (len(s), n_rounds_p * (2 * t - 1)),
        "M": (len(m), t * t),
        "P": (len(p), t * t),
    }
    for name, (got, want) in expected.items():
        if got != want:
            raise ZKAIError(
                f"circomlib POSEIDON_{name}({t}) in {constants_source()} has {got} constants, "
                f"expected {want}: the file format changed"
            )
    return PoseidonParameters(
        t=t,
        n_rounds_p=n_rounds_p,
        c=tuple(c),
        s=tuple(s),
        m=tuple(tuple(m[i * t : (i + 1) * t]) for i in range(t)),
        p=tuple(tuple(p[i * t : (i + 1) * t]) for i in range(t)),
    )


def _sbox(x: int) -> int:
    x2 = x * x % BN254_R
    return x2 * x2 % BN254_R * x % BN254_R


def _mix(state: list[int], matrix: tuple[tuple[int, ...], ...]) -> list[int]:
    t = len(state)
    return [sum(matrix[j][i] * state[j] for j in range(t)) % BN254_R for i in range(t)]


def poseidon(inputs: Sequence[int]) -> int:
    """circomlib `Poseidon(len(inputs))` of 1..16 field elements."""
    n = len(inputs)
    if not 1 <= n <= MAX_INPUTS:
        raise ValueError(f"circomlib Poseidon takes 1..{MAX_INPUTS} inputs, not {n}")
    require_field_elements(inputs, what="Poseidon input")
    t = n + 1
    prm = parameters(t)
    c, s = prm.c, prm.s
    half = _N_ROUNDS_F // 2

    state = [(v + c[i]) % BN254_R for i, v in enumerate([0, *inputs])]
    for r in range(half - 1):
        state = [(_sbox(v) + c[(r + 1) * t + i]) % BN254_R for i, v in enumerate(state)]
        state = _mix(state, prm.m)
    state = [(_sbox(v) + c[half * t + i]) % BN254_R for i, v in enumerate(state)]
    state = _mix(state, prm.p)

    for r in range(prm.n_rounds_p):
        first = (_sbox(state[0]) + c[(half + 1) * t + r]) % BN254_R
        base = (2 * t - 1) * r
        new_first = (s[base] * first + sum(s[base + i] * state[i] for i in range(1, t))) % BN254_R
        state = [new_first] + [
            (state[i] + first * s[base + t + i - 1]) % BN254_R for i in range(1, t)
        ]

    for r in range(half - 1):
        offset = (half + 1) * t + prm.n_rounds_p + r * t
        state = [(_sbox(v) + c[offset + i]) % BN254_R for i, v in enumerate(state)]
        state = _mix(state, prm.m)
    state = [_sbox(v) for v in state]
    return sum(prm.m[j][0] * state[j] for j in range(t)) % BN254_R


def chunk_layout(length: int) -> list[int]:
    """How many fresh values each Poseidon call of `hash_vector` absorbs, in order.

    The first call takes up to 16 values; every later call takes the running hash plus up to
    15 values. The circuit generator builds the same chain from this list.
    """
    if length < 1:
        raise ValueError("hash_vector needs at least one value")
    layout = [min(length, MAX_INPUTS)]
    remaining = length - layout[0]
    while remaining > 0:
        layout.append(min(remaining, MAX_INPUTS - 1))
        remaining -= layout[-1]
    return layout


def hash_vector(values: Sequence[int]) -> int:
    """The project's Poseidon hash of a vector of any length (see the module docstring)."""
    require_field_elements(values, what="hashed value")
    layout = chunk_layout(len(values))
    h = poseidon(values[: layout[0]])
    position = layout[0]
    for size in layout[1:]:
        h = poseidon([h, *values[position : position + size]])
        position += size
    return h
