"""The OpenAPI document tells the truth: schemathesis runs the whole API against it.

Every operation of `app.openapi()` (so every route a new router adds, staff routes included)
is exercised in-process by schemathesis' engine — the one `st run` drives — through its
phases (examples, coverage, fuzzing, stateful), with these checks:

- `not_a_server_error`: no 5xx for any input, valid or not;
- `status_code_conformance`: every status answered is documented on its operation;
- `content_type_conformance`, `response_schema_conformance`, `response_headers_conformance`:
  bodies and headers are what the document says;
- `positive_data_acceptance`: a request the schema allows is not refused as invalid;
- `negative_data_rejection`: a request the schema forbids is refused (4xx), so every
  constraint the schema states is enforced;
- `unsupported_method`, `allow_header_conformance`: an undocumented method on an API path
  answers 405 with an `Allow` header listing the documented methods;
- `missing_required_header`: a missing required header is refused.

Business outcomes. A schema cannot know which drop ids exist or which order tokens match,
so a valid request may still be refused: 404 (unknown id, or not yours), 409 (the state
forbids it: sold out, not on sale), 401/403 (no or another session), 429 (rate limited).
schemathesis takes those as acceptable answers to valid data by default. The few other
refusals that are business outcomes are listed in `BUSINESS_OUTCOMES` by status and error
code, with why; and a 422 made only of `cross_field` errors (a rule between two fields, such
as `ends_at` after `starts_at`, which JSON Schema cannot state) is one on any operation.
Each is still a documented status of its operation (`status_code_conformance` holds).

Signed in: staff operations as a new owner of the demo town for each request (some end or
demote the session they are called with), holders' `/me…` as one holder; the test fails if
any of them only ever answered 401/403, or if any operation of the document was never called.

Deterministic: a fixed seed, Hypothesis derandomised and without its example database, one
worker, bounded examples per operation: about 45 s of CPU (~3,000 requests), about 70 s on a
busy two-core machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis import AuthContext, BaseSchema, Case, HookContext, Response
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.core.result import Ok
from schemathesis.engine import events, from_schema
from schemathesis.engine.statistic import Statistic
from schemathesis.python import asgi
from web3 import Web3

from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import session_scope
from backend.core.schemas import ADDRESS_FORMAT, CROSS_FIELD
from backend.holders.custody import ensure_holder
from backend.holders.signin import exchange_link, request_link
from backend.runtime import Runtime
from tests.factories import staff_headers

pytestmark = pytest.mark.chain

SEED = 20261201
#: The demo town (seeded by `open_runtime`): staff operations act on it.
TOWN = "hoshikawa"
DEMO_DROP_ID = 1
HOLDER = "holder@example.jp"
MAX_EXAMPLES = 15
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
)

#: A schema-valid request refused for a reason the schema cannot state: (method, path) →
#: {status: error codes}. Beyond these, schemathesis accepts 401, 403, 404, 409 and 429 as
#: answers to valid data (unknown id, not yours, wrong state, rate limited). Each is also a
#: documented status of its operation, so `status_code_conformance` still holds; only the
#: `positive_data_acceptance` failure (ST202) of exactly that status and code is set aside.
BUSINESS_OUTCOMES: dict[tuple[str, str], dict[int, frozenset[str]]] = {
    # A sign-in link's token is a string; whether it was issued, is unused and unexpired only
    # the database knows. 400 `invalid_link` is the contract's answer.
    ("POST", "/api/v1/holders/session"): {400: frozenset({"invalid_link"})},
    # Which payment methods a drop takes, and which this deployment offers (card needs Stripe
    # keys), is data, not schema.
    ("POST", "/api/v1/orders"): {400: frozenset({"payment_method_unavailable"})},
    # Stripe signs its events with the webhook secret: checked against it, not against a schema.
    ("POST", "/api/v1/payments/card/webhook"): {400: frozenset({"invalid_signature"})},
    # An invitation's token: like a sign-in link's, only the database knows it.
    ("POST", "/api/v1/staff/invites/accept"): {400: frozenset({"invite_invalid"})},
    # Whether an address is where the card already is, or holds contract code, is chain state.
    ("POST", "/api/v1/holders/me/cards/{token_id}/move"): {422: frozenset({"invalid_address", "contract_address"})},
    # An unsubscribe token's MAC is checked against the deployment's secret, not a schema.
    ("GET", "/api/v1/mail/unsubscribe"): {400: frozenset({"invalid_token"})},
    ("POST", "/api/v1/mail/unsubscribe"): {400: frozenset({"invalid_token"})},
    # A series by day is capped at 400 days; an open end counts to the town's first or last
    # new resident, which only the rollup knows.
    ("GET", "/api/v1/staff/towns/{slug}/analytics/residents"): {422: frozenset({"too_many_days"})},
    ("GET", "/api/v1/staff/towns/{slug}/analytics/residents.csv"): {422: frozenset({"too_many_days"})},
}
POSITIVE_DATA_REFUSED = "ST202"


def _body(response: Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def is_business_outcome(case: Case[Any], response: Response) -> bool:
    """A refusal of a valid request that the schema could not have foretold (see above)."""
    body = _body(response)
    problems = body.get("detail") or []
    # A rule between fields (backend.core.schemas.cross_field): JSON Schema cannot compare them.
    if response.status_code == 422 and problems and all(p.get("type") == CROSS_FIELD for p in problems):
        return True
    outcomes = BUSINESS_OUTCOMES.get((case.method.upper(), case.operation.path), {})
    return body.get("error", {}).get("code") in outcomes.get(response.status_code, frozenset())


def accept_business_outcomes(schema: BaseSchema) -> None:
    """Set aside the refusals of valid requests `is_business_outcome` names, and no others."""

    def filter_failure(_context: HookContext, failure: Failure, case: Case[Any], response: Response) -> bool:
        return failure.code != POSITIVE_DATA_REFUSED or not is_business_outcome(case, response)

    schema.hook(filter_failure)


def authenticate_staff(schema: BaseSchema, app: FastAPI) -> None:
    """Staff operations get the Bearer header of a new owner of `TOWN`, made for each request.

    A new one each time, because some operations end the session they are called with (sign
    out, sign out everywhere) or change its member (role, removal): a shared session would
    leave the rest of the run at 401/403, where nothing past authentication is tested."""

    class FreshOwner:
        def get(self, _case: Case[Any], _context: AuthContext) -> str:
            runtime: Runtime = app.state.runtime
            return staff_headers(runtime.sessions, TOWN, "owner")["Authorization"]

        def set(self, case: Case[Any], data: str, _context: AuthContext) -> None:
            case.headers["Authorization"] = data

    schema.auth(refresh_interval=None, retry_on=[]).apply_to(path_regex="^/api/v1/staff/")(FreshOwner)


def authenticate_holder(schema: BaseSchema, app: FastAPI) -> None:
    """`/api/v1/holders/me…` get the Bearer header of one holder's session, opened the way the
    sign-in link does it (no holder operation ends a session, so one serves the whole run)."""
    tokens: list[str] = []

    def token() -> str:
        if not tokens:
            runtime: Runtime = app.state.runtime
            now = datetime.now(UTC)
            with session_scope(runtime.sessions) as session:
                ensure_holder(session, runtime.vault, HOLDER)
                issued = request_link(session, HOLDER, runtime.settings.public_url, now)
                assert issued is not None
                opened = exchange_link(session, issued[1].rsplit("#token=", 1)[1], now)
                assert opened is not None
                tokens.append(opened.token)
        return tokens[0]

    class Holder:
        def get(self, _case: Case[Any], _context: AuthContext) -> str:
            return f"Bearer {token()}"

        def set(self, case: Case[Any], data: str, _context: AuthContext) -> None:
            case.headers["Authorization"] = data

    schema.auth(refresh_interval=None, retry_on=[]).apply_to(path_regex="^/api/v1/holders/me")(Holder)


def ethereum_addresses() -> st.SearchStrategy[str]:
    """`format: ethereum-address` (backend.core.schemas): all lower case, or EIP-55, never zero."""
    raw = st.binary(min_size=20, max_size=20).filter(any)
    spelled = st.tuples(raw, st.booleans()).map(
        lambda pair: Web3.to_checksum_address(pair[0]) if pair[1] else "0x" + pair[0].hex()
    )
    return spelled


def config() -> SchemathesisConfig:
    """What `schemathesis.toml` would say, kept here so the test is self-contained."""
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            # Hypothesis' "data generation is too slow" measures this machine's load (the
            # worlds of `make test` run side by side), not the API: the answers are checked.
            "suppress-health-check": ["too_slow"],
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "phases": {"stateful": {"max-steps": 10}},
            # Staff paths name a town: mostly the demo town, so requests reach past the town
            # check (a value forced on every request would undo the negative cases' slugs).
            # Likewise drop ids: often the demo drop, so drop routes get past 404.
            "dictionaries": {"towns": {"values": [TOWN]}, "drops": {"values": [DEMO_DROP_ID]}},
            "parameters": {
                "path.slug": {"dictionary": "towns", "probability": 0.9},
                "path.drop_id": {"dictionary": "drops", "probability": 0.5},
                "body.drop_id": {"dictionary": "drops", "probability": 0.5},
            },
        }
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    """The whole app on a fresh eth-tester chain; schemathesis runs its lifespan."""
    application = create_app(Settings(chain="eth-tester://", data_dir=tmp_path / "data", order_rate_per_minute=0))
    try:
        yield application
    finally:
        asgi.shutdown_lifespans()


@dataclass
class Run:
    statistic: Statistic = field(default_factory=Statistic)
    #: Errors the engine met (an exception out of the app is one: a 500 in production).
    errors: list[str] = field(default_factory=list)
    #: Every status each operation answered, to show what the run reached.
    statuses: dict[str, set[int]] = field(default_factory=dict)


def run(schema: BaseSchema) -> Run:
    """Drive the engine to its end, recording failures, errors and statuses answered."""
    result = Run()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            result.statistic.on_scenario_finished(event.recorder)
            for case_id, interaction in event.recorder.interactions.items():
                if interaction.response is not None and case_id in event.recorder.cases:
                    label = event.recorder.cases[case_id].value.operation.label
                    result.statuses.setdefault(label, set()).add(interaction.response.status_code)
        elif isinstance(event, events.NonFatalError):
            result.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            result.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            result.statistic.record_run_check_failures(event.failures, label="run")
    return result


def describe(statistic: Statistic) -> list[str]:
    """One entry per unique failure: operation, status, schemathesis' code and title, the
    first lines of its explanation, the answer's start and the request as a curl command."""
    entries = []
    for label, groups in sorted(statistic.failures.items()):
        for group in groups.values():
            for failure in group.failures:
                status = group.response.status_code if group.response is not None else "-"
                first = " / ".join(failure.message.strip().splitlines()[:3])
                lines = [f"{label} [{status}] {failure.code} {failure.title}: {first}"]
                if group.response is not None:
                    lines.append(f"    answered: {group.response.text[:300]}")
                if group.code_sample:
                    lines.append(f"    {group.code_sample[:600]}")
                entries.append("\n".join(lines))
    return entries


