"""People's own data (APPI): what a town holds about you, and asking it to erase it.

Holder (signed in by e-mail link, `Authorization: Bearer <session_token>`):

    GET  /api/v1/holders/me/data?town=slug          JSON, every section (own_data.py)
    GET  /api/v1/holders/me/data.csv?town=slug      the same as rows (section, field, value), UTF-8 BOM
    POST /api/v1/holders/me/deletion-requests       {"town"} → 201 {request_id, status, due_at}; again → 200, the same
    GET  /api/v1/holders/me/deletion-requests       your pending and declined requests

Town staff (owners only, `backend.staff.policy`):

    GET  /api/v1/staff/towns/{slug}/data-requests?status=&kind=     paged, most urgent first, overdue flagged
    POST /api/v1/staff/towns/{slug}/data-requests/{id}/complete     erases (erasure.py), audited
    POST /api/v1/staff/towns/{slug}/data-requests/{id}/decline      {"reason"}, audited

The town's records are kept by e-mail address, so a holder signed in with their own wallet
(SIWE) has none to download or erase: 403 `email_sign_in_required`. Every download is
recorded as a completed `export` request (no e-mail kept). Audit rows name the request id
and row counts, never the e-mail: the audit log is read by staff and kept forever.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.analytics import data_requests as requests
from backend.analytics.data_schemas import (
    DataSection,
    DeclineBody,
    DeletionRequestCreate,
    DeletionRequestPublic,
    DeletionRequestsPage,
    OwnDataPublic,
    RequestStatus,
    StaffDataRequest,
    StaffDataRequestsPage,
)
from backend.analytics.erasure import Unfinished
from backend.analytics.models import DataRequest
from backend.analytics.own_data import OwnData, csv_rows, own_data
from backend.core import audit, ratelimit
from backend.core.csv_download import CSV_OK, csv_download
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.holders.identity import CardHolder, CurrentCardHolder
from backend.staff.deps import STAFF_RESPONSES, NowDep, TownStaff
from backend.towns.models import Municipality

router = APIRouter(tags=["people's data (APPI)"])

STAFF = "/api/v1/staff/towns/{slug}"
#: Deletion requests a holder may send in a window (count, seconds): a person asks once per
#: town, a script would flood the owners' queue.
DELETION_LIMIT = (10, 3600)
#: Downloads a holder may make in a window: each is recorded as a request row.
DOWNLOAD_LIMIT = (30, 600)
#: The CSV's columns.
CSV_HEADER = ("section / 区分", "field / 項目", "value / 値")

_HOLDER_CODES = {401: "unauthorized", 403: "email_sign_in_required", 404: "town_not_found", 429: "rate_limited"}
_HOLDER = error_responses(401, 403, 404, 429, codes=_HOLDER_CODES)
_REQUEST_404 = {404: "request_not_found"}


# ── dependencies ────────────────────────────────────────────────────────────


def email_holder(holder: CurrentCardHolder) -> CardHolder:
    """The caller, signed in by e-mail link: the town's records are kept by e-mail address."""
    if holder.email is None:
        raise ApiError(
            403,
            "email_sign_in_required",
            "メールのリンクでログインしてください。町の記録はメールアドレスで管理されています。 "
            "(Sign in with the e-mail link: the town keeps its records by e-mail address.)",
        )
    return holder


