"""What the node reads from the version-2 contracts, at a block it treats as final.

Every check of a round reads the chain at `final_block()` = latest - `confirmations` (0 on a local
network), so a request that a reorganisation could still remove is not served ("not-final").
Structs are decoded by `zkai.protocol.market` (by the ABI's component names); this module adds
the block the node reads at and the node's own view of the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address
from web3.types import BlockIdentifier

from zkai.chain.client import ChainClient, load_abi, with_retries
from zkai.errors import ContractRevertError, NodeError
from zkai.protocol.market import (
    ModelTerms,
    PartTerms,
    read_assignment,
    read_model,
    read_node,
    read_query,
    struct_fields,
    transcript_hash,
)

__all__ = [
    "AssignmentRecord",
    "ChainView",
    "NodeOnChain",
    "QueryRecord",
]

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class QueryRecord:
    query: bytes
    user: str
    model_id: int
    version: int
    session_key: str
    round_deadline: int
    proof_deadline: int
    challenge_deadline: int

    @property
    def exists(self) -> bool:
        return self.user.lower() != ZERO_ADDRESS


@dataclass(frozen=True)
class AssignmentRecord:
    """An assignment as the market records it. With chunked claims, `claimed_rounds` is n0, the
    rounds its claims so far cover (the last chunk's n), `transcript_hash` = keccak(T_n0, O_n0),
    and `finalised` whether no claim may follow."""

    budget: int
    price: int
    ack_signer: str
    encryption_key: bytes
    claimed_rounds: int
    finalised: bool = False
    max_rounds: int = 0
    transcript_hash: bytes = b"\x00" * 32

    @property
    def exists(self) -> bool:
        return self.budget > 0

    def starts_from(self, input_transcript: int, output_transcript: int) -> bool:
        """Whether (T, O) are the transcripts the last claim recorded (by their hash)."""
        return self.transcript_hash == transcript_hash(input_transcript, output_transcript)


@dataclass(frozen=True)
class NodeOnChain:
    address: str
    encryption_key: bytes
    ack_signer: str
    endpoint: str
    metadata_uri: str
    stake: int
    unlock_time: int
    registered: bool


class ChainView:
    """The node's reads of QueryMarket, ModelRegistry and NodeRegistry (module docstring), on
    the shared typed readers of `zkai.protocol.market`."""

    def __init__(self, chain: ChainClient, confirmations: int = 0) -> None:
        self.chain = chain
        self.confirmations = confirmations

    @property
    def chain_id(self) -> int:
        return self.chain.deployment.chain_id

    @property
    def market(self) -> str:
        return self.chain.deployment.address("QueryMarket")

    def final_block(self) -> int:
        latest = int(with_retries(lambda: self.chain.w3.eth.block_number))
        return max(0, latest - self.confirmations)

    def block_time(self, block: BlockIdentifier = "latest") -> int:
        return int(with_retries(lambda: self.chain.w3.eth.get_block(block))["timestamp"])

    def query(self, query: bytes, block: BlockIdentifier = "latest") -> QueryRecord:
        q = read_query(self.chain, query, block)
        return QueryRecord(
            query=query,
            user=str(q.user),
            model_id=int(q.modelId),
            version=int(q.version),
            session_key=str(q.sessionKey),
            round_deadline=int(q.roundDeadline),
            proof_deadline=int(q.proofDeadline),
            challenge_deadline=int(q.challengeDeadline),
        )

    def assignment(
        self, query: bytes, part: int, node: str, block: BlockIdentifier = "latest"
    ) -> AssignmentRecord:
        a = read_assignment(self.chain, query, part, to_checksum_address(node), block)
        fields = a.fields
        rounds = int(a.rounds)
        return AssignmentRecord(
            budget=int(a.budget),
            price=int(a.price),
            ack_signer=str(a.ackSigner),
            encryption_key=bytes(a.encryptionKey),
            claimed_rounds=rounds,
            # a market without chunked claims has no `finalised`: its one claim is final
            finalised=bool(fields.get("finalised", rounds > 0)),
            max_rounds=int(fields.get("maxRounds", 0)),
            transcript_hash=bytes(fields.get("transcriptHash", b"\x00" * 32)),
        )

    def first_commitment(self, query: bytes, node: str, to_block: int) -> int | None:
        """The round-1 commitment the request posted for (query, part 0, node), from `Assigned`."""
        for event in self.chain.events(
            "QueryMarket",
            "Assigned",
            self.chain.deployment.start_block,
            to_block,
            {"queryId": query, "node": to_checksum_address(node)},
        ):
            if int(event["args"]["part"]) == 0:
                return int(event["args"]["firstCommitment"])
        return None

    def query_nodes(self, query: bytes, part: int, block: BlockIdentifier) -> list[str]:
        """The nodes the request named for `part`, in its order (`getQueryNodes`)."""
        fn = self.chain.contract("QueryMarket").functions.getQueryNodes(query, part)
        return [to_checksum_address(n) for n in self.chain.call_at(fn, block)]

    def validity_verified(self, verifier: str, proof: Sequence[int], inputs: Sequence[int]) -> bool:
        """The registered validity verifier's answer for (proof, inputs), as an eth_call (a
        revert, for words that are no curve points, is a refusal)."""
        contract = self.chain.w3.eth.contract(
            address=to_checksum_address(verifier), abi=load_abi("Groth16Verifier")
        )
        try:
            return bool(self.chain.call(contract.functions.verifyProof(list(proof), list(inputs))))
        except ContractRevertError:
            return False

    def model(self, model_id: int, version: int | None = None) -> ModelTerms:
        return read_model(self.chain, model_id, version)

    def part(self, model_id: int, version: int, part: int) -> PartTerms:
        terms = self.model(model_id, version).parts
        if not 0 <= part < len(terms):
            raise NodeError(f"model {model_id} version {version} has no part {part}")
        return terms[part]

    def manifest_hash(self, model_id: int, version: int) -> bytes:
        return self.model(model_id, version).manifest_hash

    def current_version(self, model_id: int) -> int:
        return self.model(model_id).version

    def node(self, address: str) -> NodeOnChain:
        n = read_node(self.chain, address)
        registry = self.chain.contract("NodeRegistry")
        unlock = self.chain.call(registry.functions.getNode(n.address))
        return NodeOnChain(
            address=n.address,
            encryption_key=n.encryption_key,
            ack_signer=n.ack_signer,
            endpoint=n.endpoint,
            metadata_uri=n.metadata_uri,
            stake=n.stake,
            unlock_time=int(struct_fields(registry, "getNode", unlock)["unlockTime"]),
            registered=n.registered,
        )

    def hosts_part(self, address: str, model_id: int, part: int) -> bool:
        fn = self.chain.contract("NodeRegistry").functions.hostsPart(
            to_checksum_address(address), model_id, part
        )
        return bool(self.chain.call(fn))
