"""Encrypted keystores: user wallets, node identities (Ethereum account + share-encryption key)."""

from zkai.wallet.keystore import (
    Keystore,
    NodeIdentity,
    WalletInfo,
    load_ape_account,
    passphrase_from_env,
)

__all__ = ["Keystore", "NodeIdentity", "WalletInfo", "load_ape_account", "passphrase_from_env"]
