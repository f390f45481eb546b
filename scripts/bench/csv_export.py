"""CSV export benchmark: rows per second and peak memory, each beside a baseline of the same run.

    .venv/bin/python scripts/bench/csv_export.py [--rows 100000] [--database-url postgresql://…]

Two parts:
- rows in memory: `csv_chunks` (UTF-8 with BOM; Shift_JIS/cp932 with its count-then-send
  temporary file) against the plainest export there is, `csv.writer` writing the same tuples
  to /dev/null;
- from the database: the staff export (`export_rows`: a `yield_per` query, one order per
  row, through `csv_chunks`) against the naive one (`.all()` on the same query, then
  `csv.writer`), on a fresh SQLite file (and PostgreSQL when `--database-url` is given)
  holding `--rows` orders.

In memory, throughput is timed without tracemalloc (it slows Python down several times) and
the peak measured in a second run under tracemalloc (Python's allocations). From the
database, each export runs in a fresh process that reports its time and its peak resident
memory (VmHWM: the driver's buffers and SQLite's page cache too), shown as the growth over
the same export of a town without orders.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from backend.core.csv_export import Cell, csv_chunks  # noqa: E402
from backend.core.db import make_engine, make_session_factory, migrate  # noqa: E402
from backend.sales.order_search import CSV_HEADER  # noqa: E402
from tests.factories import add_plain_drop, add_town, bulk_orders  # noqa: E402

Work = Callable[[], int]


def synthetic_rows(count: int) -> Iterator[tuple[Cell, ...]]:
    """Rows shaped like the export's (14 columns, Japanese text), made on the fly."""
    for index in range(count):
        yield (
            f"ord_bulk{index:09d}",
            "2026-12-01 18:05:03",
            1,
            "星川町 デジタル住民票 第1期",
            1,
            1000,
            "minted",
            f"髙橋{index}@example.jp",
            "13",
            "東京都",
            "poster-station",
            str(index + 1),
            "demo",
            "",
        )


def drain(chunks: Iterable[bytes]) -> int:
    with open("/dev/null", "wb") as sink:
        return sum(sink.write(chunk) for chunk in chunks)


def plain_writer(rows: Iterable[Iterable[Cell]]) -> int:
    with open("/dev/null", "w", encoding="utf-8", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        count = 0
        for row in rows:
            writer.writerow(row)
            count += 1
        return count


def measure(label: str, rows: int, work: Work, baseline: tuple[float, int] | None = None) -> tuple[float, int]:
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        work()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    rate = rows / seconds
    versus = ""
    if baseline is not None:
        versus = f"  ({rate / baseline[0]:.2f}× the baseline's rate, {peak / baseline[1]:.2f}× its peak)"
    print(f"  {label:<44} {rate:>11,.0f} rows/s   peak {peak / 2**20:7.2f} MiB{versus}")
    return rate, peak


def bench_in_memory(rows: int) -> None:
    print(f"rows in memory ({rows:,}):")
    baseline = measure("baseline: csv.writer → /dev/null", rows, lambda: plain_writer(synthetic_rows(rows)))
    measure(
        "csv_chunks utf-8 (BOM)",
        rows,
        lambda: drain(csv_chunks(CSV_HEADER, synthetic_rows(rows), "utf-8")),
        baseline,
    )
    measure(
        "csv_chunks shift_jis (cp932, counted)",
        rows,
        lambda: drain(csv_chunks(CSV_HEADER, synthetic_rows(rows), "shift_jis")),
        baseline,
    )


#: One export in a fresh process, timed, reporting its peak resident memory (VmHWM: every
#: allocation, the database driver's and SQLite's page cache included).
_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[4])
from scripts.bench.csv_export import drain, plain_writer
from backend.core.csv_export import csv_chunks
from backend.core.db import make_engine, make_session_factory
from backend.sales.order_search import CSV_HEADER, OrderFilters, _export_query, export_rows
url, town, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sessions = make_session_factory(make_engine(url))
started = time.perf_counter()
with sessions() as session:
    if mode == "fetch-all":
        plain_writer(tuple(row) for row in session.execute(_export_query(town, OrderFilters())).all())
    else:
        drain(csv_chunks(CSV_HEADER, export_rows(session, town, OrderFilters()), mode))
seconds = time.perf_counter() - started
status = open("/proc/self/status").read()
print(seconds, next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


def _child(url: str, town_id: int, mode: str) -> tuple[float, int]:
    """(seconds, peak resident KiB) of one export in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, url, str(town_id), mode, str(REPO_ROOT)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, peak = done.stdout.split()
    return float(seconds), int(peak)


def bench_database(rows: int, database_url: str, label: str) -> None:
    """Each export in its own process: rows/s, and how far it raised the process's peak
    resident memory above the same export of a town with no orders."""
    engine = make_engine(database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    town_id = add_town(sessions, "benchtown")
    empty_id = add_town(sessions, "emptytown")
    drop_id = add_plain_drop(sessions, town_id, title_ja="星川町 デジタル住民票 第1期")
    started = time.perf_counter()
    bulk_orders(sessions, drop_id, rows)
    engine.dispose()
    print(f"from {label} ({rows:,} orders, inserted in {time.perf_counter() - started:.1f} s), one process each:")
    baseline: tuple[float, int] | None = None
    for title, mode in (
        ("baseline: .all() + csv.writer", "fetch-all"),
        ("export_rows (yield_per) + csv_chunks utf-8", "utf-8"),
        ("export_rows (yield_per) + csv_chunks shift_jis", "shift_jis"),
    ):
        _seconds, empty_peak = _child(database_url, empty_id, "utf-8" if mode == "fetch-all" else mode)
        seconds, peak = _child(database_url, town_id, mode)
        rate, growth = rows / seconds, peak - empty_peak
        versus = ""
        if baseline is not None:
            versus = (
                f"  ({rate / baseline[0]:.2f}× the baseline's rate, {growth / max(baseline[1], 1):.2f}× its growth)"
            )
        print(f"  {title:<48} {rate:>9,.0f} rows/s   peak RSS +{growth / 1024:7.1f} MiB{versus}")
        if baseline is None:
            baseline = (rate, growth)


def _fresh_postgres(admin_url: str) -> tuple[str, Callable[[], None]]:
    url = make_url(admin_url).set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"furusato_bench_{int(time.time())}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL server to bench on too (a throw-away database)"
    )
    args = parser.parse_args()
    bench_in_memory(args.rows)
    with tempfile.TemporaryDirectory() as folder:
        bench_database(args.rows, f"sqlite:///{folder}/bench.db", "SQLite")
    if args.database_url:
        url, drop = _fresh_postgres(args.database_url)
        try:
            bench_database(args.rows, url, "PostgreSQL")
        finally:
            drop()


if __name__ == "__main__":
    main()
