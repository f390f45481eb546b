"""Pass verification benchmark: a shop's `POST /api/v1/verify` from many phones at once,
against a real `furusato run`, beside the no-op endpoint in the same run.

    .venv/bin/python scripts/bench/verify.py [--requests 20000] [--clients 64] [--cards 64]
        [--database sqlite|postgresql|both] [--postgres-url postgresql://root@127.0.0.1:5432/postgres]

For each database: start `furusato run` on anvil (mint worker and indexer in-process) with the
demo town; buy `--cards` demo cards (one buyer each) and wait until the indexer has every one
on chain; register a shop with a monthly benefit for every series and a paired verifier device
(written into the server's database, as the console would); sign one fresh pass per card with
the deployment's pass key (as `GET /api/v1/holders/me/pass` does). Then the same `--clients`
HTTP clients (Python `requests`, on the same machine) call `/api/v1/ping` (does nothing: the
baseline) `--requests` times, and `POST /api/v1/verify` with the device's token `--requests`
times, cycling through the passes. Every answer must say valid, with the card's number and
the benefit available. Prints requests/s and p50/p99 of both and the ratio.

Targets (issue 12): p99 ≤ 150 ms; throughput ≥ 0.5 × the no-op endpoint's.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from load import drive, ping, postgres_database, running_server
from sqlalchemy import select

import backend.app  # noqa: F401  (every table's model)
from backend.benefits.deps import DEVICE_TOKEN_PREFIX
from backend.benefits.models import Benefit, Shop, VerifierDevice
from backend.core.bearer import hash_secret, new_secret
from backend.core.config import PLACEHOLDER_SECRET
from backend.core.db import make_engine, make_session_factory
from backend.holders.pass_token import issue_pass, pass_vault
from backend.sales.models import Drop, OrderCard
from backend.staff.models import StaffMember
from backend.towns.models import Municipality
from minting.store import TokenOwnerRow

TARGET_P99_MS = 150.0
TARGET_RATIO = 0.5


def buy_cards(url: str, count: int) -> list[dict[str, Any]]:
    """`count` demo orders of one card each, paid; their order ids and tokens."""
    run_id = uuid.uuid4().hex[:8]
    orders = []
    with requests.Session() as session:
        for index in range(count):
            body = {
                "drop_id": 1,
                "quantity": 1,
                "email": f"verify-{run_id}-{index}@example.jp",
                "prefecture": "13",
                "payment_method": "demo",
            }
            order = session.post(f"{url}/api/v1/orders", json=body, timeout=60).json()
            headers = {"Authorization": f"Bearer {order['order_token']}"}
            session.post(f"{url}/api/v1/orders/{order['order_id']}/demo-pay", headers=headers, timeout=60)
            orders.append(order)
    return orders


def await_indexed(database_url: str, count: int, timeout: float = 300.0) -> list[TokenOwnerRow]:
    """The indexer's owner rows of the demo drop's cards, once there are `count`."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with sessions() as session:
                drop = session.get(Drop, 1)
                assert drop is not None
                ids = select(OrderCard.token_id).where(OrderCard.drop_id == drop.id)
                rows = session.scalars(
                    select(TokenOwnerRow).where(
                        TokenOwnerRow.chain_id == drop.chain_id,
                        TokenOwnerRow.contract == drop.contract,
                        TokenOwnerRow.token_id.in_(ids),
                    )
                ).all()
            if len(rows) >= count:
                return list(rows)
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(rows)} of {count} cards indexed in {timeout:.0f} s")
            time.sleep(0.5)
    finally:
        engine.dispose()