def test_the_api_answers_as_its_openapi_document_says(app: FastAPI) -> None:
    schemathesis.openapi.format(ADDRESS_FORMAT, ethereum_addresses())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config())
    authenticate_staff(schema, app)
    authenticate_holder(schema, app)
    accept_business_outcomes(schema)
    loaded = list(schema.get_all_operations())
    operations = {result.ok().label for result in loaded if isinstance(result, Ok)}
    assert len(operations) == len(loaded), "operations schemathesis could not read"

    result = run(schema)

    found = [*sorted(set(result.errors)), *describe(result.statistic)]
    assert not found, f"{len(found)} mismatches between the API and its OpenAPI document:\n" + "\n".join(found)
    assert operations - set(result.statuses) == set(), "operations never called"
    # Staff and holder operations were reached signed in, not only refused at the door.
    for label, statuses in result.statuses.items():
        if "/api/v1/staff/towns/" in label or "/api/v1/holders/me" in label:
            assert statuses - {401, 403}, f"{label} answered only {sorted(statuses)}"


# ── what the run above relies on, asked directly ────────────────────────────


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(chain="eth-tester://", data_dir=tmp_path / "data"))) as client:
        yield client


def test_api_paths_are_answered_by_the_api_not_by_the_pages(client: TestClient) -> None:
    unknown = client.get("/api/v1/no-such-thing")
    wrong_method = client.get("/api/v1/orders")
    unsupported = client.request("OPTIONS", "/healthz")

    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert wrong_method.headers["allow"] == "POST"
    assert unsupported.status_code == 405
    assert unsupported.headers["allow"] == "GET, HEAD"
    assert client.get("/").headers["content-type"].startswith("text/html")  # the pages still are


