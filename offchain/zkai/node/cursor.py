"""A block cursor persisted on disk, so the listener survives restarts of itself, Redis and the RPC.

The cursor is the last block whose events have been *enqueued*. It lives in a file (not in Redis:
a Redis that keeps nothing on disk would lose it on restart) and is replaced atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


class BlockCursor:
    def __init__(self, path: Path, start_block: int) -> None:
        self.path = path
        self._start_block = start_block

    def load(self) -> int:
        """The last processed block, or `start_block - 1` before the first run."""
        try:
            return int(json.loads(self.path.read_text())["last_block"])
        except FileNotFoundError:
            return self._start_block - 1

    def save(self, last_block: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".cursor-")
        with os.fdopen(fd, "w") as handle:
            json.dump({"last_block": last_block}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
