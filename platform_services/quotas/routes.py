"""Quota: the caller's view; admins read any org's and update limits (effective at once)."""

from typing import Annotated

from fastapi import APIRouter, Body

from platform_services.api.deps import Admin, Caller, Svc, scoped_org
from platform_services.quotas.model import QUOTA_SCHEMA, parse_limits

router = APIRouter(prefix="/cloud_ml/v1", tags=["quota"])


@router.get("/quota")
def get_quota(principal: Caller, s: Svc, org_id: str | None = None) -> dict:
    org = scoped_org(principal, org_id)
    orgs = [org] if org else [o["org_id"] for o in s.tenancy.list_orgs()]
    return {"data": [{"org_id": o, **s.jobs.quota(o)} for o in orgs]}


@router.put("/quota/{org_id}")
def update_quota(
    org_id: str,
    body: Annotated[dict, Body(examples=[{"train_gpu_quota": 8}], json_schema_extra=QUOTA_SCHEMA)],
    _: Admin,
    s: Svc,
) -> dict:
    return {"org_id": org_id, **s.jobs.update_quota(org_id, parse_limits(body))}
