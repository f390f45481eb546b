"""The mail of one announcement to one holder: Japanese first, then English.

Everything in it is fixed by the delivery, so handing it over again after a crash gives the
same message byte for byte: the Message-ID is made from the delivery's id (and a tag of this
deployment's secret, so two deployments never share one), the Date is the moment sending
started, the file name in `data_dir/mail` is the delivery's. A mail client (or the receiving
server) that sees the same Message-ID twice knows it is one message.

Headers for one-click unsubscribe (RFC 8058, which Gmail and Yahoo ask bulk senders for):
`List-Unsubscribe: <{public_url}/api/v1/mail/unsubscribe?token=…>` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`. The same link is in the body: opened in a
browser it shows a page with a button (a GET never unsubscribes: mail scanners open links).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from backend.core.config import Settings
from backend.core.mail import build_message
from backend.polls.unsubscribe import make_token, unsubscribe_url
from backend.towns.models import Municipality

MESSAGE_ID_DOMAIN = "furusato.invalid"


@dataclass(frozen=True)
class AnnouncementText:
    """What the mail says (the announcement's fields the sender read)."""

    id: int
    title_ja: str
    title_en: str
    body_ja: str
    body_en: str
    started_at: datetime


def message_id(settings: Settings, announcement_id: int, delivery_id: int) -> str:
    """`<announcement.{id}.{delivery id}.{deployment tag}@furusato.invalid>`, the same every time."""
    tag = hmac.new(
        settings.secret_key.get_secret_value().encode(), b"furusato announcement message-id", hashlib.sha256
    ).hexdigest()[:12]
    return f"<announcement.{announcement_id}.{delivery_id}.{tag}@{MESSAGE_ID_DOMAIN}>"


def file_name(announcement_id: int, delivery_id: int) -> str:
    """The `.eml` file's name (without the suffix) when there is no SMTP server."""
    return f"announcement-{announcement_id}-{delivery_id}"


def subject(town: Municipality, text: AnnouncementText) -> str:
    return f"【{town.name_ja}】{text.title_ja} / {text.title_en}"


def body(town: Municipality, text: AnnouncementText, card_url: str, unsubscribe: str) -> str:
    return (
        f"{town.name_ja}から、デジタル住民票をお持ちの方へのお知らせです。\n\n"
        f"■ {text.title_ja}\n\n"
        f"{text.body_ja.strip()}\n\n"
        f"マイカードでも読めます: {card_url}\n\n"
        f"{town.name_ja}からのお知らせメールの配信停止: {unsubscribe}\n\n"
        "----\n\n"
        f"News from {town.name_en} for holders of its digital resident card.\n\n"
        f"■ {text.title_en}\n\n"
        f"{text.body_en.strip()}\n\n"
        f"Also on your card: {card_url}\n\n"
        f"Stop mail from {town.name_en}: {unsubscribe}\n"
    )


def announcement_message(
    settings: Settings, town: Municipality, text: AnnouncementText, delivery_id: int, to: str
) -> EmailMessage:
    """The whole message for delivery `delivery_id` to `to` (see the module docstring)."""
    public = settings.public_url.rstrip("/")
    link = unsubscribe_url(public, make_token(settings.secret_key.get_secret_value(), town.id, to))
    message = build_message(settings, to, subject(town, text), body(town, text, f"{public}/card.html", link))
    started = text.started_at if text.started_at.tzinfo else text.started_at.replace(tzinfo=UTC)
    message.replace_header("Date", format_datetime(started.astimezone(UTC).replace(microsecond=0), usegmt=True))
    message.replace_header("Message-ID", message_id(settings, text.id, delivery_id))
    message["List-Unsubscribe"] = f"<{link}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    return message
