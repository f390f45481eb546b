"""Small-cell suppression for public statistics: counts below the town's threshold become "x",
and further cells or figures are withheld wherever the published totals would let a
suppressed count be worked out.

Why: a public page that says "3 residents live in Kochi" next to a town's name nearly names
them; official Japanese statistics print "x" for small cells, plus a secondary "x" so the value
cannot be recovered from the totals (research note 4, 工業統計 practice). This module is that
rule, as pure functions over plain counts, so it can be tested exhaustively apart from the
database (`tests/analytics/test_suppression.py` has a brute-force auditor).

The model of what a reader knows
--------------------------------
A table is a set of *cells* (name -> count ≥ 0, one person counted in one cell) and a set of
published *groups* (a named sum over some of the cells: the grand total, a metropolitan
area, the home prefecture behind the outside-prefecture share, visitors behind the visit-day
bins). A reader sees every shown cell exactly, knows a shown 0 is 0 and an "x" is ≥ 1
(primary and secondary "x" look alike, so an "x" may be any positive number), and knows every
published group's sum.

The rule
--------
1. Primary: a cell with 0 < count < k is "x" (k = the town's `stats_threshold`, ≥ 3, 5 by
   default). Zeros are shown: "nobody" is not a person. A group whose sum is 0 < s < k is
   itself a small count and is withheld ("x").
2. Relations. Published groups must be *laminar*: any two are nested or disjoint (`suppress`
   refuses others). Each published group g then yields one relation: its *remainder* r =
   g minus the largest published groups inside it, whose sum the reader can compute
   (g's sum minus the children's sums minus the shown cells of r). The remainders are
   disjoint, and together with the shown cells they are *all* the reader knows, so the
   possible tables are exactly the products of the possible fillings of each remainder.
3. Complementary ("second cell") suppression: in every relation the suppressed cells are
   none, or at least two (m ≥ 2) whose sum S is ≥ k and S > m. With m ≥ 2 and S > m every
   suppressed cell of r can take at least two values (1 … S − m + 1), and by the product
   property no other relation narrows it; S ≥ k keeps the suppressed part itself from being
   a small count (two cells "x" summing to 4 would say "four people, in one of these two
   prefectures"). So no "x" can be worked out, from any combination of published figures.
4. Fixing a relation that fails, until nothing changes (derived figures' relations first, then
   inner groups before outer ones, since withholding merges cells into the parent's relation):
   - if its group is a *derived* figure (a share, a metropolitan sum: `Group.derived`), that
     figure is withheld instead: a figure is worth less than a map cell;
   - else the smallest further nonzero cell of the remainder is suppressed (ties by name),
     when suppressing cells can satisfy the relation at all;
   - else (the remainder's own total is small, or every count in it is 1) a child group
     is withheld, derived ones first, smallest first, which merges its cells into this
     remainder; with no child, the group itself is withheld.
   Every step suppresses one more cell or withholds one more group, so it ends.

Tables that share a total
-------------------------
Two tables can be two partitions of the same people: the visit-day bins and the visiting
MLIT categories both add up to this year's visitors. Their total groups are *linked*
(`links`): one figure, published or withheld together. While it is published, the tables
are independent relations over disjoint cells. When it is withheld the reader still knows
the two sums are equal; that reveals nothing as long as neither sum can be computed, i.e.
each linked group's own remainder keeps an "x" (then adding 1 to an "x" on each side gives
another possible table, for every "x"). If one side's remainder has no "x", its smallest
nonzero cell there is suppressed (or a child withheld). Linked groups must be top-level
(inside no other group) and over disjoint cells.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

#: What a suppressed count is shown as.
X: Final = "x"
#: The lowest threshold a town may set (`municipalities.stats_threshold`, checked in the table).
MIN_THRESHOLD: Final = 3
DEFAULT_THRESHOLD: Final = 5

Figure = int | Literal["x"]


@dataclass(frozen=True)
class Group:
    """A published sum over cells of one table.

    `derived`: a figure that is withheld itself rather than more cells suppressed to keep it
    (a share, a metropolitan sum); the table's own total is not derived."""

    name: str
    cells: frozenset[str]
    derived: bool = False

    @classmethod
    def of(cls, name: str, cells: Iterable[str], *, derived: bool = False) -> Group:
        return cls(name, frozenset(cells), derived)


@dataclass(frozen=True)
class Relation:
    """What a published group tells beyond its published children: the sum of `cells`."""

    group: str
    cells: frozenset[str]


