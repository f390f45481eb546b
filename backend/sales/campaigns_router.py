"""Campaigns over HTTP: the town's campaigns, posters, QR codes and funnel (staff), and the
public short URL `/c/{code}` that counts a scan and forwards to the drop's page.

Staff routes live under `/api/v1/staff/towns/{slug}/`; who may call them is in
`backend.staff.policy` (editors and owners create; analysts read the figures too).
`/c/{code}` is registered before the pages' mount at "/", so it is matched first.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from backend.core.audit import record
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, Error, error_body, error_responses
from backend.core.schemas import MAX_ROW_ID
from backend.runtime import Runtime
from backend.sales.campaign_schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignsPage,
    FunnelFigures,
    FunnelOut,
    FunnelRow,
)
from backend.sales.campaigns import (
    CODE_PATTERN,
    CampaignRefused,
    Visit,
    campaign_for_scan,
    campaign_url,
    create_campaign,
    drop_page,
    record_scan,
    town_campaign,
)
from backend.sales.funnel import FunnelCounts, campaign_counts, town_funnel
from backend.sales.models import Campaign, Drop
from backend.sales.poster import PosterUnavailable, render_poster
from backend.sales.qr import DEFAULT_PNG_SCALE, MAX_PNG_SCALE, qr_png, qr_svg
from backend.staff.deps import TownStaff

log = logging.getLogger("furusato.campaigns")
router = APIRouter(tags=["campaigns"])
TOWN = "/api/v1/staff/towns/{slug}"
Code = Annotated[str, Path(pattern=CODE_PATTERN, description="The campaign's code, as listed")]
_NOT_FOUND = {404: "campaign_not_found"}


def _out(runtime: Runtime, campaign: Campaign, counts: FunnelCounts) -> CampaignOut:
    return CampaignOut(
        code=campaign.code,
        name=campaign.name,
        drop_id=campaign.drop_id,
        url=campaign_url(runtime.settings.public_url, campaign.code),
        created_at=campaign.created_at.replace(tzinfo=campaign.created_at.tzinfo or UTC),
        **vars(counts),
    )


def _campaign(session: SessionDep, ctx: TownStaff, code: str) -> Campaign:
    campaign = town_campaign(session, ctx.town.id, code)
    if campaign is None:
        raise ApiError(404, "campaign_not_found", "No campaign with this code in this town.")
    return campaign


@router.get(f"{TOWN}/campaigns", response_model=CampaignsPage, responses=error_responses(401, 403, 422))
def list_campaigns(ctx: TownStaff, session: SessionDep, runtime: RuntimeDep, page: PageDep) -> CampaignsPage:
    """The town's campaigns, newest first, each with its short URL and its funnel figures."""
    funnel, total = town_funnel(session, ctx.town.id, limit=page.limit, offset=page.offset)
    items = [_out(runtime, campaign, counts) for campaign, counts in funnel.campaigns]
    return CampaignsPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    f"{TOWN}/campaigns",
    status_code=201,
    response_model=CampaignOut,
    responses=error_responses(401, 403, 404, 409, 422, 429, codes={404: "drop_not_found", 409: "code_taken"}),
)
def create(body: CampaignCreate, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep) -> CampaignOut:
    """A campaign for one of the town's drops; without `code`, a 6-character one is generated."""
    try:
        campaign = create_campaign(session, ctx.town.id, name=body.name, drop_id=body.drop_id, code=body.code)
    except CampaignRefused as refused:
        raise ApiError(refused.status, refused.code, str(refused)) from None
    after = {"code": campaign.code, "name": campaign.name, "drop_id": campaign.drop_id}
    record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action="campaign.create",
        target_type="campaign",
        target_id=campaign.code,
        after=after,
    )
    session.commit()
    return _out(runtime, campaign, FunnelCounts())


@router.get(
    f"{TOWN}/campaigns/{{code}}",
    response_model=CampaignOut,
    responses=error_responses(401, 403, 404, 422, codes=_NOT_FOUND),
)
def get_campaign(code: Code, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep) -> CampaignOut:
    campaign = _campaign(session, ctx, code)
    return _out(runtime, campaign, campaign_counts(session, ctx.town.id, [campaign.id])[campaign.id])


