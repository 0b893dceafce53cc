"""On-chain gas of protocol version 2 (`zkai.bench.benchchain`: anvil, the deployed contracts,
played nodes that claim with real proofs), with the user's side the real `QueryClient.run`:

- `requestQuery` for a model of 1 part (digits) and of 2 parts (digits-mlp), k = 2 per part;
- `claim` (one proof per assignment), with the verifier's share from the call trace;
- `settle`: early, once every assignment claimed, and after the proof deadline with a refund;
- `slash`: an Ack of a node that did not claim, after the proof deadline;
- the floor: the same claim's proof sent to the generic `Groth16Verifier.verifyProof` as a
  transaction of its own (intrinsic gas and calldata included), and claim / floor.
The time on the chain is moved forward (anvil `evm_increaseTime`) only for the slash, last.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from zkai.bench.benchchain import BenchChain
from zkai.bench.common import JSONDict, Progress, percentile
from zkai.bench.played import ClaimRecord
from zkai.chain.client import load_abi
from zkai.client.query import QueryClient, QueryOutcome
from zkai.client.settlement import settle_query
from zkai.errors import BenchmarkError
from zkai.models.demo import load_split
from zkai.protocol.market import read_model

__all__ = ["VERIFY_GAS_LIMIT", "GasResult", "ModelGas", "gas_section"]

VERIFY_GAS_LIMIT = 1_000_000


def _find_verifier_frame(frame: JSONDict) -> JSONDict | None:
    """The call frame that calls the pairing precompile (0x...08): the Groth16 verifier."""
    calls = frame.get("calls", []) or []
    if any(str(c.get("to", "")).lower().endswith("0" * 38 + "08") for c in calls):
        return frame
    for call in calls:
        found = _find_verifier_frame(call)
        if found is not None:
            return found
    return None


def _intrinsic_gas(data: bytes) -> int:
    zeros = data.count(0)
    return 21_000 + 4 * zeros + 16 * (len(data) - zeros)


@dataclass(frozen=True)
class ModelGas:
    """One model's queries: requestQuery, every claim, settle, and what a query cost."""

    model: str
    parts: int
    assignments: int
    request_query_gas: tuple[int, ...]
    claim_gas: tuple[int, ...]
    settle_gas: tuple[int, ...]
    escrow_zkai_wei: int
    cost_zkai_wei: int
    answer_s: tuple[float, ...]
    latency_s: tuple[float, ...]

    def to_json(self) -> JSONDict:
        per_query = [
            r + c + s
            for r, c, s in zip(
                self.request_query_gas,
                self._claims_per_query(),
                self.settle_gas,
                strict=True,
            )
        ]
        return {
            "parts": self.parts,
            "assignments_per_query": self.assignments,
            "request_query_gas": list(self.request_query_gas),
            "request_query_gas_median": int(statistics.median(self.request_query_gas)),
            "claim_gas": list(self.claim_gas),
            "claim_gas_median": int(statistics.median(self.claim_gas)),
            "settle_gas": list(self.settle_gas),
            "eth_gas_per_query": per_query,
            "eth_gas_per_query_median": int(statistics.median(per_query)),
            "escrow_zkai_wei": str(self.escrow_zkai_wei),
            "cost_zkai_wei": str(self.cost_zkai_wei),
            "cost_zkai": self.cost_zkai_wei / 10**18,
            "played_answer_s": list(self.answer_s),
            "played_latency_s": list(self.latency_s),
        }

    def _claims_per_query(self) -> list[int]:
        k = self.assignments
        return [sum(self.claim_gas[i : i + k]) for i in range(0, len(self.claim_gas), k)]


