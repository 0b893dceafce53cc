"""A private, proven, paid query (protocol version 2), from the user's wallet.

`QueryClient.run` does everything `zkai query` shows:
1. Plan, before anything is signed: the model's current version and parts (on-chain), the local
   manifest by hash, the input checked against the model, k eligible nodes for every part (those
   that host it; distinct nodes across parts where there are enough), each part's budget (the
   number of its block evaluations in one forward pass; `zkai generate` passes its own), checked
   against the part's max budget on-chain, the escrow E, the deadlines from the market's
   minimums, and the wallet's ZKAI and ETH.
2. Request (`PaidRounds`, lazily, inside the first round): the round-1 shares of part 0 are dealt
   first (the request carries their commitments), then one transaction pays E with a permit and
   pins the version and a fee cap; then the first round goes out.
3. Rounds: the manifest's steps in order. A linear block goes to the k nodes of its part, each with
   a fresh share and mask sealed to the node's recorded key and a `Round` signed with the session
   key; each answer is checked (`QuerySession.accept`) before it is used; the block's output is
   sum out - sum m + b. User steps (activations, rescaling) run here, on the reconstructed values.
4. Proofs: every node claims its assignment on-chain, in one proof or in chunks of at most R_max
   rounds (each a `Claimed` event); a chunk short of the client's round count is not a claim of
   the assignment. The answer is reported as verified only when every assignment's recorded
   (rounds, T_n, O_n) equals the client's own (`wait_claims`).
`zkai generate` (`zkai.client.generate`) runs the same plan, request, rounds and claim wait with
the language model's user-side program in place of the forward pass.
   Unused budget is refunded by `settle` (anyone may send it after the proof deadline).
Which nodes are asked, and when, never depends on the reconstructed values (PROTOCOL.md, step 3).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from zkai.chain.client import ChainClient, with_retries
from zkai.circuits.validity import ValidityArtifacts
from zkai.client.claims import (
    AssignmentOutcome,
    ClaimChunk,
    QueryOutcome,
    wait_claims,
)
from zkai.client.permit import sign_permit
from zkai.client.session import PreparedRound, QuerySession
from zkai.client.transport import RoundTransport
from zkai.client.validity import validity_keys, validity_proof
from zkai.errors import (
    InsufficientFundsError,
    NodeUnreachableError,
    NotEnoughNodesError,
    QueryError,
    RoundRefusedError,
)
from zkai.models.manifest import Manifest
from zkai.protocol.market import (
    NO_VALIDITY_PROOF,
    ModelTerms,
    NodeInfo,
    PartTerms,
    eligible_nodes_for_part,
    read_assignment,
    read_market_terms,
    read_model,
)
from zkai.protocol.wire import RoundAnswer
from zkai.units import format_amount

__all__ = [
    "DEFAULT_ROUND_WINDOW_S",
    "AssignmentOutcome",
    "BudgetTooLargeError",
    "ClaimChunk",
    "PaidRounds",
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
    validity: ValidityArtifacts | None = None
    """The version's validity circuit (its registered key), when the version has an input rule."""


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


def part_max_budget(part: PartTerms) -> int:
    """The most rounds one assignment of `part` may be given (>= R_max; larger only for a part
    whose claims may be chunked). Registries from before chunked claims record none: R_max."""
    return int(getattr(part, "max_budget", part.max_rounds))


