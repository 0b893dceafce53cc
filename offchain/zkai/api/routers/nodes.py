from __future__ import annotations

from fastapi import APIRouter

from zkai.api import repository
from zkai.api.deps import PageDep, SessionDep
from zkai.api.schemas import AddressPath, AssignmentOut, NodeOut, Page, SlashOut, not_found

router = APIRouter(prefix="/api/nodes", tags=["nodes"])
NOT_FOUND = not_found("Not a registered node.")


@router.get("", summary="Nodes: endpoint, parts hosted, stake, claims, slashes, earnings")
def list_nodes(session: SessionDep, page: PageDep) -> Page[NodeOut]:
    return repository.list_nodes(session, page.limit, page.offset)


@router.get("/{address}", responses=NOT_FOUND)
def get_node(session: SessionDep, address: AddressPath) -> NodeOut:
    return repository.get_node(session, address)


@router.get("/{address}/slashes", responses=NOT_FOUND)
def list_slashes(session: SessionDep, address: AddressPath, page: PageDep) -> Page[SlashOut]:
    return repository.list_slashes(session, address, page.limit, page.offset)


@router.get(
    "/{address}/assignments",
    responses=NOT_FOUND,
    summary="A node's assignments, newest query first",
)
def list_assignments(
    session: SessionDep, address: AddressPath, page: PageDep
) -> Page[AssignmentOut]:
    return repository.list_node_assignments(session, address, page.limit, page.offset)
