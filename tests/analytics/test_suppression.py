"""Small-cell suppression: cases built for the second-cell rule, and an auditor that tries
every table a reader could believe in.

The auditor (`possible_values`) is independent of the rule in `suppression.py`: it takes only
what a reader of the published figures knows (shown cells, "x" means ≥ 1, each published
group's sum, linked totals being equal) and searches every integer table consistent with
it. A suppressed cell with only one possible value is a disclosure, whatever the rule's
reasoning said.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.analytics.suppression import (
    Group,
    Suppression,
    X,
    check_laminar,
    hide,
    relation_holds,
    relations,
    share,
    suppress,
)

# ── The auditor ───────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Constraint:
    """sum(coefficient * x) == value over suppressed cells."""

    terms: dict[str, int]
    value: int


def reader_constraints(
    cells: Mapping[str, int], groups: Sequence[Group], links: Sequence[Iterable[str]], result: Suppression
) -> list[Constraint]:
    """What the published figures say about the "x" cells (nothing else is used)."""
    shown = {name: value for name, value in result.cells.items() if value != X}
    by_name = {group.name: group for group in groups}
    constraints: list[Constraint] = []

    def side(group: Group) -> tuple[dict[str, int], int]:
        terms = {name: 1 for name in group.cells if name not in shown}
        known = sum(int(shown[name]) for name in group.cells if name in shown)
        return terms, known

    for group in groups:
        published = result.groups[group.name]
        if published == X:
            continue
        terms, known = side(group)
        constraints.append(Constraint(terms, int(published) - known))
    for link in links:
        members = sorted(link)
        if all(result.groups[name] != X for name in members):
            continue  # both published: already above
        first_terms, first_known = side(by_name[members[0]])
        for other in members[1:]:
            terms, known = side(by_name[other])
            combined = dict(first_terms)
            for name, coefficient in terms.items():
                combined[name] = combined.get(name, 0) - coefficient
            constraints.append(Constraint(combined, known - first_known))
    return constraints


def feasible(variables: list[str], constraints: list[Constraint], bound: int, fixed: dict[str, int]) -> bool:
    """Is there an assignment of 1…bound to the variables meeting every constraint?"""
    order = [name for name in variables if name not in fixed]

    def consistent(assigned: dict[str, int]) -> bool:
        for constraint in constraints:
            residual = constraint.value
            low = high = 0
            for name, coefficient in constraint.terms.items():
                if name in assigned:
                    residual -= coefficient * assigned[name]
                elif coefficient > 0:
                    low, high = low + coefficient, high + coefficient * bound
                else:
                    low, high = low + coefficient * bound, high + coefficient
            if not low <= residual <= high:
                return False
        return True

    def search(index: int, assigned: dict[str, int]) -> bool:
        if not consistent(assigned):
            return False
        if index == len(order):
            return True
        for value in range(1, bound + 1):
            assigned[order[index]] = value
            if search(index + 1, assigned):
                return True
            del assigned[order[index]]
        return False

    return search(0, dict(fixed))


def possible_values(
    cells: Mapping[str, int],
    groups: Sequence[Group],
    result: Suppression,
    links: Sequence[Iterable[str]] = (),
    *,
    enough: int = 2,
) -> dict[str, set[int]]:
    """For each "x" cell, values it could have (up to `enough` of them) in some table that
    agrees with every published figure."""
    constraints = reader_constraints(cells, groups, links, result)
    bound = sum(cells.values()) + 2
    answer: dict[str, set[int]] = {}
    for name in sorted(result.hidden):
        # Only the constraints connected to this cell matter.
        component = {name}
        related: list[Constraint] = []
        grown = True
        while grown:
            grown = False
            for constraint in constraints:
                if constraint not in related and component & constraint.terms.keys():
                    related.append(constraint)
                    component |= constraint.terms.keys()
                    grown = True
        variables = sorted(component)
        found: set[int] = set()
        truth = cells[name]
        candidates = [truth, *sorted(range(1, bound + 1), key=lambda value: (abs(value - truth), value))]
        for value in dict.fromkeys(candidates):
            if feasible(variables, related, bound, {name: value}):
                found.add(value)
                if len(found) >= enough:
                    break
        answer[name] = found
    return answer


def assert_protected(
    cells: Mapping[str, int],
    groups: Sequence[Group],
    result: Suppression,
    links: Sequence[Iterable[str]] = (),
) -> None:
    """The published view keeps every promise: small cells hidden, shown cells ≥ threshold
    or 0, small groups withheld, and no "x" has a single possible value."""
    k = result.threshold
    for name, value in cells.items():
        published = result.cells[name]
        if 0 < value < k:
            assert published == X, f"small cell {name}={value} shown"
        if published != X:
            assert published == value
            assert value == 0 or value >= k
    for group in groups:
        total = sum(cells[name] for name in group.cells)
        if 0 < total < k:
            assert result.groups[group.name] == X
        if result.groups[group.name] != X:
            assert result.groups[group.name] == total
    values = possible_values(cells, groups, result, links)
    for name, possible in values.items():
        assert cells[name] in possible, f"{name}: the truth must be possible"
        assert len(possible) >= 2, f"{name}={cells[name]} can be worked out: only {possible}"


# ── Cases built for the rule ──────────────────────────────────────────────────────────────


def total(cells: Mapping[str, int], name: str = "total") -> Group:
    return Group.of(name, cells)


def test_one_small_cell_in_a_table_with_a_total_takes_a_second_cell() -> None:
    cells = {"a": 3, "b": 10, "c": 20, "d": 0}
    result = suppress(cells, [total(cells)], threshold=5)
    assert result.primary == {"a"}
    assert result.secondary == {"b"}, "the smallest further nonzero cell"
    assert result.cells == {"a": X, "b": X, "c": 20, "d": 0}
    assert result.groups == {"total": 33}
    assert_protected(cells, [total(cells)], result)


def test_without_the_second_cell_the_total_reveals_the_small_one() -> None:
    """The auditor itself catches the naive table (only primary "x")."""
    cells = {"a": 3, "b": 10, "c": 20}
    naive = Suppression(
        cells={"a": X, "b": 10, "c": 20},
        groups={"total": 33},
        primary=frozenset({"a"}),
        secondary=frozenset(),
        withheld=frozenset(),
        threshold=5,
    )
    assert possible_values(cells, [total(cells)], naive) == {"a": {3}}


def test_two_small_cells_summing_below_the_threshold_take_a_third() -> None:
    cells = {"a": 1, "b": 2, "c": 10, "d": 20}
    result = suppress(cells, [total(cells)], threshold=5)
    assert result.primary == {"a", "b"}
    assert result.secondary == {"c"}, "x + x = 3 would say: three people, in a or b"
    assert result.cells["d"] == 20
    assert_protected(cells, [total(cells)], result)


def test_two_small_cells_summing_to_the_threshold_need_nothing_more() -> None:
    cells = {"a": 2, "b": 3, "c": 10}
    result = suppress(cells, [total(cells)], threshold=5)
    assert result.hidden == {"a", "b"}
    assert result.secondary == set()
    assert_protected(cells, [total(cells)], result)


def test_cells_all_one_are_pinned_by_their_total_so_the_total_is_withheld() -> None:
    """Five "x" adding up to 5 are five ones, whatever the threshold says."""
    cells = {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}
    result = suppress(cells, [total(cells)], threshold=5)
    assert result.hidden == set(cells)
    assert result.groups == {"total": X}
    assert_protected(cells, [total(cells)], result)


def test_zeros_are_shown_and_large_cells_untouched() -> None:
    cells = {"a": 0, "b": 5, "c": 7}
    result = suppress(cells, [total(cells)], threshold=5)
    assert result.cells == cells
    assert result.hidden == set()
    assert result.groups == {"total": 12}


def test_a_small_total_is_itself_x() -> None:
    cells = {"a": 1, "b": 3, "c": 0}
    result = suppress(cells, [total(cells)], threshold=5)
    assert result.groups == {"total": X}
    assert result.cells == {"a": X, "b": X, "c": 0}
    assert_protected(cells, [total(cells)], result)


def prefecture_table(home: str, counts: Mapping[str, int]) -> tuple[dict[str, int], list[Group]]:
    """A residents-by-prefecture table as public_stats publishes it: the total, the home
    prefecture behind the outside share (derived), and the Tokyo area (derived)."""
    cells = {code: counts.get(code, 0) for code in ("00", "11", "12", "13", "14", "26", "39", "40")}
    groups = [
        Group.of("total", cells),
        Group.of("home", [home], derived=True),
        Group.of("shutoken", ["11", "12", "13", "14"], derived=True),
    ]
    return cells, groups


def test_a_small_home_prefecture_withholds_the_outside_share() -> None:
    """total − outside = home: with the share published, 3 at home would be exact."""
    cells, groups = prefecture_table("39", {"39": 3, "13": 40, "14": 12, "40": 9})
    result = suppress(cells, groups, threshold=5)
    assert result.cells["39"] == X
    assert result.groups["home"] == X
    assert share(X, result.groups["total"]) == X
    # The total still holds two "x": the home one and the smallest other nonzero cell.
    assert result.secondary == {"40"}
    assert result.groups["total"] == 64
    assert_protected(cells, groups, result)


def test_a_home_prefecture_inside_a_metro_is_a_nested_relation() -> None:
    """Home Chiba (12): the outside share's group sits inside the Tokyo area's."""
    cells, groups = prefecture_table("12", {"12": 4, "13": 30, "11": 6, "40": 20})
    result = suppress(cells, groups, threshold=5)
    assert result.groups["home"] == X
    assert result.cells["12"] == X
    assert_protected(cells, groups, result)


def test_a_large_home_prefecture_keeps_the_share() -> None:
    cells, groups = prefecture_table("39", {"39": 30, "13": 40, "40": 9})
    result = suppress(cells, groups, threshold=5)
    assert result.hidden == set()
    assert result.groups["home"] == 30
    assert share(79 - 30, 79) == round(49 / 79, 4)


def test_a_metro_with_one_small_cell_is_withheld_rather_than_a_second_prefecture() -> None:
    cells, groups = prefecture_table("39", {"39": 30, "13": 40, "11": 2, "40": 9, "26": 3})
    result = suppress(cells, groups, threshold=5)
    assert result.groups["shutoken"] == X, "the metro sum would reveal Saitama's 2"
    assert result.cells["13"] == 40, "Tokyo stays on the map"
    # The total's relation holds Saitama 2 and Kyoto 3: two "x" summing to 5, enough.
    assert result.hidden == {"11", "26"}
    assert_protected(cells, groups, result)


def test_a_fixed_child_whose_remainder_is_one_small_cell_is_withheld() -> None:
    """Total 30, published subtotal 28: the remainder is a single cell of 2, which no further
    cell can protect (the remainder is that cell alone), so the subtotal goes."""
    cells = {"a": 2, "b": 14, "c": 14}
    groups = [Group.of("total", cells), Group.of("sub", ["b", "c"])]
    result = suppress(cells, groups, threshold=5)
    assert result.groups["sub"] == X
    assert result.groups["total"] == 30
    assert result.hidden == {"a", "b"}
    assert_protected(cells, groups, result)


def test_shares_of_suppressed_figures_are_suppressed() -> None:
    assert share(X, 40) == X
    assert share(3, X) == X
    assert share(0, 0) is None
    assert share(10, 40) == 0.25
    bins = {"1": 12, "2-7": 3, "8+": 6}
    groups = [Group.of("visitors", bins), Group.of("repeat", ["2-7", "8+"], derived=True)]
    result = suppress(bins, groups, threshold=5)
    shares = {name: share(result.cells[name], result.groups["visitors"]) for name in bins}
    assert shares["2-7"] == X
    assert shares["8+"] == X, "8+ is the second cell: its share would give 2-7 = 21 - 12 - 6"
    assert shares["1"] == round(12 / 21, 4)
    assert_protected(bins, groups, result)


def test_repeat_visitors_are_withheld_when_one_day_visitors_are_few() -> None:
    """visitors − repeat visitors = people with one visit day."""
    bins = {"1": 2, "2-7": 20, "8+": 9}
    groups = [Group.of("visitors", bins), Group.of("repeat", ["2-7", "8+"], derived=True)]
    result = suppress(bins, groups, threshold=5)
    assert result.groups["repeat"] == X
    assert result.groups["visitors"] == 31
    assert result.hidden == {"1", "8+"}
    assert_protected(bins, groups, result)


def linked_tables(
    bins: Mapping[str, int], categories: Mapping[str, int]
) -> tuple[dict[str, int], list[Group], list[set[str]]]:
    """Visit-day bins and categories: two partitions of this year's visitors."""
    cells = {f"bin:{name}": value for name, value in bins.items()}
    cells |= {f"cat:{name}": value for name, value in categories.items()}
    visiting = [f"cat:{name}" for name in categories if name != "non_visiting"]
    groups = [
        Group.of("visitors", [f"bin:{name}" for name in bins]),
        Group.of("repeat", ["bin:2-7", "bin:8+"], derived=True),
        Group.of("visitors_by_category", visiting),
    ]
    return cells, groups, [{"visitors", "visitors_by_category"}]


