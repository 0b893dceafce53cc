"""Proving one assigned share: fetch payload -> decrypt -> check commitment -> prove -> submit.

`process_share(query_id, share_index)` is the Celery task; `ShareProcessor.process` does the work
and can be called without Celery. It is idempotent and safe to run any number of times, from any
number of worker processes, for the same share:

1. The chain decides first: a share that is not this node's, not pending (already submitted, paid
   or missed) or past its deadline is done; nothing is proven.
2. A lock per share tied to its holder's liveness (`zkai.node.locks.LivenessLock`: a short TTL,
   `ZKAI_NODE_LOCK_TTL_S`, renewed by a heartbeat thread while the task runs) lets one process at
   a time prove and submit. A process that finds it held by a live process ends ("busy"): that
   process does the work, and if it dies its own task is redelivered and reconciliation
   re-enqueues the share. A lock whose holder died is taken over at once when the holder ran on
   this machine (its pid no longer runs), else it expires within the TTL. Right before the
   submission is sent, the lock is renewed atomically if it is still this process's
   (`ensure_held`); a lock lost meanwhile (Redis restarted, taken over) stops the task before
   anything is sent, and the task is retried.
3. The signed submission's hash is recorded in Redis *before* it is sent. A process that finds a
   recorded hash waits for that transaction instead of proving again, so a worker killed between
   sending and seeing the receipt does not cause a second submission.
4. Nonces come from the node's shared `NonceManager`, so several workers submit concurrently.
   A submission the chain refuses for its nonce resynchronises the manager and is retried.
5. `ShareAlreadySubmitted` at submission means another process won: done. `DeadlinePassed`: done
   (the user is refunded at settlement).

Model versions. A query snapshots its model version's verifier (the adapter), model id and
version. The worker keeps the versions it has loaded by verifier; a share whose verifier is not
among them (a version published after start-up, or an older one still in flight) makes it load
that version first (`zkai.node.served.load_version`: manifest by commitment, circuit keys built
if missing, verifier checked), once per worker process, under a lock. If the node cannot serve
that version (the model is not in its metadata, the manifest is not found, the keys are not the
chain's) the share ends as "not_served" with the reason and the fix logged
(`share.version_unavailable`); it is not a rejection, so reconciliation tries it again later and
it is served once the cause is fixed (say, the manifest copied into the node's manifest store).
If the API or the RPC did not answer, it is a transient failure, retried like the ones below.

A bad payload (fails to decrypt, does not open its commitment, malformed) is permanent: the node
logs why (`share.rejected`), records it under the node's state (`rejected/`), never submits, and
reconciliation does not retry it. The user is refunded for the share when the query is settled.

Transient failures (RPC or Redis unavailable, a lost lock, nonce conflicts, a transaction not
mined in time) are retried by Celery with exponential backoff and jitter, each wait shorter than
the broker's visibility timeout (`zkai.node.celery_app`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import redis
import requests
from celery import shared_task
from celery.app.task import Task
from celery.signals import worker_init, worker_process_init
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import TimeExhausted, Web3RPCError

from zkai.celery_config import retry_countdown
from zkai.chain.client import ChainClient, connect, with_retries
from zkai.circuits.prove import prove_share
from zkai.config import Settings, get_settings
from zkai.errors import (
    ChainError,
    CircuitBuildError,
    CommitmentMismatchError,
    ConfigError,
    ContractRevertError,
    DecryptionError,
    LockLostError,
    ModelMismatchError,
    RpcUnavailableError,
    ShareError,
    TransientNodeError,
)
from zkai.inference import open_request
from zkai.liveness import die_with_parent
from zkai.node.celery_app import PROCESS_SHARE_TASK
from zkai.node.locks import LivenessLock, lock_holder
from zkai.node.logs import log_event
from zkai.node.nonce import NonceManager
from zkai.node.operator import SHARE_PENDING, node_record, require_registered
from zkai.node.served import ServedModel, load_served_models, load_version
from zkai.node.state import NodeState, RedisKeys
from zkai.wallet.keystore import PASSPHRASE_ENV, Keystore, NodeIdentity, passphrase_from_env

log = logging.getLogger("zkai.node.worker")

Outcome = Literal[
    "submitted", "already_done", "expired", "rejected", "not_assigned", "not_served", "busy"
]
TX_RECORD_TTL_S = 7 * 24 * 3600
RECORDED_TX_WAIT_S = 10.0
RECEIPT_TIMEOUT_S = 60.0
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


@dataclass
class ShareProcessor:
    """Everything one worker process needs to process shares of one node."""

    settings: Settings
    identity: NodeIdentity
    chain: ChainClient
    redis: redis.Redis
    served: dict[str, ServedModel]
    state: NodeState
    nonces: NonceManager = field(init=False)
    keys: RedisKeys = field(init=False)

    def __post_init__(self) -> None:
        self.keys = RedisKeys(self.address, self.chain.identity)
        self.nonces = NonceManager(
            self.redis,
            self.address,
            lambda: with_retries(
                lambda: self.chain.w3.eth.get_transaction_count(
                    to_checksum_address(self.address), "pending"
                )
            ),
            self.chain.identity,
        )

    @property
    def address(self) -> str:
        return str(self.identity.account.address)

    def _log(self, event: str, query_id: int, share_index: int, **fields: Any) -> None:
        level = fields.pop("level", logging.INFO)
        log_event(
            log,
            event,
            level=level,
            node=self.address,
            query_id=query_id,
            share_index=share_index,
            **fields,
        )

    # -- the steps ------------------------------------------------------------------------

    def process(
        self,
        query_id: int,
        share_index: int,
        *,
        block_hint: int | None = None,
        enqueued_at: float | None = None,
        attempt: int = 0,
    ) -> Outcome:
        started = time.monotonic()
        market = self.chain.contract("QueryMarket")
        if self.state.rejection(query_id, share_index) is not None:
            return self._finish(query_id, share_index, "rejected", why="rejected before")
        node, status, commitment = self.chain.call(market.functions.getShare(query_id, share_index))
        if to_checksum_address(node) != self.address:
            return self._finish(query_id, share_index, "not_assigned", assigned=node)
        if int(status) != SHARE_PENDING:
            return self._finish(query_id, share_index, "already_done", status=int(status))
        query = self.chain.call(market.functions.getQuery(query_id))
        verifier, deadline = str(query[0]), int(query[1])
        if self._chain_time() > deadline:
            return self._finish(query_id, share_index, "expired", deadline=deadline)
        served = self.served.get(verifier.lower())
        if served is None:
            served = self._load_version(
                query_id, share_index, verifier, model_id=int(query[8]), version=int(query[9])
            )
        if served is None:
            # Not recorded as a rejection: reconciliation tries again, and once the cause is
            # fixed (see the share.version_unavailable log) the share is served.
            return self._finish(query_id, share_index, "not_served", verifier=verifier)

        lock = LivenessLock(
            self.redis, self.keys.lock(query_id, share_index), ttl_s=self.settings.node_lock_ttl_s
        )
        if not lock.acquire():
            holder, _ = lock_holder(self.redis, lock.key)
            return self._finish(
                query_id,
                share_index,
                "busy",
                holder=None if holder is None else {"host": holder.host, "pid": holder.pid},
            )
        try:
            self._log("share.started", query_id, share_index, pid=os.getpid(), attempt=attempt)
            recorded = self._recorded_submission(query_id, share_index)
            if recorded is not None:
                return self._finish(
                    query_id, share_index, recorded, why="recorded transaction mined"
                )
            if self.settings.node_task_pause_s:
                time.sleep(self.settings.node_task_pause_s)
            payload, block = self._payload(query_id, share_index, block_hint)
            try:
                opening = open_request(
                    served.artifacts.manifest,
                    bytes(self.identity.encryption_key),
                    payload,
                    int(commitment),
                )
            except (DecryptionError, CommitmentMismatchError, ShareError) as exc:
                return self._reject(query_id, share_index, _reason(exc), str(exc))
            prove_started = time.monotonic()
            proof = prove_share(served.artifacts, opening)
            prove_ms = (time.monotonic() - prove_started) * 1000
            if lock.lost:
                raise LockLostError(f"lost the lock of share {query_id}/{share_index}")
            return self._submit(
                query_id,
                share_index,
                proof.outputs,
                proof.proof,
                lock=lock,
                started=started,
                prove_ms=prove_ms,
                enqueued_at=enqueued_at,
                block=block,
            )
        finally:
            lock.release()

    def _load_version(
        self, query_id: int, share_index: int, verifier: str, *, model_id: int, version: int
    ) -> ServedModel | None:
        """Load the model version a query was made on and add it to `served`; None if this
        node cannot serve it (logged). Transient failures (API, RPC) propagate."""
        fields: dict[str, Any] = {"model_id": model_id, "version": version, "verifier": verifier}
        with _served_lock:
            found = self.served.get(verifier.lower())
            if found is not None:  # another thread loaded it meanwhile
                return found
            started = time.monotonic()
            try:
                node_models = node_record(self.chain, self.address).models
                model = load_version(
                    self.chain, model_id, version, self.settings, node_models=node_models
                )
                if model.verifier.lower() != verifier.lower():
                    raise ModelMismatchError(
                        f"query {query_id} records verifier {verifier}, but model {model_id} "
                        f"version {version} on-chain has {model.verifier}"
                    )
            except (ModelMismatchError, CircuitBuildError) as exc:
                self._log(
                    "share.version_unavailable",
                    query_id,
                    share_index,
                    **fields,
                    transient=False,
                    why=str(exc),
                    level=logging.WARNING,
                )
                return None
            except TRANSIENT as exc:
                self._log(
                    "share.version_unavailable",
                    query_id,
                    share_index,
                    **fields,
                    transient=True,
                    why=f"{type(exc).__name__}: {exc}",
                    level=logging.WARNING,
                )
                raise
            self.served[verifier.lower()] = model
        self._log(
            "share.version_loaded",
            query_id,
            share_index,
            **fields,
            circuit=model.artifacts.key[:16],
            pid=os.getpid(),
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return model

    def _chain_time(self) -> int:
        return int(with_retries(lambda: self.chain.w3.eth.get_block("latest"))["timestamp"])

    def _payload(self, query_id: int, share_index: int, hint: int | None) -> tuple[bytes, int]:
        """The encrypted payload of the share, read from its ShareAssigned event."""
        latest = int(with_retries(lambda: self.chain.w3.eth.block_number))
        ranges = [(hint, hint)] if hint is not None else []
        ranges.append((self.chain.deployment.start_block, latest))
        for start, end in ranges:
            for event in self.chain.events(
                "QueryMarket",
                "ShareAssigned",
                start,
                end,
                {"queryId": query_id, "node": self.address},
            ):
                if int(event["args"]["shareIndex"]) == share_index:
                    return bytes(event["args"]["encryptedPayload"]), int(event["blockNumber"])
        raise TransientNodeError(f"no ShareAssigned event found for {query_id}/{share_index}")

    def _recorded_submission(self, query_id: int, share_index: int) -> Outcome | None:
        """If a submission was signed before (by a process that may have died), its outcome."""
        raw = self.redis.get(self.keys.tx(query_id, share_index))
        if raw is None:
            return None
        tx_hash = bytes.fromhex(bytes(raw).decode())  # type: ignore[arg-type]
        try:
            receipt = with_retries(
                lambda: self.chain.w3.eth.wait_for_transaction_receipt(
                    HexBytes(tx_hash), timeout=RECORDED_TX_WAIT_S
                )
            )
        except TimeExhausted:
            # Signed but never mined (the send failed, or it sits behind a nonce gap).
            self._log("share.recorded_tx_lost", query_id, share_index, tx_hash="0x" + tx_hash.hex())
            self.redis.delete(self.keys.tx(query_id, share_index))
            self.nonces.resync()
            return None
        if receipt["status"] == 1:
            return "submitted"
        self.redis.delete(self.keys.tx(query_id, share_index))
        return None

    def _submit(
        self,
        query_id: int,
        share_index: int,
        outputs: tuple[int, ...],
        proof: bytes,
        *,
        lock: LivenessLock,
        started: float,
        prove_ms: float,
        enqueued_at: float | None,
        block: int,
    ) -> Outcome:
        market = self.chain.contract("QueryMarket")
        account = self.identity.account
        fn = market.functions.submitResult(query_id, share_index, list(outputs), proof)
        try:
            gas = self.chain.estimate_gas(account, fn)
        except ContractRevertError as exc:
            return self._on_revert(query_id, share_index, exc)
        nonce = self.nonces.reserve()
        tx_key = self.keys.tx(query_id, share_index)
        signed: list[bytes] = []

        def record(tx_hash: bytes) -> None:
            # The last moment before the send: a lock lost by now stops the submission here.
            lock.ensure_held()
            self.redis.set(tx_key, tx_hash.hex(), ex=TX_RECORD_TTL_S)
            signed.append(tx_hash)

        try:
            receipt = self.chain.transact(
                account, fn, nonce=nonce, gas=gas, on_signed=record, timeout=RECEIPT_TIMEOUT_S
            )
        except LockLostError:
            self.nonces.release_failed(nonce)
            raise
        except ContractRevertError as exc:
            self.nonces.release_failed(nonce)
            return self._on_revert(query_id, share_index, exc)
        except Web3RPCError as exc:
            # Refused by the node (nonce too low / already used): never entered the pool.
            self.redis.delete(tx_key)
            self.nonces.release_failed(nonce)
            raise TransientNodeError(f"submission refused: {exc}") from exc
        except (RpcUnavailableError, ChainError) as exc:
            if not signed:
                self.nonces.release_failed(nonce)
            raise TransientNodeError(f"submission not confirmed: {exc}") from exc
        now = time.time()
        self._log(
            "share.submitted",
            query_id,
            share_index,
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            gas_used=int(receipt["gasUsed"]),
            nonce=nonce,
            block=int(receipt["blockNumber"]),
            assigned_block=block,
            prove_ms=round(prove_ms, 1),
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            since_enqueue_ms=None if enqueued_at is None else round((now - enqueued_at) * 1000, 1),
        )
        return self._finish(query_id, share_index, "submitted", quiet=True)

    def _on_revert(self, query_id: int, share_index: int, exc: ContractRevertError) -> Outcome:
        if exc.error == "ShareAlreadySubmitted":
            return self._finish(query_id, share_index, "already_done", why=exc.error)
        if exc.error == "DeadlinePassed":
            return self._finish(query_id, share_index, "expired", why=exc.error)
        if exc.error == "NotAssignedNode":
            return self._finish(query_id, share_index, "not_assigned", why=str(exc))
        return self._reject(query_id, share_index, f"revert:{exc.error}", str(exc))

    def _reject(self, query_id: int, share_index: int, reason: str, detail: str) -> Outcome:
        self.state.record_rejection(query_id, share_index, reason, detail)
        self._log(
            "share.rejected",
            query_id,
            share_index,
            reason=reason,
            detail=detail,
            level=logging.WARNING,
        )
        return self._finish(query_id, share_index, "rejected", quiet=True)

    def _finish(
        self,
        query_id: int,
        share_index: int,
        outcome: Outcome,
        *,
        quiet: bool = False,
        **fields: Any,
    ) -> Outcome:
        with contextlib.suppress(redis.RedisError):
            self.redis.delete(self.keys.queued(query_id, share_index))
        if not quiet:
            self._log("share.skipped", query_id, share_index, outcome=outcome, **fields)
        return outcome


def _reason(exc: Exception) -> str:
    if isinstance(exc, DecryptionError):
        return "decryption_failed"
    if isinstance(exc, CommitmentMismatchError):
        return "commitment_mismatch"
    return "malformed_payload"


# -- the worker process's processor ---------------------------------------------------------

_lock = threading.Lock()
_served_lock = threading.Lock()
"""Held while a worker process loads a model version into its `served` (one load at a time;
across processes, the circuit build is locked and atomic in zkai.circuits.build)."""
_identity: NodeIdentity | None = None
_served: dict[str, ServedModel] | None = None
_processor: tuple[int, ShareProcessor] | None = None


def _load_identity(settings: Settings) -> NodeIdentity:
    """Unlock the node named by ZKAI_NODE_NAME with ZKAI_PASSPHRASE, then forget the passphrase."""
    global _identity
    if _identity is None:
        passphrase = passphrase_from_env()
        if not settings.node_name or passphrase is None:
            raise ConfigError(
                f"a node worker needs ZKAI_NODE_NAME and {PASSPHRASE_ENV}; start it with "
                "`zkai node run <name>`"
            )
        _identity = Keystore(settings.data_dir).unlock_node(settings.node_name, passphrase)
        os.environ.pop(PASSPHRASE_ENV, None)
    return _identity


def processor() -> ShareProcessor:
    """This process's ShareProcessor (identity and circuits loaded once, connections per pid)."""
    global _processor, _served
    with _lock:
        if _processor is not None and _processor[0] == os.getpid():
            return _processor[1]
        settings = get_settings()
        identity = _load_identity(settings)
        chain = connect()
        if _served is None:
            record = require_registered(chain, identity.account.address, identity.name)
            _served = load_served_models(chain, record.models, settings)
            for model in _served.values():
                _ = model.artifacts.proving_key  # load the keys once, before the pool forks
        state = NodeState.for_chain(Keystore(settings.data_dir).node_dir(identity.name), chain)
        client = redis.Redis.from_url(
            settings.node_broker, socket_connect_timeout=5, socket_timeout=30
        )
        built = ShareProcessor(settings, identity, chain, client, _served, state)
        _processor = (os.getpid(), built)
        return built


