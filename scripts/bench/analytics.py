"""Relationship-population analytics benchmark (issue 13): the dashboard at national scale,
beside the same figures computed from the raw rows, and how fresh the rollup stays.

    .venv/bin/python scripts/bench/analytics.py [--orders 1000000] [--people 333000]
        [--visits 2000000] [--db postgres|sqlite|both] [--requests 50] [--raw-runs 3]
        [--intake-clients 16] [--probes 20] [--postgres-url postgresql://root@127.0.0.1:5432/postgres]

For each database (PostgreSQL first):

1. `furusato run` once on a fresh database (anvil, the demo town seeded), then stopped;
2. the synthetic history (`backend.analytics.synthetic`, bulk mode) written into the demo
   town: `--people` buyers (90 % walletless holders) with `--orders` orders in every status,
   `--visits` check-ins and benefit uses, over three years and all 47 prefectures and
   abroad, with refunds, moves to own wallets, resales, polls and bidders (timed);
3. `backend.analytics.rollup.rebuild` of the town (timed): every person recomputed;
4. `furusato run` again (its rollup loop running); each dashboard endpoint and the public
   statistics asked `--requests` times in a row by one client (p50/p95), beside
   `/api/v1/ping` on the same server (the no-op baseline), and beside the same figure
   computed by plain GROUP BY queries over the raw tables in this process (median of
   `--raw-runs`: a single raw run takes seconds at this size). The ratio is raw ÷ endpoint
   p95; the endpoint's time includes HTTP, the raw query's does not;
5. freshness under order intake: `--intake-clients` buyers order and demo-pay as fast as
   they can (intake.py's buyer); meanwhile `--probes` probe orders, one every half second,
   each waited for until the rollup has applied it (its person row exists and no change
   naming its e-mail is pending). Prints p50/p95/max of that delay.

Targets: every dashboard endpoint p95 ≤ 200 ms on PostgreSQL, ≥ 10× faster than the raw
query; the rollup current within 5 s of a new order under intake load.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from intake import buy
from load import Figures, drive, ping, postgres_database, running_server
from sqlalchemy import Engine, func, select, text

import backend.app  # noqa: F401  (every table's model)
from backend.analytics.models import AnalyticsChange, AnalyticsCursor, AnalyticsPerson
from backend.analytics.rollup import TRANSFERS_CURSOR, rebuild
from backend.analytics.synthetic import History, Scale, Totals, build_world
from backend.core.db import make_engine, make_session_factory, session_scope
from backend.towns.models import Municipality
from minting.store import TokenTransferRow, insert_for
from tests.factories import staff_headers

TOWN = "hoshikawa"
TARGET_P95_MS = 200.0
TARGET_RATIO = 10.0
TARGET_FRESH_S = 5.0
FIGURES = ("summary", "prefectures", "residents", "funnel", "visits", "participation", "staying", "categories")
DEMO_SUPPLY = 200_000


# ── the raw GROUP BYs: the same figures straight from the raw tables ────────


def _sql(dialect: str) -> dict[str, str]:
    """Japan day / year of a timestamp column, per database."""
    if dialect == "postgresql":
        return {
            "day": "to_char({} AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD')",
            "year": "to_char({} AT TIME ZONE 'Asia/Tokyo', 'YYYY')",
        }
    return {"day": "date({}, '+9 hours')", "year": "strftime('%Y', {}, '+9 hours')"}


HELD = """
FROM order_cards c JOIN orders o ON o.id = c.order_id JOIN drops d ON d.id = o.drop_id
LEFT JOIN token_owners t ON t.chain_id = d.chain_id AND t.contract = d.contract AND t.token_id = c.token_id
WHERE d.municipality_id = :town AND d.kind = 'resident_card' AND o.status IN ('paid', 'minting', 'minted')
  AND c.revoked_at IS NULL AND (t.owner IS NULL OR lower(t.owner) = lower(o.recipient))
