"""The mail a buyer gets when the town refunds their order: Japanese first, then English.

It says what happened to the money and to each card (never issued, or issued and now
revoked: still in their wallet on chain, but its pass no longer verifies and it counts in
no vote or figure). It holds no secret: no order token, no sign-in link, not the staff's
reason (that is the town's internal note).
"""

from __future__ import annotations

import logging

from backend.core.config import Settings
from backend.core.mail import MailError, build_message, send
from backend.sales.models import Drop, Order
from backend.towns.models import Municipality

log = logging.getLogger("furusato.mail")


def _numbers(token_ids: list[int]) -> str:
    return ", ".join(f"No.{token_id}" for token_id in token_ids)


def refund_text(
    order: Order, drop: Drop, town: Municipality, amount_jpy: int, cancelled: list[int], revoked: list[int]
) -> tuple[str, str]:
    """Subject and body of the refund mail."""
    subject = f"ご注文を返金しました / Your order was refunded ({town.name_ja} / {town.name_en})"
    ja = [
        f"{town.name_ja}より、「{drop.title_ja}」のご注文（注文番号 {order.id}）を返金いたしました。",
        f"返金額: {amount_jpy:,}円",
    ]
    en = [
        f"{town.name_en} has refunded your order of “{drop.title_en}” (order {order.id}).",
        f"Amount refunded: {amount_jpy:,} yen",
    ]
    if cancelled:
        ja.append(f"発行前だったカード（{_numbers(cancelled)}）は発行されません。")
        en.append(f"The cards not yet issued ({_numbers(cancelled)}) will not be issued.")
    if revoked:
        ja.append(
            f"発行済みのカード（{_numbers(revoked)}）はブロックチェーン上に残りますが、無効になりました。"
            "住民パスとしては使えず、投票や集計にも含まれません。"
        )
        en.append(
            f"The cards already issued ({_numbers(revoked)}) stay on the blockchain but are revoked: "
            "their pass no longer verifies, and they count in no vote or figure."
        )
    if order.payment_method == "card":
        ja.append("カードへの返金の反映には、カード会社により数日から数週間かかることがあります。")
        en.append("Your card issuer may take a few days to a few weeks to show the refund.")
    ja.append("お心当たりのない場合やご不明な点は、町の担当窓口までお問い合わせください。")
    en.append("If you have questions, please contact the town's office.")
    body = "\n".join(ja) + "\n\n----\n\n" + "\n".join(en) + "\n"
    return subject, body


def send_refund_mail(
    settings: Settings,
    order: Order,
    drop: Drop,
    town: Municipality,
    amount_jpy: int,
    cancelled: list[int],
    revoked: list[int],
) -> None:
    """Mail the buyer (SMTP, or a file in the data directory); a failure is logged, never raised:
    the refund is done whether or not the message could be handed over."""
    subject, body = refund_text(order, drop, town, amount_jpy, cancelled, revoked)
    try:
        send(settings, build_message(settings, order.email, subject, body))
    except MailError as exc:
        log.warning("refund mail for %s not sent: %s", order.id, exc)
