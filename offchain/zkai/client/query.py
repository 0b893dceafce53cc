"""Paying for a private query and reading its proven answer.

The flow (docs/DESIGN.md): resolve the model, choose k eligible nodes that serve it, check the
input and the wallet's funds *before* anything is signed, then in one transaction pay with a
permit and post commitments and sealed payloads; wait for every share's `ResultSubmitted`, check
on-chain that each share's proof was accepted, reconstruct and decode. If the deadline passes
first, settle the query: the missing shares are refunded and their nodes slashed.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.logs import DISCARD

from zkai.chain.client import ChainClient, with_retries
from zkai.client.permit import sign_permit
from zkai.errors import (
    ContractRevertError,
    InsufficientFundsError,
    ModelInactiveError,
    NotEnoughNodesError,
    QueryError,
    UnknownModelError,
)
from zkai.inference import QuerySecrets, prepare_query, reconstruct
from zkai.models.manifest import Manifest, Prediction
from zkai.units import format_amount

# IQueryMarket.ShareStatus
SHARE_PENDING, SHARE_SUBMITTED, SHARE_PAID, SHARE_MISSED = 1, 2, 3, 4
ACCEPTED_STATUSES = (SHARE_SUBMITTED, SHARE_PAID)
# Gas a query may need beyond requestQuery itself, for the ETH pre-check (settle on expiry).
SETTLE_GAS_ALLOWANCE = 200_000
# Gas limit for `settle` when it cannot be estimated (see `_expire`): generous per missed share.
SETTLE_GAS_BASE, SETTLE_GAS_PER_SHARE = 80_000, 90_000
# How long after the deadline `wait` keeps trying to settle before giving up with an error.
SETTLE_PATIENCE_S = 120
# Seconds the nodes have to prove, by default: the market's minimum window is 60 s; a node whose
# worker dies mid-proof recovers in seconds (`zkai.node.locks`), far within either.
DEFAULT_DEADLINE_S = 120


@dataclass(frozen=True)
class NodeChoice:
    address: str
    encryption_key: bytes


@dataclass(frozen=True)
class ModelOnChain:
    model_id: int
    version: int
    verifier: str
    weights_commitment: bytes
    input_size: int
    output_size: int
    shares: int
    price: int


@dataclass
class ShareReceipt:
    index: int
    node: str
    tx_hash: str
    gas_used: int
    outputs: tuple[int, ...]
    status: int = SHARE_SUBMITTED


@dataclass
class QueryOutcome:
    """What `zkai query --json` prints (see `as_json`)."""

    query_id: int
    model: str
    model_id: int
    version: int
    fee: int
    request_tx: str
    request_gas: int
    shares: list[ShareReceipt] = field(default_factory=list)
    prediction: Prediction | None = None
    outputs: list[int] | None = None
    latency_s: float = 0.0
    verified: bool = False
    refund: int = 0
    expired: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "model": self.model,
            "model_id": self.model_id,
            "version": self.version,
            "prediction": None if self.prediction is None else self.prediction.label,
            "scores": None if self.prediction is None else list(self.prediction.scores),
            "outputs": self.outputs,
            "fee": self.fee,
            "refund": self.refund,
            "expired": self.expired,
            "request": {"tx_hash": self.request_tx, "gas_used": self.request_gas},
            "shares": [
                {"index": s.index, "node": s.node, "tx_hash": s.tx_hash, "gas_used": s.gas_used}
                for s in self.shares
            ],
            "latency_s": round(self.latency_s, 3),
            "verified": self.verified,
        }


@dataclass
class PendingQuery:
    query_id: int
    deadline: int
    nodes: list[str]
    secrets: QuerySecrets
    outcome: QueryOutcome
    started: float


def node_serves(metadata_uri: str, model_id: int) -> bool:
    """A node's metadata URI is compact JSON `{"name": ..., "models": [ids]}` (docs/DESIGN.md)."""
    try:
        metadata = json.loads(metadata_uri)
        return model_id in {int(m) for m in metadata.get("models", [])}
    except (ValueError, TypeError, AttributeError):
        return False


