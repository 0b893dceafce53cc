"""The one Celery configuration, shared by the node service and the training aggregation workers.

Both task sets are idempotent (`zkai.node.tasks`, `zkai.training.aggregate`), so tasks are
acknowledged late (`task_acks_late`) and a task whose worker process dies is put back
(`task_reject_on_worker_lost`); each worker process reserves one task at a time
(`worker_prefetch_multiplier=1`); messages are JSON only; Celery leaves the root logger alone.
Each application names its own default queue and adds what only it needs.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

__all__ = ["create_celery_app"]


def create_celery_app(
    name: str, *, broker: str, backend: str, default_queue: str, **conf: Any
) -> Celery:
    """A Celery app on `broker` and `backend` (Redis URLs from the settings) with the shared
    configuration; `conf` adds or overrides Celery settings for this application only."""
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
