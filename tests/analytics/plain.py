"""Every dashboard figure recomputed plainly from the raw rows, per the Definitions of plan 13.

Why a second implementation: the rollup (`backend/analytics/people.py`, `rollup.py`) is
incremental, batched and set-based, which is where figures go wrong (a refund applied twice,
a transfer missed, a person counted in two batches). This module is the opposite: whole
tables of one town read with simple SELECTs, then plain Python over the rows, one person at
a time, written from the Definitions without looking at the rollup's code (it imports
nothing of `backend.analytics`: metric names are spelt out, so a renamed one shows too). The
categories' rules are written out here again too, from the plan's table, so a change of
`categories.RULES` that the plan does not make shows up as a difference.

The result is the same shape as `analytics_counts`: cells (metric, dim1, dim2, day) ->
value, for the town, zeros left out; also per person, so a test can freeze the contribution
of people it erases.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

Cell = tuple[str, str, str, str]
JST = timezone(timedelta(hours=9))
ZERO = "0x" + "0" * 40
VALID = ("paid", "minting", "minted")
#: The categories' rules in the plan's order (first match primary; all matches flags).
RULE_ORDER = ("non_visiting", "direct", "work", "telework", "participation", "hobby")


def _aware(at: datetime | str) -> datetime:
    """A stored moment as aware UTC: SQLite hands raw SELECTs back as naive-UTC text."""
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def jday(at: datetime | str) -> str:
    """Japan day of a stored moment (SQLite returns naive UTC)."""
    return _aware(at).astimezone(JST).date().isoformat()


def jyear(at: datetime | str) -> str:
    return jday(at)[:4]


def erased(email: str) -> bool:
    """A pseudonym left by an erasure (`backend.analytics.erasure`): nobody's e-mail."""
    return email.lower().endswith("@erased.invalid")


def _rows(session: Session, sql: str, **params: Any) -> list[Any]:
    return list(session.execute(text(sql), params).all())


@dataclass
class _Person:
    email: str
    orders: list[Any] = field(default_factory=list)
    holder_ids: set[int] = field(default_factory=set)
    custodial: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)


@dataclass
class Recomputed:
    """The town's figures (`cells`), each person's part of them, and the people's facts a
    test may want to look at (held cards, prefecture)."""

    cells: Counter[Cell]
    by_person: dict[str, Counter[Cell]]
    prefecture: dict[str, str]
    held: dict[str, int]


