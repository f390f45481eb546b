"""The park's sign PDF, decoded the way a print shop and a phone see it (as the campaign
posters are: pypdf for the page and its text, the QR read back from a 300 dpi raster)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from backend.naming.park_view import holder_pseudonym
from backend.naming.sign import SignFacts, render_sign, sign_html, term_text
from tests.naming.names_world import (
    awarded_lot,
    fresh_limits,
    holder,
    make_client,
    propose,
    runtime_of,
    staff,
)
from tests.sales.test_poster import TRADEMARK, font_names_embedded, pixels_to_mm, poster_text, rasterise, read_qr

pytestmark = pytest.mark.chain

STAFF = "/api/v1/staff/towns/hoshikawa"
#: ISO 216 in PDF points.
PAGE_POINTS = {"A3": (841.89, 1190.55), "A2": (1190.55, 1683.78)}


@dataclass(frozen=True)
class NamedPark:
    park_id: int
    holder: str
    term: str


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from make_client(tmp_path_factory, "sign")


@pytest.fixture(scope="module")
def named(app_client: TestClient) -> NamedPark:
    """A park whose right was awarded and whose name was approved."""
    client = fresh_limits(app_client)
    winner = holder(client)
    lot = awarded_lot(client, winner.address)
    proposal = propose(client, winner, lot, "ほしぞら公園", "ほしぞらこうえん")
    assert proposal.status_code == 201, proposal.text
    decided = client.post(
        f"{STAFF}/name-proposals/{proposal.json()['proposal']['id']}/approve", headers=staff(client, "moderator")
    )
    assert decided.status_code == 200, decided.text
    park = client.get(f"/api/v1/parks/{lot.park_id}").json()
    term = term_text(datetime.fromisoformat(park["term_start"]), datetime.fromisoformat(park["term_end"]))
    return NamedPark(lot.park_id, holder_pseudonym(winner.address), term)


@pytest.fixture(scope="module")
def signs(app_client: TestClient, named: NamedPark) -> dict[str, bytes]:
    signs = {}
    for size in ("A3", "A2"):
        response = app_client.get(
            f"{STAFF}/parks/{named.park_id}/sign.pdf", params={"size": size}, headers=staff(app_client, "analyst")
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        assert f"sign-{size}.pdf" in response.headers["content-disposition"]
        signs[size] = response.content
    return signs


@pytest.mark.parametrize("size", ["A3", "A2"])
def test_the_sign_is_one_page_of_its_size_with_fonts_embedded(signs: dict[str, bytes], size: str) -> None:
    reader = PdfReader(io.BytesIO(signs[size]))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(PAGE_POINTS[size], abs=1)
    fonts = font_names_embedded(signs[size])
    assert any("NotoSansCJK" in name.replace("-", "") for name in fonts), fonts
    assert all(fonts.values()), fonts


@pytest.mark.parametrize("size", ["A3", "A2"])
def test_the_sign_says_the_name_its_reading_the_default_name_term_and_holder(
    app_client: TestClient, signs: dict[str, bytes], named: NamedPark, size: str
) -> None:
    text = poster_text(signs[size])
    public = runtime_of(app_client).settings.public_url
    for expected in (
        "ほしぞら公園",
        "ほしぞらこうえん",
        "星川中央公園",
        "命名権者",
        named.holder,
        "命名権の期間",
        named.term,
        f"{public}/p/{named.park_id}",
        TRADEMARK,
    ):
        assert expected in text, f"{expected!r} missing from the sign's text"


@pytest.mark.parametrize(("size", "least_mm"), [("A3", 90.0), ("A2", 130.0)])
def test_the_sign_qr_opens_the_park_page(
    app_client: TestClient, signs: dict[str, bytes], named: NamedPark, size: str, least_mm: float
) -> None:
    qr = read_qr(rasterise(signs[size], dpi=150 if size == "A2" else 300))
    public = runtime_of(app_client).settings.public_url
    assert (qr.text, qr.ec_level) == (f"{public}/parks/{named.park_id}", "Q")
    dpi = 150 if size == "A2" else 300
    assert pixels_to_mm(qr.width, dpi) >= least_mm


def test_the_sign_is_for_staff_of_the_town_and_a_known_size(app_client: TestClient, named: NamedPark) -> None:
    url = f"{STAFF}/parks/{named.park_id}/sign.pdf"
    assert app_client.get(url).status_code == 401
    assert app_client.get(url, headers=staff(app_client, "verifier")).status_code == 403
    assert app_client.get(url, params={"size": "A4"}, headers=staff(app_client, "editor")).status_code == 422
    missing = app_client.get(f"{STAFF}/parks/999999/sign.pdf", headers=staff(app_client, "editor"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "park_not_found"


def test_a_park_with_no_name_of_its_own_shows_the_default_name_once() -> None:
    facts = SignFacts(
        town_ja="星川町",
        park_id=3,
        name="星川中央公園",
        reading="",
        default_name="星川中央公園",
        term=None,
        holder=None,
    )
    document = sign_html(facts, "https://furusato.example")
    assert "公園の名称" not in document
    assert "<dt>命名権者</dt>" not in document
    assert "<dt>命名権の期間</dt>" not in document
    text = poster_text(render_sign(facts, "https://furusato.example"))
    assert text.count("星川中央公園") == 1
    assert "furusato.example/p/3" in text


def test_names_are_escaped_on_the_sign() -> None:
    hostile = '<img src="http://127.0.0.1:9/x.png">'
    facts = SignFacts("星川町", 3, hostile, hostile, "星川中央公園", "2026年4月1日〜2029年3月31日", "保有者 ABCDEF")
    document = sign_html(facts, "https://furusato.example", "A2")
    assert "<img" not in document
    assert hostile in poster_text(render_sign(facts, "https://furusato.example", "A2"))


def test_the_term_reads_as_its_first_and_last_day_in_japan() -> None:
    start = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)  # 2026-04-01 00:00 JST
    end = datetime(2029, 3, 31, 15, 0, tzinfo=UTC)  # 2029-04-01 00:00 JST: the last day is 3月31日
    assert term_text(start, end) == "2026年4月1日〜2029年3月31日"


@pytest.mark.parametrize("size", ["A3", "A2"])
def test_the_longest_name_stays_whole_on_one_page_and_the_qr_still_reads(size: str) -> None:
    longest = "公" * 21  # 63 bytes: the contract takes at most 64
    facts = SignFacts(
        "星川町", 3, longest, "こう" * 30, "星川中央公園" * 3, "2026年4月1日〜2029年3月31日", "保有者 ABCDEF"
    )
    pdf = render_sign(facts, "https://furusato.example", size)  # type: ignore[arg-type]
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    assert longest in "".join(poster_text(pdf).split())
    dpi = 150 if size == "A2" else 300
    assert read_qr(rasterise(pdf, dpi=dpi)).text == "https://furusato.example/parks/3"
