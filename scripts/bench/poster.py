"""Poster benchmark: time to render a campaign poster (A4, A3) to PDF.

    .venv/bin/python scripts/bench/poster.py [--runs N]

Prints the median of N renders of each (wall time, and this process's CPU time, which a
busy shared machine disturbs far less), next to a baseline measured in the same run, round-
robin: a bare one-line WeasyPrint page in the same font (what any PDF from this renderer
costs), so the ratio is what the poster itself adds (two weights of the CJK font subset, the
QR path, layout). The first render of the process is reported apart: it loads fontconfig and
the CJK font files.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from weasyprint import HTML  # noqa: E402

from backend.sales.poster import data_only_fetcher, render_poster  # noqa: E402
from backend.sales.qr import qr_png, qr_svg  # noqa: E402

URL = "http://127.0.0.1:8000/c/AB3XYZ"
TOWN = "星川町"
TITLE = "星川町 デジタル住民票 第1期"
TEXT = "先着1,000枚。ご購入いただいた番号が、あなたの住民番号になります。"
BARE = "<html><body style=\"font-family: 'Noto Sans CJK JP'\">星川町</body></html>"


def bare_page() -> bytes:
    pdf: bytes = HTML(string=BARE, url_fetcher=data_only_fetcher()).write_pdf()
    return pdf


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs

    started = time.perf_counter()
    first = render_poster(TOWN, TITLE, TEXT, 1000, URL, "A4")
    cold = time.perf_counter() - started

    work: dict[str, Callable[[], object]] = {
        "baseline, bare one-line page": bare_page,
        "poster A4": lambda: render_poster(TOWN, TITLE, TEXT, 1000, URL, "A4"),
        "poster A3": lambda: render_poster(TOWN, TITLE, TEXT, 1000, URL, "A3"),
        "QR alone, SVG": lambda: qr_svg(URL),
        "QR alone, PNG (10 px a module)": lambda: qr_png(URL),
    }
    # Round-robin, so a busy machine slows every figure alike and the ratios hold.
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in work}
    for _ in range(runs):
        for name, call in work.items():
            samples[name].append(timed(call))
    wall = {name: statistics.median(s[0] for s in taken) for name, taken in samples.items()}
    cpu = {name: statistics.median(s[1] for s in taken) for name, taken in samples.items()}
    base_wall, base_cpu = wall["baseline, bare one-line page"], cpu["baseline, bare one-line page"]

    print(f"runs per figure: {runs} (median, round-robin); first render in this process {cold * 1000:.0f} ms")
    print(f"poster PDF size: {len(first):,} bytes")
    print(f"{'':32} {'wall ms':>9} {'CPU ms':>9} {'x baseline (wall / CPU)':>25}")
    for name in work:
        ratio = f"{wall[name] / base_wall:.2f} / {cpu[name] / base_cpu:.2f}"
        print(f"{name:32} {wall[name] * 1000:9.1f} {cpu[name] * 1000:9.1f} {ratio:>25}")


if __name__ == "__main__":
    main()
