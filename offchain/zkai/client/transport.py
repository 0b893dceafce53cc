"""Sending rounds to nodes' endpoints over HTTP (httpx, one pooled connection per node).

A refusal (4xx, or 503 for a transient one) is raised as `RoundRefusedError` with the node's
reason code; transient refusals (`TRANSIENT_REASONS`) and connection failures are retried with
backoff until `patience_s` has passed, then `NodeUnreachableError`. Sending the identical signed
round again is safe: the node returns its stored answer.
"""

from __future__ import annotations

import time

import httpx

from zkai.errors import NodeUnreachableError, RoundRefusedError
from zkai.protocol.wire import (
    HEALTH_PATH,
    ROUND_PATH,
    RoundAnswer,
    RoundRefusal,
    RoundRequest,
    WireError,
)

__all__ = ["TRANSIENT_REASONS", "RoundTransport"]

# Refusals a node may lift by itself shortly: retried, not fatal.
TRANSIENT_REASONS = frozenset({"not-final", "query-unknown", "unavailable", "busy"})
TIMEOUT_S = 30.0


class RoundTransport:
    """HTTP client for round endpoints."""

    def __init__(self, *, patience_s: float = 30.0, timeout_s: float = TIMEOUT_S) -> None:
        self.patience_s = patience_s
        self._client = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RoundTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def healthy(self, endpoint: str, node: str, timeout_s: float = 2.0) -> bool:
        """Does `endpoint` answer its health check as `node`? (asked before paying)"""
        try:
            response = self._client.get(endpoint.rstrip("/") + HEALTH_PATH, timeout=timeout_s)
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return False
        return isinstance(body, dict) and str(body.get("node", "")).lower() == node.lower()

    def send(self, endpoint: str, request: RoundRequest) -> RoundAnswer:
        """POST one round; the node's answer (not yet checked: see `QuerySession.accept`)."""
        node = request.message.node
        url = endpoint.rstrip("/") + ROUND_PATH
        body = request.to_json()
        give_up = time.monotonic() + self.patience_s
        delay = 0.1
        last = ""
        while True:
            try:
                response = self._client.post(url, json=body)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        return RoundAnswer.from_json(response.json())
                    except (ValueError, WireError) as exc:
                        raise RoundRefusedError(node, "malformed-answer", str(exc)) from None
                try:
                    refusal = RoundRefusal.from_json(response.json())
                except ValueError:
                    refusal = RoundRefusal("http-" + str(response.status_code), response.text[:200])
                if refusal.reason not in TRANSIENT_REASONS:
                    raise RoundRefusedError(node, refusal.reason, refusal.detail)
                last = f"{refusal.reason}: {refusal.detail}"
            if time.monotonic() + delay > give_up:
                raise NodeUnreachableError(
                    f"node {node} at {endpoint} did not serve the round within "
                    f"{self.patience_s:.0f} s ({last})"
                )
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
