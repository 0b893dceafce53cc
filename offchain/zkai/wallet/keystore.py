"""Encrypted keystores for wallets, node identities and training key holders.

- An Ethereum account is stored as a Web3 Secret Storage (v3) keyfile written by eth-account
  (scrypt + AES-128-CTR + keccak MAC), the same format ape, geth and foundry use, so a keyfile from
  `~/.ape/accounts/<alias>.json` can be used directly.
- A node's share-encryption key (an X25519 secret, see `zkai.crypto.encryption`) is stored beside
  its account, encrypted with PyNaCl: Argon2id derives a key from the passphrase and a SecretBox
  (XSalsa20-Poly1305) seals the secret. Only the public key is readable without the passphrase.
- A training round's CKKS secret key (the key holder's TenSEAL context) is sealed the same way,
  under `training-keys/<round id>.json`, and deleted once the round's sum is decrypted.

Passphrases come from the `ZKAI_PASSPHRASE` environment variable for non-interactive use, or from a
prompt at the CLI edge; they are never logged or written anywhere.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils
from eth_account import Account
from eth_account.signers.local import LocalAccount
from nacl.public import PrivateKey

from zkai.errors import KeystoreError

PASSPHRASE_ENV = "ZKAI_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENCRYPTION_KEY_FORMAT = "zkai-x25519-argon2id-secretbox-v1"
_TRAINING_KEY_FORMAT = "zkai-ckks-secret-argon2id-secretbox-v1"

Account.enable_unaudited_hdwallet_features()


def passphrase_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The passphrase from ZKAI_PASSPHRASE, or None when it is not set."""
    value = (os.environ if env is None else env).get(PASSPHRASE_ENV)
    return value if value else None


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise KeystoreError(
            f"invalid name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _write_private(path: Path, data: Mapping[str, Any]) -> None:
    """Write a secret-bearing file readable by the owner only, never replacing an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeystoreError(f"{path} already exists; choose another name") from None
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)


def _decrypt_keyfile(path: Path, passphrase: str) -> LocalAccount:
    try:
        keyfile = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeystoreError(f"no keystore at {path}") from None
    except json.JSONDecodeError as exc:
        raise KeystoreError(f"{path} is not a JSON keyfile: {exc}") from None
    try:
        key = Account.decrypt(keyfile, passphrase)
    except ValueError:
        raise KeystoreError(f"wrong passphrase for {path}") from None
    account: LocalAccount = Account.from_key(key)
    return account


def load_ape_account(
    alias: str, passphrase: str, ape_data_folder: Path | None = None
) -> LocalAccount:
    """Unlock an account created with `ape accounts generate/import <alias>`."""
    folder = ape_data_folder or Path(os.environ.get("APE_DATA_FOLDER", Path.home() / ".ape"))
    return _decrypt_keyfile(folder / "accounts" / f"{_check_name(alias)}.json", passphrase)


@dataclass(frozen=True)
class WalletInfo:
    name: str
    address: str
    path: Path


@dataclass(frozen=True)
class NodeIdentity:
    """An unlocked node: its Ethereum account and its X25519 share-decryption key."""

    name: str
    account: LocalAccount
    encryption_key: PrivateKey

    @property
    def encryption_public_key(self) -> bytes:
        return bytes(self.encryption_key.public_key)


class Keystore:
    """Wallets in `<root>/wallets/<name>.json`, nodes in `<root>/nodes/<name>/`.

    `scrypt_n` lowers the keyfile work factor for throw-away local networks and tests; leave it
    None (eth-account's default, n = 2**18) for keys that hold value.
    """

    def __init__(self, root: Path, scrypt_n: int | None = None) -> None:
        self.root = root
        self._scrypt_n = scrypt_n

    # -- wallets -----------------------------------------------------------------------------

    def wallet_path(self, name: str) -> Path:
        return self.root / "wallets" / f"{_check_name(name)}.json"

    def _store_account(self, path: Path, private_key: bytes, passphrase: str) -> str:
        if not passphrase:
            raise KeystoreError(f"an empty passphrase is not allowed; set {PASSPHRASE_ENV}")
        keyfile = Account.encrypt(private_key, passphrase, iterations=self._scrypt_n)
        _write_private(path, keyfile)
        return str(Account.from_key(private_key).address)

    def create_wallet(self, name: str, passphrase: str) -> tuple[WalletInfo, str]:
        """A new random wallet; returns its info and the mnemonic to back it up (shown once)."""
        account, mnemonic = Account.create_with_mnemonic()
        path = self.wallet_path(name)
        address = self._store_account(path, account.key, passphrase)
        return WalletInfo(name, address, path), mnemonic

    def import_private_key(self, name: str, private_key: str, passphrase: str) -> WalletInfo:
        try:
            account = Account.from_key(private_key.strip())
        except (ValueError, TypeError) as exc:
            raise KeystoreError(f"not a valid private key: {exc}") from None
        path = self.wallet_path(name)
        return WalletInfo(name, self._store_account(path, account.key, passphrase), path)

    def import_mnemonic(
        self, name: str, mnemonic: str, passphrase: str, account_index: int = 0
    ) -> WalletInfo:
        try:
            account = Account.from_mnemonic(
                " ".join(mnemonic.split()), account_path=f"m/44'/60'/0'/0/{account_index}"
            )
        except Exception as exc:  # eth-account raises several types for a bad phrase
            raise KeystoreError(f"not a valid BIP-39 mnemonic: {exc}") from None
        path = self.wallet_path(name)
        return WalletInfo(name, self._store_account(path, account.key, passphrase), path)

    def list_wallets(self) -> list[WalletInfo]:
        folder = self.root / "wallets"
        wallets = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                address = json.loads(path.read_text())["address"]
            except (json.JSONDecodeError, KeyError):
                continue
            wallets.append(WalletInfo(path.stem, "0x" + address.removeprefix("0x"), path))
        return wallets

    def unlock_wallet(self, name: str, passphrase: str) -> LocalAccount:
        return _decrypt_keyfile(self.wallet_path(name), passphrase)

    # -- nodes -------------------------------------------------------------------------------

    def node_dir(self, name: str) -> Path:
        return self.root / "nodes" / _check_name(name)

    def create_node(
        self, name: str, passphrase: str, private_key: str | bytes | None = None
    ) -> WalletInfo:
        """A node identity: an Ethereum account (new, or from `private_key`) and an X25519 key."""
        folder = self.node_dir(name)
        if folder.exists():
            raise KeystoreError(f"node {name!r} already exists at {folder}")
        key = Account.from_key(private_key).key if private_key is not None else Account.create().key
        address = self._store_account(folder / "account.json", key, passphrase)
        secret = PrivateKey.generate()
        _write_private(
            folder / "encryption-key.json",
            {
                "format": _ENCRYPTION_KEY_FORMAT,
                "public_key": bytes(secret.public_key).hex(),
                **self._seal(bytes(secret), passphrase),
            },
        )
        return WalletInfo(name, address, folder)

    def _seal(self, secret: bytes, passphrase: str) -> dict[str, Any]:
        """Argon2id(passphrase, fresh salt) -> SecretBox key; the sealed secret and KDF costs."""
        salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
        box_key = self._derive_box_key(passphrase, salt)
        return {
            "salt": salt.hex(),
            "opslimit": self._opslimit,
            "memlimit": self._memlimit,
            "ciphertext": nacl.secret.SecretBox(box_key).encrypt(secret).hex(),
        }

    def _unseal(self, data: Mapping[str, Any], passphrase: str, what: str) -> bytes:
        box_key = self._derive_box_key(
            passphrase, bytes.fromhex(data["salt"]), int(data["opslimit"]), int(data["memlimit"])
        )
        try:
            secret: bytes = nacl.secret.SecretBox(box_key).decrypt(
                bytes.fromhex(data["ciphertext"])
            )
        except nacl.exceptions.CryptoError:
            raise KeystoreError(f"wrong passphrase for {what}") from None
        return secret

    @property
    def _opslimit(self) -> int:
        argon = nacl.pwhash.argon2id
        return int(argon.OPSLIMIT_INTERACTIVE if self._scrypt_n else argon.OPSLIMIT_MODERATE)

    @property
    def _memlimit(self) -> int:
        argon = nacl.pwhash.argon2id
        return int(argon.MEMLIMIT_INTERACTIVE if self._scrypt_n else argon.MEMLIMIT_MODERATE)

    def _derive_box_key(
        self, passphrase: str, salt: bytes, opslimit: int | None = None, memlimit: int | None = None
    ) -> bytes:
        key: bytes = nacl.pwhash.argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE,
            passphrase.encode(),
            salt,
            opslimit=opslimit or self._opslimit,
            memlimit=memlimit or self._memlimit,
        )
        return key

    def node_public_key(self, name: str) -> bytes:
        """The node's X25519 public key (no passphrase needed)."""
        return bytes.fromhex(self._read_encryption_file(name)["public_key"])

    def _read_encryption_file(self, name: str) -> dict[str, Any]:
        path = self.node_dir(name) / "encryption-key.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeystoreError(
                f"no node {name!r} (missing {path}); run `zkai node init {name}`"
            ) from None
        if data.get("format") != _ENCRYPTION_KEY_FORMAT:
            raise KeystoreError(f"{path} has unknown format {data.get('format')!r}")
        return data

    def unlock_node(self, name: str, passphrase: str) -> NodeIdentity:
        account = _decrypt_keyfile(self.node_dir(name) / "account.json", passphrase)
        data = self._read_encryption_file(name)
        key = PrivateKey(self._unseal(data, passphrase, f"node {name!r}"))
        if bytes(key.public_key).hex() != data["public_key"]:
            raise KeystoreError(f"node {name!r}: encryption key does not match its public key")
        return NodeIdentity(name, account, key)

    # -- training key holders ----------------------------------------------------------------

    def training_key_path(self, round_id: str) -> Path:
        return self.root / "training-keys" / f"{_check_name(round_id)}.json"

    def save_training_key(
        self, round_id: str, secret_context: bytes, passphrase: str, fingerprint: str
    ) -> Path:
        """Seal a round's CKKS secret context (TenSEAL bytes) under the passphrase."""
        path = self.training_key_path(round_id)
        _write_private(
            path,
            {
                "format": _TRAINING_KEY_FORMAT,
                "round": round_id,
                "context_fingerprint": fingerprint,
                **self._seal(secret_context, passphrase),
            },
        )
        return path

    def load_training_key(self, round_id: str, passphrase: str) -> bytes:
        """The round's CKKS secret context (`KeystoreError`: missing, or a wrong passphrase)."""
        path = self.training_key_path(round_id)
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeystoreError(
                f"no key for training round {round_id!r} at {path}: only the key holder that "
                "opened the round (`zkai train open`) can finalise it"
            ) from None
        if data.get("format") != _TRAINING_KEY_FORMAT:
            raise KeystoreError(f"{path} has unknown format {data.get('format')!r}")
        return self._unseal(data, passphrase, f"training round {round_id!r}'s key")

    def destroy_training_key(self, round_id: str) -> bool:
        """Delete a round's key once its sum is decrypted (no later decryption is possible)."""
        path = self.training_key_path(round_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def list_nodes(self) -> list[WalletInfo]:
        folder = self.root / "nodes"
        nodes = []
        for node_dir in sorted(folder.iterdir()) if folder.is_dir() else []:
            try:
                address = json.loads((node_dir / "account.json").read_text())["address"]
            except (OSError, json.JSONDecodeError, KeyError):
                continue
            nodes.append(WalletInfo(node_dir.name, "0x" + address.removeprefix("0x"), node_dir))
        return nodes
