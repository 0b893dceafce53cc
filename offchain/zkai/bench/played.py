"""Nodes played by the benchmark process, for the chain measurements: registered on a real chain
with their own keys, serving rounds through a transport object instead of HTTP, and claiming
on-chain with a real Groth16 proof of the rounds they acknowledged.

A `PlayedNode` does what a node does for one round (PROTOCOL.md v2, step 2, the checks that
matter for the measurements): opens the sealed payload with its key, checks that the header is
the signed round's, that i is its next round within the recorded budget, that T_i and O_{i-1}
are its own and that the payload opens c_i; computes W s + m, stores the opening and signs its
Ack. Once an assignment's budget is used up it proves all its rounds (`prove_part`) and sends
`claim()` from its own account, in a thread, as a node service would. `withhold` keeps it
from claiming (for the slash measurement). `PlayedTransport` routes `QueryClient.run`'s rounds
to these nodes by endpoint ("played://node-1"), so the user's side is the real client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

from zkai.chain.client import ChainClient
from zkai.circuits.part import PartProof, part_artifacts, prove_part
from zkai.client.transport import RoundTransport
from zkai.crypto.encryption import NodeKeyPair, generate_keypair, open_sealed
from zkai.crypto.transcript import TranscriptState
from zkai.errors import BenchmarkError, RoundRefusedError
from zkai.models.manifest import Manifest
from zkai.protocol.ids import assignment_tag
from zkai.protocol.market import claim_call, read_assignment, read_query
from zkai.protocol.messages import AckMessage, Domain, RoundMessage
from zkai.protocol.payload import RoundOpening, RoundPayload
from zkai.protocol.wire import RoundAnswer, RoundRequest

__all__ = ["ClaimRecord", "PlayedNode", "PlayedTransport"]

ENDPOINT_SCHEME = "played://"


@dataclass(frozen=True)
class ClaimRecord:
    """One claim a played node sent: its receipt's figures and the proof it carried."""

    query_id: bytes
    part: int
    rounds: int
    tx_hash: str
    gas_used: int
    prove_s: float
    proof: PartProof


@dataclass
class _Assignment:
    model_id: int
    part: int
    budget: int
    tag: int
    state: TranscriptState
    rounds: list[tuple[RoundOpening, RoundMessage, bytes, bytes]] = field(default_factory=list)


