"""The app factory: wires settings, store, services and routers into one FastAPI app."""

from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from platform_services.api import errors, health
from platform_services.api.middleware import RequestContext
from platform_services.api.observability import Metrics
from platform_services.auth.replay import ReplayCache, SharedReplayCache, replay_cache
from platform_services.jobs import routes as job_routes
from platform_services.jobs.service import JobService
from platform_services.quotas import routes as quota_routes
from platform_services.runner.leader import LeaderElection
from platform_services.runner.local import LocalBackend
from platform_services.runner.reconciler import Reconciler
from platform_services.settings import Settings
from platform_services.store import Store, open_store
from platform_services.tenancy import routes as tenancy_routes
from platform_services.tenancy.crypto import SecretBox
from platform_services.tenancy.service import Tenancy


@dataclass
class Services:
    settings: Settings
    store: Store
    tenancy: Tenancy
    jobs: JobService
    replay: ReplayCache | SharedReplayCache
    metrics: Metrics
    runner: Reconciler


def build_services(settings: Settings, store: Store | None = None) -> Services:
    store = store or open_store(settings)
    metrics = Metrics()
    backend = LocalBackend(settings)
    jobs = JobService(store, validate=backend.validate)
    election = LeaderElection(store, "reconciler", settings.leader_ttl_s)
    runner = Reconciler(jobs, backend, settings, metrics, election)
    jobs.on_change = runner.wake
    return Services(
        settings,
        store,
        Tenancy(store, SecretBox(settings.server_key), settings.key_cache_ttl_s),
        jobs,
        replay_cache(store, 2 * settings.skew_seconds),
        metrics,
        runner,
    )


def create_app(settings: Settings) -> FastAPI:
    services = build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.runner_enabled:
            services.runner.start()
        yield
        services.runner.stop()
        services.store.close()

    app = FastAPI(
        title="cloudml job service",
        version="1",
        lifespan=lifespan,
        description="Signed multi-tenant API for training jobs (see platform_services/README.md).",
    )
    app.state.services = services
    errors.install(app)
    for module in (health, job_routes, quota_routes, tenancy_routes):
        app.include_router(module.router)
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes, metrics=services.metrics)
    return app
