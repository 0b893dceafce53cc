"""A private, proven, paid query (protocol version 2), from the user's wallet.

`QueryClient.run` does everything `zkai query` shows:
1. Plan, before anything is signed: the model's current version and parts (on-chain), the local
   manifest by hash, the input checked against the model, k eligible nodes for every part (those
   that host it; distinct nodes across parts where there are enough), each part's budget (the
   number of its block evaluations in one forward pass), the escrow E, the deadlines from the
   market's minimums, and the wallet's ZKAI and ETH.
2. Request: the round-1 shares of part 0 are dealt first (the request carries their commitments),
   then one transaction pays E with a permit and pins the version and a fee cap.
3. Rounds: the manifest's steps in order. A linear block goes to the k nodes of its part, each with
   a fresh share and mask sealed to the node's recorded key and a `Round` signed with the session
   key; each answer is checked (`QuerySession.accept`) before it is used; the block's output is
   sum out - sum m + b. User steps (activations, rescaling) run here, on the reconstructed values.
4. Proofs: every node claims its assignment on-chain with one proof; the answer is reported as
   verified only when every assignment's recorded (rounds, T_n, O_n) equals the client's own.
   Unused budget is refunded by `settle` (anyone may send it after the proof deadline).
Which nodes are asked, and when, never depends on the reconstructed values (PROTOCOL.md, step 3).
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from zkai.chain.client import ChainClient, with_retries
from zkai.client.permit import sign_permit
from zkai.client.session import PreparedRound, QuerySession
from zkai.client.transport import RoundTransport
from zkai.crypto.field import encode_signed_vector
from zkai.errors import (
    InsufficientFundsError,
    NodeUnreachableError,
    NotEnoughNodesError,
    QueryError,
    RoundRefusedError,
)
from zkai.models.manifest import Manifest, Prediction
from zkai.protocol.market import (
    ModelTerms,
    NodeInfo,
    eligible_nodes_for_part,
    read_assignment,
    read_market_terms,
    read_model,
)
from zkai.protocol.wire import RoundAnswer
from zkai.units import format_amount

__all__ = [
    "DEFAULT_ROUND_WINDOW_S",
    "QueryClient",
    "QueryIncompleteError",
    "QueryOutcome",
    "QueryPlan",
]

# Seconds the user gives itself for all rounds (t_R - now). Nodes claim as soon as a budget is
# used up, so a forward pass never waits for it; it bounds how long nodes keep a query open.
DEFAULT_ROUND_WINDOW_S = 120
# ETH for the request and a later settle, for the pre-check.
GAS_ALLOWANCE = 1_500_000
CLAIM_PATIENCE_S = 30.0

Progress = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class QueryPlan:
    """Everything decided before paying."""

    terms: ModelTerms
    nodes: tuple[tuple[NodeInfo, ...], ...]  # per part
    budgets: tuple[int, ...]  # per part
    escrow: int
    round_deadline: int
    proof_deadline: int


@dataclass
class AssignmentOutcome:
    part: int
    node: str
    rounds: int
    claimed: bool = False
    claim_tx: str | None = None
    claim_gas: int = 0
    credit: int = 0


@dataclass
class QueryOutcome:
    """What `zkai query --json` prints (see `as_json`)."""

    query_id: bytes
    model: str
    model_id: int
    version: int
    escrow: int
    request_tx: str
    request_gas: int
    round_deadline: int
    proof_deadline: int
    assignments: list[AssignmentOutcome] = field(default_factory=list)
    prediction: Prediction | None = None
    outputs: list[int] | None = None
    clamped: int = 0
    answer_s: float = 0.0
    latency_s: float = 0.0
    verified: bool = False
    cost: int = 0
    session: QuerySession | None = field(default=None, repr=False, compare=False)

    def as_json(self) -> dict[str, Any]:
        p = self.prediction
        return {
            "query_id": "0x" + self.query_id.hex(),
            "model": self.model,
            "model_id": self.model_id,
            "version": self.version,
            "prediction": None if p is None else p.label,
            "label_name": None if p is None else p.label_name,
            "scores": None if p is None else list(p.scores),
            "outputs": self.outputs,
            "clamped_values": self.clamped,
            "escrow": self.escrow,
            "cost": self.cost,
            "request": {"tx_hash": self.request_tx, "gas_used": self.request_gas},
            "deadlines": {"rounds": self.round_deadline, "proofs": self.proof_deadline},
            "assignments": [
                {
                    "part": a.part,
                    "node": a.node,
                    "rounds": a.rounds,
                    "claimed": a.claimed,
                    "claim_tx": a.claim_tx,
                    "claim_gas": a.claim_gas,
                    "credit": a.credit,
                }
                for a in self.assignments
            ],
            "answer_s": round(self.answer_s, 3),
            "latency_s": round(self.latency_s, 3),
            "verified": self.verified,
        }


def _distinct(nodes: Sequence[NodeInfo]) -> list[NodeInfo]:
    """Nodes with keys of their own: a node whose encryption key or ack signer was seen before is
    dropped (one key holder would otherwise read several shares of a part)."""
    keys: set[bytes] = set()
    signers: set[str] = set()
    kept = []
    for n in nodes:
        if n.encryption_key in keys or n.ack_signer in signers:
            continue
        keys.add(n.encryption_key)
        signers.add(n.ack_signer)
        kept.append(n)
    return kept


def _noop(_event: str, _detail: dict[str, Any]) -> None:
    return None


class QueryClient:
    """Plans, pays for and runs private queries from one wallet."""

    def __init__(
        self,
        chain: ChainClient,
        account: LocalAccount,
        *,
        transport: RoundTransport | None = None,
        rng: random.Random | None = None,
        allow_single_node: bool = False,
    ) -> None:
        self.allow_single_node = allow_single_node
        self.chain = chain
        self.account = account
        self.market = chain.contract("QueryMarket")
        self.token = chain.contract("ZKAIToken")
        self.transport = transport or RoundTransport()
        self.rng = rng or random.SystemRandom()

    # -- planning ------------------------------------------------------------------------------

    def plan(
        self,
        manifest: Manifest,
        model_id: int,
        *,
        nodes: Sequence[Sequence[str]] | None = None,
        round_window_s: int = DEFAULT_ROUND_WINDOW_S,
        exclude: Sequence[str] = (),
    ) -> QueryPlan:
        terms = read_model(self.chain, model_id)
        if terms.manifest_hash != manifest.hash:
            raise QueryError(
                f"the local manifest of {manifest.name!r} (0x{manifest.hash.hex()}) is not "
                f"model {model_id} version {terms.version} on-chain "
                f"(0x{terms.manifest_hash.hex()}); fetch the current manifest"
            )
        if len(terms.parts) != len(manifest.parts):
            raise QueryError(
                f"model {model_id} has {len(terms.parts)} parts on-chain, the manifest "
                f"{len(manifest.parts)}"
            )
        budgets = tuple(manifest.rounds_per_pass(p) for p in range(len(terms.parts)))
        for p, (b, part) in enumerate(zip(budgets, terms.parts, strict=True)):
            if b > part.max_rounds:
                raise QueryError(
                    f"part {p} needs {b} rounds but its circuit proves at most {part.max_rounds}"
                )
        chosen = self._choose(terms, nodes, exclude)
        escrow = sum(
            part.shares * b * part.price for part, b in zip(terms.parts, budgets, strict=True)
        )
        market = read_market_terms(self.chain)
        now = self._chain_now()
        round_deadline = now + round_window_s
        window = max([market.min_proof_window_floor, *(p.min_proof_window for p in terms.parts)])
        proof_deadline = round_deadline + window
        if (
            proof_deadline + market.challenge_window - now + market.unbonding_margin
            > market.unbonding_period
        ):
            raise QueryError(
                "the deadlines would outlast the nodes' unbonding period; "
                "use a shorter round window"
            )
        return QueryPlan(terms, chosen, budgets, escrow, round_deadline, proof_deadline)

    def _choose(
        self, terms: ModelTerms, requested: Sequence[Sequence[str]] | None, exclude: Sequence[str]
    ) -> tuple[tuple[NodeInfo, ...], ...]:
        excluded = {a.lower() for a in exclude}
        used: set[str] = set()
        chosen = []
        for p, part in enumerate(terms.parts):
            if part.shares < 2 and not self.allow_single_node:
                raise QueryError(
                    f"part {p} of model {terms.model_id} is served by one node (k = 1): that node "
                    "would see its input in the clear; refused (allow it explicitly to accept)"
                )
            eligible = self._live(
                [
                    n
                    for n in eligible_nodes_for_part(self.chain, terms.model_id, p)
                    if n.address.lower() not in excluded
                ]
            )
            if requested is not None:
                by_address = {n.address.lower(): n for n in eligible}
                names = list(requested[p]) if p < len(requested) else []
                picked = []
                for address in names:
                    if address.lower() not in by_address:
                        raise NotEnoughNodesError(
                            f"node {address} is not an eligible node hosting part {p} of model "
                            f"{terms.model_id}"
                        )
                    picked.append(by_address[address.lower()])
                if len(_distinct(picked)) != len(picked) or len(picked) != part.shares:
                    raise NotEnoughNodesError(
                        f"part {p} of model {terms.model_id} needs exactly "
                        f"{part.shares} distinct nodes"
                    )
            else:
                if len(eligible) < part.shares:
                    raise NotEnoughNodesError(
                        f"part {p} of model {terms.model_id} needs {part.shares} nodes but only "
                        f"{len(eligible)} eligible nodes that host it answer; start more nodes "
                        f"(`zkai node register --part {terms.model_id}:{p}`) or try later"
                    )
                distinct = _distinct(eligible)
                fresh = [n for n in distinct if n.address not in used]
                pool = fresh if len(fresh) >= part.shares else distinct
                if len(pool) < part.shares:
                    raise NotEnoughNodesError(
                        f"part {p} of model {terms.model_id} needs {part.shares} nodes with "
                        f"distinct keys; only {len(pool)} of its live nodes have their own keys"
                    )
                picked = self.rng.sample(pool, part.shares)
            used.update(n.address for n in picked)
            chosen.append(tuple(picked))
        return tuple(chosen)

    def _live(self, nodes: Sequence[NodeInfo]) -> list[NodeInfo]:
        """The nodes whose endpoint answers its health check now (asked concurrently)."""
        if not nodes:
            return []
        with ThreadPoolExecutor(max_workers=min(16, len(nodes))) as pool:
            alive = list(pool.map(lambda n: self.transport.healthy(n.endpoint, n.address), nodes))
        return [n for n, ok in zip(nodes, alive, strict=True) if ok]

    def _chain_now(self) -> int:
        latest = with_retries(lambda: self.chain.w3.eth.get_block("latest"))
        # A chain that mines on demand (anvil) may have an old latest block; the next one is not.
        return max(int(latest["timestamp"]), int(time.time()))

    def check_funds(self, amount: int) -> None:
        balance = int(self.chain.call(self.token.functions.balanceOf(self.account.address)))
        if balance < amount:
            raise InsufficientFundsError(
                f"the query escrows {format_amount(amount)} ZKAI but {self.account.address} holds "
                f"{format_amount(balance)} ZKAI; top up the wallet"
            )
        eth = with_retries(lambda: self.chain.w3.eth.get_balance(self.account.address))
        gas_price = with_retries(lambda: self.chain.w3.eth.gas_price)
        if eth < gas_price * GAS_ALLOWANCE:
            raise InsufficientFundsError(
                f"{self.account.address} has {format_amount(eth)} ETH, too little for gas "
                f"(need about {format_amount(gas_price * GAS_ALLOWANCE)} ETH)"
            )

    # -- running -------------------------------------------------------------------------------

    def run(
        self,
        name: str,
        manifest: Manifest,
        model_id: int,
        x: Sequence[float],
        *,
        nodes: Sequence[Sequence[str]] | None = None,
        max_fee: int | None = None,
        round_window_s: int = DEFAULT_ROUND_WINDOW_S,
        wait_proofs: bool = True,
        on_progress: Progress | None = None,
    ) -> QueryOutcome:
        progress = on_progress or _noop
        started = time.monotonic()
        values = manifest.quantise_input(x, check_range=True)
        plan = self.plan(manifest, model_id, nodes=nodes, round_window_s=round_window_s)
        fee_cap = plan.escrow if max_fee is None else max_fee
        if plan.escrow > fee_cap:
            raise QueryError(
                f"the query escrows {format_amount(plan.escrow)} ZKAI, above --max-fee "
                f"{format_amount(fee_cap)} ZKAI"
            )
        self.check_funds(plan.escrow)
        session = QuerySession(
            self.chain.deployment.chain_id, self.market.address, self.account.address
        )
        for p, part_nodes in enumerate(plan.nodes):
            for n in part_nodes:
                session.add_assignment(
                    p,
                    n.address,
                    encryption_key=n.encryption_key,
                    ack_signer=n.ack_signer,
                    endpoint=n.endpoint,
                    budget=plan.budgets[p],
                )
        # Part 0's first round is dealt before paying: the request carries its commitments.
        first = manifest.blocks[0]
        if manifest.part_of_block(first.index).index != 0:
            raise QueryError("the first linear block of a model must belong to part 0")
        pending = session.prepare_block(
            0, first.index, encode_signed_vector(values), first.output_size
        )
        outcome = self._request(name, plan, session, pending, fee_cap)
        outcome.session = session
        pending = self._adopt_recorded_keys(session, pending)
        progress("requested", {"query_id": outcome.query_id, "tx": outcome.request_tx})

        def send(rounds: Sequence[PreparedRound]) -> list[RoundAnswer]:
            try:
                return self._send_all(session, rounds)
            except (RoundRefusedError, NodeUnreachableError) as exc:
                raise QueryIncompleteError(
                    f"{exc}. Query 0x{outcome.query_id.hex()} stops at block {rounds[0].block}: "
                    "the nodes that served their rounds claim them; the rest of the escrow is "
                    f"refunded by `zkai queries settle 0x{outcome.query_id.hex()}` after the "
                    f"proof deadline (chain time {plan.proof_deadline})",
                    outcome,
                ) from exc

        values, clamped = session.run_blocks(
            manifest,
            values,
            send,
            first=pending,
            on_block=lambda b, p: progress("block", {"block": b, "part": p}),
        )
        outcome.outputs = list(values)
        outcome.clamped = clamped
        outcome.prediction = manifest.decode(values, clamped=clamped)
        outcome.answer_s = time.monotonic() - started
        outcome.assignments = [
            AssignmentOutcome(p, s.node, s.rounds) for (p, _), s in session.assignments.items()
        ]
        if wait_proofs:
            self.wait_claims(outcome, session, on_progress=progress)
        outcome.latency_s = time.monotonic() - started
        return outcome

    def _request(
        self,
        name: str,
        plan: QueryPlan,
        session: QuerySession,
        first: Sequence[PreparedRound],
        fee_cap: int,
    ) -> QueryOutcome:
        permit = sign_permit(
            self.account,
            self.token,
            self.market.address,
            plan.escrow,
            plan.round_deadline,
            self.chain.deployment.chain_id,
        )
        request = (
            session.salt,
            plan.terms.model_id,
            plan.terms.version,
            fee_cap,
            [[n.address for n in part] for part in plan.nodes],
            list(plan.budgets),
            plan.round_deadline,
            plan.proof_deadline,
            session.session_key.address,
            [p.commitment for p in first],
        )
        receipt = self.chain.transact(
            self.account, self.market.functions.requestQuery(request, permit.as_tuple())
        )
        logs = self.market.events.QueryRequested().process_receipt(receipt, errors=DISCARD)
        if not logs or bytes(logs[0]["args"]["queryId"]) != session.query_id:
            raise QueryError("the request was mined but logged no QueryRequested for this query")
        return QueryOutcome(
            query_id=session.query_id,
            model=name,
            model_id=plan.terms.model_id,
            version=plan.terms.version,
            escrow=plan.escrow,
            request_tx="0x" + bytes(receipt["transactionHash"]).hex(),
            request_gas=int(receipt["gasUsed"]),
            round_deadline=plan.round_deadline,
            proof_deadline=plan.proof_deadline,
        )

    def _adopt_recorded_keys(
        self, session: QuerySession, pending: list[PreparedRound]
    ) -> list[PreparedRound]:
        """Use the keys the market recorded at request (a node may have rotated its keys
        between planning and mining): Acks must recover to the recorded signer to be evidence,
        and the node decrypts with the recorded key. Part 0's first payloads are re-sealed."""
        for part, node in list(session.assignments):
            record = read_assignment(self.chain, session.query_id, part, node)
            session.use_recorded_keys(
                part, node, bytes(record.encryptionKey), str(record.ackSigner)
            )
        return [session.reseal(p) for p in pending]

    def _send_all(
        self, session: QuerySession, pending: Sequence[PreparedRound]
    ) -> list[RoundAnswer]:
        """Send one block's rounds to its k nodes at once; their answers in the same order."""
        with ThreadPoolExecutor(max_workers=len(pending)) as pool:
            futures = [
                pool.submit(
                    self.transport.send, session.assignment(p.part, p.node).endpoint, p.request
                )
                for p in pending
            ]
            return [f.result() for f in futures]

    # -- after the answer ------------------------------------------------------------------------

    def wait_claims(
        self,
        outcome: QueryOutcome,
        session: QuerySession,
        *,
        on_progress: Progress | None = None,
        poll_s: float = 0.3,
    ) -> None:
        """Wait until every assignment is claimed (or its proof deadline passes), then verify."""
        progress = on_progress or _noop
        pending = {(a.part, a.node): a for a in outcome.assignments}
        while pending:
            for key, a in list(pending.items()):
                record = read_assignment(self.chain, outcome.query_id, a.part, a.node)
                if int(record.rounds) > 0:
                    a.claimed = True
                    a.credit = int(record.rounds) * int(record.price)
                    state = session.assignment(a.part, a.node).state
                    a.rounds = int(record.rounds)
                    if int(record.rounds) != state.rounds or not record.claimed_transcripts(
                        state.input_transcript, state.output_transcript
                    ):
                        raise QueryError(
                            f"node {a.node} claimed part {a.part} with a transcript that differs "
                            "from this client's: the answer is not verified"
                        )
                    del pending[key]
                    progress("claimed", {"part": a.part, "node": a.node})
            if not pending:
                break
            if self._chain_now() > outcome.proof_deadline + CLAIM_PATIENCE_S:
                return
            time.sleep(poll_s)
        self._claim_receipts(outcome)
        outcome.verified = all(a.claimed for a in outcome.assignments)
        outcome.cost = sum(a.credit for a in outcome.assignments)

    def _claim_receipts(self, outcome: QueryOutcome) -> None:
        latest = with_retries(lambda: self.chain.w3.eth.block_number)
        start = latest - 5_000 if latest > 5_000 else 0
        by_key = {(a.part, a.node): a for a in outcome.assignments}
        for log in self.chain.events(
            "QueryMarket", "Claimed", start, latest, {"queryId": outcome.query_id}
        ):
            key = (int(log["args"]["part"]), str(log["args"]["node"]))
            if key in by_key:
                tx_hash = log["transactionHash"]
                receipt = with_retries(
                    functools.partial(self.chain.w3.eth.get_transaction_receipt, tx_hash)
                )
                by_key[key].claim_tx = "0x" + bytes(tx_hash).hex()
                by_key[key].claim_gas = int(receipt["gasUsed"])


class QueryIncompleteError(QueryError):
    """A query was paid but could not finish (a node refused or vanished mid-query)."""

    def __init__(self, message: str, outcome: QueryOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome
