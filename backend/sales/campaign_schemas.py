"""Campaigns' and the funnel's request and response models (staff side)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from backend.core.schemas import MAX_ROW_ID
from backend.sales.campaigns import CODE_PATTERN


class FunnelFigures(BaseModel):
    """Figures of the funnel; `backend.sales.funnel` defines each one precisely."""

    scans: int = Field(description="Recorded requests of /c/{code}, bots included")
    unique_scans: int = Field(description="Distinct visitors a day (Japan time), bots left out")
    bot_scans: int = Field(description="Scans by known crawlers, link previews, scripts, or HEAD")
    orders: int = Field(description="Orders carrying the code, whatever their status")
    paid: int = Field(description="Of those, orders ever paid (refunded ones included)")
    minted: int = Field(description="Of those, orders whose cards were minted")
    refunded: int = Field(description="Of those, orders refunded")
    revenue_jpy: int = Field(description="Yen of paid orders not refunded (net of refunds)")


class CampaignCreate(BaseModel):
    """A new campaign: a poster location or a link. Without `code`, one is generated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str | None = Field(
        default=None,
        pattern=CODE_PATTERN,
        description="3-32 letters, digits, '-' or '_'; unique on the deployment regardless of case",
    )
    name: str = Field(min_length=1, max_length=200, description="Where the poster hangs, or which link")
    drop_id: int = Field(ge=1, le=MAX_ROW_ID)


class CampaignOut(FunnelFigures):
    code: str
    name: str
    drop_id: int
    #: The short URL (public URL + /c/{code}) printed on the poster and in its QR.
    url: str
    created_at: datetime


class CampaignsPage(BaseModel):
    items: list[CampaignOut]
    total: int
    limit: int
    offset: int


class FunnelRow(FunnelFigures):
    code: str
    name: str
    drop_id: int


class FunnelOut(BaseModel):
    """A page of campaigns with their figures, the totals over all of them (`all`), and the
    town's orders that came without a campaign code (`without_campaign`)."""

    items: list[FunnelRow]
    total: int
    limit: int
    offset: int
    all: FunnelFigures
    without_campaign: FunnelFigures
