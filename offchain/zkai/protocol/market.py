"""What the v2 contracts record, read into typed values (model parts, nodes, queries, assignments).

One reader per concept, used by the user's client, the node, the API's handlers and the tests, so
that a struct's layout is decoded in one place. Structs are decoded by the component names of the
contract's ABI, not by position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from zkai.chain.client import ChainClient
from zkai.errors import ModelInactiveError, UnknownModelError

if TYPE_CHECKING:
    from zkai.models.part import Part

__all__ = [
    "NO_VALIDITY_PROOF",
    "AssignmentRecord",
    "MarketTerms",
    "ModelTerms",
    "NodeInfo",
    "PartTerms",
    "QueryRecord",
    "ValidityTerms",
    "claim_call",
    "eligible_nodes_for_part",
    "query_nodes",
    "read_assignment",
    "read_market_terms",
    "read_model",
    "read_node",
    "read_query",
    "struct_fields",
    "transcript_hash",
]

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def _functions(contract: Contract) -> list[dict[str, Any]]:
    return [dict(e) for e in contract.abi if e.get("type") == "function"]


def _components(contract: Contract, function: str, output: int = 0) -> list[dict[str, Any]]:
    """The ABI components of a struct (or struct array) that `function` returns."""
    for entry in _functions(contract):
        if entry.get("name") == function:
            components = entry["outputs"][output].get("components")
            if components is None:
                raise TypeError(f"{function} output {output} is not a struct")
            return list(components)
    raise KeyError(f"{contract.address} has no function {function}")


def struct_fields(contract: Contract, function: str, value: Any, index: int = 0) -> dict[str, Any]:
    """A struct returned by `function` (its `index`-th output) as {component name: value}."""
    components = _components(contract, function, index)
    return {c["name"]: v for c, v in zip(components, value, strict=True)}


@dataclass(frozen=True)
class PartTerms:
    """One part of a model version, as the ModelRegistry records it."""

    verifier: str
    price: int
    max_rounds: int
    # The largest budget of an assignment (>= max_rounds; above it, claimed in chunks of at most
    # max_rounds rounds; == max_rounds: never chunked).
    max_budget: int
    min_proof_window: int
    shares: int
    circuit_hash: bytes
    key_hash: bytes

    def __post_init__(self) -> None:
        if self.max_budget < self.max_rounds:
            raise ValueError(
                f"max_budget {self.max_budget} is below max_rounds {self.max_rounds}: "
                "set it to max_rounds for a part that is never claimed in chunks"
            )

    @classmethod
    def from_fields(cls, f: Mapping[str, Any]) -> PartTerms:
        return cls(
            verifier=to_checksum_address(f["verifier"]),
            price=int(f["price"]),
            max_rounds=int(f["maxRounds"]),
            max_budget=int(f["maxBudget"]),
            min_proof_window=int(f["minProofWindow"]),
            shares=int(f["shares"]),
            circuit_hash=bytes(f["circuitHash"]),
            key_hash=bytes(f["keyHash"]),
        )

    def limits_mismatch(self, declared: Part) -> str | None:
        """Why these terms' R_max or max_budget are not the manifest part's, or None. The
        registry takes both as given; a node that served terms above its manifest's would ack
        the first rounds and refuse the rest mid-query, so nodes refuse such a part before round
        1 and clients before paying."""
        ours = (declared.max_rounds, declared.max_budget)
        if (self.max_rounds, self.max_budget) == ours:
            return None
        return (
            f"the registry's max_rounds/max_budget {self.max_rounds}/{self.max_budget} are not "
            f"the manifest's {ours[0]}/{ours[1]}"
        )

    def as_tuple(self) -> tuple[Any, ...]:
        """The `PartTerms` struct as web3 encodes it (field order of the ABI)."""
        return (
            self.verifier,
            self.price,
            self.max_rounds,
            self.max_budget,
            self.min_proof_window,
            self.shares,
            self.circuit_hash,
            self.key_hash,
        )


@dataclass(frozen=True)
class ValidityTerms:
    """A version's input rule as the ModelRegistry records it (`ValidityTerms`): the factory
    verifier of its validity circuit, the rule hash (a public input the market passes), the
    circuit and key hashes. A zero verifier: the version has no input rule (`NONE`)."""

    verifier: str
    rule_hash: int
    circuit_hash: bytes
    key_hash: bytes

    NONE: ClassVar[ValidityTerms]

    @property
    def required(self) -> bool:
        """True when requests must carry a validity proof."""
        return int(self.verifier, 16) != 0

    @classmethod
    def from_fields(cls, f: Mapping[str, Any]) -> ValidityTerms:
        return cls(
            verifier=to_checksum_address(f["verifier"]),
            rule_hash=int(f["ruleHash"]),
            circuit_hash=bytes(f["circuitHash"]),
            key_hash=bytes(f["keyHash"]),
        )

    def as_tuple(self) -> tuple[Any, ...]:
        """The `ValidityTerms` struct as web3 encodes it."""
        return (self.verifier, self.rule_hash, self.circuit_hash, self.key_hash)


ValidityTerms.NONE = ValidityTerms(ZERO_ADDRESS, 0, b"\0" * 32, b"\0" * 32)
NO_VALIDITY_PROOF: tuple[int, ...] = (0,) * 8
"""The proof argument of a request for a version without an input rule (ignored)."""


@dataclass(frozen=True)
class ModelTerms:
    """A model's current (or a given) version with its parts and its input rule."""

    model_id: int
    owner: str
    active: bool
    version: int
    manifest_hash: bytes
    parts: tuple[PartTerms, ...]
    validity: ValidityTerms = ValidityTerms.NONE


