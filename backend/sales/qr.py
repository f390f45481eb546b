"""A campaign's QR code, as SVG (posters, designers' files) and PNG (slides, web pages).

Error correction Q (a quarter of the symbol can be dirty, torn or covered by a sticker and it
still scans; a poster outdoors needs more than the usual M) and a quiet zone of 4 modules on
every side, the minimum the QR standard (and DENSO WAVE's printing guide) asks for: a phone
finds the symbol by that blank margin, so it is part of the image and never trimmed.

The SVG is drawn here from the module matrix, one path of horizontal runs, in module units
(`viewBox` 0 0 N N), so it scales to any printed size without blurring.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.image.pil import PilImage

#: Blank modules around the symbol, on every side.
QUIET_ZONE = 4
#: Pixels per module of the PNG unless asked otherwise.
DEFAULT_PNG_SCALE = 10
MAX_PNG_SCALE = 40


#: Error correction by medium: Q for print (dirt, stickers, tears); M for a screen, which is
#: clean, where a smaller symbol (bigger modules) scans faster from a phone across a counter.
PRINT = qrcode.constants.ERROR_CORRECT_Q
SCREEN = qrcode.constants.ERROR_CORRECT_M


def qr_matrix(url: str, level: int = PRINT) -> list[list[bool]]:
    """The symbol's modules (True = dark), quiet zone included: rows of N booleans."""
    code = qrcode.QRCode(error_correction=level, border=QUIET_ZONE)
    code.add_data(url)
    code.make(fit=True)
    matrix: list[list[bool]] = code.get_matrix()
    return matrix


def symbol_modules(url: str) -> int:
    """Modules a side of the symbol itself (21 for version 1, 4 more per version), no quiet zone."""
    return len(qr_matrix(url)) - 2 * QUIET_ZONE


def _path(matrix: list[list[bool]]) -> str:
    """One path: a rectangle per run of dark modules in a row (far smaller than one per module)."""
    parts: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            parts.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
    return "".join(parts)


def qr_svg(url: str, *, width: str | None = None, level: int = PRINT) -> str:
    """An SVG document of the QR code for `url`, white background and quiet zone included.

    `width` is the SVG's width and height as a CSS length ("80mm"); by default 10 px a module.
    """
    matrix = qr_matrix(url, level)
    size = len(matrix)
    length = width or str(size * 10)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{length}" height="{length}" '
        f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#ffffff"/>'
        f'<path d="{_path(matrix)}" fill="#000000"/></svg>'
    )


def qr_png(url: str, scale: int = DEFAULT_PNG_SCALE) -> bytes:
    """A PNG of the QR code for `url`: `scale` pixels a module (1-40), black on white."""
    if not 1 <= scale <= MAX_PNG_SCALE:
        raise ValueError(f"scale must be 1-{MAX_PNG_SCALE} pixels a module")
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_Q,
        border=QUIET_ZONE,
        box_size=scale,
        image_factory=PilImage,
    )
    code.add_data(url)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()
