"""Rollup batches running at once on PostgreSQL (threads, separate connections, as several API
processes would): the rollup lock serialises them, so no change is applied twice and the
counts equal a rebuild; a change committed while a batch runs is applied once, later."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.analytics import metrics as m
from backend.analytics.changes import mark_email
from backend.analytics.models import AnalyticsChange
from backend.analytics.rollup import catch_up, process_changes, rebuild
from backend.core.db import utcnow
from backend.sales.models import Order
from tests.analytics.conftest import World, counts_of
from tests.analytics.test_rollup import Story, assert_counts, told

WORKERS = 6
#: What the story queues, counted from its steps. Marks: orders 7 (+1 for the refund of
#: o4), check-ins 4, redemptions 2, votes 2, bidder 1, scans 4.
STORY_MARKS = 8 + 4 + 2 + 2 + 1 + 4
#: Mints t1, t2, t3, t4, and the moves of t2 and t3.
STORY_TRANSFERS = 6


def test_concurrent_batches_never_double_apply(analytics_postgres: sessionmaker[Session]) -> None:
    story = told(Story(World(analytics_postgres)))
    start = threading.Barrier(WORKERS)

    def drain() -> int:
        start.wait()
        return catch_up(analytics_postgres, limit=3)

    with ThreadPoolExecutor(WORKERS) as pool:
        applied = sum(pool.map(lambda _n: drain(), range(WORKERS)))
    with analytics_postgres() as session:
        assert session.scalar(select(func.count()).select_from(AnalyticsChange)) == 0
    # Every change and transfer was applied by exactly one batch.
    assert applied == STORY_MARKS + STORY_TRANSFERS
    incremental = counts_of(analytics_postgres, story.town)
    assert_counts(incremental, story.expected())
    rebuild(analytics_postgres, story.town)
    assert_counts(counts_of(analytics_postgres, story.town), incremental)


def test_a_change_committed_during_a_batch_is_applied_once(analytics_postgres: sessionmaker[Session]) -> None:
    story = told(Story(World(analytics_postgres)))
    catch_up(analytics_postgres)
    with analytics_postgres() as writer:
        writer.add(
            Order(
                id="ord_late",
                drop_id=story.d2.id,
                quantity=1,
                email="erin@example.jp",
                prefecture="40",
                payment_method="demo",
                status="pending_payment",
                token_hash="0" * 64,
                amount_jpy=1000,
                expires_at=utcnow(),
                created_at=utcnow(),
            )
        )
        writer.flush()
        mark_email(writer, "erin@example.jp", story.town)
        # Its change has an id already, but no batch can see it before the commit.
        assert process_changes(analytics_postgres) == 0
        writer.commit()
    assert catch_up(analytics_postgres) == 1
    assert catch_up(analytics_postgres) == 0
    counts = counts_of(analytics_postgres, story.town)
    orders = sum(
        v for (metric, dim1, _d2, _day), v in counts.items() if metric == m.ORDERS and dim1 == str(story.d2.id)
    )
    assert orders == 4  # o2, o4, o5 and erin's
