"""`zkai node run`: one node's round endpoint, claim scheduler and Celery worker, together.

Start-up, in order, failing with a clear message at the first problem:
1. unlock the node's operator account and every key generation (passphrase from ZKAI_PASSPHRASE
   or the CLI prompt);
2. connect to the chain (ZKAI_RPC_URL, the deployment record) and check the node is registered;
3. load or build the circuits of every part the node hosts (`parts.json`, `zkai node parts add`)
   at the model's current version, checked against the registry's circuit and key hashes, so they
   are ready before the first round (other versions load at their first round);
4. spawn `celery -A zkai.node.celery_app:app worker -Q zkai.node.<address> -c <concurrency>` as a
   child process: the claim workers. It gets the settings and the passphrase through its
   environment (it unlocks the keys once, before its pool forks, then drops the variable); nothing
   secret is logged or passed on a command line;
5. serve the round endpoint (FastAPI on uvicorn, ZKAI_NODE_HOST:ZKAI_NODE_PORT) in a thread of
   this process: rounds are opened here, in the node's own process, and stored in its own
   SQLite store before they are answered;
6. run the claim scheduler (`zkai.node.listener`) in this process until SIGTERM or SIGINT.

The worker is supervised: if it exits while the service runs, it is started again and the
scheduler re-enqueues every due claim at once (#14's fast redelivery). The worker dies with the
service (`zkai.liveness.die_with_parent`). On SIGTERM / SIGINT the endpoint stops accepting
rounds, the worker gets SIGTERM (running claims finish) and is killed after `shutdown_timeout`.

Several nodes run side by side on one machine: each has its own keys, state directory, store,
port and queue (`zkai.node.<address>`).
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
import uvicorn

from zkai.config import Settings
from zkai.errors import ZKAIError
from zkai.node.celery_app import create_app
from zkai.node.endpoint import create_endpoint
from zkai.node.keys import UnlockedNode, unlock
from zkai.node.listener import ClaimScheduler
from zkai.node.logs import configure_logging, log_event
from zkai.node.operator import hosted_parts, require_registered
from zkai.node.runtime import NodeRuntime
from zkai.node.settings import NodeSettings, get_node_settings
from zkai.node.state import NodeState, queue_name, worker_name
from zkai.wallet.keystore import PASSPHRASE_ENV, Keystore

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
        self.wake = threading.Event()
        self.worker: subprocess.Popen[bytes] | None = None
        self.node_settings: NodeSettings = get_node_settings()
        self.node: UnlockedNode | None = None
        self.runtime: NodeRuntime | None = None
        self.scheduler: ClaimScheduler | None = None
        self.server: uvicorn.Server | None = None
        self.server_thread: threading.Thread | None = None

    def _log(self, event: str, **fields: Any) -> None:
        level = fields.pop("level", logging.INFO)
        address = None if self.node is None else self.node.address
        log_event(log, event, level=level, node=address, name=self.name, **fields)

    # -- start-up ------------------------------------------------------------------------

    def prepare(self) -> None:
        keystore = Keystore(self.settings.data_dir)
        self.node = unlock(keystore, self.name, self._passphrase)
        self.runtime = runtime = NodeRuntime.build(self.node, self.settings, self.node_settings)
        require_registered(runtime.chain, self.node.address, self.name)
        started = time.monotonic()
        ready = []
        for ref in hosted_parts(keystore, self.name):
            try:
                version = runtime.view.current_version(ref.model_id)
                served = runtime.parts.get(ref.model_id, version, ref.part)
            except ZKAIError as exc:
                self._log(
                    "service.part_unavailable", part=str(ref), why=str(exc), level=logging.WARNING
                )
                continue
            ready.append({"part": str(ref), "version": version, "rounds": served.terms.max_rounds})
        self._log(
            "service.parts_ready",
            parts=ready,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )

    def worker_command(self) -> list[str]:
        assert self.node is not None
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "zkai.node.celery_app:app",
            "worker",
            "-Q",
            queue_name(self.node.address),
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
        self.wake.set()

    def run(self) -> int:
        """Prepare, start the worker, run the listener until a signal; returns an exit code."""
        configure_logging()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.prepare()
        assert self.node is not None
        assert self.runtime is not None
        state = NodeState.for_chain(
            Keystore(self.settings.data_dir).node_dir(self.name), self.runtime.chain
        )
        app = create_app(self.settings)
        client = redis.Redis.from_url(
            self.settings.node_broker, socket_connect_timeout=2, socket_timeout=5
        )
        self.scheduler = scheduler = ClaimScheduler(
            self.runtime, self.settings, app, client, state, self.worker_status
        )
        self.start_worker()
        self.start_endpoint()
        self._log(
            "service.started",
            state=str(state.root),
            queue=queue_name(self.node.address),
            endpoint=f"http://{self.node_settings.host}:{self.node_settings.port}",
        )
        try:
            while not self.stop_event.is_set():
                self._supervise()
                try:
                    scheduler.step()
                except (ZKAIError, redis.RedisError) as exc:
                    self._log("service.step_failed", error=str(exc), level=logging.WARNING)
                # A round that used up its budget, or filled a chunk, wakes the scheduler.
                self.wake.wait(self.settings.node_poll_interval_s)
                self.wake.clear()
        finally:
            self.stop_endpoint()
            self.stop_worker()
            client.close()
            self._log("service.stopped")
        return 0

    def start_endpoint(self) -> None:
        assert self.runtime is not None
        keystore = Keystore(self.settings.data_dir)
        parts = [(p.model_id, p.part) for p in hosted_parts(keystore, self.name)]
        app = create_endpoint(self.runtime.rounds(on_claimable=self.wake.set), parts)
        config = uvicorn.Config(
            app,
            host=self.node_settings.host,
            port=self.node_settings.port,
            log_config=None,
            access_log=False,
        )
        self.server = server = uvicorn.Server(config)
        self.server_thread = threading.Thread(target=server.run, name="round-endpoint", daemon=True)
        self.server_thread.start()
        deadline = time.monotonic() + 20
        while not server.started and self.server_thread.is_alive():
            if time.monotonic() > deadline:
                raise ZKAIError("the round endpoint did not start within 20 s")
            time.sleep(0.05)
        if not server.started:
            raise ZKAIError(
                f"the round endpoint could not listen on {self.node_settings.host}:"
                f"{self.node_settings.port}; set ZKAI_NODE_PORT to a free port"
            )

    def stop_endpoint(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.server_thread is not None:
            self.server_thread.join(timeout=10)

    def _supervise(self) -> None:
        if self.worker is not None and self.worker.poll() is not None:
            self._log(
                "service.worker_exited",
                level=logging.WARNING,
                returncode=self.worker.returncode,
                worker_pid=self.worker.pid,
            )
            if self.scheduler is not None:
                self.scheduler.on_worker_lost()
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
