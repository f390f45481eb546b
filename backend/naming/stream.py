"""The live lot: `GET /api/v1/lots/{id}/events` (Server-Sent Events) for every watcher of a lot.

Each event is the lot's public JSON (`lot_view.LotPublic`), sent on connect and whenever the
lot changes (a bid, an extension, the status moving with the clock or the settle job):

    event: lot
    id: <bid_count>
    data: {"id": 7, "status": "open", …}

and a comment line (`: keep-alive`) every `HEARTBEAT_SECONDS` of quiet, so proxies keep the
connection and a dead one is noticed.

One broadcaster per lot per process (an asyncio task) reads the lot for all of its watchers:
- it polls a cheap query (the lot row's bid count, end, phase, chain state and the status the
  clock gives) every `POLL_SECONDS`, so a bid taken by another process on the same database,
  or a settle job's change, reaches the watchers within that;
- a bid taken by this process pokes it at once (`LotStreams.poke`, from any thread);
- on a change it builds the JSON once, encodes it once and hands the same bytes to every
  watcher; bids closer together than `MIN_EVENT_INTERVAL` share one event, so the cost of
  the fan-out follows the event rate (≤ 10/s), not the bid rate;
- each watcher holds only the latest event: one that is slow to read skips the snapshots it
  missed and gets the newest (the lot JSON is the whole state, so nothing is lost), so memory
  stays one reference per watcher however slow the client;
- it stops when its last watcher leaves, and starts again with the next.

An in-process test client (Starlette's `TestClient`, schemathesis' ASGI transport: client
host "testclient") waits for a response to end before it hands any of it over, so it gets
the stream's first event and then the end (`once`), not a response that never ends.

Database reads run in worker threads of the broadcasters' own small pool (`DB_THREADS`), so a
burst of bids holding the request thread pool never delays the events. A stream ends after
`max_seconds` (EventSource reconnects by itself after `RETRY_MS`), which also lets a test
client read a bounded response.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from backend.naming import rules
from backend.naming.lot_view import lot_public
from backend.naming.models import Lot

log = logging.getLogger("furusato.naming.stream")

POLL_SECONDS = 0.1
#: The least time between two events of a lot: bids closer together share an event.
MIN_EVENT_INTERVAL = 0.1
HEARTBEAT_SECONDS = 15.0
#: How long one stream lasts before the server ends it (the browser reconnects).
MAX_STREAM_SECONDS = 600.0
#: Streams one process serves at once, all lots together; more are refused with a 503.
MAX_SUBSCRIBERS = 10_000
#: The browser's wait before it reconnects a stream that ended.
RETRY_MS = 3000
#: Threads the broadcasters read the database in (all lots of this process together).
DB_THREADS = 4
#: After a failed read, wait this long before the next.
ERROR_BACKOFF_SECONDS = 1.0

KEEP_ALIVE = b": keep-alive\n\n"

#: What the poll compares.
Key = tuple[Any, ...]


def unix_now() -> int:
    return int(time.time())


#: The lot's columns the poll reads: a change in any of them (or in the status the clock
#: gives) is a new event.
_KEY_COLUMNS = (
    Lot.bid_count,
    Lot.log_head,
    Lot.ends_at,
    Lot.auction_start,
    Lot.phase,
    Lot.chain_state,
    Lot.relist_count,
    Lot.reserve_jpy,
)


def _key(
    bid_count: int, log_head: str, ends_at: Any, auction_start: Any, phase: str, chain_state: str, *rest: Any, now: int
) -> Key:
    end, start = rules.seconds(ends_at), rules.seconds(auction_start)
    status = rules.public_status(phase, chain_state == "ready", start, end, now)
    return (bid_count, log_head, end, start, phase, chain_state, *rest, status)


def _key_of(lot: Lot, now: int) -> Key:
    return _key(*(getattr(lot, column.key) for column in _KEY_COLUMNS), now=now)


def encode(event_id: int, data: str) -> bytes:
    return f"event: lot\nid: {event_id}\ndata: {data}\n\n".encode()


class Watcher:
    """One open stream: the latest event not yet sent to it, and a flag that one is waiting."""

    __slots__ = ("data", "expired", "ready")

    def __init__(self) -> None:
        self.data = b""
        self.ready = asyncio.Event()
        self.expired = False

    def expire(self) -> None:
        """The stream's time is up: wake it to end."""
        self.expired = True
        self.ready.set()

    def offer(self, data: bytes) -> None:
        if not self.expired:
            self.data = data  # a stale one not yet sent is simply replaced
            self.ready.set()

    def nudge(self) -> None:
        """A keep-alive, unless an event is waiting to be sent (that does as well)."""
        if not self.ready.is_set() and not self.expired:
            self.offer(KEEP_ALIVE)