def test_allow_names_every_route_of_the_path(client: TestClient) -> None:
    """GET and POST of one path are two routes; a 405 from either names both."""
    document = client.get("/openapi.json").json()
    shared = {
        re.sub(r"\{[^}]+\}", "1", path): {method.upper() for method in item}
        for path, item in document["paths"].items()
        if len(item) > 1 and "put" not in item
    }
    assert shared, "no path with two methods to ask"
    for path, methods in shared.items():
        response = client.put(path)
        assert response.status_code == 405, path
        assert set(response.headers["allow"].split(", ")) - {"HEAD"} == methods - {"HEAD"}, path


def _is_error_body(document: dict[str, Any], ref: str) -> bool:
    """`ref` names `Error` or `InvalidRequest`, or a body that extends the error detail (a bid
    refusal adds `minimum_bid_jpy`): `{"error": {"code", "message", …}}`."""
    name = ref.rsplit("/", 1)[-1]
    if name in {"Error", "InvalidRequest"}:
        return True
    schemas = document["components"]["schemas"]
    detail_ref = schemas.get(name, {}).get("properties", {}).get("error", {}).get("$ref", "")
    detail = schemas.get(detail_ref.rsplit("/", 1)[-1], {})
    return {"code", "message"} <= set(detail.get("required", []))


def test_every_operation_documents_its_refusals_with_the_error_body(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/healthz":
                    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                    assert _is_error_body(document, schema.get("$ref", "")), (
                        f"{method.upper()} {path} {status}: use error_responses()"
                    )
