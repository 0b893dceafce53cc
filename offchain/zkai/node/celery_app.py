"""The node service's Celery application, configured from the one settings object.

Broker and result backend are Redis URLs (`ZKAI_NODE_BROKER_URL`, `ZKAI_NODE_RESULT_BACKEND`,
both defaulting to `ZKAI_REDIS_URL`). Each node consumes its own queue, `zkai.node.<address>`, so
several nodes can share one Redis (or each use its own database).

Delivery (the configuration shared with the training workers, `zkai.celery_config`): tasks are
idempotent (`zkai.node.tasks`), so they are acknowledged late (`task_acks_late`) and a task whose
worker process dies is put back (`task_reject_on_worker_lost`), within about 5 s of its death
(`worker_lost_wait`); each worker process reserves one
task at a time (`worker_prefetch_multiplier=1`). The Redis transport redelivers a task that was
delivered but not acknowledged after `visibility_timeout` (`ZKAI_NODE_VISIBILITY_TIMEOUT_S`, 20 s
by default: well within the market's minimum deadline window of 60 s), which is what recovers the
task of a worker whose main process was killed. A task that runs longer is delivered again; the
second delivery finds the share's lock held by a live process and ends (`zkai.node.tasks`), so a
proof may take longer than the timeout. Retries wait less than half of it
(`zkai.celery_config.retry_countdown`). Redis as run here keeps nothing on disk; what a Redis
restart loses, the listener's reconciliation re-enqueues from the chain (`zkai.node.listener`).

Logging: Celery does not install its own handlers; every record is a JSON line
(`zkai.node.logs`).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging

from zkai.celery_config import create_celery_app
from zkai.config import Settings, get_settings
from zkai.node.logs import configure_logging

CLAIM_TASK = "zkai.node.claim_assignment"


def _json_logging(**_: Any) -> None:
    configure_logging()


setup_logging.connect(_json_logging, weak=False)


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app for the node service, from `settings` (default: the process settings)."""
    settings = settings or get_settings()
    return create_celery_app(
        "zkai.node",
        broker=settings.node_broker,
        backend=settings.node_backend,
        default_queue="zkai.node.default",
        include=["zkai.node.tasks"],
        visibility_timeout_s=settings.node_visibility_timeout_s,
        # A pool process that died is reported (and its task put back) at the pool's next
        # maintenance (every 5 s) after this long, not after Celery's default 10 s: results
        # are ignored, so there is nothing to wait for.
        worker_lost_wait=1.0,
        task_ignore_result=True,
        broker_connection_max_retries=None,
        worker_send_task_events=False,
    )


app = create_app()
