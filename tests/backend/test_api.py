"""The HTTP skeleton through FastAPI's TestClient, on a fresh eth-tester chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from backend.app import create_app
from backend.core.bodylimit import MAX_BODY_BYTES
from backend.core.config import Settings
from backend.core.db import session_scope
from backend.towns.models import Municipality

pytestmark = pytest.mark.chain


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_healthz_reports_chain_block_contracts_and_db(client: TestClient) -> None:
    response = client.get("/healthz")
    body = response.json()
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    assert response.status_code == 200
    assert set(body) == {"status", "chain_id", "block", "contracts", "db"}
    assert body["status"] == "ok"
    assert body["db"] == "ok"
    assert body["chain_id"] == runtime.chain.chain_id
    assert body["block"] == runtime.chain.w3.eth.block_number >= 1
    assert body["contracts"] == runtime.manifest.addresses()
    assert runtime.chain.w3.eth.get_code(body["contracts"]["ResidentCard"])


def test_healthz_answers_head_for_uptime_monitors(client: TestClient) -> None:
    assert client.head("/healthz").status_code == 200


def test_healthz_is_503_when_the_database_is_gone(client: TestClient, tmp_path: Path) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.engine.dispose()
    runtime.engine = create_engine(f"sqlite:///{tmp_path}/missing-dir/furusato.db")

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert response.json()["db"] == "error"
    assert response.json()["chain_id"] == runtime.chain.chain_id


def test_municipalities_lists_the_demo_town(client: TestClient) -> None:
    body = client.get("/api/v1/municipalities").json()
    assert body["total"] == 1
    assert body["items"][0]["slug"] == "hoshikawa"
    assert body["items"][0]["name_ja"] == "星川町"
    assert body["items"][0]["prefecture"] == "06"


def test_municipalities_pages(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with session_scope(runtime.sessions) as session:
        for number in range(3):
            session.add(
                Municipality(
                    slug=f"town-{number}",
                    name_ja=f"町{number}",
                    name_en=f"Town {number}",
                    prefecture="13",
                    description_ja="",
                    description_en="",
                )
            )
    first = client.get("/api/v1/municipalities?limit=2").json()
    second = client.get("/api/v1/municipalities?limit=2&offset=2").json()

    assert first["total"] == second["total"] == 4
    assert [t["slug"] for t in first["items"]] == ["hoshikawa", "town-0"]
    assert [t["slug"] for t in second["items"]] == ["town-1", "town-2"]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "limit=abc"])
def test_bad_paging_is_422(client: TestClient, query: str) -> None:
    assert client.get(f"/api/v1/municipalities?{query}").status_code == 422


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}}


def test_wrong_method_is_a_json_405(client: TestClient) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/api/v1/municipalities"} <= set(paths)


def test_town_page_is_served_in_japanese(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert '<html lang="ja">' in response.text
    assert "デジタル住民票" in response.text
    assert client.get("/js/i18n.js").status_code == 200


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """`body` as an iterator: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_bodies_over_the_cap_are_413_whether_sized_or_chunked(client: TestClient) -> None:
    huge = b'{"email": "' + b"a" * (MAX_BODY_BYTES + 1) + b'@example.jp"}'
    for content in (huge, _chunks(huge)):
        response = client.post("/api/v1/holders/sign-in", content=content, headers={"Content-Type": "application/json"})
        assert (response.status_code, response.json()["error"]["code"]) == (413, "payload_too_large")
    # A chunked body under the cap is read and handed to the endpoint whole.
    small = b'{"email": "chunked@example.jp"}'
    response = client.post(
        "/api/v1/holders/sign-in", content=_chunks(small, 5), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
