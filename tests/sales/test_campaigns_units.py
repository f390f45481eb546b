"""Campaign scans below the HTTP layer: which agents are bots, the daily-salted visitor hash,
the Japan-time day, and counting shared by several processes (two engines on one database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import make_engine, make_session_factory, migrate, session_scope
from backend.sales.campaigns import (
    SCANS_PER_CLIENT_PER_MINUTE,
    Visit,
    daily_salt,
    is_bot,
    japan_day,
    new_code,
    record_scan,
    visitor_hash,
)
from backend.sales.funnel import campaign_counts
from backend.sales.models import Campaign, CampaignScan, Drop
from backend.towns.models import Municipality

SECRET = "a-test-secret-of-at-least-32-characters"
PEOPLE = {
    "iPhone Safari": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Android Chrome": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
    "LINE in-app browser": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Line/14.9.0",
    "a CUBOT phone": "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
    "Instagram in-app": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Instagram 300.0",
}
BOTS = {
    "Googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "LINE preview": "facebookexternalhit/1.1;line-poker/1.0",
    "X": "Twitterbot/1.0",
    "LinkedIn": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Discord": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "WhatsApp": "WhatsApp/2.23.20.0 A",
    "Telegram": "TelegramBot (like TwitterBot)",
    "Skype / Teams": "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "Office": "Microsoft Office Word 2014",
    "headless Chrome": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0 Safari/537.36",
    "curl": "curl/8.5.0",
    "wget": "Wget/1.21.4",
    "requests": "python-requests/2.32.3",
    "Go": "Go-http-client/2.0",
    "no agent": "",
    "an unnamed crawler": "SomeCrawler/3.1",
}


@pytest.mark.parametrize("agent", PEOPLE.values(), ids=PEOPLE.keys())
def test_people_are_not_bots(agent: str) -> None:
    assert not is_bot(agent)


@pytest.mark.parametrize("agent", BOTS.values(), ids=BOTS.keys())
def test_crawlers_previews_and_scripts_are_bots(agent: str) -> None:
    assert is_bot(agent)


def test_a_head_request_is_a_bot_whatever_its_agent() -> None:
    assert is_bot(PEOPLE["iPhone Safari"], "HEAD")


def test_the_day_is_japans() -> None:
    assert japan_day(datetime(2026, 3, 31, 14, 59, tzinfo=UTC)) == "2026-03-31"
    assert japan_day(datetime(2026, 3, 31, 15, 0, tzinfo=UTC)) == "2026-04-01"  # 00:00 in Tokyo


def test_the_visitor_hash_is_stable_within_a_day_and_unlinkable_across_days() -> None:
    agent = PEOPLE["iPhone Safari"]
    today = visitor_hash(daily_salt(SECRET, "2026-04-01"), "203.0.113.1", agent)
    assert today == visitor_hash(daily_salt(SECRET, "2026-04-01"), "203.0.113.1", agent)
    assert today != visitor_hash(daily_salt(SECRET, "2026-04-02"), "203.0.113.1", agent)
    assert today != visitor_hash(daily_salt(SECRET + "x", "2026-04-01"), "203.0.113.1", agent)
    assert today != visitor_hash(daily_salt(SECRET, "2026-04-01"), "203.0.113.2", agent)
    # Address and agent cannot trade characters: the parts are separated.
    salt = daily_salt(SECRET, "2026-04-01")
    assert visitor_hash(salt, "1.2.3.4", "5 x") != visitor_hash(salt, "1.2.3.45", " x")


def test_codes_use_the_unambiguous_alphabet() -> None:
    for _ in range(200):
        code = new_code()
        assert len(code) == 6
        assert not set(code) & set("01ILO")


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session], int, int]]:
    """Two engines on one SQLite file (as two API processes), a town, a drop and a campaign."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engines: list[Engine] = [make_engine(url), make_engine(url)]
    migrate(engines[0])
    first, second = (make_session_factory(engine) for engine in engines)
    with session_scope(first) as session:
        town = Municipality(slug="hoshikawa", name_ja="星川町", name_en="Hoshikawa", prefecture="06")
        session.add(town)
        session.flush()
        drop = Drop(
            municipality_id=town.id,
            title_ja="住民票",
            title_en="Card",
            price_jpy=1000,
            supply=10,
            starts_at=datetime.now(UTC),
            chain_id=1,
            contract="0x" + "11" * 20,
        )
        session.add(drop)
        session.flush()
        campaign = Campaign(municipality_id=town.id, drop_id=drop.id, code="shared", name="駅前")
        session.add(campaign)
        session.flush()
        ids = town.id, campaign.id
    try:
        yield first, second, *ids
    finally:
        for engine in engines:
            engine.dispose()


def _scan(sessions: sessionmaker[Session], campaign_id: int, visit: Visit, now: datetime) -> bool:
    with session_scope(sessions) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return record_scan(session, campaign, visit, SECRET, now)


def test_two_processes_count_into_one_funnel_and_share_the_flood_limit(
    two_processes: tuple[sessionmaker[Session], sessionmaker[Session], int, int],
) -> None:
    first, second, town_id, campaign_id = two_processes
    now = datetime(2026, 4, 1, 3, 0, tzinfo=UTC)
    phone = Visit("203.0.113.1", PEOPLE["iPhone Safari"])

    recorded = [_scan(process, campaign_id, phone, now) for _ in range(15) for process in (first, second)]

    # 30 scans from one address in one minute, half through each process: the shared
    # counter lets exactly the limit through.
    assert recorded.count(True) == SCANS_PER_CLIENT_PER_MINUTE
    with first() as session:
        counts = campaign_counts(session, town_id)[campaign_id]
        stored = session.scalar(select(func.count()).select_from(CampaignScan))
    assert stored == counts.scans == SCANS_PER_CLIENT_PER_MINUTE
    assert counts.unique_scans == 1


def test_the_same_phone_on_two_days_is_two_unique_scans(
    two_processes: tuple[sessionmaker[Session], sessionmaker[Session], int, int],
) -> None:
    first, second, town_id, campaign_id = two_processes
    phone = Visit("203.0.113.1", PEOPLE["Android Chrome"])
    assert _scan(first, campaign_id, phone, datetime(2026, 4, 1, 14, 0, tzinfo=UTC))  # 23:00 in Tokyo
    assert _scan(second, campaign_id, phone, datetime(2026, 4, 1, 14, 30, tzinfo=UTC))  # 23:30
    assert _scan(first, campaign_id, phone, datetime(2026, 4, 1, 15, 30, tzinfo=UTC))  # 00:30, the next day
    assert _scan(second, campaign_id, Visit("203.0.113.1", "curl/8.5.0"), datetime(2026, 4, 1, 15, 31, tzinfo=UTC))
    with first() as session:
        counts = campaign_counts(session, town_id)[campaign_id]
        days = sorted(session.scalars(select(CampaignScan.day)).all())
    assert (counts.scans, counts.unique_scans, counts.bot_scans) == (4, 2, 1)
    assert days == ["2026-04-01", "2026-04-01", "2026-04-02", "2026-04-02"]
