"""A staffed spot's kiosk: a screen showing a QR that changes every 30 seconds.

At a kiosk spot the printed poster alone does not check in: the phone must bring the code of
the kiosk's current QR (`/s/{code}?k={kiosk_code}`), so a photo of the poster shared online
does not let people check in from home. The code is the first digits of an HMAC-SHA256 of
(spot id, 30-second window number) under a key derived from the deployment's secret
(`settings.secret_key`), as TOTP (RFC 6238) derives its codes: no table, every API process
computes the same code, and nobody without the secret can compute the next one.

A code is accepted in its own window and the one after it, so a QR scanned just before it
changed still works (a phone takes a few seconds to open the page and send the check-in);
older codes are refused. The comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

WINDOW_SECONDS = 30
DIGITS = 8
#: Domain separation: the deployment secret signs other things too.
_PURPOSE = b"furusato kiosk code v1"


def kiosk_key(secret: str) -> bytes:
    """The kiosks' own key, derived from the deployment secret."""
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def window_of(now: datetime) -> int:
    """The number of the 30-second window holding `now` (Unix time / 30)."""
    return int(now.timestamp()) // WINDOW_SECONDS


def code_for(key: bytes, spot_id: int, window: int) -> str:
    """The spot's code of `window`: DIGITS decimal digits (RFC 4226's dynamic truncation)."""
    digest = hmac.new(key, f"{spot_id}:{window}".encode(), hashlib.sha256).digest()
    offset = digest[-1] & 0x0F
    number = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


@dataclass(frozen=True)
class KioskShown:
    code: str
    expires_at: datetime


def current_code(key: bytes, spot_id: int, now: datetime) -> KioskShown:
    """The code to show now, and when the kiosk should show the next one."""
    window = window_of(now)
    expires = datetime.fromtimestamp((window + 1) * WINDOW_SECONDS, UTC)
    return KioskShown(code_for(key, spot_id, window), expires)


def code_accepted(key: bytes, spot_id: int, code: str, now: datetime) -> bool:
    """Whether `code` is the spot's code of the current window or of the one before."""
    window = window_of(now)
    matches = [hmac.compare_digest(code_for(key, spot_id, w).encode(), code.encode()) for w in (window, window - 1)]
    return any(matches)