def test_tables_sharing_a_total_are_each_protected() -> None:
    cells, groups, links = linked_tables(
        {"1": 10, "2-7": 8, "8+": 6}, {"hobby": 20, "direct": 3, "participation": 1, "non_visiting": 7}
    )
    result = suppress(cells, groups, threshold=5, links=links)
    assert result.groups["visitors"] == result.groups["visitors_by_category"] == 24
    assert result.cells["cat:direct"] == result.cells["cat:participation"] == X
    assert result.cells["cat:hobby"] == X, "3 + 1 < 5: the hobby count is the third cell"
    assert result.cells["cat:non_visiting"] == 7
    assert_protected(cells, groups, result, links)


def test_a_withheld_shared_total_is_withheld_in_both_tables_and_computable_in_neither() -> None:
    """Five visiting people, one in each category: the categories pin the total's cells to 1,
    so visitors is withheld; then the bins must not give it back (5 in one bin would)."""
    cells, groups, links = linked_tables(
        {"1": 5, "2-7": 0, "8+": 0},
        {"hobby": 1, "direct": 1, "participation": 1, "work": 1, "telework": 1, "non_visiting": 9},
    )
    result = suppress(cells, groups, threshold=5, links=links)
    assert result.groups["visitors"] == result.groups["visitors_by_category"] == X
    assert result.cells["bin:1"] == X, "else visitors = 5 and every category is 1"
    assert_protected(cells, groups, result, links)


