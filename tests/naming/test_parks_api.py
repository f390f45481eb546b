"""Staff parks over HTTP: who may make and change them, what is kept, what is refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.core.config import Settings
from backend.core.models import AuditEntry
from tests.factories import staff_headers
from tests.naming.lot_world import STAFF, TOWN, app_client, make_park, park_body, runtime_of

pytestmark = pytest.mark.chain

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 30).decode()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("parks") / "data")
    with app_client(settings) as test_client:
        yield test_client


def headers(client: TestClient, role: str) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, TOWN, role)


def audit_rows(client: TestClient, action: str) -> list[AuditEntry]:
    with runtime_of(client).sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_an_editor_adds_a_park_and_everyone_in_the_console_reads_it(client: TestClient) -> None:
    made = make_park(client, headers(client, "editor"), photo_data_url=PNG, name_ja=" 水沢名水公園 ")

    assert made["name_ja"] == "水沢名水公園"  # trimmed when stored
    assert made["photo_data_url"] == PNG
    assert made["latitude"] == 38.56
    assert made["lots"] == []
    for role in ("owner", "analyst", "moderator"):
        read = client.get(f"{STAFF}/parks/{made['id']}", headers=headers(client, role))
        assert read.status_code == 200, (role, read.text)
        assert read.json()["name_en"] == "Mizusawa Meisui Park"
    listed = client.get(f"{STAFF}/parks", headers=headers(client, "analyst")).json()
    item = next(item for item in listed["items"] if item["id"] == made["id"])
    assert item["has_photo"] is True
    assert "photo_data_url" not in item
    audited = [row for row in audit_rows(client, "park.create") if row.target_id == str(made["id"])]
    assert len(audited) == 1
    assert json.loads(audited[0].after)["photo_data_url"] == f"{len(PNG)} characters"  # not the image itself


def test_an_analyst_or_a_moderator_may_not_add_or_change_a_park(client: TestClient) -> None:
    park = make_park(client, headers(client, "editor"))
    for role in ("analyst", "moderator", "verifier"):
        created = client.post(f"{STAFF}/parks", json=park_body(), headers=headers(client, role))
        assert created.status_code == 403, role
        edited = client.patch(f"{STAFF}/parks/{park['id']}", json={"name_en": "X"}, headers=headers(client, role))
        assert edited.status_code == 403, role
    assert client.get(f"{STAFF}/parks/{park['id']}", headers=headers(client, "editor")).json()["name_en"] == (
        "Mizusawa Meisui Park"
    )


def test_a_patch_changes_only_the_fields_sent(client: TestClient) -> None:
    editor = headers(client, "editor")
    park = make_park(client, editor)

    changed = client.patch(
        f"{STAFF}/parks/{park['id']}",
        json={"description_en": "A spring-fed pond.", "photo_data_url": PNG},
        headers=editor,
    )

    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["description_en"] == "A spring-fed pond."
    assert body["photo_data_url"] == PNG
    assert body["name_ja"] == park["name_ja"]
    assert body["description_ja"] == park["description_ja"]
    cleared = client.patch(
        f"{STAFF}/parks/{park['id']}", json={"latitude": None, "longitude": None}, headers=editor
    ).json()
    assert cleared["latitude"] is None
    assert cleared["longitude"] is None
    one_only = client.patch(f"{STAFF}/parks/{park['id']}", json={"latitude": 38.0}, headers=editor)
    assert one_only.status_code == 422
    assert one_only.json()["detail"][0]["type"] == "cross_field"


@pytest.mark.parametrize(
    ("field", "value", "cross_field"),
    [
        ("name_ja", "公" * 22, True),  # 66 bytes: the contract takes 64
        ("name_ja", "   ", False),
        ("name_ja", "公園\n名", False),
        ("photo_data_url", "data:image/gif;base64,R0lGOD==", False),
        ("photo_data_url", "https://example.jp/park.jpg", False),
        ("latitude", 91, False),
    ],
)
def test_a_park_the_contract_or_the_pages_could_not_use_is_refused(
    client: TestClient, field: str, value: Any, cross_field: bool
) -> None:
    response = client.post(f"{STAFF}/parks", json=park_body(**{field: value}), headers=headers(client, "editor"))

    assert response.status_code == 422, response.text
    assert any(problem["loc"][-1] == field for problem in response.json()["detail"])
    assert (response.json()["detail"][0]["type"] == "cross_field") is cross_field


def test_another_towns_park_is_not_found(client: TestClient) -> None:
    from tests.factories import add_town

    add_town(runtime_of(client).sessions, "tsukimi")
    park = make_park(client, headers(client, "editor"))
    other = staff_headers(runtime_of(client).sessions, "tsukimi", "owner")

    response = client.get(f"/api/v1/staff/towns/tsukimi/parks/{park['id']}", headers=other)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "park_not_found"
