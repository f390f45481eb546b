"""Staff mail: the sign-in code and the invitation, Japanese first, then English.

Sent from a background task after the response (like the holders' sign-in link), so the
answer's timing does not tell whether an address is staff, and a slow mail server does not
slow the console. The code and the invite link are credentials: they go into the message and
nowhere else (no log, no console line); in demo mode the console names the `.eml` file.
"""

from __future__ import annotations

import logging

from backend.core import mail
from backend.core.config import Settings
from backend.staff.signin import CODE_TTL

log = logging.getLogger("furusato.staff")

ROLE_NAMES_JA = {
    "owner": "管理者",
    "editor": "編集者",
    "moderator": "モデレーター",
    "analyst": "分析担当",
    "verifier": "確認担当（店舗）",
}


def code_text(code: str) -> tuple[str, str]:
    minutes = int(CODE_TTL.total_seconds() // 60)
    subject = f"確認コード {code} / Your Furusato console code"
    body = (
        "ふるさと 自治体コンソールの確認コードです。\n"
        f"{minutes}分以内に一度だけ使えます。\n\n"
        f"    {code}\n\n"
        "お心当たりのない場合は、このメールを破棄してください。誰にもコードを教えないでください。\n\n"
        "----\n\n"
        "Here is your code for the Furusato town console.\n"
        f"It works once, within {minutes} minutes.\n\n"
        f"    {code}\n\n"
        "If you did not ask for it, ignore this message. Never share the code.\n"
    )
    return subject, body


def invite_text(link: str, town_ja: str, town_en: str, role: str) -> tuple[str, str]:
    subject = f"{town_ja}のコンソールへの招待 / Invitation to {town_en}'s console (Furusato)"
    body = (
        f"{town_ja}の自治体コンソールに「{ROLE_NAMES_JA.get(role, role)}」として招待されました。\n"
        "7日以内に次のリンクを開き、「招待を受ける」を押してください（一度だけ使えます）。\n\n"
        f"{link}\n\n"
        "お心当たりのない場合は、このメールを破棄してください。\n\n"
        "----\n\n"
        f"You are invited to {town_en}'s Furusato console as {role}.\n"
        "Open this link within 7 days and press the accept button (it works once).\n\n"
        f"{link}\n\n"
        "If you did not expect this, ignore this message.\n"
    )
    return subject, body


def send_code(settings: Settings, to: str, code: str) -> None:
    """Mail a sign-in code (never logged)."""
    subject, body = code_text(code)
    mail.deliver(settings, to, subject, body, "staff sign-in code mail", logger=log)


def send_invite(settings: Settings, to: str, link: str, town_ja: str, town_en: str, role: str) -> None:
    """Mail an invitation link (never logged)."""
    subject, body = invite_text(link, town_ja, town_en, role)
    mail.deliver(settings, to, subject, body, "staff invitation mail", logger=log)
