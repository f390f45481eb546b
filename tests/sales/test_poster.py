"""Posters and QR codes, checked the way a print shop and a phone see them: the PDF is decoded
(pypdf for page size, fonts and text; pypdfium2 rasterises it at 300 dpi) and the QR is read
back from the pixels by zxing-cpp, then measured in millimetres."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import cast

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import DictionaryObject
from weasyprint import HTML

from backend.sales.poster import data_only_fetcher, poster_html, render_poster
from backend.sales.qr import QUIET_ZONE, qr_matrix, qr_png, qr_svg, symbol_modules

URL = "http://127.0.0.1:8000/c/AB3XYZ"
TOWN = "星川町"
TITLE = "星川町 デジタル住民票 第1期"
TEXT = "先着1,000枚。ご購入いただいた番号が、あなたの住民番号になります。"
DPI = 300
MM_PER_INCH = 25.4
#: ISO 216 in PDF points (1/72 inch).
PAGE_POINTS = {"A4": (595.28, 841.89), "A3": (841.89, 1190.55)}
TRADEMARK = "QRコードは株式会社デンソーウェーブの登録商標です"


@dataclass(frozen=True)
class ReadQr:
    """A QR code read from an image: its text, level, and the symbol's box in pixels."""

    text: str
    ec_level: str
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left


def read_qr(image: Image.Image) -> ReadQr:
    """The one QR code in `image`, as zxing-cpp reads it (fails if none or several)."""
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    assert len(found) == 1, f"expected one QR code, read {len(found)}"
    (code,) = found
    corners = code.position
    xs = [corners.top_left.x, corners.top_right.x, corners.bottom_left.x, corners.bottom_right.x]
    ys = [corners.top_left.y, corners.top_right.y, corners.bottom_left.y, corners.bottom_right.y]
    return ReadQr(code.text, code.ec_level, min(xs), min(ys), max(xs), max(ys))


def rasterise(pdf: bytes, dpi: int = DPI) -> Image.Image:
    """The PDF's first page as a greyscale bitmap at `dpi`."""
    document = pdfium.PdfDocument(pdf)
    try:
        image: Image.Image = document[0].render(scale=dpi / 72, grayscale=True).to_pil()
        return image.convert("L")
    finally:
        document.close()


def pixels_to_mm(pixels: float, dpi: int = DPI) -> float:
    return pixels / dpi * MM_PER_INCH


def assert_quiet_zone(image: Image.Image, qr: ReadQr, modules: int) -> None:
    """Every pixel within `QUIET_ZONE` modules around the symbol is white (a scanner finds the
    symbol by that margin); the half module next to the symbol is left out for anti-aliasing."""
    module = (qr.width + 1) / modules
    inner, outer = module * 0.5, module * QUIET_ZONE - 1
    left, top = round(qr.left - outer), round(qr.top - outer)
    right, bottom = round(qr.right + outer), round(qr.bottom + outer)
    grey = image.convert("L")
    band = [
        (left, top, right, round(qr.top - inner)),  # above
        (left, round(qr.bottom + inner), right, bottom),  # below
        (left, top, round(qr.left - inner), bottom),  # left
        (round(qr.right + inner), top, right, bottom),  # right
    ]
    for box in band:
        darkest, _ = cast(tuple[int, int], grey.crop(box).getextrema())
        assert darkest >= 200, f"quiet zone {box} has a dark pixel ({darkest})"


