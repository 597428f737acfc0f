"""`org_ids` (who am I) and the admin API for orgs and keys."""

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from platform_services.api.deps import Admin, Caller, Svc
from platform_services.quotas.model import QUOTA_SCHEMA
from platform_services.tenancy.service import ORG_ID

router = APIRouter(prefix="/cloud_ml/v1", tags=["tenancy"])


class OrgCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: str = Field(max_length=63, json_schema_extra={"pattern": ORG_ID.pattern})
    quota: dict[str, Any] = Field(  # values checked by parse_limits (pydantic would turn true into 1)
        default_factory=dict, max_length=40, json_schema_extra=QUOTA_SCHEMA
    )


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "admin"] = "user"
    galaxy_v3: bool = Field(False, description="also accept the seed SDK's weaker Galaxy V3 signatures")


class KeyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    galaxy_v3: bool | None = None


@router.get("/org_ids")
def org_ids(principal: Caller) -> dict:
    return {"org_id": principal.org_id, "access_key": principal.access_key, "role": principal.role}


@router.post("/admin/orgs", status_code=201)
def create_org(body: OrgCreate, _: Admin, s: Svc) -> dict:
    return s.tenancy.create_org(body.org_id, body.quota)


@router.get("/admin/orgs")
def list_orgs(_: Admin, s: Svc) -> dict:
    return {"data": s.tenancy.list_orgs()}


@router.post("/admin/orgs/{org_id}/keys", status_code=201)
def create_key(org_id: str, body: KeyCreate, _: Admin, s: Svc) -> dict:
    return s.tenancy.create_key(org_id, body.role, body.galaxy_v3)


@router.get("/admin/keys")
def list_keys(_: Admin, s: Svc, org_id: str | None = None) -> dict:
    return {"data": s.tenancy.list_keys(org_id)}


@router.patch("/admin/keys/{access_key}")
def update_key(access_key: str, body: KeyUpdate, _: Admin, s: Svc) -> dict:
    return s.tenancy.update_key(access_key, enabled=body.enabled, galaxy_v3=body.galaxy_v3)


@router.post("/admin/keys/{access_key}/rotate")
def rotate_key(access_key: str, _: Admin, s: Svc) -> dict:
    """A new secret for the key, returned once; the old secret stops working at once."""
    return s.tenancy.update_key(access_key, rotate=True)