@dataclass
class PlayedNode:
    """A node in this process (module docstring)."""

    name: str
    account: LocalAccount
    manifests: Mapping[int, Manifest]  # model id -> manifest
    new_chain: Callable[[], ChainClient]
    ack: LocalAccount = field(default_factory=Account.create)
    keys: NodeKeyPair = field(default_factory=generate_keypair)
    withhold: bool = False
    claims: list[ClaimRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _assignments: dict[tuple[bytes, int], _Assignment] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tx_lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return ENDPOINT_SCHEME + self.name

    @property
    def address(self) -> str:
        return str(self.account.address)

    def _refuse(self, reason: str, detail: str) -> RoundRefusedError:
        return RoundRefusedError(self.address, reason, detail)

    def _assignment(self, chain: ChainClient, query_id: bytes, part: int) -> _Assignment:
        key = (query_id, part)
        if key not in self._assignments:
            query = read_query(chain, query_id)
            if not query.exists:
                raise self._refuse("query-unknown", "no such query on-chain")
            record = read_assignment(chain, query_id, part, self.address)
            if int(record.budget) == 0:
                raise self._refuse("not-assigned", f"not assigned to part {part}")
            tag = assignment_tag(
                chain.deployment.chain_id,
                chain.contract("QueryMarket").address,
                query_id,
                part,
                self.address,
            )
            self._assignments[key] = _Assignment(
                int(query.modelId), part, int(record.budget), tag, TranscriptState.start(tag)
            )
        return self._assignments[key]

    def serve(self, chain: ChainClient, request: RoundRequest) -> RoundAnswer:
        m = request.message
        market = chain.contract("QueryMarket").address
        domain = Domain(chain.deployment.chain_id, market)
        with self._lock:
            a = self._assignment(chain, m.query_id, m.part)
            payload = RoundPayload.from_bytes(open_sealed(self.keys.private_key, request.sealed))
            h = payload.header
            if (h.query_id, h.part, h.node, h.round) != (m.query_id, m.part, m.node, m.round):
                raise self._refuse("header-mismatch", "the sealed header is not the signed round")
            if m.round != a.state.rounds + 1 or m.round > a.budget:
                raise self._refuse("round-order", f"round {m.round} is not the next in budget")
            manifest = self.manifests[a.model_id]
            block = manifest.part(m.part).block_for_round(m.round)
            opening = payload.opening()
            commitment = opening.commitment(a.tag, h)
            if h.block != block or commitment != m.commitment:
                raise self._refuse("bad-opening", "the payload does not open the commitment")
            if (
                m.prev_output_transcript != a.state.output_transcript
                or m.input_transcript != a.state.next_input(block, commitment)
            ):
                raise self._refuse("transcript", "the carried transcripts are not this node's")
            outputs = manifest.block(block).apply(opening.share, opening.mask)
            a.state = a.state.advance(block, commitment, outputs)
            o_i = a.state.output_transcript
            ack = AckMessage(m.query_id, m.part, m.node, m.round, m.input_transcript, o_i).sign(
                domain, self.ack
            )
            a.rounds.append((opening, m, request.signature, ack))
            done = len(a.rounds) == a.budget
        if done and not self.withhold:
            thread = threading.Thread(target=self._claim_safely, args=(a, m.query_id), daemon=True)
            self._threads.append(thread)
            thread.start()
        return RoundAnswer(tuple(outputs), o_i, ack)

    def last_ack(self, query_id: bytes, part: int) -> tuple[int, int, int, bytes]:
        """(round, T_i, O_i, Ack) of the last round this node served for the assignment."""
        a = self._assignments[(query_id, part)]
        _, m, _, ack = a.rounds[-1]
        return m.round, m.input_transcript, a.state.output_transcript, ack

    def _claim_safely(self, a: _Assignment, query_id: bytes) -> None:
        try:
            self.claim(a, query_id)
        except Exception as exc:  # recorded; the measurement reports it
            self.errors.append(f"{self.name} claim: {type(exc).__name__}: {exc}")

    def claim(self, a: _Assignment, query_id: bytes) -> ClaimRecord:
        manifest = self.manifests[a.model_id]
        artifacts = part_artifacts(manifest, a.part)
        openings = [r[0] for r in a.rounds]
        started = time.perf_counter()
        proof = prove_part(artifacts, manifest, a.part, a.tag, openings)
        prove_s = time.perf_counter() - started
        _, m, signature, _ = a.rounds[-1]
        chain = self.new_chain()
        # One claim of every round (the first and only chunk: start transcripts 0).
        fn = claim_call(
            chain.contract("QueryMarket"),
            query_id,
            a.part,
            len(openings),
            m.commitment,
            m.input_transcript,
            m.prev_output_transcript,
            proof.output_transcript,
            signature,
            list(proof.proof),
            start_input_transcript=proof.start_input_transcript,
            start_output_transcript=proof.start_output_transcript,
        )
        with self._tx_lock:
            receipt = chain.transact(self.account, fn)
        record = ClaimRecord(
            query_id,
            a.part,
            len(openings),
            "0x" + bytes(receipt["transactionHash"]).hex(),
            int(receipt["gasUsed"]),
            prove_s,
            proof,
        )
        self.claims.append(record)
        return record

    def join(self, timeout: float = 300.0) -> None:
        """Wait for this node's claim threads."""
        for thread in list(self._threads):
            thread.join(timeout)


class PlayedTransport(RoundTransport):
    """A `RoundTransport` that delivers rounds to played nodes in-process (no HTTP)."""

    def __init__(self, chain: ChainClient, nodes: Mapping[str, PlayedNode]) -> None:
        super().__init__()
        self.chain = chain
        self.nodes = dict(nodes)
        self._lock = threading.Lock()
        self._chains: dict[int, ChainClient] = {}

    def _chain(self) -> ChainClient:
        # One web3 connection per thread: the client sends a block's k rounds at once.
        ident = threading.get_ident()
        with self._lock:
            if ident not in self._chains:
                self._chains[ident] = ChainClient(self.chain.rpc_url, self.chain.deployment)
            return self._chains[ident]

    def healthy(self, endpoint: str, node: str, timeout_s: float = 2.0) -> bool:
        """A played node answers while it is registered here under that address."""
        played = self.nodes.get(endpoint)
        return played is not None and played.address.lower() == node.lower()

    def send(self, endpoint: str, request: RoundRequest) -> RoundAnswer:
        node = self.nodes.get(endpoint)
        if node is None:
            raise BenchmarkError(f"no played node at {endpoint}")
        return node.serve(self._chain(), request)
