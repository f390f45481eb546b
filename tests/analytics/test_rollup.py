"""The rollup turns raw rows into the catalogue's counts: hand-counted expectations for a small
town on SQLite and PostgreSQL, incremental processing equal to a rebuild after every event,
refunds and transfers after the first rollup, a town-wide change, frozen erased people."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.analytics import metrics as m
from backend.analytics.erasure import pseudonym
from backend.analytics.models import AnalyticsChange, AnalyticsPerson, AnalyticsPersonAddress, AnalyticsPersonYear
from backend.analytics.rollup import catch_up, process_changes, rebuild
from backend.core.db import utcnow
from backend.sales.models import Order
from tests.analytics.conftest import Counts, DropRow, HolderRow, OrderRow, World, address_of, at, counts_of


@dataclass
class Story:
    """The small town of these tests, its ids filled in as the steps run."""

    world: World
    town: int = 0
    d1: DropRow = field(default_factory=lambda: DropRow(0, 0, ""))
    d2: DropRow = field(default_factory=lambda: DropRow(0, 0, ""))
    ids: dict[str, Any] = field(default_factory=dict)

    def setup(self) -> None:
        w = self.world
        self.town = w.town("hoshi")
        self.d1, self.d2 = w.drop(self.town), w.drop(self.town)
        self.ids["campaign"] = w.campaign(self.d1, "POSTER1")
        for activity in ("leisure", "event", "volunteer", "work"):
            self.ids[activity] = w.spot(self.town, activity)
        self.ids["shop"] = w.shop(self.town)
        self.ids["benefit"] = w.benefit(self.ids["shop"])
        self.ids["poll"] = w.poll(self.town)
        self.ids["lot"] = w.lot(self.town)
        self.ids["alice"] = w.holder("alice@example.jp")
        self.ids["carol"] = w.holder("carol@example.jp")
        self.ids["w_a"] = address_of("alice-wallet")
        self.ids["w_b"] = address_of("bob-wallet")
        self.ids["x"] = address_of("stranger")

    @property
    def alice(self) -> HolderRow:
        holder: HolderRow = self.ids["alice"]
        return holder

    @property
    def carol(self) -> HolderRow:
        holder: HolderRow = self.ids["carol"]
        return holder

    def order(self, name: str) -> OrderRow:
        row: OrderRow = self.ids[name]
        return row

    def steps(self) -> list[Callable[[], None]]:
        """The town's history, one event (or two that belong together) a step."""
        w, s = self.world, self

        def alice_buys() -> None:
            o1 = w.order(
                s.d1, s.alice.email, quantity=2, campaign="POSTER1", recipient=s.alice.address, holder_id=s.alice.id
            )
            s.ids["o1"] = o1
            for token in o1.token_ids:
                w.mint(s.d1, token, s.alice.address)

        def alice_pending() -> None:
            s.ids["o2"] = w.order(
                s.d2, s.alice.email, status="pending_payment", recipient=s.alice.address, created=at("2026-04-10T01:00")
            )

        def bob_buys() -> None:
            o3 = w.order(
                s.d1,
                "bob@example.jp",
                prefecture="27",
                campaign="POSTER1",
                recipient=s.ids["w_b"],
                wallet=s.ids["w_b"],
                created=at("2026-03-02T20:00"),
            )
            s.ids["o3"] = o3
            w.mint(s.d1, o3.token_ids[0], s.ids["w_b"])

        def bob_refunded() -> None:
            o4 = w.order(
                s.d2,
                "bob@example.jp",
                prefecture="27",
                recipient=s.ids["w_b"],
                wallet=s.ids["w_b"],
                created=at("2026-05-01T01:00"),
            )
            s.ids["o4"] = o4
            w.mint(s.d2, o4.token_ids[0], s.ids["w_b"])
            w.set_status(o4, "refunded")

        def carol_buys() -> None:
            s.ids["o5"] = w.order(
                s.d2,
                s.carol.email,
                status="paid",
                prefecture="01",
                recipient=s.carol.address,
                holder_id=s.carol.id,
                created=at("2026-06-01T03:00"),
            )
            s.ids["o6"] = w.order(
                s.d1, s.carol.email, status="expired", prefecture="47", created=at("2026-06-01T04:00")
            )

        def dave_gives_up() -> None:
            w.order(s.d1, "Dave@Example.jp", status="expired", prefecture="14", created=at("2026-02-01T01:00"))

        def visits() -> None:
            w.check_in(s.ids["leisure"], "2026-03-01", s.alice.address, holder_id=s.alice.id)
            w.check_in(s.ids["event"], "2026-03-15", s.alice.address, holder_id=s.alice.id)
            w.check_in(s.ids["work"], "2025-11-20", s.ids["w_b"])

        def alice_moves_and_volunteers() -> None:
            w.transfer(s.d1, s.order("o1").token_ids[1], s.alice.address, s.ids["w_a"])
            w.check_in(s.ids["volunteer"], "2026-08-01", s.ids["w_a"])

        def benefits() -> None:
            w.redeem(s.ids["benefit"], s.d1, s.order("o1").token_ids[0], s.alice.address, at("2026-03-15T02:00"))
            w.redeem(s.ids["benefit"], s.d2, s.order("o5").token_ids[0], s.carol.address, at("2026-06-02T03:00"))

        def votes() -> None:
            poll = s.ids["poll"]
            w.elector(poll, s.d1, s.order("o1").token_ids[0], s.alice.address)
            w.elector(poll, s.d1, s.order("o3").token_ids[0], s.ids["w_b"])
            w.vote(poll, s.d1, s.order("o1").token_ids[0], at("2026-04-01T03:00"))
            w.vote(poll, s.d1, s.order("o3").token_ids[0], at("2026-04-02T03:00"))

        def bob_resells() -> None:
            w.transfer(s.d1, s.order("o3").token_ids[0], s.ids["w_b"], s.ids["x"])

        def carol_bids() -> None:
            w.bidder(s.ids["lot"], s.carol, at("2026-07-01T03:00"))

        def scans() -> None:
            for visitor, bot in (("v1", False), ("v1", False), ("v2", False), ("crawler", True)):
                w.scan(s.ids["campaign"], "2026-03-01", visitor, bot=bot)

        return [
            alice_buys,
            alice_pending,
            bob_buys,
            bob_refunded,
            carol_buys,
            dave_gives_up,
            visits,
            alice_moves_and_volunteers,
            benefits,
            votes,
            bob_resells,
            carol_bids,
            scans,
        ]

    def expected(self) -> Counts:
        """Every cell of the finished story, counted by hand from the Definitions."""
        d1, d2 = str(self.d1.id), str(self.d2.id)
        leisure, event, volunteer, work = (str(self.ids[a]) for a in ("leisure", "event", "volunteer", "work"))
        shop, benefit = str(self.ids["shop"]), str(self.ids["benefit"])
        poll, lot = str(self.ids["poll"][0]), str(self.ids["lot"])
        return {
            # alice holds t1 (custodial) and t2 (moved to her wallet); carol t5 (not minted yet)
            (m.RESIDENTS, "*", "13", ""): 1,
            (m.RESIDENTS, d1, "13", ""): 1,
            (m.RESIDENTS, "*", "01", ""): 1,
            (m.RESIDENTS, d2, "01", ""): 1,
            (m.CARDS, "*", "13", ""): 2,
            (m.CARDS, d1, "13", ""): 2,
            (m.CARDS, "*", "01", ""): 1,
            (m.CARDS, d2, "01", ""): 1,
            (m.NEW_RESIDENTS, "*", "POSTER1", "2026-03-01"): 1,
            (m.NEW_RESIDENTS, d1, "POSTER1", "2026-03-01"): 1,
            (m.NEW_RESIDENTS, "*", "", "2026-06-01"): 1,
            (m.NEW_RESIDENTS, d2, "", "2026-06-01"): 1,
            # the funnel by order (created day in Japan: bob's 20:00 UTC order is on the 3rd)
            (m.ORDERS, d1, "POSTER1", "2026-03-01"): 1,
            (m.PAID, d1, "POSTER1", "2026-03-01"): 1,
            (m.MINTED, d1, "POSTER1", "2026-03-01"): 1,
            (m.REVENUE_JPY, d1, "POSTER1", "2026-03-01"): 2000,
            (m.ORDERS, d2, "", "2026-04-10"): 1,
            (m.ORDERS, d1, "POSTER1", "2026-03-03"): 1,
            (m.PAID, d1, "POSTER1", "2026-03-03"): 1,
            (m.MINTED, d1, "POSTER1", "2026-03-03"): 1,
            (m.REVENUE_JPY, d1, "POSTER1", "2026-03-03"): 1000,
            (m.ORDERS, d2, "", "2026-05-01"): 1,
            (m.PAID, d2, "", "2026-05-01"): 1,
            (m.MINTED, d2, "", "2026-05-01"): 1,
            (m.REFUNDED, d2, "", "2026-05-01"): 1,
            (m.ORDERS, d2, "", "2026-06-01"): 1,
            (m.PAID, d2, "", "2026-06-01"): 1,
            (m.REVENUE_JPY, d2, "", "2026-06-01"): 1000,
            (m.ORDERS, d1, "", "2026-06-01"): 1,
            (m.ORDERS, d1, "", "2026-02-01"): 1,
            # card states
            (m.CARD_STATE, d1, m.STATE_FIRST_HOLDER, ""): 1,
            (m.CARD_STATE, d1, m.STATE_OWN_WALLET, ""): 1,
            (m.CARD_STATE, d1, m.STATE_TRANSFERRED, ""): 1,
            (m.CARD_STATE, d2, m.STATE_REVOKED, ""): 1,
            (m.CARD_STATE, d2, m.STATE_FIRST_HOLDER, ""): 1,
            # visits
            (m.CHECK_INS, leisure, "", "2026-03-01"): 1,
            (m.CHECK_INS, event, "", "2026-03-15"): 1,
            (m.CHECK_INS, volunteer, "", "2026-08-01"): 1,
            (m.CHECK_INS, work, "", "2025-11-20"): 1,
            (m.REDEMPTIONS, shop, benefit, "2026-03-15"): 1,
            (m.REDEMPTIONS, shop, benefit, "2026-06-02"): 1,
            (m.SPOT_VISITORS, leisure, "", "2026-03"): 1,
            (m.SPOT_VISITORS, event, "", "2026-03"): 1,
            (m.SPOT_VISITORS, volunteer, "", "2026-08"): 1,
            (m.SPOT_VISITORS, work, "", "2025-11"): 1,
            (m.SHOP_VISITORS, shop, "", "2026-03"): 1,
            (m.SHOP_VISITORS, shop, "", "2026-06"): 1,
            (m.VISITORS, "", "", "2026"): 2,
            (m.VISITORS, "", "", "2025"): 1,
            (m.VISITORS, "", "", ""): 3,
            (m.REPEAT_VISITORS, "", "", "2026"): 1,
            (m.REPEAT_VISITORS, "", "", ""): 1,
            (m.VISIT_DAYS, "2-7", "", "2026"): 1,
            (m.VISIT_DAYS, "1", "", "2026"): 1,
            (m.VISIT_DAYS, "1", "", "2025"): 1,
            (m.RESIDENTS_VISITED, "*", "", ""): 2,
            (m.RESIDENTS_VISITED, d1, "", ""): 1,
            (m.RESIDENTS_VISITED, d2, "", ""): 1,
            # categories: alice volunteers (direct), carol bid (direct), bob worked in 2025
            # and only bought and voted in 2026 (non-visiting)
            (m.CATEGORY, "direct", "13", "2026"): 1,
            (m.CATEGORY, "direct", "01", "2026"): 1,
            (m.CATEGORY, "work", "27", "2025"): 1,
            (m.CATEGORY, "non_visiting", "27", "2026"): 1,
            (m.CATEGORY_FLAG, "direct", "", "2026"): 2,
            (m.CATEGORY_FLAG, "participation", "", "2026"): 1,
            (m.CATEGORY_FLAG, "hobby", "", "2026"): 2,
            (m.CATEGORY_FLAG, "work", "", "2025"): 1,
            (m.CATEGORY_FLAG, "non_visiting", "", "2026"): 1,
            # alice: event + volunteer + vote = 3, the default threshold
            (m.PREMIUM_CANDIDATES, "", "", "2026"): 1,
            (m.POLL_VOTES, poll, "", ""): 2,
            (m.POLL_VOTERS, poll, "", ""): 2,
            (m.BIDDERS, lot, "", ""): 1,
            (m.SCANS, "POSTER1", "", "2026-03-01"): 4,
            (m.UNIQUE_SCANS, "POSTER1", "", "2026-03-01"): 2,
            (m.BOT_SCANS, "POSTER1", "", "2026-03-01"): 1,
        }


