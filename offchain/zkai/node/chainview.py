"""What the node reads from the version-2 contracts, at a block it treats as final.

Every check of a round reads the chain at `final_block()` = latest - `confirmations` (0 on a local
network), so a request that a reorganisation could still remove is not served ("not-final").
Structs are read with their field names (`decode_tuples`), so this module is the one place that
knows the contracts' shapes (docs: v2-interfaces.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from web3.contract import Contract
from web3.types import BlockIdentifier

from zkai.chain.client import ChainClient, load_abi, with_retries

__all__ = [
    "AssignmentRecord",
    "ChainView",
    "NodeOnChain",
    "PartOnChain",
    "QueryRecord",
]

ZERO_ADDRESS = "0x" + "00" * 20


def _get(record: Any, *names: str) -> Any:
    for name in names:
        if hasattr(record, name):
            return getattr(record, name)
    raise AttributeError(f"none of {names} in {type(record).__name__}")


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
    budget: int
    price: int
    ack_signer: str
    encryption_key: bytes
    claimed_rounds: int

    @property
    def exists(self) -> bool:
        return self.budget > 0


@dataclass(frozen=True)
class PartOnChain:
    verifier: str
    price: int
    max_rounds: int
    min_proof_window: int
    shares: int
    circuit_hash: bytes
    key_hash: bytes


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
    """Reads of QueryMarket, ModelRegistry and NodeRegistry (module docstring)."""

    def __init__(self, chain: ChainClient, confirmations: int = 0) -> None:
        self.chain = chain
        self.confirmations = confirmations
        self._named: dict[str, Contract] = {}

    def contract(self, name: str) -> Contract:
        if name not in self._named:
            self._named[name] = self.chain.w3.eth.contract(
                address=to_checksum_address(self.chain.deployment.address(name)),
                abi=load_abi(name),
                decode_tuples=True,
            )
        return self._named[name]

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

    def _call(self, fn: Any, block: int | str) -> Any:
        return with_retries(lambda: fn.call(block_identifier=block))

    def query(self, query: bytes, block: int | str = "latest") -> QueryRecord:
        q = self._call(self.contract("QueryMarket").functions.getQuery(query), block)
        return QueryRecord(
            query=query,
            user=str(_get(q, "user")),
            model_id=int(_get(q, "modelId")),
            version=int(_get(q, "version")),
            session_key=str(_get(q, "sessionKey")),
            round_deadline=int(_get(q, "roundDeadline")),
            proof_deadline=int(_get(q, "proofDeadline")),
            challenge_deadline=int(_get(q, "challengeDeadline")),
        )

    def assignment(
        self, query: bytes, part: int, node: str, block: int | str = "latest"
    ) -> AssignmentRecord:
        a = self._call(
            self.contract("QueryMarket").functions.getAssignment(
                query, part, to_checksum_address(node)
            ),
            block,
        )
        return AssignmentRecord(
            budget=int(_get(a, "budget")),
            price=int(_get(a, "price")),
            ack_signer=str(_get(a, "ackSigner")),
            encryption_key=bytes(_get(a, "encryptionKey")),
            claimed_rounds=int(_get(a, "rounds", "claimedRounds", "n")),
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

    def part(self, model_id: int, version: int, part: int) -> PartOnChain:
        p = self._call(
            self.contract("ModelRegistry").functions.getPart(model_id, version, part), "latest"
        )
        return PartOnChain(
            verifier=str(_get(p, "verifier")),
            price=int(_get(p, "price")),
            max_rounds=int(_get(p, "maxRounds")),
            min_proof_window=int(_get(p, "minProofWindow")),
            shares=int(_get(p, "shares")),
            circuit_hash=bytes(_get(p, "circuitHash")),
            key_hash=bytes(_get(p, "keyHash")),
        )

    def manifest_hash(self, model_id: int, version: int) -> bytes:
        v = self._call(
            self.contract("ModelRegistry").functions.getVersion(model_id, version), "latest"
        )
        return bytes(_get(v, "manifestHash"))

    def current_version(self, model_id: int) -> int:
        m = self._call(self.contract("ModelRegistry").functions.getModel(model_id), "latest")
        return int(_get(m, "currentVersion"))

    def node(self, address: str) -> NodeOnChain:
        n = self._call(
            self.contract("NodeRegistry").functions.getNode(to_checksum_address(address)),
            "latest",
        )
        return NodeOnChain(
            address=to_checksum_address(address),
            encryption_key=bytes(_get(n, "encryptionKey")),
            ack_signer=str(_get(n, "ackSigner")),
            endpoint=str(_get(n, "endpoint")),
            metadata_uri=str(_get(n, "metadataURI")),
            stake=int(_get(n, "stake")),
            unlock_time=int(_get(n, "unlockTime")),
            registered=bool(_get(n, "registered")),
        )

    def hosts_part(self, address: str, model_id: int, part: int) -> bool:
        fn = self.contract("NodeRegistry").functions.hostsPart(
            to_checksum_address(address), model_id, part
        )
        return bool(self._call(fn, "latest"))
