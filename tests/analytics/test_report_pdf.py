"""The monthly report PDF, decoded the way a reader's viewer sees it: one A4 page, Noto Sans
CJK embedded, and the Japanese title, the month and the month's figures present as text
(pypdfium2's text layer: searchable and copyable, not pictures of numbers). The charts are
SVG written by `backend.analytics.report`; the tile map covers every prefecture once.

The figures come from the rollup cells of `test_dashboard_api.seed` (the same town)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import cast

import pypdfium2 as pdfium
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from backend.analytics import dashboard
from backend.analytics import metrics as m
from backend.analytics.figures import JST, Period
from backend.analytics.report import TILES, report_figures, report_html, short_prefecture, tile_map_svg
from backend.app import create_app
from backend.core.config import Settings
from backend.towns.models import Municipality
from tests.analytics.test_dashboard_api import BASE, SLUG, World, runtime_of, seed
from tests.factories import staff_headers

pytestmark = pytest.mark.chain

#: ISO 216 A4 in PDF points.
A4 = (595.28, 841.89)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("analytics-report") / "data")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def world(client: TestClient) -> World:
    return seed(runtime_of(client).sessions)


@pytest.fixture(scope="module")
def analyst(client: TestClient, world: World) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, SLUG, "analyst")


@pytest.fixture(scope="module")
def march(client: TestClient, analyst: dict[str, str]) -> bytes:
    response = client.get(f"{BASE}/report.pdf", headers=analyst, params={"month": "2026-03"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="report-{SLUG}-2026-03.pdf"'
    return response.content


def page_text(pdf: bytes) -> str:
    """The first page's text as a viewer extracts it, whitespace collapsed."""
    document = pdfium.PdfDocument(pdf)
    try:
        return re.sub(r"\s+", " ", document[0].get_textpage().get_text_range())
    finally:
        document.close()


def fonts_embedded(pdf: bytes) -> dict[str, bool]:
    """Each font of the first page by base name → whether its program is embedded."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    resources = cast(DictionaryObject, page["/Resources"].get_object())
    fonts = cast(DictionaryObject, resources["/Font"].get_object())
    found: dict[str, bool] = {}
    for ref in fonts.values():
        font = cast(DictionaryObject, ref.get_object())
        descendants = font.get("/DescendantFonts")
        described = descendants[0].get_object() if descendants else font
        descriptor = cast(DictionaryObject, described["/FontDescriptor"].get_object())
        found[str(font["/BaseFont"])] = bool(set(descriptor) & {"/FontFile", "/FontFile2", "/FontFile3"})
    return found


def test_the_report_is_one_a4_page_with_noto_sans_cjk_embedded(march: bytes) -> None:
    reader = PdfReader(io.BytesIO(march))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width), 1), round(float(box.height), 1)) == (round(A4[0], 1), round(A4[1], 1))
    fonts = fonts_embedded(march)
    assert fonts
    assert all(fonts.values()), fonts
    assert any("NotoSansCJK" in name.replace("-", "") for name in fonts), fonts


def test_the_title_month_and_figures_are_text(march: bytes) -> None:
    text = page_text(march)
    assert "kawabe町 関係人口レポート 2026年3月" in text
    assert "全シリーズ" in text
    # Headline: 7 residents holding 9 cards; 6 new in March; ¥6,000 net in March; 5 of 7 outside 山形.
    for expected in ("デジタル住民 7人", "保有 9枚", "今月の新規住民 6人", "今月の売上 6,000円", "県外の住民 71.4%"):
        assert expected in text, f"{expected!r} missing from the report's text"
    # The tile map: Tokyo's square says 3, abroad 1; the top prefectures and metros in words.
    assert "東京 3" in text
    assert "海外 1" in text
    assert "上位: 東京都 3人、山形県 2人、海外 1人、大阪府 1人" in text
    assert "首都圏 3人、中京圏 0人、近畿圏 1人" in text
    # March's funnel (30 scans, 11 orders) and visits (8 check-ins, 2 benefit uses).
    assert "QR読み取り 30" in text
    assert "注文 11" in text
    assert "チェックイン 8 回 ・ 特典利用 2 回" in text
    # The year's categories beside the national survey.
    assert "関係人口の類型（2026年・7人）" in text
    assert "趣味・消費型 3人 全国 38%" in text
    assert "全国 49%" in text  # visit days 2–7, national


def test_one_drops_report_says_so(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    response = client.get(f"{BASE}/report.pdf", headers=analyst, params={"month": "2026-04", "drop_id": world.drop2})
    assert response.status_code == 200, response.text
    text = page_text(response.content)
    assert "シリーズ: 第2期" in text
    assert "2026年4月" in text
    assert "今月の新規住民 1人" in text
    assert "デジタル住民 4人" in text


def test_the_default_month_is_this_month_in_japan(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    response = client.get(f"{BASE}/report.pdf", headers=analyst)
    assert response.status_code == 200, response.text
    now = datetime.now(UTC).astimezone(JST)
    assert f"{now.year}年{now.month}月" in page_text(response.content)


def test_refusals(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    other = client.get(f"{BASE}/report.pdf", headers=analyst, params={"drop_id": world.other_drop})
    assert (other.status_code, other.json()["error"]["code"]) == (404, "drop_not_found")
    early = client.get(f"{BASE}/report.pdf", headers=analyst, params={"month": "1999-12"})
    assert early.status_code == 422
    verifier = staff_headers(runtime_of(client).sessions, SLUG, "verifier")
    assert client.get(f"{BASE}/report.pdf", headers=verifier).status_code == 403


def test_staff_typed_names_are_escaped(client: TestClient, world: World) -> None:
    with runtime_of(client).sessions() as session:
        town = session.get(Municipality, world.town_id)
        assert town is not None
        query = dashboard.Query(
            town=town, period=Period(), drop_id=None, year=2026, now=datetime(2026, 4, 1, tzinfo=UTC)
        )
        figures = report_figures(session, query, "2026-03")
    document = report_html(figures, '<img src="http://127.0.0.1:9/x.png">町', "#123456", "<b>第1期</b>")
    assert "<img" not in document
    assert "&lt;img src=&quot;http://127.0.0.1:9/x.png&quot;&gt;町" in document
    assert "&lt;b&gt;第1期&lt;/b&gt;" in document
    assert 'fill="#123456"' in document  # the town's colour in the charts
    fallback = report_html(figures, "町", 'red" onload="x', None)
    assert 'fill="#1f6f5c"' in fallback  # not a colour: the default green, nothing injected
    assert "onload" not in fallback


def test_the_tile_map_has_every_prefecture_once_shaded_by_residents() -> None:
    assert sorted(TILES) == list(m.PREFECTURES)
    assert len(set(TILES.values())) == len(TILES)
    assert (short_prefecture("13"), short_prefecture("26"), short_prefecture("01"), short_prefecture("00")) == (
        "東京",
        "京都",
        "北海道",
        "海外",
    )
    svg = tile_map_svg({"13": 40, "27": 1}, "#1f6f5c")
    fills = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"', svg)
    assert len(fills) == 48
    tokyo = list(TILES).index("13")
    osaka = list(TILES).index("27")
    hokkaido = list(TILES).index("01")
    assert fills[tokyo] == "#1f6f5c"  # the most residents: the town's colour
    assert fills[hokkaido] == "#ffffff"  # none: white
    assert fills[osaka] not in {"#1f6f5c", "#ffffff"}  # a few: a lighter shade
