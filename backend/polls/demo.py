"""The demo town's announcement and polls, seeded by `furusato run` in demo mode.

- an announcement to every holder, sent by the sender loop (holders who buy later read it on
  "my card" too);
- a poll open from the first start: its electorate was frozen then, so on a fresh demo no
  card votes in it — the rule itself, shown;
- a poll opening ten minutes after the first start: cards bought before then vote in it.

Seeded once (a restart adds nothing), authored by the demo owner, not in the audit log (no
staff member made them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.polls import announcements
from backend.polls.electorate import freeze
from backend.polls.models import Announcement, Poll
from backend.polls.poll_schemas import PollCreate
from backend.polls.polls import create_poll
from backend.towns.models import Municipality

DEMO_ANNOUNCEMENT = {
    "title_ja": "ほしの湯の入浴が無料になりました",
    "title_en": "Free baths at Hoshino-yu",
    "body_ja": (
        "デジタル住民票をお持ちの方は、星川温泉 ほしの湯の日帰り入浴が月に1回無料です。"
        "受付でマイ住民票のパスを見せてください。"
    ),
    "body_en": "Card holders bathe free at Hoshino-yu once a month: show your pass at the front desk.",
}
OPTIONS = [
    {"label_ja": "遊具を新しくする", "label_en": "New playground equipment"},
    {"label_ja": "桜を植える", "label_en": "Plant cherry trees"},
    {"label_ja": "ベンチと日よけ", "label_en": "Benches and shade"},
]
DEMO_POLLS = [
    ("星川中央公園の改修で、いちばん先にしてほしいことは？", "What should the park's renewal do first?", timedelta(0)),
    ("来年の星川まつりの日程は？", "When should next year's Hoshikawa festival be?", timedelta(minutes=10)),
]
FESTIVAL_OPTIONS = [
    {"label_ja": "8月の第1週末", "label_en": "First weekend of August"},
    {"label_ja": "9月の連休", "label_en": "September holidays"},
]
POLL_DAYS = 30


def seed_demo_posts(session: Session, town: Municipality, owner_id: int, now: datetime) -> None:
    """The announcement (scheduled now) and the two polls (each only if missing)."""
    if session.scalar(select(Announcement.id).where(Announcement.title_ja == DEMO_ANNOUNCEMENT["title_ja"])) is None:
        made = announcements.create(session, town.id, dict(DEMO_ANNOUNCEMENT), [], owner_id, now)
        made.status, made.send_at = "scheduled", now
    for (question_ja, question_en, opens_in), options in zip(DEMO_POLLS, (OPTIONS, FESTIVAL_OPTIONS), strict=True):
        if session.scalar(select(Poll.id).where(Poll.question_ja == question_ja)) is not None:
            continue
        opens_at = now.replace(microsecond=0) + opens_in
        body = PollCreate.model_validate(
            {
                "question_ja": question_ja,
                "question_en": question_en,
                "options": options,
                "opens_at": opens_at,
                "closes_at": opens_at + timedelta(days=POLL_DAYS),
                "quorum_percent": 10,
            }
        )
        poll = create_poll(session, town, owner_id, body, now)
        poll.status = "scheduled"
        session.flush()
        freeze(session, poll.id, now)
