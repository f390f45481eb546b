"""A campaign's printable poster: one A4 or A3 page, rendered to PDF by WeasyPrint.

The page is an HTML/CSS template (`templates/poster.html`, `poster.css`): the town's name,
the drop's title, price and text in Japanese, the QR code as inline SVG (vector, so it prints
sharp at any size), the short URL printed under it for people who type, and the QR trademark
note printers ask for. The font is Noto Sans CJK JP (Debian `fonts-noto-cjk`), embedded as a
subset so the print shop sees what the town saw. WeasyPrint is imported on first use: it
loads Pango, and a machine without it should still start (its posters answer 503).

Every value is HTML-escaped: titles and texts are typed by staff, and an unescaped `<img
src=…>` would make the renderer fetch a URL. The renderer's URL fetcher refuses every scheme
but `data:` anyway, so rendering never touches the network or the file system.
"""

from __future__ import annotations

import html
import re
from functools import cache
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Literal

from backend.sales.qr import qr_svg

if TYPE_CHECKING:
    from weasyprint.urls import URLFetcher

PosterSize = Literal["A4", "A3"]
POSTER_SIZES: tuple[PosterSize, ...] = ("A4", "A3")
TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_ACCENT = "#1f6f5c"
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
#: Characters of the drop's text kept on the poster (the CSS also caps its height): the page
#: is a poster, not the drop's page, and a 10,000-character text would only slow rendering.
MAX_TEXT_CHARS = 400
MAX_TITLE_CHARS = 120


class PosterUnavailable(Exception):
    """The renderer cannot run here (WeasyPrint or Pango missing); the message says which."""


@cache
def template_in(directory: Path, name: str) -> Template:
    """A `string.Template` file of `directory`, read once (the naming area's sign has its own)."""
    return Template((directory / name).read_text(encoding="utf-8"))


def _template(name: str) -> Template:
    return template_in(TEMPLATES, name)


def _shorten(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def printed_url(short_url: str) -> str:
    """The URL as printed: without `https://` (every phone browser adds it), else in full."""
    return short_url.removeprefix("https://")


def poster_html(
    town_name_ja: str,
    drop_title_ja: str,
    drop_text_ja: str,
    price_jpy: int,
    short_url: str,
    size: PosterSize = "A4",
) -> str:
    """The poster's HTML document (also what the console could preview)."""
    if size not in POSTER_SIZES:
        raise ValueError(f"size must be one of {', '.join(POSTER_SIZES)}")
    escape = html.escape
    return _template("poster.html").substitute(
        size_class=size.lower(),
        town=escape(town_name_ja),
        title=escape(_shorten(drop_title_ja, MAX_TITLE_CHARS)),
        text=escape(_shorten(drop_text_ja, MAX_TEXT_CHARS)),
        price=escape(f"1枚 {price_jpy:,}円"),
        url=escape(printed_url(short_url)),
        qr_svg=qr_svg(short_url),
    )


def accent_colour(accent: str) -> str:
    """The town's colour if it is `#RRGGBB`, else the default green (it goes into CSS)."""
    return accent if _COLOUR.fullmatch(accent) else DEFAULT_ACCENT


def poster_css(accent: str = DEFAULT_ACCENT) -> str:
    """The poster's stylesheet, in the town's colour (`#RRGGBB`, else the default green)."""
    return _template("poster.css").substitute(accent=accent_colour(accent))


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: Pango's shared library is missing
        raise PosterUnavailable(f"the PDF renderer cannot start: {str(exc).splitlines()[0]}") from exc
    return weasyprint


def data_only_fetcher() -> URLFetcher:
    """A fetcher that refuses anything but `data:` URLs (the template needs none at all)."""
    fetcher: URLFetcher = _weasyprint().urls.URLFetcher(allowed_protocols={"data"}, allow_redirects=False, timeout=1)
    return fetcher


def render_poster(
    town_name_ja: str,
    drop_title_ja: str,
    drop_text_ja: str,
    price_jpy: int,
    short_url: str,
    size: PosterSize = "A4",
    *,
    accent: str = DEFAULT_ACCENT,
) -> bytes:
    """The poster as PDF bytes: one page of `size`, the QR encoding exactly `short_url`.

    Raises `PosterUnavailable` when the renderer cannot run on this machine."""
    document = poster_html(town_name_ja, drop_title_ja, drop_text_ja, price_jpy, short_url, size)
    return render_pdf(document, poster_css(accent))


def render_pdf(document: str, stylesheet: str) -> bytes:
    """An HTML document and its stylesheet as PDF bytes, nothing fetched but `data:` URLs
    (posters, and the naming area's park signs). Raises `PosterUnavailable` (see above)."""
    weasyprint = _weasyprint()
    fetcher = data_only_fetcher()
    css = weasyprint.CSS(string=stylesheet, url_fetcher=fetcher)
    pdf: bytes = weasyprint.HTML(string=document, url_fetcher=fetcher).write_pdf(stylesheets=[css])
    return pdf
