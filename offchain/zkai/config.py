"""One settings object for every process (CLI, node workers, API), read from the environment.

Variables are prefixed with ``ZKAI_`` (for example ``ZKAI_RPC_URL``). Secrets are never given
defaults that are accepted outside development.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.home() / ".zkai"


class Settings(BaseSettings):
    """Configuration shared by every ZKAI process."""

    model_config = SettingsConfigDict(env_prefix="ZKAI_", env_file=None, extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(default_factory=_default_data_dir)
    """Keystores, chain cursors and local-network state live here."""

    artifacts_dir: Path | None = None
    """Circuit artifacts (keys, verifiers), cached by content hash; default <data_dir>/artifacts."""

    network: str = "local"
    """Deployment record to use: deployments/<network>.json (`local` for anvil)."""

    rpc_url: str = "http://127.0.0.1:8545"
    redis_url: str = "redis://127.0.0.1:6379/0"

    @property
    def artifacts_path(self) -> Path:
        return self.artifacts_dir or self.data_dir / "artifacts"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
