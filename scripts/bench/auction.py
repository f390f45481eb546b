"""Live auction benchmark: 1,000 watchers on one lot's stream while 50 bidders bid flat out.

    .venv/bin/python scripts/bench/auction.py [--watchers 1000] [--bidders 50] [--seconds 60]
        [--watcher-processes 2] [--database sqlite|postgresql] [--postgres-url postgresql://…]

Starts `furusato run` (anvil, a throw-away data directory), then writes straight into its
database a park and a lot of the demo town whose auction is open (reserve ¥1,000, a fixed
step of ¥1, so prices stay in range however many bids are taken) and `--bidders` holders
registered for it, each with a session token. Then:

- `--watchers` clients (spread over `--watcher-processes` processes, asyncio + aiohttp) open
  `GET /api/v1/lots/{id}/events` and wait for the first event;
- `/api/v1/ping` (a no-op) is timed for a few seconds with nobody bidding, the idle baseline;
- `--bidders` clients bid as fast as they can for `--seconds`: each bids the minimum it last
  heard of plus a few yen, learns the new minimum from every answer (201, or 409 `bid_too_low`
  with `minimum_bid_jpy`) and bids again at once; on a 429 it waits the `Retry-After` the
  per-holder limit gives. Meanwhile a pinger times `/api/v1/ping` (the loaded baseline).

Every watcher notes the time of each event and the bid count and newest bid it carries. From
bid accepted (the bidder has its 201) to a watcher seeing it (the first event of that watcher
whose bid count reaches it) gives one latency per (bid, watcher); the script prints p50/p99
of those, and of the slowest watcher per bid ("every watcher has it"). Checks: each watcher's
bid counts only rise; the newest bid of every event is the one accepted under that number, at
that amount; every watcher ends on the last bid; after the close the published bid log holds
exactly the accepted bids, in order, and its hash chain verifies. Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import random
import re
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import requests
from sqlalchemy import func, select

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from load import postgres_database, running_server  # noqa: E402

import backend.app  # noqa: E402, F401  (every table's model)
from backend.core.bearer import hash_secret  # noqa: E402
from backend.core.db import make_engine, make_session_factory, session_scope  # noqa: E402
from backend.holders.models import Holder, SignInToken  # noqa: E402
from backend.naming import bid_log  # noqa: E402
from backend.naming.models import Lot, LotBidder, Park  # noqa: E402
from backend.towns.models import Municipality  # noqa: E402

BID_COUNT = re.compile(rb'"bid_count":(\d+)')
NEWEST_BID = re.compile(rb'"bids":\[\{"seq":(\d+),"amount_jpy":(\d+)')
#: Seconds after the bidding stops that the auction ends (the bid log is read after it).
CLOSE_MARGIN = 5


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def ms(values: list[float], fraction: float) -> str:
    """The `fraction` percentile of `values` (seconds) in milliseconds."""
    return f"{percentile(values, fraction) * 1000:.1f} ms"


# ── set-up, straight in the server's database ─────────────────────────────────


def make_auction(database_url: str, bidders: int, ends_in: float) -> tuple[int, list[str]]:
    """A park and an open lot of the demo town, and `bidders` registered holders with a
    session token each: (lot id, tokens)."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    tokens = [secrets.token_urlsafe(32) for _ in range(bidders)]
    with session_scope(sessions) as session:
        town = session.scalar(select(Municipality).where(Municipality.slug == "hoshikawa"))
        assert town is not None, "no demo town"
        park = Park(municipality_id=town.id, name_ja="ベンチマーク公園", name_en="Benchmark Park")
        session.add(park)
        session.flush()
        lot = Lot(
            park_id=park.id,
            municipality_id=town.id,
            term_start=now + timedelta(days=30),
            term_end=now + timedelta(days=3 * 365),
            auction_start=now - timedelta(minutes=1),
            auction_end=now + timedelta(seconds=ends_in),
            ends_at=now + timedelta(seconds=ends_in),
            reserve_jpy=1_000,
            min_increment_jpy=1,
            soft_close_seconds=1,
            extension_seconds=1,
            chain_id=31337,
            contract="0x" + "be" * 20,
            chain_state="ready",
            chain_lot_id=1,
        )
        session.add(lot)
        session.flush()
        for number, token in enumerate(tokens, start=1):
            holder = Holder(
                email=f"bench-{uuid.uuid4().hex[:8]}-{number}@example.jp",
                address="0x" + secrets.token_hex(20),
                encrypted_key=b"",
                key_id="bench",
            )
            session.add(holder)
            session.flush()
            session.add(
                SignInToken(
                    token_hash=hash_secret(token),
                    holder_id=holder.id,
                    kind="session",
                    expires_at=now + timedelta(days=1),
                    created_at=now,
                )
            )
            session.add(
                LotBidder(
                    lot_id=lot.id,
                    holder_id=holder.id,
                    number=number,
                    prefecture=f"{number % 47 + 1:02d}",
                    payment_method="demo",
                    payment_state="ready",
                )
            )
        lot_id = lot.id
    engine.dispose()
    return lot_id, tokens


