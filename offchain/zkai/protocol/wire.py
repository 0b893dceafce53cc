"""The round messages on the wire: JSON over HTTP between a user's client and a node's endpoint.

    POST /v2/rounds
      {"query": "0x<32 bytes>", "part": int, "node": "0x<address>", "round": int,
       "commitment": "0x..", "input_transcript": "0x..", "prev_output_transcript": "0x..",
       "signature": "0x<65 bytes>", "payload": "<base64 sealed box>",
       "prompt": [["0x.."]],     (part 0's round 1 under a tokens rule only: k rows of commitments)
       "validity": ["0x.."]}     (a prompt token's round only: 8 proof words)
    200 {"outputs": ["0x.."], "output_transcript": "0x..", "ack": "0x<65 bytes>"}
    4xx / 503 {"reason": "<code>", "detail": "<sentence>"}   (a refusal: nothing is signed)

    GET /v2/health -> {"node": "0x..", "chain_id": int, "market": "0x..", "parts": [[model, part]]}

`prompt` and `validity` are the prompt's later tokens (`zkai.protocol.prompt`); the signature does
not cover them, the commitments do (round 1's salt is the digest of `prompt`, and the proof is
checked against the rows). Field elements travel as 0x-prefixed hex. Parsing is strict
(`WireError` with the field's name): whatever a node signs is computed from values it parsed
here, never from the raw JSON.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from zkai.crypto.field import is_field_element
from zkai.errors import ShareError
from zkai.protocol.messages import SIGNATURE_BYTES, RoundMessage

__all__ = [
    "HEALTH_PATH",
    "MAX_PAYLOAD_BYTES",
    "ROUND_PATH",
    "RoundAnswer",
    "RoundRefusal",
    "RoundRequest",
    "WireError",
    "field_hex",
]

ROUND_PATH = "/v2/rounds"
HEALTH_PATH = "/v2/health"
# A sealed payload of 65,535 explicit field elements is about 2 MiB; nothing larger is read.
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_PROMPT_COMMITMENTS = 65_536
PROOF_WORDS = 8


class WireError(ShareError):
    """A round message or answer is malformed (the field is named in the message)."""


def _hex_bytes(data: Mapping[str, Any], key: str, size: int | None = None) -> bytes:
    value = data.get(key)
    if not isinstance(value, str) or not value.startswith("0x"):
        raise WireError(f"{key!r} must be a 0x-prefixed hex string")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise WireError(f"{key!r} is not valid hex") from None
    if size is not None and len(raw) != size:
        raise WireError(f"{key!r} must be {size} bytes, got {len(raw)}")
    return raw


def _field(value: object, key: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise WireError(f"{key!r} must be a 0x-prefixed hex field element")
    try:
        number = int(value, 16)
    except ValueError:
        raise WireError(f"{key!r} is not valid hex") from None
    if not is_field_element(number):
        raise WireError(f"{key!r} is not below the field order r")
    return number


def _int(data: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise WireError(f"{key!r} must be an integer in {low}..{high}")
    return value


def field_hex(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


@dataclass(frozen=True)
class RoundRequest:
    """A signed `Round` and the payload sealed to the node's recorded encryption key."""

    message: RoundMessage
    signature: bytes
    sealed: bytes
    prompt: tuple[tuple[int, ...], ...] | None = None
    """Part 0's round 1 under a tokens rule: the prompt's later commitments, one row per node."""
    validity: tuple[int, ...] | None = None
    """A prompt token's round: the proof words of its one-position validity proof."""

    def to_json(self) -> dict[str, Any]:
        m = self.message
        body: dict[str, Any] = {
            "query": "0x" + m.query_id.hex(),
            "part": m.part,
            "node": to_checksum_address(m.node),
            "round": m.round,
            "commitment": field_hex(m.commitment),
            "input_transcript": field_hex(m.input_transcript),
            "prev_output_transcript": field_hex(m.prev_output_transcript),
            "signature": "0x" + self.signature.hex(),
            "payload": base64.b64encode(self.sealed).decode(),
        }
        if self.prompt is not None:
            body["prompt"] = [[field_hex(c) for c in row] for row in self.prompt]
        if self.validity is not None:
            body["validity"] = [field_hex(w) for w in self.validity]
        return body

    @classmethod
    def from_json(cls, data: object) -> RoundRequest:
        if not isinstance(data, Mapping):
            raise WireError("a round message is a JSON object")
        node = data.get("node")
        if not isinstance(node, str) or not is_address(node):
            raise WireError("'node' must be an address")
        payload = data.get("payload")
        if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
            raise WireError(f"'payload' must be base64 of at most {MAX_PAYLOAD_BYTES} bytes")
        try:
            sealed = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise WireError("'payload' is not valid base64") from None
        message = RoundMessage(
            query_id=_hex_bytes(data, "query", 32),
            part=_int(data, "part", 0, 2**32 - 1),
            node=to_checksum_address(node),
            round=_int(data, "round", 1, 2**32 - 1),
            commitment=_field(data.get("commitment"), "commitment"),
            input_transcript=_field(data.get("input_transcript"), "input_transcript"),
            prev_output_transcript=_field(
                data.get("prev_output_transcript"), "prev_output_transcript"
            ),
        )
        return cls(
            message,
            _hex_bytes(data, "signature", SIGNATURE_BYTES),
            sealed,
            _prompt(data.get("prompt")),
            _proof(data.get("validity")),
        )