@dataclass(frozen=True)
class Suppression:
    """The published view: each cell and group as a count or "x", and why."""

    cells: dict[str, Figure]
    groups: dict[str, Figure]
    #: Cells below the threshold.
    primary: frozenset[str]
    #: Cells suppressed so that no relation reveals a primary one.
    secondary: frozenset[str]
    #: Groups not published (small, or withheld to protect a cell).
    withheld: frozenset[str]
    threshold: int
    #: The fixes made, in order, e.g. "cell 13 (total)", "group outside (home)": for tests and logs.
    steps: tuple[str, ...] = field(default=())

    @property
    def hidden(self) -> frozenset[str]:
        """Every cell shown as "x"."""
        return self.primary | self.secondary


def check_threshold(threshold: int) -> int:
    """The threshold, refused below `MIN_THRESHOLD` (a count of 2 is never published)."""
    if threshold < MIN_THRESHOLD:
        raise ValueError(f"threshold {threshold} is below {MIN_THRESHOLD}")
    return threshold


def small(count: int, threshold: int) -> bool:
    """A count that is never published: 0 < count < threshold."""
    return 0 < count < threshold


def hide(count: int, threshold: int) -> Figure:
    """A lone count (one not in any table with a total): "x" when small, else the count."""
    return X if small(count, check_threshold(threshold)) else count


def share(part: Figure, whole: Figure, *, places: int = 4) -> float | Literal["x"] | None:
    """`part / whole` of published figures: "x" when either is suppressed (a share of
    an "x" is that "x"), None when the whole is 0 (no share of nobody)."""
    if part == X or whole == X:
        return X
    assert isinstance(part, int)
    assert isinstance(whole, int)
    if whole == 0:
        return None
    return round(part / whole, places)


def check_laminar(groups: Collection[Group]) -> None:
    """Refuse groups that overlap without nesting: then relations are no longer disjoint
    remainders and the rule above does not prove anything (three pairwise overlapping sums
    can pin a cell through positivity alone). Publish the complement instead: the home
    prefecture behind an outside share, say, rather than "everyone but home"."""
    listed = list(groups)
    for index, first in enumerate(listed):
        for second in listed[index + 1 :]:
            common = first.cells & second.cells
            if common and common != first.cells and common != second.cells:
                raise ValueError(f"groups {first.name} and {second.name} overlap without nesting")


def _tree(groups: list[Group]) -> dict[str, str | None]:
    """Parent of each group: the smallest group listed before it (larger first, then in
    the given order) that contains it. Equal groups nest in the given order."""
    order = sorted(range(len(groups)), key=lambda index: (-len(groups[index].cells), index))
    parents: dict[str, str | None] = {}
    placed: list[Group] = []
    for index in order:
        group = groups[index]
        parent: Group | None = None
        for candidate in placed:
            if group.cells <= candidate.cells and (parent is None or len(candidate.cells) <= len(parent.cells)):
                parent = candidate
        parents[group.name] = None if parent is None else parent.name
        placed.append(group)
    return parents


def relations(groups: Collection[Group]) -> list[Relation]:
    """One relation per group (laminar): the group's cells outside its published children."""
    listed = list(groups)
    parents = _tree(listed)
    inside: dict[str, set[str]] = {group.name: set() for group in listed}
    for group in listed:
        parent = parents[group.name]
        if parent is not None:
            inside[parent] |= group.cells
    return [Relation(group.name, group.cells - frozenset(inside[group.name])) for group in listed]


def children(groups: Collection[Group], name: str) -> list[Group]:
    """The published groups directly inside the named one."""
    listed = list(groups)
    parents = _tree(listed)
    return [group for group in listed if parents[group.name] == name]


def relation_holds(cells: Mapping[str, int], hidden: Collection[str], relation: Iterable[str], threshold: int) -> bool:
    """No suppressed cell in the relation, or at least two with sum ≥ threshold and above
    their number (so none of them is forced to be 1)."""
    suppressed = [cells[name] for name in relation if name in hidden]
    if not suppressed:
        return True
    total = sum(suppressed)
    return len(suppressed) >= 2 and total >= threshold and total > len(suppressed)