def test_an_unprotected_link_is_caught_by_the_auditor() -> None:
    cells, groups, links = linked_tables(
        {"1": 5, "2-7": 0, "8+": 0},
        {"hobby": 1, "direct": 1, "participation": 1, "work": 1, "telework": 1, "non_visiting": 9},
    )
    leaky = Suppression(
        cells={
            name: (X if name.startswith("cat:") and name != "cat:non_visiting" else value)
            for name, value in cells.items()
        },
        groups={"visitors": X, "repeat": 0, "visitors_by_category": X},
        primary=frozenset(name for name, value in cells.items() if 0 < value < 5),
        secondary=frozenset(),
        withheld=frozenset({"visitors", "visitors_by_category"}),
        threshold=5,
    )
    values = possible_values(cells, groups, leaky, links)
    assert values["cat:hobby"] == {1}


def test_a_lone_count() -> None:
    assert hide(4, 5) == X
    assert hide(0, 5) == 0
    assert hide(5, 5) == 5
    assert hide(3, 3) == 3


@pytest.mark.parametrize("threshold", [0, 1, 2])
def test_a_threshold_below_three_is_refused(threshold: int) -> None:
    with pytest.raises(ValueError, match="below 3"):
        suppress({"a": 1}, threshold=threshold)
    with pytest.raises(ValueError, match="below 3"):
        hide(1, threshold)


