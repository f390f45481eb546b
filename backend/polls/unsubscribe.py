"""One-click unsubscribe from a town's announcement mail (RFC 8058), without a lookup table.

The token in every announcement mail names the town and the address and carries an HMAC of
both under a key derived from `FURUSATO_SECRET_KEY`:

    u1.{town id}.{base64url(e-mail)}.{base64url(HMAC-SHA256(key, "{town id}\\n{e-mail}")[:16])}

So the server needs no table of issued tokens: whoever holds a token can only unsubscribe
that one address from that one town, which is what the mail's recipient may do anyway, and
nobody can make a token for another address without the secret. A token never expires (an
old mail's link must still work) and unsubscribing twice is the same as once.

The address is in the token (base64url, not encrypted): the link only travels inside the
mail sent to that address.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.db import utcnow
from backend.polls.models import MailOptOut
from backend.towns.models import Municipality
from minting.store import insert_for

VERSION = "u1"
#: Bytes of the HMAC kept in the token (128 bits).
MAC_BYTES = 16
#: The longest token: version, a town id, a 254-character address in base64url, the MAC.
MAX_TOKEN_LENGTH = 512
TOKEN_PATTERN = r"^u1\.[0-9]{1,10}\.[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{22}$"  # noqa: S105 (a pattern, not a secret)
_PURPOSE = b"furusato mail unsubscribe v1"


class InvalidToken(Exception):
    """Not a token this deployment made (malformed, altered, another secret, unknown town)."""


@dataclass(frozen=True)
class Unsubscriber:
    town: Municipality
    email: str


def _key(secret: str) -> bytes:
    return hmac.digest(secret.encode(), _PURPOSE, "sha256")


def _mac(secret: str, town_id: int, email: str) -> bytes:
    return hmac.digest(_key(secret), f"{town_id}\n{email}".encode(), hashlib.sha256)[:MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: str, town_id: int, email: str) -> str:
    """The token of `email` (as stored: lower case) for the town `town_id`."""
    return f"{VERSION}.{town_id}.{_b64(email.encode())}.{_b64(_mac(secret, town_id, email))}"


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/api/v1/mail/unsubscribe?token={token}"


def read_token(session: Session, secret: str, token: str) -> Unsubscriber:
    """Who the token names; `InvalidToken` if it is not one of ours."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION or not parts[1].isdigit():
        raise InvalidToken("malformed")
    try:
        town_id = int(parts[1])
        email = _unb64(parts[2]).decode("utf-8")
        mac = _unb64(parts[3])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidToken("malformed") from None
    if not hmac.compare_digest(mac, _mac(secret, town_id, email)):
        raise InvalidToken("bad mac")
    town = session.get(Municipality, town_id)
    if town is None:
        raise InvalidToken("unknown town")
    return Unsubscriber(town, email)


def is_opted_out(session: Session, town_id: int, email: str) -> bool:
    return session.get(MailOptOut, (town_id, email)) is not None


def opted_out(session: Session, town_id: int, emails: list[str]) -> set[str]:
    """Which of `emails` unsubscribed from the town's mail."""
    found: set[str] = set()
    for first in range(0, len(emails), 500):
        chunk = emails[first : first + 500]
        found.update(
            session.scalars(
                select(MailOptOut.email).where(MailOptOut.municipality_id == town_id, MailOptOut.email.in_(chunk))
            )
        )
    return found


def opt_out(session: Session, who: Unsubscriber) -> bool:
    """Record the opt-out (ON CONFLICT DO NOTHING: two clicks, or two processes, make one
    row); True if it is new. The caller commits. Deliveries already fixed but not yet mailed
    are skipped by the sender when it reaches them (it checks the opt-out before each mail)."""
    statement = (
        insert_for(session)(MailOptOut)
        .values(municipality_id=who.town.id, email=who.email, created_at=utcnow())
        .on_conflict_do_nothing()
    )
    result = session.execute(statement)
    return bool(getattr(result, "rowcount", 0))
