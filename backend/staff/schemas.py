"""Staff request and response models (the ORM models live in `models.py`).

Request models forbid unknown fields and carry an example each: the authorisation matrix test
builds its request bodies from these examples.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.core.schemas import Email, UtcDateTime
from backend.staff.signin import CODE_DIGITS

Role = Literal["owner", "editor", "moderator", "analyst", "verifier"]
#: The CSRF token and session token are URL-safe base64 of 32 bytes (43 characters).
TOKEN_MAX_LENGTH = 200


def _strict(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [example]})


# ── sign-in ─────────────────────────────────────────────────────────────────


class StaffSignInRequest(BaseModel):
    model_config = _strict({"email": "tanaka@town.example.jp"})

    email: Email


class StaffSignInAccepted(BaseModel):
    status: Literal["sent"] = "sent"


class StaffSessionRequest(BaseModel):
    model_config = _strict({"email": "tanaka@town.example.jp", "code": "123456"})

    email: Email
    code: str = Field(pattern=rf"^[0-9]{{{CODE_DIGITS}}}$", description="the 6 digits from the mail")


class StaffSessionCreated(BaseModel):
    #: Shown once; only its hash is stored. Also set as the console's HttpOnly cookie.
    token: str
    #: The absolute end of the session (idleness may end it sooner).
    expires_at: UtcDateTime
    #: Send back in `X-CSRF-Token` on writes authenticated by the cookie (also in cookie `furusato_csrf`).
    csrf_token: str


class StaffTown(BaseModel):
    slug: str
    role: Role
    name_ja: str
    name_en: str


class StaffMe(BaseModel):
    email: str
    towns: list[StaffTown]


# ── members and invites ─────────────────────────────────────────────────────


class MemberPublic(BaseModel):
    staff_id: int
    email: str
    role: Role
    #: When the member got their role in this town.
    since: UtcDateTime


class MembersPage(BaseModel):
    items: list[MemberPublic]
    total: int
    limit: int
    offset: int


class RoleChange(BaseModel):
    model_config = _strict({"role": "editor"})

    role: Role


class InviteCreate(BaseModel):
    model_config = _strict({"email": "sato@town.example.jp", "role": "editor"})

    email: Email
    role: Role


class InvitePublic(BaseModel):
    id: int
    email: str
    role: Role
    #: The inviter's e-mail.
    invited_by: str
    status: Literal["pending", "accepted", "revoked", "expired"]
    expires_at: UtcDateTime
    created_at: UtcDateTime


class InvitesPage(BaseModel):
    items: list[InvitePublic]
    total: int
    limit: int
    offset: int


class InviteAccept(BaseModel):
    model_config = _strict({"token": "mailed-token-from-the-link-fragment"})

    token: str = Field(min_length=1, max_length=TOKEN_MAX_LENGTH)


class InviteAccepted(BaseModel):
    """The new membership; the person then signs in with a code sent to `email`."""

    email: str
    slug: str
    name_ja: str
    name_en: str
    role: Role


# ── audit ───────────────────────────────────────────────────────────────────


class AuditRow(BaseModel):
    id: int
    actor: str
    action: str
    target_type: str
    target_id: str
    #: The object's fields before and after the change (null when there was none).
    before: Any
    after: Any
    at: UtcDateTime
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRow]
    total: int
    limit: int
    offset: int