def recompute(session: Session, town_id: int) -> Recomputed:
    """Every figure of the town from its raw rows (module docstring)."""
    town = _rows(session, "SELECT premium_activities, premium_threshold FROM municipalities WHERE id = :t", t=town_id)
    chosen = [name.strip() for name in (town[0][0] or "").split(",") if name.strip()]
    threshold = int(town[0][1])
    drops = {
        row.id: row
        for row in _rows(
            session, "SELECT id, kind, chain_id, contract FROM drops WHERE municipality_id = :t", t=town_id
        )
    }
    orders = _rows(
        session,
        "SELECT o.id, o.drop_id, o.email, o.prefecture, o.wallet_address, o.campaign_code, o.status,"
        " o.amount_jpy, o.recipient, o.paid_at, o.minted_at, o.created_at"
        " FROM orders o JOIN drops d ON d.id = o.drop_id WHERE d.municipality_id = :t",
        t=town_id,
    )
    people: dict[str, _Person] = {}
    for order in orders:
        email = order.email.lower()
        if erased(email):
            continue
        people.setdefault(email, _Person(email)).orders.append(order)
    holders = _rows(session, "SELECT id, email, address FROM holders")
    for holder in holders:
        person = people.get(holder.email.lower())
        if person is not None:
            person.holder_ids.add(int(holder.id))
            person.custodial.add(holder.address.lower())
            person.addresses.add(holder.address.lower())
    for person in people.values():
        for order in person.orders:
            for address in (order.recipient, order.wallet_address):
                if address:
                    person.addresses.add(address.lower())
    moved: dict[str, set[str]] = defaultdict(set)
    for source, target in _rows(session, "SELECT from_address, to_address FROM token_transfers"):
        moved[source.lower()].add(target.lower())
    for person in people.values():
        for custodial in person.custodial:
            person.addresses |= {target for target in moved.get(custodial, ()) if target != ZERO}
    owners = {
        (int(row.chain_id), row.contract, int(row.token_id)): row.owner.lower()
        for row in _rows(session, "SELECT chain_id, contract, token_id, owner FROM token_owners")
    }
    cards: dict[str, list[Any]] = defaultdict(list)
    for card in _rows(
        session,
        "SELECT c.order_id, c.token_id, c.drop_id, c.revoked_at FROM order_cards c"
        " JOIN drops d ON d.id = c.drop_id WHERE d.municipality_id = :t",
        t=town_id,
    ):
        cards[card.order_id].append(card)

    by_address: dict[str, set[str]] = defaultdict(set)
    by_holder: dict[int, str] = {}
    for person in people.values():
        for address in person.addresses:
            by_address[address].add(person.email)
        for holder_id in person.holder_ids:
            by_holder[holder_id] = person.email

    activity = {
        row.id: row.activity
        for row in _rows(session, "SELECT id, activity FROM spots WHERE municipality_id = :t", t=town_id)
    }
    check_ins: dict[str, list[Any]] = defaultdict(list)
    for row in _rows(
        session, "SELECT spot_id, day, address, holder_id FROM check_ins WHERE municipality_id = :t", t=town_id
    ):
        whose = set(by_address.get((row.address or "").lower(), ()))
        if row.holder_id is not None and row.holder_id in by_holder:
            whose.add(by_holder[row.holder_id])
        for email in whose:
            check_ins[email].append(row)
    redemptions: dict[str, list[Any]] = defaultdict(list)
    for row in _rows(
        session,
        "SELECT shop_id, benefit_id, holder_address, redeemed_at FROM redemptions WHERE municipality_id = :t",
        t=town_id,
    ):
        for email in by_address.get(row.holder_address.lower(), ()):
            redemptions[email].append(row)
    votes: dict[str, list[Any]] = defaultdict(list)
    for row in _rows(
        session,
        "SELECT v.poll_id, v.token_id, v.voted_at, e.address FROM poll_votes v"
        " JOIN poll_electors e ON e.poll_id = v.poll_id AND e.chain_id = v.chain_id"
        " AND e.contract = v.contract AND e.token_id = v.token_id"
        " JOIN polls p ON p.id = v.poll_id WHERE p.municipality_id = :t",
        t=town_id,
    ):
        for email in by_address.get(row.address.lower(), ()):
            votes[email].append(row)
    bids: dict[str, list[Any]] = defaultdict(list)
    for row in _rows(
        session,
        "SELECT b.lot_id, b.holder_id, b.created_at FROM lot_bidders b JOIN lots l ON l.id = b.lot_id"
        " WHERE l.municipality_id = :t",
        t=town_id,
    ):
        if row.holder_id in by_holder:
            bids[by_holder[row.holder_id]].append(row)

    result = Recomputed(Counter(), {}, {}, {})
    for email, person in people.items():
        out: Counter[Cell] = Counter()
        prefecture = _prefecture(person.orders)
        result.prefecture[email] = prefecture
        scopes = _orders(out, person, drops, cards, owners, prefecture)
        result.held[email] = scopes.get("*", 0)
        days = _visits(out, check_ins[email], redemptions[email], scopes)
        _taking_part(out, votes[email], bids[email])
        facts = (check_ins[email], redemptions[email], votes[email], bids[email])
        _categories(out, person, days, *facts, activity, prefecture, chosen, threshold)
        contribution = Counter({cell: value for cell, value in _coarse(out).items() if value})
        result.by_person[email] = contribution
        result.cells.update(contribution)
    result.cells.update(_coarse(_scans(session, town_id)))
    result.cells = Counter({cell: value for cell, value in result.cells.items() if value})
    return result


#: The additive day-dated metrics, which the rollup also keeps summed by month and by year.
DAY_METRICS = (
    "new_residents",
    "orders",
    "paid",
    "minted",
    "refunded",
    "revenue_jpy",
    "check_ins",
    "redemptions",
    "scans",
    "unique_scans",
    "bot_scans",
)


def _coarse(cells: Counter[Cell]) -> Counter[Cell]:
    """`cells` with each day metric's day cells summed again by month ("@m") and year ("@y"),
    as the rollup stores them beside the days."""
    out = Counter(cells)
    for (metric, dim1, dim2, day), value in cells.items():
        if metric in DAY_METRICS and len(day) == 10:
            out[(metric + "@m", dim1, dim2, day[:7])] += value
            out[(metric + "@y", dim1, dim2, day[:4])] += value
    return out


def _prefecture(orders: list[Any]) -> str:
    """Of the latest paid order (paid_at, then created_at, then id); else of the latest order."""
    paid = [order for order in orders if order.paid_at is not None]
    if paid:
        return str(max(paid, key=lambda o: (_aware(o.paid_at), _aware(o.created_at), o.id)).prefecture)
    return str(max(orders, key=lambda o: (_aware(o.created_at), o.id)).prefecture)


