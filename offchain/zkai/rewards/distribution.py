"""A reward epoch's published distribution: its (contributor, amount) leaves as a JSON file.

The key holder writes it when it posts the epoch (`publish_distribution`); the API's indexer reads
it (`load_distribution`) to show unclaimed rewards and to serve the leaves claimants rebuild the
tree from. One file per epoch, named by the epoch's Merkle root, so a file can only ever belong to
the epoch whose root its leaves rebuild.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from eth_utils.address import to_checksum_address

from zkai.rewards.merkle import RewardTree

__all__ = ["distribution_path", "load_distribution", "publish_distribution"]

log = logging.getLogger(__name__)


def distribution_path(directory: Path, root: bytes | str) -> Path:
    """Where a reward epoch's published (contributor, amount) leaves live: `<root hex>.json`."""
    hex_root = root.hex() if isinstance(root, bytes) else root.removeprefix("0x")
    return directory / f"{hex_root.lower()}.json"


def publish_distribution(directory: Path, tree: RewardTree) -> Path:
    """Write an epoch's leaves where the API finds them, so it can show unclaimed rewards."""
    directory.mkdir(parents=True, exist_ok=True)
    path = distribution_path(directory, tree.root)
    entries = [[account, str(amount)] for account, amount in tree.entries]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"root": "0x" + tree.root.hex(), "entries": entries}))
    tmp.replace(path)
    return path


def load_distribution(directory: Path, root: str) -> list[tuple[str, int]] | None:
    """The published leaves of the epoch with `root`, or None if absent or not matching it."""
    path = distribution_path(directory, root)
    try:
        data = json.loads(path.read_text())
        entries = [
            (to_checksum_address(str(account)), int(amount)) for account, amount in data["entries"]
        ]
        tree = RewardTree.of(entries)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if path.exists():
            log.warning("ignoring reward distribution %s: %s", path, exc)
        return None
    if "0x" + tree.root.hex() != root.lower():
        log.warning("ignoring reward distribution %s: its root is not the epoch's", path)
        return None
    return list(tree.entries)
