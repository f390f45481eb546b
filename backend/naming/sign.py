"""A park's printable sign (A3 or A2, one page): the name now in large type, its reading, the
default name, the term, the rights holder's pseudonym, and a QR code to the park's page with
the short URL printed under it.

The campaign poster's machinery (`backend.sales.poster`: HTML/CSS template rendered by
WeasyPrint, the QR as inline SVG at level Q with its quiet zone, the renderer fetching nothing
but `data:` URLs, Noto Sans CJK embedded) with a template of its own
(`templates/sign.html`, `sign.css`). Every value is HTML-escaped: names are typed by
winners and staff.

The QR leads to `{public_url}/parks/{id}`, where anyone reads the name, the term and the
holder from the chain; the printed short URL `{public_url}/p/{id}` redirects there.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from backend.naming.park_view import ParkPublic, aware
from backend.sales.order_search import JST
from backend.sales.poster import DEFAULT_ACCENT, accent_colour, printed_url, render_pdf, template_in
from backend.sales.qr import qr_svg

SignSize = Literal["A3", "A2"]
SIGN_SIZES: tuple[SignSize, ...] = ("A3", "A2")
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Characters of a name kept on the sign (a name is at most 64 bytes; the default name is
#: the town's own and could be longer).
MAX_NAME_CHARS = 60


def park_url(public_url: str, park_id: int) -> str:
    """The park's page: what the sign's QR encodes."""
    return f"{public_url.rstrip('/')}/parks/{park_id}"


def short_url(public_url: str, park_id: int) -> str:
    """The URL printed on the sign for people who type (redirects to the park's page)."""
    return f"{public_url.rstrip('/')}/p/{park_id}"


def japanese_date(moment: datetime) -> str:
    """e.g. 2026年4月1日 (Japan time)."""
    local = aware(moment).astimezone(JST)
    return f"{local.year}年{local.month}月{local.day}日"


def term_text(start: datetime, end: datetime) -> str:
    """The term as people read it: its first day to its last day (the end is exclusive)."""
    last = aware(end).astimezone(JST)
    if (last.hour, last.minute, last.second) == (0, 0, 0):  # ends at midnight: the day before is the last
        last = datetime.fromtimestamp(last.timestamp() - 1, JST)
    return f"{japanese_date(start)}〜{japanese_date(last)}"


@dataclass(frozen=True)
class SignFacts:
    town_ja: str
    park_id: int
    name: str
    reading: str
    default_name: str
    term: str | None
    holder: str | None


def sign_facts(park: ParkPublic, town_ja: str) -> SignFacts:
    term = term_text(park.term_start, park.term_end) if park.term_start and park.term_end else None
    return SignFacts(
        town_ja=town_ja,
        park_id=park.id,
        name=park.current_name,
        reading=park.current_reading or "",
        default_name=park.default_name,
        term=term,
        holder=park.holder,
    )


def _shorten(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def sign_html(facts: SignFacts, public_url: str, size: SignSize = "A3") -> str:
    """The sign's HTML document."""
    if size not in SIGN_SIZES:
        raise ValueError(f"size must be one of {', '.join(SIGN_SIZES)}")
    escape = html.escape
    named = facts.name != facts.default_name
    default_line = (
        f'<p class="default">（公園の名称：{escape(_shorten(facts.default_name, MAX_NAME_CHARS))}）</p>'
        if named
        else ""
    )
    rows = []
    if facts.term is not None:
        rows.append(("命名権の期間", facts.term))
    if facts.holder is not None:
        rows.append(("命名権者", facts.holder))
    record = "".join(f"<div><dt>{escape(label)}</dt><dd>{escape(value)}</dd></div>" for label, value in rows)
    return template_in(TEMPLATES, "sign.html").substitute(
        size_class=size.lower(),
        town=escape(facts.town_ja),
        reading=escape(_shorten(facts.reading, MAX_NAME_CHARS * 2)),
        name=escape(_shorten(facts.name, MAX_NAME_CHARS)),
        default_line=default_line,
        record=record,
        url=escape(printed_url(short_url(public_url, facts.park_id))),
        qr_svg=qr_svg(park_url(public_url, facts.park_id)),
    )


def sign_css(accent: str = DEFAULT_ACCENT) -> str:
    return template_in(TEMPLATES, "sign.css").substitute(accent=accent_colour(accent))


def render_sign(facts: SignFacts, public_url: str, size: SignSize = "A3", *, accent: str = DEFAULT_ACCENT) -> bytes:
    """The sign as PDF bytes (one page of `size`). Raises `PosterUnavailable` when the
    renderer cannot run on this machine."""
    return render_pdf(sign_html(facts, public_url, size), sign_css(accent))
