"""The staff CSV export: through the API (UTF-8 with BOM, Shift_JIS round-tripping Japanese
names with the replaced characters counted, the list's filters, the town's orders only), and
100,000 orders exported from SQLite and PostgreSQL in memory that does not grow with them."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from backend.core.csv_export import BOM, replacement_note
from backend.core.db import make_engine, make_session_factory, migrate, session_scope
from backend.sales.models import Order
from backend.sales.order_search import CSV_HEADER
from tests.conftest import REPO_ROOT
from tests.factories import add_plain_drop, add_town, bulk_orders, staff_headers
from tests.sales.conftest import bearer, order_body, runtime_of

pytestmark = pytest.mark.chain

TOWN = "/api/v1/staff/towns/hoshikawa"


def _rows(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def _paid(client: TestClient, **body: Any) -> dict[str, Any]:
    created: dict[str, Any] = client.post("/api/v1/orders", json=order_body(**body)).json()
    assert client.post(f"/api/v1/orders/{created['order_id']}/demo-pay", headers=bearer(created)).status_code == 200
    return created


def test_utf8_export_has_a_bom_every_column_and_the_towns_name_in_its_filename(client: TestClient) -> None:
    runtime = runtime_of(client)
    headers = staff_headers(runtime.sessions, "hoshikawa", "analyst")
    paid = _paid(client, quantity=2, email="Hanako@Example.jp", prefecture="13", campaign_code="station")
    with session_scope(runtime.sessions) as session:  # 2026-12-01 00:30 in Japan
        moment = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
        session.execute(update(Order).where(Order.id == paid["order_id"]).values(created_at=moment))
    owner = staff_headers(runtime.sessions, "hoshikawa", "owner")
    assert (
        client.post(f"{TOWN}/orders/{paid['order_id']}/refund", headers=owner, json={"reason": "重複"}).status_code
        == 201
    )

    response = client.get(f"{TOWN}/orders.csv", headers=headers)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="orders-hoshikawa-')
    assert response.content.startswith(BOM)
    header, row = _rows(response.content, "utf-8-sig")
    assert header == list(CSV_HEADER)
    record = dict(zip(header, row, strict=True))
    assert record["注文ID / order_id"] == paid["order_id"]
    assert record["注文日時（日本時間） / created_jst"] == "2026-12-01 00:30:00"
    assert record["ドロップ / drop"] == "星川町 デジタル住民票 第1期"
    assert (record["枚数 / quantity"], record["金額（円） / amount_jpy"]) == ("2", "2000")
    assert record["状態 / status"] == "refunded"
    assert record["メール / email"] == "hanako@example.jp"
    assert (record["都道府県コード / prefecture_code"], record["都道府県 / prefecture"]) == ("13", "東京都")
    assert record["キャンペーン / campaign"] == "station"
    assert record["カード番号 / token_ids"] == ""  # never minted: the numbers went back
    assert record["支払方法 / payment_method"] == "demo"
    assert record["返金日時（日本時間） / refunded_jst"].startswith("20")


def test_shift_jis_export_round_trips_japanese_names_and_counts_what_it_replaced(client: TestClient) -> None:
    runtime = runtime_of(client)
    town_id = add_town(runtime.sessions, "yamazaki", name_ja="山﨑村")
    drop_id = add_plain_drop(runtime.sessions, town_id, title_ja="山﨑村 デジタル住民票 ①🍵")
    bulk_orders(runtime.sessions, drop_id, 6, names=("髙橋", "山﨑", "渡邊"))
    headers = staff_headers(runtime.sessions, "yamazaki", "owner")

    response = client.get("/api/v1/staff/towns/yamazaki/orders.csv", params={"encoding": "shift_jis"}, headers=headers)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=Windows-31J"
    assert response.headers["content-disposition"].endswith('-sjis.csv"')
    rows = _rows(response.content, "cp932")
    assert rows[0] == [replacement_note(6)]  # one 🍵 in each of the six rows
    assert rows[1] == list(CSV_HEADER)
    assert [row[7] for row in rows[2:]] == [
        f"{name}{i}@example.jp" for i, name in enumerate(["髙橋", "山﨑", "渡邊"] * 2)
    ]
    assert {row[3] for row in rows[2:]} == {"山﨑村 デジタル住民票 ①?"}
    # The UTF-8 export of the same orders keeps the emoji.
    utf8 = client.get("/api/v1/staff/towns/yamazaki/orders.csv", headers=headers)
    assert {row[3] for row in _rows(utf8.content, "utf-8-sig")[1:]} == {"山﨑村 デジタル住民票 ①🍵"}


def test_export_takes_the_lists_filters_and_only_the_towns_orders(client: TestClient) -> None:
    runtime = runtime_of(client)
    headers = staff_headers(runtime.sessions, "hoshikawa", "editor")
    first = _paid(client, email="tanaka@example.jp")
    _paid(client, email="sato@example.jp")
    unpaid = client.post("/api/v1/orders", json=order_body(email="tanaka.h@example.jp")).json()
    other_town = add_town(runtime.sessions, "otherville")
    bulk_orders(runtime.sessions, add_plain_drop(runtime.sessions, other_town), 3, names=("tanaka",))

    def ids(**params: str) -> list[str]:
        response = client.get(f"{TOWN}/orders.csv", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [row[0] for row in _rows(response.content, "utf-8-sig")[1:]]

    assert ids(email="TANAKA") == [first["order_id"], unpaid["order_id"]]
    assert ids(email="tanaka", status="paid") == [first["order_id"]]
    assert ids(status="expired") == []
    assert len(ids()) == 3


def test_export_refused_to_roles_that_do_not_read_orders(client: TestClient) -> None:
    runtime = runtime_of(client)
    for role in ("moderator", "verifier"):
        response = client.get(f"{TOWN}/orders.csv", headers=staff_headers(runtime.sessions, "hoshikawa", role))
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
    assert client.get(f"{TOWN}/orders.csv").status_code == 401
    bad = client.get(
        f"{TOWN}/orders.csv",
        params={"encoding": "latin-1"},
        headers=staff_headers(runtime.sessions, "hoshikawa", "owner"),
    )
    assert bad.status_code == 422


# ── 100,000 orders in bounded memory ────────────────────────────────────────

ORDERS = 100_000
#: What the export of 100,000 orders may add to a process's peak resident memory. The rows
#: weigh far more: about 15 MB of CSV, and the naive fetch-all below adds over 50 MB.
GROWTH_LIMIT_KIB = 20 * 1024

#: One export in a fresh process, which then reports its peak resident memory: VmHWM, every
#: allocation (the database driver's included, which tracemalloc would not see), and its own
#: (not `wait4`'s ru_maxrss, which keeps the forked parent's size from before the exec).
_EXPORT = """
import sys
from backend.core.csv_export import csv_chunks
from backend.core.db import make_engine, make_session_factory
from backend.sales.order_search import CSV_HEADER, OrderFilters, _export_query, export_rows
url, town, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sessions = make_session_factory(make_engine(url))
lines = 0
with sessions() as session:
    if mode == "fetch-all":
        lines = len(session.execute(_export_query(town, OrderFilters())).all())
    else:
        for chunk in csv_chunks(CSV_HEADER, export_rows(session, town, OrderFilters()), mode):
            lines += chunk.count(b"\\n")  # not "\\r\\n": a chunk may end between the two