def lot_ends_at(database_url: str, lot_id: int) -> float:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            ends_at = session.scalar(select(Lot.ends_at).where(Lot.id == lot_id))
            assert ends_at is not None
            return (ends_at if ends_at.tzinfo else ends_at.replace(tzinfo=UTC)).timestamp()
    finally:
        engine.dispose()


def close_now(database_url: str, lot_id: int) -> None:
    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            lot = session.get(Lot, lot_id)
            assert lot is not None
            lot.ends_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    finally:
        engine.dispose()


def bidder_count(database_url: str, lot_id: int) -> int:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return int(session.scalar(select(func.count()).where(LotBidder.lot_id == lot_id)) or 0)
    finally:
        engine.dispose()


# ── watchers (child processes) ────────────────────────────────────────────────

#: One event as a watcher saw it: (time, bid count, newest bid's seq, its amount).
Seen = tuple[float, int, int, int]


async def _watch(session: aiohttp.ClientSession, url: str, ready: asyncio.Event, seen: list[Seen]) -> None:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_read=60)) as response:
        assert response.status == 200, response.status
        async for line in response.content:
            if not line.startswith(b"data:"):
                continue
            now = time.time()
            count = int(BID_COUNT.search(line).group(1))  # type: ignore[union-attr]
            newest = NEWEST_BID.search(line)
            seq, amount = (int(newest.group(1)), int(newest.group(2))) if newest else (0, 0)
            seen.append((now, count, seq, amount))
            ready.set()


def watcher_process(url: str, watchers: int, started: Any, stop: Any, results: Any) -> None:
    """`watchers` streams in this process: report when all have their first event, run until
    told to stop, then hand back what each saw."""

    lags: list[float] = []

    async def main() -> list[list[Seen]]:
        seen: list[list[Seen]] = [[] for _ in range(watchers)]
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            readies = [asyncio.Event() for _ in range(watchers)]
            tasks = []
            for index in range(watchers):
                tasks.append(asyncio.create_task(_watch(session, url, readies[index], seen[index])))
                if index % 50 == 49:
                    await asyncio.sleep(0.05)  # connect in waves, not 1,000 SYNs at once
            await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 120)
            started.release()
            while not stop.is_set():
                # How late this process's own loop wakes: a watcher notes an event no sooner.
                asked = time.perf_counter()
                await asyncio.sleep(0.05)
                lags.append(time.perf_counter() - asked - 0.05)
                failed = [task for task in tasks if task.done()]
                if failed:
                    raise SystemExit(f"{len(failed)} watcher(s) lost their stream: {failed[0].exception()!r}")
            for task in tasks:
                task.cancel()
        return seen

    seen = asyncio.run(main())
    results.put((seen, lags))


# ── bidders and the pinger (this process) ─────────────────────────────────────


@dataclass
class Bidding:
    accepted: dict[int, tuple[int, float, float]] = field(default_factory=dict)  # seq → (amount, sent, answered)
    outcomes: dict[str, int] = field(default_factory=dict)
    bid_latency: list[float] = field(default_factory=list)
    minimum: int = 1_000

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


