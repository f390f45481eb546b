"""MLIT relationship-population categories (関係人口の類型) of one person in one year, and the
count of a town's designated activities (ふるさと住民登録, premium tier).

Why one table: the issue asks that a town can explain every person's category, and that the
rules in code and in `docs/analytics.md` are the same. `RULES` is that table: `classify`
walks it (first match wins: the primary category, exclusive as in MLIT's 2019 survey), every
matching row is a flag (multi-label, as in the 2023 survey), and the docs render it
(`markdown_table`; a test compares the two).

Pure functions over a `YearActivity` (the facts of a year, counted by the rollup from raw
rows, `backend.analytics.people`): no database, so the rollup, the recomputation in tests
and the explanation on the console all agree by construction.

National figures (`NATIONAL`) come from MLIT's survey「地域との関わりについてのアンケート」,
with their sources, so the dashboard can show them beside the town's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

#: What a town may designate as counting towards premium registration (settings
#: `premium_activities`): distinct visit days, benefit uses, check-ins at spots of one
#: activity, polls voted in, naming-right lots registered for.
ACTIVITIES: Final[tuple[str, ...]] = (
    "visit_day",
    "benefit",
    "event",
    "volunteer",
    "work",
    "telework",
    "vote",
    "naming",
)

#: Japanese and English names of `ACTIVITIES` (settings, console, docs).
ACTIVITY_LABELS: Final[Mapping[str, tuple[str, str]]] = {
    "visit_day": ("訪問日数", "visit days"),
    "benefit": ("特典の利用", "benefit uses"),
    "event": ("町の行事・体験への参加", "town events and experiences"),
    "volunteer": ("ボランティア・地域づくり", "volunteering and community projects"),
    "work": ("仕事・副業", "work and side jobs"),
    "telework": ("テレワーク", "telework"),
    "vote": ("投票", "polls voted in"),
    "naming": ("命名権への応募", "naming-right lots registered for"),
}

#: The default designated activities of a town (the column default of `premium_activities`).
DEFAULT_PREMIUM_ACTIVITIES: Final[tuple[str, ...]] = ("event", "volunteer", "work", "telework", "vote", "naming")

#: What a spot is for (`spots.activity`); a check-in counts as that activity.
SPOT_ACTIVITIES: Final[tuple[str, ...]] = ("leisure", "event", "work", "telework", "volunteer")

#: Japanese and English labels of `SPOT_ACTIVITIES` (console spots page, docs).
SPOT_ACTIVITY_LABELS: Final[Mapping[str, tuple[str, str]]] = {
    "leisure": ("飲食・買い物・温泉など", "food, shopping, hot springs and the like"),
    "event": ("町の行事・体験", "town events and experiences"),
    "work": ("仕事・副業", "work and side jobs"),
    "telework": ("テレワーク", "telework"),
    "volunteer": ("ボランティア・地域づくり", "volunteering and community projects"),
}

#: Category codes, in the order of the rules that give them as primary (non-visiting last:
#: the dashboards list visiting types first, as MLIT does).
CATEGORIES: Final[tuple[str, ...]] = ("direct", "work", "telework", "participation", "hobby", "non_visiting")

#: MLIT's names (Japanese) and English names of `CATEGORIES`.
CATEGORY_NAMES: Final[Mapping[str, tuple[str, str]]] = {
    "direct": ("直接寄与型", "direct contribution"),
    "work": ("就労型(現地就労)", "work (on site)"),
    "telework": ("就労型(テレワーク)", "work (telework)"),
    "participation": ("参加・交流型", "participation/exchange"),
    "hobby": ("趣味・消費型", "hobby/consumption"),
    "non_visiting": ("非訪問系", "non-visiting"),
}


@dataclass(frozen=True)
class YearActivity:
    """A person's recorded activity in one calendar year (Japan time), as counted by the
    rollup per the Definitions of plan 13 (visits, votes, bids)."""

    year: int
    #: Distinct Japan days with a check-in or a benefit use.
    visit_days: int
    #: Activity of the spot ("leisure", "event", …) -> check-ins there.
    check_ins: Mapping[str, int] = field(default_factory=dict)
    #: Benefit uses (redemptions).
    redemptions: int = 0
    #: Polls voted in (distinct polls).
    votes: int = 0
    #: Naming-right lots registered for.
    bids: int = 0
    #: Paid orders of the town's drops.
    paid_orders: int = 0

    def at(self, activity: str) -> int:
        """Check-ins at spots of `activity` (0 when none)."""
        return int(self.check_ins.get(activity, 0))

    @property
    def leisure_check_ins(self) -> int:
        """Check-ins at leisure spots, and at spots of an activity this module does not know
        (a spot row older than the column counts as leisure, its default)."""
        return sum(n for a, n in self.check_ins.items() if a not in SPOT_ACTIVITIES or a == "leisure")

    @property
    def any_activity(self) -> bool:
        """Whether the person gets a category for the year at all (plan 13: a paid order, a
        visit, a vote or a bid registration in the year)."""
        return self.paid_orders > 0 or self.visit_days > 0 or self.votes > 0 or self.bids > 0


@dataclass(frozen=True)
class Rule:
    """One row of the category table: in code (`matches`) and in the docs (the conditions)."""

    number: int
    category: str
    condition_ja: str
    condition_en: str
    matches: Callable[[YearActivity], bool]

    @property
    def name_ja(self) -> str:
        return CATEGORY_NAMES[self.category][0]

    @property
    def name_en(self) -> str:
        return CATEGORY_NAMES[self.category][1]


def _specific(a: YearActivity) -> bool:
    """A check-in at a spot of a non-leisure activity, or a bid: what rules 2–5 look at."""
    return a.bids > 0 or any(a.at(x) > 0 for x in ("volunteer", "work", "telework", "event"))


#: The category table. `classify` takes the first matching row as the primary category;
#: every matching row is a flag. Rule 6 is MLIT's residual class (飲食や趣味活動等のみ).
RULES: Final[tuple[Rule, ...]] = (
    Rule(
        1,
        "non_visiting",
        "その年に訪問日がない(遠くから購入・投票・応募)",
        "no visit day in the year (bought, voted or bid from afar)",
        lambda a: a.visit_days == 0 and a.any_activity,
    ),
    Rule(
        2,
        "direct",
        "ボランティア・地域づくりの場所でチェックイン、または命名権に応募",
        "a check-in at a volunteer/community spot, or a naming-right bid",
        lambda a: a.at("volunteer") > 0 or a.bids > 0,
    ),
    Rule(
        3,
        "work",
        "仕事・副業の場所でチェックイン",
        "a check-in at a work spot",
        lambda a: a.at("work") > 0,
    ),
    Rule(
        4,
        "telework",
        "テレワークの場所でチェックイン",
        "a check-in at a telework spot",
        lambda a: a.at("telework") > 0,
    ),
    Rule(
        5,
        "participation",
        "町の行事・体験の場所でチェックイン",
        "a check-in at an event spot",
        lambda a: a.at("event") > 0,
    ),
    Rule(
        6,
        "hobby",
        "それ以外の訪問(飲食・買い物・温泉などでのチェックイン、特典の利用)",
        "any other visit (check-ins at leisure spots, benefit use)",
        lambda a: a.leisure_check_ins > 0 or a.redemptions > 0 or (a.visit_days > 0 and not _specific(a)),
    ),
)


@dataclass(frozen=True)
class Classification:
    """The primary category, every category the person qualifies for, the rule that decided,
    and a sentence from the facts in both languages (the console shows it to staff)."""

    category: str
    flags: tuple[str, ...]
    rule: int
    explanation_ja: str
    explanation_en: str


def _times_en(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


#: How a check-in at a spot of each activity reads in the explanation.
_CHECK_IN_FACT: Final[Mapping[str, tuple[str, str]]] = {
    "volunteer": ("ボランティア・地域づくりで", "checked in at volunteering"),
    "work": ("仕事・副業の場所で", "checked in at work"),
    "telework": ("テレワークの場所で", "checked in to telework"),
    "event": ("町の行事・体験で", "checked in at an event"),
    "leisure": ("飲食・買い物・温泉などで", "checked in at leisure spots"),
}


def facts(activity: YearActivity) -> tuple[list[str], list[str]]:
    """The facts of the year as short phrases (Japanese, English), in a fixed order: what a
    person did, never more than the rows say (a test checks each number against the input)."""
    ja: list[str] = []
    en: list[str] = []
    a = activity
    if a.visit_days > 0:
        ja.append(f"{a.visit_days}日訪問")
        en.append(f"visited {_plural(a.visit_days, 'day')}")
    else:
        ja.append("訪問なし")
        en.append("no visit")
    for act in ("volunteer", "work", "telework", "event"):
        n = a.at(act)
        if n > 0:
            ja.append(f"{_CHECK_IN_FACT[act][0]}{n}回チェックイン")
            en.append(f"{_CHECK_IN_FACT[act][1]} {_times_en(n)}")
    if a.leisure_check_ins > 0:
        ja.append(f"{_CHECK_IN_FACT['leisure'][0]}{a.leisure_check_ins}回チェックイン")
        en.append(f"{_CHECK_IN_FACT['leisure'][1]} {_times_en(a.leisure_check_ins)}")
    if a.redemptions > 0:
        ja.append(f"特典を{a.redemptions}回利用")
        en.append(f"used a benefit {_times_en(a.redemptions)}")
    if a.bids > 0:
        ja.append(f"命名権に{a.bids}件応募")
        en.append(f"registered for {_plural(a.bids, 'naming-right lot')}")
    if a.votes > 0:
        ja.append(f"{a.votes}件の投票に参加")
        en.append(f"voted in {_plural(a.votes, 'poll')}")
    if a.paid_orders > 0:
        ja.append(f"{a.paid_orders}件購入")
        en.append(f"bought {_plural(a.paid_orders, 'card order')}")
    return ja, en


def classify(activity: YearActivity) -> Classification:
    """The person's category for the year: the first rule of `RULES` that matches, all
    matching rules as flags, and the explanation "3日訪問、特典を2回利用 → 趣味・消費型".

    A year without any activity (no paid order, visit, vote or bid) has no category: the
    answer is category "" with rule 0, so a caller that asks anyway gets no false count."""
    fja, fen = facts(activity)
    matching = [rule for rule in RULES if rule.matches(activity)]
    if not activity.any_activity or not matching:
        return Classification("", (), 0, "活動なし", "no activity")
    first = matching[0]
    return Classification(
        category=first.category,
        flags=tuple(rule.category for rule in matching),
        rule=first.number,
        explanation_ja=f"{'、'.join(fja)} → {first.name_ja}",
        explanation_en=f"{', '.join(fen)} → {first.name_en}",
    )


def activity_counts(activity: YearActivity) -> dict[str, int]:
    """Each of `ACTIVITIES` -> how many the person did in the year (the premium evidence)."""
    a = activity
    return {
        "visit_day": a.visit_days,
        "benefit": a.redemptions,
        "event": a.at("event"),
        "volunteer": a.at("volunteer"),
        "work": a.at("work"),
        "telework": a.at("telework"),
        "vote": a.votes,
        "naming": a.bids,
    }


def designated(activity: YearActivity, chosen: Iterable[str]) -> int:
    """The count of the town's designated activities in the year (premium threshold's count).

    Each chosen activity counts once even if listed twice; a name that is not one of
    `ACTIVITIES` counts nothing (settings validate the list; the rollup must not stop on an
    odd stored value)."""
    counts = activity_counts(activity)
    return sum(counts.get(name, 0) for name in dict.fromkeys(chosen))


def parse_activities(stored: str) -> tuple[str, ...]:
    """The town's `premium_activities` column (a comma list) as known activities, in order,
    without duplicates."""
    names = (part.strip() for part in stored.split(","))
    return tuple(dict.fromkeys(name for name in names if name in ACTIVITIES))


def format_activities(names: Iterable[str]) -> str:
    """The comma list stored in `premium_activities`."""
    return ",".join(dict.fromkeys(names))


def evidence(activity: YearActivity, classification: Classification | None = None) -> dict[str, Any]:
    """The JSON stored in `analytics_person_years.evidence`: the facts, the counts of every
    designated activity, and the rule with its explanation. The console shows it to staff
    deciding premium registration; `activity_from_evidence` reads it back."""
    c = classification if classification is not None else classify(activity)
    return {
        "year": activity.year,
        "visit_days": activity.visit_days,
        "check_ins": {k: int(v) for k, v in sorted(activity.check_ins.items()) if v},
        "redemptions": activity.redemptions,
        "votes": activity.votes,
        "bids": activity.bids,
        "paid_orders": activity.paid_orders,
        "activities": activity_counts(activity),
        "category": c.category,
        "flags": list(c.flags),
        "rule": c.rule,
        "explanation_ja": c.explanation_ja,
        "explanation_en": c.explanation_en,
    }


def activity_from_evidence(data: Mapping[str, Any], year: int) -> YearActivity:
    """The `YearActivity` back from stored evidence (missing keys count as zero)."""
    raw = data.get("check_ins") or {}
    return YearActivity(
        year=int(data.get("year", year)),
        visit_days=int(data.get("visit_days", 0)),
        check_ins={str(k): int(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {},
        redemptions=int(data.get("redemptions", 0)),
        votes=int(data.get("votes", 0)),
        bids=int(data.get("bids", 0)),
        paid_orders=int(data.get("paid_orders", 0)),
    )


def markdown_table() -> str:
    """The category rules as the Markdown table in `docs/analytics.md` (a test compares)."""
    lines = [
        "| # | category | 類型 | 条件 | condition |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule in RULES:
        lines.append(
            f"| {rule.number} | `{rule.category}` {rule.name_en} | {rule.name_ja} | "
            f"{rule.condition_ja} | {rule.condition_en} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class National:
    """MLIT survey figures beside which the dashboard shows the town's own (percent)."""

    #: 2023 survey (published 2025-06-27, n=118,963, base 102.75M adults): visiting types as
    #: shares of visiting 関係人口, multi-answer (compare with the town's flags). 就労型(現地就労)
    #: is not given in the sources read, hence absent.
    categories_2023: Mapping[str, float]
    #: 2023: share of adults who are 関係人口, visiting, non-visiting.
    adults_2023: Mapping[str, float]
    #: 2023: non-visiting as a share of all 関係人口 (3.79M of 22.63M).
    non_visiting_share_2023: float
    #: 2023: visit days a year of visiting 関係人口, bins "1" (≤ 1 day), "2-7", "8+".
    visit_day_bins_2023: Mapping[str, float]
    #: 2019 survey (三大都市圏, n=28,466): exclusive types as shares of adults (compare with
    #: the town's primary categories' proportions among visiting people).
    categories_2019: Mapping[str, float]
    visiting_2019: float
    sources: Mapping[str, str]
    survey_ja: str = "国土交通省「地域との関わりについてのアンケート」"
    survey_en: str = "MLIT survey on ties with regions"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy for API answers."""
        return {
            "survey_ja": self.survey_ja,
            "survey_en": self.survey_en,
            "categories_2023": dict(self.categories_2023),
            "adults_2023": dict(self.adults_2023),
            "non_visiting_share_2023": self.non_visiting_share_2023,
            "visit_day_bins_2023": dict(self.visit_day_bins_2023),
            "categories_2019": dict(self.categories_2019),
            "visiting_2019": self.visiting_2019,
            "sources": dict(self.sources),
        }


NATIONAL: Final[National] = National(
    categories_2023={"hobby": 38.0, "participation": 26.0, "direct": 23.0, "telework": 8.0},
    adults_2023={"relationship": 22.0, "visiting": 18.0, "non_visiting": 4.0},
    non_visiting_share_2023=round(100 * 3.79 / 22.63, 1),
    visit_day_bins_2023={"1": 20.0, "2-7": 49.0, "8+": 31.0},
    categories_2019={"hobby": 10.5, "participation": 5.8, "work": 3.9, "direct": 3.0},
    visiting_2019=23.2,
    sources={
        "2023": "https://www.jutaku-s.com/news/id/0000036673 ; "
        "https://kankyo-station.co.jp/trend-news/art/2025/estate984.html ; "
        "https://fukushishimbun.com/fukushiippan/41547",
        "2019": "https://www.mlit.go.jp/report/press/kokudoseisaku03_hh_000193.html",
        "definitions": "https://www.nice.co.jp/wp/nbr/20200301_04/",
    },
)
