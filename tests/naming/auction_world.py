"""Helpers for the live-auction tests: rows made directly (a park, a lot ready on chain,
signed-in bidders), a settable server clock, a real uvicorn server in a thread (streams need
one: the test client waits for a response to end) and a small Server-Sent Events reader."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import session_scope
from backend.holders.custody import ensure_holder
from backend.holders.signin import exchange_link, request_link
from backend.naming import lots_router
from backend.naming.models import Lot, LotBidder, Park
from backend.runtime import Runtime
from backend.towns.models import Municipality
from minting.anvil import free_port

TOWN = "hoshikawa"
HOUR = 3_600
DAY = 86_400


class Clock:
    """The server's clock for bids (`lots_router.server_second`), set by the test."""

    def __init__(self, now: int | None = None) -> None:
        self.now = int(time.time()) if now is None else now

    def __call__(self) -> int:
        return self.now

    def install(self, app: FastAPI) -> Clock:
        app.dependency_overrides[lots_router.server_second] = self
        return self


def at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def add_lot(sessions: sessionmaker[Session], start: int, **fields: Any) -> int:
    """A park of the demo town and a lot of it, created on chain (as far as the bid path
    cares): the auction runs from `start` for an hour; its id."""
    with session_scope(sessions) as session:
        town = session.scalar(select(Municipality).where(Municipality.slug == TOWN))
        assert town is not None
        park = Park(municipality_id=town.id, name_ja="水沢名水公園", name_en="Mizusawa Meisui Park")
        session.add(park)
        session.flush()
        values: dict[str, Any] = {
            "park_id": park.id,
            "municipality_id": town.id,
            "term_start": at(start + 30 * DAY),
            "term_end": at(start + 3 * 365 * DAY),
            "auction_start": at(start),
            "auction_end": at(start + HOUR),
            "ends_at": at(start + HOUR),
            "reserve_jpy": 1_000,
            "soft_close_seconds": 300,
            "extension_seconds": 300,
            "chain_id": 31337,
            "contract": "0x" + "cd" * 20,
            "chain_state": "ready",
            "chain_lot_id": 1,
        }
        values.update(fields)
        lot = Lot(**values)
        session.add(lot)
        session.flush()
        return lot.id


@dataclass(frozen=True)
class Bidder:
    holder_id: int
    email: str
    token: str
    number: int | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def bid_headers(self, key: str | None = None) -> dict[str, str]:
        return {**self.headers, "Idempotency-Key": key or uuid.uuid4().hex}


def signed_in(runtime: Runtime, email: str) -> tuple[int, str]:
    """A holder with `email` (made if new) and a fresh session token: (holder id, token)."""
    now = datetime.now(UTC)
    with session_scope(runtime.sessions) as session:
        holder = ensure_holder(session, runtime.vault, email)
        issued = request_link(session, email, runtime.settings.public_url, now)
        assert issued is not None
        opened = exchange_link(session, issued[1].rsplit("#token=", 1)[1], now)
        assert opened is not None
        return holder.id, opened.token


def add_bidder(
    runtime: Runtime, lot_id: int, email: str | None = None, *, registered: bool = True, payment_state: str = "ready"
) -> Bidder:
    """A signed-in holder, registered for the lot (the next pseudonym number) unless not."""
    email = email or f"bidder-{uuid.uuid4().hex[:10]}@example.jp"
    holder_id, token = signed_in(runtime, email)
    number = None
    if registered:
        with session_scope(runtime.sessions) as session:
            number = (session.scalar(select(func.max(LotBidder.number)).where(LotBidder.lot_id == lot_id)) or 0) + 1
            session.add(
                LotBidder(
                    lot_id=lot_id,
                    holder_id=holder_id,
                    number=number,
                    prefecture="13",
                    payment_method="demo",
                    payment_state=payment_state,
                )
            )
    return Bidder(holder_id, email, token, number)


class LiveServer:
    """`app` served by uvicorn on a free port, in a thread of this process (so the test can
    reach its runtime and override its dependencies)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            assert self.thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(60)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@dataclass(frozen=True)
class Event:
    name: str
    data: str
    id: str | None


async def aiter_events(lines: AsyncIterator[str], comments: list[str] | None = None) -> AsyncIterator[Event]:
    """The events of a text/event-stream, from its lines (httpx's `aiter_lines`); comment
    lines (`: keep-alive`) go to `comments`."""
    name, data, event_id = "message", list[str](), None
    async for line in lines:
        if line == "":
            if data:
                yield Event(name, "\n".join(data), event_id)
            name, data, event_id = "message", [], None
        elif line.startswith(":"):
            if comments is not None:
                comments.append(line)
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value