def _orders(
    out: Counter[Cell],
    person: _Person,
    drops: Mapping[int, Any],
    cards: Mapping[str, list[Any]],
    owners: Mapping[tuple[int, str, int], str],
    prefecture: str,
) -> dict[str, int]:
    """The funnel per order, card states, residents and cards per scope, new residents.
    Returns held cards per scope ("*" and drop ids)."""
    held: dict[str, int] = Counter()
    first_paid: dict[str, Any] = {}
    for order in person.orders:
        drop = drops[order.drop_id]
        dim1, dim2, day = str(order.drop_id), order.campaign_code or "", jday(order.created_at)
        out[("orders", dim1, dim2, day)] += 1
        if order.paid_at is not None:
            out[("paid", dim1, dim2, day)] += 1
            if order.status != "refunded":
                out[("revenue_jpy", dim1, dim2, day)] += int(order.amount_jpy)
        if order.minted_at is not None:
            out[("minted", dim1, dim2, day)] += 1
        if order.status == "refunded":
            out[("refunded", dim1, dim2, day)] += 1
        if drop.kind != "resident_card":
            continue
        for card in cards.get(order.id, ()):
            owner = owners.get((int(drop.chain_id), drop.contract, int(card.token_id)))
            if order.paid_at is not None:
                if card.revoked_at is not None or order.status == "refunded":
                    state = "revoked"
                elif owner is None or owner == (order.recipient or "").lower():
                    state = "first_holder"
                elif owner in person.addresses:
                    state = "own_wallet"
                else:
                    state = "transferred"
                out[("card_state", dim1, state, "")] += 1
            valid = order.status in VALID and card.revoked_at is None
            if valid and (owner is None or owner in person.addresses):
                for scope in ("*", dim1):
                    held[scope] += 1
                    if order.paid_at is not None:
                        key = (_aware(order.paid_at), _aware(order.created_at), order.id)
                        if scope not in first_paid or key < first_paid[scope][0]:
                            first_paid[scope] = (key, order)
    for scope, count in held.items():
        out[("residents", scope, prefecture, "")] += 1
        out[("cards", scope, prefecture, "")] += count
        if scope in first_paid:
            order = first_paid[scope][1]
            out[("new_residents", scope, order.campaign_code or "", jday(order.paid_at))] += 1
    return dict(held)


def _visits(out: Counter[Cell], check_ins: list[Any], redemptions: list[Any], scopes: Iterable[str]) -> set[str]:
    """Check-ins and redemptions by place and day, visitors per month, year and ever, the
    visit-day bins, residents who came. Returns the distinct visit days."""
    for row in check_ins:
        out[("check_ins", str(row.spot_id), "", row.day)] += 1
    for row in redemptions:
        out[("redemptions", str(row.shop_id), str(row.benefit_id), jday(row.redeemed_at))] += 1
    for spot, month in {(row.spot_id, row.day[:7]) for row in check_ins}:
        out[("spot_visitors", str(spot), "", month)] = 1
    for shop, month in {(row.shop_id, jday(row.redeemed_at)[:7]) for row in redemptions}:
        out[("shop_visitors", str(shop), "", month)] = 1
    days = {row.day for row in check_ins} | {jday(row.redeemed_at) for row in redemptions}
    for year in {day[:4] for day in days}:
        count = sum(1 for day in days if day.startswith(year))
        out[("visitors", "", "", year)] = 1
        out[("repeat_visitors", "", "", year)] = 1 if count >= 2 else 0
        out[("visit_days", "1" if count == 1 else "2-7" if count <= 7 else "8+", "", year)] = 1
    if days:
        out[("visitors", "", "", "")] = 1
        out[("repeat_visitors", "", "", "")] = 1 if len(days) >= 2 else 0
        for scope in scopes:
            out[("residents_visited", scope, "", "")] = 1
    return days


def _taking_part(out: Counter[Cell], votes: list[Any], bids: list[Any]) -> None:
    for row in votes:
        out[("poll_votes", str(row.poll_id), "", "")] += 1
    for poll in {row.poll_id for row in votes}:
        out[("poll_voters", str(poll), "", "")] = 1
    for lot in {row.lot_id for row in bids}:
        out[("bidders", str(lot), "", "")] = 1


