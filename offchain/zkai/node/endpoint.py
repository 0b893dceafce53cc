"""The node's round endpoint (HTTP, JSON; v2-interfaces.md), served by uvicorn in `zkai node run`.

    POST /v2/rounds   a Round, its signature and the sealed payload -> 200 {"outputs",
                      "output_transcript", "ack"}, or a refusal {"reason", "detail"} with a 4xx /
                      503 status and no signature (`zkai.node.rounds` lists the reasons)
    GET  /v2/health   {"node", "parts", "chain_id", "market"}

The payload is opened in this process (one of the node's own), never handed on decrypted. Chain
or store failures answer 503 "unavailable" (retry later); nothing is signed then either.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from zkai.errors import ZKAIError
from zkai.node.logs import log_event
from zkai.node.rounds import RoundRefusedError, RoundRequest, RoundService

__all__ = ["create_endpoint"]

log = logging.getLogger("zkai.node.endpoint")


def create_endpoint(service: RoundService, parts: list[str] | None = None) -> FastAPI:
    """The FastAPI app of one node's round endpoint."""
    app = FastAPI(title="ZKAI node round endpoint", docs_url=None, redoc_url=None)
    node = service.node.address

    def serve(body: Any) -> tuple[int, dict[str, Any]]:
        try:
            request = RoundRequest.from_json(body)
            answer = service.serve(request)
        except RoundRefusedError as refused:
            log_event(
                log,
                "round.refused",
                level=logging.WARNING,
                node=node,
                reason=refused.reason,
                detail=refused.detail,
            )
            return refused.status, refused.as_json()
        except ZKAIError as exc:
            log_event(log, "round.unavailable", level=logging.WARNING, node=node, error=str(exc))
            return 503, {"reason": "unavailable", "detail": f"try again later: {exc}"}
        log_event(
            log,
            "round.served",
            node=node,
            query="0x" + request.query.hex(),
            part=request.part,
            round=request.round,
        )
        return 200, answer.as_json()

    @app.post("/v2/rounds")
    async def rounds(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            refused = RoundRefusedError("malformed", "the body is not JSON")
            return JSONResponse(refused.as_json(), status_code=refused.status)
        status, content = await asyncio.to_thread(serve, body)
        return JSONResponse(content, status_code=status)

    @app.get("/v2/health")
    async def health() -> dict[str, Any]:
        return {
            "node": node,
            "parts": parts or [],
            "chain_id": service.view.chain_id,
            "market": service.view.market,
        }

    return app
