"""What a node operator does besides running the service: identity, registration, stake, claims.

Library functions, free of CLI concerns (the `zkai node` commands and `zkai up` call them):

- `init_node`: an encrypted identity (Ethereum keyfile + X25519 share key, `Keystore`).
- `register_node`: approve the stake, then `NodeRegistry.register(key, metadata, stake)`.
  Idempotent: a registered node with another key or metadata is updated, and a stake below the
  one asked for is topped up, so `zkai up` can run it again.
- `add_stake`, `request_unstake`, `withdraw`.
- `claimable_shares` / `claim_payouts`: a proven share is the node's credit until it claims it
  (`QueryMarket.claimPayouts`, one transfer for a batch). The service claims periodically; the
  `zkai node claim` command does it by hand.
- `node_status`: chain-side facts plus the service's heartbeat, queue length and worker liveness.

Amounts are in token wei. A node keeps serving the shares assigned to it before it asked to unstake:
the market accepts them while the node is unbonding, and a missed one is slashed from the
unbonding stake (INodeRegistry.requestUnstake).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.logs import DISCARD
from web3.types import TxReceipt

from zkai.chain.client import ChainClient, with_retries
from zkai.errors import ChainError, KeystoreError, NodeNotRegisteredError
from zkai.node.served import metadata_uri, models_in_metadata
from zkai.node.state import NodeState, RedisKeys, queue_name, read_json
from zkai.wallet.keystore import Keystore, NodeIdentity, WalletInfo

__all__ = [
    "NodeRecord",
    "add_stake",
    "claim_payouts",
    "claimable_shares",
    "init_node",
    "node_record",
    "node_status",
    "register_node",
    "request_unstake",
    "withdraw",
]

SHARE_PENDING, SHARE_SUBMITTED, SHARE_PAID, SHARE_MISSED = 1, 2, 3, 4
LOG_CHUNK = 5_000


def init_node(
    keystore: Keystore, name: str, passphrase: str, private_key: str | bytes | None = None
) -> WalletInfo:
    """Create node `name`'s encrypted identity (a new account unless `private_key` is given)."""
    if not passphrase:
        raise KeystoreError("a node identity needs a non-empty passphrase")
    return keystore.create_node(name, passphrase, private_key)


@dataclass(frozen=True)
class NodeRecord:
    address: str
    encryption_key: bytes
    stake: int
    unlock_time: int
    registered: bool
    metadata: str

    @property
    def unbonding(self) -> bool:
        return self.unlock_time != 0

    @property
    def models(self) -> list[int]:
        return models_in_metadata(self.metadata)


def node_record(chain: ChainClient, address: str) -> NodeRecord:
    registry = chain.contract("NodeRegistry")
    key, stake, unlock, registered, metadata = chain.call(
        registry.functions.getNode(to_checksum_address(address))
    )
    return NodeRecord(
        to_checksum_address(address),
        bytes(key),
        int(stake),
        int(unlock),
        bool(registered),
        str(metadata),
    )


def _approve(chain: ChainClient, account: LocalAccount, spender: str, amount: int) -> None:
    token = chain.contract("ZKAIToken")
    allowance = int(chain.call(token.functions.allowance(account.address, spender)))
    if allowance < amount:
        chain.transact(account, token.functions.approve(spender, amount))


def register_node(
    chain: ChainClient, identity: NodeIdentity, *, models: Sequence[int], stake: int
) -> NodeRecord:
    """Register (or update) the node with its encryption key and metadata; stake up to `stake`."""
    registry = chain.contract("NodeRegistry")
    account = identity.account
    metadata = metadata_uri(identity.name, models)
    key = identity.encryption_public_key
    record = node_record(chain, account.address)
    if not record.registered:
        if stake:
            _approve(chain, account, registry.address, stake)
        chain.transact(account, registry.functions.register(key, metadata, stake))
        return node_record(chain, account.address)
    if record.encryption_key != key or record.metadata != metadata:
        chain.transact(account, registry.functions.updateNode(key, metadata))
    if stake > record.stake and not record.unbonding:
        add_stake(chain, account, stake - record.stake)
    return node_record(chain, account.address)


def add_stake(chain: ChainClient, account: LocalAccount, amount: int) -> TxReceipt:
    registry = chain.contract("NodeRegistry")
    _approve(chain, account, registry.address, amount)
    return chain.transact(account, registry.functions.stake(amount))


def request_unstake(chain: ChainClient, account: LocalAccount) -> int:
    """Start unbonding the whole stake; returns when it can be withdrawn (unix time)."""
    registry = chain.contract("NodeRegistry")
    chain.transact(account, registry.functions.requestUnstake())
    return node_record(chain, account.address).unlock_time


def withdraw(chain: ChainClient, account: LocalAccount) -> int:
    """Withdraw the unbonded stake; returns the amount."""
    registry = chain.contract("NodeRegistry")
    receipt = chain.transact(account, registry.functions.withdraw())
    logs = registry.events.Withdrawn().process_receipt(receipt, errors=DISCARD)
    return int(logs[0]["args"]["amount"]) if logs else 0


def share_status(chain: ChainClient, query_id: int, share_index: int) -> tuple[str, int, int]:
    """(node, status, commitment) of a share."""
    node, status, commitment = chain.call(
        chain.contract("QueryMarket").functions.getShare(query_id, share_index)
    )
    return to_checksum_address(node), int(status), int(commitment)


