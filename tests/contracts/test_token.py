"""ZKAIToken: cap, minting role, permit."""

from __future__ import annotations

import ape

from tests.contracts.conftest import INITIAL_SUPPLY, SUPPLY_CAP


def test_constructor_mints_initial_supply_under_cap(token, owner):
    assert (token.name(), token.symbol(), token.decimals()) == ("ZKAI Token", "ZKAI", 18)
    assert token.cap() == SUPPLY_CAP
    assert token.totalSupply() == INITIAL_SUPPLY
    assert token.hasRole(token.DEFAULT_ADMIN_ROLE(), owner)


def test_mint_by_minter_up_to_cap(token, owner, stranger):
    token.grantRole(token.MINTER_ROLE(), owner, sender=owner)
    token.mint(stranger, SUPPLY_CAP - INITIAL_SUPPLY, sender=owner)
    assert token.totalSupply() == SUPPLY_CAP
    with ape.reverts(token.ERC20ExceededCap, increasedSupply=SUPPLY_CAP + 1, cap=SUPPLY_CAP):
        token.mint(stranger, 1, sender=owner)


def test_mint_without_role_reverts(token, owner):
    with ape.reverts(
        token.AccessControlUnauthorizedAccount,
        account=owner.address,
        neededRole=token.MINTER_ROLE(),
    ):
        token.mint(owner, 1, sender=owner)
