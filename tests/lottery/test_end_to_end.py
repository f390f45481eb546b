"""A lottery end to end on anvil, through `furusato run` and the HTTP API only (plus the clock:
the test moves the drop's close and draw into the past in the server's database, as time
would): a lottery drop made and published in the console, 30 applicants for 10 cards, the
close, the anchor on chain, the draw, winners paying by demo, cards minted to exactly the
winners, and `scripts/verify_lottery.py` — the outside verifier — printing ✓ against the
running server and the node."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import make_engine, make_session_factory
from backend.sales.models import Drop
from minting.anvil import AnvilNode
from minting.chains import connect
from minting.compiler import CompiledTree
from minting.resident_card import ResidentCardClient
from tests.conftest import REPO_ROOT, ServerProcess
from tests.factories import staff_headers
from tests.sales.test_staff_drops import TOWN, lottery_body

pytestmark = pytest.mark.anvil

APPLICANTS = 30
SUPPLY = 10


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'furusato.db'}")
    yield make_session_factory(engine)
    engine.dispose()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_thirty_applicants_ten_cards_drawn_paid_minted_and_verified(
    start_server: Callable[..., ServerProcess],
    tmp_path: Path,
    compiled: CompiledTree,
    sessions: sessionmaker[Session],
) -> None:
    with AnvilNode(tmp_path / "anvil") as node, connect(node.url) as chain:
        server = start_server(["--chain", node.url, "--data-dir", str(tmp_path / "data")])
        server.wait_healthy(timeout=120)
        url = server.url

        # `furusato run` seeded the demo lottery, its window open.
        drops = requests.get(f"{url}/api/v1/drops", params={"municipality": "hoshikawa"}, timeout=30).json()
        (demo_lottery,) = [d for d in drops["items"] if d["sale_mode"] == "lottery"]
        assert requests.get(f"{url}/api/v1/drops/{demo_lottery['id']}/lottery", timeout=30).json()["state"] == "open"

        # Staff make a lottery drop in the console and publish it.
        editor = staff_headers(sessions, "hoshikawa", "editor")
        now = datetime.now(UTC)
        body = lottery_body(
            supply=SUPPLY,
            per_buyer_limit=1,
            starts_at=(now - timedelta(minutes=1)).isoformat(),
            applications_close_at=(now + timedelta(days=1)).isoformat(),
            draw_at=(now + timedelta(days=1, hours=1)).isoformat(),
            ends_at=None,
            pay_within_hours=24,
            payment_methods=["demo"],
        )
        created = requests.post(f"{url}{TOWN}/drops", json=body, headers=editor, timeout=30)
        assert created.status_code == 201, created.text
        drop_id = created.json()["id"]
        published = requests.post(f"{url}{TOWN}/drops/{drop_id}/publish", headers=editor, timeout=60)
        assert published.status_code in (200, 202), published.text
        drop = wait_for(
            "published",
            lambda: (d := requests.get(f"{url}/api/v1/drops/{drop_id}", timeout=30)).status_code == 200 and d.json(),
        )
        commitment = requests.get(f"{url}/api/v1/drops/{drop_id}/lottery", timeout=30).json()["seed_commitment"]

        # 30 applicants.
        applications = []
        for index in range(APPLICANTS):
            answer = requests.post(
                f"{url}/api/v1/drops/{drop_id}/applications",
                json={"email": f"e2e{index}@example.jp", "prefecture": f"{index % 47 + 1:02d}", "quantity": 1},
                headers={"Idempotency-Key": f"e2e-{index}"},
                timeout=30,
            )
            assert answer.status_code == 201, answer.text
            applications.append(answer.json())

        # Time passes: the close and the draw are due.
        with sessions.begin() as session:
            moment = datetime.now(UTC)
            session.execute(
                update(Drop)
                .where(Drop.id == drop_id)
                .values(applications_close_at=moment - timedelta(seconds=2), draw_at=moment - timedelta(seconds=1))
            )
        record = wait_for(
            "drawn",
            lambda: (
                (r := requests.get(f"{url}/api/v1/drops/{drop_id}/lottery", timeout=30).json())["state"] == "drawn"
                and r
            ),
        )
        assert record["entries_count"] == APPLICANTS
        assert record["seed_commitment"] == commitment
        assert len(record["winners"]) == SUPPLY
        assert len(record["waitlist"]) == APPLICANTS - SUPPLY

        # Winners see 当選 (status won) with their order, and pay by demo; the others wait.
        winners = {w["entry_id"] for w in record["winners"]}
        views = {}
        for application in applications:
            view = requests.get(
                f"{url}/api/v1/applications/{application['application_id']}",
                headers={"Authorization": f"Bearer {application['application_token']}"},
                timeout=30,
            ).json()
            views[application["entry_id"]] = view
            assert view["status"] == ("won" if application["entry_id"] in winners else "waitlisted"), view
        paid_orders = []
        for entry_id in winners:
            view = views[entry_id]
            paid = requests.post(
                f"{url}/api/v1/orders/{view['order_id']}/demo-pay",
                headers={"Authorization": f"Bearer {view['order_token']}"},
                timeout=60,
            )
            assert paid.status_code == 200, paid.text
            paid_orders.append(view)

        def minted() -> list[dict[str, Any]] | None:
            orders = [
                requests.get(
                    f"{url}/api/v1/orders/{view['order_id']}",
                    headers={"Authorization": f"Bearer {view['order_token']}"},
                    timeout=30,
                ).json()
                for view in paid_orders
            ]
            return orders if all(order["status"] == "minted" for order in orders) else None

        orders = wait_for("winners' cards minted", minted, timeout=120)

        # Cards minted to exactly the winners: every card of the series belongs to a winner's order.
        card = ResidentCardClient.at(chain.w3, compiled["ResidentCard"], drop["contract"])
        numbers = sorted(token for order in orders for token in order["token_ids"])
        first = min(numbers)
        assert len(numbers) == SUPPLY == len(set(numbers))
        assert numbers == list(range(first, first + SUPPLY))
        for order in orders:
            for token_id in order["token_ids"]:
                assert card.owner_of(token_id) == order["owner"]
        assert not card.exists(first + SUPPLY)  # nothing beyond the places
        assert len({order["owner"] for order in orders}) == SUPPLY  # ten different winners
        settled = wait_for(
            "settled",
            lambda: requests.get(f"{url}/api/v1/drops/{drop_id}/lottery", timeout=30).json()["state"] == "settled",
        )
        assert settled
        lost = requests.get(
            f"{url}/api/v1/applications/{applications[0]['application_id']}",
            headers={"Authorization": f"Bearer {applications[0]['application_token']}"},
            timeout=30,
        ).json()
        assert lost["status"] == ("paid" if applications[0]["entry_id"] in winners else "lost")

        # The outside verifier, with a plain Python, against the running server and the node.
        verifier = subprocess.run(
            [
                sys.executable,
                "-I",
                str(REPO_ROOT / "scripts" / "verify_lottery.py"),
                url,
                str(drop_id),
                "--rpc",
                node.url,
                "--commitment",
                commitment,
                "--entry",
                applications[0]["entry_id"],
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert verifier.returncode == 0, verifier.stdout + verifier.stderr
        assert "✓" in verifier.stdout
        assert "✗" not in verifier.stdout
