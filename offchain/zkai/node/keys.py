"""A node's keys: the operator account, and generations of (ack signer, encryption key).

The operator account (`account.json`, the v1 Ethereum keyfile made by `Keystore.create_node`) is
the node's address: it stakes, registers and sends claims. What users rely on during a query is
a pair of keys the market records per assignment at request time: the ack signer (a secp256k1
key that signs `Ack`s) and the X25519 key payloads are sealed to. `zkai node rotate-keys` makes a
new pair (a new *generation*) and registers it, but a query in flight still carries the old
pair, so the node keeps every generation and picks, per assignment, the one whose public parts
equal what the market recorded.

On disk, in the node's directory, one file per generation, written once, mode 0600:

    keyring/gen-<n>.json  {"format", "generation", "created", "ack_signer", "encryption_key",
                           "ack": <Ethereum keyfile (scrypt)>, "encryption": <Ethereum keyfile
                           format (scrypt) around the raw X25519 secret>}

Both secrets are encrypted under the node's passphrase exactly as v1's keyfiles are; nothing here
prints or logs a secret. The v1 `encryption-key.json` that `Keystore.create_node` writes is not
used by protocol version 2.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keyfile.keyfile import create_keyfile_json, decode_keyfile_json
from eth_utils.address import to_checksum_address
from nacl.public import PrivateKey

from zkai.errors import KeystoreError
from zkai.wallet.keystore import Keystore, NodeIdentity

__all__ = ["KeyGeneration", "NodeKeys", "UnlockedNode", "create_generation", "unlock"]

_FORMAT = "zkai-node-keys/2"
_DIR = "keyring"


@dataclass(frozen=True)
class KeyGeneration:
    """One unlocked generation of a node's query keys."""

    generation: int
    ack_account: LocalAccount
    encryption_secret: bytes

    @property
    def ack_signer(self) -> str:
        return str(self.ack_account.address)

    @property
    def encryption_key(self) -> bytes:
        return bytes(PrivateKey(self.encryption_secret).public_key)


@dataclass(frozen=True)
class UnlockedNode:
    """The operator account and every key generation, unlocked."""

    name: str
    operator: LocalAccount
    generations: tuple[KeyGeneration, ...]

    @property
    def address(self) -> str:
        return str(self.operator.address)

    @property
    def current(self) -> KeyGeneration:
        return self.generations[-1]

    def by_encryption_key(self, public_key: bytes) -> KeyGeneration | None:
        """The generation whose X25519 public key is `public_key` (recorded by the market)."""
        return next((g for g in self.generations if g.encryption_key == bytes(public_key)), None)

    def by_ack_signer(self, address: str) -> KeyGeneration | None:
        wanted = to_checksum_address(address)
        return next((g for g in self.generations if g.ack_signer == wanted), None)


def _keyring(node_dir: Path) -> Path:
    return node_dir / _DIR


def _write_private(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        raise KeystoreError(f"{path} already exists; key generations are written once")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)


class NodeKeys:
    """The key generations of the node `name` in `keystore` (module docstring)."""

    def __init__(self, keystore: Keystore, name: str, scrypt_n: int | None = None) -> None:
        self.keystore = keystore
        self.name = name
        self.node_dir = keystore.node_dir(name)
        self._scrypt_n = scrypt_n if scrypt_n is not None else keystore._scrypt_n

    def paths(self) -> list[Path]:
        folder = _keyring(self.node_dir)
        found = sorted(
            folder.glob("gen-*.json") if folder.is_dir() else [],
            key=lambda p: int(p.stem.removeprefix("gen-")),
        )
        return found

    def public(self) -> list[dict[str, Any]]:
        """Every generation's public parts (no passphrase needed)."""
        return [
            {k: v for k, v in json.loads(p.read_text()).items() if k not in ("ack", "encryption")}
            for p in self.paths()
        ]

    def create(self, passphrase: str) -> dict[str, Any]:
        """A new generation (the next number); returns its public parts."""
        if not passphrase:
            raise KeystoreError("node keys need a non-empty passphrase")
        if not (self.node_dir / "account.json").exists():
            raise KeystoreError(f"no node {self.name!r}; run `zkai node init {self.name}` first")
        number = len(self.paths())
        ack = Account.create()
        secret = PrivateKey.generate()
        kdf: dict[str, Any] = {"kdf": "scrypt"}
        if self._scrypt_n:
            kdf["iterations"] = self._scrypt_n
        public = {
            "format": _FORMAT,
            "generation": number,
            "created": int(time.time()),
            "ack_signer": str(ack.address),
            "encryption_key": "0x" + bytes(secret.public_key).hex(),
        }
        record = {
            **public,
            "ack": create_keyfile_json(bytes(ack.key), passphrase, **kdf),
            "encryption": create_keyfile_json(bytes(secret), passphrase, **kdf),
        }
        _write_private(_keyring(self.node_dir) / f"gen-{number}.json", record)
        return public

    def unlock(self, passphrase: str) -> UnlockedNode:
        identity: NodeIdentity = self.keystore.unlock_node(self.name, passphrase)
        generations = []
        for path in self.paths():
            data = json.loads(path.read_text())
            if data.get("format") != _FORMAT:
                raise KeystoreError(f"{path} has unknown format {data.get('format')!r}")
            try:
                ack_key = decode_keyfile_json(data["ack"], passphrase)
                secret = decode_keyfile_json(data["encryption"], passphrase)
            except ValueError:
                raise KeystoreError(f"wrong passphrase for {path}") from None
            generation = KeyGeneration(int(data["generation"]), Account.from_key(ack_key), secret)
            if (
                generation.ack_signer != to_checksum_address(data["ack_signer"])
                or "0x" + generation.encryption_key.hex() != data["encryption_key"]
            ):
                raise KeystoreError(f"{path}: a secret does not match its public part")
            generations.append(generation)
        if not generations:
            raise KeystoreError(
                f"node {self.name!r} has no query keys; run `zkai node init {self.name}` again "
                "or `zkai node rotate-keys`"
            )
        return UnlockedNode(self.name, identity.account, tuple(generations))


def create_generation(
    keystore: Keystore, name: str, passphrase: str, scrypt_n: int | None = None
) -> dict[str, Any]:
    return NodeKeys(keystore, name, scrypt_n).create(passphrase)


def unlock(keystore: Keystore, name: str, passphrase: str) -> UnlockedNode:
    return NodeKeys(keystore, name).unlock(passphrase)