def font_names_embedded(pdf: bytes) -> dict[str, bool]:
    """Each font of the first page by its base name → whether its program is embedded."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    resources = cast(DictionaryObject, page["/Resources"].get_object())
    fonts = cast(DictionaryObject, resources["/Font"].get_object())
    found: dict[str, bool] = {}
    for ref in fonts.values():
        font = cast(DictionaryObject, ref.get_object())
        descendants = font.get("/DescendantFonts")
        described = descendants[0].get_object() if descendants else font
        descriptor = described.get("/FontDescriptor")
        keys = set(descriptor.get_object().keys()) if descriptor is not None else set()
        found[str(font["/BaseFont"])] = bool(keys & {"/FontFile", "/FontFile2", "/FontFile3"})
    return found


def poster_text(pdf: bytes) -> str:
    return PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


@pytest.fixture(scope="module")
def posters() -> dict[str, bytes]:
    """One A4 and one A3 poster, rendered once for the module."""
    return {size: render_poster(TOWN, TITLE, TEXT, 1000, URL, size) for size in ("A4", "A3")}


def test_the_png_decodes_to_the_url_at_level_q_with_a_four_module_quiet_zone() -> None:
    image = Image.open(io.BytesIO(qr_png(URL, scale=8)))
    qr = read_qr(image)
    assert (qr.text, qr.ec_level) == (URL, "Q")
    modules = symbol_modules(URL)
    assert image.size == ((modules + 2 * QUIET_ZONE) * 8,) * 2
    assert qr.left == QUIET_ZONE * 8  # the symbol starts after exactly four blank modules
    assert_quiet_zone(image, qr, modules)


def test_the_png_scale_is_bounded() -> None:
    with pytest.raises(ValueError, match="scale"):
        qr_png(URL, scale=0)
    with pytest.raises(ValueError, match="scale"):
        qr_png(URL, scale=41)


def test_the_svg_draws_exactly_the_qr_matrix_and_decodes_once_rendered() -> None:
    svg = qr_svg(URL, width="60mm")
    matrix = qr_matrix(URL)
    size = len(matrix)
    assert f'viewBox="0 0 {size} {size}"' in svg
    assert 'width="60mm"' in svg
    drawn = [[False] * size for _ in range(size)]
    path = re.search(r' d="([^"]+)"', svg)
    assert path is not None
    for x, y, run in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path.group(1)):
        for column in range(int(x), int(x) + int(run)):
            drawn[int(y)][column] = True
    assert drawn == matrix
    # Rendered (WeasyPrint, as on the poster) and read back from the pixels.
    page = HTML(string=f"<html><body style='margin:20mm'>{svg}</body></html>", url_fetcher=data_only_fetcher())
    image = rasterise(page.write_pdf())
    qr = read_qr(image)
    assert (qr.text, qr.ec_level) == (URL, "Q")
    assert pixels_to_mm(qr.width) == pytest.approx(60 * (size - 2 * QUIET_ZONE) / size, abs=0.5)


@pytest.mark.parametrize("size", ["A4", "A3"])
def test_the_poster_is_one_page_of_the_requested_size(posters: dict[str, bytes], size: str) -> None:
    reader = PdfReader(io.BytesIO(posters[size]))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(PAGE_POINTS[size], abs=1)


@pytest.mark.parametrize("size", ["A4", "A3"])
def test_the_poster_embeds_noto_sans_cjk(posters: dict[str, bytes], size: str) -> None:
    fonts = font_names_embedded(posters[size])
    cjk = {name: embedded for name, embedded in fonts.items() if "NotoSansCJK" in name.replace("-", "")}
    assert cjk, f"no Noto Sans CJK font in {sorted(fonts)}"
    assert all(cjk.values()), f"a CJK font is not embedded: {cjk}"
    assert all(fonts.values()), f"every font is embedded (a print shop has no fallback): {fonts}"


@pytest.mark.parametrize("size", ["A4", "A3"])
def test_the_poster_text_is_japanese_and_selectable(posters: dict[str, bytes], size: str) -> None:
    text = poster_text(posters[size])
    for expected in (TOWN, TITLE, "住民番号", "1枚 1,000円", URL, TRADEMARK):
        assert expected in text, f"{expected!r} missing from the poster's text layer"


@pytest.mark.parametrize(("size", "least_mm"), [("A4", 40.0), ("A3", 100.0)])
def test_the_poster_qr_decodes_to_the_campaign_url_and_prints_large_enough(
    posters: dict[str, bytes], size: str, least_mm: float
) -> None:
    image = rasterise(posters[size])
    qr = read_qr(image)
    assert (qr.text, qr.ec_level) == (URL, "Q")
    printed = pixels_to_mm(qr.width)
    assert printed >= least_mm, f"the QR symbol prints {printed:.1f} mm wide"
    assert_quiet_zone(image, qr, symbol_modules(URL))


def test_a3_is_the_a4_poster_scaled_up() -> None:
    widths = {}
    for size in ("A4", "A3"):
        widths[size] = pixels_to_mm(read_qr(rasterise(render_poster(TOWN, TITLE, TEXT, 1000, URL, size))).width)
    assert widths["A3"] / widths["A4"] == pytest.approx(2**0.5, rel=0.02)


def test_long_texts_stay_on_one_page_and_the_qr_still_reads() -> None:
    pdf = render_poster(TOWN, TITLE * 20, (TEXT + "\n") * 200, 1_234_567, URL, "A4")
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    assert read_qr(rasterise(pdf)).text == URL


def test_staff_text_is_escaped_and_nothing_is_fetched() -> None:
    hostile = '<img src="http://127.0.0.1:9/x.png"><style>@import url(file:///etc/passwd)</style>&amp;'
    document = poster_html(hostile, hostile, hostile, 1000, URL)
    assert "<img" not in document
    assert "<style>@import" not in document
    pdf = render_poster(hostile, hostile, hostile, 1000, URL)
    assert '<img src="http://127.0.0.1:9/x.png">' in poster_text(pdf)
    fetcher = data_only_fetcher()
    for refused in ("http://127.0.0.1:9/x.png", "https://example.invalid/", "file:///etc/passwd"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            fetcher.fetch(refused)
    assert fetcher.fetch("data:text/plain,ok").read() == b"ok"


def test_an_unknown_size_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        render_poster(TOWN, TITLE, TEXT, 1000, URL, "B5")  # type: ignore[arg-type]
