"""The monthly report: one A4 page in Japanese a town can attach to its own report (議会報告,
総合戦略の進捗), rendered to PDF by the poster machinery (`backend.sales.poster.render_pdf`:
WeasyPrint, Noto Sans CJK JP embedded, nothing fetched but `data:` URLs).

Why SVG drawn here rather than a chart library: the page must render offline, identically
on every server, as vectors that print sharp, and the numbers must stay text in the PDF (a
reader can search and copy them; the tests read them back). So each chart is a few SVG
rectangles and labels written by the functions below, inline in the HTML template
(`templates/report.html`, `report.css`): bars for new residents by day, the funnel, visits
by place, card states and categories beside the national survey, and the prefectures on a
tile-grid map of Japan (one square per prefecture and one for abroad, roughly where it lies;
no map geometry, so no licence to record).

The figures are the dashboard's own (`dashboard.py`), read for the month's days; yearly
figures are of the month's year. Every value typed by staff (town, drop, spot and shop
names) is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Final

from sqlalchemy.orm import Session

from backend.analytics import dashboard
from backend.analytics.figures import JST, month_period
from backend.analytics.schemas import Categories, Funnel, Prefectures, Residents, Staying, Summary, Visits
from backend.sales.models import Drop
from backend.sales.poster import DEFAULT_ACCENT, accent_colour, render_pdf, template_in

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
#: The earliest year a report may be asked for (nothing was sold before the platform).
REPORT_FIRST_YEAR: Final = 2000
#: Places listed in the visits chart (the most visited first).
MAX_PLACES: Final = 6
MAX_NAME_CHARS: Final = 16
FONT: Final = "Noto Sans CJK JP, sans-serif"
INK: Final = "#1d2a44"
MUTED: Final = "#5a6275"
GRID: Final = "#d9dee8"
NATIONAL_COLOUR: Final = "#9aa3b5"

#: The tile-grid map: each prefecture's (column, row), roughly where it lies, so that
#: neighbours touch where they can; "00" (abroad) sits apart, top left.
TILES: Final[Mapping[str, tuple[int, int]]] = {
    "00": (0, 0),
    "01": (11, 0),
    "02": (11, 1),
    "05": (10, 2),
    "03": (11, 2),
    "06": (10, 3),
    "04": (11, 3),
    "17": (8, 4),
    "16": (9, 4),
    "15": (10, 4),
    "07": (11, 4),
    "32": (3, 5),
    "31": (4, 5),
    "28": (5, 5),
    "26": (6, 5),
    "18": (7, 5),
    "21": (8, 5),
    "20": (9, 5),
    "10": (10, 5),
    "09": (11, 5),
    "35": (2, 6),
    "34": (3, 6),
    "33": (4, 6),
    "27": (5, 6),
    "25": (6, 6),
    "24": (7, 6),
    "23": (8, 6),
    "19": (9, 6),
    "11": (10, 6),
    "08": (11, 6),
    "41": (0, 7),
    "40": (1, 7),
    "44": (2, 7),
    "30": (5, 7),
    "29": (6, 7),
    "22": (8, 7),
    "14": (9, 7),
    "13": (10, 7),
    "12": (11, 7),
    "42": (0, 8),
    "43": (1, 8),
    "45": (2, 8),
    "38": (3, 8),
    "37": (4, 8),
    "46": (1, 9),
    "39": (3, 9),
    "36": (4, 9),
    "47": (0, 10),
}
TILE_COLUMNS: Final = 12
TILE_ROWS: Final = 11


def short_prefecture(code: str) -> str:
    """The tile's label: 北海道 whole, else the name without 都/府/県; 海外 for "00"."""
    name = dashboard.prefecture_names(code)[0]
    return name if code in {"00", "01"} or name[-1] not in "都府県" else name[:-1]


def _e(text: object) -> str:
    return html.escape(str(text))


