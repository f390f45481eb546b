"""Town staff: polls, from a draft to the schedule (the clock opens and closes them).

    GET   /api/v1/staff/towns/{slug}/polls                       the town's polls, paged (?status=)
    POST  /api/v1/staff/towns/{slug}/polls                       a draft (201)
    GET   /api/v1/staff/towns/{slug}/polls/{poll_id}             one, with how many cards voted so far
    PATCH /api/v1/staff/towns/{slug}/polls/{poll_id}             a draft or rejected poll's fields
    POST  /api/v1/staff/towns/{slug}/polls/{poll_id}/submit      → pending_approval, or scheduled
    POST  /api/v1/staff/towns/{slug}/polls/{poll_id}/approve     pending_approval → scheduled
    POST  /api/v1/staff/towns/{slug}/polls/{poll_id}/reject      pending_approval → rejected {reason}
    POST  /api/v1/staff/towns/{slug}/polls/{poll_id}/cancel      before it opens

Editors write, moderators (and owners) approve or reject, everyone in the console but the
shop verifier reads (`backend.staff.policy`). Each write appends one audit row in its own
transaction. Staff never see counts per option before the close (only how many voted): the
results are public at the same moment for everyone.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy import func, select

from backend.core import audit
from backend.core.deps import PageDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import CROSS_FIELD, MAX_ROW_ID
from backend.polls import polls as rules
from backend.polls.models import Poll
from backend.polls.poll_schemas import PollCreate, PollStatus, PollUpdate, RejectBody, StaffPoll, StaffPollsPage
from backend.polls.polls import PollNow, PollRefused
from backend.staff.deps import STAFF_RESPONSES, StaffContext, TownStaff

router = APIRouter(prefix="/api/v1/staff/towns/{slug}", tags=["staff: polls"])

_POLL_404 = {404: "poll_not_found"}
_READ = {**STAFF_RESPONSES, **error_responses(404, 422, codes=_POLL_404)}


def _move_responses(codes: str) -> dict[int | str, dict[str, Any]]:
    return {**STAFF_RESPONSES, **error_responses(404, 409, 422, codes={**_POLL_404, 409: codes})}


def town_poll(poll_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep) -> Poll:
    """The poll `{poll_id}` of the caller's town; another town's answers like a missing one."""
    poll = session.get(Poll, poll_id)
    if poll is None or poll.municipality_id != ctx.town.id:
        raise ApiError(404, "poll_not_found", "この町にその投票はありません。 (No poll with this id in this town.)")
    return poll


TownPoll = Annotated[Poll, Depends(town_poll)]


def _refused(refused: PollRefused) -> Exception:
    if refused.field is not None:
        return RequestValidationError(
            [{"type": CROSS_FIELD, "loc": ("body", refused.field), "msg": refused.message, "input": None}]
        )
    return ApiError(refused.status, refused.code, refused.message)


def _audit(ctx: StaffContext, session: SessionDep, action: str, poll: Poll, before: object) -> None:
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action=action,
        target_type="poll",
        target_id=str(poll.id),
        before=before,
        after=rules.audit_view(session, poll),
    )


def _view(session: SessionDep, poll: Poll, ctx: StaffContext) -> StaffPoll:
    return rules.staff_view(session, poll, ctx.town.slug)


@router.get("/polls", response_model=StaffPollsPage, responses={**STAFF_RESPONSES, **error_responses(422)})
def list_polls(
    ctx: TownStaff,
    session: SessionDep,
    page: PageDep,
    now: PollNow,
    status: Annotated[PollStatus | None, Query(description="only polls in this status")] = None,
) -> StaffPollsPage:
    """The town's polls, newest first (every status; `?status=` to filter)."""
    rules.catch_up_all(session, ctx.town.id, now)
    query = select(Poll).where(Poll.municipality_id == ctx.town.id)
    if status is not None:
        query = query.where(Poll.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    polls = session.scalars(
        query.order_by(Poll.created_at.desc(), Poll.id.desc()).limit(page.limit).offset(page.offset)
    )
    return StaffPollsPage(
        items=[_view(session, poll, ctx) for poll in polls], total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "/polls",
    status_code=201,
    response_model=StaffPoll,
    responses={**STAFF_RESPONSES, **error_responses(422, codes={422: "invalid_request"})},
)
def create_poll(body: PollCreate, ctx: TownStaff, session: SessionDep, now: PollNow) -> StaffPoll:
    """A draft: question and options in both languages, the window, the series that vote
    (none: every series of the town), the quorum, whether a vote may be changed."""
    try:
        poll = rules.create_poll(session, ctx.town, ctx.member.id, body, now)
    except PollRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    _audit(ctx, session, "poll.create", poll, None)
    session.commit()
    return _view(session, poll, ctx)


@router.get("/polls/{poll_id}", response_model=StaffPoll, responses=_READ)
def get_poll(poll: TownPoll, ctx: TownStaff, session: SessionDep, now: PollNow) -> StaffPoll:
    """One poll; once open, its frozen electorate and how many cards voted so far."""
    return _view(session, rules.catch_up(session, poll, now), ctx)


@router.patch(
    "/polls/{poll_id}",
    response_model=StaffPoll,
    responses=_move_responses("poll_not_editable"),
)
def edit_poll(body: PollUpdate, poll: TownPoll, ctx: TownStaff, session: SessionDep, now: PollNow) -> StaffPoll:
    """Only the fields sent change (`options` replaces the list); drafts and rejected polls only."""
    before = rules.audit_view(session, poll)
    try:
        rules.update_poll(session, poll, body.changes(), now)
    except PollRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    _audit(ctx, session, "poll.update", poll, before)
    session.commit()
    return _view(session, poll, ctx)


def _transition(ctx: StaffContext, session: SessionDep, poll: Poll, action: str, move: Any) -> StaffPoll:
    before = rules.audit_view(session, poll)
    try:
        move()
    except PollRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    _audit(ctx, session, action, poll, before)
    session.commit()
    return _view(session, poll, ctx)


@router.post(
    "/polls/{poll_id}/submit",
    response_model=StaffPoll,
    responses=_move_responses("poll_not_editable, opens_at_passed"),
)
def submit_poll(poll: TownPoll, ctx: TownStaff, session: SessionDep, now: PollNow) -> StaffPoll:
    """To a moderator (`pending_approval`) when the town asks for approval, else `scheduled`."""
    return _transition(ctx, session, poll, "poll.submit", lambda: rules.submit(session, poll, ctx.town, now))


@router.post(
    "/polls/{poll_id}/approve",
    response_model=StaffPoll,
    responses={
        **_move_responses("poll_not_pending, opens_at_passed"),
        **error_responses(403, codes={403: "forbidden, csrf_failed, own_poll (the author may not approve)"}),
    },
)
def approve_poll(poll: TownPoll, ctx: TownStaff, session: SessionDep, now: PollNow) -> StaffPoll:
    """`pending_approval` → `scheduled`: it opens at `opens_at`."""
    return _transition(ctx, session, poll, "poll.approve", lambda: rules.approve(session, poll, ctx.member.id, now))


@router.post(
    "/polls/{poll_id}/reject",
    response_model=StaffPoll,
    responses=_move_responses("poll_not_pending"),
)
def reject_poll(body: RejectBody, poll: TownPoll, ctx: TownStaff, session: SessionDep, now: PollNow) -> StaffPoll:
    """`pending_approval` → `rejected` with the reason the editor reads; they may edit and resubmit."""
    return _transition(
        ctx, session, poll, "poll.reject", lambda: rules.reject(session, poll, ctx.member.id, body.reason, now)
    )


@router.post(
    "/polls/{poll_id}/cancel",
    response_model=StaffPoll,
    responses=_move_responses("poll_not_cancellable"),
)
def cancel_poll(poll: TownPoll, ctx: TownStaff, session: SessionDep, now: PollNow) -> StaffPoll:
    """Before it opens only (draft, awaiting approval, scheduled, rejected)."""
    return _transition(ctx, session, poll, "poll.cancel", lambda: rules.cancel(session, poll, now))