class Broadcaster:
    """The task that watches one lot for all of this process's watchers of it."""

    def __init__(self, streams: LotStreams, lot_id: int) -> None:
        self.streams = streams
        self.lot_id = lot_id
        self.watchers: set[Watcher] = set()
        self.wake = asyncio.Event()
        self.key: Key | None = None
        self.snapshot: bytes | None = None
        self.task: asyncio.Task[None] | None = None

    def join(self, watcher: Watcher) -> None:
        self.watchers.add(watcher)
        if self.snapshot is not None:
            watcher.offer(self.snapshot)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run(), name=f"lot-{self.lot_id}-broadcaster")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        published = -self.streams.min_interval
        spoke = loop.time()  # the last event or keep-alive sent to every watcher
        poked = True  # the first round builds the event at once
        while self.watchers:
            if poked:
                # Bids coming faster than this make one event: the fan-out's cost is bounded
                # by the event rate, not the bid rate.
                if (wait := published + self.streams.min_interval - loop.time()) > 0:
                    await asyncio.sleep(wait)
                self.wake.clear()  # every poke until now is in the build below
            try:
                if poked or await self.streams.read(self.streams.poll, self.lot_id) != self.key:
                    built = await self.streams.read(self.streams.build, self.lot_id)
                    if built is not None and built[0] != self.key:
                        self.key, self.snapshot = built
                        published = spoke = loop.time()
                        for watcher in self.watchers:
                            watcher.offer(built[1])
            except Exception:  # the database is away: keep the watchers, try again shortly
                log.warning("lot %s: reading for its stream failed", self.lot_id, exc_info=True)
                await asyncio.sleep(ERROR_BACKOFF_SECONDS)
            try:
                async with asyncio.timeout(self.streams.poll_seconds):
                    await self.wake.wait()
            except TimeoutError:
                poked = False
            else:
                poked = True
            if loop.time() - spoke >= self.streams.heartbeat_seconds:
                # One timer here rather than one per watcher.
                spoke = loop.time()
                for watcher in self.watchers:
                    watcher.nudge()


