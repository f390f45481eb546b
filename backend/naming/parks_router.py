"""Parks in public, the sign, name proposals and their moderation.

Public (prefix /api/v1):

    GET  /parks?municipality=slug                 the parks, each as below (paged)
    GET  /parks/{park_id}                         the name now (from the chain), term, holder, on-chain record
    POST /lots/{lot_id}/name-proposals            the primary winner proposes the term's name (holder session)

Pages (not in the API document): `/parks/{id}` (park.html), `/lots/{id}` (lot.html) and
`/p/{id}`, the sign's short URL, which redirects to `/parks/{id}`. They are routes of this
router, so they are matched before the static pages' mount.

Staff (prefix /api/v1/staff/towns/{slug}; roles in `backend.staff.policy`):

    GET  /parks/{park_id}/sign.pdf?size=A3|A2      the printable sign
    GET  /naming/notices                           terms ending within 90 days
    GET  /name-proposals?state=pending             the moderators' queue
    POST /name-proposals/{proposal_id}/approve     approveName on chain
    POST /name-proposals/{proposal_id}/reject      rejectName on chain, with a reason code of the town's list
    GET  /name-reject-reasons                      the town's reasons (seeded on first use)
    POST /name-reject-reasons                      add one
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from backend.core import ratelimit
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_body, error_responses
from backend.core.schemas import MAX_ROW_ID
from backend.holders.deps import SignedInHolder
from backend.naming import moderation
from backend.naming.models import Lot, Park
from backend.naming.names import NameProposalCreate, ProposalCreated, TermNotices, propose, term_notices
from backend.naming.park_view import ParkPublic, ParksPage, park_public, park_with_town, parks_page
from backend.naming.sign import SignSize, render_sign, sign_facts
from backend.sales.poster import PosterUnavailable
from backend.staff.deps import STAFF_RESPONSES, NowDep, TownStaff

router = APIRouter(tags=["naming"])
log = logging.getLogger("furusato.naming")

STAFF = "/api/v1/staff/towns/{slug}"
FRONTEND_DIR = FilePath(__file__).resolve().parent.parent.parent / "frontend_static"
#: Proposals a holder may send in a window (limit, seconds): a few tries, not a flood.
PROPOSALS_PER_HOLDER = (10, 600)

ParkId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
LotId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
ProposalId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def park_not_found() -> ApiError:
    return ApiError(404, "park_not_found", "この公園はありません。 / No park has this id.")


# ── public ──────────────────────────────────────────────────────────────────


@router.get("/api/v1/parks", response_model=ParksPage)
def list_parks(
    runtime: RuntimeDep,
    page: PageDep,
    municipality: Annotated[str | None, Query(max_length=64, description="a town's slug")] = None,
) -> ParksPage:
    """Parks whose naming rights towns sell, each with its name now (read from the chain)."""
    with runtime.sessions() as session:
        return parks_page(runtime, session, municipality, page.limit, page.offset, datetime.now(UTC))


@router.get(
    "/api/v1/parks/{park_id}",
    response_model=ParkPublic,
    responses=error_responses(404, codes={404: "park_not_found"}),
)
def get_park(park_id: ParkId, runtime: RuntimeDep) -> ParkPublic:
    """A park: its name now (`currentName` on chain: the approved name while the term runs, the
    default name otherwise), the term, the rights holder as a pseudonym, the on-chain record."""
    with runtime.sessions() as session:
        found = park_with_town(session, park_id)
        if found is None:
            raise park_not_found()
        park, town = found
        return park_public(runtime, session, park, town, datetime.now(UTC))


@router.post(
    "/api/v1/lots/{lot_id}/name-proposals",
    status_code=201,
    response_model=ProposalCreated,
    responses=error_responses(
        401,
        404,
        409,
        422,
        429,
        502,
        503,
        codes={
            404: "lot_not_found",
            409: "not_primary_winner, name_pending, name_already_approved, outside_term",
            422: "name_invalid (more than 64 UTF-8 bytes, or what the contract refuses)",
            429: "rate_limited",
            502: "relay_failed: the chain refused it for another reason",
            503: "relay_unavailable",
        },
    ),
)
def create_name_proposal(
    lot_id: LotId, body: NameProposalCreate, holder: SignedInHolder, runtime: RuntimeDep
) -> ProposalCreated:
    """The primary winner proposes the park's name for the term (and its reading). The server
    signs the proposal with the winner's custodial key and relays it: no gas, no wallet. The
    answer's `state` is "pending" once it is on chain (awaiting the town's decision), or
    "relaying" while it is on its way."""
    if not ratelimit.allow(runtime.sessions, (f"naming-propose:{holder.id}", *PROPOSALS_PER_HOLDER)):
        raise ApiError(
            429, "rate_limited", "提案が多すぎます。しばらくお待ちください。 / Too many proposals; wait a while."
        )
    return ProposalCreated(proposal=propose(runtime, holder, lot_id, body, datetime.now(UTC)))


# ── pages ───────────────────────────────────────────────────────────────────


def _page(name: str, found: bool) -> Response:
    path = FRONTEND_DIR / name
    if not path.is_file():
        return JSONResponse(error_body("not_found", "This page is not available."), status_code=404)
    headers = {"Cache-Control": "no-cache"}
    return FileResponse(path, media_type="text/html", status_code=200 if found else 404, headers=headers)


def park_page(request: Request) -> Response:
    """`/parks/{id}`: the park's page (it reads `/api/v1/parks/{id}`); 404 for an unknown park."""
    runtime = request.app.state.runtime
    with runtime.sessions() as session:
        found = session.get(Park, request.path_params["park_id"]) is not None
    return _page("park.html", found)


