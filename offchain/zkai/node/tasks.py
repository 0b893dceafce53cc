"""The node's Celery task: claim one assignment (`zkai.node.claims.ClaimProcessor`).

`claim_assignment(query_hex, part)` takes ids, never objects, and is idempotent (the processor
checks the chain first and locks the assignment), so it is acknowledged late and redelivered when
its worker dies (`zkai.node.celery_app`). Transient failures are retried with backoff, each wait
below the broker's visibility timeout.

The worker process unlocks the node's keys once, before its pool forks (ZKAI_NODE_NAME and
ZKAI_PASSPHRASE from `zkai node run`, the passphrase then dropped from the environment), and
dies with its service (`zkai.liveness.die_with_parent`).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import redis
import requests
from celery import shared_task
from celery.app.task import Task
from celery.signals import worker_init, worker_process_init

from zkai.celery_config import retry_countdown
from zkai.config import get_settings
from zkai.errors import ConfigError, RpcUnavailableError, TransientNodeError
from zkai.liveness import die_with_parent
from zkai.node.celery_app import CLAIM_TASK
from zkai.node.keys import UnlockedNode, unlock
from zkai.node.logs import log_event
from zkai.node.runtime import NodeRuntime
from zkai.node.settings import get_node_settings
from zkai.wallet.keystore import PASSPHRASE_ENV, Keystore, passphrase_from_env

log = logging.getLogger("zkai.node.worker")

TRANSIENT: tuple[type[BaseException], ...] = (
    TransientNodeError,
    RpcUnavailableError,
    redis.ConnectionError,
    redis.TimeoutError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    ConnectionError,
    TimeoutError,
)

_lock = threading.Lock()
_node: UnlockedNode | None = None
_runtime: tuple[int, NodeRuntime] | None = None


def _unlock_once() -> UnlockedNode:
    global _node
    if _node is None:
        settings = get_settings()
        passphrase = passphrase_from_env()
        if not settings.node_name or passphrase is None:
            raise ConfigError(
                f"a node worker needs ZKAI_NODE_NAME and {PASSPHRASE_ENV}; start it with "
                "`zkai node run <name>`"
            )
        _node = unlock(Keystore(settings.data_dir), settings.node_name, passphrase)
        os.environ.pop(PASSPHRASE_ENV, None)
    return _node


def runtime() -> NodeRuntime:
    """This process's runtime (keys unlocked once, connections per pid)."""
    global _runtime
    with _lock:
        if _runtime is None or _runtime[0] != os.getpid():
            built = NodeRuntime.build(_unlock_once(), get_settings(), get_node_settings())
            _runtime = (os.getpid(), built)
        return _runtime[1]


def _prepare_worker(**_: Any) -> None:
    parent = get_settings().node_parent_pid
    if parent is not None:
        die_with_parent(parent)
    node = _unlock_once()
    log_event(log, "worker.ready", node=node.address, pid=os.getpid())


def _prepare_pool_process(**_: Any) -> None:
    runtime()


worker_init.connect(_prepare_worker, weak=False)
worker_process_init.connect(_prepare_pool_process, weak=False)


@shared_task(  # type: ignore[untyped-decorator]
    bind=True, name=CLAIM_TASK, acks_late=True, max_retries=20
)
def claim_assignment(self: Task[Any, Any], query_hex: str, part: int) -> str:
    """Prove and claim the assignment (query, part, this node)."""
    query = bytes.fromhex(query_hex.removeprefix("0x"))
    try:
        return str(runtime().claims().process(query, part))
    except TRANSIENT as exc:
        log_event(
            log,
            "claim.retry",
            level=logging.WARNING,
            query=query_hex,
            part=part,
            error=f"{type(exc).__name__}: {exc}",
            retries=self.request.retries,
        )
        countdown = retry_countdown(self.request.retries, get_settings().node_visibility_timeout_s)
        raise self.retry(exc=exc, countdown=countdown) from exc
