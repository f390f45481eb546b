"""Who is calling a holder route: `holder: SignedInHolder` in a route's signature.

The caller signs in with `Authorization: Bearer <session_token>` (the token
`POST /api/v1/holders/session` gave); none, unknown or expired → 401 `unauthorized`.
Declare `responses=error_responses(401, …)` on every route that takes it.

The holder is loaded in a short session of its own that is closed before the handler runs,
so the request holds no database connection while it waits for anything else; the object
stays loaded (`expire_on_commit=False`) and is detached: use its `id`, `email` and
`address`, and load anything else in the handler's own session.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.bearer import hash_secret
from backend.core.deps import RuntimeDep
from backend.core.errors import ApiError
from backend.holders.models import Holder, SignInToken

Authorization = Annotated[str | None, Header()]


def unauthorised() -> ApiError:
    return ApiError(401, "unauthorized", "Sign in first (Authorization: Bearer <session_token>).")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not authorization or authorization[:7].lower() != "bearer ":
        return None
    return authorization[7:].strip() or None


def signed_in(session: Session, authorization: str | None, now: datetime) -> Holder:
    """The holder of the session token in `authorization`, loaded in `session` (one query:
    `signin.holder_for_session` joined); else 401."""
    token = bearer_token(authorization)
    holder = (
        session.scalar(
            select(Holder)
            .join(SignInToken, SignInToken.holder_id == Holder.id)
            .where(
                SignInToken.token_hash == hash_secret(token),
                SignInToken.kind == "session",
                SignInToken.expires_at > now,
            )
        )
        if token
        else None
    )
    if holder is None:
        raise unauthorised()
    return holder


def signed_in_holder(runtime: RuntimeDep, authorization: Authorization = None) -> Holder:
    with runtime.sessions() as session:
        return signed_in(session, authorization, datetime.now(UTC))


SignedInHolder = Annotated[Holder, Depends(signed_in_holder)]