def lot_page(request: Request) -> Response:
    """`/lots/{id}`: the lot's auction page (it reads `/api/v1/lots/{id}`)."""
    runtime = request.app.state.runtime
    with runtime.sessions() as session:
        found = session.get(Lot, request.path_params["lot_id"]) is not None
    return _page("lot.html", found)


def short_link(request: Request) -> Response:
    """`/p/{id}`, the URL printed on the sign: to the park's page."""
    return RedirectResponse(f"/parks/{request.path_params['park_id']}", status_code=302)


for _path, _endpoint in (
    ("/parks/{park_id:int}", park_page),
    ("/lots/{lot_id:int}", lot_page),
    ("/p/{park_id:int}", short_link),
):
    router.add_route(_path, _endpoint, methods=["GET", "HEAD"], include_in_schema=False)


# ── staff: the sign, notices ────────────────────────────────────────────────


def _pdf(content: bytes, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
    return Response(content, media_type="application/pdf", headers=headers)


_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}, "description": "One page"}
}


@router.get(
    f"{STAFF}/parks/{{park_id}}/sign.pdf",
    tags=["staff: naming"],
    response_class=Response,
    responses={
        **_PDF,
        **STAFF_RESPONSES,
        **error_responses(404, 503, codes={404: "park_not_found", 503: "poster_unavailable"}),
    },
)
def sign_pdf(
    park_id: ParkId,
    ctx: TownStaff,
    runtime: RuntimeDep,
    session: SessionDep,
    size: Annotated[Literal["A3", "A2"], Query(description="paper size")] = "A3",
) -> Response:
    """The park's printable sign: the name now (large), its reading, the default name, the
    term, the rights holder (pseudonym), a QR code to the park's page and its short URL."""
    park = session.get(Park, park_id)
    if park is None or park.municipality_id != ctx.town.id:
        raise park_not_found()
    public = park_public(runtime, session, park, ctx.town, datetime.now(UTC))
    chosen: SignSize = size
    try:
        pdf = render_sign(
            sign_facts(public, ctx.town.name_ja), runtime.settings.public_url, chosen, accent=ctx.town.brand_colour
        )
    except PosterUnavailable as exc:
        log.error("sign of park %s not rendered: %s", park.id, exc)
        raise ApiError(
            503, "poster_unavailable", "看板のPDFを作れません。 / Signs cannot be made on this server now."
        ) from None
    return _pdf(pdf, f"park-{park.id}-sign-{size}.pdf")


