"""Town staff: announcements to holders, their approval and their sending.

    GET   /api/v1/staff/towns/{slug}/announcements                       paged, newest first (?status=)
    POST  /api/v1/staff/towns/{slug}/announcements                       a draft (201)
    GET   /api/v1/staff/towns/{slug}/announcements/{announcement_id}     with its delivery counts
    PATCH /api/v1/staff/towns/{slug}/announcements/{announcement_id}     draft or rejected only
    POST  …/{announcement_id}/submit     → pending_approval (town.posts_need_approval) or scheduled
    POST  …/{announcement_id}/approve    pending_approval → scheduled (not by its author)
    POST  …/{announcement_id}/reject     pending_approval → rejected, body {reason}
    POST  …/{announcement_id}/cancel     draft, pending_approval, scheduled or rejected → cancelled

Editors and owners write, submit and cancel; moderators and owners approve and reject;
analysts read (`backend.staff.policy`). Every move is a conditional UPDATE
(`backend.polls.announcements`): a second click answers 409 and changes nothing. Each write
appends one audit row in its transaction. The sender (`backend.polls.sender`) takes a
scheduled announcement when its `send_at` comes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import func, select

from backend.core import audit
from backend.core.deps import PageDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import MAX_ROW_ID
from backend.polls import announcements as rules
from backend.polls.announcement_schemas import (
    AnnouncementCreate,
    AnnouncementReject,
    AnnouncementStatus,
    AnnouncementUpdate,
    DeliveryCounts,
    StaffAnnouncement,
    StaffAnnouncementsPage,
)
from backend.polls.announcements import AnnouncementRefused, Deliveries
from backend.polls.models import Announcement
from backend.staff.deps import STAFF_RESPONSES, NowDep, StaffContext, TownStaff
from backend.staff.models import StaffMember

router = APIRouter(prefix="/api/v1/staff/towns/{slug}", tags=["staff: announcements"])

_404 = {404: "announcement_not_found"}
_READ = {**STAFF_RESPONSES, **error_responses(404, 422, codes=_404)}


def town_announcement(
    announcement_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep
) -> Announcement:
    """The announcement of the caller's town; another town's answers like a missing one."""
    found = rules.town_announcement(session, ctx.town.id, announcement_id)
    if found is None:
        raise ApiError(
            404, "announcement_not_found", "この町にそのお知らせはありません。 (No announcement with this id here.)"
        )
    return found


TownAnnouncement = Annotated[Announcement, Depends(town_announcement)]


def _emails(session: SessionDep, ids: set[int]) -> dict[int, str]:
    wanted = sorted(ids)
    if not wanted:
        return {}
    return dict(session.execute(select(StaffMember.id, StaffMember.email).where(StaffMember.id.in_(wanted))).all())


def _views(session: SessionDep, ctx: StaffContext, items: list[Announcement]) -> list[StaffAnnouncement]:
    ids = [item.id for item in items]
    series = rules.series_of(session, ids)
    counts = rules.delivery_counts(session, ids)
    people = _emails(session, {item.created_by for item in items} | {i.approved_by for i in items if i.approved_by})
    return [
        StaffAnnouncement(
            id=item.id,
            municipality=ctx.town.slug,
            status=item.status,  # type: ignore[arg-type]  # the table's CHECK keeps it one of them
            title_ja=item.title_ja,
            title_en=item.title_en,
            body_ja=item.body_ja,
            body_en=item.body_en,
            series=series[item.id],
            send_at=item.send_at,
            created_by=people.get(item.created_by),
            approved_by=people.get(item.approved_by) if item.approved_by else None,
            reject_reason=item.reject_reason,
            created_at=item.created_at,
            updated_at=item.updated_at,
            started_at=item.started_at,
            sent_at=item.sent_at,
            recipients=item.recipients,
            deliveries=DeliveryCounts(**vars(counts.get(item.id, Deliveries()))),
        )
        for item in items
    ]


def _view(session: SessionDep, ctx: StaffContext, item: Announcement) -> StaffAnnouncement:
    return _views(session, ctx, [item])[0]


def _audit(
    ctx: StaffContext, session: SessionDep, action: str, item: Announcement, before: object, after: object
) -> None:
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action=action,
        target_type="announcement",
        target_id=str(item.id),
        before=before,
        after=after,
    )


def _refused(session: SessionDep, refused: AnnouncementRefused) -> ApiError:
    session.rollback()
    return ApiError(refused.status, refused.code, str(refused))


@router.get(
    "/announcements",
    response_model=StaffAnnouncementsPage,
    responses={**STAFF_RESPONSES, **error_responses(422)},
)
def list_announcements(
    ctx: TownStaff,
    session: SessionDep,
    page: PageDep,
    status: Annotated[AnnouncementStatus | None, Query(description="only announcements in this state")] = None,
) -> StaffAnnouncementsPage:
    """The town's announcements, newest first, each with its delivery counts."""
    query = rules.town_list(ctx.town.id, status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(session.scalars(query.limit(page.limit).offset(page.offset)))
    return StaffAnnouncementsPage(items=_views(session, ctx, items), total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/announcements",
    status_code=201,
    response_model=StaffAnnouncement,
    responses={**STAFF_RESPONSES, **error_responses(404, 422, codes={404: "drop_not_found"})},
)
def create_announcement(
    body: AnnouncementCreate, ctx: TownStaff, session: SessionDep, now: NowDep
) -> StaffAnnouncement:
    """A draft for the holders of the chosen series (none: every series of the town)."""
    try:
        item = rules.create(session, ctx.town.id, body.fields(), body.series, ctx.member.id, now)
    except AnnouncementRefused as refused:
        raise _refused(session, refused) from None
    series = rules.series_of(session, [item.id])[item.id]
    _audit(ctx, session, "announcement.create", item, None, rules.audit_view(item, series))
    session.commit()
    return _view(session, ctx, item)


@router.get("/announcements/{announcement_id}", response_model=StaffAnnouncement, responses=_READ)
def get_announcement(item: TownAnnouncement, ctx: TownStaff, session: SessionDep) -> StaffAnnouncement:
    """The announcement with its delivery counts (recipients, pending, sent, skipped)."""
    return _view(session, ctx, item)


@router.patch(
    "/announcements/{announcement_id}",
    response_model=StaffAnnouncement,
    responses={
        **STAFF_RESPONSES,
        **error_responses(
            404,
            409,
            422,
            codes={404: "announcement_not_found, drop_not_found", 409: "not_editable (submitted, sent or cancelled)"},
        ),
    },
)
def edit_announcement(
    body: AnnouncementUpdate, item: TownAnnouncement, ctx: TownStaff, session: SessionDep, now: NowDep
) -> StaffAnnouncement:
    """Only the fields sent change; a draft or a rejected announcement only."""
    before = rules.audit_view(item, rules.series_of(session, [item.id])[item.id])
    try:
        rules.edit(session, item, body.changes(), body.new_series(), now)
    except AnnouncementRefused as refused:
        raise _refused(session, refused) from None
    after = rules.audit_view(item, rules.series_of(session, [item.id])[item.id])
    _audit(ctx, session, "announcement.update", item, before, after)
    session.commit()
    return _view(session, ctx, item)


def _move_responses(codes: dict[int, str]) -> dict[int | str, dict[str, object]]:
    statuses = sorted({404, 409, 422, *codes})
    return {**STAFF_RESPONSES, **error_responses(*statuses, codes={**_404, **codes})}


@router.post(
    "/announcements/{announcement_id}/submit",
    response_model=StaffAnnouncement,
    responses=_move_responses({409: "not_submittable (already submitted, sent or cancelled)"}),
)
def submit_announcement(item: TownAnnouncement, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffAnnouncement:
    """To the moderators when the town asks for approval (`pending_approval`), else straight
    to the schedule (`scheduled`: sent at `send_at`, or now)."""
    before = {"status": item.status}
    try:
        rules.submit(session, item, ctx.town.posts_need_approval, now)
    except AnnouncementRefused as refused:
        raise _refused(session, refused) from None
    _audit(ctx, session, "announcement.submit", item, before, {"status": item.status, "send_at": item.send_at})
    session.commit()
    return _view(session, ctx, item)


@router.post(
    "/announcements/{announcement_id}/approve",
    response_model=StaffAnnouncement,
    responses=_move_responses(
        {403: "forbidden, csrf_failed, own_announcement (its author may not approve it)", 409: "not_pending"}
    ),
)
def approve_announcement(item: TownAnnouncement, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffAnnouncement:
    """A moderator or owner other than its author lets it go out (`scheduled`)."""
    try:
        rules.approve(session, item, ctx.member.id, now)
    except AnnouncementRefused as refused:
        raise _refused(session, refused) from None
    _audit(ctx, session, "announcement.approve", item, {"status": rules.PENDING}, {"status": item.status})
    session.commit()
    return _view(session, ctx, item)


@router.post(
    "/announcements/{announcement_id}/reject",
    response_model=StaffAnnouncement,
    responses=_move_responses({409: "not_pending"}),
)
def reject_announcement(
    body: AnnouncementReject, item: TownAnnouncement, ctx: TownStaff, session: SessionDep, now: NowDep
) -> StaffAnnouncement:
    """Back to its writers with the reason; they may edit it and submit it again."""
    try:
        rules.reject(session, item, ctx.member.id, body.reason, now)
    except AnnouncementRefused as refused:
        raise _refused(session, refused) from None
    after = {"status": item.status, "reason": body.reason}
    _audit(ctx, session, "announcement.reject", item, {"status": rules.PENDING}, after)
    session.commit()
    return _view(session, ctx, item)


@router.post(
    "/announcements/{announcement_id}/cancel",
    response_model=StaffAnnouncement,
    responses=_move_responses({409: "not_cancellable (sending has started, or it is sent or cancelled)"}),
)
def cancel_announcement(item: TownAnnouncement, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffAnnouncement:
    """Stop it before sending starts; once the sender has fixed its recipients it goes to all."""
    before = {"status": item.status}
    try:
        rules.cancel(session, item, now)
    except AnnouncementRefused as refused:
        raise _refused(session, refused) from None
    _audit(ctx, session, "announcement.cancel", item, before, {"status": item.status})
    session.commit()
    return _view(session, ctx, item)
