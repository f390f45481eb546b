"""Schemas of people's own data (APPI): the download, deletion requests, the staff queue."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from backend.core.schemas import UtcDateTime

#: A town's slug as the URLs carry it.
TownSlug = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
RequestStatus = Literal["pending", "completed", "declined"]


class DataSection(BaseModel):
    """One kind of record the town holds, with its rows (field → value)."""

    key: str = Field(description="orders, cards, lottery_applications, check_ins, redemptions, votes, bids, …")
    title_ja: str
    title_en: str
    rows: list[dict[str, str | int | bool | None]]


class OwnDataPublic(BaseModel):
    """Everything one town holds about the signed-in holder's e-mail address."""

    town: str
    email: str
    generated_at: UtcDateTime
    #: Days the town takes at most to answer a deletion request (its setting).
    data_request_days: int
    sections: list[DataSection]


class DeletionRequestCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [{"town": "hoshikawa"}]}
    )

    town: TownSlug = Field(description="the town whose records of you are to be erased")


class DeletionRequestPublic(BaseModel):
    """A deletion request as its requester sees it."""

    request_id: str
    town: str
    town_ja: str
    town_en: str
    status: RequestStatus
    requested_at: UtcDateTime
    due_at: UtcDateTime
    completed_at: UtcDateTime | None
    #: The town's reason when declined; "" otherwise.
    reason: str


class DeletionRequestsPage(BaseModel):
    items: list[DeletionRequestPublic]
    total: int


class StaffDataRequest(BaseModel):
    """A request in the town's queue. The e-mail is there only while the request is pending
    (staff need it to check who asked); afterwards it is gone."""

    request_id: str
    kind: Literal["deletion", "export"]
    status: RequestStatus
    email: str | None
    requested_at: UtcDateTime
    due_at: UtcDateTime
    #: Pending past its due moment.
    overdue: bool
    completed_at: UtcDateTime | None
    #: Why declined, or what was erased (row counts, no personal data).
    outcome: str


class StaffDataRequestsPage(BaseModel):
    items: list[StaffDataRequest]
    total: int
    limit: int
    offset: int
    #: Pending deletion requests past their due moment (the whole queue, not just this page).
    overdue: int


class DeclineBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"reason": "ご本人確認ができませんでした。 (We could not confirm it was you.)"}]
        },
    )

    reason: str = Field(min_length=1, max_length=1000, pattern=r"^[^\x00]*$", description="shown to the requester")
