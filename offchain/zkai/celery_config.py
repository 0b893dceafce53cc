"""The one Celery configuration, shared by the node service and the training aggregation workers.

Both task sets are idempotent (`zkai.node.tasks`, `zkai.training.aggregate`), so tasks are
acknowledged late (`task_acks_late`) and a task whose worker process dies is put back
(`task_reject_on_worker_lost`); each worker process reserves one task at a time
(`worker_prefetch_multiplier=1`); messages are JSON only; Celery leaves the root logger alone.
Each application names its own default queue and adds what only it needs.

Redelivery. A task whose pool process dies is put back at once (`task_reject_on_worker_lost`). A
task whose worker *main* process dies (SIGKILL, OOM) stays delivered-but-unacknowledged in Redis
until the transport's `visibility_timeout` passes, and is then redelivered to the next worker: an
application whose tasks have deadlines passes a `visibility_timeout_s` well within them (the node
service does, `ZKAI_NODE_VISIBILITY_TIMEOUT_S`). A task still running when the timeout passes is
delivered a second time, so such tasks must be idempotent and locked (the node's are,
`zkai.node.locks`), and a retry's countdown must stay below the timeout, or the retry itself is
delivered twice: `retry_countdown` keeps it under half.
"""

from __future__ import annotations

import random
from typing import Any

from celery import Celery

__all__ = ["create_celery_app", "retry_countdown"]


def create_celery_app(
    name: str,
    *,
    broker: str,
    backend: str,
    default_queue: str,
    visibility_timeout_s: int | None = None,
    **conf: Any,
) -> Celery:
    """A Celery app on `broker` and `backend` (Redis URLs from the settings) with the shared
    configuration; `visibility_timeout_s` bounds the redelivery of a task whose worker died
    (default: the transport's, one hour); `conf` adds or overrides Celery settings for this
    application only."""
    if visibility_timeout_s is not None:
        options = dict(conf.pop("broker_transport_options", {}))
        options["visibility_timeout"] = visibility_timeout_s
        conf["broker_transport_options"] = options
    app = Celery(name, broker=broker, backend=backend)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        result_expires=3600,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue=default_queue,
        **conf,
    )
    return app


def retry_countdown(retries: int, visibility_timeout_s: float, *, cap_s: float = 30.0) -> float:
    """Seconds before retry number `retries + 1`: exponential with jitter, at most `cap_s` and
    below half the visibility timeout (a longer countdown would be delivered twice)."""
    ceiling = max(0.5, min(cap_s, visibility_timeout_s / 2))
    return float(min(2**retries * (0.5 + random.random()), ceiling))