def test_overlapping_groups_are_refused() -> None:
    """Three pairwise overlapping sums pin a cell by positivity alone: {a,b}=3, {a,c}=3,
    {b,c,d}=4 force a=2. The rule is proven for laminar groups only, so others are refused."""
    groups = [Group.of("ab", "ab"), Group.of("ac", "ac"), Group.of("bcd", "bcd")]
    with pytest.raises(ValueError, match="overlap"):
        check_laminar(groups)
    with pytest.raises(ValueError, match="overlap"):
        suppress({"a": 2, "b": 1, "c": 1, "d": 2}, groups, threshold=3)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="not in the table"):
        suppress({"a": 1}, [Group.of("t", ["a", "b"])])
    with pytest.raises(ValueError, match="integer"):
        suppress({"a": -1})
    with pytest.raises(ValueError, match="twice"):
        suppress({"a": 1}, [Group.of("t", "a"), Group.of("t", "a")])
    with pytest.raises(ValueError, match="same sum"):
        suppress({"a": 1, "b": 2}, [Group.of("s", "a"), Group.of("t", "b")], links=[{"s", "t"}])
    with pytest.raises(ValueError, match="inside"):
        suppress({"a": 1, "b": 1}, [Group.of("s", "a"), Group.of("t", "b"), Group.of("all", "ab")], links=[{"s", "t"}])


