from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from zkai.api import rewards_view
from zkai.api.deps import MAX_ID, PageDep, SessionDep
from zkai.api.schemas import (
    AddressPath,
    ContributorDetail,
    ContributorOut,
    DistributionOut,
    EpochOut,
    Page,
    not_found,
)

router = APIRouter(tags=["contributors"])


@router.get("/api/contributors", summary="Contributors: rewards claimed and unclaimed")
def list_contributors(session: SessionDep, page: PageDep) -> Page[ContributorOut]:
    return rewards_view.list_contributors(session, page.limit, page.offset)


@router.get(
    "/api/contributors/{address}",
    responses=not_found("No rewards for this address."),
    summary="A contributor's rewards per epoch with claim status",
)
def get_contributor(session: SessionDep, address: AddressPath) -> ContributorDetail:
    return rewards_view.get_contributor(session, address)


@router.get("/api/epochs", summary="Reward epochs")
def list_epochs(session: SessionDep, page: PageDep) -> Page[EpochOut]:
    return rewards_view.list_epochs(session, page.limit, page.offset)


@router.get("/api/epochs/{epoch}", responses=not_found("No such epoch."))
def get_epoch(session: SessionDep, epoch: Annotated[int, Path(ge=1, le=MAX_ID)]) -> EpochOut:
    return rewards_view.get_epoch(session, epoch)


@router.get(
    "/api/epochs/{epoch}/distribution",
    responses=not_found("No such epoch, or its leaves are not published."),
    summary="An epoch's (contributor, amount) leaves, to build a claim's Merkle proof",
)
def get_distribution(
    session: SessionDep, epoch: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> DistributionOut:
    return rewards_view.get_distribution(session, epoch)
