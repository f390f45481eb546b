"""Applications: one per email (and per wallet address) per lottery drop, while the window is open.

Applying costs nothing and reserves nothing: it adds a line to the list the close fixes. The
close must never miss an application that committed, nor let one in after it fixed the list.
So an application inserts its row first and only then reads the lottery's stage, holding a
key-share lock on the lottery row (PostgreSQL; its foreign key takes that lock too), and the
close takes that row `FOR UPDATE` before it moves the stage and reads the list: each waits
for the other, whichever came first. On SQLite the insert takes the one write lock, which the
close needs as well. An application that finds the lottery closed is rolled back: 409
`applications_closed`.

`Idempotency-Key` works as for orders (`backend.sales.idempotency`, scope `applications`):
the same key and body answer the first 201 again (its token included, stored encrypted).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.core.bearer import hash_secret, new_secret
from backend.holders.custody import Vault, normalise_email
from backend.lottery import algorithm
from backend.lottery.announce import announce, is_lottery
from backend.lottery.models import ANNOUNCED, SETTLED, WON, Lottery, LotteryApplication
from backend.lottery.schemas import ApplicationCreate, ApplicationCreated, ApplicationPublic
from backend.sales import idempotency
from backend.sales.drops import PAUSED, PUBLIC_STATUSES
from backend.sales.models import Drop, Order
from backend.sales.orders import aware

IDEMPOTENCY_SCOPE = "applications"
#: What `apply` makes ("app_" + 20 URL-safe characters); ids from a URL that do not match
#: are not ours and never reach a query.
APPLICATION_ID_PATTERN = re.compile(r"app_[A-Za-z0-9_-]{1,36}")
#: Order states in which a place counts as paid (the money came; what follows is the mint's).
PAID_STATES = frozenset({"paid", "minting", "minted", "refunded", "failed"})


class ApplicationRefused(Exception):
    """The application cannot be taken; `code` is the API's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def token_aad(application_id: str) -> bytes:
    return f"lottery-application:{application_id}".encode()


def order_token_aad(application_id: str) -> bytes:
    return f"lottery-order:{application_id}".encode()


@dataclass(frozen=True)
class Window:
    """When a lottery drop takes applications: from `starts_at` until `applications_close_at`."""

    opens: datetime
    closes: datetime

    def refusal(self, now: datetime) -> ApplicationRefused | None:
        if now < self.opens:
            return _closed("申し込みの受付はまだ始まっていません。 (Applications have not opened yet.)")
        if now >= self.closes:
            return _closed("申し込みの受付は終了しました。 (Applications are closed.)")
        return None


def _closed(message: str) -> ApplicationRefused:
    return ApplicationRefused(409, "applications_closed", message)


def _already() -> ApplicationRefused:
    return ApplicationRefused(
        409,
        "already_applied",
        "この抽選には、このメールアドレスまたはウォレットですでにお申し込み済みです。 "
        "(One application per email and per wallet address for this drop.)",
    )


def lottery_drop(session: Session, drop_id: int, chain_id: int) -> Drop:
    """The public lottery drop `drop_id` on this chain, else `ApplicationRefused` 404."""
    drop = session.get(Drop, drop_id)
    if drop is None or drop.chain_id != chain_id or drop.status not in PUBLIC_STATUSES or not is_lottery(drop):
        raise ApplicationRefused(404, "drop_not_found", "No lottery drop with this id.")
    return drop


def apply(
    sessions: sessionmaker[Session],
    vault: Vault,
    chain_id: int,
    drop_id: int,
    body: ApplicationCreate,
    *,
    idempotency_key: str | None,
    body_hash: str,
    now: datetime,
) -> ApplicationCreated | idempotency.Replay:
    """One transaction: the application and its stored answer (module docstring)."""
    with sessions() as session:
        try:
            if idempotency_key and (
                replay := idempotency.lookup(session, vault, IDEMPOTENCY_SCOPE, idempotency_key, body_hash)
            ):
                return replay
            if idempotency_key:
                idempotency.claim(session, IDEMPOTENCY_SCOPE, idempotency_key, body_hash)
            created = _insert(session, vault, chain_id, drop_id, body, now)
            if idempotency_key:
                answer = created.model_dump(mode="json")
                idempotency.remember(session, vault, IDEMPOTENCY_SCOPE, idempotency_key, body_hash, 201, answer)
            session.commit()
            return created
        except IntegrityError:
            # Another request with this key committed first (answer as it did), or one with the
            # same email or wallet did (the unique constraints are the rule).
            session.rollback()
            if idempotency_key and (
                replay := idempotency.lookup(session, vault, IDEMPOTENCY_SCOPE, idempotency_key, body_hash)
            ):
                return replay
            raise _already() from None


