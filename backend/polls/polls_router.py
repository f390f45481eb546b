"""Polls for everyone: read a poll, its results and its ballot file; holders vote.

    GET  /api/v1/polls?municipality=               scheduled, open and closed polls, paged
    GET  /api/v1/polls/{poll_id}                   one poll (its electorate once open)
    GET  /api/v1/polls/{poll_id}/results           after the close (409 poll_not_closed before)
    GET  /api/v1/polls/{poll_id}/ballots.txt       after the close: the ballot file (docs/polls.md)
    POST /api/v1/polls/{poll_id}/votes             a card holder votes with 1–50 cards (201)
    GET  /api/v1/holders/me/polls                  the caller's open and recently closed polls

Every route first brings the poll(s) it reads up to date (opened or closed if their moment
has come: `backend.polls.polls.catch_up`), so answers never depend on the clock loop's timing.
Drafts, polls awaiting approval, rejected and cancelled ones are not public (404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlalchemy import and_, func, or_, select

from backend.core import ratelimit
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import MAX_ROW_ID
from backend.holders.identity import CardHolder, CurrentCardHolder, cards_of
from backend.polls import ballots
from backend.polls.ballots import aware
from backend.polls.models import Poll, PollElector, PollOption, PollVote
from backend.polls.poll_schemas import (
    MyCardVote,
    MyPoll,
    MyPolls,
    PollResults,
    PublicPoll,
    PublicPollsPage,
    VoteIn,
    VotesOut,
)
from backend.polls.polls import PUBLIC, RECENTLY_CLOSED, PollNow, catch_up, catch_up_all, poll_urls, public_view
from backend.polls.votes import VoteRefused, cast
from backend.sales.models import OrderCard
from backend.towns.models import Municipality

#: Vote requests a holder may make in a window (count, seconds): far above a person voting
#: and changing their mind, far below a script.
VOTE_LIMIT = (120, 600)

router = APIRouter(tags=["polls"])

PollId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="The poll's id")]
_NOT_FOUND = {404: "poll_not_found"}
_NOT_CLOSED = {404: "poll_not_found", 409: "poll_not_closed"}


def _town_slug(session: SessionDep, town_id: int) -> str:
    town = session.get(Municipality, town_id)
    assert town is not None
    return town.slug


def public_poll(poll_id: PollId, session: SessionDep, now: PollNow) -> Poll:
    """The poll `{poll_id}` if public, brought up to date; else 404."""
    poll = session.get(Poll, poll_id)
    if poll is None or poll.status not in PUBLIC:
        raise ApiError(404, "poll_not_found", "その投票はありません。 (No such poll.)")
    catch_up(session, poll, now)
    # Hand the connection back before the caller's own dependencies (the holder's session
    # lookup) take one: a request never holds two, so a burst of votes cannot drain the pool.
    session.commit()
    return poll


PublicPollDep = Annotated[Poll, Depends(public_poll)]


def _closed(poll: Poll) -> Poll:
    if poll.status != "closed":
        raise ApiError(
            409, "poll_not_closed", "結果は投票の締め切り後に公開されます。 (Results are published after the close.)"
        )
    return poll


@router.get("/api/v1/polls", response_model=PublicPollsPage, responses=error_responses(422))
def list_polls(
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    now: PollNow,
    municipality: Annotated[str | None, Query(min_length=1, max_length=64, description="a town's slug")] = None,
) -> PublicPollsPage:
    """Scheduled, open and closed polls (of one town), newest opening first."""
    town_id: int | None = None
    if municipality is not None:
        town = session.scalar(select(Municipality).where(Municipality.slug == municipality))
        if town is None:
            return PublicPollsPage(items=[], total=0, limit=page.limit, offset=page.offset)
        town_id = town.id
    catch_up_all(session, town_id, now)
    query = select(Poll).where(Poll.status.in_(PUBLIC))
    if town_id is not None:
        query = query.where(Poll.municipality_id == town_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    polls = session.scalars(query.order_by(Poll.opens_at.desc(), Poll.id.desc()).limit(page.limit).offset(page.offset))
    public_url = runtime.settings.public_url
    items = [public_view(session, poll, _town_slug(session, poll.municipality_id), public_url) for poll in polls]
    return PublicPollsPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/api/v1/polls/{poll_id}",
    response_model=PublicPoll,
    responses=error_responses(404, 422, codes=_NOT_FOUND),
)
def get_poll(poll: PublicPollDep, session: SessionDep, runtime: RuntimeDep) -> PublicPoll:
    """The question, options, window, status, quorum; the electorate once open."""
    return public_view(session, poll, _town_slug(session, poll.municipality_id), runtime.settings.public_url)


@router.get(
    "/api/v1/polls/{poll_id}/results",
    response_model=PollResults,
    responses=error_responses(404, 409, 422, codes=_NOT_CLOSED),
)
def get_results(poll: PublicPollDep, session: SessionDep, runtime: RuntimeDep) -> PollResults:
    """Counts per option, turnout and quorum against the frozen electorate, the ballot file's
    head (recount it with scripts/recount_poll.py)."""
    _closed(poll)
    _results_url, ballots_url = poll_urls(runtime.settings.public_url, poll.id)
    return ballots.results(session, poll, _town_slug(session, poll.municipality_id), ballots_url)


@router.get(
    "/api/v1/polls/{poll_id}/ballots.txt",
    response_class=Response,
    responses={
        200: {
            "description": "The ballot file (furusato-ballots-1, docs/polls.md), UTF-8 text",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **error_responses(404, 409, 422, codes=_NOT_CLOSED),
    },
)
def get_ballots(poll: PublicPollDep, session: SessionDep) -> Response:
    """Every counted vote (card, choice, receipt), chained by SHA-256, with the tallies."""
    _closed(poll)
    return Response(
        ballots.ballot_file(session, poll),
        media_type="text/plain; charset=utf-8",
        headers={
            "Cache-Control": "public, max-age=300",
            "Content-Disposition": f'inline; filename="poll-{poll.id}-ballots.txt"',
        },
    )


@router.post(
    "/api/v1/polls/{poll_id}/votes",
    status_code=201,
    response_model=VotesOut,
    responses=error_responses(
        401,
        404,
        409,
        422,
        429,
        codes={
            401: "unauthorized",
            404: "poll_not_found, option_not_found",
            409: "poll_not_open, not_eligible, vote_final",
            429: "rate_limited (see Retry-After)",
        },
    ),
)
def vote(
    poll: PublicPollDep,
    body: VoteIn,
    holder: CurrentCardHolder,
    session: SessionDep,
    runtime: RuntimeDep,
    now: PollNow,
) -> VotesOut:
    """Vote (or change the vote, if the poll allows) with the caller's cards: each must have
    been theirs when the poll opened, and not be revoked. Each vote gets a receipt to find
    in the ballot file after the close. Rate-limited per holder (shared counters)."""
    session.commit()  # the poll's read ends: its connection goes back before the counter takes one
    ratelimit.enforce(
        runtime.sessions,
        f"vote:{holder.visitor}",
        VOTE_LIMIT,
        "投票の操作が多すぎます。しばらくしてからお試しください。 (Too many votes; wait a moment.)",
    )
    cards = [(card.contract, card.token_id) for card in body.cards]
    try:
        votes = cast(session, poll.id, frozenset(holder.addresses), body.option_id, cards, now)
    except VoteRefused as refused:
        session.rollback()
        raise ApiError(refused.status, refused.code, refused.message) from None
    session.commit()
    return VotesOut(votes=votes)


# ── the holder's polls ──────────────────────────────────────────────────────


def _my_towns(session: SessionDep, runtime: RuntimeDep, holder: CardHolder) -> set[int]:
    """Towns of the caller's cards now, and of polls where they hold a vote from the opening."""
    towns = {card.municipality_id for card in cards_of(session, holder, runtime.manifest.chain_id)}
    if holder.addresses:
        towns |= set(
            session.scalars(
                select(Poll.municipality_id)
                .join(PollElector, PollElector.poll_id == Poll.id)
                .where(PollElector.address.in_(holder.addresses))
                .distinct()
            )
        )
    return towns


