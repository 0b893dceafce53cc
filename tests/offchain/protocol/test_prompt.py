"""The prompt's later tokens: the digest that is round 1's salt, and which rounds carry a proof
(`zkai.protocol.prompt`)."""

from __future__ import annotations

import pytest

from zkai.errors import EncodingOverflowError, ShareError
from zkai.protocol.prompt import prompt_digest, prompt_length, prompt_position, prompt_round

ROWS = ((11, 12, 13), (21, 22, 23))


def test_the_digest_binds_every_commitment_its_place_and_the_length() -> None:
    d = prompt_digest(ROWS)
    assert prompt_length(ROWS) == 4
    changed = [
        ((11, 12, 14), ROWS[1]),  # one commitment
        (ROWS[1], ROWS[0]),  # the nodes' order
        ((12, 11, 13), ROWS[1]),  # the positions' order
        (ROWS[0][:2], ROWS[1][:2]),  # a shorter prompt
        (ROWS[0],),  # fewer nodes
    ]
    assert len({d, *(prompt_digest(r) for r in changed)}) == 1 + len(changed)
    assert prompt_digest(((), ())) != prompt_digest(((),))  # a one-token prompt, k bound
    with pytest.raises(ShareError, match="differ in length"):
        prompt_digest(((1, 2), (3,)))
    with pytest.raises(ShareError, match="none"):
        prompt_digest(())
    with pytest.raises(EncodingOverflowError, match="not a field element"):
        prompt_digest(((2**255,),))


def test_which_rounds_introduce_a_prompt_token() -> None:
    # stride 2 (two rounds per pass), a prompt of 3 tokens: rounds 3 and 5
    assert [prompt_round(2, t) for t in range(3)] == [1, 3, 5]
    found = {i: prompt_position(2, i, 3) for i in range(1, 9)}
    assert found == {1: None, 2: None, 3: 1, 4: None, 5: 2, 6: None, 7: None, 8: None}
    assert prompt_position(1, 2, 3) == 1
    assert prompt_position(0, 1, 3) is None