@router.get(f"{STAFF}/naming/notices", tags=["staff: naming"], response_model=TermNotices, responses=STAFF_RESPONSES)
def naming_notices(ctx: TownStaff, session: SessionDep, now: NowDep) -> TermNotices:
    """Naming terms of the town that end within 90 days: open the next term's lot and change
    the sign. Owners and editors are also mailed once per lot."""
    return term_notices(session, ctx.town.id, now)


# ── staff: moderation ───────────────────────────────────────────────────────


@router.get(
    f"{STAFF}/name-proposals",
    tags=["staff: naming"],
    response_model=moderation.StaffProposalsPage,
    responses=STAFF_RESPONSES,
)
def name_proposals(
    ctx: TownStaff,
    session: SessionDep,
    page: PageDep,
    state: Annotated[moderation.QueueState, Query(description='"all" for every state')] = "pending",
) -> moderation.StaffProposalsPage:
    """The town's proposed names (pending: the queue, oldest first) with each one's reading,
    the proposer's reason, a trademark-search reminder and the winner's earlier proposals."""
    return moderation.queue(session, ctx.town.id, state, page.limit, page.offset)


_DECISION_CODES = {
    404: "proposal_not_found",
    409: "proposal_not_pending, decision_in_progress",
    502: "chain_refused",
    503: "chain_unavailable",
}


def _decided(result: moderation.DecisionOut) -> JSONResponse:
    status = 202 if result.decision == "sending" else 200
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": moderation.DecisionOut, "description": "Sent; the chain has not answered yet (decision: sending)"}
}


@router.post(
    f"{STAFF}/name-proposals/{{proposal_id}}/approve",
    tags=["staff: naming"],
    response_model=moderation.DecisionOut,
    responses={**_ACCEPTED, **STAFF_RESPONSES, **error_responses(404, 409, 502, 503, codes=_DECISION_CODES)},
)
def approve_name(proposal_id: ProposalId, ctx: TownStaff, runtime: RuntimeDep, now: NowDep) -> JSONResponse:
    """Approve the name: `approveName` on chain; it is the park's name for the rest of the term."""
    return _decided(moderation.decide(runtime, ctx, proposal_id, True, now))


@router.post(
    f"{STAFF}/name-proposals/{{proposal_id}}/reject",
    tags=["staff: naming"],
    response_model=moderation.DecisionOut,
    responses={
        **_ACCEPTED,
        **STAFF_RESPONSES,
        **error_responses(
            404, 409, 502, 503, codes={**_DECISION_CODES, 404: "proposal_not_found, reject_reason_not_found"}
        ),
    },
)
def reject_name(
    proposal_id: ProposalId, body: moderation.RejectBody, ctx: TownStaff, runtime: RuntimeDep, now: NowDep
) -> JSONResponse:
    """Reject the name with a reason of the town's list (`rejectName(lot, code)` on chain); the
    winner may then propose another. The note is shown to the winner with the reason."""
    result = moderation.decide(
        runtime, ctx, proposal_id, False, now, reason_code=body.reason_code, note=body.note.strip()
    )
    return _decided(result)


@router.get(
    f"{STAFF}/name-reject-reasons",
    tags=["staff: naming"],
    response_model=moderation.RejectReasonsOut,
    responses=STAFF_RESPONSES,
)
def reject_reasons(ctx: TownStaff, session: SessionDep) -> moderation.RejectReasonsOut:
    """The reasons the town gives when it refuses a name (five defaults on first use)."""
    reasons = moderation.reasons_of(session, ctx.town.id)
    session.commit()
    return reasons


@router.post(
    f"{STAFF}/name-reject-reasons",
    tags=["staff: naming"],
    status_code=201,
    response_model=moderation.RejectReasonOut,
    responses={**STAFF_RESPONSES, **error_responses(409, codes={409: "reason_code_taken"})},
)
def add_reject_reason(
    body: moderation.RejectReasonCreate, ctx: TownStaff, session: SessionDep
) -> moderation.RejectReasonOut:
    """Add a reason to the town's list; its code (1–65535) goes on chain with a rejection."""
    reason = moderation.add_reason(session, ctx, body)
    session.commit()
    return reason
