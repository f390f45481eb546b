"""Device links: how a shop's phone signs in for one shop, without a personal account.

1. Staff create a device for a shop: a link secret (256 bits) is made, shown once as
   `{public_url}/verify/#link=<secret>` (the fragment never reaches a server log), stored as
   its SHA-256, usable once within `LINK_TTL`.
2. The phone opens it; the `/verify/` page POSTs the secret to /api/v1/verify/devices/session
   and gets a device token (`fdv_` + 256 bits), also stored only hashed. The exchange is one
   conditional UPDATE (unused, unexpired, not revoked), so two phones racing for one link get
   one token between them.
3. Staff revoke it: `revoked_at` is set and the next request of that phone is a 401 (each
   request reads the row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.core.bearer import hash_secret, new_secret
from backend.staff.sessions import aware_like

from .deps import DEVICE_TOKEN_PREFIX
from .models import Shop, VerifierDevice

#: How long a device link may wait to be opened.
LINK_TTL: Final = timedelta(hours=24)
#: What precedes the secret in the link (the `/verify/` page reads its fragment).
LINK_FRAGMENT: Final = "#link="


@dataclass(frozen=True)
class NewDevice:
    device: VerifierDevice
    #: The link's secret, shown once.
    secret: str


class LinkRefused(Exception):
    """The link cannot be exchanged; the message says why (unknown, used, expired, revoked)."""


def link_url(public_url: str, secret: str) -> str:
    return f"{public_url.rstrip('/')}/verify/{LINK_FRAGMENT}{secret}"


def secret_of(link: str) -> str:
    """The secret in what the page sent: the whole link or the secret alone."""
    return link.rsplit(LINK_FRAGMENT, 1)[-1].strip()


def new_device(session: Session, shop: Shop, label: str, created_by: int, now: datetime) -> NewDevice:
    """A device of `shop` waiting for its link to be opened (flushed, not committed)."""
    secret = new_secret()
    device = VerifierDevice(
        municipality_id=shop.municipality_id,
        shop_id=shop.id,
        label=label,
        link_hash=hash_secret(secret),
        link_expires_at=now + LINK_TTL,
        created_by=created_by,
        created_at=now,
    )
    session.add(device)
    session.flush()
    return NewDevice(device, secret)


def exchange(session: Session, link: str, now: datetime) -> tuple[VerifierDevice, str]:
    """Trade a link for a device token, once (module docstring); flushed, not committed."""
    link_hash = hash_secret(secret_of(link))
    token = DEVICE_TOKEN_PREFIX + new_secret()
    claimed = session.execute(
        update(VerifierDevice)
        .where(
            VerifierDevice.link_hash == link_hash,
            VerifierDevice.paired_at.is_(None),
            VerifierDevice.revoked_at.is_(None),
            VerifierDevice.link_expires_at > now,
        )
        .values(session_hash=hash_secret(token), paired_at=now, last_seen_at=now)
    )
    device = session.scalar(
        select(VerifierDevice).where(VerifierDevice.link_hash == link_hash).execution_options(populate_existing=True)
    )
    if claimed.rowcount != 1 or device is None:  # type: ignore[attr-defined]
        session.rollback()
        raise LinkRefused(_why(device, now))
    shop = session.get(Shop, device.shop_id)
    if shop is None or shop.archived_at is not None:
        session.rollback()
        raise LinkRefused("This shop is closed; the link no longer works.")
    return device, token


def _why(device: VerifierDevice | None, now: datetime) -> str:
    if device is None:
        return "This device link is not known (mistyped, or from another deployment)."
    if device.revoked_at is not None:
        return "This device link was revoked by the town."
    if device.paired_at is not None:
        return "This device link was already used; ask the town for a new one."
    if now >= aware_like(device.link_expires_at, now):
        return "This device link has expired (24 h); ask the town for a new one."
    return "This device link cannot be used."


def revoke(device: VerifierDevice, now: datetime) -> bool:
    """End the device's session at once; False if it was revoked before."""
    if device.revoked_at is not None:
        return False
    device.revoked_at = now
    return True


def device_status(device: VerifierDevice, now: datetime) -> str:
    """ "revoked", "active" (signed in), "link_pending" or "link_expired"."""
    if device.revoked_at is not None:
        return "revoked"
    if device.paired_at is not None:
        return "active"
    return "link_pending" if now < aware_like(device.link_expires_at, now) else "link_expired"


def audit_view(device: VerifierDevice, now: datetime) -> dict[str, Any]:
    """What the audit log keeps of a device: never its secrets."""
    return {
        "shop_id": device.shop_id,
        "label": device.label,
        "status": device_status(device, now),
        "link_expires_at": device.link_expires_at,
        "revoked_at": device.revoked_at,
    }


def shop_devices(session: Session, shop_id: int, limit: int, offset: int) -> tuple[list[VerifierDevice], int]:
    """The shop's devices, newest first, and how many there are."""
    total = session.scalar(select(func.count()).where(VerifierDevice.shop_id == shop_id)) or 0
    rows = session.scalars(
        select(VerifierDevice)
        .where(VerifierDevice.shop_id == shop_id)
        .order_by(VerifierDevice.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total
