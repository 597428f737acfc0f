"""`/cloud_ml/v1/train` (submit, list, describe, delete, logs, events) and `/cloud_ml/v1/framework`."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from platform_services.api.deps import Caller, Svc, scoped_org
from platform_services.api.responses import StoredJSONResponse
from platform_services.auth.authenticate import authenticate_for_commit, record_signature
from platform_services.errors import ApiError
from platform_services.jobs import states
from platform_services.jobs.service import public_view
from platform_services.jobs.spec import FRAMEWORKS, TrainJobSpec
from platform_services.store import StoreUnavailable

router = APIRouter(prefix="/cloud_ml/v1", tags=["train"])
JOB_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
REPLICA = r"^(master|chief|ps|worker)-\d{1,4}$"


@router.get("/framework")
def frameworks(_: Caller) -> dict:
    return {"data": [{"framework": f, "versions": v} for f, v in FRAMEWORKS.items()]}


# The body is parsed and validated by pydantic in one step from the bytes (model_validate_json), its schema
# given to the OpenAPI by hand: FastAPI's own body handling (json.loads, then validation through its
# dependency machinery) cost a submission about 17 us more. Errors take FastAPI's path
# (RequestValidationError, located in "body"), so they read as every other route's.
_SUBMIT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": TrainJobSpec.model_json_schema()}},
}


_RETRIED = {"description": "a retry with the same client_request_id: the job the first request created"}


@router.post(
    "/train",
    status_code=201,
    response_model=dict,
    responses={200: {**_RETRIED, "content": {"application/json": {"schema": {"type": "object"}}}}},
    openapi_extra={"requestBody": _SUBMIT_BODY},
)
async def submit(request: Request) -> StoredJSONResponse:
    # Authenticated by a direct call rather than through Caller/Svc: FastAPI's dependency solving cost the
    # hottest route about 35 us a request. Same order: the signature is checked before the body is read.
    # On a shared store the signature's replay key is created in the submission's own commit (one durable
    # write instead of two); every answer given without that commit records the signature first.
    principal, unrecorded = await authenticate_for_commit(request)
    s = request.app.state.services
    try:
        try:
            spec = TrainJobSpec.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        # Async: the submission waits for its group commit on the event loop, whose batch commits in the
        # threadpool on etcd and on the loop on SQLite (group_commit.py); a sync route would also pay a hop to
        # validate its response.
        signature = (s.replay.key(unrecorded), s.replay.ttl_s) if unrecorded else None
        job, created = await s.jobs.submit(principal.org_id, spec, signature)
    except Exception as exc:
        if unrecorded and not (isinstance(exc, ApiError) and exc.code == "ReplayedRequest"):
            await _record_before_answering(request, unrecorded, exc)
        raise
    if created:
        s.metrics.jobs_submitted.labels(job["state"]).inc()
    elif unrecorded:  # a retry answered with the first job: nothing committed
        await record_signature(request, unrecorded)
    return StoredJSONResponse(public_view(job), status_code=201 if created else 200)


async def _record_before_answering(request: Request, signature: str, answer: Exception) -> None:
    """Record the signature of a submission answered with `answer` without its commit. A replayed request gets
    ReplayedRequest instead, unless `answer` is the store's failure: the commit may have recorded the key
    itself, and the store's answer stands. When recording fails, that failure (503) is the answer: a refusal
    given with its signature unrecorded could be replayed into an admission later."""
    try:
        await record_signature(request, signature)
    except ApiError:
        if not isinstance(answer, StoreUnavailable):
            raise


@router.get("/train")
def list_jobs(principal: Caller, s: Svc, org_id: Annotated[str | None, Query(max_length=63)] = None) -> dict:
    return {"data": [public_view(j) for j in s.jobs.list(scoped_org(principal, org_id))]}


@router.get("/train/{job_name}")
def describe(job_name: str, principal: Caller, s: Svc) -> dict:
    return public_view(s.jobs.get(principal.org_id, job_name))


@router.delete("/train/{job_name}")
def delete(job_name: str, principal: Caller, s: Svc) -> dict:
    job = s.jobs.mark_deleting(principal.org_id, job_name)
    if job is not None:
        s.runner.delete_now(principal.org_id, job_name)
    return {"message": f"train job {job_name!r} deleted"}


@router.get("/train/{job_name}/events")
def events(job_name: str, principal: Caller, s: Svc) -> dict:
    return {"data": s.jobs.get(principal.org_id, job_name)["events"]}


@router.get(
    "/train/{job_name}/logs", response_class=Response, responses={200: {"content": {"text/plain": {}}}}
)
async def logs(
    request: Request,
    job_name: str,
    principal: Caller,
    s: Svc,
    lines: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    follow: bool = False,
    replica: Annotated[str | None, Query(pattern=REPLICA)] = None,
):
    job = await run_in_threadpool(s.jobs.get, principal.org_id, job_name)
    path = s.runner.log_path(job, replica)
    if path is None:
        if replica is not None:
            raise ApiError(404, "NotFound", f"replica {replica!r} of {job_name!r} has no logs", "replica")
        return Response("", media_type="text/plain")
    data = await run_in_threadpool(s.runner.read_from, path, 0)
    text = b"".join(data.splitlines(keepends=True)[-lines:]) if lines else data
    if not follow:
        return Response(text, media_type="text/plain")

    async def stream():
        yield text
        offset = len(data)
        while True:
            chunk = await run_in_threadpool(s.runner.read_from, path, offset)
            if chunk:
                offset += len(chunk)
                yield chunk
                continue
            current = await run_in_threadpool(s.jobs.store.get, f"/jobs/{principal.org_id}/{job_name}")
            ended = current is None or current.value["state"] in states.TERMINAL
            if ended or await request.is_disconnected():
                tail = await run_in_threadpool(s.runner.read_from, path, offset)
                if tail:
                    yield tail
                return
            await asyncio.sleep(0.2)

    return StreamingResponse(stream(), media_type="text/plain")