def _download(content: bytes | str, media_type: str, filename: str) -> Response:
    """A file for the browser to save (the name is ASCII: codes are)."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"}
    return Response(content, media_type=media_type, headers=headers)


def _file_response(media_type: str, what: str) -> dict[int | str, dict[str, object]]:
    return {200: {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}}, "description": what}}


@router.get(
    f"{TOWN}/campaigns/{{code}}/poster.pdf",
    response_class=Response,
    responses={
        **_file_response("application/pdf", "The printable poster, one page"),
        **error_responses(401, 403, 404, 422, 503, codes={**_NOT_FOUND, 503: "poster_unavailable"}),
    },
)
def poster(
    code: Code,
    ctx: TownStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    size: Annotated[Literal["A4", "A3"], Query(description="Paper size")] = "A4",
) -> Response:
    """The campaign's poster as PDF: the town and the drop in Japanese, the price, the QR (at
    least 40 mm) and the short URL printed under it."""
    campaign = _campaign(session, ctx, code)
    drop = session.get(Drop, campaign.drop_id)
    assert drop is not None
    try:
        pdf = render_poster(
            ctx.town.name_ja,
            drop.title_ja,
            drop.description_ja,
            drop.price_jpy,
            campaign_url(runtime.settings.public_url, campaign.code),
            size,
            accent=ctx.town.brand_colour,
        )
    except PosterUnavailable as exc:
        log.error("poster of %s not rendered: %s", campaign.code, exc)
        raise ApiError(503, "poster_unavailable", "Posters cannot be made on this server right now.") from None
    return _download(pdf, "application/pdf", f"poster-{campaign.code}-{size}.pdf")


@router.get(
    f"{TOWN}/campaigns/{{code}}/qr.png",
    response_class=Response,
    responses={
        **_file_response("image/png", "The QR code alone"),
        **error_responses(401, 403, 404, 422, codes=_NOT_FOUND),
    },
)
def qr_code_png(
    code: Code,
    ctx: TownStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    scale: Annotated[int, Query(ge=1, le=MAX_PNG_SCALE, description="Pixels a module")] = DEFAULT_PNG_SCALE,
) -> Response:
    """The QR code of the short URL as PNG (level Q, 4-module quiet zone)."""
    campaign = _campaign(session, ctx, code)
    png = qr_png(campaign_url(runtime.settings.public_url, campaign.code), scale)
    return _download(png, "image/png", f"qr-{campaign.code}.png")


@router.get(
    f"{TOWN}/campaigns/{{code}}/qr.svg",
    response_class=Response,
    responses={
        **_file_response("image/svg+xml", "The QR code alone, vector"),
        **error_responses(401, 403, 404, 422, codes=_NOT_FOUND),
    },
)
def qr_code_svg(code: Code, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep) -> Response:
    """The QR code of the short URL as SVG, for designers (scales to any size)."""
    campaign = _campaign(session, ctx, code)
    svg = qr_svg(campaign_url(runtime.settings.public_url, campaign.code))
    return _download(svg, "image/svg+xml", f"qr-{campaign.code}.svg")


def _figures(counts: FunnelCounts) -> FunnelFigures:
    return FunnelFigures(**vars(counts))


@router.get(f"{TOWN}/funnel", response_model=FunnelOut, responses=error_responses(401, 403, 422))
def funnel(
    ctx: TownStaff,
    session: SessionDep,
    page: PageDep,
    drop_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="Only this drop's campaigns")] = None,
) -> FunnelOut:
    """Scans → orders → paid → minted, refunds and net revenue, per campaign (a page, newest
    first) and in all; see `backend.sales.funnel` for each figure's exact meaning."""
    result, total = town_funnel(session, ctx.town.id, drop_id=drop_id, limit=page.limit, offset=page.offset)
    items = [
        FunnelRow(code=campaign.code, name=campaign.name, drop_id=campaign.drop_id, **vars(counts))
        for campaign, counts in result.campaigns
    ]
    return FunnelOut(
        items=items,
        total=total,
        limit=page.limit,
        offset=page.offset,
        all=_figures(result.all),
        without_campaign=_figures(result.without_campaign),
    )


# ── the public short URL ────────────────────────────────────────────────────

_UNKNOWN_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>見つかりません / Not found</title>
<style>body{{font-family:"Noto Sans CJK JP",system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;
line-height:1.6;color:#1d2a44}}a{{color:#1f6f5c}}</style></head>
<body><h1>このQRコードのページは見つかりません</h1>
<p>コード「{code}」のキャンペーンはありません。ポスターのURLをもう一度お確かめいただくか、
<a href="/">トップページ</a>からお進みください。</p>
<p lang="en">No campaign has the code “{code}”. Please check the printed address, or start from the
<a href="/">home page</a>.</p></body></html>
"""


def _unknown(request: Request, code: str) -> Response:
    """A page for people (browsers ask for HTML), the API's error body for everyone else."""
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(_UNKNOWN_PAGE.format(code=html.escape(code[:64])), status_code=404)
    return JSONResponse(error_body("campaign_not_found", "No campaign has this code."), status_code=404)


_SCAN_ROUTE: dict[str, Any] = {
    "status_code": 302,
    "response_class": RedirectResponse,
    "responses": {
        302: {"description": "Counted; `Location` is the drop's page with `?c={code}`"},
        404: {
            "description": "campaign_not_found (an HTML page for browsers, else the Error body)",
            "content": {"text/html": {"schema": {"type": "string"}}},
            "model": Error,
        },
    },
}


@router.get("/c/{code}", operation_id="scan_campaign", **_SCAN_ROUTE)
@router.head("/c/{code}", operation_id="scan_campaign_head", **_SCAN_ROUTE)
def scan(code: str, request: Request, runtime: RuntimeDep) -> Response:
    """A poster's short URL: count the scan, then 302 to the drop's page carrying the code.
    HEAD is answered the same way (and counted as a bot: link scanners send it first).

    Counting never stands between a person and the drop: past the rate limits, or if the
    database refuses the write, the visitor is forwarded all the same."""
    visit = Visit(
        client=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        method=request.method,
    )
    with runtime.sessions() as session:
        campaign = campaign_for_scan(session, code)
        if campaign is None:
            return _unknown(request, code)
        target = drop_page(campaign)
        try:
            record_scan(session, campaign, visit, runtime.settings.secret_key.get_secret_value(), datetime.now(UTC))
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            log.warning("scan of %s not counted: %s", campaign.code, type(exc).__name__)
    return RedirectResponse(target, status_code=302, headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})