"""


def raw_queries(dialect: str) -> dict[str, list[str]]:
    """Per endpoint, the plain GROUP BYs that give its main figures from raw rows (a
    simplification of the Definitions: cards held by their recipient, a person's prefecture
    of each order): what a dashboard without rollups would run per request."""
    f = _sql(dialect)
    day_paid, year_at = f["day"].format("o.paid_at"), f["year"]
    orders = (
        "SELECT o.drop_id, o.campaign_code, count(*), count(o.paid_at), count(o.minted_at),"
        " sum(CASE WHEN o.status = 'refunded' THEN 1 ELSE 0 END),"
        " sum(CASE WHEN o.paid_at IS NOT NULL AND o.status <> 'refunded' THEN o.amount_jpy ELSE 0 END)"
        " FROM orders o JOIN drops d ON d.id = o.drop_id WHERE d.municipality_id = :town"
        " GROUP BY o.drop_id, o.campaign_code"
    )
    visitors = (
        "SELECT y, count(DISTINCT a) FROM ("
        " SELECT substr(day, 1, 4) AS y, lower(address) AS a FROM check_ins WHERE municipality_id = :town"
        f" UNION ALL SELECT {year_at.format('redeemed_at')} AS y, lower(holder_address) AS a FROM redemptions"
        " WHERE municipality_id = :town) v GROUP BY y"
    )
    visit_days = (
        "SELECT y, CASE WHEN n = 1 THEN '1' WHEN n <= 7 THEN '2-7' ELSE '8+' END, count(*) FROM ("
        " SELECT y, a, count(DISTINCT d) AS n FROM ("
        " SELECT substr(day, 1, 4) AS y, lower(address) AS a, day AS d FROM check_ins WHERE municipality_id = :town"
        f" UNION ALL SELECT {year_at.format('redeemed_at')}, lower(holder_address),"
        f" {f['day'].format('redeemed_at')} FROM redemptions WHERE municipality_id = :town) v"
        " GROUP BY y, a) p GROUP BY 1, 2"
    )
    prefectures = f"SELECT o.prefecture, count(DISTINCT o.email), count(*) {HELD} GROUP BY o.prefecture"
    categories = (
        "SELECT substr(c.day, 1, 4), s.activity, count(DISTINCT lower(c.address)) FROM check_ins c"
        " JOIN spots s ON s.id = c.spot_id WHERE c.municipality_id = :town GROUP BY 1, 2"
    )
    return {
        "summary": [f"SELECT count(DISTINCT o.email), count(*) {HELD}", orders, visitors],
        "prefectures": [prefectures],
        "residents": [
            f"SELECT {f['day'].format('p.f')}, count(*) FROM (SELECT o.email, min(o.paid_at) AS f {HELD}"
            " GROUP BY o.email) p GROUP BY 1",
            f"SELECT o.drop_id, {day_paid}, count(DISTINCT o.email) {HELD} GROUP BY 1, 2",
        ],
        "funnel": [
            orders,
            "SELECT s.campaign_id, count(*), count(DISTINCT CASE WHEN NOT s.bot THEN s.day || s.visitor END),"
            " sum(CASE WHEN s.bot THEN 1 ELSE 0 END) FROM campaign_scans s JOIN campaigns c ON c.id = s.campaign_id"
            " WHERE c.municipality_id = :town GROUP BY s.campaign_id",
        ],
        "visits": [
            "SELECT spot_id, substr(day, 1, 7), count(*), count(DISTINCT lower(address)) FROM check_ins"
            " WHERE municipality_id = :town GROUP BY 1, 2",
            f"SELECT shop_id, benefit_id, substr({f['day'].format('redeemed_at')}, 1, 7), count(*),"
            " count(DISTINCT lower(holder_address)) FROM redemptions WHERE municipality_id = :town GROUP BY 1, 2, 3",
            visitors,
            visit_days,
        ],
        "participation": [
            "SELECT v.poll_id, count(*), count(DISTINCT e.address) FROM poll_votes v JOIN poll_electors e"
            " ON e.poll_id = v.poll_id AND e.chain_id = v.chain_id AND e.contract = v.contract"
            " AND e.token_id = v.token_id JOIN polls p ON p.id = v.poll_id WHERE p.municipality_id = :town"
            " GROUP BY v.poll_id",
            "SELECT b.lot_id, count(*) FROM lot_bidders b JOIN lots l ON l.id = b.lot_id"
            " WHERE l.municipality_id = :town GROUP BY b.lot_id",
        ],
        "staying": [
            "SELECT c.drop_id, CASE WHEN c.revoked_at IS NOT NULL OR o.status = 'refunded' THEN 'revoked'"
            " WHEN t.owner IS NULL OR lower(t.owner) = lower(o.recipient) THEN 'first_holder'"
            " WHEN lower(t.owner) = lower(o.wallet_address) THEN 'own_wallet' ELSE 'transferred' END, count(*)"
            " FROM order_cards c JOIN orders o ON o.id = c.order_id JOIN drops d ON d.id = o.drop_id"
            " LEFT JOIN token_owners t ON t.chain_id = d.chain_id AND t.contract = d.contract"
            " AND t.token_id = c.token_id WHERE d.municipality_id = :town AND d.kind = 'resident_card'"
            " AND o.paid_at IS NOT NULL GROUP BY 1, 2",
        ],
        "categories": [categories],
        "public stats": [prefectures, visit_days, categories],
    }


def time_raw(engine: Engine, town_id: int, statements: list[str], runs: int) -> float:
    """Median seconds of running all `statements` (fetching every row), over `runs`."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        with engine.connect() as connection:
            for statement in statements:
                connection.execute(text(statement), {"town": town_id}).all()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def skip_loaded_transfers(sessions: Any) -> None:
    """Move the rollup's transfers cursor past the bulk-loaded transfers: the rebuild has
    counted them (it reads every owner and transfer), as a deployment whose rollup ran while
    its indexer recorded them would have. Left at 0, the server's rollup loop would first
    re-read a million historical transfers, 500 a batch, and the freshness probes would
    measure that backlog instead of new orders."""
    with session_scope(sessions) as session:
        last = int(session.scalar(select(func.coalesce(func.max(TokenTransferRow.id), 0))) or 0)
        session.execute(
            insert_for(session)(AnalyticsCursor)
            .values(name=TRANSFERS_CURSOR, position=last)
            .on_conflict_do_update(index_elements=["name"], set_={"position": last})
        )