def _prepare_worker(**_: Any) -> None:
    """In the worker's main process, before the pool forks: tie the worker's life to its node
    service's (a service killed outright must not leave a worker behind, serving the next
    network), then unlock and load the circuits."""
    parent = get_settings().node_parent_pid
    if parent is not None:
        die_with_parent(parent)
    processor()
    log_event(log, "worker.ready", node=processor().address, pid=os.getpid())


def _prepare_pool_process(**_: Any) -> None:
    processor()


worker_init.connect(_prepare_worker, weak=False)
worker_process_init.connect(_prepare_pool_process, weak=False)


@shared_task(  # type: ignore[untyped-decorator]
    bind=True, name=PROCESS_SHARE_TASK, acks_late=True, max_retries=12
)
def process_share(
    self: Task[Any, Any],
    query_id: int,
    share_index: int,
    block_hint: int | None = None,
    enqueued_at: float | None = None,
) -> str:
    """Prove and submit share `share_index` of query `query_id` for this worker's node."""
    try:
        return processor().process(
            query_id,
            share_index,
            block_hint=block_hint,
            enqueued_at=enqueued_at,
            attempt=self.request.retries,
        )
    except TRANSIENT as exc:
        log_event(
            log,
            "share.retry",
            level=logging.WARNING,
            query_id=query_id,
            share_index=share_index,
            error=f"{type(exc).__name__}: {exc}",
            retries=self.request.retries,
        )
        countdown = retry_countdown(self.request.retries, get_settings().node_visibility_timeout_s)
        raise self.retry(exc=exc, countdown=countdown) from exc
