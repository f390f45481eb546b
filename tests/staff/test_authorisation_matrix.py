"""The authorisation matrix, generated from the OpenAPI document (not a hand list).

Every operation under `/api/v1/staff/towns/{slug}/` is called as: nobody (→ 401), the owner
of another town (→ 403), and each role of the right town (→ 403 unless `POLICY` allows the
role, else neither 401 nor 403). For every refusal the whole database is compared before and
after (every table, every row: nothing changed, not even a rate counter); every allowed write
that succeeds appends exactly one audit row, and one that is refused for another reason (a 404,
a 409) changes nothing. Reads append no audit row. A route without a `POLICY` entry fails
`test_every_town_route_has_a_policy_entry`, naming it.

Routes other helpers add are picked up automatically. Inputs are built, never the expected
statuses: path ids are made by calling the collection's own POST as an owner (`…/drops` for
`{drop_id}`), or by `PARAM_MAKERS` for ids no staff route creates; request bodies come from the
schema's `examples`, else a minimal valid body generated from the schema, else `BODIES`.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text, update

from backend.app import create_app
from backend.core.config import Settings
from backend.sales.models import Drop
from backend.staff import policy
from backend.staff.models import ROLES
from backend.towns.models import Municipality
from tests.factories import add_town, staff_session

pytestmark = pytest.mark.chain

TOWN_PREFIX = "/api/v1/staff/towns/{slug}/"
TOWN = "hoshikawa"
OTHER_TOWN = "tsukimi"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
METHODS = ("get", "post", "put", "patch", "delete")
#: Columns that legitimately move on any authenticated request (the idle clock).
VOLATILE_COLUMNS = {"staff_sessions": {"last_seen_at"}}
TYPICAL_NUMBER = 10
#: Tables a write that passed authorisation may change even when the handler then refuses it:
#: the member's write counter counts the attempt.
COUNTED_ATTEMPTS = frozenset({"rate_counters"})
#: Bodies the schema cannot express (a rule between fields); inputs only, never statuses.
BODIES: dict[tuple[str, str], dict[str, Any]] = {}


def _openapi() -> dict[str, Any]:
    """The document of an app that is built but not started (no database, no chain)."""
    document: dict[str, Any] = create_app(Settings(chain="eth-tester://", data_dir=Path("unused"))).openapi()
    return document


DOCUMENT = _openapi()


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any] = field(compare=False, hash=False, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


TOWN_OPERATIONS = [
    Operation(method.upper(), path, spec)
    for path, item in DOCUMENT["paths"].items()
    if path.startswith(TOWN_PREFIX)
    for method, spec in item.items()
    if method in METHODS
]


def test_there_are_town_operations_to_check() -> None:
    assert len(TOWN_OPERATIONS) >= 7, [str(op) for op in TOWN_OPERATIONS]


def test_every_town_route_has_a_policy_entry() -> None:
    missing = [str(op) for op in TOWN_OPERATIONS if op.key not in policy.POLICY]
    assert missing == [], "add these routes to backend/staff/policy.py POLICY: " + ", ".join(missing)


def test_policy_names_only_real_routes_and_roles() -> None:
    routes = {op.key for op in TOWN_OPERATIONS}
    keys = [*policy.POLICY, *policy.ALLOWED_IF]
    stale = [key for key in keys if key[1].startswith(TOWN_PREFIX) and key not in routes]
    assert stale == [], f"POLICY entries for routes that do not exist: {stale}"
    for roles in policy.POLICY.values():
        assert roles <= set(ROLES)
    for grants in policy.ALLOWED_IF.values():
        assert set(grants) <= set(ROLES)
        assert all(hasattr(Municipality, flag) for flag in grants.values())


# ── inputs built from the schema ────────────────────────────────────────────


def _deref(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = DOCUMENT["components"]["schemas"][name]
    return schema


_STRING_CANDIDATES = ("matrix", "abc123", "06", "A4", "a", "matrix-1", "0x" + "11" * 20, "1")


class Inputs:
    """Example values for a schema: its own examples first, else a minimal valid value."""

    def __init__(self) -> None:
        self.serial = itertools.count(1)
        self._day = 0

    def body(self, op: Operation) -> Any:
        if op.key in BODIES:
            return self._unique(copy.deepcopy(BODIES[op.key]))
        content = op.spec.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            return None
        self._day = 0
        return self._unique(self.value(content["schema"]))

    def value(self, schema: dict[str, Any]) -> Any:
        schema = _deref(schema)
        for key in ("examples", "example", "default", "const"):
            if key in schema:
                found = schema[key]
                return copy.deepcopy(found[0] if key == "examples" and isinstance(found, list) else found)
        if "enum" in schema:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [branch for branch in schema[key] if _deref(branch).get("type") != "null"]
                return self.value(branches[0]) if branches else None
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.value(part) or {})
            return merged
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            return {name: self.value(properties[name]) for name in schema.get("required", []) if name in properties}
        if kind == "array":
            return [self.value(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
        if kind in ("integer", "number"):
            # A middling number (10 within the bounds): 1 breaks rules between fields (a
            # per-buyer limit of 5 above a supply of 1); ids are made in the path, not here.
            low = schema.get("minimum", schema["exclusiveMinimum"] + 1 if "exclusiveMinimum" in schema else 1)
            high = schema.get("maximum", schema["exclusiveMaximum"] - 1 if "exclusiveMaximum" in schema else 10)
            number = min(max(TYPICAL_NUMBER, low), high)
            return int(number) if kind == "integer" else float(number)
        if kind == "boolean":
            return False
        if kind == "string":
            return self._string(schema)
        return None

    def _string(self, schema: dict[str, Any]) -> str:
        fmt = schema.get("format")
        if fmt == "email":
            return "matrix@town.example"
        if fmt == "date-time":
            self._day += 1  # later fields later: starts_at < ends_at < …
            return (datetime.now(UTC) + timedelta(days=self._day)).isoformat()
        if fmt == "date":
            self._day += 1
            return (datetime.now(UTC) + timedelta(days=self._day)).date().isoformat()
        minimum = schema.get("minLength", 1)
        candidates = [candidate.ljust(minimum, "x") for candidate in _STRING_CANDIDATES]
        pattern = schema.get("pattern")
        for candidate in candidates:
            if pattern is None or re.search(pattern, candidate):
                return candidate[: schema.get("maxLength", len(candidate))]
        return candidates[0]

    def _unique(self, body: Any) -> Any:
        """Addresses and codes made unique per call, so a second create is not a mere duplicate."""
        if not isinstance(body, dict):
            return body
        serial = next(self.serial)
        if isinstance(body.get("email"), str) and "@" in body["email"]:
            local, domain = body["email"].split("@", 1)
            body["email"] = f"{local}+m{serial}@{domain}"
        if isinstance(body.get("code"), str):
            body["code"] = f"{body['code'][:24]}{serial}"
        return body

    def query(self, op: Operation) -> dict[str, Any]:
        return {
            param["name"]: self.value(param.get("schema", {}))
            for param in op.spec.get("parameters", [])
            if param["in"] == "query" and param.get("required")
        }


# ── the world: one app, a principal per case, a snapshot of every table ───


@dataclass
class World:
    app: FastAPI
    client: TestClient
    principals: dict[str, dict[str, str]]
    resolver: dict[str, str]
    inputs: Inputs = field(default_factory=Inputs)

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def snapshot(self) -> dict[str, str]:
        """A digest of every row of every table (volatile columns aside)."""
        digests = {}
        with self.runtime.engine.connect() as connection:
            for table in sorted(inspect(connection).get_table_names()):
                result = connection.execute(text(f'SELECT * FROM "{table}"'))  # noqa: S608 - names from the schema
                skip = VOLATILE_COLUMNS.get(table, set())
                columns = [index for index, name in enumerate(result.keys()) if name not in skip]
                rows = sorted(repr(tuple(row[index] for index in columns)) for row in result)
                digests[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
        return digests

    def audit_count(self) -> int:
        with self.runtime.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM audit_log")).scalar_one())

    def concrete_path(self, op: Operation) -> str:
        """The operation's path with real ids of this town, made fresh for this call."""
        concrete = op.path.replace("{slug}", TOWN)
        template = op.path
        for name in re.findall(r"{(\w+)}", op.path):
            if name == "slug":
                continue
            value = self.make(name, template.split("/{" + name + "}", 1)[0], concrete.split("/{" + name + "}", 1)[0])
            concrete = concrete.replace("{" + name + "}", str(value), 1)
        return concrete

    def make(self, name: str, collection_template: str, collection: str) -> Any:
        """A new object for path parameter `name`: the collection's POST, else a maker."""
        creator = DOCUMENT["paths"].get(collection_template, {}).get("post")
        if creator is not None:
            body = self.body(Operation("POST", collection_template, creator))
            response = self.client.post(collection, json=body, headers=self.resolver)
            if response.status_code < 300:
                made = response.json()
                for key in (name, "id", "code"):
                    if key in made:
                        return made[key]
        if name in PARAM_MAKERS:
            return PARAM_MAKERS[name](self)
        return 2_000_000_000 if name.endswith("_id") else "matrix-unknown"

    def body(self, op: Operation) -> Any:
        """The operation's body, with each `<thing>_id` field naming a real thing of this town
        (made through `…/<thing>s`' POST, or a maker), not a number that names nothing."""
        body = self.inputs.body(op)
        if isinstance(body, dict) and op.key not in BODIES:
            for key in [key for key in body if key.endswith("_id")]:
                collection = f"{TOWN_PREFIX}{key[: -len('_id')]}s"
                body[key] = self.make(key, collection, collection.replace("{slug}", TOWN))
        return body

    def prepare(self, op: Operation) -> dict[str, Any]:
        """Path, query and body of one call, every object they name made beforehand (so the
        snapshot taken after this sees only what the call itself does)."""
        request: dict[str, Any] = {"url": self.concrete_path(op), "params": self.inputs.query(op)}
        body = self.body(op)
        if body is not None:
            request["json"] = body
        return request

    def call(self, op: Operation, request: dict[str, Any], headers: dict[str, str]) -> Any:
        return self.client.request(op.method, headers=headers, **request)

    def set_flag(self, flag: str, value: bool) -> None:
        with self.runtime.sessions() as session:
            session.execute(update(Municipality).where(Municipality.slug == TOWN).values({flag: value}))
            session.commit()


