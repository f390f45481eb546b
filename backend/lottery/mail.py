"""The lottery's mails, Japanese first, then English: the receipt, and what the draw (or a later
round) decided. Each carries the entry id (the applicant's line in the public list) and the
applicant's own link (`/application.html?id=…#token=…`: the token stays in the fragment, out
of server logs); a place's mail carries its order link (`/order.html?id=…#token=…`), where
it is paid. Times are shown in Japan time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.sales.order_search import JST
from backend.sales.orders import aware

#: What a mail is about (the outbox's `mailed` column).
RECEIPT, WON_MAIL, PROMOTED_MAIL, WAITLISTED_MAIL, EXPIRED_MAIL, LOST_MAIL = (
    "receipt",
    "won",
    "promoted",
    "waitlisted",
    "expired",
    "lost",
)


def jst(moment: datetime) -> str:
    return aware(moment).astimezone(JST).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class MailContext:
    """What every lottery mail names."""

    town_ja: str
    town_en: str
    title_ja: str
    title_en: str
    entry_id: str
    quantity: int
    application_link: str
    verify_link: str


def _body(ja: list[str], en: list[str]) -> str:
    return "\n".join(ja) + "\n\n----\n\n" + "\n".join(en) + "\n"


def receipt_text(ctx: MailContext, closes_at: datetime, draw_at: datetime) -> tuple[str, str]:
    subject = f"抽選のお申し込みを受け付けました / Your lottery application ({ctx.town_ja} / {ctx.town_en})"
    ja = [
        f"{ctx.town_ja}「{ctx.title_ja}」の抽選にお申し込みいただき、ありがとうございます。",
        f"申込番号（エントリーID）: {ctx.entry_id}",
        f"申込枚数: {ctx.quantity}枚",
        f"受付締切: {jst(closes_at)}（日本時間）",
        f"抽選日時: {jst(draw_at)}（日本時間）",
        "",
        "エントリーIDは公開される申込一覧にそのまま載ります（お名前やメールアドレスは載りません）。",
        "抽選は公開された材料から誰でも再計算できます。検証ページ:",
        ctx.verify_link,
        "",
        "お申し込みの状況と結果はこちら（このリンクは他の人に教えないでください）:",
        ctx.application_link,
    ]
    en = [
        f"Thank you for applying to the lottery for “{ctx.title_en}” of {ctx.town_en}.",
        f"Your entry id: {ctx.entry_id}",
        f"Cards asked for: {ctx.quantity}",
        f"Applications close: {jst(closes_at)} (Japan time)",
        f"Draw: {jst(draw_at)} (Japan time)",
        "",
        "Your entry id appears as it is in the public list of entries (never your name or email).",
        "Anyone can recompute the draw from its published inputs. Verification page:",
        ctx.verify_link,
        "",
        "Your application and its result (keep this link to yourself):",
        ctx.application_link,
    ]
    return subject, _body(ja, en)


def place_text(
    ctx: MailContext, *, promoted: bool, rank: int | None, order_link: str, amount_jpy: int, deadline: datetime
) -> tuple[str, str]:
    if promoted:
        subject = f"繰り上げ当選のお知らせ / You have a place from the waitlist ({ctx.town_ja} / {ctx.town_en})"
        ja_head = f"{ctx.town_ja}「{ctx.title_ja}」の抽選で、補欠から繰り上げ当選となりました。"
        en_head = f"A place in the lottery for “{ctx.title_en}” of {ctx.town_en} came free: it is yours."
    else:
        subject = f"当選のお知らせ / You won the lottery ({ctx.town_ja} / {ctx.town_en})"
        ja_head = f"{ctx.town_ja}「{ctx.title_ja}」の抽選に当選しました。おめでとうございます。"
        en_head = f"You won the lottery for “{ctx.title_en}” of {ctx.town_en}. Congratulations!"
    ja = [
        ja_head,
        f"エントリーID: {ctx.entry_id}" + (f"（順位 {rank}）" if rank else ""),
        f"枚数: {ctx.quantity}枚 / お支払い: {amount_jpy:,}円",
        f"お支払い期限: {jst(deadline)}（日本時間）",
        "期限までにお支払いがない場合、この当選は無効になり、補欠の方に繰り上がります。",
        "",
        "お支払いはこちらから（このリンクは他の人に教えないでください）:",
        order_link,
    ]
    en = [
        en_head,
        f"Entry id: {ctx.entry_id}" + (f" (rank {rank})" if rank else ""),
        f"Cards: {ctx.quantity} / to pay: {amount_jpy:,} yen",
        f"Pay by: {jst(deadline)} (Japan time)",
        "If it is not paid by then, the place lapses and goes to the waitlist.",
        "",
        "Pay here (keep this link to yourself):",
        order_link,
    ]
    return subject, _body(ja, en)


def waitlisted_text(ctx: MailContext, rank: int | None) -> tuple[str, str]:
    subject = f"抽選結果（補欠）/ Lottery result: waitlisted ({ctx.town_ja} / {ctx.town_en})"
    ja = [
        f"{ctx.town_ja}「{ctx.title_ja}」の抽選の結果、今回は補欠となりました。",
        f"エントリーID: {ctx.entry_id}" + (f"（順位 {rank}）" if rank else ""),
        "当選された方がお支払い期限までにお支払いされなかった場合、順位の順に繰り上げ当選となり、メールでお知らせします。",
        "",
        "抽選の検証ページ:",
        ctx.verify_link,
        "お申し込みの状況:",
        ctx.application_link,
    ]
    en = [
        f"The lottery for “{ctx.title_en}” of {ctx.town_en} is drawn: your entry is on the waitlist.",
        f"Entry id: {ctx.entry_id}" + (f" (rank {rank})" if rank else ""),
        "If winners do not pay in time, their places go down the waitlist in rank order;",
        "we will mail you if you get one.",
        "",
        "Verify the draw:",
        ctx.verify_link,
        "Your application:",
        ctx.application_link,
    ]
    return subject, _body(ja, en)


def lost_text(ctx: MailContext) -> tuple[str, str]:
    subject = f"抽選結果のお知らせ / Lottery result ({ctx.town_ja} / {ctx.town_en})"
    ja = [
        f"{ctx.town_ja}「{ctx.title_ja}」の抽選にお申し込みいただき、ありがとうございました。",
        "残念ながら、今回はご用意できませんでした（すべての枠が確定しました）。",
        f"エントリーID: {ctx.entry_id}",
        "",
        "抽選の検証ページ:",
        ctx.verify_link,
    ]
    en = [
        f"Thank you for applying to the lottery for “{ctx.title_en}” of {ctx.town_en}.",
        "We are sorry: every place is now taken, and your entry did not get one.",
        f"Entry id: {ctx.entry_id}",
        "",
        "Verify the draw:",
        ctx.verify_link,
    ]
    return subject, _body(ja, en)


def expired_text(ctx: MailContext, deadline: datetime | None) -> tuple[str, str]:
    subject = f"お支払い期限が過ぎました / Your time to pay ran out ({ctx.town_ja} / {ctx.town_en})"
    when = f"（期限 {jst(deadline)}）" if deadline else ""
    when_en = f" (by {jst(deadline)})" if deadline else ""
    ja = [
        f"{ctx.town_ja}「{ctx.title_ja}」の当選分は、お支払い期限までにお支払いがなかったため無効になりました{when}。",
        f"エントリーID: {ctx.entry_id}",
        "この枠は補欠の方に繰り上がります。",
    ]
    en = [
        f"Your place in the lottery for “{ctx.title_en}” of {ctx.town_en} was not paid in time{when_en}, so it lapsed.",
        f"Entry id: {ctx.entry_id}",
        "The place goes to the waitlist.",
    ]
    return subject, _body(ja, en)