class BudgetTooLargeError(QueryError):
    """A part would need more rounds per assignment than its terms allow (nothing was paid).
    `fits`: the largest request that would fit, where the caller knows it (--tokens)."""

    def __init__(
        self,
        part: int,
        budget: int,
        max_budget: int,
        max_rounds: int,
        *,
        message: str | None = None,
        fits: int | None = None,
    ) -> None:
        self.part = part
        self.budget = budget
        self.max_budget = max_budget
        self.fits = fits
        chunked = f" (claimed in chunks of {max_rounds})" if max_budget > max_rounds else ""
        super().__init__(
            message
            or f"part {part} needs {budget} rounds per node but its terms allow at most "
            f"{max_budget}{chunked}; ask for less"
        )


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

    def read_terms(self, manifest: Manifest, model_id: int) -> ModelTerms:
        """The model's current version on-chain, checked to be `manifest` (read only)."""
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
        for p, part in enumerate(terms.parts):
            mismatch = part.limits_mismatch(manifest.part(p))
            if mismatch is not None:
                raise QueryError(
                    f"part {p} of model {model_id} v{terms.version}: {mismatch}; its nodes "
                    "would not serve it, so nothing is paid"
                )
        return terms

    def plan(
        self,
        manifest: Manifest,
        model_id: int,
        *,
        budgets: Sequence[int] | None = None,
        terms: ModelTerms | None = None,
        nodes: Sequence[Sequence[str]] | None = None,
        round_window_s: int = DEFAULT_ROUND_WINDOW_S,
        exclude: Sequence[str] = (),
        on_progress: Progress | None = None,
    ) -> QueryPlan:
        """Everything decided before paying; nothing is signed or sent. `budgets` are the rounds
        per assignment of each part (default: one forward pass); each must be within the part's
        max budget on-chain (`BudgetTooLargeError` otherwise)."""
        terms = terms or self.read_terms(manifest, model_id)
        if budgets is None:
            budgets = [manifest.rounds_per_pass(p) for p in range(len(terms.parts))]
        budgets = tuple(budgets)
        if len(budgets) != len(terms.parts):
            raise QueryError(f"{len(budgets)} budgets for the {len(terms.parts)} parts")
        for p, (b, part) in enumerate(zip(budgets, terms.parts, strict=True)):
            limit = part_max_budget(part)
            if not 1 <= b <= limit:
                raise BudgetTooLargeError(p, b, limit, part.max_rounds)
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
        validity = validity_keys(manifest, terms, on_progress)
        return QueryPlan(terms, chosen, budgets, escrow, round_deadline, proof_deadline, validity)

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

    # -- paying ---------------------------------------------------------------------------------

    def fee_cap(self, plan: QueryPlan, max_fee: int | None) -> int:
        """The request's fee cap (the escrow unless --max-fee), refused if the escrow exceeds it."""
        cap = plan.escrow if max_fee is None else max_fee
        if plan.escrow > cap:
            raise QueryError(
                f"the query escrows {format_amount(plan.escrow)} ZKAI, above --max-fee "
                f"{format_amount(cap)} ZKAI; raise --max-fee or ask for less"
            )
        return cap

    def open_session(self, plan: QueryPlan) -> QuerySession:
        """A fresh session (salt, session key) with every planned assignment and its budget."""
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
        return session

    def paid_rounds(
        self,
        name: str,
        plan: QueryPlan,
        session: QuerySession,
        fee_cap: int,
        *,
        on_progress: Progress | None = None,
    ) -> PaidRounds:
        """The `send` of this query's rounds; the first call pays (see `PaidRounds`)."""
        return PaidRounds(self, name, plan, session, fee_cap, on_progress or _noop)

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
        plan = self.plan(
            manifest, model_id, nodes=nodes, round_window_s=round_window_s, on_progress=progress
        )
        fee_cap = self.fee_cap(plan, max_fee)
        self.check_funds(plan.escrow)
        # Part 0's first round is dealt before paying: the request carries its commitments.
        if manifest.part_of_block(manifest.blocks[0].index).index != 0:
            raise QueryError("the first linear block of a model must belong to part 0")
        session = self.open_session(plan)
        rounds = self.paid_rounds(name, plan, session, fee_cap, on_progress=progress)
        values, clamped = session.run_blocks(
            manifest,
            values,
            rounds,
            on_block=lambda b, p: progress("block", {"block": b, "part": p}),
        )
        outcome = rounds.paid()
        outcome.outputs = list(values)
        outcome.clamped = clamped
        outcome.prediction = manifest.decode(values, clamped=clamped)
        outcome.answer_s = time.monotonic() - started
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
        proof = (
            list(NO_VALIDITY_PROOF)
            if plan.validity is None
            else validity_proof(plan.validity, [n.address for n in plan.nodes[0]], session, first)
        )
        receipt = self.chain.transact(
            self.account, self.market.functions.requestQuery(request, permit.as_tuple(), proof)
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
            request_block=int(receipt["blockNumber"]),
            round_deadline=plan.round_deadline,
            proof_deadline=plan.proof_deadline,
            assignments=[AssignmentOutcome(p, node, 0) for (p, node) in session.assignments],
            session=session,
        )

    def _adopt_recorded_keys(
        self, session: QuerySession, pending: Sequence[PreparedRound]
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
        """`zkai.client.claims.wait_claims` on this client's chain (verifies the outcome)."""
        wait_claims(
            self.chain,
            outcome,
            session,
            now=self._chain_now,
            patience_s=CLAIM_PATIENCE_S,
            on_progress=on_progress or _noop,
            poll_s=poll_s,
        )


class PaidRounds:
    """The `send` of one query's rounds (`QuerySession.evaluate_block` / `run_blocks` call it
    with one block's rounds at a time). Its first call must carry part 0's round 1: it pays
    first (`requestQuery` with those rounds' commitments), adopts the keys the market recorded
    and re-seals them, then sends. A node that refuses or vanishes after the payment ends the
    query with `QueryIncompleteError` (served rounds are claimed; the rest is refunded)."""

    def __init__(
        self,
        client: QueryClient,
        name: str,
        plan: QueryPlan,
        session: QuerySession,
        fee_cap: int,
        progress: Progress,
    ) -> None:
        self.client = client
        self.name = name
        self.plan = plan
        self.session = session
        self.fee_cap = fee_cap
        self.progress = progress
        self.outcome: QueryOutcome | None = None

    def paid(self) -> QueryOutcome:
        """The paid query's outcome so far, with each assignment's answered rounds (QueryError
        if nothing was requested yet)."""
        if self.outcome is None:
            raise QueryError("no round was sent, so nothing was requested or paid")
        for a in self.outcome.assignments:
            a.rounds = self.session.assignment(a.part, a.node).rounds
        return self.outcome

    def __call__(self, pending: Sequence[PreparedRound]) -> list[RoundAnswer]:
        if self.outcome is None:
            if not pending or any(p.part != 0 or p.round != 1 for p in pending):
                raise QueryError(
                    "the first rounds of a query must be round 1 of part 0 (the request "
                    "carries their commitments); this model's first block is in another part"
                )
            if self.plan.validity is not None:
                self.progress(
                    "proving_validity",
                    {
                        "constraints": self.plan.validity.constraints,
                        "development_only": self.plan.validity.development_only,
                    },
                )
            self.outcome = self.client._request(
                self.name, self.plan, self.session, pending, self.fee_cap
            )
            self.progress(
                "requested", {"query_id": self.outcome.query_id, "tx": self.outcome.request_tx}
            )
            pending = self.client._adopt_recorded_keys(self.session, pending)
        try:
            return self.client._send_all(self.session, pending)
        except (RoundRefusedError, NodeUnreachableError) as exc:
            outcome = self.paid()
            qid = "0x" + outcome.query_id.hex()
            raise QueryIncompleteError(
                f"{exc}. Query {qid} stops at block {pending[0].block}: the nodes that served "
                "their rounds claim them; the rest of the escrow is refunded by "
                f"`zkai queries settle {qid}` after the proof deadline (chain time "
                f"{self.plan.proof_deadline})",
                outcome,
            ) from exc


class QueryIncompleteError(QueryError):
    """A query was paid but could not finish (a node refused or vanished mid-query)."""

    def __init__(self, message: str, outcome: QueryOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome
