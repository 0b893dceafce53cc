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

    deployments_dir: Path | None = None
    """Where deployment records live; default the repository's deployments/ folder."""

    rpc_url: str = "http://127.0.0.1:8545"
    redis_url: str = "redis://127.0.0.1:6379/0"

    database_url: str | None = None
    """SQLAlchemy URL of the API's event index; default sqlite:///<data_dir>/index.db."""

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    index_poll_interval: float = Field(default=1.0, gt=0)
    """Seconds between the API indexer's polls of the chain head."""

    @property
    def artifacts_path(self) -> Path:
        return self.artifacts_dir or self.data_dir / "artifacts"

    @property
    def index_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'index.db'}"

    @property
    def reward_distributions_dir(self) -> Path:
        """Published reward epochs (`<root hex>.json`), read by the API to show unclaimed rewards."""
        return self.data_dir / "rewards"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