def _new_member_id(world: World) -> int:
    address, _token, _csrf = staff_session(world.runtime.sessions, TOWN, "analyst")
    with world.runtime.engine.connect() as connection:
        found = connection.execute(text("SELECT id FROM staff_members WHERE email = :e"), {"e": address}).scalar_one()
    return int(found)


def _paid_order_id(world: World) -> str:
    """A paid demo order of the town's live drop (orders come from supporters, not staff)."""
    with world.runtime.sessions() as session:
        drop_id = session.scalar(
            select(Drop.id)
            .join(Municipality, Municipality.id == Drop.municipality_id)
            .where(Municipality.slug == TOWN, Drop.status == "live")
            .order_by(Drop.id)
        )
    buyer = f"buyer{next(world.inputs.serial)}@example.jp"  # one each: the per-buyer limit is 5
    body = {"drop_id": drop_id, "quantity": 1, "email": buyer, "prefecture": "13", "payment_method": "demo"}
    made = world.client.post("/api/v1/orders", json=body).json()
    assert "order_id" in made, made
    paid = world.client.post(
        f"/api/v1/orders/{made['order_id']}/demo-pay", headers={"Authorization": f"Bearer {made['order_token']}"}
    )
    assert paid.status_code == 200, paid.text
    return str(made["order_id"])


