"""The metadata document and the SVG card from facts alone (no chain, no database)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import qrcode
import qrcode.constants

from backend.metadata.card import card_name, token_metadata, town_url
from backend.metadata.image import card_svg, qr_path
from backend.metadata.lookup import CardFacts, parse_contract, parse_token_id

SVG = "{http://www.w3.org/2000/svg}"
FACTS = CardFacts(
    contract="0x" + "Ab" * 20,
    token_id=42,
    number="0042",
    town_slug="hoshikawa",
    town_ja="星川町",
    town_en="Hoshikawa Town",
    town_prefecture="06",
    title_ja="星川町 デジタル住民票 第1期",
    title_en="Hoshikawa digital resident card, first issue",
    description_ja="",
    description_en="",
    issued_at=datetime(2025, 4, 1, 9, 30, tzinfo=UTC),
)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output)


def _dark_modules(d: str) -> set[tuple[int, int]]:
    """The unit squares of qrcode's path ("Mx,yHx+1Vy+1Hxz" per module)."""
    cells = set()
    for x, y, right, bottom in re.findall(r"M(\d+),(\d+)H(\d+)V(\d+)H\d+z", d):
        assert (int(right) - int(x), int(bottom) - int(y)) == (1, 1)
        cells.add((int(x), int(y)))
    return cells


def test_qr_path_draws_exactly_the_town_urls_code() -> None:
    url = town_url("https://furusato.example.jp/", "hoshikawa")
    assert url == "https://furusato.example.jp/?town=hoshikawa"
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    expected = {(x, y) for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark}

    drawn = qr_path(url)

    assert drawn.data == url
    assert drawn.modules == len(matrix)
    assert _dark_modules(drawn.d) == expected


def test_metadata_of_a_town_without_a_known_prefecture_leaves_the_trait_out() -> None:
    body = token_metadata(replace(FACTS, town_prefecture="99"), "https://x.example")
    assert [a["trait_type"] for a in body["attributes"]] == ["Town", "Series", "Number", "Issue date"]
    assert body["attributes"][3]["value"] == int(FACTS.issued_at.timestamp())
    assert body["image"] == f"https://x.example/api/v1/tokens/{FACTS.contract}/42/image.svg"


def test_name_names_the_town_once() -> None:
    assert card_name(FACTS) == "星川町 デジタル住民票 第1期 #0042"
    assert card_name(replace(FACTS, title_ja="デジタル住民票")) == "星川町 デジタル住民票 #0042"


def test_hostile_names_are_escaped_and_the_card_stays_well_formed() -> None:
    hostile = '<script>alert("x")</script> & ]]>'
    facts = replace(FACTS, town_ja=hostile, town_en=hostile, title_ja=hostile, title_en=hostile)

    root = _parse(card_svg(facts, town_url("https://x.example", 'a"b<c')))

    assert not list(root.iter(f"{SVG}script"))
    assert hostile in ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def test_long_names_shrink_instead_of_overflowing() -> None:
    facts = replace(FACTS, town_ja="寿限無寿限無五劫の擦り切れ海砂利水魚の水行末雲来末風来末町")
    root = _parse(card_svg(facts, "https://x.example/?town=t"))
    town = next(element for element in root.iter(f"{SVG}text") if element.text == facts.town_ja)
    assert int(town.get("font-size", "0")) * len(facts.town_ja) <= 520


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0x" + "ab" * 20, "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"), ("0x12", None), ("ab" * 21, None)],
)
def test_parse_contract(raw: str, expected: str | None) -> None:
    assert parse_contract(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [("42", 42), ("0042", 42), ("-1", None), ("٤", None), ("", None)])
def test_parse_token_id(raw: str, expected: int | None) -> None:
    assert parse_token_id(raw) == expected
