"""CSV exports streamed in constant memory, for Excel on Japanese PCs as well as for scripts.

`csv_chunks(header, rows, encoding)` turns any iterable of rows (fed by a streaming query:
`yield_per`, a server-side cursor on PostgreSQL) into `bytes` chunks of about 64 KiB, so a
million rows never sit in memory at once; a `StreamingResponse` sends each chunk as it comes.

Two encodings:

* ``"utf-8"`` — UTF-8 with a byte-order mark. Excel opens a BOM-less UTF-8 CSV as the
  system code page (mojibake on a Japanese PC); with the BOM it reads UTF-8, and Python's
  ``encoding="utf-8-sig"`` and every spreadsheet read it too. Nothing is lost.
* ``"shift_jis"`` — for older tools that only read Shift_JIS. Encoded as **cp932**
  (Windows-31J), not Python's strict ``shift_jis`` codec: cp932 is what Windows and Excel
  actually mean by "Shift_JIS", and it adds the NEC/IBM extensions that Japanese names use
  (髙 in 髙橋, 﨑 in 山﨑, ① and ㈱); strict JIS X 0208 Shift_JIS would turn those into "?".
  A character cp932 cannot hold (an emoji, é) becomes "?", and the first row is a note
  saying how many were replaced. The few JIS characters Unicode splits in two (〜/～, −/－,
  ‖/∥, —/―) are written as the glyph cp932 has, which Excel shows the same way.

How the count gets in front of the rows it counts: the rows are encoded once, into a
temporary file (kept in memory up to 1 MiB, then on disk), counting replacements as they go;
then the note, the header and the file are sent. One pass over the query (not two, which
could disagree if an order arrived in between), constant memory, and disk in proportion to
the export (about 150 bytes a row). The price is that the first byte leaves only once the
whole query has been read; the UTF-8 export streams from the first row.

Cells that begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are prefixed
with an apostrophe: Excel would otherwise run them as formulas (CSV injection), and a
buyer's e-mail address may legally start with ``=``. Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, Literal

Encoding = Literal["utf-8", "shift_jis"]
Cell = str | int | None

#: Text gathered before it is encoded and handed on (characters, so about 64-200 KiB).
CHUNK_CHARS: Final = 64 * 1024
#: The Shift_JIS export's temporary file stays in memory up to this size, then goes to disk.
SPOOL_IN_MEMORY: Final = 1024 * 1024
BOM: Final = "\ufeff".encode()
#: The Python codec behind `encoding="shift_jis"` (see module docstring).
SHIFT_JIS_CODEC: Final = "cp932"
#: The one Unicode character cp932 has under another code point that Python's cp932 codec
#: does not map itself: EM DASH is JIS 1-01-29, HORIZONTAL BAR in cp932. (The codec already
#: writes 〜 − ‖ ¢ £ ¬ as their cp932 twins.) `str.replace`, not `translate`: 30× faster.
_EM_DASH, _HORIZONTAL_BAR = "\u2014", "\u2015"
#: What Excel reads as the start of a formula (OWASP, CSV injection).
_FORMULA_START: Final = frozenset("=+-@\t\r")

MEDIA_TYPES: Final[dict[str, str]] = {
    "utf-8": "text/csv; charset=utf-8",
    "shift_jis": "text/csv; charset=Windows-31J",
}


def replacement_note(replaced: int) -> str:
    """The Shift_JIS export's first row: how many characters became "?", Japanese first."""
    return (
        f"注記: Shift_JIS（Windows-31J）で表せない文字 {replaced} 字を「?」に置き換えました。"
        f"元の文字は UTF-8 版のCSVにあります。 / Note: {replaced} characters that Shift_JIS "
        "(Windows-31J) cannot represent were replaced by '?'; the UTF-8 export has them."
    )


def encode_cp932(text: str) -> tuple[bytes, int]:
    """`text` in cp932 with unmappable characters as "?", and how many there were.

    The count is exact without a Python loop per character: "?" is 0x3F, which is never the
    second byte of a double-byte cp932 character (those are 0x40-0xFC), so every "?" in the
    output is either one that was in the text or a replacement."""
    if _EM_DASH in text:
        text = text.replace(_EM_DASH, _HORIZONTAL_BAR)
    data = text.encode(SHIFT_JIS_CODEC, errors="replace")
    return data, data.count(b"?") - text.count("?")


class _Writer:
    """csv.writer over a text buffer that is emptied every `CHUNK_CHARS` characters."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        # Excel's own CSV: comma, minimal quoting, CRLF line ends.
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def write(self, row: Sequence[Cell]) -> bool:
        """Write one row; True when the buffer is due to be taken."""
        # Text that Excel would run as a formula gets a leading apostrophe (module docstring);
        # a comprehension, not a function per cell: this runs for every cell of every row.
        self.writer.writerow(
            ["'" + value if value.__class__ is str and value[:1] in _FORMULA_START else value for value in row]
        )
        return self.buffer.tell() >= CHUNK_CHARS

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Cell]], encoding: Encoding) -> Iterator[bytes]:
    """The CSV of `header` and `rows` as byte chunks, reading `rows` lazily (see module docstring)."""
    if encoding == "utf-8":
        return _utf8_chunks(header, rows)
    if encoding == "shift_jis":
        return _shift_jis_chunks(header, rows)
    raise ValueError(f"unknown CSV encoding {encoding!r}")


def _utf8_chunks(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Iterator[bytes]:
    writer = _Writer()
    writer.write(header)
    yield BOM + writer.take().encode("utf-8")
    for row in rows:
        if writer.write(row):
            yield writer.take().encode("utf-8")
    if tail := writer.take():
        yield tail.encode("utf-8")


def _shift_jis_chunks(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Iterator[bytes]:
    writer = _Writer()
    replaced = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        for row in rows:
            if writer.write(row):
                data, count = encode_cp932(writer.take())
                spool.write(data)
                replaced += count
        data, count = encode_cp932(writer.take())
        spool.write(data)
        replaced += count
        writer.write(header)
        head, header_replaced = encode_cp932(writer.take())
        writer.write([replacement_note(replaced + header_replaced)])
        note, _ = encode_cp932(writer.take())
        yield note + head
        spool.seek(0)
        while chunk := spool.read(CHUNK_CHARS):
            yield chunk
