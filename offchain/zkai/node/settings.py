"""Settings only the version-2 node reads, from ZKAI_NODE_* variables (next to `zkai.config`'s
shared `Settings`, which keeps the broker, lock and poll settings the node also uses)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["NodeSettings", "get_node_settings"]


class NodeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZKAI_NODE_", env_file=None, extra="ignore")

    confirmations: int = Field(default=0, ge=0)
    """Blocks behind the head that the node treats as final (0 on a local network)."""

    deadline_margin_s: int = Field(default=5, ge=0)
    """A round is served only if chain time + this margin is before the round deadline."""

    host: str = "127.0.0.1"
    port: int = Field(default=8710, ge=1, le=65535)
    """Where `zkai node run` listens for rounds (POST /v2/rounds)."""

    prove_estimate_s: float = Field(default=15.0, gt=0)
    """Proving time assumed for a part that this node has not proven yet (capacity check)."""

    capacity_margin_s: float = Field(default=10.0, ge=0)
    """Every proof must be planned to finish this long before its proof deadline."""

    claim_workers: int = Field(default=1, ge=1)
    """Proofs the node's claim workers run at once (the capacity model's servers)."""


@lru_cache(maxsize=1)
def get_node_settings() -> NodeSettings:
    return NodeSettings()
