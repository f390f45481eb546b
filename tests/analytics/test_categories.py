"""MLIT categories from a year's activity: one case per rule, the borders between rules, the
flags when several rules match, explanations that say exactly what the facts say, designated
counts for premium registration, and the rules table in docs/analytics.md equal to RULES."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backend.analytics.categories import (
    ACTIVITIES,
    CATEGORIES,
    CATEGORY_NAMES,
    DEFAULT_PREMIUM_ACTIVITIES,
    NATIONAL,
    RULES,
    SPOT_ACTIVITIES,
    YearActivity,
    activity_counts,
    activity_from_evidence,
    classify,
    designated,
    evidence,
    format_activities,
    markdown_table,
    parse_activities,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"


def year(**facts: object) -> YearActivity:
    """An activity of 2026 with only the facts given (the rest zero)."""
    values: dict[str, object] = {"year": 2026, "visit_days": 0}
    values.update(facts)
    return YearActivity(**values)  # type: ignore[arg-type]


# ── one case per rule ───────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("activity", "category", "rule"),
    [
        (year(paid_orders=1), "non_visiting", 1),
        (year(visit_days=1, check_ins={"volunteer": 1}), "direct", 2),
        (year(visit_days=2, check_ins={"work": 2}), "work", 3),
        (year(visit_days=1, check_ins={"telework": 1}), "telework", 4),
        (year(visit_days=1, check_ins={"event": 1}), "participation", 5),
        (year(visit_days=3, redemptions=2), "hobby", 6),
        (year(visit_days=1, check_ins={"leisure": 1}), "hobby", 6),
    ],
    ids=["1-non-visiting", "2-direct", "3-work", "4-telework", "5-participation", "6-benefit", "6-leisure"],
)
def test_each_rule_gives_its_category(activity: YearActivity, category: str, rule: int) -> None:
    result = classify(activity)
    assert (result.category, result.rule) == (category, rule)
    assert result.flags[0] == category
    assert RULES[rule - 1].category == category


def test_the_issue_example_reads_as_the_issue_says() -> None:
    result = classify(year(visit_days=3, redemptions=2))
    assert result.explanation_ja == "3日訪問、特典を2回利用 → 趣味・消費型"
    assert result.explanation_en == "visited 3 days, used a benefit twice → hobby/consumption"


# ── borders ─────────────────────────────────────────────────────────────────


def test_no_visit_day_against_one_visit_day() -> None:
    """0 visit days is non-visiting whatever else happened; 1 day is a visit."""
    afar = classify(year(visit_days=0, paid_orders=1, votes=2))
    came = classify(year(visit_days=1, paid_orders=1, votes=2, redemptions=1))
    assert afar.category == "non_visiting"
    assert came.category == "hobby"
    assert "non_visiting" not in came.flags


def test_a_bid_with_and_without_visits() -> None:
    """A naming-right bid is a direct contribution: primary when they came, a flag beside
    non-visiting when they did not."""
    without = classify(year(bids=1))
    assert (without.category, without.flags) == ("non_visiting", ("non_visiting", "direct"))
    with_visit = classify(year(bids=1, visit_days=1, redemptions=1))
    assert with_visit.category == "direct"
    assert with_visit.rule == 2
    assert with_visit.flags == ("direct", "hobby")


def test_event_against_leisure() -> None:
    """An event check-in makes participation; one at a leisure spot only hobby; both: the
    event wins and hobby stays as a flag."""
    assert classify(year(visit_days=1, check_ins={"event": 1})).category == "participation"
    assert classify(year(visit_days=1, check_ins={"leisure": 1})).category == "hobby"
    both = classify(year(visit_days=2, check_ins={"event": 1, "leisure": 3}))
    assert both.category == "participation"
    assert both.flags == ("participation", "hobby")
    assert "hobby" not in classify(year(visit_days=1, check_ins={"event": 1})).flags


def test_several_flags_first_rule_wins() -> None:
    everything = year(
        visit_days=9,
        check_ins={"volunteer": 1, "work": 2, "telework": 3, "event": 4, "leisure": 5},
        redemptions=6,
        bids=1,
        votes=1,
        paid_orders=1,
    )
    result = classify(everything)
    assert result.category == "direct"
    assert result.flags == ("direct", "work", "telework", "participation", "hobby")
    work_and_event = classify(year(visit_days=2, check_ins={"work": 1, "event": 1}))
    assert (work_and_event.category, work_and_event.flags) == ("work", ("work", "participation"))
    telework_and_event = classify(year(visit_days=2, check_ins={"telework": 1, "event": 1}))
    assert telework_and_event.category == "telework"


def test_zero_counts_and_unknown_spot_activities() -> None:
    """A zero count in the map is no check-in; a spot activity this module does not know
    counts as leisure (the column's default)."""
    assert classify(year(visit_days=1, check_ins={"event": 0, "leisure": 1})).category == "hobby"
    assert classify(year(visit_days=1, check_ins={"sauna": 1})).category == "hobby"


def test_no_activity_has_no_category() -> None:
    result = classify(year())
    assert (result.category, result.flags, result.rule) == ("", (), 0)
    assert classify(year(votes=1)).category == "non_visiting"


# ── explanations match the facts ────────────────────────────────────────────


@pytest.mark.parametrize(
    "activity",
    [
        year(visit_days=3, redemptions=2),
        year(visit_days=1, check_ins={"volunteer": 2, "leisure": 1}),
        year(visit_days=7, check_ins={"work": 5, "telework": 1}, votes=3),
        year(paid_orders=2, votes=1, bids=4),
        year(visit_days=12, check_ins={"event": 11}, redemptions=1, bids=1),
    ],
)
def test_explanation_states_every_fact_and_no_other(activity: YearActivity) -> None:
    result = classify(activity)
    ja_facts, ja_category = result.explanation_ja.split(" → ")
    en_facts, en_category = result.explanation_en.split(" → ")
    assert (ja_category, en_category) == CATEGORY_NAMES[result.category]
    stated_ja = [int(n) for n in re.findall(r"\d+", ja_facts)]
    expected = [activity.visit_days] if activity.visit_days else []
    expected += [activity.at(a) for a in ("volunteer", "work", "telework", "event") if activity.at(a)]
    expected += [n for n in (activity.leisure_check_ins, activity.redemptions, activity.bids) if n]
    expected += [n for n in (activity.votes, activity.paid_orders) if n]
    assert stated_ja == expected
    words = {1: "once", 2: "twice"}
    for number in expected:
        assert str(number) in en_facts or words.get(number, "") in en_facts
    if activity.visit_days == 0:
        assert ja_facts.startswith("訪問なし")
        assert en_facts.startswith("no visit")
    else:
        assert ja_facts.startswith(f"{activity.visit_days}日訪問")


def test_english_singular_and_plural() -> None:
    one = classify(year(visit_days=1, redemptions=1, votes=1)).explanation_en
    assert one == "visited 1 day, used a benefit once, voted in 1 poll → hobby/consumption"
    many = classify(year(visit_days=2, redemptions=3, votes=2)).explanation_en
    assert many == "visited 2 days, used a benefit 3 times, voted in 2 polls → hobby/consumption"


# ── designated activities (premium) ─────────────────────────────────────────


def test_activity_counts_name_every_activity() -> None:
    activity = year(
        visit_days=4,
        check_ins={"event": 1, "volunteer": 2, "work": 3, "telework": 4, "leisure": 9},
        redemptions=5,
        votes=6,
        bids=7,
    )
    assert activity_counts(activity) == {
        "visit_day": 4,
        "benefit": 5,
        "event": 1,
        "volunteer": 2,
        "work": 3,
        "telework": 4,
        "vote": 6,
        "naming": 7,
    }
    assert tuple(activity_counts(activity)) == ACTIVITIES


def test_designated_sums_the_chosen_once_each() -> None:
    activity = year(visit_days=4, check_ins={"event": 1, "volunteer": 2, "leisure": 9}, redemptions=5, votes=1)
    assert designated(activity, DEFAULT_PREMIUM_ACTIVITIES) == 1 + 2 + 1  # event, volunteer, vote
    assert designated(activity, ["visit_day", "benefit"]) == 9
    assert designated(activity, ["event", "event"]) == 1
    assert designated(activity, ["event", "not-an-activity"]) == 1
    assert designated(activity, []) == 0


def test_stored_activity_lists() -> None:
    assert parse_activities("event,volunteer,work,telework,vote,naming") == DEFAULT_PREMIUM_ACTIVITIES
    assert parse_activities(" vote, vote,bogus,,event") == ("vote", "event")
    assert format_activities(["vote", "event", "vote"]) == "vote,event"


def test_evidence_round_trips() -> None:
    activity = year(visit_days=3, check_ins={"event": 2, "leisure": 0}, redemptions=1, votes=1, bids=2, paid_orders=1)
    stored = evidence(activity)
    assert stored["category"] == "direct"
    assert stored["rule"] == 2
    assert stored["check_ins"] == {"event": 2}
    assert stored["activities"]["naming"] == 2
    back = activity_from_evidence(stored, 2026)
    assert classify(back) == classify(activity)
    assert activity_counts(back) == activity_counts(activity)


# ── the table and the national figures ──────────────────────────────────────


def test_rules_cover_every_category_once_in_order() -> None:
    assert [rule.number for rule in RULES] == list(range(1, len(RULES) + 1))
    assert sorted(rule.category for rule in RULES) == sorted(CATEGORIES)
    assert set(SPOT_ACTIVITIES) - {"leisure"} < set(ACTIVITIES)


def test_docs_show_the_rules_table_of_the_code() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert markdown_table() in text
    for rule in RULES:
        assert rule.condition_ja in text
        assert rule.condition_en in text


def test_national_figures_are_the_surveys() -> None:
    assert dict(NATIONAL.visit_day_bins_2023) == {"1": 20.0, "2-7": 49.0, "8+": 31.0}
    assert sum(NATIONAL.visit_day_bins_2023.values()) == 100.0
    assert set(NATIONAL.categories_2023) <= set(CATEGORIES)
    assert NATIONAL.categories_2023["hobby"] == 38.0
    # 2019: exclusive types whose shares add up to the visiting share (23.2 %).
    assert round(sum(NATIONAL.categories_2019.values()), 1) == NATIONAL.visiting_2019
    assert all(url.startswith("https://") for url in NATIONAL.sources.values())
    assert NATIONAL.as_dict()["visit_day_bins_2023"]["2-7"] == 49.0