def told(story: Story) -> Story:
    story.setup()
    for step in story.steps():
        step()
    return story


#: The day metrics whose cells the rollup also writes by month ("@m") and year ("@y"),
#: spelt out here rather than taken from `metrics.DAY_METRICS`, so a metric dropped there shows.
COARSE = (
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


def with_months_and_years(cells: Counts) -> Counts:
    """Hand-counted day cells plus their month and year sums (a cell "orders" on 2026-03-01
    is also 1 in "orders@m" 2026-03 and "orders@y" 2026)."""
    out = dict(cells)
    for (metric, dim1, dim2, day), value in cells.items():
        if metric in COARSE and len(day) == 10:
            for name, label in ((f"{metric}@m", day[:7]), (f"{metric}@y", day[:4])):
                out[(name, dim1, dim2, label)] = out.get((name, dim1, dim2, label), 0) + value
    return out


def assert_counts(actual: Counts, expected: Counts) -> None:
    """Equal, with the differing cells named (a dict diff of 70 cells is unreadable). Expected
    day cells counted by hand get their month and year cells added here (unless `expected`
    is itself read from the table, coarse cells and all)."""
    if not any("@" in metric for metric, *_rest in expected):
        expected = with_months_and_years(expected)
    wrong = {
        cell: (actual.get(cell), expected.get(cell))
        for cell in sorted(set(actual) | set(expected))
        if actual.get(cell) != expected.get(cell)
    }
    assert not wrong, f"cells (actual, expected): {wrong}"


def test_counts_after_catch_up_are_the_hand_counted_ones(analytics_db: sessionmaker[Session]) -> None:
    story = told(Story(World(analytics_db)))
    assert catch_up(analytics_db) > 0
    assert_counts(counts_of(analytics_db, story.town), story.expected())
    with analytics_db() as session:
        assert session.scalar(select(func.count()).select_from(AnalyticsChange)) == 0
        people = {p.email: p for p in session.scalars(select(AnalyticsPerson))}
        years = {(y.person_id, y.year): y for y in session.scalars(select(AnalyticsPersonYear))}
        addresses = {(a.address, a.person_id) for a in session.scalars(select(AnalyticsPersonAddress))}
    assert set(people) == {"alice@example.jp", "bob@example.jp", "carol@example.jp", "dave@example.jp"}
    alice = people["alice@example.jp"]
    assert (alice.prefecture, alice.resident, alice.cards, alice.first_card_day) == ("13", True, 2, "2026-03-01")
    assert (people["bob@example.jp"].resident, people["bob@example.jp"].cards) == (False, 0)
    assert people["carol@example.jp"].prefecture == "01"  # her latest paid order, not the expired one
    assert people["dave@example.jp"].prefecture == "14"  # no paid order: the latest order's
    year = years[(alice.id, 2026)]
    assert (year.visit_days, year.check_ins, year.redemptions, year.votes, year.designated) == (3, 3, 1, 1, 3)
    assert (year.category, year.flags) == ("direct", "direct,participation,hobby")
    assert "→ 直接寄与型" in year.evidence
    assert (story.ids["w_a"].lower(), alice.id) in addresses  # the wallet she moved a card to


def test_incremental_after_every_event_equals_a_rebuild(analytics_db: sessionmaker[Session]) -> None:
    story = Story(World(analytics_db))
    story.setup()
    for number, step in enumerate(story.steps()):
        step()
        catch_up(analytics_db, limit=2)  # small batches: a step's changes span several
        incremental = counts_of(analytics_db, story.town)
        rebuild(analytics_db, story.town)
        assert_counts(counts_of(analytics_db, story.town), incremental)
        assert incremental, f"step {number} left no counts"
    assert_counts(counts_of(analytics_db, story.town), story.expected())


def test_a_refund_after_the_rollup_takes_the_cards_out(analytics_sqlite: sessionmaker[Session]) -> None:
    story = told(Story(World(analytics_sqlite)))
    catch_up(analytics_sqlite)
    story.world.set_status(story.order("o1"), "refunded")
    catch_up(analytics_sqlite)
    expected = story.expected()
    d1 = str(story.d1.id)
    for cell in (
        (m.RESIDENTS, "*", "13", ""),
        (m.RESIDENTS, d1, "13", ""),
        (m.CARDS, "*", "13", ""),
        (m.CARDS, d1, "13", ""),
        (m.NEW_RESIDENTS, "*", "POSTER1", "2026-03-01"),
        (m.NEW_RESIDENTS, d1, "POSTER1", "2026-03-01"),
        (m.CARD_STATE, d1, m.STATE_FIRST_HOLDER, ""),
        (m.CARD_STATE, d1, m.STATE_OWN_WALLET, ""),
        (m.REVENUE_JPY, d1, "POSTER1", "2026-03-01"),
        (m.RESIDENTS_VISITED, d1, "", ""),
    ):
        del expected[cell]
    expected[(m.CARD_STATE, d1, m.STATE_REVOKED, "")] = 2
    expected[(m.REFUNDED, d1, "POSTER1", "2026-03-01")] = 1
    expected[(m.RESIDENTS_VISITED, "*", "", "")] = 1
    assert_counts(counts_of(analytics_sqlite, story.town), expected)


def test_transfers_after_the_rollup_move_the_cards(analytics_db: sessionmaker[Session]) -> None:
    story = told(Story(World(analytics_db)))
    catch_up(analytics_db)
    w, token = story.world, story.order("o5").token_ids[0]
    wallet, buyer = address_of("carol-wallet"), address_of("someone-else")
    d2 = str(story.d2.id)
    w.mint(story.d2, token, story.carol.address)
    w.transfer(story.d2, token, story.carol.address, wallet)  # custodial → her own wallet
    catch_up(analytics_db)
    expected = story.expected()
    del expected[(m.CARD_STATE, d2, m.STATE_FIRST_HOLDER, "")]
    expected[(m.CARD_STATE, d2, m.STATE_OWN_WALLET, "")] = 1
    assert_counts(counts_of(analytics_db, story.town), expected)
    w.transfer(story.d2, token, wallet, buyer)  # sold on: no longer hers
    catch_up(analytics_db)
    for cell in (
        (m.RESIDENTS, "*", "01", ""),
        (m.RESIDENTS, d2, "01", ""),
        (m.CARDS, "*", "01", ""),
        (m.CARDS, d2, "01", ""),
        (m.NEW_RESIDENTS, "*", "", "2026-06-01"),
        (m.NEW_RESIDENTS, d2, "", "2026-06-01"),
        (m.RESIDENTS_VISITED, d2, "", ""),
        (m.CARD_STATE, d2, m.STATE_OWN_WALLET, ""),
    ):
        del expected[cell]
    expected[(m.CARD_STATE, d2, m.STATE_TRANSFERRED, "")] = 1
    expected[(m.RESIDENTS_VISITED, "*", "", "")] = 1
    assert_counts(counts_of(analytics_db, story.town), expected)


def test_a_town_change_recomputes_everyone_with_the_new_rule(analytics_sqlite: sessionmaker[Session]) -> None:
    story = told(Story(World(analytics_sqlite)))
    catch_up(analytics_sqlite)
    story.world.set_town(story.town, premium_threshold=1)
    assert catch_up(analytics_sqlite) == 1
    counts = counts_of(analytics_sqlite, story.town)
    # alice (3), bob (a vote in 2026, work in 2025) and carol (a lot) all reach 1
    assert counts[(m.PREMIUM_CANDIDATES, "", "", "2026")] == 3
    assert counts[(m.PREMIUM_CANDIDATES, "", "", "2025")] == 1


def test_an_erased_person_is_frozen(analytics_db: sessionmaker[Session]) -> None:
    story = told(Story(World(analytics_db)))
    catch_up(analytics_db)
    before = counts_of(analytics_db, story.town)
    with analytics_db() as session:  # what an erasure leaves (backend.analytics.erasure)
        person_id = session.scalar(select(AnalyticsPerson.id).where(AnalyticsPerson.email == "alice@example.jp"))
        session.execute(
            update(AnalyticsPerson)
            .where(AnalyticsPerson.id == person_id)
            .values(email=None, prefecture="", erased_at=utcnow())
        )
        session.execute(delete(AnalyticsPersonAddress).where(AnalyticsPersonAddress.person_id == person_id))
        for order in ("o1", "o2"):
            session.execute(
                update(Order)
                .where(Order.id == story.order(order).id)
                .values(email=pseudonym(), prefecture="", recipient=None, holder_id=None)
            )
        session.commit()
    # Her cards move and her old address checks in: nothing finds her, and a rebuild keeps
    # her stored contribution instead of recomputing her (nor counts her orders again).
    story.world.transfer(story.d1, story.order("o1").token_ids[0], story.alice.address, address_of("elsewhere"))
    story.world.check_in(story.ids["leisure"], "2026-10-01", story.alice.address)
    catch_up(analytics_db)
    assert_counts(counts_of(analytics_db, story.town), before)
    rebuild(analytics_db, story.town)
    assert_counts(counts_of(analytics_db, story.town), before)
    with analytics_db() as session:
        assert session.scalar(select(func.count()).select_from(AnalyticsPerson)) == 4


def test_a_rolled_back_change_never_appears(analytics_db: sessionmaker[Session]) -> None:
    story = told(Story(World(analytics_db)))
    catch_up(analytics_db)
    before = counts_of(analytics_db, story.town)
    from backend.analytics.changes import mark_email

    with analytics_db() as session:
        session.add(
            Order(
                id="ord_rolled_back",
                drop_id=story.d1.id,
                quantity=1,
                email="eve@example.jp",
                prefecture="40",
                payment_method="demo",
                status="paid",
                token_hash="0" * 64,
                amount_jpy=1000,
                expires_at=utcnow(),
                paid_at=utcnow(),
            )
        )
        session.flush()
        mark_email(session, "eve@example.jp", story.town)
        assert process_changes(analytics_db) == 0  # another connection: nothing committed yet
        session.rollback()
    assert catch_up(analytics_db) == 0
    assert counts_of(analytics_db, story.town) == before
    with analytics_db() as session:
        assert session.scalar(select(AnalyticsPerson.id).where(AnalyticsPerson.email == "eve@example.jp")) is None


@pytest.mark.parametrize("limit", [1, 500])
def test_changes_are_deleted_only_with_their_batch(analytics_sqlite: sessionmaker[Session], limit: int) -> None:
    story = told(Story(World(analytics_sqlite)))
    with analytics_sqlite() as session:
        queued = session.scalar(select(func.count()).select_from(AnalyticsChange)) or 0
    applied = process_changes(analytics_sqlite, limit=limit)
    with analytics_sqlite() as session:
        left = session.scalar(select(func.count()).select_from(AnalyticsChange)) or 0
    changes_applied = queued - left
    assert changes_applied == min(limit, queued)
    assert applied >= changes_applied  # plus the transfers read in the same batch
    catch_up(analytics_sqlite)
    assert_counts(counts_of(analytics_sqlite, story.town), story.expected())
