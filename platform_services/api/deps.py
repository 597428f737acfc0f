"""Dependencies shared by the routers."""

from typing import Annotated, Any

from fastapi import Depends, Request

from platform_services.auth.authenticate import authenticate
from platform_services.errors import ApiError
from platform_services.tenancy.service import Principal


async def services(request: Request):
    return request.app.state.services


async def require_admin(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "Forbidden", "this operation needs an admin key")
    return principal


def scoped_org(principal: Principal, org_id: str | None) -> str | None:
    """The org a request reads: its own; an admin may name another, or -1 for all (None)."""
    if org_id is None or org_id == principal.org_id:
        return principal.org_id
    if not principal.is_admin:
        raise ApiError(404, "NotFound", f"org {org_id!r} not found", "org_id")
    return None if org_id == "-1" else org_id


Caller = Annotated[Principal, Depends(authenticate)]
Admin = Annotated[Principal, Depends(require_admin)]
Svc = Annotated[Any, Depends(services)]