class QueryClient:
    def __init__(self, chain: ChainClient, account: LocalAccount) -> None:
        self.chain = chain
        self.account = account
        self.market = chain.contract("QueryMarket")
        self.token = chain.contract("ZKAIToken")
        self.models = chain.contract("ModelRegistry")
        self.nodes = chain.contract("NodeRegistry")

    # -- before paying ------------------------------------------------------------------------

    def model(self, model_id: int) -> ModelOnChain:
        count = int(self.chain.call(self.models.functions.modelCount()))
        if not 1 <= model_id <= count:
            raise UnknownModelError(
                f"no model with id {model_id} is registered ({count} models on this chain)"
            )
        model, version = self.chain.call(self.models.functions.getCurrent(model_id))
        owner, latest, active = model
        if not active:
            raise ModelInactiveError(f"model {model_id} has been deactivated by its owner {owner}")
        verifier, price, commitment, n_in, n_out, shares, _ = version
        return ModelOnChain(
            model_id,
            int(latest),
            verifier,
            bytes(commitment),
            int(n_in),
            int(n_out),
            int(shares),
            int(price),
        )

    def eligible_nodes(self, model_id: int) -> list[NodeChoice]:
        addresses = self.chain.call(self.nodes.functions.getEligibleNodes(0, 1000))
        choices = []
        for address in addresses:
            node = self.chain.call(self.nodes.functions.getNode(address))
            encryption_key, _stake, _unlock, registered, metadata = node
            if registered and node_serves(metadata, model_id):
                choices.append(NodeChoice(to_checksum_address(address), bytes(encryption_key)))
        return choices

    def choose_nodes(
        self, model: ModelOnChain, requested: Sequence[str] | None = None
    ) -> list[NodeChoice]:
        eligible = self.eligible_nodes(model.model_id)
        if requested:
            by_address = {n.address.lower(): n for n in eligible}
            chosen = []
            for address in requested:
                if address.lower() not in by_address:
                    raise NotEnoughNodesError(
                        f"node {address} is not an eligible node serving model {model.model_id}"
                    )
                chosen.append(by_address[address.lower()])
            if len({c.address for c in chosen}) != len(chosen):
                raise NotEnoughNodesError("the same node was named twice")
            if len(chosen) != model.shares:
                raise NotEnoughNodesError(
                    f"model {model.model_id} needs exactly {model.shares} nodes, "
                    f"{len(chosen)} were named"
                )
            return chosen
        if len(eligible) < model.shares:
            raise NotEnoughNodesError(
                f"model {model.model_id} needs {model.shares} nodes but only {len(eligible)} "
                "eligible nodes serve it; start more nodes (`zkai node run`) or try later"
            )
        return random.SystemRandom().sample(eligible, model.shares)

    def check_funds(self, fee: int) -> None:
        balance = int(self.chain.call(self.token.functions.balanceOf(self.account.address)))
        if balance < fee:
            raise InsufficientFundsError(
                f"the fee is {format_amount(fee)} ZKAI but {self.account.address} holds "
                f"{format_amount(balance)} ZKAI; top up the wallet"
            )
        eth = with_retries(lambda: self.chain.w3.eth.get_balance(self.account.address))
        gas_price = with_retries(lambda: self.chain.w3.eth.gas_price)
        if eth < gas_price * SETTLE_GAS_ALLOWANCE:
            raise InsufficientFundsError(
                f"{self.account.address} has {format_amount(eth)} ETH, too little for gas "
                f"(need about {format_amount(gas_price * SETTLE_GAS_ALLOWANCE)} ETH)"
            )

    # -- paying and posting -------------------------------------------------------------------

    def submit(
        self,
        name: str,
        manifest: Manifest,
        model_id: int,
        x: Sequence[float],
        *,
        nodes: Sequence[str] | None = None,
        deadline_s: int = DEFAULT_DEADLINE_S,
    ) -> PendingQuery:
        """Check everything, then pay and post the query in one transaction."""
        model = self.model(model_id)
        if model.weights_commitment != manifest.content_hash:
            raise QueryError(
                f"the local manifest of {name!r} (hash 0x{manifest.content_hash.hex()}) is not "
                f"model {model_id} version {model.version} on-chain "
                f"(0x{model.weights_commitment.hex()}); fetch the current manifest"
            )
        if len(x) != model.input_size:
            raise QueryError(
                f"model {name!r} takes {model.input_size} numbers, the input has {len(x)}"
            )
        chosen = self.choose_nodes(model, nodes)
        self.check_funds(model.price)
        prepared = prepare_query(manifest, x, [n.encryption_key for n in chosen], check_range=True)
        started = time.monotonic()
        # The latest block can be old on a chain that mines on demand; the next one is not.
        chain_now = int(with_retries(lambda: self.chain.w3.eth.get_block("latest"))["timestamp"])
        deadline = max(chain_now, int(time.time())) + deadline_s
        permit = sign_permit(
            self.account,
            self.token,
            self.market.address,
            model.price,
            deadline,
            self.chain.deployment.chain_id,
        )
        call = self.market.functions.requestQueryWithPermit(
            model_id,
            [c.address for c in chosen],
            [r.commitment for r in prepared.requests],
            [r.ciphertext for r in prepared.requests],
            deadline,
            permit.as_tuple(),
        )
        receipt = self.chain.transact(self.account, call)
        (event,) = self.market.events.QueryRequested().process_receipt(receipt, errors=DISCARD)
        query_id = int(event["args"]["queryId"])
        outcome = QueryOutcome(
            query_id=query_id,
            model=name,
            model_id=model_id,
            version=int(event["args"]["modelVersion"]),
            fee=int(event["args"]["fee"]),
            request_tx="0x" + receipt["transactionHash"].hex().removeprefix("0x"),
            request_gas=int(receipt["gasUsed"]),
        )
        return PendingQuery(
            query_id, deadline, [c.address for c in chosen], prepared.secrets, outcome, started
        )

    # -- waiting and reading ------------------------------------------------------------------

    def _receipt(self, tx_hash: Any) -> Any:
        return with_retries(lambda: self.chain.w3.eth.get_transaction_receipt(tx_hash))

    def _results(self, pending: PendingQuery, from_block: int) -> dict[int, ShareReceipt]:
        latest = with_retries(lambda: self.chain.w3.eth.block_number)
        found: dict[int, ShareReceipt] = {}
        for log in self.chain.events(
            "QueryMarket",
            "ResultSubmitted",
            from_block,
            latest,
            {"queryId": pending.query_id},
        ):
            args = log["args"]
            tx_hash = log["transactionHash"]
            receipt = self._receipt(tx_hash)
            index = int(args["shareIndex"])
            found[index] = ShareReceipt(
                index=index,
                node=to_checksum_address(args["node"]),
                tx_hash="0x" + bytes(tx_hash).hex(),
                gas_used=int(receipt["gasUsed"]),
                outputs=tuple(int(v) for v in args["outputs"]),
            )
        return found

    def wait(
        self,
        pending: PendingQuery,
        manifest: Manifest,
        *,
        on_progress: Callable[[int, int], None] | None = None,
        poll_s: float = 0.25,
    ) -> QueryOutcome:
        """Wait for every share (at most until the deadline), then reconstruct or settle."""
        outcome = pending.outcome
        k = len(pending.nodes)
        request_block = int(self._receipt(outcome.request_tx)["blockNumber"])
        results: dict[int, ShareReceipt] = {}
        while True:
            results = self._results(pending, request_block)
            if on_progress is not None:
                on_progress(len(results), k)
            if len(results) == k:
                break
            # Wall-clock time: a chain that mines only on demand (anvil) has no newer block to ask.
            if time.time() > pending.deadline + 1:
                try:
                    return self._expire(pending, results)
                except ContractRevertError as exc:
                    if exc.error != "DeadlineNotPassed":
                        raise
                    if time.time() > pending.deadline + SETTLE_PATIENCE_S:
                        raise QueryError(
                            f"query {pending.query_id} is past its deadline but the chain does "
                            f"not accept `settle` yet ({exc}); retry later"
                        ) from exc
            time.sleep(poll_s)
        outcome.shares = [results[i] for i in range(k)]
        outcome.verified = self._verified_on_chain(pending.query_id, k)
        outputs = [s.outputs for s in outcome.shares]
        outcome.outputs = reconstruct(manifest, pending.secrets, outputs)
        outcome.prediction = manifest.predict(outcome.outputs)
        outcome.latency_s = time.monotonic() - pending.started
        return outcome

    def _verified_on_chain(self, query_id: int, k: int) -> bool:
        """Every share's proof was accepted by the verifier: its status says so on-chain."""
        for index in range(k):
            share = self.chain.call(self.market.functions.getShare(query_id, index))
            if int(share[1]) not in ACCEPTED_STATUSES:
                return False
        return True

    def _expire(self, pending: PendingQuery, results: dict[int, ShareReceipt]) -> QueryOutcome:
        """After the deadline: settle (refund the missing shares, slash their nodes)."""
        outcome = pending.outcome
        query = self.chain.call(self.market.functions.getQuery(pending.query_id))
        settled = bool(query[5])
        if not settled:
            settle = self.market.functions.settle(pending.query_id)
            try:
                receipt = self.chain.transact(self.account, settle)
            except ContractRevertError as exc:
                # Estimation runs against the latest block; a chain that mines on demand (anvil)
                # may have none past the deadline yet, while the block this transaction lands in
                # will be. Past a grace period, send it with a fixed gas limit instead.
                if exc.error != "DeadlineNotPassed" or time.time() < pending.deadline + 10:
                    raise
                gas = SETTLE_GAS_BASE + SETTLE_GAS_PER_SHARE * len(pending.nodes)
                receipt = self.chain.transact(self.account, settle, gas=gas)
            logs = self.market.events.QuerySettled().process_receipt(receipt, errors=DISCARD)
            outcome.refund = int(logs[0]["args"]["refund"]) if logs else 0
        else:
            latest = with_retries(lambda: self.chain.w3.eth.block_number)
            for log in self.chain.events(
                "QueryMarket",
                "QuerySettled",
                self.chain.deployment.start_block,
                latest,
                {"queryId": pending.query_id},
            ):
                outcome.refund = int(log["args"]["refund"])
        outcome.shares = [results[i] for i in sorted(results)]
        outcome.expired = True
        outcome.latency_s = time.monotonic() - pending.started
        return outcome
