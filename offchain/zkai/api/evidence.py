"""The evidence behind an `AssignmentSlashed`: the Ack (or, for equivocation, the two Acks) that
the slashing transaction carried, decoded from its calldata.

No event carries the Ack. A slash sent straight to the market is `slash(queryId, part, node,
round, inputTranscript, outputTranscript, ackSignature)` or `slashEquivocation(queryId, part,
node, round, t1, o1, sig1, t2, o2, sig2)`: the transaction's input, decoded with the market's ABI,
is the evidence. A slash sent through another contract (the transaction's `to` is not the market)
is not decodable that way: its evidence is recorded as unavailable, with the reason, and the
indexer goes on. Whatever is decoded is checked against the log (same query, part, node and
round, the function that emits that reason) and every signature is recovered here with
`AckMessage` and compared with the signer the market recorded for the assignment: evidence that
does not hold together is recorded as unavailable too, never stored as if it were the Ack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from eth_utils.address import to_checksum_address

from zkai.errors import SignatureError
from zkai.protocol.messages import AckMessage, Domain

__all__ = [
    "EQUIVOCATION_REASON",
    "AckEvidence",
    "EvidenceKind",
    "SlashEvidence",
    "decode_slash_evidence",
    "unavailable",
]

EvidenceKind = Literal["ack", "equivocation", "unavailable"]
EQUIVOCATION_REASON = 4
"""`AssignmentSlashed.reason` of `slashEquivocation`; `slash` emits 1, 2 or 3."""


@dataclass(frozen=True)
class AckEvidence:
    """One Ack as the slashing transaction sent it, with the address it recovers to."""

    round: int
    input_transcript: int
    output_transcript: int
    signature: str
    """0x + 130 hex digits (r || s || v)."""
    signer: str


@dataclass(frozen=True)
class SlashEvidence:
    """`acks`: one Ack (kind "ack"), two (kind "equivocation") or none (kind "unavailable",
    `detail` says why)."""

    kind: EvidenceKind
    acks: tuple[AckEvidence, ...] = ()
    detail: str | None = None


def unavailable(detail: str) -> SlashEvidence:
    return SlashEvidence("unavailable", (), detail)


def _ack(
    domain: Domain,
    query_id: bytes,
    part: int,
    node: str,
    round_: int,
    transcripts: tuple[Any, Any],
    signature: Any,
) -> AckEvidence:
    raw = bytes(signature)
    message = AckMessage(query_id, part, node, round_, int(transcripts[0]), int(transcripts[1]))
    return AckEvidence(
        round=round_,
        input_transcript=message.input_transcript,
        output_transcript=message.output_transcript,
        signature="0x" + raw.hex(),
        signer=to_checksum_address(message.signer(domain, raw)),
    )


def decode_slash_evidence(
    market: Any,
    domain: Domain,
    transaction: Any,
    log_args: dict[str, Any],
    recorded_signer: str,
) -> SlashEvidence:
    """The Acks of the transaction that emitted an `AssignmentSlashed` with `log_args`.

    `market` is the QueryMarket as a web3 contract (its ABI decodes the input); `transaction` is
    `eth_getTransactionByHash`'s answer; `recorded_signer` is the assignment's ack signer as the
    market recorded it at request. Never raises on what the transaction holds: anything that is
    not a direct, consistent slash call is `unavailable(reason)`."""
    target = transaction.get("to")
    if target is None or to_checksum_address(str(target)) != to_checksum_address(market.address):
        where = "a contract creation" if target is None else f"contract {target}"
        return unavailable(
            f"the slash was sent through {where}, not to the market: its calldata is not a "
            "QueryMarket call, so the Ack is not read from it"
        )
    try:
        function, args = market.decode_function_input(transaction["input"])
    except (ValueError, TypeError, KeyError) as exc:
        return unavailable(f"the transaction's input does not decode as a QueryMarket call: {exc}")
    name = str(function.fn_name)
    query_id, part = bytes(log_args["queryId"]), int(log_args["part"])
    node, round_ = to_checksum_address(str(log_args["node"])), int(log_args["round"])
    equivocation = int(log_args["reason"]) == EQUIVOCATION_REASON
    expected = "slashEquivocation" if equivocation else "slash"
    if name != expected:
        return unavailable(f"the transaction calls {name}, not {expected}")
    sent = (bytes(args["queryId"]), int(args["part"]), to_checksum_address(str(args["node"])))
    if sent != (query_id, part, node) or int(args["round"]) != round_:
        return unavailable(
            "the transaction's slash is of another assignment or round than its event"
        )
    if equivocation:
        pairs = [
            ((args["t1"], args["o1"]), args["sig1"]),
            ((args["t2"], args["o2"]), args["sig2"]),
        ]
    else:
        pairs = [((args["inputTranscript"], args["outputTranscript"]), args["ackSignature"])]
    try:
        acks = tuple(_ack(domain, query_id, part, node, round_, t, s) for t, s in pairs)
    except SignatureError as exc:
        return unavailable(f"an Ack of the transaction does not recover: {exc}")
    recorded = to_checksum_address(recorded_signer)
    for ack in acks:
        if ack.signer != recorded:
            return unavailable(
                f"an Ack of the transaction recovers to {ack.signer}, not to the recorded ack "
                f"signer {recorded} (another domain?)"
            )
    return SlashEvidence("equivocation" if equivocation else "ack", acks)
