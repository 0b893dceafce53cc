from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from zkai.api import repository
from zkai.api.deps import MAX_ID, PageDep, SessionDep
from zkai.api.schemas import ModelOut, ModelVersionOut, Page, not_found

router = APIRouter(prefix="/api/models", tags=["models"])
ModelId = Annotated[int, Path(ge=1, le=MAX_ID, description="Model id (from 1).")]
NOT_FOUND = not_found("No such model.")


@router.get(
    "", summary="Registered models: versions with parts (price per round, shares, R_max, verifier)"
)
def list_models(session: SessionDep, page: PageDep) -> Page[ModelOut]:
    return repository.list_models(session, page.limit, page.offset)


@router.get("/{model_id}", responses=NOT_FOUND)
def get_model(session: SessionDep, model_id: ModelId) -> ModelOut:
    return repository.get_model(session, model_id)


@router.get("/{model_id}/versions", responses=NOT_FOUND)
def list_versions(session: SessionDep, model_id: ModelId) -> list[ModelVersionOut]:
    return repository.list_versions(session, model_id)