def _shorten(text: str, limit: int = MAX_NAME_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mix(accent: str, weight: float) -> str:
    """`accent` mixed with white: weight 0 is white, 1 the accent (a colour ramp for tiles)."""
    red, green, blue = (int(accent[i : i + 2], 16) for i in (1, 3, 5))
    mixed = (round(255 + (channel - 255) * weight) for channel in (red, green, blue))
    return "#" + "".join(f"{channel:02x}" for channel in mixed)


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{_e(label)}" font-family="{FONT}">{body}</svg>'
    )


def columns_svg(points: Sequence[tuple[str, int]], accent: str, *, width: int = 700, height: int = 130) -> str:
    """Vertical bars, one per point (a day of the month), with the largest value marked and
    every fifth label under its bar."""
    left, bottom, top = 26, 16, 12
    inner_w, inner_h = width - left - 4, height - bottom - top
    peak = max((value for _label, value in points), default=0)
    scale = inner_h / peak if peak else 0.0
    step = inner_w / max(len(points), 1)
    parts = [
        f'<line x1="{left}" y1="{top + inner_h}" x2="{width - 4}" y2="{top + inner_h}" stroke="{GRID}"/>',
        f'<text x="{left - 4}" y="{top + 4}" font-size="8" text-anchor="end" fill="{MUTED}">{peak}</text>',
        f'<text x="{left - 4}" y="{top + inner_h}" font-size="8" text-anchor="end" fill="{MUTED}">0</text>',
    ]
    for index, (label, value) in enumerate(points):
        bar = value * scale
        x = left + index * step
        parts.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{top + inner_h - bar:.1f}" width="{step * 0.7:.1f}" '
            f'height="{bar:.1f}" fill="{accent}"/>'
        )
        if index % 5 == 0 or index == len(points) - 1:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{height - 4}" font-size="8" text-anchor="middle" '
                f'fill="{MUTED}">{_e(label)}</text>'
            )
    return _svg(width, height, "".join(parts), "新規住民（日別）")


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: its label, value, the text shown after it, and optionally a
    comparison value drawn as a thin grey bar below (the national survey)."""

    label: str
    value: float
    text: str
    compare: float | None = None
    compare_text: str = ""


def bars_svg(bars: Sequence[Bar], accent: str, label: str, *, width: int = 250, label_width: int = 92) -> str:
    """Horizontal bars scaled to the largest value (or comparison) among them."""
    row = 18 if any(bar.compare is not None for bar in bars) else 14
    height = max(row * len(bars), row) + 4
    peak = max([bar.value for bar in bars] + [bar.compare or 0 for bar in bars] + [0])
    room = width - label_width - 58
    parts: list[str] = []
    for index, bar in enumerate(bars):
        y = 2 + index * row
        length = room * bar.value / peak if peak else 0
        parts.append(
            f'<text x="{label_width - 4}" y="{y + 9}" font-size="8.5" text-anchor="end" fill="{INK}">'
            f"{_e(_shorten(bar.label))}</text>"
            f'<rect x="{label_width}" y="{y + 1}" width="{length:.1f}" height="9" fill="{accent}"/>'
            f'<text x="{label_width + length + 3:.1f}" y="{y + 9}" font-size="8.5" fill="{INK}">{_e(bar.text)}</text>'
        )
        if bar.compare is not None:
            other = room * bar.compare / peak if peak else 0
            parts.append(
                f'<rect x="{label_width}" y="{y + 11}" width="{other:.1f}" height="4" fill="{NATIONAL_COLOUR}"/>'
                f'<text x="{label_width + other + 3:.1f}" y="{y + 16}" font-size="6.5" fill="{MUTED}">'
                f"{_e(bar.compare_text)}</text>"
            )
    return _svg(width, height, "".join(parts), label)


def tile_map_svg(residents: Mapping[str, int], accent: str, *, tile: int = 24) -> str:
    """The prefectures as squares on a grid shaped like Japan, shaded by residents (five
    steps of the town's colour, white for none), each with its short name and count."""
    gap = 2
    peak = max(residents.values(), default=0)
    parts: list[str] = []
    for code, (column, row) in TILES.items():
        count = residents.get(code, 0)
        weight = 0.0 if not count or not peak else 0.2 + 0.8 * min(4, int(4 * count / peak)) / 4
        fill = _mix(accent, weight)
        ink = "#ffffff" if weight > 0.6 else INK
        x, y = column * (tile + gap), row * (tile + gap)
        parts.append(
            f'<rect x="{x}" y="{y}" width="{tile}" height="{tile}" rx="2" fill="{fill}" stroke="{GRID}" '
            f'stroke-width="0.6"/>'
            f'<text x="{x + tile / 2}" y="{y + 9}" font-size="6" text-anchor="middle" fill="{ink}">'
            f"{_e(short_prefecture(code))}</text>"
            f'<text x="{x + tile / 2}" y="{y + 18}" font-size="7.5" font-weight="700" text-anchor="middle" '
            f'fill="{ink}">{count}</text>'
        )
    width, height = TILE_COLUMNS * (tile + gap), TILE_ROWS * (tile + gap)
    return _svg(width, height, "".join(parts), "住んでいる都道府県")


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _yen(value: int) -> str:
    return f"{value:,}円"


@dataclass(frozen=True)
class ReportFigures:
    """What the page shows, read once from the rollup."""

    month: str
    summary: Summary
    residents: Residents
    prefectures: Prefectures
    funnel: Funnel
    visits: Visits
    staying: Staying
    categories: Categories


def report_figures(session: Session, query: dashboard.Query, month: str) -> ReportFigures:
    """The dashboard's figures for the days of `month` (yearly ones for its year)."""
    monthly = replace(query, period=month_period(month), year=int(month[:4]))
    return ReportFigures(
        month=month,
        summary=dashboard.summary(session, monthly),
        residents=dashboard.residents(session, monthly, "day"),
        prefectures=dashboard.prefectures(session, monthly),
        funnel=dashboard.funnel(session, monthly),
        visits=dashboard.visits(session, monthly),
        staying=dashboard.staying(session, monthly),
        categories=dashboard.categories(session, monthly),
    )


def month_title(month: str) -> str:
    """ "2026-03" as "2026年3月"."""
    return f"{int(month[:4])}年{int(month[5:7])}月"


def _month_days(month: str) -> list[str]:
    period = month_period(month)
    assert period.first is not None
    assert period.last is not None
    return [date(period.first.year, period.first.month, day).isoformat() for day in range(1, period.last.day + 1)]


def _kpi(label: str, value: str, note: str = "") -> str:
    small = f'<span class="note">{_e(note)}</span>' if note else ""
    return f'<div class="kpi"><p class="label">{_e(label)}</p><p class="value">{_e(value)}</p>{small}</div>'


def report_html(figures: ReportFigures, town_ja: str, accent: str, drop_title_ja: str | None = None) -> str:
    """The report's HTML document."""
    accent = accent_colour(accent)
    s, f, v, st, c = figures.summary, figures.funnel.total, figures.visits, figures.staying, figures.categories
    year = figures.summary.scope.year
    per_day = {point.period: point.residents for point in figures.residents.series}
    days = _month_days(figures.month)
    kpis = "".join(
        (
            _kpi("デジタル住民", f"{s.residents:,}人", f"保有 {s.cards:,}枚"),
            _kpi("今月の新規住民", f"{s.new_residents:,}人"),
            _kpi("県外の住民", _pct(s.outside_share), f"海外 {figures.prefectures.abroad.residents:,}人"),
            _kpi("今月の売上", _yen(s.revenue_jpy), "返金控除後"),
            _kpi(f"{year}年の訪問者", f"{s.visitors:,}人", f"リピーター {s.repeat_visitors:,}人"),
            _kpi("来訪経験のある住民", _pct(s.residents_visited_share), f"{s.residents_visited:,}人"),
        )
    )
    funnel = bars_svg(
        [
            Bar("QR読み取り", f.scans, f"{f.scans:,}"),
            Bar("ユニーク読み取り", f.unique_scans, f"{f.unique_scans:,}"),
            Bar("注文", f.orders, f"{f.orders:,}"),
            Bar("支払済", f.paid, f"{f.paid:,}"),
            Bar("発行済", f.minted, f"{f.minted:,}"),
            Bar("返金", f.refunded, f"{f.refunded:,}"),
        ],
        accent,
        "申込の流れ",
    )
    places = sorted(
        [Bar(spot.name_ja, spot.check_ins, f"{spot.check_ins:,}回") for spot in v.spots if spot.check_ins]
        + [Bar(shop.name_ja, shop.redemptions, f"{shop.redemptions:,}回") for shop in v.shops if shop.redemptions],
        key=lambda bar: -bar.value,
    )[:MAX_PLACES]
    visits = bars_svg(places, accent, "場所別の訪問") if places else '<p class="none">今月の訪問記録はありません</p>'
    bins = bars_svg(
        [
            Bar(
                f"{item.bin}日",
                item.share * 100,
                f"{item.people:,}人 ({item.share * 100:.0f}%)",
                item.national_percent,
                f"全国 {item.national_percent:.0f}%",
            )
            for item in v.bins
        ],
        accent,
        "年間の訪問日数",
    )
    states = bars_svg(
        [
            Bar("最初の保有者", st.total.first_holder, f"{st.total.first_holder:,}枚"),
            Bar("本人のウォレット", st.total.own_wallet, f"{st.total.own_wallet:,}枚"),
            Bar("譲渡・転売", st.total.transferred, f"{st.total.transferred:,}枚"),
            Bar("失効", st.total.revoked, f"{st.total.revoked:,}枚"),
        ],
        accent,
        "カードの状態",
    )
    kinds = bars_svg(
        [
            Bar(
                row.name_ja,
                (row.share_of_visiting or 0) * 100 if row.code != "non_visiting" else row.share * 100,
                f"{row.people:,}人",
                row.national_2023_percent,
                "" if row.national_2023_percent is None else f"全国 {row.national_2023_percent:.0f}%",
            )
            for row in c.categories
        ],
        accent,
        "関係人口の類型",
        label_width=104,
    )
    top = "、".join(f"{row.name_ja} {row.residents:,}人" for row in figures.prefectures.top[:5]) or "—"
    metros = "、".join(f"{metro.name_ja} {metro.residents:,}人" for metro in figures.prefectures.metros)
    scope = f"シリーズ: {drop_title_ja}" if drop_title_ja else "全シリーズ"
    return template_in(TEMPLATES, "report.html").substitute(
        town=_e(town_ja),
        month=_e(month_title(figures.month)),
        scope=_e(scope),
        as_of=_e(s.as_of.astimezone(JST).strftime("%Y年%m月%d日 %H:%M")),
        kpis=kpis,
        new_chart=columns_svg([(day[8:].lstrip("0"), per_day.get(day, 0)) for day in days], accent),
        map_svg=tile_map_svg({row.code: row.residents for row in figures.prefectures.prefectures}, accent),
        top=_e(top),
        metros=_e(metros),
        funnel_svg=funnel,
        revenue=_e(_yen(f.revenue_jpy)),
        visits_svg=visits,
        check_ins=_e(f"{v.check_ins:,}"),
        redemptions=_e(f"{v.redemptions:,}"),
        bins_svg=bins,
        year=_e(year),
        states_svg=states,
        categories_svg=kinds,
        categorised=_e(f"{c.people:,}"),
        survey=_e(f"{c.national['survey_ja']}（2023年）"),
    )


def report_css(accent: str = DEFAULT_ACCENT) -> str:
    return template_in(TEMPLATES, "report.css").substitute(accent=accent_colour(accent))


def render_report(session: Session, query: dashboard.Query, month: str) -> bytes:
    """The month's report as PDF bytes. Raises `PosterUnavailable` when the renderer cannot
    run here."""
    figures = report_figures(session, query, month)
    title = None
    if query.drop_id is not None:
        drop = session.get(Drop, query.drop_id)
        title = drop.title_ja if drop is not None else None
    accent = query.town.brand_colour
    return render_pdf(report_html(figures, query.town.name_ja, accent, title), report_css(accent))
