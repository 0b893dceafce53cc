"""The round messages on the wire: JSON over HTTP between a user's client and a node's endpoint.

    POST /v2/rounds
      {"query": "0x<32 bytes>", "part": int, "node": "0x<address>", "round": int,
       "commitment": "0x..", "input_transcript": "0x..", "prev_output_transcript": "0x..",
       "signature": "0x<65 bytes>", "payload": "<base64 sealed box>"}
    200 {"outputs": ["0x.."], "output_transcript": "0x..", "ack": "0x<65 bytes>"}
    4xx / 503 {"reason": "<code>", "detail": "<sentence>"}   (a refusal: nothing is signed)

    GET /v2/health -> {"node": "0x..", "chain_id": int, "market": "0x..", "parts": [[model, part]]}

Field elements travel as 0x-prefixed hex. Parsing is strict (`WireError` with the field's name):
whatever a node signs is computed from values it parsed here, never from the raw JSON.
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

    def to_json(self) -> dict[str, Any]:
        m = self.message
        return {
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
        return cls(message, _hex_bytes(data, "signature", SIGNATURE_BYTES), sealed)


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