@dataclass(frozen=True)
class NodeInfo:
    address: str
    encryption_key: bytes
    ack_signer: str
    endpoint: str
    metadata_uri: str
    stake: int
    registered: bool


@dataclass(frozen=True)
class MarketTerms:
    """The market's parameters for new queries."""

    min_proof_window_floor: int
    challenge_window: int
    unbonding_margin: int
    unbonding_period: int
    protocol_bps: int
    contributor_bps: int


@dataclass(frozen=True)
class QueryRecord:
    query_id: bytes
    fields: Mapping[str, Any]

    @property
    def exists(self) -> bool:
        return to_checksum_address(self.fields["user"]) != ZERO_ADDRESS

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None


def transcript_hash(input_transcript: int, output_transcript: int) -> bytes:
    """keccak256(abi.encode(T_n, O_n)): what a claim records of its transcripts."""
    for value in (input_transcript, output_transcript):
        if not 0 <= value < 2**256:
            raise ValueError(f"a transcript is a uint256, got {value}")
    return keccak(input_transcript.to_bytes(32, "big") + output_transcript.to_bytes(32, "big"))


@dataclass(frozen=True)
class AssignmentRecord:
    query_id: bytes
    part: int
    node: str
    fields: Mapping[str, Any]

    @property
    def rounds(self) -> int:
        """n of the latest claim (chunk); 0 until claimed."""
        return int(self.fields["rounds"])

    @property
    def finalised(self) -> bool:
        """Whether the latest claim was final (budget used, or a chunk below max_rounds)."""
        return bool(self.fields["finalised"])

    @property
    def max_rounds(self) -> int:
        """R_max recorded at request: the most rounds one claim (chunk) proves."""
        return int(self.fields["maxRounds"])

    def claimed_transcripts(self, input_transcript: int, output_transcript: int) -> bool:
        """Whether the latest claim recorded (T_n, O_n) = these (compared by their hash)."""
        recorded = bytes(self.fields["transcriptHash"])
        return int(self.fields["rounds"]) > 0 and recorded == transcript_hash(
            input_transcript, output_transcript
        )

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None


def claim_call(
    market: Contract,
    query_id: bytes,
    part: int,
    rounds: int,
    commitment: int,
    input_transcript: int,
    prev_output_transcript: int,
    output_transcript: int,
    round_signature: bytes,
    proof: Sequence[int],
    *,
    start_input_transcript: int = 0,
    start_output_transcript: int = 0,
) -> ContractFunction:
    """`QueryMarket.claim` of rounds n0+1..`rounds` (n0 = the assignment's recorded rounds), ready
    to estimate or send.

    For an assignment's first claim the start transcripts are 0; a continuation chunk passes the
    (T_{n0}, O_{n0}) its previous claim recorded (the previous `Claimed` event's transcripts).
    """
    if len(proof) != 8:
        raise ValueError(f"a Groth16 proof is 8 words, got {len(proof)}")
    return market.functions.claim(
        query_id,
        part,
        rounds,
        commitment,
        input_transcript,
        prev_output_transcript,
        output_transcript,
        start_input_transcript,
        start_output_transcript,
        round_signature,
        [int(w) for w in proof],
    )


