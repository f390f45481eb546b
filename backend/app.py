"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from backend.analytics import data_router as analytics_data
from backend.analytics import public_router as analytics_public
from backend.analytics import staff_router as analytics_staff
from backend.analytics import tiers_router as analytics_tiers
from backend.benefits import spots_router, spots_staff_router, verify_router
from backend.benefits import staff_router as benefits_staff
from backend.core import health, openapi
from backend.core.bodylimit import BodySizeLimit
from backend.core.config import Settings, get_settings
from backend.core.errors import install_error_handlers
from backend.core.routing import PagesMount
from backend.holders import pass_router, wallet_router
from backend.holders import router as holders
from backend.lottery import router as lottery
from backend.metadata import router as metadata
from backend.naming import bidders_router, lots_router, parks_router
from backend.naming import staff_router as naming_staff
from backend.payments import router as payments
from backend.polls import announcements_router, announcements_staff_router, polls_router, polls_staff_router
from backend.runtime import Runtime, open_runtime
from backend.sales import campaigns_router as campaigns
from backend.sales import router as sales
from backend.sales import staff_drops, staff_orders
from backend.staff import router as staff
from backend.towns import router as towns

FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend_static"


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app around `runtime`, or around one it opens at start-up.

    The CLI opens the runtime before serving, so configuration errors stop the process
    before a port is bound. Either way the app closes it at shutdown: uvicorn re-raises
    SIGTERM/SIGINT once it has shut down, so shutdown is the last moment that reliably runs
    (it stops anvil, which dumps the chain state).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = runtime or await run_in_threadpool(open_runtime, settings)
        try:
            yield
        finally:
            await run_in_threadpool(app.state.runtime.close)

    app = FastAPI(
        title="Furusato",
        summary="Digital resident cards and park naming rights for Japanese towns",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    openapi.install(app)
    app.add_middleware(BodySizeLimit)
    app.include_router(health.router)
    app.include_router(towns.router)
    app.include_router(sales.router)
    app.include_router(payments.router)
    app.include_router(metadata.router)
    app.include_router(holders.router)
    app.include_router(staff_drops.router)
    app.include_router(lottery.router)
    app.include_router(campaigns.router)  # /c/{code} before the pages' mount at /
    app.include_router(staff_orders.router)
    app.include_router(staff.router)
    app.include_router(lots_router.router)
    app.include_router(bidders_router.router)
    app.include_router(naming_staff.router)
    app.include_router(parks_router.router)  # also /parks/{id}, /lots/{id}, /p/{id}: before the pages' mount
    app.include_router(pass_router.router)
    app.include_router(wallet_router.router)
    app.include_router(verify_router.router)
    app.include_router(benefits_staff.router)
    app.include_router(spots_router.router)  # also /s/{code}: before the pages' mount
    app.include_router(spots_staff_router.router)
    app.include_router(announcements_router.router)
    app.include_router(announcements_staff_router.router)
    app.include_router(polls_router.router)
    app.include_router(polls_staff_router.router)
    app.include_router(analytics_staff.router)
    app.include_router(analytics_tiers.router)
    app.include_router(analytics_public.router)  # also /towns/{slug}/stats: before the pages' mount
    app.include_router(analytics_data.router)
    # Last, and leaving API paths to the API: see backend.core.routing.
    app.router.routes.append(PagesMount("/", StaticFiles(directory=FRONTEND_DIR, html=True), name="pages"))
    return app
