"""Holders read announcements; anyone with a mail's link unsubscribes from a town's mail.

    GET  /api/v1/holders/me/announcements     sent announcements for the series the caller
                                              holds now (card holder session), newest first
    GET  /api/v1/mail/unsubscribe?token=      a page with a button (JSON for non-browsers);
                                              never unsubscribes: mail scanners open links
    POST /api/v1/mail/unsubscribe?token=      unsubscribes (RFC 8058 one-click: the mail
                                              client POSTs `List-Unsubscribe=One-Click`); 200
                                              every time, idempotent

A token that is not one of ours → 400 `invalid_token` (`backend.polls.unsubscribe`).
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import func, select

from backend.core import ratelimit
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import Error, error_body, error_responses
from backend.holders.identity import CurrentCardHolder, cards_of
from backend.polls.announcement_schemas import (
    AnnouncementTown,
    HolderAnnouncement,
    HolderAnnouncementsPage,
    Unsubscribed,
    UnsubscribeHint,
)
from backend.polls.announcements import for_holder
from backend.polls.models import Announcement
from backend.polls.unsubscribe import (
    MAX_TOKEN_LENGTH,
    TOKEN_PATTERN,
    InvalidToken,
    Unsubscriber,
    is_opted_out,
    opt_out,
    read_token,
    unsubscribe_url,
)
from backend.towns.models import Municipality

router = APIRouter(tags=["polls"])

UNSUBSCRIBE = "/api/v1/mail/unsubscribe"
#: Unsubscribes a client may post in a window (count, seconds).
UNSUBSCRIBES_PER_IP = (30, 600)
Token = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_TOKEN_LENGTH,
        pattern=TOKEN_PATTERN,
        description="the token of the mail's unsubscribe link",
    ),
]


@router.get(
    "/api/v1/holders/me/announcements",
    response_model=HolderAnnouncementsPage,
    responses=error_responses(401, 422),
)
def my_announcements(
    holder: CurrentCardHolder, session: SessionDep, runtime: RuntimeDep, page: PageDep
) -> HolderAnnouncementsPage:
    """Sent announcements of the towns whose cards the caller holds now, to every series or
    to one of theirs (revoked cards do not count), newest first, both languages."""
    cards = [card for card in cards_of(session, holder, runtime.manifest.chain_id) if not card.revoked]
    towns = {card.municipality_id for card in cards}
    if not towns:
        return HolderAnnouncementsPage(items=[], total=0, limit=page.limit, offset=page.offset)
    query = for_holder(towns, {card.drop_id for card in cards})
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items: list[Announcement] = list(session.scalars(query.limit(page.limit).offset(page.offset)))
    names = {
        town.id: AnnouncementTown(slug=town.slug, name_ja=town.name_ja, name_en=town.name_en)
        for town in session.scalars(select(Municipality).where(Municipality.id.in_(sorted(towns))))
    }
    return HolderAnnouncementsPage(
        items=[
            HolderAnnouncement(
                id=item.id,
                town=names[item.municipality_id],
                title_ja=item.title_ja,
                title_en=item.title_en,
                body_ja=item.body_ja,
                body_en=item.body_en,
                sent_at=item.sent_at or item.updated_at,
            )
            for item in items
        ],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


# ── unsubscribe ─────────────────────────────────────────────────────────────

_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<style>body{{font-family:"Noto Sans CJK JP",system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;
line-height:1.6;color:#1d2a44}}button{{font:inherit;padding:.6rem 1.2rem;border-radius:.4rem;border:0;
background:#1f6f5c;color:#fff;cursor:pointer}}a{{color:#1f6f5c}}</style></head>
<body>{content}</body></html>
"""


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _town(who: Unsubscriber) -> AnnouncementTown:
    return AnnouncementTown(slug=who.town.slug, name_ja=who.town.name_ja, name_en=who.town.name_en)