def claimable_shares(
    chain: ChainClient, address: str, candidates: Sequence[tuple[int, int]] | None = None
) -> list[tuple[int, int]]:
    """Shares of `address` proven and not yet paid: `candidates`, or all found in its results."""
    if candidates is None:
        found: set[tuple[int, int]] = set()
        latest = int(with_retries(lambda: chain.w3.eth.block_number))
        start = chain.deployment.start_block
        while start <= latest:
            end = min(latest, start + LOG_CHUNK - 1)
            for log in chain.events(
                "QueryMarket",
                "ResultSubmitted",
                start,
                end,
                {"node": to_checksum_address(address)},
            ):
                found.add((int(log["args"]["queryId"]), int(log["args"]["shareIndex"])))
            start = end + 1
        candidates = sorted(found)
    return [(q, i) for q, i in candidates if share_status(chain, q, i)[1] == SHARE_SUBMITTED]


def claim_payouts(
    chain: ChainClient,
    account: LocalAccount,
    shares: Sequence[tuple[int, int]] | None = None,
    *,
    nonce: Callable[[], int] | None = None,
) -> tuple[int, list[tuple[int, int]], str | None]:
    """Claim the payouts of proven shares (all claimable ones by default) in one transaction.

    Returns (amount paid, shares claimed, transaction hash or None when there was nothing).
    `nonce` supplies the transaction's nonce (the service passes its shared nonce manager).
    """
    claimable = claimable_shares(chain, account.address, shares)
    if not claimable:
        return 0, [], None
    market = chain.contract("QueryMarket")
    fn = market.functions.claimPayouts([q for q, _ in claimable], [i for _, i in claimable])
    receipt = chain.transact(account, fn, nonce=nonce() if nonce is not None else None)
    logs = market.events.PayoutsClaimed().process_receipt(receipt, errors=DISCARD)
    if not logs:
        raise ChainError("claimPayouts emitted no PayoutsClaimed")
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    return int(logs[0]["args"]["payout"]), claimable, tx_hash


def _redis_facts(redis_url: str, address: str, chain: str) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
    try:
        heartbeat = client.get(RedisKeys(address, chain).heartbeat)
        return {
            "redis": "ok",
            "queue_length": int(client.llen(queue_name(address))),  # type: ignore[arg-type]
            "heartbeat_in_redis": heartbeat is not None,
        }
    except redis.RedisError as exc:
        return {"redis": f"unreachable: {exc}"}
    finally:
        client.close()


def node_status(
    chain: ChainClient,
    address: str,
    *,
    node_name: str,
    state: NodeState | None = None,
    redis_url: str | None = None,
    include_earnings: bool = True,
) -> dict[str, Any]:
    """Everything `zkai node status` shows, as one JSON-ready dict."""
    record = node_record(chain, address)
    registry = chain.contract("NodeRegistry")
    market = chain.contract("QueryMarket")
    token = chain.contract("ZKAIToken")
    status: dict[str, Any] = {
        "name": node_name,
        "address": record.address,
        "registered": record.registered,
        "stake": record.stake,
        "min_stake": int(chain.call(registry.functions.minStake())),
        "unbonding": record.unbonding,
        "unlock_time": record.unlock_time,
        "eligible": bool(chain.call(registry.functions.isEligible(record.address))),
        "models": record.models,
        "encryption_key": "0x" + record.encryption_key.hex(),
        "token_balance": int(chain.call(token.functions.balanceOf(record.address))),
        "eth_balance": int(
            with_retries(lambda: chain.w3.eth.get_balance(to_checksum_address(record.address)))
        ),
    }
    if include_earnings:
        claimable = claimable_shares(chain, record.address)
        status["claimable_shares"] = len(claimable)
        status["claimable"] = sum(
            int(chain.call(market.functions.shareSplit(q))[0]) for q, _ in claimable
        )
    if state is not None:
        heartbeat = read_json(state.heartbeat_path)
        cursor = read_json(state.cursor_path)
        status["cursor"] = None if cursor is None else int(cursor["last_block"])
        status["head"] = int(with_retries(lambda: chain.w3.eth.block_number))
        if heartbeat is not None:
            age = time.time() - float(heartbeat["ts"])
            status["listener"] = {**heartbeat, "age_s": round(age, 1)}
            status["listener_alive"] = age < max(10.0, 3 * float(heartbeat.get("interval_s", 1)))
            status["worker_alive"] = (
                bool(heartbeat.get("worker_alive")) and status["listener_alive"]
            )
        else:
            status["listener_alive"] = False
            status["worker_alive"] = False
    if redis_url is not None:
        status.update(_redis_facts(redis_url, record.address, chain.identity))
    status["running"] = bool(status.get("listener_alive") and status.get("worker_alive"))
    if not record.registered:
        status["hint"] = f"not registered: run `zkai node register {node_name}`"
    return status


def require_registered(chain: ChainClient, address: str, name: str) -> NodeRecord:
    record = node_record(chain, address)
    if not record.registered:
        raise NodeNotRegisteredError(
            f"node {name!r} ({address}) is not registered on this chain; "
            f"run `zkai node register {name} --model <model> --stake <amount>`"
        )
    return record
