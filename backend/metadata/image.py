"""The card's picture: a self-contained SVG (600×900, portrait like a resident card).

Self-contained because wallets render it out of context: no web fonts, no linked images,
no scripts. The QR code is drawn by qrcode's SVG path factory and inlined as one <path>;
it opens the town's page, never anything about the holder. All text is XML-escaped, since
town and drop names are typed in by staff. The frame takes the town's brand colour and, when
the town has one, its logo (a PNG or SVG data: URL, so still self-contained) sits above the
resident number; both are re-checked here, whatever the database holds.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import qrcode
import qrcode.constants
from qrcode.image.svg import SvgPathImage

from backend.metadata.lookup import CardFacts
from backend.metadata.prefectures import prefecture_name

WIDTH, HEIGHT = 600, 900
FONT = '"Noto Sans CJK JP", sans-serif'
QR_SIZE = 200  # drawn size of the QR modules, quiet zone excluded
QR_QUIET = 12
QR_TOP = 600
DEFAULT_COLOUR = "#1d2a44"
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
LOGO = re.compile(r"data:image/(png|svg\+xml);base64,[A-Za-z0-9+/]+={0,2}")
LOGO_SIZE = 48
LOGO_TOP = 374


@dataclass(frozen=True)
class QrPath:
    """A QR code as one SVG path in module units (one module = 1×1), and what it encodes."""

    data: str
    modules: int
    d: str


def qr_path(data: str) -> QrPath:
    """Encode `data` (medium error correction, so a worn print still scans)."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=0, image_factory=SvgPathImage
    )
    code.add_data(data)
    code.make(fit=True)
    image = code.make_image()
    # box_size 10 is one unit per module in qrcode's SVG output (10 pixels = "1mm").
    return QrPath(data=data, modules=int(code.modules_count), d=str(image.path.get("d")))


def _em_width(text: str) -> float:
    """Rough width in ems: full-width (CJK) characters are 1 em, others about 0.6."""
    return sum(1.0 if unicodedata.east_asian_width(char) in "WF" else 0.6 for char in text)


def text_line(text: str, y: int, size: int, *, weight: int = 400, fill: str = "#1d2a44", max_width: int = 520) -> str:
    """A centred line (of a 600-wide picture), shrunk to fit `max_width` rather than overflow."""
    width = _em_width(text)
    fitted = min(size, int(max_width / width)) if width else size
    return (
        f'<text x="{WIDTH // 2}" y="{y}" font-size="{max(fitted, 8)}" font-weight="{weight}" '
        f'fill="{fill}" text-anchor="middle">{escape(text)}</text>'
    )


def _qr(qr: QrPath) -> str:
    box = QR_SIZE + 2 * QR_QUIET
    left = (WIDTH - box) // 2
    scale = QR_SIZE / qr.modules
    return (
        f'<rect x="{left}" y="{QR_TOP}" width="{box}" height="{box}" rx="8" fill="#ffffff"/>'
        f'<g transform="translate({left + QR_QUIET} {QR_TOP + QR_QUIET}) scale({scale:.6f})">'
        f'<path id="qr" d={quoteattr(qr.d)} fill="#000000" shape-rendering="crispEdges"/></g>'
    )


def _logo(data_url: str) -> str:
    """The town's logo, centred above the resident number; "" without a valid one."""
    if not LOGO.fullmatch(data_url):
        return ""
    left = (WIDTH - LOGO_SIZE) // 2
    return (
        f'<image x="{left}" y="{LOGO_TOP}" width="{LOGO_SIZE}" height="{LOGO_SIZE}" '
        f'preserveAspectRatio="xMidYMid meet" href={quoteattr(data_url)}/>'
    )


def card_svg(facts: CardFacts, town_page: str) -> str:
    """The card as an SVG document; `town_page` is what its QR code opens."""
    prefecture = prefecture_name(facts.town_prefecture) or ""
    label = f"{facts.town_ja} デジタル住民票 No. {facts.number}"
    colour = facts.brand_colour if COLOUR.fullmatch(facts.brand_colour) else DEFAULT_COLOUR
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family={quoteattr(FONT)} role="img" aria-label={quoteattr(label)}>',
        f"<title>{escape(label)}</title>",
        '<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0" stop-color="{colour}"/><stop offset="1" stop-color="{colour}" stop-opacity="0.75"/>'
        "</linearGradient></defs>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" rx="28" fill="#ffffff"/>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" rx="28" fill="url(#sky)"/>',
        f'<rect x="24" y="24" width="{WIDTH - 48}" height="{HEIGHT - 48}" rx="20" fill="#f7f3ea"/>',
        text_line("デジタル住民票 · DIGITAL RESIDENT CARD", 80, 20, weight=700, fill="#8a6d3b"),
        text_line(facts.town_ja, 170, 72, weight=700),
        text_line(facts.town_en, 220, 30),
        text_line(prefecture, 258, 22, fill="#5b6475"),
        text_line(facts.title_ja, 320, 26, weight=700),
        text_line(facts.title_en, 356, 20, fill="#5b6475"),
        _logo(facts.logo_data_url),
        text_line("住民番号 · RESIDENT NUMBER", 444, 18, fill="#8a6d3b"),
        text_line(f"No. {facts.number}", 540, 110, weight=700),
        _qr(qr_path(town_page)),
        text_line("町のページへ · Visit the town", 862, 18, fill="#5b6475"),
        "</svg>",
    ]
    return "".join(parts)