def _invalid(request: Request) -> Response:
    message = "This unsubscribe link is not valid (copied incompletely?)."
    if _wants_html(request):
        content = (
            "<h1>配信停止のリンクが正しくありません</h1>"
            "<p>メールのリンクを途中で切らずに開いてください。</p>"
            f'<p lang="en">{html.escape(message)}</p><p><small>invalid_token</small></p>'
        )
        return HTMLResponse(_PAGE.format(title="無効なリンク / Invalid link", content=content), status_code=400)
    return JSONResponse(error_body("invalid_token", message), status_code=400)


def _reader(session: SessionDep, runtime: RuntimeDep, token: str) -> Unsubscriber | None:
    try:
        return read_token(session, runtime.settings.secret_key.get_secret_value(), token)
    except InvalidToken:
        return None


_UNSUBSCRIBE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "invalid_token (an HTML page for browsers, else the Error body)",
        "model": Error,
        "content": {"text/html": {"schema": {"type": "string"}}},
    },
    **error_responses(422, 429, codes={429: "rate_limited (see Retry-After)"}),
}


@router.get(
    UNSUBSCRIBE,
    response_model=UnsubscribeHint,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}, **_UNSUBSCRIBE_RESPONSES},
)
def unsubscribe_page(token: Token, request: Request, session: SessionDep, runtime: RuntimeDep) -> Any:
    """The link in the mail's body: a page with a button that POSTs (browsers), else JSON
    saying where to POST. Opening it changes nothing: mail scanners follow links."""
    who = _reader(session, runtime, token)
    if who is None:
        return _invalid(request)
    done = is_opted_out(session, who.town.id, who.email)
    post_to = unsubscribe_url(runtime.settings.public_url, token)
    if not _wants_html(request):
        return UnsubscribeHint(town=_town(who), unsubscribed=done, post_to=post_to)
    town_ja, town_en = html.escape(who.town.name_ja), html.escape(who.town.name_en)
    if done:
        content = (
            f"<h1>{town_ja}からのお知らせメールは停止済みです</h1>"
            f'<p lang="en">Mail from {town_en} is already stopped for this address.</p>'
        )
    else:
        content = (
            f"<h1>{town_ja}からのお知らせメールを停止しますか？</h1>"
            f"<p>{html.escape(who.email)} 宛のお知らせメールを停止します。お知らせはマイカードで引き続き読めます。</p>"
            f'<p lang="en">Stop announcement mail from {town_en} to this address? '
            "You can still read announcements on your card.</p>"
            f'<form method="post" action="{html.escape(post_to)}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit">配信を停止する / Unsubscribe</button></form>'
        )
    return HTMLResponse(_PAGE.format(title="配信停止 / Unsubscribe", content=content))


@router.post(
    UNSUBSCRIBE,
    response_model=Unsubscribed,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}, **_UNSUBSCRIBE_RESPONSES},
)
def unsubscribe(token: Token, request: Request, session: SessionDep, runtime: RuntimeDep) -> Any:
    """Unsubscribe the token's address from the town's announcement mail (RFC 8058 one-click:
    any body, `List-Unsubscribe=One-Click` from mail clients, is accepted and not needed).
    200 every time, however often; announcements still show on the holder's card.
    Rate-limited per client (shared counters): the token is the authority, not a session."""
    client = request.client.host if request.client else "unknown"
    ratelimit.enforce(
        runtime.sessions,
        f"unsubscribe:ip:{client}",
        UNSUBSCRIBES_PER_IP,
        "操作が多すぎます。しばらくしてからお試しください。 (Too many requests; wait a moment.)",
    )
    who = _reader(session, runtime, token)
    if who is None:
        return _invalid(request)
    opt_out(session, who)
    session.commit()
    if _wants_html(request):
        content = (
            f"<h1>{html.escape(who.town.name_ja)}からのお知らせメールを停止しました</h1>"
            f'<p lang="en">You will get no more announcement mail from {html.escape(who.town.name_en)}.</p>'
            '<p><a href="/card.html">マイカード / My card</a></p>'
        )
        return HTMLResponse(_PAGE.format(title="配信停止しました / Unsubscribed", content=content))
    return Unsubscribed(unsubscribed=True, town=_town(who))
