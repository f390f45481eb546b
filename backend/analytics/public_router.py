"""Public statistics of a town, with small counts suppressed.

    GET /api/v1/towns/{slug}/stats?year=YYYY   the figures (`public_stats.PublicStats`)
    GET /towns/{slug}/stats                    the page (stats.html; it reads the slug from its path)

No session: these are the figures a town would print in its report, and every count below
the town's threshold, or that would reveal one, is "x" (`suppression.py`). The page route
belongs to this router, so it is matched before the static pages' mount at "/"; it answers
the page with 404 for an unknown town (the page then says so, in the reader's language),
as `/parks/{id}` does.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.analytics.public_stats import PublicStats, town_stats
from backend.core.deps import SessionDep
from backend.core.errors import ApiError, error_body, error_responses
from backend.staff.deps import NowDep
from backend.towns.models import Municipality
from backend.towns.registry import SLUG_PATTERN

router = APIRouter(tags=["analytics"])

FRONTEND_DIR = FilePath(__file__).resolve().parent.parent.parent / "frontend_static"

Slug = Annotated[str, Path(min_length=1, max_length=64, pattern=SLUG_PATTERN, description="the town's slug")]
Year = Annotated[
    int | None,
    Query(ge=2000, le=2100, description="the year of the yearly figures (visits, categories); default this year"),
]

#: Figures change as the rollup runs (within seconds); a minute's caching spares a busy page.
CACHE = "public, max-age=60"


def _town(session: Session, slug: str) -> Municipality | None:
    return session.scalar(select(Municipality).where(Municipality.slug == slug))


@router.get(
    "/api/v1/towns/{slug}/stats",
    response_model=PublicStats,
    responses=error_responses(404, 422, codes={404: "town_not_found"}),
)
def get_town_stats(slug: Slug, session: SessionDep, now: NowDep, response: Response, year: Year = None) -> PublicStats:
    """The town's public figures: residents, where they live, visits and categories, every
    small count (and any that would reveal one) as "x"."""
    town = _town(session, slug)
    if town is None:
        raise ApiError(404, "town_not_found", "その自治体はありません。 (No such town.)")
    response.headers["Cache-Control"] = CACHE
    return town_stats(session, town, now=now, year=year)


def stats_page(request: Request) -> Response:
    """`/towns/{slug}/stats`: the statistics page; 404 (still the page) for an unknown town."""
    path = FRONTEND_DIR / "stats.html"
    if not path.is_file():
        return JSONResponse(error_body("not_found", "This page is not available."), status_code=404)
    with request.app.state.runtime.sessions() as session:
        found = _town(session, request.path_params["slug"]) is not None
    return FileResponse(
        path, media_type="text/html", status_code=200 if found else 404, headers={"Cache-Control": "no-cache"}
    )


router.add_route("/towns/{slug}/stats", stats_page, methods=["GET", "HEAD"], include_in_schema=False)