def _validate(
    cells: Mapping[str, int], groups: list[Group], links: list[frozenset[str]], threshold: int
) -> dict[str, Group]:
    check_threshold(threshold)
    for name, count in cells.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"cell {name}: a count is an integer ≥ 0, not {count!r}")
    by_name: dict[str, Group] = {}
    for group in groups:
        if group.name in by_name:
            raise ValueError(f"group {group.name} is listed twice")
        unknown = group.cells - cells.keys()
        if unknown:
            raise ValueError(f"group {group.name} names cells not in the table: {sorted(unknown)}")
        by_name[group.name] = group
    check_laminar(groups)
    for link in links:
        members = [by_name[name] for name in sorted(link)]
        if len({sum(cells[cell] for cell in group.cells) for group in members}) > 1:
            raise ValueError(f"linked groups {sorted(link)} do not have the same sum")
        for index, group in enumerate(members):
            if any(group.cells & other.cells for other in members[index + 1 :]):
                raise ValueError(f"linked groups {sorted(link)} share cells")
            if any(group.cells < other.cells for other in groups):
                raise ValueError(f"linked group {group.name} lies inside another group")
    return by_name


def suppress(
    cells: Mapping[str, int],
    groups: Iterable[Group] = (),
    *,
    threshold: int = DEFAULT_THRESHOLD,
    links: Iterable[Collection[str]] = (),
) -> Suppression:
    """Apply the rule of the module docstring: primary, then complementary suppression until
    every relation holds. Deterministic (ties broken by name) so a page is stable."""
    listed = list(groups)
    linked = [frozenset(link) for link in links]
    by_name = _validate(cells, listed, linked, threshold)
    sums = {group.name: sum(cells[cell] for cell in group.cells) for group in listed}
    primary = frozenset(name for name, count in cells.items() if small(count, threshold))
    hidden: set[str] = set(primary)
    withheld: set[str] = {name for name, total in sums.items() if small(total, threshold)}
    steps: list[str] = []

    def withhold(name: str, why: str) -> None:
        for link in linked:
            if name in link:
                for other in sorted(link - {name}):
                    if other not in withheld:
                        withheld.add(other)
                        steps.append(f"group {other} (linked to {name})")
        withheld.add(name)
        steps.append(f"group {name} ({why})")

    def hide_smallest(remainder: Iterable[str], why: str) -> bool:
        candidates = sorted((cells[name], name) for name in remainder if name not in hidden and cells[name] > 0)
        if not candidates:
            return False
        hidden.add(candidates[0][1])
        steps.append(f"cell {candidates[0][1]} ({why})")
        return True

    def withhold_child(published: list[Group], name: str, why: str) -> bool:
        inner = [group for group in children(published, name) if sums[group.name] > 0]
        if not inner:
            return False
        inner.sort(key=lambda group: (not group.derived, sums[group.name], group.name))
        withhold(inner[0].name, why)
        return True

    def fix_once() -> bool:
        published = [group for group in listed if group.name not in withheld]
        for link in linked:
            if not link <= withheld:
                continue
            for member in sorted(link):
                # As if the member were published: can its sum be computed? Then the link reveals.
                as_published = [*published, by_name[member]]
                remainder = next(r.cells for r in relations(as_published) if r.group == member)
                if not remainder & hidden:
                    why = f"{member} withheld but computable"
                    if hide_smallest(remainder, why) or withhold_child(as_published, member, why):
                        return True
        # Derived figures first, then inner groups before outer ones: withholding a figure merges
        # its cells into its parent's relation, which may then need no further cell.
        order = sorted(relations(published), key=lambda r: (not by_name[r.group].derived, len(by_name[r.group].cells)))
        for relation in order:
            if relation_holds(cells, hidden, relation.cells, threshold):
                continue
            group = by_name[relation.group]
            why = relation.group
            if group.derived:
                withhold(group.name, f"derived, would reveal in {why}")
                return True
            everything = [name for name in relation.cells if cells[name] > 0]
            if relation_holds(cells, everything, everything, threshold) and hide_smallest(relation.cells, why):
                return True
            if withhold_child(published, group.name, why):
                return True
            withhold(group.name, f"no cells left to protect {why}")
            return True
        return False

    while fix_once():
        pass
    hidden_cells = frozenset(hidden)
    return Suppression(
        cells={name: X if name in hidden_cells else count for name, count in cells.items()},
        groups={name: X if name in withheld else total for name, total in sums.items()},
        primary=primary,
        secondary=hidden_cells - primary,
        withheld=frozenset(withheld),
        threshold=threshold,
        steps=tuple(steps),
    )