def _lot_id(world: World) -> int:
    """A lot of a new park of the town, created on chain through the staff API as the owner
    (lots are made under their park, `…/parks/{park_id}/lots`, not a `…/lots` collection)."""
    town = f"/api/v1/staff/towns/{TOWN}"
    park = world.client.post(
        f"{town}/parks", json={"name_ja": "マトリクス公園", "name_en": "Matrix Park"}, headers=world.resolver
    )
    assert park.status_code == 201, park.text
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    body = {
        "auction_start": start.isoformat(),
        "auction_end": (start + timedelta(days=1)).isoformat(),
        "term_start": (start + timedelta(days=2)).isoformat(),
        "term_end": (start + timedelta(days=800)).isoformat(),
        "reserve_jpy": 1_000,
    }
    lot = world.client.post(f"{town}/parks/{park.json()['id']}/lots", json=body, headers=world.resolver)
    assert lot.status_code == 201, lot.text
    return int(lot.json()["id"])


def _device_id(world: World) -> int:
    """A shop phone of a new shop of the town, made through the staff API as the owner
    (devices are made under their shop, `…/shops/{shop_id}/devices`)."""
    town = f"/api/v1/staff/towns/{TOWN}"
    shop = world.client.post(
        f"{town}/shops", json={"name_ja": "マトリクス商店", "name_en": "Matrix"}, headers=world.resolver
    )
    assert shop.status_code == 201, shop.text
    device = world.client.post(f"{town}/shops/{shop.json()['id']}/devices", json={"label": "m"}, headers=world.resolver)
    assert device.status_code == 201, device.text
    return int(device.json()["device_id"])