# ── the endpoints ───────────────────────────────────────────────────────────


def get(url: str, headers: dict[str, str]) -> Callable[[requests.Session, int], str]:
    def action(session: requests.Session, _index: int) -> str:
        response = session.get(url, headers=headers, timeout=120)
        return "ok" if response.status_code == 200 else str(response.status_code)

    return action


@dataclass
class Measured:
    name: str
    endpoint: Figures
    raw_seconds: float

    @property
    def p95(self) -> float:
        return self.endpoint.percentile(0.95)

    @property
    def ratio(self) -> float:
        return self.raw_seconds * 1000 / self.p95


# ── freshness ───────────────────────────────────────────────────────────────


def probe(url: str, sessions: Any, town_id: int, run_id: str, index: int, backlog: list[int]) -> float:
    """One order (created and demo-paid), then the seconds until the rollup shows it paid:
    the person's row exists and their stored contribution counts a paid order (the mint
    that follows is the mint pipeline's latency, not the rollup's). `backlog` gets the
    queue's length (changes not yet applied) each time it is looked at."""
    email = f"probe-{run_id}-{index}@example.jp"
    with requests.Session() as session:
        body: dict[str, Any] = {
            "drop_id": 1,
            "quantity": 1,
            "email": email,
            "prefecture": "13",
            "payment_method": "demo",
        }
        created = session.post(f"{url}/api/v1/orders", json=body, timeout=60)
        assert created.status_code == 201, created.text
        order = created.json()
        paid = session.post(
            f"{url}/api/v1/orders/{order['order_id']}/demo-pay",
            headers={"Authorization": f"Bearer {order['order_token']}"},
            timeout=60,
        )
        assert paid.status_code == 200, paid.text
    written = time.perf_counter()
    deadline = written + 120
    while time.perf_counter() < deadline:
        with sessions() as db:
            contribution = db.scalar(
                select(AnalyticsPerson.contribution).where(
                    AnalyticsPerson.municipality_id == town_id, AnalyticsPerson.email == email
                )
            )
            position = select(AnalyticsCursor.position).where(AnalyticsCursor.name == TRANSFERS_CURSOR)
            transfers = select(func.count()).where(TokenTransferRow.id > position.scalar_subquery())
            changes = select(func.count()).select_from(AnalyticsChange)
            backlog.append(int(db.scalar(changes) or 0) + int(db.scalar(transfers) or 0))
        if contribution is not None and '["paid",' in contribution:
            return time.perf_counter() - written
        time.sleep(0.05)  # polling the database for the rollup's commit: nothing to await
    raise SystemExit(f"the rollup did not apply {email} within 120 s")