def _prompt(value: object) -> tuple[tuple[int, ...], ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise WireError("'prompt' must be a non-empty list of lists of commitments")
    if sum(len(row) for row in value) > MAX_PROMPT_COMMITMENTS:
        raise WireError(f"'prompt' holds more than {MAX_PROMPT_COMMITMENTS} commitments")
    if len({len(row) for row in value}) != 1:
        raise WireError("'prompt' rows must all have the same length")
    return tuple(tuple(_field(c, "prompt") for c in row) for row in value)


def _proof(value: object) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != PROOF_WORDS:
        raise WireError(f"'validity' must be a list of {PROOF_WORDS} proof words")
    words = []
    for w in value:  # base-field coordinates (below q, not r): the verifier checks them
        if not isinstance(w, str) or not w.startswith("0x") or not 2 < len(w) <= 66:
            raise WireError("'validity' words must be 0x-prefixed hex of at most 32 bytes")
        try:
            words.append(int(w, 16))
        except ValueError:
            raise WireError("'validity' is not valid hex") from None
    return tuple(words)


@dataclass(frozen=True)
class RoundAnswer:
    """A node's answer: the masked outputs, O_i and its signed Ack."""

    outputs: tuple[int, ...]
    output_transcript: int
    ack: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "outputs": [field_hex(v) for v in self.outputs],
            "output_transcript": field_hex(self.output_transcript),
            "ack": "0x" + self.ack.hex(),
        }

    @classmethod
    def from_json(cls, data: object) -> RoundAnswer:
        if not isinstance(data, Mapping):
            raise WireError("a round answer is a JSON object")
        outputs = data.get("outputs")
        if not isinstance(outputs, list) or not outputs:
            raise WireError("'outputs' must be a non-empty list")
        return cls(
            outputs=tuple(_field(v, "outputs") for v in outputs),
            output_transcript=_field(data.get("output_transcript"), "output_transcript"),
            ack=_hex_bytes(data, "ack", SIGNATURE_BYTES),
        )


@dataclass(frozen=True)
class RoundRefusal:
    """A node's refusal: a reason code and a sentence; never a signature."""

    reason: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason, "detail": self.detail}

    @classmethod
    def from_json(cls, data: object) -> RoundRefusal:
        if not isinstance(data, Mapping):
            return cls("malformed-refusal", "the node's refusal is not a JSON object")
        reason, detail = data.get("reason"), data.get("detail")
        return cls(
            reason if isinstance(reason, str) else "unknown",
            detail if isinstance(detail, str) else "",
        )
