"""Everything one node process needs, built once from the settings and the unlocked keys.

The round endpoint, the claim workers and the scheduler each build their own `NodeRuntime` (own
chain connection, own SQLite handle on the shared store file, own Redis client).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from zkai.chain.client import ChainClient, connect
from zkai.config import Settings
from zkai.models.store import ManifestStore
from zkai.node.chainview import ChainView
from zkai.node.claims import ClaimProcessor
from zkai.node.keys import UnlockedNode
from zkai.node.parts import ServedParts
from zkai.node.rounds import RoundService
from zkai.node.settings import NodeSettings
from zkai.node.state import NodeState
from zkai.node.store import RoundStore
from zkai.wallet.keystore import Keystore

__all__ = ["NodeRuntime", "store_path"]


def store_path(settings: Settings, name: str, chain: ChainClient) -> Path:
    """The node's round store on this deployment (one file per chain and market)."""
    return NodeState.for_chain(Keystore(settings.data_dir).node_dir(name), chain).root / (
        "rounds.sqlite3"
    )


@dataclass
class NodeRuntime:
    node: UnlockedNode
    settings: Settings
    node_settings: NodeSettings
    chain: ChainClient
    view: ChainView
    store: RoundStore
    parts: ServedParts
    _redis: redis.Redis | None = field(default=None, init=False)

    @classmethod
    def build(
        cls,
        node: UnlockedNode,
        settings: Settings,
        node_settings: NodeSettings,
        chain: ChainClient | None = None,
    ) -> NodeRuntime:
        chain = chain or connect()
        view = ChainView(chain, node_settings.confirmations)
        store = RoundStore(store_path(settings, node.name, chain))
        parts = ServedParts(view, ManifestStore(settings.manifests_path))
        return cls(node, settings, node_settings, chain, view, store, parts)

    def rounds(self, on_claimable: Callable[[], None] | None = None) -> RoundService:
        return RoundService(
            self.node, self.view, self.store, self.parts, self.node_settings, on_claimable
        )

    def redis_client(self) -> redis.Redis:
        if self._redis is None:
            self._redis = redis.Redis.from_url(
                self.settings.node_broker, socket_connect_timeout=5, socket_timeout=30
            )
        return self._redis

    def claims(self, client: redis.Redis | None = None) -> ClaimProcessor:
        return ClaimProcessor(
            self.node,
            self.view,
            self.store,
            self.parts,
            client or self.redis_client(),
            lock_ttl_s=self.settings.node_lock_ttl_s,
            pause_s=self.settings.node_task_pause_s,
        )
