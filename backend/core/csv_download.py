"""A town's CSV export as an HTTP download: the streamed body, its media type, its file name,
and the OpenAPI entry of the answer. Every export (orders, redemptions, check-ins) answers
alike, so staff's spreadsheets and the console's buttons treat them alike.

The rows are read in a session of the stream's own, open for as long as the response
streams (a million rows in constant memory: `backend.core.csv_export`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import StreamingResponse

from backend.core.csv_export import MEDIA_TYPES, Cell, Encoding, csv_chunks

#: File names carry the day in Japan time (no daylight saving there).
_JST: Final = timezone(timedelta(hours=9), "JST")

#: The `responses=` entry of an export's 200.
CSV_OK: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "CSV, UTF-8 with BOM (Excel), or Shift_JIS (cp932) whose first row says how many "
        "characters were replaced by ?",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
}


def csv_download(
    sessions: sessionmaker[Session],
    header: Sequence[str],
    rows_of: Callable[[Session], Iterable[Sequence[Cell]]],
    *,
    name: str,
    slug: str,
    now: datetime,
    encoding: Encoding,
) -> StreamingResponse:
    """`name-{slug}-{YYYYMMDD}[-sjis].csv` of `header` and the rows `rows_of(session)` gives."""

    def stream() -> Iterator[bytes]:
        with sessions() as session:
            yield from csv_chunks(header, rows_of(session), encoding)

    safe = re.sub(r"[^A-Za-z0-9_-]", "_", slug)
    day = now.astimezone(_JST).strftime("%Y%m%d")
    suffix = "" if encoding == "utf-8" else "-sjis"
    return StreamingResponse(
        stream(),
        media_type=MEDIA_TYPES[encoding],
        headers={"Content-Disposition": f'attachment; filename="{name}-{safe}-{day}{suffix}.csv"'},
    )
