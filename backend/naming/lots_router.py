"""The live auction: a lot, its bid stream (SSE), bids and the bid log (issue 10).

    GET  /api/v1/lots/{lot_id}           the lot (`lot_view.LotPublic`)
    GET  /api/v1/lots/{lot_id}/events    Server-Sent Events: `event: lot` with the same JSON (`stream`)
    POST /api/v1/lots/{lot_id}/bids      {"amount_jpy"}; Idempotency-Key; holder session → 201
    GET  /api/v1/lots/{lot_id}/bid-log   after the close: every bid, hash-chained (`bid_log`)

Bids are judged by the server's clock in whole seconds (`server_second`; tests override it)
under the lot's row lock (`bids`). An accepted bid pokes this process's stream of the lot at
once (other processes' streams see it by polling within 100 ms), and the bidder it displaced
from the top is mailed after the commit. Bids are rate-limited per holder in the shared
counters, generously: a bidding war is many bids, a script hammering the lock is not.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from anyio import to_thread
from fastapi import APIRouter, BackgroundTasks, Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from backend.core import mail
from backend.core.config import Settings
from backend.core.deps import RuntimeDep
from backend.core.errors import ApiError, ErrorDetail, error_body, error_responses
from backend.core.schemas import MAX_ROW_ID, UtcDateTime, whole_number
from backend.holders.deps import Authorization, signed_in
from backend.naming import bid_log, bids, rules
from backend.naming.lot_view import LotPublic, bidder_methods, lot_public, read_lot, status_of
from backend.naming.models import Lot, Park
from backend.naming.stream import EventStream, LotStreams, streams_of
from backend.runtime import Runtime

router = APIRouter(prefix="/api/v1/lots", tags=["naming"])
log = logging.getLogger("furusato.naming.bids")

#: Bids one holder may place per window (count, seconds), on all lots together.
BIDS_PER_HOLDER = (20, 10)
#: The statuses in which the bid log stays unpublished.
LOG_HIDDEN = ("scheduled", "open")

#: The client host of Starlette's TestClient and schemathesis' ASGI transport, which read a
#: response only once it ends: they get the stream's first event, then the end.
IN_PROCESS_CLIENT = "testclient"

#: Worker threads bids run in, all lots together. Bids on one lot queue on its lock anyway;
#: fewer threads running Python at once leave the event loop (every stream) its share of
#: the GIL, and a bid waiting for a thread waits on the event loop, holding none.
BID_THREADS = 2
#: One Server-Sent Event of the lot stream, as OpenAPI 3.0/3.1 describe an event (schemathesis
#: checks each parsed event against it): `event: lot`, `data` the lot's JSON.
LOT_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["lot"]},
        "data": {"type": "string", "contentMediaType": "application/json", "description": "the lot, as GET /lots/{id}"},
        "id": {"type": "string", "description": "the lot's bid count"},
        "retry": {"type": "integer"},
    },
}

LotId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="Any printable ASCII of your choosing (a UUID); the same key and amount → the same bid",
    ),
]


async def server_second() -> int:
    """The server's clock, in whole unix seconds, that bids are judged by (tests override it).
    `async`: FastAPI calls it on the event loop instead of handing it to a worker thread."""
    return int(time.time())


Now = Annotated[int, Depends(server_second)]


async def lot_streams(request: Request, runtime: RuntimeDep) -> LotStreams:
    return streams_of(request.app.state, runtime.sessions, bidder_methods(runtime.settings))


StreamsDep = Annotated[LotStreams, Depends(lot_streams)]


# ── schemas ─────────────────────────────────────────────────────────────────


class BidCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount_jpy": 1000}]})

    amount_jpy: Annotated[int, Field(ge=1, le=bids.MAX_BID_JPY, description="Whole yen"), BeforeValidator(whole_number)]


class BidRecord(BaseModel):
    seq: int = Field(description="Its entry in the lot's bid log")
    amount_jpy: int
    at: UtcDateTime = Field(description="When the server accepted it (whole seconds)")
    ends_at: UtcDateTime = Field(description="The auction's end after it (moved by a bid in the soft-close window)")


class BidAccepted(BaseModel):
    bid: BidRecord
    lot: LotPublic


class BidRefusalDetail(ErrorDetail):
    minimum_bid_jpy: int | None = Field(default=None, description="With `bid_too_low`: the smallest bid taken now")


class BidRefusal(BaseModel):
    error: BidRefusalDetail


# ── helpers ─────────────────────────────────────────────────────────────────


def _json_errors(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """`responses` whose refusals are JSON on a route whose own answer is not (the stream)."""
    return {
        status: {
            "description": answer["description"],
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{answer['model'].__name__}"}}},
        }
        for status, answer in responses.items()
    }


def _not_found() -> ApiError:
    return ApiError(404, "lot_not_found", "この入札はありません。 / No such auction.")


def outbid_text(park_ja: str, park_en: str, amount_jpy: int, link: str) -> tuple[str, str]:
    """Subject and body of the mail to a bidder who is no longer the highest, Japanese first."""
    subject = "より高い入札がありました / You have been outbid (Furusato)"
    body = (
        f"{park_ja}の命名権のオークションで、あなたの入札を上回る {amount_jpy:,} 円の入札がありました。\n"
        "続けて入札するには、こちらのページからどうぞ。\n\n"
        f"{link}\n\n"
        "----\n\n"
        f"Someone bid ¥{amount_jpy:,} for the naming right of {park_en}, above your bid.\n"
        "To bid again, open the auction's page:\n\n"
        f"{link}\n"
    )
    return subject, body


def send_outbid(runtime: Runtime, settings: Settings, outbid: bids.Outbid) -> None:
    with runtime.sessions() as session:
        lot = session.get(Lot, outbid.lot_id)
        park = session.get(Park, lot.park_id) if lot is not None else None
    if park is None:
        return
    link = f"{settings.public_url.rstrip('/')}/lots/{outbid.lot_id}"
    subject, body = outbid_text(park.name_ja, park.name_en, outbid.amount_jpy, link)
    mail.deliver(settings, outbid.email, subject, body, "outbid mail", logger=log)


# ── routes ──────────────────────────────────────────────────────────────────


@router.get("/{lot_id}", response_model=LotPublic, responses=error_responses(404, codes={404: "lot_not_found"}))
def get_lot(lot_id: LotId, runtime: RuntimeDep, now: Now) -> LotPublic:
    """The auction as it stands: price, next minimum bid, end, newest bids (by pseudonym)."""
    with runtime.sessions() as session:
        public = read_lot(session, lot_id, now, bidder_methods(runtime.settings))
    if public is None:
        raise _not_found()
    return public


@router.get(
    "/{lot_id}/events",
    status_code=200,
    response_class=EventStream,
    responses={
        200: {
            "description": (
                "Server-Sent Events: `event: lot` whose `data` is the lot's JSON (as `GET /api/v1/lots/{lot_id}`), "
                "on connect and on every change; a `: keep-alive` comment every 15 s"
            ),
            "content": {"text/event-stream": {"schema": LOT_EVENT_SCHEMA}},
        },
        **_json_errors(error_responses(404, 503, codes={404: "lot_not_found", 503: "stream_busy: too many open here"})),
    },
)
async def lot_events(lot_id: LotId, request: Request, runtime: RuntimeDep, streams: StreamsDep) -> EventStream:
    """The lot live: its JSON on connect and whenever it changes (a bid, an extension, the status)."""
    exists = await run_in_threadpool(_exists, runtime, lot_id)
    if not exists:
        raise _not_found()
    if streams.full():
        raise ApiError(503, "stream_busy", "ただいま混み合っています。 / Too many live views open; try again shortly.")
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    in_process = request.client is not None and request.client.host == IN_PROCESS_CLIENT
    return EventStream(streams, lot_id, headers, once=in_process)


def _exists(runtime: Runtime, lot_id: int) -> bool:
    with runtime.sessions() as session:
        return session.get(Lot, lot_id) is not None


@router.post(
    "/{lot_id}/bids",
    status_code=201,
    response_model=BidAccepted,
    responses={
        **error_responses(
            401,
            404,
            429,
            codes={401: "unauthorized", 404: "lot_not_found", 429: "rate_limited (see Retry-After)"},
        ),
        409: {
            "model": BidRefusal,
            "description": (
                "Conflicts with the auction's state: bid_too_low (`minimum_bid_jpy` says the minimum), "
                "auction_closed, auction_not_started, not_registered, payment_pending, idempotency_key_reused "
                "(this key was used for another amount)"
            ),
        },
    },
)
async def place_bid(
    lot_id: LotId,
    body: BidCreate,
    idempotency_key: IdempotencyKey,
    request: Request,
    runtime: RuntimeDep,
    background: BackgroundTasks,
    now: Now,
    authorization: Authorization = None,
) -> Any:
    """Bid in whole yen, at least `minimum_bid_jpy`; a bid in the soft-close window extends the end.
    Holder session: `Authorization: Bearer <session_token>`."""
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, "bid_limiter", None)
    if limiter is None:
        limiter = request.app.state.bid_limiter = anyio.CapacityLimiter(BID_THREADS)
    judged = await to_thread.run_sync(
        _judge, runtime, authorization, lot_id, body.amount_jpy, idempotency_key, now, limiter=limiter
    )
    if isinstance(judged, bids.BidRefused):
        detail: dict[str, Any] = error_body(judged.code, judged.message)
        headers = None
        if judged.minimum_bid_jpy is not None:
            detail["error"]["minimum_bid_jpy"] = judged.minimum_bid_jpy
        if judged.retry_after is not None:
            headers = {"Retry-After": str(judged.retry_after)}
        return JSONResponse(detail, status_code=judged.status, headers=headers)
    placed, public = judged
    if not placed.replayed:
        streams_of(request.app.state, runtime.sessions, bidder_methods(runtime.settings)).poke(lot_id)
        if placed.outbid is not None:
            background.add_task(send_outbid, runtime, runtime.settings, placed.outbid)
    answer = BidAccepted(
        bid=BidRecord(
            seq=placed.seq,
            amount_jpy=placed.amount_jpy,
            at=rules.at_second(placed.at),
            ends_at=rules.at_second(placed.ends_at),
        ),
        lot=public,
    )
    replayed = {"Idempotent-Replayed": "true"} if placed.replayed else None
    return JSONResponse(answer.model_dump(mode="json"), status_code=201, headers=replayed, background=background)


def _judge(
    runtime: Runtime, authorization: str | None, lot_id: int, amount_jpy: int, key: str, now: int
) -> tuple[bids.Placed, LotPublic] | bids.BidRefused:
    """The bid's work in one worker thread: who is bidding, the bid itself (its own
    transaction, `bids.place_in`), then the lot as it stands. A refusal is returned, not raised."""
    with runtime.sessions() as session:
        holder = signed_in(session, authorization, datetime.now(UTC))
        limit = (f"naming-bids:holder:{holder.id}", *BIDS_PER_HOLDER)
        try:
            placed = bids.place_in(session, lot_id, holder.id, amount_jpy, key, now, limit)
        except bids.BidRefused as refused:
            session.commit()  # only the rate counter was written: the refused bid counts
            if refused.status == 404:
                raise _not_found() from None
            return refused
        session.commit()
        lot = session.get(Lot, lot_id)
        assert lot is not None
        return placed, lot_public(session, lot, now, bidder_methods(runtime.settings))


@router.get(
    "/{lot_id}/bid-log",
    response_model=bid_log.BidLog,
    responses=error_responses(404, 409, codes={404: "lot_not_found", 409: "auction_open: published after the close"}),
)
def get_bid_log(lot_id: LotId, runtime: RuntimeDep, now: Now) -> bid_log.BidLog:
    """Every accepted bid, by pseudonym, hash-chained (see docs/naming.md, "Checking the bid log")."""
    with runtime.sessions() as session:
        lot = session.get(Lot, lot_id)
        if lot is None:
            raise _not_found()
        if status_of(lot, now) in LOG_HIDDEN:
            raise ApiError(
                409,
                "auction_open",
                "入札記録は締め切りのあとに公開されます。 / The bid log is published after the close.",
            )
        return bid_log.read_log(session, lot_id, lot.log_head)
