"""The prompt's later tokens under a language model's validity rule (PROTOCOL.md, "User validity
proof": every round that introduces a token carries its own one-position proof).

The request's on-chain proof covers part 0's round 1, the prompt's first token. For the rest of
the prompt (L tokens, at part 0's rounds R t + 1 for 0 < t < L, R = its rounds per pass), the
user deals every prompt round before paying, which it can because the round's input depends only
on (t, token t), and commits to them all at once:

    rows[a]   = (c_{R+1}, c_{2R+1}, ..., c_{R(L-1)+1}) of part 0's node a, in the request's order
    digest D  = hash_vector(PROMPT_DOMAIN, L, k, rows[0]..., rows[k-1]...)

Round 1's salt for node a is Poseidon(D, rho_a), rho_a the salt its payload's seed gives (secret
to node a, so c_1 stays hidden from the other nodes, who know D), and the validity circuit proves,
at position 0, that every round-1 salt is Poseidon(D, rho_a) for one D. So the on-chain proof
makes every node of part 0 hold the same D: round 1's request carries `rows` and each node checks
that its c_1 opens with salt = Poseidon(digest of the rows it received, its rho_a). Every node of
part 0 thus holds the same commitments for every prompt round. At round R t + 1 the node checks
that its c_i is rows[a][t-1] and that the round carries a validity proof of position t for the
column (rows[0][t-1], ..., rows[k-1][t-1]), verified by the version's registered verifier
(eth_call): the shares the k nodes receive at that round sum to an allowed token's input at
position t.

Not covered: the tokens a generation appends (the user samples them, after the request, so their
rounds cannot be committed in advance); where the prompt ends is the user's choice (a user could
declare a one-token prompt and append the rest), so a policy filters what is declared the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

from zkai.crypto.field import require_field_elements
from zkai.crypto.poseidon import hash_vector, poseidon
from zkai.errors import ShareError

__all__ = [
    "PROMPT_DOMAIN",
    "first_round_salt",
    "prompt_digest",
    "prompt_length",
    "prompt_position",
    "prompt_round",
]

PROMPT_DOMAIN = int.from_bytes(b"zkai/prompt/v1", "big")


def prompt_length(rows: Sequence[Sequence[int]]) -> int:
    """L, the prompt's tokens: one more than each row's length (all rows alike)."""
    if not rows:
        raise ShareError("the prompt's commitments need one row per node of part 0, got none")
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ShareError("the prompt's commitment rows differ in length")
    return width + 1


def prompt_digest(rows: Sequence[Sequence[int]]) -> int:
    """D = hash_vector(PROMPT_DOMAIN, L, k, rows...) (module docstring): round 1's salt."""
    length = prompt_length(rows)
    values = [PROMPT_DOMAIN, length, len(rows), *(c for row in rows for c in row)]
    require_field_elements(values, what="prompt commitment")
    return hash_vector(values)


def first_round_salt(digest: int, rho: int) -> int:
    """Round 1's salt of one node of part 0: Poseidon(D, rho) (module docstring)."""
    require_field_elements([digest, rho], what="round-1 salt input")
    return poseidon([digest, rho])


def prompt_round(stride: int, position: int) -> int:
    """Part 0's round that introduces the prompt's token at `position` (R t + 1)."""
    return stride * position + 1


def prompt_position(stride: int, round_index: int, length: int) -> int | None:
    """t if part 0's round `round_index` introduces the prompt's token t with 0 < t < L, else
    None (round 1, a round inside a pass, or a generated token's round)."""
    if stride < 1 or (round_index - 1) % stride:
        return None
    t = (round_index - 1) // stride
    return t if 0 < t < length else None
