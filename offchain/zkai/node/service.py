"""`zkai node run`: one node's listener and its Celery worker, started and stopped together.

Start-up, in order, failing with a clear message at the first problem:
1. unlock the node's identity (passphrase from ZKAI_PASSPHRASE or the CLI prompt);
2. connect to the chain (ZKAI_RPC_URL, the deployment record) and check the node is registered;
3. load or build the circuits of the current version of every model the node serves and check
   them against the chain (`zkai.node.served`), so they are ready before the first query. Versions
   published later are warmed by the listener when their `ModelVersionPublished` event appears,
   and any version (an older one with queries in flight, too) is loaded by a worker when its
   first share arrives: no restart is needed for a new version;
4. spawn `celery -A zkai.node.celery_app:app worker -Q zkai.node.<address> -c <concurrency>` as a
   child process. The child gets the settings and the passphrase through its environment (it
   unlocks the identity once, before its pool forks, then drops the variable); nothing secret is
   logged or passed on a command line;
5. run the listener (`zkai.node.listener`) in this process until SIGTERM or SIGINT.

The worker is supervised: if it exits while the service runs (its main process killed, say), it
is started again, and the listener forgets which shares it had enqueued and reconciles at once:
every open share whose lock holder is gone is enqueued again within seconds, without waiting for
the broker's visibility timeout (which redelivers the lost tasks too; the duplicates find the
work done or locked). The worker dies with the service: it gets SIGTERM from the kernel when the
service's process ends, however it ends (`zkai.liveness.die_with_parent`), so a service killed
outright leaves no worker behind to serve another network from its queue. On SIGTERM /
SIGINT the listener stops, the worker gets SIGTERM (Celery's warm shutdown: running tasks finish)
and is killed if it has not exited within `shutdown_timeout` seconds.

Several nodes run side by side on one machine: each has its own identity, state directory and
queue (`zkai.node.<address>`), and may use its own Redis database (ZKAI_REDIS_URL).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import Any

import redis

from zkai.chain.client import ChainClient, connect
from zkai.config import Settings
from zkai.node.celery_app import create_app
from zkai.node.listener import Listener
from zkai.node.logs import configure_logging, log_event
from zkai.node.operator import require_registered
from zkai.node.served import ServedModel, load_served_models
from zkai.node.state import NodeState, queue_name, worker_name
from zkai.wallet.keystore import PASSPHRASE_ENV, Keystore, NodeIdentity

log = logging.getLogger("zkai.node.service")

RESTART_BACKOFF_S = 2.0


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as ZKAI_* environment variables, for a child process."""
    env: dict[str, str] = {}
    for key, value in settings.model_dump().items():
        if value is not None:
            rendered = json.dumps(value) if isinstance(value, list | dict) else str(value)
            env[f"ZKAI_{key.upper()}"] = rendered
    return env


class NodeService:
    def __init__(
        self,
        name: str,
        passphrase: str,
        settings: Settings,
        *,
        concurrency: int | None = None,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self._passphrase = passphrase
        self.settings = settings
        self.concurrency = concurrency or settings.node_concurrency
        self.shutdown_timeout = shutdown_timeout
        self.stop_event = threading.Event()
        self.worker: subprocess.Popen[bytes] | None = None
        self.identity: NodeIdentity | None = None
        self.chain: ChainClient | None = None
        self.served: dict[str, ServedModel] = {}
        self.listener: Listener | None = None

    def _log(self, event: str, **fields: Any) -> None:
        level = fields.pop("level", logging.INFO)
        address = None if self.identity is None else self.identity.account.address
        log_event(log, event, level=level, node=address, name=self.name, **fields)

    # -- start-up ------------------------------------------------------------------------

    def prepare(self) -> None:
        keystore = Keystore(self.settings.data_dir)
        self.identity = keystore.unlock_node(self.name, self._passphrase)
        self.chain = connect()
        record = require_registered(self.chain, self.identity.account.address, self.name)
        started = time.monotonic()
        self.served = load_served_models(self.chain, record.models, self.settings)
        self._log(
            "service.models_ready",
            models=[
                {
                    "model_id": m.model_id,
                    "version": m.version,
                    "verifier": m.verifier,
                    "circuit": m.artifacts.key[:16],
                    "constraints": m.artifacts.constraints,
                }
                for m in self.served.values()
            ],
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            eligible=not record.unbonding,
        )

    def worker_command(self) -> list[str]:
        assert self.identity is not None
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "zkai.node.celery_app:app",
            "worker",
            "-Q",
            queue_name(self.identity.account.address),
            "-c",
            str(self.concurrency),
            "-n",
            f"{worker_name(self.name)}@%h",
            "-P",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "INFO",
        ]

    def start_worker(self) -> None:
        env = {
            **os.environ,
            **settings_env(self.settings),
            "ZKAI_NODE_NAME": self.name,
            "ZKAI_NODE_PARENT_PID": str(os.getpid()),
            PASSPHRASE_ENV: self._passphrase,
        }
        self.worker = subprocess.Popen(self.worker_command(), env=env, stdin=subprocess.DEVNULL)
        self._log(
            "service.worker_started", worker_pid=self.worker.pid, concurrency=self.concurrency
        )

    def worker_status(self) -> dict[str, Any]:
        alive = self.worker is not None and self.worker.poll() is None
        return {
            "service_pid": os.getpid(),
            "worker_pid": None if self.worker is None else self.worker.pid,
            "worker_alive": alive,
            "concurrency": self.concurrency,
        }

    # -- running -------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._log("service.stopping", signal=signal.Signals(signum).name)
        self.stop_event.set()

    def run(self) -> int:
        """Prepare, start the worker, run the listener until a signal; returns an exit code."""
        configure_logging()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.prepare()
        assert self.identity is not None
        assert self.chain is not None
        state = NodeState.for_chain(
            Keystore(self.settings.data_dir).node_dir(self.name), self.chain
        )
        app = create_app(self.settings)
        client = redis.Redis.from_url(
            self.settings.node_broker, socket_connect_timeout=2, socket_timeout=5
        )
        self.listener = listener = Listener(
            chain=self.chain,
            account=self.identity.account,
            state=state,
            settings=self.settings,
            app=app,
            redis_client=client,
            worker_status=self.worker_status,
            served=self.served,
        )
        self.start_worker()
        self._log(
            "service.started",
            state=str(state.root),
            queue=queue_name(self.identity.account.address),
        )
        backoff = self.settings.node_poll_interval_s
        try:
            while not self.stop_event.is_set():
                self._supervise()
                if listener.step():
                    backoff = self.settings.node_poll_interval_s
                else:
                    backoff = min(backoff * 2, 10.0)
                self.stop_event.wait(backoff)
        finally:
            listener.stop_warmups()
            self.stop_worker()
            client.close()
            self._log("service.stopped")
        return 0

    def _supervise(self) -> None:
        if self.worker is not None and self.worker.poll() is not None:
            self._log(
                "service.worker_exited",
                level=logging.WARNING,
                returncode=self.worker.returncode,
                worker_pid=self.worker.pid,
            )
            if self.listener is not None:
                self.listener.on_worker_lost()
            time.sleep(RESTART_BACKOFF_S)
            if not self.stop_event.is_set():
                self.start_worker()

    def stop_worker(self) -> None:
        worker = self.worker
        if worker is None or worker.poll() is not None:
            return
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=self.shutdown_timeout)
        except subprocess.TimeoutExpired:
            self._log("service.worker_killed", level=logging.WARNING, worker_pid=worker.pid)
            worker.kill()
            worker.wait()
