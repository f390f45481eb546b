"""Polls: their life from a draft to the close, and how each side sees one.

    draft ─submit─▶ pending_approval ─approve─▶ scheduled ─(opens_at)─▶ open ─(closes_at)─▶ closed
      ▲               │reject                       │                   freeze()          close()
      └─(PATCH)── rejected                     cancel (before it opens)

`submit` goes straight to `scheduled` when the town does not ask for approval
(`Municipality.posts_need_approval`). Every move is one conditional UPDATE on the status it
leaves, so two staff members (or a staff member and the clock) never both move a poll.

The opening and the close happen on time in the clock loop (`backend.polls.clock`), and
also lazily: every request that reads or votes on a poll first brings it up to date
(`catch_up`), with the same idempotent functions, so what a poll answers never depends on
when the loop last ran. The request's time comes from `poll_time` (tests override it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.orm import Session

from backend.core.db import utcnow
from backend.polls import ballots, electorate
from backend.polls.ballots import aware, options_of, series_ids
from backend.polls.models import Poll, PollOption, PollSeries, PollVote
from backend.polls.poll_schemas import (
    OptionIn,
    OptionOut,
    PollCreate,
    PublicPoll,
    SeriesOut,
    StaffPoll,
    window_problem,
)
from backend.sales.models import Drop
from backend.staff.models import StaffMember
from backend.towns.models import Municipality


async def poll_time() -> datetime:
    """The time a poll request is judged by (open yet? closed?). Tests override it."""
    return utcnow()


PollNow = Annotated[datetime, Depends(poll_time)]

#: An opening may be up to this far in the past when a poll is created or scheduled (the
#: console's clock and a slow form), no further: the electorate is the cards held then.
OPENING_GRACE = timedelta(minutes=1)
#: Closed polls a holder still sees on "my card".
RECENTLY_CLOSED = timedelta(days=30)
EDITABLE = ("draft", "rejected")
CANCELLABLE = ("draft", "pending_approval", "scheduled", "rejected")
PUBLIC = ("scheduled", "open", "closed")


@dataclass
class PollRefused(Exception):
    """A staff request the poll's state or the town's data refuses. `field` set: a 422
    `cross_field` problem of that body field; else `status` and `code`."""

    status: int
    code: str
    message: str
    field: str | None = None

    def __str__(self) -> str:
        return self.message


def invalid(field: str, message: str) -> PollRefused:
    return PollRefused(422, "invalid_request", message, field)


# ── checks ──────────────────────────────────────────────────────────────────


def check_series(session: Session, town_id: int, drop_ids: list[int]) -> None:
    """Every drop id names a resident-card series of the town; else a 422 on `series`."""
    if not drop_ids:
        return
    found = set(
        session.scalars(
            select(Drop.id).where(Drop.id.in_(drop_ids), Drop.municipality_id == town_id, Drop.kind == "resident_card")
        )
    )
    missing = [drop_id for drop_id in drop_ids if drop_id not in found]
    if missing:
        raise invalid("series", f"not card series of this town: {', '.join(str(m) for m in missing)}")


def check_opening(opens_at: datetime, now: datetime) -> None:
    if aware(opens_at) < now - OPENING_GRACE:
        raise invalid("opens_at", "opens_at is in the past: the electorate is the cards held at the opening")


def check_window(opens_at: datetime, closes_at: datetime) -> None:
    problem = window_problem(aware(opens_at), aware(closes_at))
    if problem is not None:
        raise invalid("closes_at", problem)


# ── writes ──────────────────────────────────────────────────────────────────


def _set_options(session: Session, poll_id: int, options: list[OptionIn]) -> None:
    session.execute(delete(PollOption).where(PollOption.poll_id == poll_id))
    session.flush()
    for position, option in enumerate(options, start=1):
        session.add(PollOption(poll_id=poll_id, position=position, label_ja=option.label_ja, label_en=option.label_en))


def _set_series(session: Session, poll_id: int, drop_ids: list[int]) -> None:
    session.execute(delete(PollSeries).where(PollSeries.poll_id == poll_id))
    for drop_id in drop_ids:
        session.add(PollSeries(poll_id=poll_id, drop_id=drop_id))


def create_poll(session: Session, town: Municipality, member_id: int, body: PollCreate, now: datetime) -> Poll:
    check_opening(body.opens_at, now)
    check_series(session, town.id, body.series)
    poll = Poll(
        municipality_id=town.id,
        question_ja=body.question_ja.strip(),
        question_en=body.question_en.strip(),
        description_ja=body.description_ja,
        description_en=body.description_en,
        status="draft",
        opens_at=body.opens_at,
        closes_at=body.closes_at,
        quorum_percent=body.quorum_percent,
        allow_change=body.allow_change,
        created_by=member_id,
        created_at=now,
        updated_at=now,
    )
    session.add(poll)
    session.flush()
    _set_options(session, poll.id, body.options)
    _set_series(session, poll.id, body.series)
    session.flush()
    return poll


def update_poll(session: Session, poll: Poll, changes: dict[str, Any], now: datetime) -> None:
    """A draft's or rejected poll's fields; it stays in its status (submit it again)."""
    if poll.status not in EDITABLE:
        raise PollRefused(409, "poll_not_editable", f"A {poll.status} poll cannot be changed (only drafts).")
    opens_at = changes.get("opens_at", poll.opens_at)
    closes_at = changes.get("closes_at", poll.closes_at)
    check_window(opens_at, closes_at)
    if "opens_at" in changes:
        check_opening(opens_at, now)
    if "series" in changes:
        check_series(session, poll.municipality_id, changes["series"])
        _set_series(session, poll.id, changes.pop("series"))
    if "options" in changes:
        _set_options(session, poll.id, changes.pop("options"))
    for name, value in changes.items():
        setattr(poll, name, value.strip() if name.startswith("question_") else value)
    poll.updated_at = now
    session.flush()


def _move(session: Session, poll: Poll, sources: tuple[str, ...], values: dict[str, Any]) -> bool:
    moved = session.execute(
        update(Poll)
        .where(Poll.id == poll.id, Poll.status.in_(sources))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(poll)
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def submit(session: Session, poll: Poll, town: Municipality, now: datetime) -> None:
    """→ pending_approval (the town asks for a moderator's approval) or scheduled."""
    if poll.status not in EDITABLE:
        raise PollRefused(409, "poll_not_editable", f"A {poll.status} poll cannot be submitted.")
    _opening_still_ahead(poll, now)
    target = "pending_approval" if town.posts_need_approval else "scheduled"
    values: dict[str, Any] = {"status": target, "reject_reason": None, "updated_at": now}
    if not _move(session, poll, EDITABLE, values):
        raise PollRefused(409, "poll_not_editable", f"A {poll.status} poll cannot be submitted.")


def _opening_still_ahead(poll: Poll, now: datetime) -> None:
    if aware(poll.opens_at) < now - OPENING_GRACE:
        raise PollRefused(
            409, "opens_at_passed", "Its opening has passed: edit opens_at (and closes_at) first, then submit."
        )


def approve(session: Session, poll: Poll, member_id: int, now: datetime) -> None:
    """A pending poll scheduled, by a moderator or owner who did not write it: a town that
    asks for approval asks for a second pair of eyes (as for announcements)."""
    if poll.status != "pending_approval":
        raise PollRefused(409, "poll_not_pending", f"Only a poll awaiting approval can be approved ({poll.status}).")
    if poll.created_by == member_id:
        raise PollRefused(
            403,
            "own_poll",
            "自分で作った投票は承認できません。別の担当者に依頼してください。 (Ask someone else to approve it.)",
        )
    _opening_still_ahead(poll, now)
    values = {"status": "scheduled", "approved_by": member_id, "updated_at": now}
    if not _move(session, poll, ("pending_approval",), values):
        raise PollRefused(409, "poll_not_pending", f"Only a poll awaiting approval can be approved ({poll.status}).")


def reject(session: Session, poll: Poll, member_id: int, reason: str, now: datetime) -> None:
    values = {"status": "rejected", "reject_reason": reason.strip(), "approved_by": None, "updated_at": now}
    if not _move(session, poll, ("pending_approval",), values):
        raise PollRefused(409, "poll_not_pending", f"Only a poll awaiting approval can be rejected ({poll.status}).")


def cancel(session: Session, poll: Poll, now: datetime) -> None:
    """Before it opens only: once open, its electorate is frozen and votes may be cast."""
    moved = session.execute(
        update(Poll)
        .where(
            Poll.id == poll.id,
            Poll.status.in_(CANCELLABLE),
            or_(Poll.status != "scheduled", Poll.opens_at > now),
        )
        .values(status="cancelled", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(poll)
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise PollRefused(409, "poll_not_cancellable", f"A {poll.status} poll cannot be cancelled (it has opened).")


# ── on time, lazily ───────────────────────────────────────────────────────────


def catch_up(session: Session, poll: Poll, now: datetime) -> Poll:
    """Open or close `poll` if its moment has come and nobody did yet (each step commits);
    returns it as it stands."""
    if poll.status == "scheduled" and aware(poll.opens_at) <= now:
        electorate.freeze(session, poll.id, now)
        session.commit()
        session.refresh(poll)
    if poll.status == "open" and aware(poll.closes_at) <= now:
        ballots.close(session, poll.id, now)
        session.commit()
        session.refresh(poll)
    return poll


def due(town_id: int | None, now: datetime) -> Select[int]:
    """Ids of polls whose opening or close has come and not been done."""
    query = select(Poll.id).where(
        or_(
            (Poll.status == "scheduled") & (Poll.opens_at <= now),
            (Poll.status == "open") & (Poll.closes_at <= now),
        )
    )
    return query.where(Poll.municipality_id == town_id) if town_id is not None else query


def catch_up_all(session: Session, town_id: int | None, now: datetime) -> None:
    for poll_id in session.scalars(due(town_id, now).order_by(Poll.id)).all():
        poll = session.get(Poll, poll_id)
        if poll is not None:
            catch_up(session, poll, now)


# ── views ───────────────────────────────────────────────────────────────────


def option_views(session: Session, poll_id: int) -> list[OptionOut]:
    return [
        OptionOut(id=o.id, position=o.position, label_ja=o.label_ja, label_en=o.label_en)
        for o in options_of(session, poll_id)
    ]


def series_views(session: Session, poll_id: int) -> list[SeriesOut]:
    ids = series_ids(session, poll_id)
    if not ids:
        return []
    drops = session.scalars(select(Drop).where(Drop.id.in_(ids)).order_by(Drop.id)).all()
    return [SeriesOut(drop_id=d.id, title_ja=d.title_ja, title_en=d.title_en) for d in drops]


def votes_so_far(session: Session, poll_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(PollVote).where(PollVote.poll_id == poll_id)) or 0)


def _email(session: Session, member_id: int | None) -> str | None:
    member = session.get(StaffMember, member_id) if member_id is not None else None
    return member.email if member is not None else None


def _maybe(moment: datetime | None) -> datetime | None:
    return aware(moment) if moment is not None else None


def staff_view(session: Session, poll: Poll, slug: str) -> StaffPoll:
    return StaffPoll(
        id=poll.id,
        municipality=slug,
        status=poll.status,  # type: ignore[arg-type]
        question_ja=poll.question_ja,
        question_en=poll.question_en,
        description_ja=poll.description_ja,
        description_en=poll.description_en,
        options=option_views(session, poll.id),
        opens_at=aware(poll.opens_at),
        closes_at=aware(poll.closes_at),
        series=series_views(session, poll.id),
        quorum_percent=poll.quorum_percent,
        allow_change=poll.allow_change,
        created_by=_email(session, poll.created_by),
        approved_by=_email(session, poll.approved_by),
        reject_reason=poll.reject_reason,
        frozen_at=_maybe(poll.frozen_at),
        frozen_block=poll.frozen_block,
        electorate=poll.electorate,
        votes_so_far=votes_so_far(session, poll.id),
        closed_at=_maybe(poll.closed_at),
        ballots_head=poll.ballots_head,
        created_at=aware(poll.created_at),
        updated_at=aware(poll.updated_at),
    )


def poll_urls(public_url: str, poll_id: int) -> tuple[str, str]:
    base = f"{public_url.rstrip('/')}/api/v1/polls/{poll_id}"
    return f"{base}/results", f"{base}/ballots.txt"


def public_view(session: Session, poll: Poll, slug: str, public_url: str) -> PublicPoll:
    closed = poll.status == "closed"
    results_url, ballots_url = poll_urls(public_url, poll.id)
    return PublicPoll(
        id=poll.id,
        municipality=slug,
        status=poll.status,  # type: ignore[arg-type]
        question_ja=poll.question_ja,
        question_en=poll.question_en,
        description_ja=poll.description_ja,
        description_en=poll.description_en,
        options=option_views(session, poll.id),
        opens_at=aware(poll.opens_at),
        closes_at=aware(poll.closes_at),
        series=series_views(session, poll.id),
        quorum_percent=poll.quorum_percent,
        allow_change=poll.allow_change,
        electorate=poll.electorate,
        frozen_at=_maybe(poll.frozen_at),
        frozen_block=poll.frozen_block,
        closed_at=_maybe(poll.closed_at),
        results_url=results_url if closed else None,
        ballots_url=ballots_url if closed else None,
    )


def audit_view(session: Session, poll: Poll) -> dict[str, Any]:
    """The fields the audit log keeps before and after a change."""
    return {
        "status": poll.status,
        "question_ja": poll.question_ja,
        "question_en": poll.question_en,
        "options": [[o.label_ja, o.label_en] for o in options_of(session, poll.id)],
        "opens_at": aware(poll.opens_at).astimezone(UTC),
        "closes_at": aware(poll.closes_at).astimezone(UTC),
        "series": series_ids(session, poll.id),
        "quorum_percent": poll.quorum_percent,
        "allow_change": poll.allow_change,
        "reject_reason": poll.reject_reason,
    }
