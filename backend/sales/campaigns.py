"""Campaigns: a short code per poster location or link, and the scans of `/c/{code}`.

A code names no town (the short URL stays short), so it is unique across the deployment, and
unique regardless of case: a person typing the printed URL may not keep the capitals, and
`/c/{code}` falls back to a case-insensitive match. Generated codes are 6 characters of a
31-letter alphabet without the characters people confuse on a poster (0/O, 1/I/L).

Each scan is a row (`campaign_scans`), never a counter in memory, so several API processes
count as one. A scan stores the Japan-time day, whether the user agent is a known crawler or
link scanner, and `visitor`: SHA-256 over a salt of the day (derived from the deployment's
secret and the date, never stored, so yesterday's visitors cannot be recomputed from a
database copy), the client address and the user agent. Raw addresses and agents are never
stored; the same phone scanning twice in one day is one unique scan.

A flood cannot bloat the table: scans are recorded at most `SCANS_PER_CLIENT_PER_MINUTE` per
client address and `SCANS_PER_CAMPAIGN_PER_MINUTE` per campaign (shared database counters);
past that the visitor is still sent on to the drop, only not counted.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.analytics.changes import mark_scan
from backend.core import ratelimit
from backend.core.db import utcnow
from backend.sales.models import Campaign, CampaignScan, Drop
from backend.sales.order_search import JST

#: Codes staff may choose: the URL-safe characters, 3 to 32 of them.
CODE_PATTERN = r"^[A-Za-z0-9_-]{3,32}$"
_CODE = re.compile(CODE_PATTERN)
#: Generated codes: digits and capitals without 0, 1, I, L and O.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
GENERATED_LENGTH = 6
_GENERATE_TRIES = 8
SCANS_PER_CLIENT_PER_MINUTE = 20
SCANS_PER_CAMPAIGN_PER_MINUTE = 1_200
SCAN_WINDOW_SECONDS = 60

#: User agents of crawlers, link-preview fetchers and scripts, as tokens in the agent string
#: (case-insensitive). Link previews (Slack, LINE, WhatsApp, Telegram, Discord, X, Facebook,
#: LinkedIn, Skype and Teams, Office apps) fetch a shared URL before any person taps it; search
#: crawlers follow it; scripts (curl, wget, HTTP libraries, headless Chrome) are not people.
#: LINE's own in-app browser (agent "… Line/14.x …") is a person: many scans in Japan open
#: there, so only LINE's preview fetcher ("line-poker") and crawler ("Linespider") count.
#: Outlook SafeLinks and most mail scanners send a browser's agent and cannot be told apart
#: here, but they often send HEAD first, and every HEAD counts as a bot.
BOT_TOKENS = (
    "googlebot",
    "google-inspectiontool",
    "adsbot-google",
    "bingbot",
    "bingpreview",
    "yandexbot",
    "baiduspider",
    "duckduckbot",
    "applebot",
    "slackbot",
    "slack-imgproxy",
    "facebookexternalhit",
    "facebot",
    "meta-externalagent",
    "twitterbot",
    "linkedinbot",
    "discordbot",
    "whatsapp",
    "telegrambot",
    "line-poker",
    "linespider",
    "skypeuripreview",
    "microsoftpreview",
    "microsoft office",
    "ms-office",
    "pinterestbot",
    "embedly",
    "headlesschrome",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww-perl",
    "scrapy",
)
#: Crawlers name themselves with a URL ("+http://www.google.com/bot.html") or as *bot/*spider.
_BOT_PATTERN = re.compile(
    "|".join(re.escape(token) for token in BOT_TOKENS) + r"|\+https?://|\b[a-z]*(?:crawler|spider)\b|\b[a-z]+bot/",
    re.IGNORECASE,
)


class CampaignRefused(Exception):
    """A campaign cannot be created as asked: HTTP status, stable code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def new_code() -> str:
    """A fresh random code: 6 characters, about 887 million possibilities."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(GENERATED_LENGTH))


def campaign_url(public_url: str, code: str) -> str:
    """The short URL printed on the poster and encoded in its QR."""
    return f"{public_url.rstrip('/')}/c/{code}"


def drop_page(campaign: Campaign) -> str:
    """Where a scan goes: the drop's page, with the code for the order to carry."""
    return f"/drop.html?id={campaign.drop_id}&c={campaign.code}"


def _code_taken(session: Session, code: str) -> bool:
    return session.scalar(select(Campaign.id).where(func.lower(Campaign.code) == code.lower())) is not None