async def bidder(
    session: aiohttp.ClientSession, url: str, token: str, until: float, state: Bidding, rng: random.Random
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while time.time() < until:
        amount = state.minimum + rng.randint(0, 3)
        sent = time.time()
        async with session.post(
            url, json={"amount_jpy": amount}, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
        ) as response:
            body = await response.json()
            answered = time.time()
        state.bid_latency.append(answered - sent)
        if response.status == 201:
            state.count("201")
            bid = body["bid"]
            if bid["seq"] in state.accepted:
                raise SystemExit(f"seq {bid['seq']} accepted twice")
            state.accepted[bid["seq"]] = (bid["amount_jpy"], sent, answered)
            state.minimum = max(state.minimum, body["lot"]["minimum_bid_jpy"])
        elif response.status == 409 and body["error"]["code"] == "bid_too_low":
            state.count("409 bid_too_low")
            state.minimum = max(state.minimum, body["error"]["minimum_bid_jpy"])
        elif response.status == 429:
            state.count("429")
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        else:
            state.count(f"{response.status} {body.get('error', {}).get('code')}")


async def pinger(session: aiohttp.ClientSession, url: str, until: Callable[[], bool], every: float) -> list[float]:
    latencies = []
    while not until():
        started = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
            assert response.status == 200
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(every)
    return latencies


async def bid_for(url: str, lot_id: int, tokens: list[str], seconds: float) -> tuple[Bidding, list[float], list[float]]:
    state = Bidding()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        idle_until = time.time() + 3
        idle = await pinger(session, f"{url}/api/v1/ping", lambda: time.time() >= idle_until, 0.02)
        until = time.time() + seconds
        bids_url = f"{url}/api/v1/lots/{lot_id}/bids"
        loaded_task = asyncio.create_task(pinger(session, f"{url}/api/v1/ping", lambda: time.time() >= until, 0.05))
        await asyncio.gather(
            *(bidder(session, bids_url, token, until, state, random.Random(n)) for n, token in enumerate(tokens))
        )
        loaded = await loaded_task
    return state, idle, loaded


# ── the run ───────────────────────────────────────────────────────────────────


def check(
    state: Bidding, watched: list[list[Seen]], log: dict[str, Any], lot_id: int
) -> tuple[list[str], list[float], list[float]]:
    """Problems found, per-(bid, watcher) latencies and per-bid slowest-watcher latencies (s)."""
    problems: list[str] = []
    accepted = state.accepted
    last = max(accepted, default=0)
    if sorted(accepted) != list(range(1, last + 1)):
        problems.append(f"accepted seqs are not 1…{last}: {len(accepted)} of them")
    amounts = [accepted[seq][0] for seq in sorted(accepted)]
    if any(b <= a for a, b in itertools.pairwise(amounts)):
        problems.append("accepted amounts do not rise with seq")
    pairs: list[float] = []
    slowest: dict[int, float] = {}
    for index, seen in enumerate(watched):
        counts = [count for _t, count, _s, _a in seen]
        if any(b <= a for a, b in itertools.pairwise(counts)):
            problems.append(f"watcher {index}: bid counts went back or repeated")
        if not counts or counts[-1] != last:
            problems.append(f"watcher {index}: ended on bid {counts[-1] if counts else None}, not {last}")
        for _t, count, seq, amount in seen:
            if count and (seq != count or accepted.get(seq, (None,))[0] != amount):
                problems.append(f"watcher {index}: event of bid {count} shows bid {seq} at ¥{amount}")
                break
        # The first event of this watcher that reaches each seq.
        position = 0
        for seq in range(1, last + 1):
            while position < len(seen) and seen[position][1] < seq:
                position += 1
            if position == len(seen):
                break
            latency = seen[position][0] - accepted[seq][2]
            pairs.append(latency)
            slowest[seq] = max(slowest.get(seq, latency), latency)
    entries = [bid_log.LogEntry.model_validate(entry) for entry in log["entries"]]
    if [(e.seq, e.amount_jpy) for e in entries] != [(seq, accepted[seq][0]) for seq in sorted(accepted)]:
        problems.append(f"the bid log ({len(entries)} entries) is not the {len(accepted)} accepted bids")
    broken = bid_log.verify(lot_id, log["head"], entries)
    if broken:
        problems.append(f"the bid log's chain is broken: {broken[:3]}")
    return problems, pairs, list(slowest.values())


def run(args: argparse.Namespace, database_url: str | None) -> bool:
    with tempfile.TemporaryDirectory() as data_dir, running_server(data_dir, database_url) as url:
        db_url = database_url or f"sqlite:///{data_dir}/furusato.db"
        setup_seconds = 180.0  # the watchers connect within it; the lot ends after the bidding
        lot_id, tokens = make_auction(db_url, args.bidders, setup_seconds + args.seconds)
        assert bidder_count(db_url, lot_id) == args.bidders
        events_url = f"{url}/api/v1/lots/{lot_id}/events"
        context = multiprocessing.get_context("fork")
        started, stop, results = context.Semaphore(0), context.Event(), context.Queue()
        share = [args.watchers // args.watcher_processes] * args.watcher_processes
        share[0] += args.watchers - sum(share)
        processes = [
            context.Process(target=watcher_process, args=(events_url, n, started, stop, results)) for n in share
        ]
        for process in processes:
            process.start()
        connect_started = time.monotonic()
        for _ in processes:
            if not started.acquire(timeout=150):
                raise SystemExit("the watchers did not all connect")
        print(
            f"{args.watchers:,} watchers connected in {time.monotonic() - connect_started:.1f} s; "
            f"{args.bidders} bidders bid for {args.seconds:.0f} s",
            flush=True,
        )
        state, idle, loaded = asyncio.run(bid_for(url, lot_id, tokens, args.seconds))
        time.sleep(3)  # let the last events arrive (the check says if one did not)
        stop.set()
        watched, lags = [], []
        for _ in processes:
            seen, lag = results.get(timeout=120)
            watched += seen
            lags += lag
        for process in processes:
            process.join(30)
        # Close the auction now rather than wait for its end, then read the published log.
        ends = lot_ends_at(db_url, lot_id)
        assert ends > time.time(), "the auction ended during the run"
        close_now(db_url, lot_id)
        log = requests.get(f"{url}/api/v1/lots/{lot_id}/bid-log", timeout=60).json()

    problems, pairs, slowest = check(state, watched, log, lot_id)
    accepted = len(state.accepted)
    events = sum(len(seen) for seen in watched) / max(1, len(watched))
    print(
        f"bids: {accepted:,} accepted in {args.seconds:.0f} s = {accepted / args.seconds:,.1f}/s "
        f"({dict(sorted(state.outcomes.items()))}); bid answer p50 {ms(state.bid_latency, 0.5)} "
        f"p99 {ms(state.bid_latency, 0.99)}"
    )
    print(
        f"bid accepted → a watcher sees it: p50 {ms(pairs, 0.5)}, p99 {ms(pairs, 0.99)} "
        f"over {len(pairs):,} (bid, watcher) pairs; → every watcher has it: p50 {ms(slowest, 0.5)}, "
        f"p99 {ms(slowest, 0.99)}"
    )
    print(f"events per watcher: {events:,.0f} for {accepted:,} bids (a slow reader skips to the newest lot)")
    print(
        f"watcher processes' own event-loop lag (part of every latency above): p50 {ms(lags, 0.5)}, "
        f"p99 {ms(lags, 0.99)}"
    )
    print(
        f"no-op /api/v1/ping: idle p50 {ms(idle, 0.5)} p99 {ms(idle, 0.99)}; "
        f"during the bidding p50 {ms(loaded, 0.5)} p99 {ms(loaded, 0.99)} "
        f"({len(loaded)} calls)"
    )
    print(f"checks: {'all passed' if not problems else '; '.join(problems[:10])}", flush=True)
    target = percentile(slowest, 0.99) <= 0.5
    print(f"target p99 (every watcher) ≤ 500 ms: {'met' if target else 'NOT met'}")
    return not problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", type=int, default=1_000)
    parser.add_argument("--bidders", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--watcher-processes", type=int, default=2)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(f"auction benchmark on {args.database}, {os.cpu_count()} CPUs", flush=True)
    if args.database == "sqlite":
        passed = run(args, None)
    else:
        url, drop = postgres_database(args.postgres_url)
        try:
            passed = run(args, url)
        finally:
            drop()
    raise SystemExit(0 if passed else 1)


if __name__ == "__main__":
    main()