def _insert(
    session: Session, vault: Vault, chain_id: int, drop_id: int, body: ApplicationCreate, now: datetime
) -> ApplicationCreated:
    drop = lottery_drop(session, drop_id, chain_id)
    if drop.status == PAUSED:
        raise ApplicationRefused(
            409, "drop_paused", "この販売は一時停止中です。再開されるまでお待ちください。 (This drop is paused.)"
        )
    assert drop.applications_close_at is not None
    assert drop.draw_at is not None
    refusal = Window(aware(drop.starts_at), aware(drop.applications_close_at)).refusal(now)
    if refusal is not None:
        raise refusal
    if body.quantity > drop.per_buyer_limit:
        raise ApplicationRefused(
            409, "limit_exceeded", f"At most {drop.per_buyer_limit} cards of this drop per person (email or wallet)."
        )
    email = normalise_email(body.email)
    # A second application of this email or wallet breaks a unique constraint: `apply` answers
    # `already_applied` (no read first: the constraint is the rule, and one query less).
    announce(session, vault, drop_id)
    application_id = "app_" + secrets.token_urlsafe(15)
    token = new_secret()
    application = LotteryApplication(
        id=application_id,
        drop_id=drop_id,
        entry_id=algorithm.new_entry_id(),
        email=email,
        prefecture=body.prefecture,
        quantity=body.quantity,
        wallet_address=body.wallet_address,
        campaign_code=body.campaign_code,
        token_hash=hash_secret(token),
        token_enc=vault.encrypt(token.encode(), token_aad(application_id)),
        created_at=now,
        mail_due=True,
        mail_seq=1,
    )
    session.add(application)
    session.flush()
    # After the insert, under the lottery row's key-share lock: see the module docstring.
    stage = session.scalar(
        select(Lottery.stage).where(Lottery.drop_id == drop_id).with_for_update(read=True, key_share=True)
    )
    if stage != ANNOUNCED:
        raise _closed("申し込みの受付は終了しました。 (Applications are closed: the list is fixed.)")
    return ApplicationCreated(
        application_id=application_id,
        application_token=token,
        entry_id=application.entry_id,
        drop_id=drop_id,
        quantity=application.quantity,
        applications_close_at=aware(drop.applications_close_at),
        draw_at=aware(drop.draw_at),
    )


# ── reading ──────────────────────────────────────────────────────────────────


def is_placed(application: LotteryApplication) -> bool:
    """Holds (or held) a place: won in the draw, or promoted from the waitlist."""
    return application.outcome == WON or application.promoted_round is not None


def status_of(application: LotteryApplication, stage: str, order_status: str | None, now: datetime) -> str:
    """The applicant's status (ApplicationPublic's docstring)."""
    if application.outcome is None:
        return "applied"
    if is_placed(application):
        if application.lapsed_round is not None:
            return "expired"
        if order_status in PAID_STATES:
            return "paid"
        if application.deadline is not None and aware(application.deadline) <= now:
            return "expired"  # unpaid past its deadline: it lapses at the job's next check
        return "promoted" if application.promoted_round is not None else "won"
    return "lost" if stage == SETTLED else "waitlisted"


def application_public(
    session: Session, vault: Vault, application: LotteryApplication, public_state: str, now: datetime
) -> ApplicationPublic:
    lottery = session.get(Lottery, application.drop_id)
    drop = session.get(Drop, application.drop_id)
    assert lottery is not None
    assert drop is not None
    order_status = None
    if application.order_id is not None:
        order_status = session.scalar(select(Order.status).where(Order.id == application.order_id))
    status = status_of(application, lottery.stage, order_status, now)
    with_order = status in ("won", "promoted", "paid") and application.order_token_enc is not None
    order_token = (
        vault.decrypt(application.order_token_enc, order_token_aad(application.id)).decode()
        if with_order and application.order_token_enc is not None
        else None
    )
    close_at = lottery.applications_close_at or drop.applications_close_at
    draw_at = lottery.draw_at or drop.draw_at
    assert close_at is not None
    assert draw_at is not None
    return ApplicationPublic(
        application_id=application.id,
        drop_id=application.drop_id,
        status=status,  # type: ignore[arg-type]
        entry_id=application.entry_id,
        quantity=application.quantity,
        prefecture=application.prefecture,
        rank=application.rank,
        pay_deadline=application.deadline if is_placed(application) else None,
        order_id=application.order_id if with_order else None,
        order_token=order_token,
        lottery_state=public_state,
        applications_close_at=close_at,
        draw_at=draw_at,
        created_at=application.created_at,
    )
