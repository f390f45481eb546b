"""The rollup: turn marked changes into `analytics_counts`, each change exactly once.

Writers mark what changed in their own transaction (`changes.py`); the indexer appends
`token_transfers`. `process_changes` claims a batch of both and, in ONE transaction:

1. takes the rollup lock (the `analytics_cursors` row "rollup": SELECT … FOR UPDATE on
   PostgreSQL; on SQLite the first write of the transaction, since SQLite has one writer),
   so batches of several processes run one after the other, each seeing the last one's
   commit;
2. resolves the changes to people (town, e-mail): e-mails directly; addresses through
   `analytics_person_addresses` and the raw tables (holders, order recipients and wallets);
   new transfers through the card's order and both addresses;
3. recomputes those people from their raw rows (`people.py`) and adds new-minus-stored
   contribution to the counts (upserts), storing the new contribution, years and addresses;
4. recomputes the scan cells of the (campaign, day)s named, and whole towns named by a
   "town" change (`rebuild` in place);
5. deletes the claimed changes and moves the transfers cursor.

A crash anywhere rolls all of it back: the changes are still there for the next round. A
change in a transaction that rolled back was never visible, so it is never applied. People
erased under a data request (e-mail NULL) are frozen: nothing resolves to them and their
stored contribution stays in the counts.

`rebuild(sessions, town_id)` recomputes every person of a town in batches and replaces the
town's counts with the sum (plus the frozen people's stored contributions and the scans):
the repair path, and what a change of the town's premium rule asks for.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, and_, bindparam, case, delete, distinct, exists, func, not_, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from backend.analytics import metrics as m
from backend.analytics.erasure import is_erased_email
from backend.analytics.models import (
    AnalyticsChange,
    AnalyticsCount,
    AnalyticsCursor,
    AnalyticsPerson,
    AnalyticsPersonAddress,
    AnalyticsPersonYear,
)
from backend.analytics.people import (
    Cell,
    Computed,
    address_forms,
    among,
    chunks,
    compute,
    custodial_moves,
    decode,
    encode,
    load_facts,
    town_rule,
)
from backend.benefits.periods import in_japan
from backend.core.db import utcnow
from backend.holders.models import Holder
from backend.sales.models import Campaign, CampaignScan, Drop, Order, OrderCard
from backend.towns.models import Municipality
from minting.errors import first_line
from minting.store import TokenTransferRow, insert_for
from minting.worker import LoopThread, start_loop

log = logging.getLogger("furusato.analytics.rollup")

ROLLUP_CURSOR: Final = "rollup"
TRANSFERS_CURSOR: Final = "token_transfers"
#: People recomputed per batch of a rebuild (bounded memory, a few queries per batch).
REBUILD_BATCH: Final = 2000
#: Rows per multi-row INSERT.
WRITE_CHUNK: Final = 1000
EVERY_SECONDS: Final = 1.0

#: (town id, lower-case e-mail).
PersonKey = tuple[int, str]


def this_year() -> int:
    """The current Japan year (the people's `category` is this year's)."""
    return in_japan(utcnow()).year


# ── the lock and the queue ──────────────────────────────────────────────────────────────


def _lock(session: Session) -> None:
    """Take the rollup lock for the rest of the transaction (module docstring, step 1)."""
    upsert = insert_for(session)
    for name in (ROLLUP_CURSOR, TRANSFERS_CURSOR):
        session.execute(upsert(AnalyticsCursor).values(name=name, position=0).on_conflict_do_nothing())
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(AnalyticsCursor.name).where(AnalyticsCursor.name == ROLLUP_CURSOR).with_for_update())


def _transfer_position(session: Session) -> int:
    return int(session.scalar(select(AnalyticsCursor.position).where(AnalyticsCursor.name == TRANSFERS_CURSOR)) or 0)


def pending(session: Session) -> bool:
    """Whether there is anything to roll up (a read, no lock: the loop's cheap question)."""
    if session.scalar(select(exists().where(AnalyticsChange.id.is_not(None)))):
        return True
    return bool(session.scalar(select(exists().where(TokenTransferRow.id > _transfer_position(session)))))


# ── resolving changes to people ─────────────────────────────────────────────────────────


def _towns_of_emails(session: Session, emails: Iterable[str]) -> set[PersonKey]:
    """Every (town, e-mail) where the e-mail has orders."""
    found: set[PersonKey] = set()
    for part in chunks(sorted(set(emails))):
        rows = session.execute(
            select(Drop.municipality_id, Order.email)
            .join(Drop, Drop.id == Order.drop_id)
            .where(among(session, Order.email, part))
            .distinct()
        )
        found |= {(int(town), email) for town, email in rows}
    return found


def _people_of_addresses(session: Session, towns_of: Mapping[str, set[int | None]]) -> set[PersonKey]:
    """The people behind lower-case addresses, each limited to the towns named for it (None:
    every town)."""
    if not towns_of:
        return set()
    candidates: dict[str, set[PersonKey]] = defaultdict(set)  # lower address -> people
    lower = sorted(towns_of)
    forms = sorted({form for address in lower for form in address_forms(address)})
    # The address table's key leads with the town: name the towns so the key serves.
    named = {town for towns in towns_of.values() for town in towns if town is not None}
    if any(None in towns for towns in towns_of.values()):
        named = set(session.scalars(select(Municipality.id)))
    for part in chunks(lower):
        rows = session.execute(
            select(AnalyticsPersonAddress.address, AnalyticsPerson.municipality_id, AnalyticsPerson.email)
            .join(AnalyticsPerson, AnalyticsPerson.id == AnalyticsPersonAddress.person_id)
            .where(
                among(session, AnalyticsPersonAddress.municipality_id, sorted(named)),
                among(session, AnalyticsPersonAddress.address, part),
                AnalyticsPerson.email.is_not(None),
            )
        )
        for address, town, email in rows:
            if email is not None:
                candidates[address].add((int(town), email))
    holder_emails: dict[str, str] = {}
    for part in chunks(forms):
        for address, email in session.execute(
            select(Holder.address, Holder.email).where(among(session, Holder.address, part))
        ):
            holder_emails[email] = address.lower()
        for column in (Order.recipient, Order.wallet_address):
            found = session.execute(
                select(column, Drop.municipality_id, Order.email)
                .join(Drop, Drop.id == Order.drop_id)
                .where(among(session, column, part))
                .distinct()
            )
            for raw, town, email in found:
                if raw is not None:
                    candidates[raw.lower()].add((int(town), str(email)))
    for town, email in _towns_of_emails(session, holder_emails):
        candidates[holder_emails[email]].add((town, email))
    people: set[PersonKey] = set()
    for address, keys in candidates.items():
        towns = towns_of.get(address, set())
        people |= keys if None in towns else {key for key in keys if key[0] in towns}
    return people


def _people_of_transfers(session: Session, transfers: list[TokenTransferRow]) -> set[PersonKey]:
    """Whoever a card move can change: the card's buyer, and the people of both addresses."""
    tokens: dict[tuple[int, str], set[int]] = defaultdict(set)
    addresses: dict[str, set[int | None]] = defaultdict(set)
    for transfer in transfers:
        tokens[(int(transfer.chain_id), transfer.contract)].add(int(transfer.token_id))
        for address in (transfer.from_address, transfer.to_address):
            addresses[address.lower()].add(None)
    people: set[PersonKey] = set()
    for (chain_id, contract), ids in tokens.items():
        for part in chunks(sorted(ids)):
            rows = session.execute(
                select(Drop.municipality_id, Order.email)
                .select_from(OrderCard)
                .join(Order, Order.id == OrderCard.order_id)
                .join(Drop, Drop.id == Order.drop_id)
                .where(
                    Drop.chain_id == chain_id,
                    func.lower(Drop.contract) == contract.lower(),
                    among(session, OrderCard.token_id, part),
                )
                .distinct()
            )
            people |= {(int(town), email) for town, email in rows}
    return people | _people_of_addresses(session, addresses)


# ── writing ─────────────────────────────────────────────────────────────────────────────

_COUNT_KEY: Final = ("municipality_id", "metric", "dim1", "dim2", "day")


def _count_rows(town_id: int, cells: Mapping[Cell, int]) -> list[dict[str, Any]]:
    return [
        {"municipality_id": town_id, "metric": c[0], "dim1": c[1], "dim2": c[2], "day": c[3], "value": v}
        for c, v in cells.items()
        if v
    ]


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def _many(session: Session, statement: Any, rows: list[dict[str, Any]]) -> None:
    """One statement, many rows: Core executemany, compiled once and sent in batches of
    rows per statement ("insertmanyvalues") or pipelined (psycopg), not one compile per batch."""
    if rows:
        session.connection().execute(statement, rows)


def _add_counts(
    session: Session, town_id: int, delta: Mapping[Cell, int], *, replace: bool = False, fresh: bool = False
) -> None:
    """Add `delta` to the town's cells (or, `replace`, set them to it; `fresh`: the town has
    no cells, plain inserts). Cells that end at 0 are deleted, so "no row" and 0 mean the
    same to readers and a rebuild compares equal."""
    rows = _count_rows(town_id, delta)
    table = _table(AnalyticsCount)
    if fresh:
        if session.get_bind().dialect.name == "postgresql":
            _copy(session, "analytics_counts", (*_COUNT_KEY, "value"), (tuple(row.values()) for row in rows))
        else:
            _many(session, table.insert(), rows)
        return
    upsert = insert_for(session)(table)
    value = upsert.excluded.value if replace else table.c.value + upsert.excluded.value
    _many(session, upsert.on_conflict_do_update(index_elements=list(_COUNT_KEY), set_={"value": value}), rows)
    # Adding: a cell that went down may now be 0. Setting: a cell set to 0 goes.
    emptied = [cell for cell, value in delta.items() if (not value if replace else value < 0)]
    remove = delete(table).where(*(table.c[key] == bindparam("k_" + key) for key in _COUNT_KEY))
    if not replace:
        remove = remove.where(table.c.value == 0)
    keys = [dict(zip(["k_" + key for key in _COUNT_KEY], (town_id, *cell), strict=True)) for cell in emptied]
    _many(session, remove, keys)


_PERSON_FIELDS: Final = ("prefecture", "resident", "cards", "first_card_day", "category", "contribution", "updated_at")
_YEAR_FIELDS: Final = (
    "person_id",
    "year",
    "municipality_id",
    "visit_days",
    "check_ins",
    "redemptions",
    "votes",
    "designated",
    "category",
    "flags",
    "evidence",
)
#: Scratch tables of a PostgreSQL batch (dropped at commit): COPY in, then one statement.
_SCRATCH: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS rollup_people (id integer, prefecture varchar(2), resident boolean,"
    " cards integer, first_card_day varchar(10), category varchar(16), contribution text,"
    " updated_at timestamptz) ON COMMIT DROP",
    "CREATE TEMP TABLE IF NOT EXISTS rollup_addresses (municipality_id integer, address varchar(42),"
    " person_id integer) ON COMMIT DROP",
)


def _copy(session: Session, target: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    """COPY rows into a table in the session's transaction (PostgreSQL): the fastest way in,
    no statement to compile or parameters to convert, whatever the number of rows."""
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(f"COPY {target} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row(tuple(row))


def _person_values(result: Computed, now: datetime) -> tuple[Any, ...]:
    contribution = json.dumps(encode(result.contribution), ensure_ascii=False, separators=(",", ":"))
    return (result.prefecture, result.resident, result.cards, result.first_card_day, result.category, contribution, now)


def _store(session: Session, town_id: int, results: Mapping[str, Computed], ids: Mapping[str, int]) -> dict[str, int]:
    """Store people's new summaries, contributions, years and addresses (bulk); returns the
    ids of all of them (new people inserted). PostgreSQL: COPY into scratch tables and one
    UPDATE / INSERT … SELECT each; SQLite: executemany."""
    now = utcnow()
    postgres = session.get_bind().dialect.name == "postgresql"
    known = {email: ids[email] for email in results if email in ids}
    fresh = [email for email in results if email not in ids]
    values = {email: _person_values(result, now) for email, result in results.items()}
    people = _table(AnalyticsPerson)
    if postgres:
        for statement in _SCRATCH:
            session.execute(text(statement))
        session.execute(text("TRUNCATE rollup_people, rollup_addresses"))
        if fresh:
            allocated = session.scalars(
                text("SELECT nextval(pg_get_serial_sequence('analytics_people', 'id')) FROM generate_series(1, :n)"),
                {"n": len(fresh)},
            )
            known.update(zip(fresh, (int(n) for n in allocated), strict=True))
            _copy(
                session,
                "analytics_people",
                ("id", "municipality_id", "email", *_PERSON_FIELDS),
                ((known[e], town_id, e, *values[e]) for e in fresh),
            )
        changed = [e for e in results if e in ids]
        if changed:
            _copy(session, "rollup_people", ("id", *_PERSON_FIELDS), ((known[e], *values[e]) for e in changed))
            session.execute(
                text(
                    "UPDATE analytics_people AS p SET prefecture = n.prefecture, resident = n.resident,"
                    " cards = n.cards, first_card_day = n.first_card_day, category = n.category,"
                    " contribution = n.contribution, updated_at = n.updated_at"
                    " FROM rollup_people AS n WHERE p.id = n.id"
                )
            )
    else:
        # The SET clause comes from the rows' keys (all alike); the id is bound apart.
        changed_rows = [{"b_id": known[e], **dict(zip(_PERSON_FIELDS, values[e], strict=True))} for e in known]
        _many(session, update(people).where(people.c.id == bindparam("b_id")), changed_rows)
        new_rows = [
            {"municipality_id": town_id, "email": e, **dict(zip(_PERSON_FIELDS, values[e], strict=True))} for e in fresh
        ]
        if new_rows:
            inserted = session.connection().execute(people.insert().returning(people.c.id, people.c.email), new_rows)
            known.update({str(email): int(person_id) for person_id, email in inserted})
    for part in chunks(sorted(known.values())):
        session.execute(delete(AnalyticsPersonYear).where(among(session, AnalyticsPersonYear.person_id, part)))
        session.execute(delete(AnalyticsPersonAddress).where(among(session, AnalyticsPersonAddress.person_id, part)))
    years = [
        (
            known[email],
            record.year,
            town_id,
            record.visit_days,
            record.check_ins,
            record.redemptions,
            record.votes,
            record.designated,
            record.category,
            ",".join(record.flags),
            json.dumps(record.evidence, ensure_ascii=False, sort_keys=True),
        )
        for email, result in results.items()
        for record in result.years
    ]
    addresses = {
        address: known[email] for email, result in sorted(results.items()) for address in sorted(result.addresses)
    }
    links = [(town_id, address, person_id) for address, person_id in addresses.items()]
    if postgres:
        _copy(session, "analytics_person_years", _YEAR_FIELDS, years)
        _copy(session, "rollup_addresses", ("municipality_id", "address", "person_id"), links)
        session.execute(
            text(
                "INSERT INTO analytics_person_addresses (municipality_id, address, person_id)"
                " SELECT municipality_id, address, person_id FROM rollup_addresses ON CONFLICT DO NOTHING"
            )
        )
    else:
        _many(session, _table(AnalyticsPersonYear).insert(), [dict(zip(_YEAR_FIELDS, y, strict=True)) for y in years])
        link_rows = [dict(zip(("municipality_id", "address", "person_id"), link, strict=True)) for link in links]
        _many(session, insert_for(session)(_table(AnalyticsPersonAddress)).on_conflict_do_nothing(), link_rows)
    return known


def _recompute(session: Session, town_id: int, emails: Iterable[str], year: int) -> int:
    """Recompute these people of the town and add the difference to its counts."""
    wanted = sorted({email for email in emails if not is_erased_email(email)})
    rule = town_rule(session, town_id)
    stored: dict[str, tuple[int, str]] = {}
    for part in chunks(wanted):
        rows = session.execute(
            select(AnalyticsPerson.id, AnalyticsPerson.email, AnalyticsPerson.contribution).where(
                AnalyticsPerson.municipality_id == town_id, among(session, AnalyticsPerson.email, part)
            )
        )
        stored.update({str(email): (int(person_id), contribution) for person_id, email, contribution in rows})
    facts = load_facts(session, town_id, wanted)
    delta: Counter[Cell] = Counter()
    results: dict[str, Computed] = {}
    for email in wanted:
        person = facts[email]
        if email not in stored and not person.orders:
            continue  # not a person of this town (yet)
        result = compute(person, rule, year)
        results[email] = result
        delta.update(result.contribution)
        if email in stored:
            delta.subtract(decode(json.loads(stored[email][1])))
    _store(session, town_id, results, {email: ids[0] for email, ids in stored.items()})
    _add_counts(session, town_id, {cell: value for cell, value in delta.items() if value})
    return len(results)


def _scan_cells(session: Session, town_id: int, scans: Iterable[tuple[int, str]] | None) -> Counter[Cell]:
    """Scan cells of (campaign id, day)s of the town, as `backend.sales.funnel` counts them
    (None: all of the town's), with an explicit 0 for each named cell that has none."""
    human_visitor = case((not_(CampaignScan.bot), CampaignScan.visitor))
    query = (
        select(
            Campaign.id,
            Campaign.code,
            CampaignScan.day,
            func.count(CampaignScan.id),
            func.count(distinct(human_visitor)),
            func.coalesce(func.sum(case((CampaignScan.bot, 1), else_=0)), 0),
        )
        .join(Campaign, Campaign.id == CampaignScan.campaign_id)
        .where(Campaign.municipality_id == town_id)
        .group_by(Campaign.id, Campaign.code, CampaignScan.day)
    )
    out: Counter[Cell] = Counter()
    named = sorted(set(scans)) if scans is not None else None
    if named is not None:
        days_of: dict[int, set[str]] = defaultdict(set)
        for campaign_id, day in named:
            days_of[campaign_id].add(day)
        listed = session.execute(select(Campaign.id, Campaign.code).where(Campaign.id.in_(list(days_of))))
        codes: dict[int, str] = {int(campaign_id): code for campaign_id, code in listed}
        for campaign_id, day in named:
            if campaign_id in codes:
                for metric in m.SCAN_METRICS:
                    out[(metric, codes[campaign_id], "", day)] = 0
        conditions = [and_(CampaignScan.campaign_id == c, CampaignScan.day.in_(sorted(d))) for c, d in days_of.items()]
        query = query.where(or_(*conditions))
    for _campaign_id, code, day, scans_n, unique_n, bots_n in session.execute(query):
        out[(m.SCANS, code, "", day)] = int(scans_n)
        out[(m.UNIQUE_SCANS, code, "", day)] = int(unique_n)
        out[(m.BOT_SCANS, code, "", day)] = int(bots_n or 0)
    return out


def _coarse_scan_cells(session: Session, town_id: int, days: Iterable[Cell]) -> Counter[Cell]:
    """The month and year scan cells over the day cells just set (`days`), summed again from
    the stored day cells of those campaigns and years: scans are set, not added, so their
    coarse cells are set too (one grouped read per campaign and year, at most 365 cells)."""
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)  # (code, year) -> months
    for _metric, code, _dim2, day in days:
        wanted[(code, day[:4])].add(day[:7])
    out: Counter[Cell] = Counter()
    for (code, year), months in sorted(wanted.items()):
        for metric in m.SCAN_METRICS:
            out[(m.yearly(metric), code, "", year)] = 0
            for month in months:
                out[(m.monthly(metric), code, "", month)] = 0
        month_of = func.substr(AnalyticsCount.day, 1, 7)
        rows = session.execute(
            select(AnalyticsCount.metric, month_of, func.sum(AnalyticsCount.value))
            .where(
                AnalyticsCount.municipality_id == town_id,
                AnalyticsCount.metric.in_(m.SCAN_METRICS),
                AnalyticsCount.dim1 == code,
                AnalyticsCount.dim2 == "",
                AnalyticsCount.day.between(f"{year}-01-01", f"{year}-12-31"),
            )
            .group_by(AnalyticsCount.metric, month_of)
        )
        for metric, month, value in rows:
            out[(m.yearly(metric), code, "", year)] += int(value)
            if month in months:
                out[(m.monthly(metric), code, "", month)] = int(value)
    return out


def _rebuild_in(session: Session, town_id: int, year: int) -> int:
    """Recompute every person of the town and replace its counts (inside the caller's
    transaction, which holds the rollup lock)."""
    rule = town_rule(session, town_id)
    ids: dict[str, int] = {}
    frozen: Counter[Cell] = Counter()
    rows = session.execute(
        select(AnalyticsPerson.id, AnalyticsPerson.email, AnalyticsPerson.contribution).where(
            AnalyticsPerson.municipality_id == town_id
        )
    )
    for person_id, email, contribution in rows:
        if email is None:  # erased: frozen
            frozen.update(decode(json.loads(contribution)))
        else:
            ids[email] = int(person_id)
    buyers = session.scalars(
        select(Order.email).join(Drop, Drop.id == Order.drop_id).where(Drop.municipality_id == town_id).distinct()
    )
    emails = sorted({email for email in buyers if not is_erased_email(email)} | set(ids))
    total: Counter[Cell] = Counter(frozen)
    moves = custodial_moves(session)
    for batch in chunks(emails, REBUILD_BATCH):
        facts = load_facts(session, town_id, batch, moves=moves)
        results = {email: compute(facts[email], rule, year) for email in batch if email in ids or facts[email].orders}
        for result in results.values():
            total.update(result.contribution)
        _store(session, town_id, results, ids)
    total.update(m.with_coarse(_scan_cells(session, town_id, None)))
    session.execute(delete(AnalyticsCount).where(AnalyticsCount.municipality_id == town_id))
    _add_counts(session, town_id, {cell: value for cell, value in total.items() if value}, fresh=True)
    return len(emails)


# ── the public entry points ─────────────────────────────────────────────────────────────


def process_changes(sessions: sessionmaker[Session], *, limit: int = 500) -> int:
    """Claim up to `limit` changes and `limit` new transfers and apply them, in one
    transaction (module docstring). Returns how many were applied (0: nothing to do)."""
    with sessions() as session:
        if not pending(session):
            return 0
        _lock(session)
        changes = list(session.scalars(select(AnalyticsChange).order_by(AnalyticsChange.id).limit(limit)))
        position = _transfer_position(session)
        transfers = list(
            session.scalars(
                select(TokenTransferRow)
                .where(TokenTransferRow.id > position)
                .order_by(TokenTransferRow.id)
                .limit(limit)
            )
        )
        if not changes and not transfers:
            session.rollback()
            return 0
        year = this_year()
        people: set[PersonKey] = set()
        addresses: dict[str, set[int | None]] = defaultdict(set)
        everyone: set[str] = set()
        scans: dict[int, set[tuple[int, str]]] = defaultdict(set)
        towns: set[int] = set()
        for change in changes:
            if change.kind == "email":
                if change.municipality_id is None:
                    everyone.add(change.key)
                else:
                    people.add((change.municipality_id, change.key))
            elif change.kind == "address":
                addresses[change.key.lower()].add(change.municipality_id)
            elif change.kind == "scan" and change.municipality_id is not None:
                campaign, _, day = change.key.partition(":")
                scans[change.municipality_id].add((int(campaign), day))
            elif change.kind == "town" and change.municipality_id is not None:
                towns.add(change.municipality_id)
        people |= _towns_of_emails(session, everyone)
        people |= _people_of_addresses(session, addresses)
        if transfers:
            people |= _people_of_transfers(session, transfers)
        for town_id in sorted(towns):
            _rebuild_in(session, town_id, year)
        by_town: dict[int, set[str]] = defaultdict(set)
        for town_id, email in people:
            if town_id not in towns:
                by_town[town_id].add(email)
        for town_id, emails in sorted(by_town.items()):
            _recompute(session, town_id, emails, year)
        for town_id, named in sorted(scans.items()):
            if town_id not in towns:
                days = _scan_cells(session, town_id, named)
                _add_counts(session, town_id, days, replace=True)
                _add_counts(session, town_id, _coarse_scan_cells(session, town_id, days), replace=True)
        for part in chunks([change.id for change in changes]):
            session.execute(delete(AnalyticsChange).where(among(session, AnalyticsChange.id, part)))
        if transfers:
            session.execute(
                update(AnalyticsCursor)
                .where(AnalyticsCursor.name == TRANSFERS_CURSOR)
                .values(position=max(int(t.id) for t in transfers))
            )
        session.commit()
        return len(changes) + len(transfers)


def catch_up(sessions: sessionmaker[Session], *, limit: int = 500) -> int:
    """Apply batches until nothing is left (tests, and the loop after a pause)."""
    total = 0
    while applied := process_changes(sessions, limit=limit):
        total += applied
    return total


def rebuild(sessions: sessionmaker[Session], municipality_id: int) -> int:
    """Recompute every person of the town from raw rows and replace the town's counts, in
    one transaction under the rollup lock; returns how many people were recomputed.

    Incremental batches wait for it (PostgreSQL) and then see its result, so the two never
    mix. On SQLite the transaction holds the database's one write lock throughout: keep it
    for small towns or quiet hours there."""
    with sessions() as session:
        _lock(session)
        count = _rebuild_in(session, municipality_id, this_year())
        session.commit()
    return count


class AnalyticsRollup:
    """`process_changes` about every second in a thread of each serving process: draining
    the queue while there is work, then waiting. Safe in every process at once (the lock);
    a failed round (database busy or away) is logged and retried next round."""

    def __init__(self, sessions: sessionmaker[Session], *, every: float = EVERY_SECONDS) -> None:
        self.sessions = sessions
        self.every = every

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                while not stop.is_set() and process_changes(self.sessions):
                    pass
            except Exception as exc:  # the database busy or away: next round
                log.warning("analytics rollup round failed: %s", first_line(exc))
            stop.wait(self.every)

    def start_thread(self) -> LoopThread:
        return start_loop(self.run, "analytics-rollup")