def shop_device(database_url: str) -> str:
    """A shop of the demo town with a monthly benefit for every series and a paired device;
    the device's session token."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    token = DEVICE_TOKEN_PREFIX + new_secret()
    try:
        with sessions() as session:
            town = session.scalars(select(Municipality).order_by(Municipality.id)).first()
            staff = session.scalars(select(StaffMember).order_by(StaffMember.id)).first()
            if town is None or staff is None:
                raise SystemExit("the demo town and its owner are not seeded")
            shop = Shop(municipality_id=town.id, name_ja="ベンチの湯", name_en="Bench spa")
            session.add(shop)
            session.flush()
            session.add(
                Benefit(
                    municipality_id=town.id,
                    shop_id=shop.id,
                    title_ja="入浴無料",
                    title_en="Free bath",
                    period="month",
                )
            )
            now = datetime.now(UTC)
            session.add(
                VerifierDevice(
                    municipality_id=town.id,
                    shop_id=shop.id,
                    label="bench",
                    link_hash=hash_secret(new_secret()),
                    link_expires_at=now,
                    session_hash=hash_secret(token),
                    paired_at=now,
                    created_by=staff.id,
                )
            )
            session.commit()
    finally:
        engine.dispose()
    return token


def passes(database_url: str, owners: list[TokenOwnerRow]) -> list[tuple[str, int]]:
    """One fresh proof per card, signed with the deployment's key; (proof, card number)."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            town = session.scalars(select(Municipality).order_by(Municipality.id)).first()
            assert town is not None
            slug = town.slug
        vault = pass_vault(PLACEHOLDER_SECRET)  # the demo deployment's secret
        now = datetime.now(UTC)
        return [
            (
                issue_pass(
                    sessions,
                    vault,
                    town=slug,
                    chain_id=row.chain_id,
                    contract=row.contract,
                    token_id=row.token_id,
                    holder=row.owner,
                    now=now,
                    ttl_seconds=90,
                )[0],
                row.token_id,
            )
            for row in owners
        ]
    finally:
        engine.dispose()


def verify(url: str, token: str, proofs: list[tuple[str, int]]) -> Any:
    cycle = itertools.cycle(proofs)
    headers = {"Authorization": f"Bearer {token}"}

    def action(session: requests.Session, _index: int) -> str:
        proof, number = next(cycle)
        answer = session.post(f"{url}/api/v1/verify", json={"proof": proof}, headers=headers, timeout=60)
        if answer.status_code != 200:
            return f"http {answer.status_code}"
        body = answer.json()
        if not body.get("valid"):
            return f"invalid: {body.get('reason')}"
        if (body.get("card") or {}).get("token_id") != number or not any(
            b.get("available") for b in body.get("benefits", [])
        ):
            return "wrong answer"
        return "valid"

    return action


def run_one(name: str, database_url: str | None, args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory() as data_dir, running_server(data_dir, database_url) as url:
        db_url = database_url or f"sqlite:///{Path(data_dir) / 'furusato.db'}"
        buy_cards(url, args.cards)
        owners = await_indexed(db_url, args.cards)
        token = shop_device(db_url)
        drive(args.clients, 2_000, ping(url))  # warm-up
        baseline = drive(args.clients, args.requests, ping(url))
        proofs = passes(db_url, owners)
        drive(args.clients, 500, verify(url, token, proofs))  # warm-up
        proofs = passes(db_url, owners)  # fresh: a pass lives at most 90 s
        verified = drive(args.clients, args.requests, verify(url, token, proofs))
    ratio = verified.per_second / baseline.per_second
    p99 = verified.percentile(0.99)
    all_valid = verified.outcomes["valid"] == args.requests
    print(name, flush=True)
    print("  " + baseline.line("no-op /api/v1/ping"))
    print("  " + verified.line("POST /api/v1/verify"))
    print(
        f"  ratio {ratio:.2f} (target ≥ {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'MISSED'}); "
        f"p99 {p99:.1f} ms (target ≤ {TARGET_P99_MS:.0f} ms: {'met' if p99 <= TARGET_P99_MS else 'MISSED'}); "
        f"every answer valid with its number: {'yes' if all_valid else 'NO'}",
        flush=True,
    )
    return all_valid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--cards", type=int, default=64)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(f"{args.requests:,} verifications of {args.cards} cards' passes by {args.clients} clients", flush=True)
    ok = []
    if args.database in ("sqlite", "both"):
        ok.append(run_one("SQLite", None, args))
    if args.database in ("postgresql", "both"):
        url, drop = postgres_database(args.postgres_url)
        try:
            ok.append(run_one("PostgreSQL", url, args))
        finally:
            drop()
    if not all(ok):
        sys.exit(1)


if __name__ == "__main__":
    main()