def _categories(
    out: Counter[Cell],
    person: _Person,
    days: set[str],
    check_ins: list[Any],
    redemptions: list[Any],
    votes: list[Any],
    bids: list[Any],
    activity: Mapping[int, str],
    prefecture: str,
    chosen: list[str],
    threshold: int,
) -> None:
    """The plan's category rules and designated activities, year by year."""
    years = (
        {jyear(o.paid_at) for o in person.orders if o.paid_at is not None}
        | {day[:4] for day in days}
        | {jyear(v.voted_at) for v in votes}
        | {jyear(b.created_at) for b in bids}
    )
    for year in years:
        visit_days = sum(1 for day in days if day.startswith(year))
        at: Counter[str] = Counter(activity.get(c.spot_id, "leisure") for c in check_ins if c.day.startswith(year))
        used = sum(1 for r in redemptions if jyear(r.redeemed_at) == year)
        polls = len({v.poll_id for v in votes if jyear(v.voted_at) == year})
        lots = len({b.lot_id for b in bids if jyear(b.created_at) == year})
        specific = lots > 0 or any(at[name] for name in ("volunteer", "work", "telework", "event"))
        leisure = sum(n for name, n in at.items() if name not in ("volunteer", "work", "telework", "event"))
        matches = {
            "non_visiting": visit_days == 0,
            "direct": at["volunteer"] > 0 or lots > 0,
            "work": at["work"] > 0,
            "telework": at["telework"] > 0,
            "participation": at["event"] > 0,
            "hobby": leisure > 0 or used > 0 or (visit_days > 0 and not specific),
        }
        flags = [name for name in RULE_ORDER if matches[name]]
        out[("category", flags[0], prefecture, year)] = 1
        for flag in flags:
            out[("category_flag", flag, "", year)] = 1
        counts = {
            "visit_day": visit_days,
            "benefit": used,
            "event": at["event"],
            "volunteer": at["volunteer"],
            "work": at["work"],
            "telework": at["telework"],
            "vote": polls,
            "naming": lots,
        }
        if sum(counts.get(name, 0) for name in dict.fromkeys(chosen)) >= threshold:
            out[("premium_candidates", "", "", year)] = 1


def _scans(session: Session, town_id: int) -> Counter[Cell]:
    """Per campaign code and day: scans, distinct human visitors, bots (`sales/funnel.py`)."""
    out: Counter[Cell] = Counter()
    humans: dict[tuple[str, str], set[str]] = defaultdict(set)
    for code, day, visitor, bot in _rows(
        session,
        "SELECT c.code, s.day, s.visitor, s.bot FROM campaign_scans s JOIN campaigns c ON c.id = s.campaign_id"
        " WHERE c.municipality_id = :t",
        t=town_id,
    ):
        out[("scans", code, "", day)] += 1
        if bot:
            out[("bot_scans", code, "", day)] += 1
        else:
            humans[(code, day)].add(visitor)
    for (code, day), visitors in humans.items():
        out[("unique_scans", code, "", day)] = len(visitors)
    return out


def stored_counts(session: Session, town_id: int) -> Counter[Cell]:
    """The town's `analytics_counts` as cells (zeros left out): what the rollup wrote."""
    rows = session.execute(
        text("SELECT metric, dim1, dim2, day, value FROM analytics_counts WHERE municipality_id = :t"), {"t": town_id}
    )
    return Counter({(r.metric, r.dim1, r.dim2, r.day): int(r.value) for r in rows if int(r.value)})


def differences(expected: Mapping[Cell, int], actual: Mapping[Cell, int], limit: int = 25) -> list[str]:
    """The cells that differ, readable (empty when equal), for assertion messages."""
    cells = sorted(set(expected) | set(actual))
    lines = [
        f"{cell}: expected {expected.get(cell, 0)}, got {actual.get(cell, 0)}"
        for cell in cells
        if expected.get(cell, 0) != actual.get(cell, 0)
    ]
    return lines[:limit] + ([f"… {len(lines) - limit} more"] if len(lines) > limit else [])


def sum_cells(cells: Mapping[Cell, int], metric: str, **match: str) -> int:
    """Sum of a metric's cells whose dims match (`dim1=…`, `dim2=…`, `day=…`, `day_prefix=…`)."""
    total = 0
    for (name, dim1, dim2, day), value in cells.items():
        if name != metric:
            continue
        if "dim1" in match and dim1 != match["dim1"]:
            continue
        if "dim2" in match and dim2 != match["dim2"]:
            continue
        if "day" in match and day != match["day"]:
            continue
        if "day_prefix" in match and not day.startswith(match["day_prefix"]):
            continue
        total += value
    return total
