"""Encrypted keystores: wallets, node identities, ape keyfiles."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account
from nacl.public import PublicKey, SealedBox

from zkai.errors import KeystoreError
from zkai.wallet import Keystore, load_ape_account, passphrase_from_env

PASS = "correct horse battery staple"
# A well-known test vector (anvil/hardhat account 0): never holds value.
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_ADDR_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
TEST_MNEMONIC = "test test test test test test test test test test test junk"


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    return Keystore(tmp_path, scrypt_n=2**4)


def test_create_wallet_round_trips_and_hides_the_key(keystore: Keystore) -> None:
    info, mnemonic = keystore.create_wallet("alice", PASS)
    assert len(mnemonic.split()) == 12
    account = keystore.unlock_wallet("alice", PASS)
    assert account.address == info.address
    raw = info.path.read_text()
    assert account.key.hex().removeprefix("0x") not in raw
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    # The mnemonic shown once restores the same account.
    restored = Account.from_mnemonic(mnemonic, account_path="m/44'/60'/0'/0/0")
    assert restored.address == info.address


def test_unlock_wallet_with_wrong_passphrase_raises(keystore: Keystore) -> None:
    keystore.create_wallet("alice", PASS)
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        keystore.unlock_wallet("alice", "not it")


def test_import_private_key_and_mnemonic_give_the_known_address(keystore: Keystore) -> None:
    assert keystore.import_private_key("k", ANVIL_KEY_0, PASS).address == ANVIL_ADDR_0
    assert keystore.import_mnemonic("m", TEST_MNEMONIC, PASS).address == ANVIL_ADDR_0
    assert [w.name for w in keystore.list_wallets()] == ["k", "m"]
    assert {w.address for w in keystore.list_wallets()} == {ANVIL_ADDR_0}


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("key", "0x1234", "not a valid private key"),
        ("mnemonic", "apple banana cherry", "not a valid BIP-39 mnemonic"),
    ],
)
def test_import_rejects_malformed_secrets(
    keystore: Keystore, kind: str, value: str, message: str
) -> None:
    importer = keystore.import_private_key if kind == "key" else keystore.import_mnemonic
    with pytest.raises(KeystoreError, match=message):
        importer("x", value, PASS)
    assert keystore.list_wallets() == []


def test_existing_wallet_is_never_overwritten(keystore: Keystore) -> None:
    keystore.import_private_key("alice", ANVIL_KEY_0, PASS)
    before = keystore.wallet_path("alice").read_text()
    with pytest.raises(KeystoreError, match="already exists"):
        keystore.create_wallet("alice", PASS)
    assert keystore.wallet_path("alice").read_text() == before


@pytest.mark.parametrize("name", ["", "../escape", "a/b", "-dash", "x" * 65])
def test_bad_names_are_refused(keystore: Keystore, name: str) -> None:
    with pytest.raises(KeystoreError, match="invalid name"):
        keystore.create_wallet(name, PASS)


def test_empty_passphrase_is_refused(keystore: Keystore) -> None:
    with pytest.raises(KeystoreError, match="empty passphrase"):
        keystore.create_wallet("alice", "")


def test_node_identity_decrypts_what_was_sealed_to_its_public_key(keystore: Keystore) -> None:
    info = keystore.create_node("node-1", PASS, private_key=ANVIL_KEY_0)
    assert info.address == ANVIL_ADDR_0
    public = keystore.node_public_key("node-1")
    sealed = SealedBox(PublicKey(public)).encrypt(b"share")
    node = keystore.unlock_node("node-1", PASS)
    assert node.account.address == ANVIL_ADDR_0
    assert node.encryption_public_key == public
    assert SealedBox(node.encryption_key).decrypt(sealed) == b"share"
    stored = json.loads((info.path / "encryption-key.json").read_text())
    assert bytes(node.encryption_key).hex() not in json.dumps(stored)
    assert [n.name for n in keystore.list_nodes()] == ["node-1"]


def test_node_wrong_passphrase_and_missing_node(keystore: Keystore) -> None:
    keystore.create_node("node-1", PASS)
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        keystore.unlock_node("node-1", "nope")
    with pytest.raises(KeystoreError, match="zkai node init node-2"):
        keystore.node_public_key("node-2")


def test_ape_keyfile_is_usable_by_alias(tmp_path: Path) -> None:
    (tmp_path / "accounts").mkdir()
    keyfile = Account.encrypt(ANVIL_KEY_0, PASS, iterations=2**4)
    (tmp_path / "accounts" / "deployer.json").write_text(json.dumps(keyfile))
    assert load_ape_account("deployer", PASS, ape_data_folder=tmp_path).address == ANVIL_ADDR_0


def test_passphrase_from_env() -> None:
    assert passphrase_from_env({"ZKAI_PASSPHRASE": "s3cret"}) == "s3cret"
    assert passphrase_from_env({"ZKAI_PASSPHRASE": ""}) is None
    assert passphrase_from_env({}) is None


def test_training_key_is_sealed_private_and_destroyable(keystore: Keystore) -> None:
    secret = bytes(range(256)) * 40
    path = keystore.save_training_key("round-1", secret, "pw", "ab" * 32)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret.hex() not in path.read_text()
    assert keystore.load_training_key("round-1", "pw") == secret
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        keystore.load_training_key("round-1", "not pw")
    with pytest.raises(KeystoreError, match="already exists"):
        keystore.save_training_key("round-1", secret, "pw", "ab" * 32)
    assert keystore.destroy_training_key("round-1") is True
    with pytest.raises(KeystoreError, match="only the key holder"):
        keystore.load_training_key("round-1", "pw")
    assert keystore.destroy_training_key("round-1") is False
