"""Lottery benchmark (a): application intake against a real `furusato run`, beside the order
intake and the no-op endpoint in the same run; then the draw of what came in, on the server.

    .venv/bin/python scripts/bench/lottery.py [--applications 20000] [--orders 20000] [--clients 64]
        [--database sqlite|postgresql|both] [--postgres-url postgresql://root@127.0.0.1:5432/postgres]

(b), a draw of 1,000,000 synthetic entries and the standalone verifier on it, is
`scripts/bench/lottery_draw.py`.

For each database: start `furusato run` on anvil (mint worker, indexer, sweeper and lottery
job in-process) with the demo drop (first come, `--orders / 2` cards) and the demo lottery
drop (seeded with its window open). The same `--clients` HTTP clients then, one after the
other: call `/api/v1/ping` (does nothing: the baseline) `--orders` times; make `--orders`
order attempts, each demo-paid when accepted (what `intake.py` measures); make `--applications`
applications to the lottery (each a new email, one card). Prints requests/s, p50/p99 of each,
and the ratios: applications per second to order attempts per second (what `intake.py`
reports as orders/s: create + pay, or a `sold_out` refusal), to order requests per second
(two per paid attempt), and to the no-op. Target (issue 11): application intake ≥ 2× order
intake on the same server.

Then the clock: the lottery's close and draw are moved into the past in the server's database
(as time would), and the run times the server's own job from there to the drawn record
(close, list hash, the anchor on anvil, the ranking of every application, the winners'
orders), checks the record's entry count against the applications accepted, and runs
`scripts/verify_lottery.py` on the running server and node.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from load import REPO_ROOT, drive, ping, postgres_database, running_server
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from minting.anvil import running_node_url

TARGET_RATIO = 2.0


def order(url: str, run_id: str) -> Callable[[requests.Session, int], str]:
    """Create an order and demo-pay it, as `intake.py` counts an order attempt."""

    def action(session: requests.Session, index: int) -> str:
        body: dict[str, Any] = {
            "drop_id": 1,
            "quantity": 1,
            "email": f"bench-{run_id}-{index}@example.jp",
            "prefecture": f"{index % 48:02d}",
            "payment_method": "demo",
        }
        created = session.post(f"{url}/api/v1/orders", json=body, timeout=60)
        if created.status_code != 201:
            return str(created.json().get("error", {}).get("code", created.status_code))
        answer = created.json()
        paid = session.post(
            f"{url}/api/v1/orders/{answer['order_id']}/demo-pay",
            headers={"Authorization": f"Bearer {answer['order_token']}"},
            timeout=60,
        )
        return "accepted" if paid.status_code == 200 else f"pay:{paid.status_code}"

    return action


def application(url: str, drop_id: int, run_id: str) -> Callable[[requests.Session, int], str]:
    def action(session: requests.Session, index: int) -> str:
        body: dict[str, Any] = {
            "email": f"apply-{run_id}-{index}@example.jp",
            "prefecture": f"{index % 48:02d}",
            "quantity": 1,
        }
        created = session.post(f"{url}/api/v1/drops/{drop_id}/applications", json=body, timeout=60)
        if created.status_code != 201:
            return str(created.json().get("error", {}).get("code", created.status_code))
        return "accepted"

    return action


def demo_lottery(url: str) -> int:
    drops = requests.get(f"{url}/api/v1/drops", params={"municipality": "hoshikawa"}, timeout=30).json()["items"]
    (lottery,) = [drop for drop in drops if drop["sale_mode"] == "lottery"]
    return int(lottery["id"])


def move_the_clock(database_url: str, drop_id: int) -> None:
    """The lottery's close and draw, now past (as time would make them)."""
    engine = create_engine(make_url(database_url).set(drivername=_driver(database_url)))
    moment = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE drops SET applications_close_at = :close, draw_at = :draw WHERE id = :id"),
            {"close": moment - timedelta(seconds=2), "draw": moment - timedelta(seconds=1), "id": drop_id},
        )
    engine.dispose()


def _driver(database_url: str) -> str:
    return "postgresql+psycopg" if database_url.startswith("postgresql") else "sqlite"


def run_one(name: str, database_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    env = {"FURUSATO_DEMO_SUPPLY": str(max(1, args.orders // 2)), "FURUSATO_DEMO_LOTTERY": "true"}
    with tempfile.TemporaryDirectory() as data_dir, running_server(data_dir, database_url, env) as url:
        drop_id = demo_lottery(url)
        run_id = uuid.uuid4().hex[:8]
        drive(args.clients, 2_000, ping(url))  # warm-up
        baseline = drive(args.clients, args.orders, ping(url))
        orders = drive(args.clients, args.orders, order(url, run_id))
        applications = drive(args.clients, args.applications, application(url, drop_id, run_id))
        accepted = applications.outcomes["accepted"]

        record_url = f"{url}/api/v1/drops/{drop_id}/lottery"
        counted = requests.get(record_url, timeout=60).json()["entries_count"]
        move_the_clock(database_url or f"sqlite:///{Path(data_dir) / 'furusato.db'}", drop_id)
        started = time.perf_counter()
        while True:
            record = requests.get(record_url, timeout=60).json()
            if record["state"] in ("drawn", "settled"):
                break
            if time.perf_counter() - started > args.draw_timeout:
                raise SystemExit(f"not drawn within {args.draw_timeout} s: {json.dumps(record)[:300]}")
            time.sleep(0.2)
        draw_seconds = time.perf_counter() - started
        verifier = subprocess.run(
            [
                sys.executable,
                "-I",
                str(REPO_ROOT / "scripts" / "verify_lottery.py"),
                url,
                str(drop_id),
                "--rpc",
                running_node_url(Path(data_dir)) or "",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    order_requests = orders.per_second * 2  # create + pay: two requests per attempt
    ratio_attempts = applications.per_second / orders.per_second
    ratio_requests = applications.per_second / order_requests
    print(f"{name}", flush=True)
    print("  " + baseline.line("no-op /api/v1/ping"))
    print("  " + orders.line("orders (create + pay)"))
    print("  " + applications.line("applications"))
    print(
        f"  ratio applications / order attempts {ratio_attempts:.2f}  / order requests {ratio_requests:.2f}"
        f"  / no-op {applications.per_second / baseline.per_second:.2f}"
        f"  (target ≥ {TARGET_RATIO:.0f}× order intake: {'met' if ratio_attempts >= TARGET_RATIO else 'MISSED'})"
    )
    said = verifier.stdout.strip().splitlines()[-1] if verifier.stdout.strip() else verifier.stderr[-200:]
    print(
        f"  record entries_count {record['entries_count']:,} (accepted {accepted:,}; counted before the close"
        f" {counted:,}); close → drawn on the server {draw_seconds:.1f} s; winners {len(record['winners'])};"
        f" verify_lottery.py exit {verifier.returncode} ({said})",
        flush=True,
    )
    return {
        "ratio": ratio_attempts,
        "entries_ok": record["entries_count"] == accepted,
        "verified": verifier.returncode == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--applications", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--draw-timeout", type=float, default=600.0)
    args = parser.parse_args()
    print(
        f"{args.applications:,} applications and {args.orders:,} order attempts by {args.clients} clients", flush=True
    )
    results = []
    if args.database in ("sqlite", "both"):
        results.append(run_one("SQLite", None, args))
    if args.database in ("postgresql", "both"):
        url, drop = postgres_database(args.postgres_url)
        try:
            results.append(run_one("PostgreSQL", url, args))
        finally:
            drop()
    if not all(r["ratio"] >= TARGET_RATIO and r["entries_ok"] and r["verified"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
