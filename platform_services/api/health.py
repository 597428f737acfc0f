"""Liveness, readiness (the store answers) and Prometheus metrics; no authentication."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from platform_services.store import StoreUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the store does not answer"}})
async def readyz(request: Request):
    try:
        await run_in_threadpool(request.app.state.services.store.ping)
    except StoreUnavailable as exc:
        return JSONResponse({"status": "unavailable", "store": str(exc)}, status_code=503)
    return {"status": "ok"}


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.services.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