status = open("/proc/self/status").read()
peak = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
print(lines, peak)
"""


def _peak_kib(url: str, town_id: int, mode: str) -> tuple[int, int]:
    """(lines, peak resident KiB) of one export (`mode`: an encoding, or "fetch-all")."""
    done = subprocess.run(
        [sys.executable, "-c", _EXPORT, url, str(town_id), mode],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines, peak = done.stdout.split()
    return int(lines), int(peak)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def exporting_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, int, int]:
    """A database with a town of 100,000 orders and one of none: (dialect, url, large, empty)."""
    url = str(request.getfixturevalue("postgres_url")) if request.param == "postgres" else f"sqlite:///{tmp_path}/x.db"
    engine = make_engine(url)
    migrate(engine)
    sessions = make_session_factory(engine)
    large = add_town(sessions, "large")
    bulk_orders(sessions, add_plain_drop(sessions, large, title_ja="髙橋町 デジタル住民票"), ORDERS)
    empty = add_town(sessions, "empty")
    engine.dispose()
    return request.param, url, large, empty


def test_100000_orders_export_within_a_memory_bound(exporting_db: tuple[str, str, int, int]) -> None:
    dialect, url, large, empty = exporting_db
    # The encodings differ in their own buffers, not in how the database is read: both on
    # SQLite, UTF-8 on PostgreSQL (its server-side cursor).
    encodings = ["utf-8", "shift_jis"] if dialect == "sqlite" else ["utf-8"]
    for encoding in encodings:
        base_lines, base_peak = _peak_kib(url, empty, encoding)
        lines, peak = _peak_kib(url, large, encoding)

        extra = 1 if encoding == "utf-8" else 2  # the header (and Shift_JIS's note)
        assert (base_lines, lines) == (extra, ORDERS + extra)
        assert peak - base_peak < GROWTH_LIMIT_KIB, (encoding, base_peak, peak)
    # The measure can tell: reading the same rows at once grows the process by far more.
    rows, naive_peak = _peak_kib(url, large, "fetch-all")
    assert rows == ORDERS
    assert naive_peak - base_peak > 2 * GROWTH_LIMIT_KIB, (base_peak, naive_peak)
