"""The lottery's mail outbox: whatever happens to an application (it is taken, drawn, given an
order, lapses, loses when the lottery settles) sets `mail_due` and bumps `mail_seq` in the
same transaction; the job then sends the one mail for where the application stands *now*
(texts in `backend.lottery.mail`) and clears `mail_due` only if `mail_seq` has not moved.

So a mail is never lost to a crash, and a burst of events gives one mail, not several. A
crash between sending and clearing sends that mail once more (at least once, not exactly
once); the same news is never mailed twice in a row otherwise (`mailed` remembers it). Mail
goes out of the request path: an application answers without waiting for SMTP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.core.config import Settings
from backend.core.mail import MailError, build_message, send
from backend.holders.custody import Vault
from backend.lottery import mail as texts
from backend.lottery.applications import PAID_STATES, is_placed, order_token_aad, token_aad
from backend.lottery.models import RANKED, SETTLED, Lottery, LotteryApplication
from backend.sales.models import Drop, Order
from backend.towns.models import Municipality

log = logging.getLogger("furusato.lottery")

#: Mails sent per round.
MAIL_BATCH = 200

Mail = tuple[str, str, str]


class NotReady(Exception):
    """The mail for this news needs something not made yet (a place's order)."""


@dataclass(frozen=True)
class Outbox:
    sessions: sessionmaker[Session]
    vault: Vault
    settings: Settings
    chain_id: int

    def send_due(self) -> int:
        """Send the mails due (at most `MAIL_BATCH`); how many were sent."""
        with self.sessions() as session:
            due = session.execute(
                select(LotteryApplication, Lottery.stage)
                .join(Lottery, Lottery.drop_id == LotteryApplication.drop_id)
                .join(Drop, Drop.id == Lottery.drop_id)
                .where(
                    LotteryApplication.mail_due.is_(True),
                    Lottery.stage != RANKED,  # the result goes out with the winners' orders
                    Drop.chain_id == self.chain_id,
                )
                .limit(MAIL_BATCH)
            ).all()
            drops = {application.drop_id for application, _stage in due}
            context = {drop_id: _drop_texts(session, drop_id) for drop_id in drops}
            order_ids = [application.order_id for application, _stage in due if application.order_id]
            orders = {order.id: order for order in session.scalars(select(Order).where(Order.id.in_(order_ids)))}
        sent = 0
        done: list[dict[str, object]] = []
        try:
            for application, stage in due:
                order = orders.get(application.order_id) if application.order_id else None
                try:
                    mail = self.mail_for(application, stage, context[application.drop_id], order)
                except NotReady:
                    continue
                if mail is not None and mail[0] != application.mailed:
                    _kind, subject, body = mail
                    try:
                        send(self.settings, build_message(self.settings, application.email, subject, body))
                    except MailError as exc:
                        log.warning("lottery mail for %s not sent: %s", application.id, exc)
                        break  # the mail server is down: the rest next round
                    sent += 1
                kind = mail[0] if mail else application.mailed
                done.append({"done_id": application.id, "done_seq": application.mail_seq, "kind": kind})
        finally:
            self._clear(done)
        return sent

    def _clear(self, done: list[dict[str, object]]) -> None:
        """Clear `mail_due` of the applications mailed, in one transaction, unless news came
        for one meanwhile (its `mail_seq` moved on)."""
        if not done:
            return
        table = LotteryApplication.__table__
        assert isinstance(table, Table)
        statement = (
            update(table)
            .where(table.c.id == bindparam("done_id"), table.c.mail_seq == bindparam("done_seq"))
            .values(mail_due=False, mailed=bindparam("kind"))
        )
        with self.sessions.begin() as session:
            session.connection().execute(statement, done)

    def mail_for(
        self,
        application: LotteryApplication,
        stage: str,
        texts_of: tuple[Drop, Municipality, Lottery],
        order: Order | None,
    ) -> Mail | None:
        """(kind, subject, body) of the mail for where `application` stands; None when there
        is nothing to say (a place already paid); `NotReady` while its order is not made."""
        drop, town, lottery = texts_of
        base = self.settings.public_url
        token = self.vault.decrypt(application.token_enc, token_aad(application.id)).decode()
        ctx = texts.MailContext(
            town_ja=town.name_ja,
            town_en=town.name_en,
            title_ja=drop.title_ja,
            title_en=drop.title_en,
            entry_id=application.entry_id,
            quantity=application.quantity,
            application_link=f"{base}/application.html?id={application.id}#token={token}",
            verify_link=f"{base}/lottery.html?drop={drop.id}",
        )
        if application.outcome is None:
            close_at = lottery.applications_close_at or drop.applications_close_at
            draw_at = lottery.draw_at or drop.draw_at
            assert close_at is not None
            assert draw_at is not None
            return (texts.RECEIPT, *texts.receipt_text(ctx, close_at, draw_at))
        if not is_placed(application):
            if stage == SETTLED:
                return (texts.LOST_MAIL, *texts.lost_text(ctx))
            return (texts.WAITLISTED_MAIL, *texts.waitlisted_text(ctx, application.rank))
        if application.lapsed_round is not None:
            return (texts.EXPIRED_MAIL, *texts.expired_text(ctx, application.deadline))
        if order is None or application.order_token_enc is None:
            raise NotReady(application.id)
        if order.status in PAID_STATES:
            return None
        order_token = self.vault.decrypt(application.order_token_enc, order_token_aad(application.id)).decode()
        promoted = application.promoted_round is not None
        assert application.deadline is not None
        subject, body = texts.place_text(
            ctx,
            promoted=promoted,
            rank=application.rank,
            order_link=f"{base}/order.html?id={order.id}#token={order_token}",
            amount_jpy=order.amount_jpy,
            deadline=application.deadline,
        )
        return (texts.PROMOTED_MAIL if promoted else texts.WON_MAIL, subject, body)


def _drop_texts(session: Session, drop_id: int) -> tuple[Drop, Municipality, Lottery]:
    drop = session.get(Drop, drop_id)
    assert drop is not None
    town = session.get(Municipality, drop.municipality_id)
    assert town is not None
    lottery = session.get(Lottery, drop_id)
    assert lottery is not None
    return drop, town, lottery