EmailHolder = Annotated[CardHolder, Depends(email_holder)]
TownQuery = Annotated[
    str, Query(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$", description="the town's slug")
]


def _town(session: Session, slug: str) -> Municipality:
    town = session.scalar(select(Municipality).where(Municipality.slug == slug))
    if town is None:
        raise ApiError(404, "town_not_found", "その自治体はありません。 (No such town.)")
    return town


def _public(data: OwnData, town: Municipality) -> OwnDataPublic:
    return OwnDataPublic(
        town=data.town,
        email=data.email,
        generated_at=data.generated_at,
        data_request_days=town.data_request_days,
        sections=[
            DataSection(key=section.key, title_ja=section.title_ja, title_en=section.title_en, rows=section.rows)
            for section in data.sections
        ],
    )


def _download(runtime: RuntimeDep, holder: CardHolder, slug: str, fmt: str) -> tuple[OwnData, Municipality]:
    """Read what the town holds and record the download, in one short transaction."""
    assert holder.email is not None  # EmailHolder
    ratelimit.enforce(
        runtime.sessions,
        f"data-download:{holder.visitor}",
        DOWNLOAD_LIMIT,
        "ダウンロードが多すぎます。しばらくしてからお試しください。 (Too many downloads; wait a few minutes.)",
    )
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        town = _town(session, slug)
        data = own_data(session, town, holder.email, now)
        requests.record_export(session, town.id, now, fmt)
        session.commit()
        return data, town


# ── holder ──────────────────────────────────────────────────────────────────


@router.get("/api/v1/holders/me/data", response_model=OwnDataPublic, responses=_HOLDER)
def my_data(runtime: RuntimeDep, holder: EmailHolder, town: TownQuery) -> OwnDataPublic:
    """Everything `town` holds about your e-mail address: orders, cards, lottery applications,
    check-ins, benefits used, votes, bids, mail, the figures kept about you, your requests."""
    data, row = _download(runtime, holder, town, "json")
    return _public(data, row)


@router.get("/api/v1/holders/me/data.csv", response_class=StreamingResponse, responses={**_HOLDER, **CSV_OK})
def my_data_csv(runtime: RuntimeDep, holder: EmailHolder, town: TownQuery) -> StreamingResponse:
    """The same as CSV, one row per field (section, field, value), UTF-8 with BOM."""
    data, row = _download(runtime, holder, town, "csv")
    rows = csv_rows(data)
    return csv_download(
        runtime.sessions,
        CSV_HEADER,
        lambda _session: rows,
        name="my-data",
        slug=row.slug,
        now=data.generated_at,
        encoding="utf-8",
    )


def _request_public(request: DataRequest, town: Municipality) -> DeletionRequestPublic:
    return DeletionRequestPublic(
        request_id=request.id,
        town=town.slug,
        town_ja=town.name_ja,
        town_en=town.name_en,
        status=request.status,  # type: ignore[arg-type]  # the table's check constraint
        requested_at=request.requested_at,
        due_at=request.due_at,
        completed_at=request.completed_at,
        reason=request.outcome if request.status == "declined" else "",
    )


@router.post(
    "/api/v1/holders/me/deletion-requests",
    status_code=201,
    response_model=DeletionRequestPublic,
    responses={
        200: {
            "description": "a pending request of yours in this town already: that one",
            "model": DeletionRequestPublic,
        },
        **error_responses(401, 403, 404, 429, codes={**_HOLDER_CODES, 404: "town_not_found, no_data"}),
    },
)
def request_deletion(
    body: DeletionRequestCreate, runtime: RuntimeDep, holder: EmailHolder, response: Response
) -> DeletionRequestPublic:
    """Ask the town to erase what it holds about you. It answers within its
    `data_request_days` (30 by default). Your card stays on the blockchain; the town's figures
    keep only counts. Asking again while one is pending answers that one (200)."""
    assert holder.email is not None  # EmailHolder
    ratelimit.enforce(
        runtime.sessions,
        f"data-deletion:{holder.visitor}",
        DELETION_LIMIT,
        "依頼が多すぎます。しばらくしてからお試しください。 (Too many requests; wait a while.)",
    )
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        town = _town(session, body.town)
        if own_data(session, town, holder.email, now).empty:
            raise ApiError(
                404,
                "no_data",
                "この自治体はあなたのメールアドレスの記録を持っていません。 "
                "(This town holds nothing under your e-mail address.)",
            )
        made = requests.request_deletion(session, town, holder.email, now)
        session.commit()
        if not made.created:
            response.status_code = 200
        return _request_public(made.request, town)


@router.get("/api/v1/holders/me/deletion-requests", response_model=DeletionRequestsPage, responses=_HOLDER)
def my_deletion_requests(runtime: RuntimeDep, holder: EmailHolder) -> DeletionRequestsPage:
    """Your deletion requests in every town, newest first: pending ones with their due date,
    declined ones with the reason. A completed one is no longer linked to you, so it is not
    listed: the town then holds nothing under your address (see `GET /me/data`)."""
    assert holder.email is not None  # EmailHolder
    with runtime.sessions() as session:
        items = [_request_public(request, town) for request, town in requests.requests_of(session, holder.email)]
    return DeletionRequestsPage(items=items, total=len(items))


# ── staff ───────────────────────────────────────────────────────────────────

RequestId = Annotated[str, Path(min_length=1, max_length=40, description="the request's id (dr_…)")]


def town_data_request(request_id: RequestId, ctx: TownStaff, session: SessionDep) -> DataRequest:
    """The town's request; another town's answers 404 like a missing one."""
    request = requests.town_request(session, ctx.town.id, request_id)
    if request is None:
        raise ApiError(404, "request_not_found", "この自治体にその依頼はありません。 (No such request in this town.)")
    return request


TownRequest = Annotated[DataRequest, Depends(town_data_request)]


def _staff_view(request: DataRequest, now: datetime) -> StaffDataRequest:
    return StaffDataRequest(
        request_id=request.id,
        kind=request.kind,  # type: ignore[arg-type]  # the table's check constraint
        status=request.status,  # type: ignore[arg-type]
        email=request.email if request.status == "pending" else None,
        requested_at=request.requested_at,
        due_at=request.due_at,
        overdue=requests.is_overdue(request, now),
        completed_at=request.completed_at,
        outcome=request.outcome,
    )


@router.get(
    f"{STAFF}/data-requests",
    response_model=StaffDataRequestsPage,
    responses={**STAFF_RESPONSES, **error_responses(422)},
    tags=["staff: people's data"],
)
def list_data_requests(
    ctx: TownStaff,
    session: SessionDep,
    page: PageDep,
    now: NowDep,
    status: Annotated[RequestStatus | None, Query()] = None,
    kind: Annotated[Literal["deletion", "export"], Query()] = "deletion",
) -> StaffDataRequestsPage:
    """The town's deletion requests (or, `kind=export`, the record of downloads), by due date;
    `overdue` counts pending ones past it."""
    rows, total = requests.town_requests(
        session, ctx.town.id, kind=kind, status=status, limit=page.limit, offset=page.offset
    )
    overdue = session.scalar(
        select(func.count())
        .select_from(DataRequest)
        .where(
            DataRequest.municipality_id == ctx.town.id,
            DataRequest.kind == "deletion",
            DataRequest.status == "pending",
            DataRequest.due_at < now,
        )
    )
    return StaffDataRequestsPage(
        items=[_staff_view(row, now) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
        overdue=overdue or 0,
    )


@router.post(
    f"{STAFF}/data-requests/{{request_id}}/complete",
    response_model=StaffDataRequest,
    responses={
        **STAFF_RESPONSES,
        **error_responses(
            404, 409, codes={**_REQUEST_404, 409: "not_pending, unfinished (an order, lottery or auction in progress)"}
        ),
    },
    tags=["staff: people's data"],
)
def complete_data_request(request: TownRequest, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffDataRequest:
    """Erase what the town holds about the requester (see `backend.analytics.erasure`), in one
    transaction with the request's completion and its audit row (request id and row counts,
    no e-mail). 409 `unfinished` while they have an order, a lottery or an auction in progress:
    finish or refund it first."""
    try:
        erased = requests.complete(session, request, ctx.member.id, now)
    except requests.NotPending as refused:
        session.rollback()
        raise ApiError(
            409,
            "not_pending",
            f"この依頼は処理済みです（{refused.status}）。 (This request is {refused.status} already.)",
        ) from None
    except Unfinished as unfinished:
        session.rollback()
        raise ApiError(
            409,
            "unfinished",
            f"手続き中のものがあります（{unfinished}）。完了または返金してから消去してください。 "
            f"(Something is still in progress ({unfinished}); finish or refund it first.)",
        ) from None
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action="data_request.complete",
        target_type="data_request",
        target_id=request.id,
        before={"status": "pending"},
        after={"status": "completed", "erased": erased.counts, "holder": erased.holder},
        at=now,
    )
    session.commit()
    return _staff_view(request, now)


@router.post(
    f"{STAFF}/data-requests/{{request_id}}/decline",
    response_model=StaffDataRequest,
    responses={**STAFF_RESPONSES, **error_responses(404, 409, codes={**_REQUEST_404, 409: "not_pending"})},
    tags=["staff: people's data"],
)
def decline_data_request(
    body: DeclineBody, request: TownRequest, ctx: TownStaff, session: SessionDep, now: NowDep
) -> StaffDataRequest:
    """Decline a pending deletion request; the requester sees the reason on their data page."""
    try:
        requests.decline(session, request, ctx.member.id, body.reason, now)
    except requests.NotPending as refused:
        session.rollback()
        raise ApiError(
            409,
            "not_pending",
            f"この依頼は処理済みです（{refused.status}）。 (This request is {refused.status} already.)",
        ) from None
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action="data_request.decline",
        target_type="data_request",
        target_id=request.id,
        before={"status": "pending"},
        after={"status": "declined", "reason": body.reason},
        at=now,
    )
    session.commit()
    return _staff_view(request, now)