def freshness(
    url: str, sessions: Any, town_id: int, args: argparse.Namespace
) -> tuple[list[float], Figures, list[int]]:
    """Probe delays while `--intake-clients` buyers order at full speed (intake.py's buyer)
    until the last probe is in; the intake's figures; the queue lengths seen."""
    accepted: list[dict[str, Any]] = []
    intake: dict[str, Figures] = {}
    run_id = uuid.uuid4().hex[:8]
    done = threading.Event()
    buyer = buy(url, accepted, run_id)

    def until_done(session: requests.Session, index: int) -> str:
        return "after the probes" if done.is_set() else buyer(session, index)

    def load() -> None:
        intake["figures"] = drive(args.intake_clients, 1_000_000, until_done)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    time.sleep(2.0)  # let the intake load reach its pace before the first probe
    delays: list[float] = []
    backlog: list[int] = []
    load_started = time.perf_counter()
    for index in range(args.probes):
        started = time.perf_counter()
        delays.append(probe(url, sessions, town_id, run_id, index, backlog))
        time.sleep(max(0.0, 0.5 - (time.perf_counter() - started)))  # pacing: a probe every 0.5 s at most
    intake_seconds = time.perf_counter() - load_started + 2.0
    done.set()
    thread.join()
    figures = intake["figures"]
    figures.seconds = intake_seconds  # the load's own span, not the drain of the idle calls after it
    return delays, figures, backlog


# ── one database ────────────────────────────────────────────────────────────


