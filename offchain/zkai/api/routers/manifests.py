"""Model manifests by content hash: anyone can fetch one and check it against the chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from zkai.api.deps import StateDep
from zkai.api.schemas import not_found
from zkai.errors import NotIndexedError
from zkai.models.store import ManifestStore, parse_commitment

router = APIRouter(prefix="/api/manifests", tags=["models"])


@router.get(
    "/{commitment}",
    responses={
        **not_found("No manifest with this hash here."),
        200: {"content": {"application/json": {}}, "description": "The manifest (JSON)."},
    },
    response_class=Response,
    summary="The manifest whose keccak256 is a model version's manifest hash",
)
def get_manifest(
    state: StateDep,
    commitment: Annotated[
        str, Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="0x + 64 hex digits.")
    ],
) -> Response:
    manifest = ManifestStore(state.settings.manifests_path).get(parse_commitment(commitment))
    if manifest is None:
        raise NotIndexedError(f"no manifest {commitment.lower()} is published here")
    return Response(content=manifest.to_json(), media_type="application/json")
