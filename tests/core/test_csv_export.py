"""CSV exports: Excel's UTF-8 (with BOM), Shift_JIS (cp932) with replacements counted in the
note row, formula cells neutralised, and memory that does not grow with the rows."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Iterator

import pytest

from backend.core.csv_export import BOM, SPOOL_IN_MEMORY, Cell, Encoding, csv_chunks, encode_cp932, replacement_note

HEADER = ["注文ID / order id", "氏名 / name", "email", "金額 / amount"]


def _rows(count: int) -> Iterator[tuple[Cell, ...]]:
    """Rows made on the fly, as a streaming query hands them over (nothing kept)."""
    for index in range(count):
        yield (f"ord_{index:08d}", "髙橋 一郎", f"buyer{index}@example.jp", 1000 * (index % 5 + 1))


def _parse(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def test_utf8_export_starts_with_a_bom_and_reads_back_with_the_csv_module() -> None:
    rows = [("ord_1", "髙橋 一郎", "a@example.jp", 1000), ("ord_2", "山﨑 花子🌸", "b@example.jp", None)]

    data = b"".join(csv_chunks(HEADER, iter(rows), "utf-8"))

    assert data.startswith(BOM)
    assert b"\r\n" in data  # Excel's line ends
    assert _parse(data, "utf-8-sig") == [
        HEADER,
        ["ord_1", "髙橋 一郎", "a@example.jp", "1000"],
        ["ord_2", "山﨑 花子🌸", "b@example.jp", ""],
    ]


def test_shift_jis_export_round_trips_japanese_names_and_counts_what_it_replaced() -> None:
    names = ["髙橋 一郎", "山﨑 花子", "渡邊 ①号", "㈱星川観光", "佐藤🍵", "Zoë"]
    rows = [(f"ord_{index}", name, f"p{index}@example.jp", 1000) for index, name in enumerate(names)]

    data = b"".join(csv_chunks(HEADER, iter(rows), "shift_jis"))

    parsed = _parse(data, "cp932")
    assert parsed[0] == [replacement_note(2)]  # the emoji and the ë
    assert parsed[1] == HEADER
    assert [row[1] for row in parsed[2:]] == ["髙橋 一郎", "山﨑 花子", "渡邊 ①号", "㈱星川観光", "佐藤?", "Zo?"]
    # 髙 and 﨑 are cp932 only: strict JIS X 0208 Shift_JIS has neither, hence cp932.
    with pytest.raises(UnicodeEncodeError):
        "髙橋".encode("shift_jis")


def test_shift_jis_note_row_is_there_when_nothing_was_replaced() -> None:
    data = b"".join(csv_chunks(HEADER, iter([("ord_1", "鈴木", "s@example.jp", 1)]), "shift_jis"))

    assert _parse(data, "cp932")[:2] == [[replacement_note(0)], HEADER]


def test_question_marks_that_were_there_are_not_counted_as_replacements() -> None:
    assert encode_cp932("なぜ?🍵?") == ("なぜ???".encode("cp932"), 1)
    assert encode_cp932("em—dash 〜") == ("em―dash ～".encode("cp932"), 0)  # the glyphs cp932 has


def test_cells_excel_would_run_as_formulas_are_prefixed_with_an_apostrophe() -> None:
    rows = [('=HYPERLINK("http://x")', "+81", "-1", "@SUM(A1)", 5, "a=b")]

    parsed = _parse(b"".join(csv_chunks(["a", "b", "c", "d", "e", "f"], iter(rows), "utf-8")), "utf-8-sig")

    assert parsed[1] == ['\'=HYPERLINK("http://x")', "'+81", "'-1", "'@SUM(A1)", "5", "a=b"]


def test_an_empty_export_is_the_header_alone() -> None:
    assert _parse(b"".join(csv_chunks(HEADER, iter([]), "utf-8")), "utf-8-sig") == [HEADER]
    assert _parse(b"".join(csv_chunks(HEADER, iter([]), "shift_jis")), "cp932") == [[replacement_note(0)], HEADER]


def test_chunks_are_bounded_and_come_before_the_rows_run_out() -> None:
    chunks = csv_chunks(HEADER, _rows(50_000), "utf-8")

    sizes = [len(chunk) for chunk in chunks]

    assert len(sizes) > 10
    assert max(sizes) < 256 * 1024


def _peak_bytes(rows: int, encoding: Encoding) -> int:
    tracemalloc.start()
    try:
        total = 0
        for chunk in csv_chunks(HEADER, _rows(rows), encoding):
            total += len(chunk)
        assert total > rows * 40
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("encoding", ["utf-8", "shift_jis"])
def test_memory_does_not_grow_with_the_rows(encoding: Encoding) -> None:
    small = _peak_bytes(10_000, encoding)
    large = _peak_bytes(100_000, encoding)

    assert large < 20 * 1024 * 1024
    # Ten times the rows, about the same peak: nothing is kept per row. (The Shift_JIS
    # export's temporary file holds up to SPOOL_IN_MEMORY before it moves to disk.)
    assert large < small + SPOOL_IN_MEMORY + 256 * 1024, (small, large)
