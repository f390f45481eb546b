"""A spot's printable check-in poster (A4 or A3, one page): the town, "デジタル住民票をお持ちの
方は、ここでチェックイン", the spot's name and place, and a QR code to `{public_url}/s/{code}`
with that URL printed under it.

The campaign poster's machinery (`backend.sales.poster`: an HTML/CSS template rendered by
WeasyPrint, the QR as inline SVG at level Q with its quiet zone, the renderer fetching nothing
but `data:` URLs, Noto Sans CJK embedded) with a template of its own
(`templates/spot_poster.html`, `spot_poster.css`). Every value is HTML-escaped: names are
typed by staff.
"""

from __future__ import annotations

import html
from pathlib import Path

from backend.benefits.models import Spot
from backend.benefits.spots import spot_url
from backend.sales.poster import (
    DEFAULT_ACCENT,
    POSTER_SIZES,
    PosterSize,
    accent_colour,
    printed_url,
    render_pdf,
    template_in,
)
from backend.sales.qr import qr_svg

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_NAME_CHARS = 80
MAX_PLACE_CHARS = 120
KIOSK_NOTE = "このスポットでは、受付の画面に表示されるQRコードを読み取ってチェックインしてください。"
LOCATION_NOTE = "チェックインのときに、スマートフォンの位置情報でこの場所にいることを確かめます（位置は保存しません）。"


def _shorten(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def spot_poster_html(spot: Spot, town_ja: str, public_url: str, size: PosterSize = "A4") -> str:
    """The poster's HTML document."""
    if size not in POSTER_SIZES:
        raise ValueError(f"size must be one of {', '.join(POSTER_SIZES)}")
    escape = html.escape
    url = spot_url(public_url, spot.code)
    notes = [note for wanted, note in ((spot.kiosk, KIOSK_NOTE), (spot.require_location, LOCATION_NOTE)) if wanted]
    return template_in(TEMPLATES, "spot_poster.html").substitute(
        size_class=size.lower(),
        town=escape(town_ja),
        name=escape(_shorten(spot.name_ja, MAX_NAME_CHARS)),
        place=escape(_shorten(spot.place_ja, MAX_PLACE_CHARS)),
        url=escape(printed_url(url)),
        qr_svg=qr_svg(url),
        notes="".join(f'<p class="note">{escape(note)}</p>' for note in notes),
    )


def spot_poster_css(accent: str = DEFAULT_ACCENT) -> str:
    return template_in(TEMPLATES, "spot_poster.css").substitute(accent=accent_colour(accent))


def render_spot_poster(
    spot: Spot, town_ja: str, public_url: str, size: PosterSize = "A4", *, accent: str = DEFAULT_ACCENT
) -> bytes:
    """The poster as PDF bytes. Raises `PosterUnavailable` when the renderer cannot run here."""
    return render_pdf(spot_poster_html(spot, town_ja, public_url, size), spot_poster_css(accent))