def run_one(name: str, database_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    env = {"FURUSATO_DEMO_SUPPLY": str(DEMO_SUPPLY)}
    with tempfile.TemporaryDirectory() as data_dir:
        url_of_db = database_url or f"sqlite:///{Path(data_dir) / 'furusato.db'}"
        with running_server(data_dir, database_url, env):
            pass  # migrated, contracts deployed, demo town seeded
        engine = make_engine(url_of_db)
        sessions = make_session_factory(engine)
        with sessions() as session:
            town_id = session.scalar(select(Municipality.id).where(Municipality.slug == TOWN))
        assert town_id is not None
        world = build_world(sessions, town_id=town_id, seed=13)
        scale = Scale(people=args.people, orders=args.orders, visits=args.visits)
        history = History(sessions, world, scale, seed=13)
        started = time.perf_counter()

        def progress(done: int, totals: Totals) -> None:
            rows = sum(totals.rows.values())
            print(f"  {name}: {done:,} people, {rows:,} rows, {time.perf_counter() - started:.0f} s", flush=True)

        totals = history.write_all(engine, chunk=10_000, progress=progress)
        generated = time.perf_counter() - started
        rows = sum(totals.rows.values())
        print(
            f"{name:<10} generated {rows:,} rows in {generated:.0f} s (plan {totals.plan_seconds:.0f} s,"
            f" database {totals.write_seconds:.0f} s): {totals.rows}",
            flush=True,
        )
        started = time.perf_counter()
        people = rebuild(sessions, town_id)
        rebuilt = time.perf_counter() - started
        print(f"{name:<10} rebuild: {people:,} people in {rebuilt:.1f} s", flush=True)
        skip_loaded_transfers(sessions)
        headers = staff_headers(sessions, TOWN, "analyst")
        queries = raw_queries(engine.dialect.name)
        results: list[Measured] = []
        with running_server(data_dir, database_url, env) as url:
            drive(1, 50, ping(url))  # warm-up
            baseline = drive(1, args.requests, ping(url))
            print(
                f"{name:<10} no-op ping: p50 {baseline.percentile(0.5):.1f} ms  p95 {baseline.percentile(0.95):.1f} ms"
            )
            paths = {figure: f"{url}/api/v1/staff/towns/{TOWN}/analytics/{figure}" for figure in FIGURES}
            paths["public stats"] = f"{url}/api/v1/towns/{TOWN}/stats"
            for figure, path in paths.items():
                drive(1, 3, get(path, headers))  # warm-up
                measured = drive(1, args.requests, get(path, headers))
                assert set(measured.outcomes) == {"ok"}, (figure, measured.outcomes)
                raw = time_raw(engine, town_id, queries[figure], args.raw_runs) if args.raw_runs else float("nan")
                result = Measured(figure, measured, raw)
                results.append(result)
                print(
                    f"{name:<10} {figure:<14} p50 {measured.percentile(0.5):7.1f} ms  p95 {result.p95:7.1f} ms"
                    f" | raw GROUP BY {raw * 1000:9.1f} ms | ratio {result.ratio:7.1f}×",
                    flush=True,
                )
            delays, intake, backlog = freshness(url, sessions, town_id, args)
        ordered = sorted(delays)
        fresh_p50 = statistics.median(ordered)
        fresh_p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        accepted = intake.outcomes.get("accepted", 0)
        print(
            f"{name:<10} freshness under intake ({accepted:,} orders accepted,"
            f" {accepted / intake.seconds:.1f} orders/s by {args.intake_clients} clients):"
            f" p50 {fresh_p50:.2f} s  p95 {fresh_p95:.2f} s  max {ordered[-1]:.2f} s over {len(ordered)} probes;"
            f" changes and transfers waiting: max {max(backlog, default=0)},"
            f" median {statistics.median(backlog or [0]):.0f}",
            flush=True,
        )
        engine.dispose()
    dashboard = [r for r in results if r.name in FIGURES]
    worst_p95 = max(r.p95 for r in dashboard)
    worst_ratio = min(r.ratio for r in dashboard)
    verdict = (
        f"worst dashboard p95 {worst_p95:.1f} ms (target ≤ {TARGET_P95_MS:.0f}),"
        f" lowest ratio {worst_ratio:.1f}× (target ≥ {TARGET_RATIO:.0f}),"
        f" freshness p95 {fresh_p95:.2f} s (target ≤ {TARGET_FRESH_S:.0f})"
    )
    print(f"{name:<10} {verdict}", flush=True)
    return {"p95": worst_p95, "ratio": worst_ratio, "fresh_p95": fresh_p95}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=333_000, help="buyers; 90 %% of them walletless holders")
    parser.add_argument("--visits", type=int, default=2_000_000, help="check-ins and benefit uses")
    parser.add_argument("--db", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--raw-runs", type=int, default=3, help="0: skip the raw GROUP BYs")
    parser.add_argument("--intake-clients", type=int, default=16)
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()
    print(f"{args.orders:,} orders, {args.people:,} people, {args.visits:,} visits", flush=True)
    if args.db in ("postgres", "both"):
        url, drop = postgres_database(args.postgres_url)
        try:
            run_one("PostgreSQL", url, args)
        finally:
            drop()
    if args.db in ("sqlite", "both"):
        run_one("SQLite", None, args)


if __name__ == "__main__":
    main()