def create_campaign(session: Session, town_id: int, *, name: str, drop_id: int, code: str | None = None) -> Campaign:
    """A new campaign of the town for one of its drops (flushed, not committed).

    Refused: the drop is not this town's (404 `drop_not_found`, the same as no such drop, so
    towns cannot probe each other's), a chosen code of the wrong shape (422 `invalid_code`) or
    already used by any town in any case (409 `code_taken`)."""
    drop = session.get(Drop, drop_id)
    if drop is None or drop.municipality_id != town_id:
        raise CampaignRefused(404, "drop_not_found", "No drop with this id in this town.")
    if code is not None and not _CODE.fullmatch(code):
        raise CampaignRefused(422, "invalid_code", "A code is 3-32 letters, digits, '-' or '_'.")
    for _ in range(1 if code is not None else _GENERATE_TRIES):
        candidate = code if code is not None else new_code()
        if _code_taken(session, candidate):
            continue
        campaign = Campaign(municipality_id=town_id, drop_id=drop_id, code=candidate, name=name)
        try:
            with session.begin_nested():  # a concurrent create of the same code loses here, cleanly
                session.add(campaign)
        except IntegrityError:
            continue
        return campaign
    if code is None:  # eight random collisions in a row: the alphabet is exhausted, not bad luck
        raise CampaignRefused(409, "code_taken", "Could not find a free code; choose one.")
    raise CampaignRefused(409, "code_taken", f"The code {code!r} is already used on this deployment.")


def town_campaign(session: Session, town_id: int, code: str) -> Campaign | None:
    """The town's campaign of exactly this code (staff routes name codes as listed)."""
    return session.scalar(select(Campaign).where(Campaign.municipality_id == town_id, Campaign.code == code))


def campaign_for_scan(session: Session, code: str) -> Campaign | None:
    """The campaign a `/c/{code}` names: the exact code, else the same letters in any case."""
    if not _CODE.fullmatch(code):
        return None
    exact = session.scalar(select(Campaign).where(Campaign.code == code))
    if exact is not None:
        return exact
    return session.scalars(select(Campaign).where(func.lower(Campaign.code) == code.lower()).limit(1)).first()


def japan_day(at: datetime) -> str:
    """The Japan-time date of `at`, "YYYY-MM-DD"."""
    return at.astimezone(JST).date().isoformat()


def daily_salt(secret: str, day: str) -> bytes:
    """The day's salt: HMAC of the date under the deployment's secret (never stored)."""
    return hmac.new(secret.encode(), f"campaign-scan-salt:{day}".encode(), hashlib.sha256).digest()


def visitor_hash(salt: bytes, client: str, user_agent: str) -> str:
    """SHA-256 of the day's salt, the client address and the user agent (hex)."""
    digest = hashlib.sha256(salt)
    for part in (client, user_agent):
        digest.update(b"\x00" + part.encode("utf-8", "replace"))
    return digest.hexdigest()


def is_bot(user_agent: str, method: str = "GET") -> bool:
    """A likely crawler, link scanner or script: a known agent token, no agent, or a HEAD."""
    return method.upper() == "HEAD" or not user_agent.strip() or _BOT_PATTERN.search(user_agent) is not None


@dataclass(frozen=True)
class Visit:
    """What a scan knows of its requester, before anything is hashed."""

    client: str
    user_agent: str
    method: str = "GET"


def record_scan(session: Session, campaign: Campaign, visit: Visit, secret: str, now: datetime | None = None) -> bool:
    """Count one scan (in the caller's transaction); False if a rate limit said not to.

    The limits' keys are hashed with the day's salt too: the counters never hold an address."""
    now = now or utcnow()
    day = japan_day(now)
    salt = daily_salt(secret, day)
    client_key = visitor_hash(salt, visit.client, "")[:32]
    limits = (
        (f"campaign-scan:client:{client_key}", SCANS_PER_CLIENT_PER_MINUTE),
        (f"campaign-scan:campaign:{campaign.id}", SCANS_PER_CAMPAIGN_PER_MINUTE),
    )
    for key, limit in limits:
        if not ratelimit.hit(session, key, limit, SCAN_WINDOW_SECONDS, now=now.timestamp()):
            return False
    session.add(
        CampaignScan(
            campaign_id=campaign.id,
            day=day,
            visitor=visitor_hash(salt, visit.client, visit.user_agent),
            bot=is_bot(visit.user_agent, visit.method),
            at=now,
        )
    )
    mark_scan(session, campaign.id, day, campaign.municipality_id)
    return True