def test_relations_are_the_remainders_of_the_group_tree() -> None:
    groups = [Group.of("all", "abcdef"), Group.of("left", "abc"), Group.of("a", "a"), Group.of("ef", "ef")]
    found = {relation.group: set(relation.cells) for relation in relations(groups)}
    assert found == {"all": {"d"}, "left": {"b", "c"}, "a": {"a"}, "ef": {"e", "f"}}
    assert relation_holds({"b": 2, "c": 3}, {"b", "c"}, {"b", "c"}, 5)
    assert not relation_holds({"b": 2, "c": 2}, {"b", "c"}, {"b", "c"}, 5)
    assert not relation_holds({"b": 2, "c": 9}, {"b"}, {"b", "c"}, 5)


def test_the_result_is_deterministic() -> None:
    cells = {"a": 3, "b": 7, "c": 7, "d": 30}
    first = suppress(cells, [total(cells)], threshold=5)
    assert first.secondary == {"b"}, "ties broken by name"
    assert suppress(dict(reversed(cells.items())), [total(cells)], threshold=5) == first


# ── Many tables: the auditor over random laminar families ─────────────────────────────────


def random_laminar(rng: random.Random, names: list[str]) -> list[Group]:
    """The total and a few nested or disjoint subgroups, some derived."""
    groups = [Group.of("total", names)]
    for index in range(rng.randint(0, 4)):
        size = rng.randint(1, max(1, len(names) - 1))
        candidate = Group.of(f"g{index}", rng.sample(names, size), derived=rng.random() < 0.5)
        try:
            check_laminar([*groups, candidate])
        except ValueError:
            continue
        if all(candidate.cells != group.cells for group in groups):
            groups.append(candidate)
    return groups


counts = st.lists(st.one_of(st.integers(0, 4), st.integers(0, 12), st.just(1)), min_size=2, max_size=7)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(values=counts, seed=st.integers(0, 2**32 - 1), threshold=st.sampled_from([3, 4, 5]))
def test_no_random_table_lets_a_suppressed_cell_be_worked_out(values: list[int], seed: int, threshold: int) -> None:
    names = [f"c{index}" for index in range(len(values))]
    cells = dict(zip(names, values, strict=True))
    groups = random_laminar(random.Random(seed), names)
    result = suppress(cells, groups, threshold=threshold)
    assert_protected(cells, groups, result)
    for relation in relations([group for group in groups if group.name not in result.withheld]):
        assert relation_holds(cells, result.hidden, relation.cells, threshold)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    bins=st.lists(st.integers(0, 9), min_size=3, max_size=3),
    seed=st.integers(0, 2**32 - 1),
    non_visiting=st.integers(0, 9),
    threshold=st.sampled_from([3, 5]),
)
def test_no_pair_of_linked_tables_lets_a_cell_be_worked_out(
    bins: list[int], seed: int, non_visiting: int, threshold: int
) -> None:
    """Random visit-day bins, and the same visitors split at random over five categories."""
    rng = random.Random(seed)
    visitors = sum(bins)
    split = [0] * 5
    for _ in range(visitors):
        split[rng.randrange(5)] += 1
    categories = dict(zip(("hobby", "direct", "participation", "work", "telework"), split, strict=True))
    categories["non_visiting"] = non_visiting
    cells, groups, links = linked_tables(dict(zip(("1", "2-7", "8+"), bins, strict=True)), categories)
    result = suppress(cells, groups, threshold=threshold, links=links)
    assert result.groups["visitors"] == result.groups["visitors_by_category"]
    assert_protected(cells, groups, result, links)
