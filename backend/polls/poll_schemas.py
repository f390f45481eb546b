"""Polls over HTTP: what staff send and read, what the public and holders read, a vote.

Rules JSON Schema can state are in the schema (lengths, 2–10 options, 1–50 cards, quorum
0–100); the others are `cross_field` 422s naming the rule: the close after the opening, the
window at most `MAX_WINDOW` long, the opening not in the past (judged against the request's
time by the handler), series that are the town's resident-card drops. Times carry their
offset (the console sends Japan time) and are kept in UTC, whole seconds. Fields the server
owns (status, electorate, head) are never accepted (`extra="forbid"`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from backend.core.schemas import (
    ADDRESS_SCHEMA,
    MAX_ROW_ID,
    MAX_TOKEN_ID,
    IsoDateTime,
    UtcDateTime,
    card_recipient,
    cross_field,
    whole_number,
)
from backend.sales.drop_schemas import Description

#: The ballot format's name (docs/polls.md, scripts/recount_poll.py).
ALGORITHM = "furusato-ballots-1"
MIN_OPTIONS, MAX_OPTIONS = 2, 10
#: Cards one vote request may cast (a holder of many cards votes in pages of this size).
MAX_CARDS_PER_VOTE = 50
#: Series a poll may name (none: every series of the town).
MAX_SERIES = 50
#: A poll's window is at most a year long.
MAX_WINDOW = timedelta(days=366)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

#: One line of text with something that is not a space: questions and labels go on one line of
#: the ballot file, so no control character (no newline) may be in them.
_SPACES = "\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_LINE_PATTERN = f"^[^\\x00-\\x1f\\x7f\\u2028\\u2029]*[^{_SPACES}][^\\x00-\\x1f\\x7f\\u2028\\u2029]*$"
Question = Annotated[str, Field(min_length=1, max_length=300, pattern=_LINE_PATTERN)]
Label = Annotated[str, Field(min_length=1, max_length=200, pattern=_LINE_PATTERN)]
Quorum = Annotated[
    int,
    Field(ge=0, le=100, description="share of the electorate (%) that must vote for the result to stand"),
    BeforeValidator(whole_number),
]
DropId = Annotated[int, Field(ge=1, le=MAX_ROW_ID), BeforeValidator(whole_number)]
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID), BeforeValidator(whole_number)]
TokenId = Annotated[int, Field(ge=0, le=MAX_TOKEN_ID), BeforeValidator(whole_number)]
Strict = Annotated[bool, Field(strict=True)]


def _in_range(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise cross_field("a time between 2000-01-01 and 2200-01-01")
    return moment.astimezone(UTC).replace(microsecond=0)


Moment = Annotated[
    IsoDateTime,
    AfterValidator(_in_range),
    Field(description="RFC 3339 with its offset, e.g. 2027-04-01T09:00:00+09:00 (kept in UTC, whole seconds)"),
]


def _unique(values: list[int]) -> list[int]:
    if len(set(values)) != len(values):
        raise ValueError("each drop once")
    return sorted(values)


SeriesList = Annotated[
    list[DropId],
    Field(
        max_length=MAX_SERIES,
        description="drop ids of the town's card series that vote, each once; [] = every series",
        json_schema_extra={"uniqueItems": True},
    ),
    AfterValidator(_unique),
]

PollStatus = Literal["draft", "pending_approval", "scheduled", "open", "closed", "rejected", "cancelled"]
PublicStatus = Literal["scheduled", "open", "closed"]


def window_problem(opens_at: datetime, closes_at: datetime) -> str | None:
    """Why a window is not one, or None."""
    if closes_at <= opens_at:
        return "closes_at must be after opens_at"
    if closes_at - opens_at > MAX_WINDOW:
        return "a poll is open at most 366 days"
    return None


class OptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label_ja: Label
    label_en: Label


OptionList = Annotated[list[OptionIn], Field(min_length=MIN_OPTIONS, max_length=MAX_OPTIONS)]


class PollCreate(BaseModel):
    """A draft poll: the question, 2–10 options in the order shown, the window, who votes."""

    model_config = ConfigDict(extra="forbid")

    question_ja: Question
    question_en: Question
    description_ja: Description = ""
    description_en: Description = ""
    options: OptionList
    opens_at: Moment
    closes_at: Moment
    series: SeriesList = []
    quorum_percent: Quorum = 0
    allow_change: Strict = Field(default=True, description="whether a vote may be changed until the close")

    @model_validator(mode="after")
    def _window(self) -> Self:
        problem = window_problem(self.opens_at, self.closes_at)
        if problem is not None:
            raise cross_field(problem)
        return self


class PollUpdate(BaseModel):
    """A draft's (or rejected poll's) changes: only the fields sent change; `options`, when
    sent, replaces the list."""

    model_config = ConfigDict(extra="forbid")

    question_ja: Question | None = None
    question_en: Question | None = None
    description_ja: Description | None = None
    description_en: Description | None = None
    options: OptionList | None = None
    opens_at: Moment | None = None
    closes_at: Moment | None = None
    series: SeriesList | None = None
    quorum_percent: Quorum | None = None
    allow_change: Strict | None = None

    def changes(self) -> dict[str, Any]:
        """The fields sent; a null is taken as not sent (the field keeps its value)."""
        return {name: getattr(self, name) for name in self.model_fields_set if getattr(self, name) is not None}


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str, Field(min_length=1, max_length=2_000, pattern=_LINE_PATTERN, description="shown to the editor")
    ]


class OptionOut(BaseModel):
    id: int
    position: int = Field(description="1, 2, … in the order shown; the ballot file names options by it")
    label_ja: str
    label_en: str


class SeriesOut(BaseModel):
    drop_id: int
    title_ja: str
    title_en: str


class StaffPoll(BaseModel):
    id: int
    municipality: str
    status: PollStatus
    question_ja: str
    question_en: str
    description_ja: str
    description_en: str
    options: list[OptionOut]
    opens_at: UtcDateTime
    closes_at: UtcDateTime
    series: list[SeriesOut] = Field(description="[] = every series of the town")
    quorum_percent: int
    allow_change: bool
    created_by: str | None
    approved_by: str | None
    reject_reason: str | None
    frozen_at: UtcDateTime | None
    frozen_block: int | None
    electorate: int | None
    votes_so_far: int = Field(description="cards that have voted (no counts per option before the close)")
    closed_at: UtcDateTime | None
    ballots_head: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class StaffPollsPage(BaseModel):
    items: list[StaffPoll]
    total: int
    limit: int
    offset: int


class PublicPoll(BaseModel):
    id: int
    municipality: str
    status: PublicStatus
    question_ja: str
    question_en: str
    description_ja: str
    description_en: str
    options: list[OptionOut]
    opens_at: UtcDateTime
    closes_at: UtcDateTime
    series: list[SeriesOut] = Field(description="[] = every series of the town")
    quorum_percent: int
    allow_change: bool
    electorate: int | None = Field(description="cards that may vote, frozen at the opening (None before)")
    frozen_at: UtcDateTime | None
    frozen_block: int | None = Field(description="the chain block the electorate was read at")
    closed_at: UtcDateTime | None
    results_url: str | None = Field(description="after the close")
    ballots_url: str | None = Field(description="after the close")


class PublicPollsPage(BaseModel):
    items: list[PublicPoll]
    total: int
    limit: int
    offset: int


class OptionCount(BaseModel):
    option_id: int
    position: int
    label_ja: str
    label_en: str
    votes: int


class PollResults(BaseModel):
    poll_id: int
    algorithm: str = Field(default=ALGORITHM, description="the ballot file's format (docs/polls.md)")
    municipality: str
    question_ja: str
    question_en: str
    options: list[OptionCount]
    votes_cast: int = Field(description="votes counted (revoked cards' left out)")
    electorate: int = Field(description="cards that could vote, frozen at the opening")
    revoked_excluded: int = Field(description="cards of the electorate revoked (refunded) by the close")
    eligible: int = Field(description="electorate - revoked_excluded: the base of turnout and quorum")
    turnout_percent: float = Field(description="100 × votes_cast / eligible, two decimals")
    quorum_percent: int
    quorum_met: bool = Field(description="100 × votes_cast ≥ quorum_percent × eligible (and a vote cast if > 0)")
    opened_at: UtcDateTime
    closed_at: UtcDateTime
    frozen_block: int | None
    ballots_head: str = Field(description="the ballot file's last hash")
    ballots_url: str


class CardRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contract: Annotated[
        str,
        Field(description="the card's contract, checksummed or all lower case", json_schema_extra=ADDRESS_SCHEMA),
        AfterValidator(card_recipient),
    ]
    token_id: TokenId


def _distinct_cards(cards: list[CardRef]) -> list[CardRef]:
    if len({(card.contract, card.token_id) for card in cards}) != len(cards):
        raise cross_field("each card once")
    return cards


class VoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    option_id: RowId
    cards: Annotated[
        list[CardRef],
        Field(
            min_length=1,
            max_length=MAX_CARDS_PER_VOTE,
            description="the cards that cast this vote, each once",
            json_schema_extra={"uniqueItems": True},
        ),
        AfterValidator(_distinct_cards),
    ]


class VoteOut(BaseModel):
    contract: str
    token_id: int
    option_id: int
    position: int
    receipt: str = Field(description="find it in the ballot file after the close (SHA-256 hex)")
    receipt_nonce: str = Field(
        description="keep it: with it, recount_poll.py --receipt R --nonce N shows the receipt binds this card "
        "and choice (shown once, not stored)"
    )
    changes: int = Field(description="times this card's vote was changed (0: first vote)")


class VotesOut(BaseModel):
    votes: list[VoteOut]


class MyCardVote(BaseModel):
    contract: str
    token_id: int
    drop_id: int
    option_id: int | None = Field(description="its current choice (None: not voted)")
    position: int | None
    receipt: str | None
    voted_at: UtcDateTime | None
    can_vote: bool = Field(description="open, not revoked, and not final")


class MyPoll(BaseModel):
    poll: PublicPoll
    cards: list[MyCardVote] = Field(description="the caller's cards in the electorate (held at the opening)")


class MyPolls(BaseModel):
    items: list[MyPoll]
    total: int
    limit: int
    offset: int