@dataclass(frozen=True)
class GasResult:
    """The document's `gas` section."""

    models: dict[str, ModelGas]
    claim_first_of_node: tuple[int, ...]
    claim_steady: tuple[int, ...]
    claim_breakdown: JSONDict
    verify_proof_gas: int
    verify_proof_estimate_gas: int
    verify_proof_calldata_bytes: int
    settle_after_deadline_gas: int
    settle_refund_zkai_wei: int
    slash_gas: int
    slash_amount_zkai_wei: int

    def to_json(self) -> JSONDict:
        steady = self.claim_steady or self.claim_first_of_node
        claim = int(statistics.median(steady))
        return {
            "models": {name: m.to_json() for name, m in self.models.items()},
            "request_query_gas_1_part": self.models["digits"].to_json()["request_query_gas_median"],
            "request_query_gas_2_parts": self.models["digits-mlp"].to_json()[
                "request_query_gas_median"
            ],
            "claim_gas_median": claim,
            "claim_gas_p90": int(percentile(steady, 0.9)),
            "claim_gas_first_of_node": list(self.claim_first_of_node),
            "claim_gas_steady": list(self.claim_steady),
            "claim_breakdown": self.claim_breakdown,
            "floor_verify_proof_gas": self.verify_proof_gas,
            "floor_verify_proof_estimate_gas": self.verify_proof_estimate_gas,
            "floor_estimate_note": "eth_estimateGas of verifyProof: too low (a pairing out of "
            "gas returns false, not a revert); the floor is the transaction's gas used",
            "floor_calldata_bytes": self.verify_proof_calldata_bytes,
            "claim_over_floor": round(claim / self.verify_proof_gas, 4),
            "settle_gas_all_claimed": self.models["digits"].to_json()["settle_gas"][0],
            "settle_after_deadline_gas": self.settle_after_deadline_gas,
            "settle_after_deadline_refund_zkai_wei": str(self.settle_refund_zkai_wei),
            "slash_gas": self.slash_gas,
            "slash_amount_zkai_wei": str(self.slash_amount_zkai_wei),
            "note": "played nodes in the bench process (real keys, proofs and transactions); "
            "the floor is Groth16Verifier.verifyProof of the same proof as its own transaction",
        }


def _wait_claims(bench: BenchChain, outcome: QueryOutcome) -> list[ClaimRecord]:
    records = []
    for a in outcome.assignments:
        node = bench.node(a.node)
        node.join()
        if node.errors:
            raise BenchmarkError("; ".join(node.errors))
        found = [c for c in node.claims if c.query_id == outcome.query_id and c.part == a.part]
        if not found:
            raise BenchmarkError(f"{node.name} did not claim part {a.part}")
        records.append(found[0])
    return records


def _model_gas(
    bench: BenchChain, name: str, queries: int, seen: set[str], say: Progress
) -> tuple[ModelGas, list[tuple[bool, ClaimRecord]]]:
    manifest, model_id = bench.manifests[name], bench.model_ids[name]
    split = load_split(name)
    request, claims, settles, answer, latency = [], [], [], [], []
    flagged: list[tuple[bool, ClaimRecord]] = []
    escrow = cost = 0
    for i in range(queries):
        chain = bench.chain()
        client = QueryClient(chain, bench.user, transport=bench.transport(chain))
        x = [float(v) for v in split.x_test[i % len(split.x_test)]]
        outcome = client.run(name, manifest, model_id, x)
        if not outcome.verified:
            raise BenchmarkError(f"a {name} query was not verified")
        expected = manifest.evaluate(manifest.quantise_input(x)).outputs
        if tuple(outcome.outputs or ()) != tuple(expected):
            raise BenchmarkError(f"a {name} query answered {outcome.outputs}, not {expected}")
        records = _wait_claims(bench, outcome)
        for record, a in zip(records, outcome.assignments, strict=True):
            first = a.node.lower() not in seen
            seen.add(a.node.lower())
            flagged.append((first, record))
            claims.append(record.gas_used)
        settled = settle_query(chain, bench.deployer, outcome.query_id)
        assert settled.tx_hash is not None
        receipt = chain.w3.eth.get_transaction_receipt(settled.tx_hash)  # type: ignore[arg-type]
        settles.append(int(receipt["gasUsed"]))
        request.append(outcome.request_gas)
        answer.append(round(outcome.answer_s, 3))
        latency.append(round(outcome.latency_s, 3))
        escrow, cost = outcome.escrow, outcome.cost
        say(
            f"gas {name}: query {i + 1}/{queries}: requestQuery {outcome.request_gas:,}, claims "
            f"{[r.gas_used for r in records]}, settle {settles[-1]:,}"
        )
    result = ModelGas(
        model=name,
        parts=len(manifest.parts),
        assignments=len(outcome.assignments),
        request_query_gas=tuple(request),
        claim_gas=tuple(claims),
        settle_gas=tuple(settles),
        escrow_zkai_wei=escrow,
        cost_zkai_wei=cost,
        answer_s=tuple(answer),
        latency_s=tuple(latency),
    )
    return result, flagged


