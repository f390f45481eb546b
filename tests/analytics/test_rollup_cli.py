"""`furusato analytics rebuild --town SLUG --data-dir DIR` finds the deployment's database
through the data directory (what `furusato run` recorded there) and replaces the town's
figures with a recomputation."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from backend.analytics import metrics as m
from backend.analytics.models import AnalyticsCount
from backend.analytics.rollup import catch_up
from backend.cli import app as cli
from backend.runtime import DEPLOYMENT_FILE
from tests.analytics.conftest import World, counts_of
from tests.analytics.test_rollup import Story, assert_counts, told


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"FURUSATO_DATABASE_URL": None})
    return result.exit_code, result.output


def test_rebuild_from_the_data_dir_repairs_the_counts(analytics_sqlite: sessionmaker[Session], tmp_path: Path) -> None:
    story = told(Story(World(analytics_sqlite)))
    catch_up(analytics_sqlite)
    bind = analytics_sqlite.kw["bind"]
    data_dir = tmp_path / "deployment"
    data_dir.mkdir()
    recorded = {"chain": "anvil://127.0.0.1:1", "public_url": "http://127.0.0.1:1", "database_url": str(bind.url)}
    (data_dir / DEPLOYMENT_FILE).write_text(json.dumps(recorded))
    with analytics_sqlite() as session:  # figures gone wrong: a lost cell and a stray one
        session.execute(delete(AnalyticsCount).where(AnalyticsCount.metric == m.RESIDENTS))
        session.execute(
            insert(AnalyticsCount).values(
                municipality_id=story.town, metric=m.CARDS, dim1="*", dim2="40", day="", value=7
            )
        )
        session.commit()
    code, output = run("analytics", "rebuild", "--town", "hoshi", "--data-dir", str(data_dir))
    assert code == 0, output
    assert "analytics of hoshi rebuilt: 4 people" in output
    assert_counts(counts_of(analytics_sqlite, story.town), story.expected())


def test_rebuild_of_an_unknown_town_fails_with_one_line(
    analytics_sqlite: sessionmaker[Session], tmp_path: Path
) -> None:
    bind = analytics_sqlite.kw["bind"]
    code, output = run("analytics", "rebuild", "--town", "nowhere", "--database-url", str(bind.url))
    assert code == 2
    assert "no town 'nowhere'" in output