def read_model(chain: ChainClient, model_id: int, version: int | None = None) -> ModelTerms:
    """Model `model_id` at `version` (default: current); errors for unknown or inactive models."""
    registry = chain.contract("ModelRegistry")
    count = int(chain.call(registry.functions.modelCount()))
    if not 1 <= model_id <= count:
        raise UnknownModelError(
            f"no model with id {model_id} is registered ({count} models on this chain)"
        )
    model = struct_fields(registry, "getModel", chain.call(registry.functions.getModel(model_id)))
    if not model["active"] and version is None:
        raise ModelInactiveError(
            f"model {model_id} has been deactivated by its owner {model['owner']}"
        )
    number = int(model["currentVersion"]) if version is None else version
    record = struct_fields(
        registry, "getVersion", chain.call(registry.functions.getVersion(model_id, number))
    )
    raw_parts = chain.call(registry.functions.getParts(model_id, number))
    components = _components(registry, "getParts")
    parts = tuple(
        PartTerms.from_fields({c["name"]: v for c, v in zip(components, p, strict=True)})
        for p in raw_parts
    )
    validity = struct_fields(
        registry, "getValidity", chain.call(registry.functions.getValidity(model_id, number))
    )
    return ModelTerms(
        model_id=model_id,
        owner=to_checksum_address(model["owner"]),
        active=bool(model["active"]),
        version=number,
        manifest_hash=bytes(record["manifestHash"]),
        parts=parts,
        validity=ValidityTerms.from_fields(validity),
    )


def read_node(chain: ChainClient, address: str) -> NodeInfo:
    registry = chain.contract("NodeRegistry")
    f = struct_fields(registry, "getNode", chain.call(registry.functions.getNode(address)))
    return NodeInfo(
        address=to_checksum_address(address),
        encryption_key=bytes(f["encryptionKey"]),
        ack_signer=to_checksum_address(f["ackSigner"]),
        endpoint=str(f["endpoint"]),
        metadata_uri=str(f["metadataURI"]),
        stake=int(f["stake"]),
        registered=bool(f["registered"]),
    )


def eligible_nodes_for_part(chain: ChainClient, model_id: int, part: int) -> list[NodeInfo]:
    """Every eligible node that hosts (model, part), in registry order."""
    registry = chain.contract("NodeRegistry")
    found = []
    for address in chain.call(registry.functions.getEligibleNodes(0, 1000)):
        if chain.call(registry.functions.hostsPart(address, model_id, part)):
            found.append(read_node(chain, address))
    return found


def read_market_terms(chain: ChainClient) -> MarketTerms:
    market = chain.contract("QueryMarket")
    nodes = chain.contract("NodeRegistry")
    protocol, contributor = chain.call(market.functions.fees())
    return MarketTerms(
        min_proof_window_floor=int(chain.call(market.functions.minProofWindowFloor())),
        challenge_window=int(chain.call(market.functions.challengeWindow())),
        unbonding_margin=int(chain.call(market.functions.unbondingMargin())),
        unbonding_period=int(chain.call(nodes.functions.unbondingPeriod())),
        protocol_bps=int(protocol),
        contributor_bps=int(contributor),
    )


def read_query(chain: ChainClient, query_id: bytes, block: Any = "latest") -> QueryRecord:
    market = chain.contract("QueryMarket")
    value = chain.call_at(market.functions.getQuery(query_id), block)
    return QueryRecord(query_id, struct_fields(market, "getQuery", value))


def read_assignment(
    chain: ChainClient, query_id: bytes, part: int, node: str, block: Any = "latest"
) -> AssignmentRecord:
    market = chain.contract("QueryMarket")
    value = chain.call_at(market.functions.getAssignment(query_id, part, node), block)
    node = to_checksum_address(node)
    return AssignmentRecord(query_id, part, node, struct_fields(market, "getAssignment", value))


def query_nodes(chain: ChainClient, query_id: bytes, part: int) -> Sequence[str]:
    market = chain.contract("QueryMarket")
    return [
        to_checksum_address(a) for a in chain.call(market.functions.getQueryNodes(query_id, part))
    ]
