"""Outgoing mail: SMTP when `FURUSATO_SMTP_URL` is set, else `.eml` files in `data_dir/mail`.

Why files: a laptop demo has no mail server, and a file is a real RFC 5322 message that any
mail client opens (and tests parse). Each message is Japanese first, then English.

The sign-in link is a bearer secret. It goes into the message and nowhere else: not in a log,
not on the console (a console is often kept as a log). In demo mode the console says which
`.eml` file holds the message, so whoever runs `furusato run` can sign in without a mailbox.
The SMTP password is never logged either.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from backend.core.config import Settings

log = logging.getLogger("furusato.mail")

SMTP_TIMEOUT_SECONDS = 15.0
SUBMISSION_PORT = 587
SMTPS_PORT = 465
#: A caller-chosen mail file name (`send(..., file_name=)`): no path separators, no dot first.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")


class MailError(Exception):
    """The message could not be handed over (server refused, unreachable, bad URL)."""


def build_message(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    """A UTF-8 plain-text message from `settings.mail_from` to `to`.

    The subject is folded onto one line: it carries names staff typed (a town's name), and a
    line break in a header is refused by the mail library (a 500 for whoever caused it)."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = " ".join(subject.split())
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="furusato.invalid")
    message.set_content(body, charset="utf-8")
    return message


def send(settings: Settings, message: EmailMessage, *, file_name: str | None = None) -> Path | None:
    """Deliver `message`: over SMTP if configured (returns None), else as a file (its path).

    `file_name` (letters, digits, `.`, `-`, `_`; without `.eml`) names the file instead of a
    fresh stamp: a sender that hands the same message over again after a crash (the
    announcement sender) replaces that one file rather than adding a second."""
    if settings.smtp_url:
        _send_smtp(settings.smtp_url, message)
        return None
    if file_name is not None:
        return _replace_eml(settings.data_dir / "mail", file_name, message)
    return _write_eml(settings.data_dir / "mail", message)


def _write_eml(folder: Path, message: EmailMessage) -> Path:
    """Write the message readable by its owner only: it may hold a sign-in link."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{stamp}-{secrets.token_hex(4)}.eml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(message.as_bytes())
    return path


def _replace_eml(folder: Path, name: str, message: EmailMessage) -> Path:
    """Write `name.eml` whole or not at all: a temporary file (not `*.eml`) renamed over it."""
    if not _FILE_NAME.fullmatch(name):
        raise ValueError(f"not a mail file name: {name!r}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.eml"
    temporary = folder / f".{name}.{secrets.token_hex(4)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(message.as_bytes())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _send_smtp(url: str, message: EmailMessage) -> None:
    """smtp://user:pass@host:port. STARTTLS for smtps:// or port 587; implicit TLS on 465."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps") or not parts.hostname:
        raise MailError("FURUSATO_SMTP_URL must look like smtp://user:pass@host:port")
    port = parts.port or (SUBMISSION_PORT if scheme == "smtps" else 25)
    try:
        client: smtplib.SMTP
        if port == SMTPS_PORT:
            client = smtplib.SMTP_SSL(parts.hostname, port, timeout=SMTP_TIMEOUT_SECONDS)
        else:
            client = smtplib.SMTP(parts.hostname, port, timeout=SMTP_TIMEOUT_SECONDS)
        with client:
            if port != SMTPS_PORT and (scheme == "smtps" or port == SUBMISSION_PORT):
                client.starttls()
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        # The exception text never holds the password; the URL is not included.
        raise MailError(f"mail server {parts.hostname}:{port} refused the message ({type(exc).__name__})") from exc


def sign_in_text(link: str) -> tuple[str, str]:
    """Subject and body of the sign-in mail, Japanese then English."""
    subject = "ログインリンク / Your sign-in link (Furusato)"
    body = (
        "ふるさとデジタル住民票へのログインリンクです。\n"
        "30分以内に一度だけ使えます。\n\n"
        f"{link}\n\n"
        "お心当たりのない場合は、このメールを破棄してください。\n\n"
        "----\n\n"
        "Here is your sign-in link for Furusato digital resident cards.\n"
        "It works once, within 30 minutes.\n\n"
        f"{link}\n\n"
        "If you did not ask for it, you can ignore this message.\n"
    )
    return subject, body


def deliver(settings: Settings, to: str, subject: str, body: str, what: str, *, logger: logging.Logger = log) -> None:
    """Send the mail `what` (e.g. "sign-in mail"); a failure is logged to `logger`, never
    raised; in demo mode also tell the operator which file holds it (never its content)."""
    try:
        path = send(settings, build_message(settings, to, subject, body))
    except MailError as exc:
        logger.warning("%s not sent: %s", what, exc)
        return
    if settings.demo_mode and path is not None:
        print(f"[demo] {what} written to {path}", flush=True)


def send_sign_in_link(settings: Settings, to: str, link: str) -> None:
    """Mail a sign-in link; in demo mode also tell the operator which file holds it.

    The link itself never reaches a log or the console: it is a credential."""
    subject, body = sign_in_text(link)
    deliver(settings, to, subject, body, "sign-in mail")
