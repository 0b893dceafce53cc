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


def api_url_for(host: str, port: int) -> str:
    """The URL of the API listening on `host`:`port`: for `zkai api`, `zkai up` and clients."""
    return f"http://{host}:{port}"


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

    # -- node service (`zkai node run`); see zkai.node ----------------------------------------
    node_name: str | None = None
    """The node identity a Celery worker process serves (set by `zkai node run` for its worker)."""

    node_broker_url: str | None = None
    """Celery broker of the node service; default `redis_url`."""

    node_result_backend: str | None = None
    """Celery result backend of the node service; default `redis_url`."""

    node_concurrency: int = Field(default=2, ge=1)
    """Celery claim worker processes per node (each proves one assignment at a time)."""

    node_poll_interval_s: float = Field(default=1.0, gt=0)
    """How often the claim scheduler looks for assignments due (a round that uses up its budget
    wakes it at once)."""

    node_requeue_after_s: float = Field(default=60.0, gt=0)
    """An enqueued share not finished after this long may be enqueued again by reconciliation."""

    node_lock_ttl_s: float = Field(default=30.0, gt=0)
    """How long a claim's lock outlives a holder that stopped renewing it (a heartbeat renews it
    every third of this while the task runs, however long the task takes): a holder that died on
    another machine frees it within this; on the same machine it is taken over at once. Long
    enough that a heartbeat starved by a busy machine (a chunk proof of tiny-lm takes tens of
    seconds on two loaded cores) does not lose the lock mid-proof."""

    node_visibility_timeout_s: int = Field(default=20, ge=1)
    """Redis broker: a task delivered to a worker whose main process died is redelivered after
    this many seconds; well within the market's 60 s minimum deadline window."""

    node_parent_pid: int | None = None
    """Set by `zkai node run` for its worker: the worker exits when this process dies."""

    node_task_pause_s: float = Field(default=0.0, ge=0)
    """FAULT TESTS ONLY: pause inside each task after taking its lock, to kill a worker there."""

    @property
    def node_broker(self) -> str:
        return self.node_broker_url or self.redis_url

    @property
    def node_backend(self) -> str:
        return self.node_result_backend or self.redis_url

    database_url: str | None = None
    """SQLAlchemy URL of the API's event index; default sqlite:///<data_dir>/index.db."""

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_url: str | None = None
    """Where clients reach the API (manifests, training rounds, rewards); default
    http://<api_host>:<api_port>."""
    index_poll_interval: float = Field(default=1.0, gt=0)
    """Seconds between the API indexer's polls of the chain head."""
    api_threads: int = Field(default=40, ge=1)
    """Threads that run the API's database reads; the index's connection pool holds as many
    (and as many again in reserve), so a request never waits for a connection: a crowd beyond
    this waits for a thread, in order, instead of failing."""
    api_cache_ttl_s: float = Field(default=2.0, ge=0)
    """How long the dashboard's aggregates (/api/stats, /api/stats/timeseries, /api/token) are
    served from memory, unless new blocks were indexed meanwhile; 0 computes every request."""
    api_health_max_lag_blocks: int = Field(default=10, ge=0)
    """/api/health answers 503 when the index is more blocks than this behind the chain head."""

    @property
    def api_base_url(self) -> str:
        return (self.api_url or api_url_for(self.api_host, self.api_port)).rstrip("/")

    @property
    def manifests_path(self) -> Path:
        """Model manifests by content hash (`zkai.models.store`)."""
        return self.data_dir / "manifests"

    @property
    def artifacts_path(self) -> Path:
        return self.artifacts_dir or self.data_dir / "artifacts"

    @property
    def index_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'index.db'}"

    @property
    def reward_distributions_dir(self) -> Path:
        """Published reward epochs (`<root hex>.json`): the API shows their unclaimed rewards."""
        return self.data_dir / "rewards"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