class LotStreams:
    """This app's broadcasters, one per watched lot. Made on the event loop's side; `poke`
    may be called from any thread (a bid's request thread)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], int] = unix_now,
        poll_seconds: float | None = None,
        heartbeat_seconds: float | None = None,
        max_seconds: float | None = None,
        max_subscribers: int | None = None,
        min_interval: float | None = None,
        methods: list[str] | None = None,
    ) -> None:
        """Unset options take the module's constants as they are now (a test may patch them)."""
        self.sessions = sessions
        self.clock = clock
        #: The deployment's bidder payment methods, carried in every event (`lot_view.bidder_methods`).
        self.methods = ["demo"] if methods is None else methods
        self.poll_seconds = POLL_SECONDS if poll_seconds is None else poll_seconds
        self.heartbeat_seconds = HEARTBEAT_SECONDS if heartbeat_seconds is None else heartbeat_seconds
        self.max_seconds = MAX_STREAM_SECONDS if max_seconds is None else max_seconds
        self.max_subscribers = MAX_SUBSCRIBERS if max_subscribers is None else max_subscribers
        self.min_interval = MIN_EVENT_INTERVAL if min_interval is None else min_interval
        self.broadcasters: dict[int, Broadcaster] = {}
        self.watching = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    # ── database side (worker threads) ──

    def poll(self, lot_id: int) -> Key | None:
        """The lot's change key, read with one small query."""
        with self.sessions() as session:
            row = session.execute(select(*_KEY_COLUMNS).where(Lot.id == lot_id)).first()
            return None if row is None else _key(*row, now=self.clock())

    def build(self, lot_id: int) -> tuple[Key, bytes] | None:
        """The lot's key and its event, encoded."""
        now = self.clock()
        with self.sessions() as session:
            lot = session.get(Lot, lot_id)
            if lot is None:
                return None
            public = lot_public(session, lot, now, self.methods)
            return _key_of(lot, now), encode(lot.bid_count, public.model_dump_json())

    async def read(self, function: Callable[[int], Any], lot_id: int) -> Any:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(DB_THREADS)
        return await to_thread.run_sync(function, lot_id, limiter=self._limiter)

    # ── any thread ──

    def poke(self, lot_id: int) -> None:
        """Tell the lot's broadcaster (if anyone watches it here) that it changed."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed (shutdown)
            loop.call_soon_threadsafe(self._wake, lot_id)

    def _wake(self, lot_id: int) -> None:
        broadcaster = self.broadcasters.get(lot_id)
        if broadcaster is not None:
            broadcaster.wake.set()

    # ── event loop side ──

    def full(self) -> bool:
        return self.watching >= self.max_subscribers

    async def serve(self, lot_id: int, send: Send, *, once: bool = False) -> None:
        """Send one watcher's stream of `lot_id` (after the response start) until
        `max_seconds` (`once`: until its first event); the caller cancels it when the client
        leaves."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        watcher = Watcher()
        broadcaster = self.broadcasters.get(lot_id)
        if broadcaster is None:
            broadcaster = self.broadcasters[lot_id] = Broadcaster(self, lot_id)
        broadcaster.join(watcher)
        self.watching += 1
        try:
            await send({"type": "http.response.body", "body": f"retry: {RETRY_MS}\n\n".encode(), "more_body": True})
            expiry = loop.call_later(self.max_seconds, watcher.expire)
            try:
                while True:
                    await watcher.ready.wait()
                    if watcher.expired:
                        break
                    watcher.ready.clear()
                    await send({"type": "http.response.body", "body": watcher.data, "more_body": True})
                    if once and watcher.data is not KEEP_ALIVE:
                        break
            finally:
                expiry.cancel()
        finally:
            self.watching -= 1
            broadcaster.watchers.discard(watcher)
            if not broadcaster.watchers:
                if broadcaster.task is not None:
                    broadcaster.task.cancel()
                if self.broadcasters.get(lot_id) is broadcaster:
                    del self.broadcasters[lot_id]


class EventStream(Response):
    """The response of `GET /api/v1/lots/{id}/events`: `LotStreams.serve` straight on the ASGI
    `send` (no generator between), stopped as soon as the client disconnects."""

    media_type = "text/event-stream"

    def __init__(
        self, streams: LotStreams, lot_id: int, headers: dict[str, str] | None = None, *, once: bool = False
    ) -> None:
        self.streams = streams
        self.lot_id = lot_id
        self.once = once
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        serving = asyncio.ensure_future(self.streams.serve(self.lot_id, send, once=self.once))
        listening = asyncio.ensure_future(_disconnect(receive))
        try:
            await asyncio.wait((serving, listening), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (serving, listening):
                task.cancel()
            await asyncio.gather(serving, listening, return_exceptions=True)
        if serving.done() and not serving.cancelled() and serving.exception() is None:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


_made = threading.Lock()


def streams_of(state: Any, sessions: sessionmaker[Session], methods: list[str]) -> LotStreams:
    """The app's `LotStreams` (`app.state.lot_streams`), made on first use. A test may put its
    own there first (a shorter `max_seconds`, say)."""
    with _made:
        streams: LotStreams | None = getattr(state, "lot_streams", None)
        if streams is None:
            streams = LotStreams(sessions, methods=methods)
            state.lot_streams = streams
        return streams