def _my_cards(session: SessionDep, poll: Poll, holder: CardHolder, now: datetime) -> list[MyCardVote]:
    if not holder.addresses:
        return []
    rows = session.execute(
        select(PollElector, PollVote, PollOption.position, OrderCard.revoked_at)
        .outerjoin(
            PollVote,
            and_(
                PollVote.poll_id == PollElector.poll_id,
                PollVote.chain_id == PollElector.chain_id,
                PollVote.contract == PollElector.contract,
                PollVote.token_id == PollElector.token_id,
            ),
        )
        .outerjoin(PollOption, PollOption.id == PollVote.option_id)
        .outerjoin(
            OrderCard, and_(OrderCard.drop_id == PollElector.drop_id, OrderCard.token_id == PollElector.token_id)
        )
        .where(PollElector.poll_id == poll.id, PollElector.address.in_(holder.addresses))
    ).all()
    is_open = poll.status == "open" and aware(poll.opens_at) <= now < aware(poll.closes_at)
    cards = [
        MyCardVote(
            contract=elector.contract,
            token_id=int(elector.token_id),
            drop_id=elector.drop_id,
            option_id=vote.option_id if vote is not None else None,
            position=position,
            receipt=vote.receipt if vote is not None else None,
            voted_at=aware(vote.voted_at) if vote is not None else None,
            can_vote=is_open and revoked_at is None and (vote is None or poll.allow_change),
        )
        for elector, vote, position, revoked_at in rows
    ]
    return sorted(cards, key=lambda card: (card.contract.lower(), card.token_id))


@router.get(
    "/api/v1/holders/me/polls",
    response_model=MyPolls,
    responses=error_responses(401, 422, codes={401: "unauthorized"}),
)
def my_polls(
    holder: CurrentCardHolder, session: SessionDep, runtime: RuntimeDep, page: PageDep, now: PollNow
) -> MyPolls:
    """Open and recently closed (30 days) polls of the towns of the caller's cards, each with
    the caller's cards in its electorate and their current choice and receipt. Open first
    (closing soonest first), then closed (latest first)."""
    towns = _my_towns(session, runtime, holder)
    if not towns:
        return MyPolls(items=[], total=0, limit=page.limit, offset=page.offset)
    for town_id in sorted(towns):
        catch_up_all(session, town_id, now)
    polls = session.scalars(
        select(Poll).where(
            Poll.municipality_id.in_(towns),
            or_(Poll.status == "open", and_(Poll.status == "closed", Poll.closed_at >= now - RECENTLY_CLOSED)),
        )
    ).all()
    ordered = sorted(
        polls,
        key=lambda p: (
            (0, aware(p.closes_at).timestamp(), p.id)
            if p.status == "open"
            else (1, -aware(p.closed_at or p.closes_at).timestamp(), p.id)
        ),
    )
    chosen = ordered[page.offset : page.offset + page.limit]
    public_url = runtime.settings.public_url
    items = [
        MyPoll(
            poll=public_view(session, poll, _town_slug(session, poll.municipality_id), public_url),
            cards=_my_cards(session, poll, holder, now),
        )
        for poll in chosen
    ]
    return MyPolls(items=items, total=len(ordered), limit=page.limit, offset=page.offset)
