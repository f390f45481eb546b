"""Order intake benchmark: many buyers at once against a real `furusato run`.

    .venv/bin/python scripts/bench/intake.py [--attempts 20000] [--supply 10000] [--clients 64]
        [--database sqlite|postgresql|both] [--postgres-url postgresql://root@127.0.0.1:5432/postgres]

For each database: start `furusato run` on anvil with a demo drop of `--supply` cards, then
`--clients` concurrent HTTP clients make `--attempts` order attempts (each accepted order is
demo-paid at once). In the same run, the same clients call `/api/v1/ping`, an endpoint that
does nothing, as the baseline. Prints orders/s, p50/p99 latency of an order (create + pay),
the throughput ratio to the no-op endpoint, the oversold count (cards numbered beyond the
supply, or more accepted than the supply) and, at the end, whether every accepted order was
minted on chain.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests
from load import drive, ping, postgres_database, running_server


def buy(url: str, accepted: list[dict[str, Any]], run_id: str) -> Callable[[requests.Session, int], str]:
    def action(session: requests.Session, index: int) -> str:
        body = {
            "drop_id": 1,
            "quantity": 1,
            "email": f"bench-{run_id}-{index}@example.jp",
            "prefecture": f"{index % 48:02d}",
            "payment_method": "demo",
        }
        created = session.post(f"{url}/api/v1/orders", json=body, timeout=60)
        if created.status_code != 201:
            return str(created.json().get("error", {}).get("code", created.status_code))
        order = created.json()
        paid = session.post(
            f"{url}/api/v1/orders/{order['order_id']}/demo-pay",
            headers={"Authorization": f"Bearer {order['order_token']}"},
            timeout=60,
        )
        if paid.status_code != 200:
            return f"pay:{paid.status_code}"
        accepted.append({**order, "token_ids": paid.json()["token_ids"]})
        return "accepted"

    return action


def await_minted(url: str, accepted: list[dict[str, Any]], timeout: float) -> tuple[int, float]:
    """How many accepted orders end `minted` (asked through the API), and how long it took."""
    started = time.perf_counter()
    pending = list(accepted)
    with requests.Session() as session:
        while pending and time.perf_counter() - started < timeout:
            still = []
            for order in pending:
                status = session.get(
                    f"{url}/api/v1/orders/{order['order_id']}",
                    headers={"Authorization": f"Bearer {order['order_token']}"},
                    timeout=60,
                ).json()["status"]
                if status != "minted":
                    still.append(order)
                if len(still) > 50:  # the rest are later in the queue; look again later
                    still.extend(pending[pending.index(order) + 1 :])
                    break
            pending = still
            if pending:
                time.sleep(1.0)
    return len(accepted) - len(pending), time.perf_counter() - started


def run_one(name: str, database_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    env = {"FURUSATO_DEMO_SUPPLY": str(args.supply)}
    with tempfile.TemporaryDirectory() as data_dir, running_server(data_dir, database_url, env) as url:
        drive(args.clients, 2_000, ping(url))  # warm-up
        baseline = drive(args.clients, args.attempts, ping(url))
        accepted: list[dict[str, Any]] = []
        orders = drive(args.clients, args.attempts, buy(url, accepted, uuid.uuid4().hex[:8]))
        numbers = Counter(n for order in accepted for n in order["token_ids"])
        oversold = max(0, len(accepted) - args.supply) + sum(1 for n in numbers if n > args.supply)
        duplicates = sum(count - 1 for count in numbers.values() if count > 1)
        minted, mint_seconds = await_minted(url, accepted, args.mint_timeout)
    ratio = orders.per_second / baseline.per_second
    print(
        f"{name:<10} orders {orders.per_second:7.1f}/s  p50 {orders.percentile(0.5):6.1f} ms"
        f"  p99 {orders.percentile(0.99):6.1f} ms | no-op {baseline.per_second:7.1f}/s"
        f"  p99 {baseline.percentile(0.99):5.1f} ms | ratio {ratio:.2f} | accepted {len(accepted):,}"
        f" of {args.attempts:,} ({dict(orders.outcomes)}) | oversold {oversold} | numbers twice {duplicates}"
        f" | minted {minted:,}/{len(accepted):,} in {mint_seconds:.0f} s",
        flush=True,
    )
    return {"ratio": ratio, "p99": orders.percentile(0.99), "oversold": oversold, "all_minted": minted == len(accepted)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=20_000)
    parser.add_argument("--supply", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--mint-timeout", type=float, default=600.0)
    args = parser.parse_args()
    print(f"{args.attempts:,} attempts by {args.clients} clients for {args.supply:,} cards", flush=True)
    if args.database in ("sqlite", "both"):
        run_one("SQLite", None, args)
    if args.database in ("postgresql", "both"):
        url, drop = postgres_database(args.postgres_url)
        try:
            run_one("PostgreSQL", url, args)
        finally:
            drop()


if __name__ == "__main__":
    main()
