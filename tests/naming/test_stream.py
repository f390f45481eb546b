"""The lot's live stream (SSE) through a real server: a watcher gets the lot on connect and
every change without reloading: a bid made by another request (poked at once), a bid made by
another process on the same database (found by polling), the status moving with the clock;
many watchers share one broadcaster, which stops when the last leaves; keep-alives; the
stream's end; a slow watcher only ever holds the newest event."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import create_app
from backend.core.config import Settings
from backend.naming.stream import LotStreams, Watcher
from tests.conftest import REPO_ROOT
from tests.naming.auction_world import Event, LiveServer, add_bidder, add_lot, aiter_events

pytestmark = pytest.mark.chain

WAIT = 15.0  # the longest any expected event may take (a poll is 0.1 s)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    app = create_app(Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("stream") / "data"))
    with LiveServer(app) as live:
        yield live


def _streams(server: LiveServer, **options: Any) -> LotStreams:
    """A fresh `LotStreams` for the app (the previous test's watchers are gone)."""
    streams = LotStreams(server.runtime.sessions, **options)
    server.app.state.lot_streams = streams
    return streams


def _lot(event: Event) -> dict[str, Any]:
    assert event.name == "lot"
    lot: dict[str, Any] = json.loads(event.data)
    assert event.id == str(lot["bid_count"])
    return lot


async def _until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def _watch(
    http: httpx.AsyncClient, lot_id: int, comments: list[str] | None = None
) -> AsyncIterator[AsyncIterator[Event]]:
    async with http.stream("GET", f"/api/v1/lots/{lot_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        yield aiter_events(response.aiter_lines(), comments)


async def _next(events: AsyncIterator[Event]) -> dict[str, Any]:
    return _lot(await asyncio.wait_for(anext(events), WAIT))


def test_a_watcher_sees_a_bid_of_another_request_without_reloading(server: LiveServer) -> None:
    streams = _streams(server)
    lot_id = add_lot(server.runtime.sessions, int(time.time()) - 60)
    bidder = add_bidder(server.runtime, lot_id)

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http, _watch(http, lot_id) as events:
            first = await _next(events)
            assert (first["id"], first["status"], first["bid_count"], first["bids"]) == (lot_id, "open", 0, [])
            placed = await http.post(
                f"/api/v1/lots/{lot_id}/bids", json={"amount_jpy": 1_000}, headers=bidder.bid_headers()
            )
            assert placed.status_code == 201
            seen = await _next(events)
            assert seen["bid_count"] == 1
            assert seen["bids"][0] | {"at": None} == {
                "seq": 1,
                "amount_jpy": 1_000,
                "bidder": "入札者 1",
                "bidder_number": 1,
                "at": None,
            }
            assert seen["minimum_bid_jpy"] == placed.json()["lot"]["minimum_bid_jpy"] == 2_000
            assert len(streams.broadcasters) == 1

    asyncio.run(scenario())


BID_FROM_ANOTHER_PROCESS = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import backend.app  # every table's model, as in a server process
    from backend.core.db import make_engine, make_session_factory
    from backend.naming.bids import place_bid
    url, lot_id, holder_id, amount = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    sessions = make_session_factory(make_engine(url))
    print(place_bid(sessions, lot_id, holder_id, amount, "other-process", int(time.time())).seq)
    """
)


def _bid_from_another_process(database_url: str, lot_id: int, holder_id: int, amount: int) -> int:
    arguments = [str(REPO_ROOT), database_url, str(lot_id), str(holder_id), str(amount)]
    done = subprocess.run(
        [sys.executable, "-c", BID_FROM_ANOTHER_PROCESS, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def _sees_other_process(server: LiveServer) -> None:
    streams = _streams(server)
    lot_id = add_lot(server.runtime.sessions, int(time.time()) - 60)
    bidder = add_bidder(server.runtime, lot_id)
    database_url = server.runtime.settings.database_url

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http, _watch(http, lot_id) as events:
            assert (await _next(events))["bid_count"] == 0
            seq = await asyncio.to_thread(_bid_from_another_process, database_url, lot_id, bidder.holder_id, 5_000)
            assert seq == 1
            seen = await _next(events)  # nobody poked this process: its poll found the bid
            assert (seen["bid_count"], seen["highest_bid_jpy"], seen["bids"][0]["amount_jpy"]) == (1, 5_000, 5_000)
            assert streams.watching == 1

    asyncio.run(scenario())


def test_a_watcher_sees_a_bid_of_another_process_on_sqlite(server: LiveServer) -> None:
    _sees_other_process(server)


@pytest.mark.postgres
def test_a_watcher_sees_a_bid_of_another_process_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    app = create_app(Settings(chain="eth-tester://", data_dir=tmp_path / "data", database_url=postgres_url))
    with LiveServer(app) as live:
        _sees_other_process(live)


def test_many_watchers_share_one_broadcaster_which_stops_with_the_last(server: LiveServer) -> None:
    streams = _streams(server)
    lot_id = add_lot(server.runtime.sessions, int(time.time()) - 60)
    bidder = add_bidder(server.runtime, lot_id)
    watchers = 100

    async def watcher(http: httpx.AsyncClient, ready: asyncio.Barrier) -> dict[str, Any]:
        async with _watch(http, lot_id) as events:
            assert (await _next(events))["bid_count"] == 0
            await ready.wait()
            return await _next(events)

    async def scenario() -> None:
        limits = httpx.Limits(max_connections=watchers + 5)
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT, limits=limits) as http:
            ready = asyncio.Barrier(watchers + 1)
            tasks = [asyncio.create_task(watcher(http, ready)) for _ in range(watchers)]
            await asyncio.wait_for(ready.wait(), WAIT)
            assert (streams.watching, list(streams.broadcasters)) == (watchers, [lot_id])
            placed = await http.post(
                f"/api/v1/lots/{lot_id}/bids", json={"amount_jpy": 3_000}, headers=bidder.bid_headers()
            )
            assert placed.status_code == 201
            seen = await asyncio.gather(*tasks)
            assert {(lot["bid_count"], lot["highest_bid_jpy"]) for lot in seen} == {(1, 3_000)}
        await _until(lambda: streams.watching == 0 and streams.broadcasters == {})

    asyncio.run(scenario())


def test_the_status_moves_with_the_clock_without_a_bid(server: LiveServer) -> None:
    _streams(server)
    now = int(time.time())
    lot_id = add_lot(server.runtime.sessions, now - 3_600 + 2)  # ends in 2 s

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http, _watch(http, lot_id) as events:
            assert (await _next(events))["status"] == "open"
            ended = await _next(events)
            assert ended["status"] == "ended"
            assert ended["bid_count"] == 0
            assert int(time.time()) >= now + 2

    asyncio.run(scenario())


def test_keep_alives_while_quiet_and_the_stream_ends_after_its_time(server: LiveServer) -> None:
    streams = _streams(server, heartbeat_seconds=0.2, max_seconds=1.5)
    lot_id = add_lot(server.runtime.sessions, int(time.time()) - 60)
    comments: list[str] = []

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http:
            started = time.monotonic()
            async with http.stream("GET", f"/api/v1/lots/{lot_id}/events") as response:
                lines = [line async for line in response.aiter_lines()]  # ends by itself
            took = time.monotonic() - started
            assert lines[0] == "retry: 3000"
            events = [event async for event in aiter_events(_lines(lines), comments)]
            assert [event.name for event in events] == ["lot"]  # nothing changed: one event
            assert comments.count(": keep-alive") >= 3
            assert 1.4 < took < WAIT
        await _until(lambda: streams.watching == 0 and streams.broadcasters == {})

    asyncio.run(scenario())


async def _lines(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


def test_a_slow_watcher_keeps_only_the_newest_event() -> None:
    async def scenario() -> None:
        watcher = Watcher()
        for n in range(1_000):
            watcher.offer(f"event {n}".encode())
        assert watcher.ready.is_set()
        assert watcher.data == b"event 999"  # one reference, not a thousand queued events

    asyncio.run(scenario())


def test_a_slow_reader_still_ends_on_the_newest_lot_in_order(server: LiveServer) -> None:
    _streams(server)
    lot_id = add_lot(server.runtime.sessions, int(time.time()) - 60, min_increment_jpy=1_000)
    bidders = [add_bidder(server.runtime, lot_id) for _ in range(2)]
    bids = 30

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http, _watch(http, lot_id) as events:
            assert (await _next(events))["bid_count"] == 0
            for n in range(bids):  # the watcher reads nothing meanwhile
                placed = await http.post(
                    f"/api/v1/lots/{lot_id}/bids",
                    json={"amount_jpy": 1_000 * (n + 1)},
                    headers=bidders[n % 2].bid_headers(uuid.uuid4().hex),
                )
                assert placed.status_code == 201
            counts: list[int] = []
            while not counts or counts[-1] < bids:
                lot = await _next(events)
                counts.append(lot["bid_count"])
                assert [b["seq"] for b in lot["bids"]] == list(range(lot["bid_count"], 0, -1))[: len(lot["bids"])]
            assert counts == sorted(set(counts))  # never back, never twice
            assert counts[-1] == bids

    asyncio.run(scenario())


def test_an_unknown_lot_has_no_stream(server: LiveServer) -> None:
    answer = httpx.get(f"{server.url}/api/v1/lots/999999/events", timeout=WAIT)
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "lot_not_found")