#: Ids no staff route creates: made directly (inputs only).
PARAM_MAKERS: dict[str, Callable[[World], Any]] = {
    "staff_id": _new_member_id,
    "order_id": _paid_order_id,
    "lot_id": _lot_id,
    "device_id": _device_id,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(
        chain="eth-tester://",
        data_dir=tmp_path_factory.mktemp("matrix") / "data",
        staff_writes_per_minute=1_000_000,  # the matrix writes fast; the limit has its own test
        order_rate_per_minute=0,
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        sessions = app.state.runtime.sessions
        add_town(sessions, OTHER_TOWN)

        def bearer(town: str, role: str) -> dict[str, str]:
            _address, token, _csrf = staff_session(sessions, town, role)
            return {"Authorization": f"Bearer {token}"}

        principals = {"nobody": {}, "owner of another town": bearer(OTHER_TOWN, "owner")}
        principals.update({role: bearer(TOWN, role) for role in ROLES})
        yield World(app, client, principals, resolver=bearer(TOWN, "owner"))


def _error_code(response: Any) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "?"


def _check(world: World, op: Operation, who: str, expect_allowed: bool, problems: list[str]) -> None:
    headers = world.principals[who]
    request = world.prepare(op)
    before, audit_before = world.snapshot(), world.audit_count()
    response = world.call(op, request, headers)
    status, code = response.status_code, _error_code(response)
    label = f"{op} as {who}: {status} {code}"
    if status >= 500:
        problems.append(f"{label} (a 5xx)")
        return
    if who == "nobody" or not expect_allowed:
        wanted = (401, "unauthorized") if who == "nobody" else (403, "forbidden")
        if (status, code) != wanted:
            problems.append(f"{label}, expected {wanted[0]} {wanted[1]}")
        changed = [table for table, digest in world.snapshot().items() if before.get(table) != digest]
        if changed:
            problems.append(f"{label} refused but changed {changed}")
        return
    if status in (401, 403):
        problems.append(f"{label}, but POLICY allows {who}")
        return
    appended = world.audit_count() - audit_before
    if op.method in WRITES and status < 300:
        if appended != 1:
            problems.append(f"{label} appended {appended} audit rows, expected exactly 1")
    elif op.method in WRITES:
        after = world.snapshot()
        changed = [table for table in after if before.get(table) != after[table] and table not in COUNTED_ATTEMPTS]
        if changed:
            problems.append(f"{label} refused but changed {changed}")
    elif appended:
        problems.append(f"{label} (a read) appended {appended} audit rows")


@pytest.mark.parametrize("op", TOWN_OPERATIONS, ids=str)
def test_operation_answers_by_policy_and_refusals_change_nothing(world: World, op: Operation) -> None:
    problems: list[str] = []
    town = Municipality(editors_may_refund=False)
    for who in world.principals:
        allowed = who in ROLES and policy.allowed(op.method, op.path, who, town)
        _check(world, op, who, allowed, problems)
    for role, flag in policy.ALLOWED_IF.get(op.key, {}).items():
        world.set_flag(flag, True)
        try:
            _check(world, op, role, True, problems)
        finally:
            world.set_flag(flag, False)
    assert problems == [], "\n".join(problems)
