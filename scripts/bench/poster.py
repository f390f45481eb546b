"""Poster benchmark: time to render a campaign poster (A4, A3) to PDF.

    .venv/bin/python scripts/bench/poster.py [--runs N]

Prints the median of N renders of each, next to a baseline measured in the same run: a bare
one-line WeasyPrint page in the same font (what any PDF from this renderer costs), so the
ratio is what the poster itself adds (QR path, layout, a larger font subset). The first
render of the process is reported apart: it loads fontconfig and the CJK font files.
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


def median_seconds(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs

    started = time.perf_counter()
    first = render_poster(TOWN, TITLE, TEXT, 1000, URL, "A4")
    cold = time.perf_counter() - started

    baseline = median_seconds(bare_page, runs)
    a4 = median_seconds(lambda: render_poster(TOWN, TITLE, TEXT, 1000, URL, "A4"), runs)
    a3 = median_seconds(lambda: render_poster(TOWN, TITLE, TEXT, 1000, URL, "A3"), runs)
    svg = median_seconds(lambda: qr_svg(URL), runs)
    png = median_seconds(lambda: qr_png(URL), runs)

    print(f"runs per figure: {runs} (median)")
    print(f"first render in this process (fonts loaded): {cold * 1000:8.1f} ms  ({len(first):,} bytes)")
    print(f"baseline, bare one-line page:               {baseline * 1000:8.1f} ms")
    print(f"poster A4:                                  {a4 * 1000:8.1f} ms  ({a4 / baseline:.2f}x baseline)")
    print(f"poster A3:                                  {a3 * 1000:8.1f} ms  ({a3 / baseline:.2f}x baseline)")
    print(f"QR alone, SVG:                              {svg * 1000:8.2f} ms")
    print(f"QR alone, PNG (10 px a module):             {png * 1000:8.2f} ms")


if __name__ == "__main__":
    main()