def _floor(bench: BenchChain, record: ClaimRecord) -> tuple[int, int, int]:
    """(gas used, gas estimated, calldata bytes) of verifyProof of the claim's proof."""
    chain = bench.chain()
    terms = read_model(chain, bench.model_ids["digits"])
    verifier = chain.w3.eth.contract(
        address=to_checksum_address(terms.parts[record.part].verifier),
        abi=load_abi("Groth16Verifier"),
    )
    fn = verifier.functions.verifyProof(list(record.proof.proof), list(record.proof.public_inputs))
    if not chain.call(fn):
        raise BenchmarkError("the part's verifier rejects the proof its claim carried")
    estimate = chain.estimate_gas(bench.deployer, fn)
    # Explicit gas: eth_estimateGas finds the least gas that does not revert, and a pairing
    # precompile out of gas makes verifyProof return false without reverting.
    receipt = chain.transact(bench.deployer, fn, gas=VERIFY_GAS_LIMIT)
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    output = str(bench.trace(tx_hash).get("output", "0x"))
    if int(output, 16) != 1:
        raise BenchmarkError(f"verifyProof returned {output} in its transaction {tx_hash}")
    tx = chain.w3.eth.get_transaction(receipt["transactionHash"])
    return int(receipt["gasUsed"]), int(estimate), len(bytes(tx["input"]))


def _breakdown(bench: BenchChain, record: ClaimRecord) -> JSONDict:
    chain = bench.chain()
    frame = _find_verifier_frame(bench.trace(record.tx_hash))
    verifier = int(frame["gasUsed"], 16) if frame else None
    tx = chain.w3.eth.get_transaction(record.tx_hash)  # type: ignore[arg-type]
    calldata = bytes(tx["input"])
    intrinsic = _intrinsic_gas(calldata)
    return {
        "tx": record.tx_hash,
        "total": record.gas_used,
        "verifier_frame": verifier,
        "intrinsic_and_calldata": intrinsic,
        "calldata_bytes": len(calldata),
        "rest_market": None if verifier is None else record.gas_used - verifier - intrinsic,
    }


def _slash(bench: BenchChain) -> tuple[int, int, int, int]:
    """A digits query whose second node acknowledges and never claims: (slash gas, slashed
    amount, settle-after-deadline gas, refund)."""
    chain = bench.chain()
    honest, withholder = bench.nodes[0], bench.nodes[1]
    withholder.withhold = True
    try:
        client = QueryClient(chain, bench.user, transport=bench.transport(chain))
        x = [float(v) for v in load_split("digits").x_test[5]]
        outcome = client.run(
            "digits",
            bench.manifests["digits"],
            bench.model_ids["digits"],
            x,
            nodes=[[honest.address, withholder.address]],
            wait_proofs=False,
        )
        honest.join()
    finally:
        withholder.withhold = False
    latest = int(chain.w3.eth.get_block("latest")["timestamp"])
    bench.warp(max(1, outcome.proof_deadline - latest + 2))
    market = chain.contract("QueryMarket")
    round_, t_i, o_i, ack = withholder.last_ack(outcome.query_id, 0)
    receipt = chain.transact(
        bench.deployer,
        market.functions.slash(outcome.query_id, 0, withholder.address, round_, t_i, o_i, ack),
    )
    logs = market.events.AssignmentSlashed().process_receipt(receipt)
    amount = int(logs[0]["args"]["amount"]) if logs else 0
    settled = settle_query(chain, bench.deployer, outcome.query_id)
    assert settled.tx_hash is not None
    settle_receipt = chain.w3.eth.get_transaction_receipt(settled.tx_hash)  # type: ignore[arg-type]
    return int(receipt["gasUsed"]), amount, int(settle_receipt["gasUsed"]), settled.refund


def gas_section(bench: BenchChain, queries: int, say: Progress) -> GasResult:
    """`queries` verified queries of digits and digits-mlp, the floor, then one slash."""
    seen: set[str] = set()
    models: dict[str, ModelGas] = {}
    flagged: list[tuple[bool, ClaimRecord]] = []
    digits_claims: list[ClaimRecord] = []
    for name in ("digits", "digits-mlp"):
        models[name], more = _model_gas(bench, name, queries, seen, say)
        flagged += more
        if name == "digits":
            digits_claims = [r for _, r in more]
    floor, estimate, calldata = _floor(bench, digits_claims[-1])
    steady = [r.gas_used for first, r in flagged if not first]
    say(f"gas: verifyProof floor {floor:,}; slash measurement (chain time moves forward)")
    slash, amount, settle_late, refund = _slash(bench)
    return GasResult(
        models=models,
        claim_first_of_node=tuple(r.gas_used for first, r in flagged if first),
        claim_steady=tuple(steady),
        claim_breakdown=_breakdown(bench, digits_claims[-1]),
        verify_proof_gas=floor,
        verify_proof_estimate_gas=estimate,
        verify_proof_calldata_bytes=calldata,
        settle_after_deadline_gas=settle_late,
        settle_refund_zkai_wei=refund,
        slash_gas=slash,
        slash_amount_zkai_wei=amount,
    )
