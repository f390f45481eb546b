"""A local stand-in for Stripe's HTTP API and its webhook signatures; tests never reach Stripe.

`FakeStripe` serves `POST /v1/checkout/sessions` and `POST /v1/refunds` on 127.0.0.1 the
way Stripe answers them (form-encoded request with bracketed keys in, JSON out) and remembers
each request, so a test can check what the real library sent. Refunds honour the
Idempotency-Key as Stripe does (the same key answers the same refund, not a second one), and
`refunds` holds each refund created, so a test can assert there was exactly one.

For auction bidders (backend.naming.charge) it also serves `POST /v1/customers`, Checkout
Sessions in `setup` mode (`complete_setup` plays the bidder saving a card: a SetupIntent with
a payment method), `GET /v1/checkout/sessions/{id}` (with `expand[]=setup_intent`), and
off-session `POST /v1/payment_intents`, answered once per Idempotency-Key (a repeat gets the
first answer, a failure included, as Stripe replays it); `charge_failure` makes new charges
fail with a card error (`card_declined`, `authentication_required`), and `payment_intents`
holds every PaymentIntent made.
`signed_event` builds a webhook body and its `Stripe-Signature` header exactly as Stripe
computes them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class SeenRequest:
    """One request the fake answered: path, headers and the decoded form fields."""

    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeStripe:
    """The fake server; `api_key` is the only key it accepts."""

    api_key: str
    requests: list[SeenRequest] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Refunds created, by id (a repeat with the same Idempotency-Key adds none).
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The status new refunds get ("succeeded"; "pending" as for some payment methods).
    refund_status: str = "succeeded"
    #: Called with each new refund before it is answered, e.g. to deliver its webhook first
    #: (Stripe may send `charge.refunded` before the API call returns).
    on_refund: Callable[[dict[str, Any]], None] | None = None
    #: When set, `POST /v1/refunds` answers this (status, error code) instead, creating nothing.
    refund_failure: tuple[int, str] | None = None
    #: Customers, SetupIntents and PaymentIntents made, by id.
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    setup_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: When set, new off-session charges fail with this card error code (and a PaymentIntent
    #: in `requires_payment_method`, as Stripe makes one).
    charge_failure: str | None = None
    #: The first answer (status, body) given to each Idempotency-Key of the endpoints below.
    _answered: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                fake.requests.append(SeenRequest(self.path, dict(self.headers.items()), form))
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._answer(401, _error("invalid_request_error", "Invalid API Key provided: sk_****"))
                elif self.path == "/v1/checkout/sessions":
                    self._answer(200, fake.create_session(form, self.headers.get("Idempotency-Key")))
                elif self.path == "/v1/refunds":
                    self._answer(*fake.create_refund(form, self.headers.get("Idempotency-Key")))
                elif self.path == "/v1/customers":
                    self._answer(*fake.once(self.path, self.headers, lambda: fake.create_customer(form)))
                elif self.path == "/v1/payment_intents":
                    self._answer(*fake.once(self.path, self.headers, lambda: fake.create_payment_intent(form)))
                else:
                    self._answer(404, _error("invalid_request_error", f"Unrecognized request URL ({self.path})"))

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                fake.requests.append(SeenRequest(self.path, dict(self.headers.items()), query))
                segments = parts.path.strip("/").split("/")
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._answer(401, _error("invalid_request_error", "Invalid API Key provided: sk_****"))
                elif segments[:3] == ["v1", "checkout", "sessions"] and len(segments) == 4:
                    self._answer(*fake.read_session(segments[3], set(query.values())))
                elif segments[:2] == ["v1", "payment_intents"] and len(segments) == 3:
                    intent = fake.payment_intents.get(segments[2])
                    if intent is None:
                        self._answer(404, _error("invalid_request_error", "No such payment_intent", "resource_missing"))
                    else:
                        self._answer(200, _public(intent))
                else:
                    self._answer(404, _error("invalid_request_error", f"Unrecognized request URL ({self.path})"))

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(7))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def create_session(self, form: dict[str, str], idempotency_key: str | None) -> dict[str, Any]:
        """A Checkout Session as Stripe returns it; the same idempotency key, the same session."""
        for existing in self.sessions.values():
            if idempotency_key and existing["_idempotency_key"] == idempotency_key:
                return _public(existing)
        total, index = 0, 0
        while f"line_items[{index}][quantity]" in form:
            total += int(form[f"line_items[{index}][quantity]"]) * int(
                form[f"line_items[{index}][price_data][unit_amount]"]
            )
            index += 1
        session_id = "cs_test_" + secrets.token_hex(24)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "amount_subtotal": total,
            "amount_total": total,
            "currency": form.get("currency", form.get("line_items[0][price_data][currency]", "jpy")),
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "metadata": {key[9:-1]: value for key, value in form.items() if key.startswith("metadata[")},
            "payment_intent": None if form.get("mode") == "setup" else "pi_" + secrets.token_hex(12),
            "setup_intent": None,
            "customer": form.get("customer"),
            "success_url": form.get("success_url"),
            "cancel_url": form.get("cancel_url"),
            "expires_at": int(form.get("expires_at", time.time() + 86400)),
            "created": int(time.time()),
            "livemode": False,
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "_idempotency_key": idempotency_key,
        }
        self.sessions[session_id] = session
        return _public(session)

    def create_refund(self, form: dict[str, str], idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
        """A Refund as Stripe answers it (status and body); one per key, one full refund per payment."""
        if self.refund_failure is not None:
            status, code = self.refund_failure
            return status, _error("api_error" if status >= 500 else "invalid_request_error", f"Refused: {code}", code)
        with self._lock:
            for existing in self.refunds.values():
                if idempotency_key and existing["_idempotency_key"] == idempotency_key:
                    return 200, _public(existing)
            intent = form.get("payment_intent")
            session = next((s for s in self.sessions.values() if s["payment_intent"] == intent), None)
            if session is None:
                return 400, _error("invalid_request_error", f"No such payment_intent: '{intent}'", "resource_missing")
            if any(refund["payment_intent"] == intent for refund in self.refunds.values()):
                return 400, _error(
                    "invalid_request_error", "Charge has already been refunded.", "charge_already_refunded"
                )
            refund = {
                "id": "re_" + secrets.token_hex(12),
                "object": "refund",
                "amount": int(form.get("amount", session["amount_total"])),
                "currency": session["currency"],
                "payment_intent": intent,
                "charge": "ch_" + secrets.token_hex(12),
                "reason": form.get("reason"),
                "status": self.refund_status,
                "created": int(time.time()),
                "_idempotency_key": idempotency_key,
            }
            self.refunds[refund["id"]] = refund
        if self.on_refund is not None:
            self.on_refund(_public(refund))
        return 200, _public(refund)

    def once(
        self, path: str, headers: Any, make: Callable[[], tuple[int, dict[str, Any]]]
    ) -> tuple[int, dict[str, Any]]:
        """Stripe's idempotency: the first answer to a key, again for every repeat."""
        key = headers.get("Idempotency-Key")
        with self._lock:
            if key and (path, key) in self._answered:
                return self._answered[(path, key)]
            answer = make()
            if key:
                self._answered[(path, key)] = answer
            return answer

    def create_customer(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        customer: dict[str, Any] = {
            "id": "cus_" + secrets.token_hex(7),
            "object": "customer",
            "email": form.get("email"),
            "metadata": _metadata(form),
            "created": int(time.time()),
            "livemode": False,
        }
        self.customers[customer["id"]] = customer
        return 200, customer

    def complete_setup(self, session_id: str) -> dict[str, Any]:
        """The bidder saves a card on a setup session's page: a SetupIntent with a payment
        method; returns the session as `checkout.session.completed` carries it."""
        with self._lock:
            session = self.sessions[session_id]
            assert session["mode"] == "setup", session["mode"]
            intent: dict[str, Any] = {
                "id": "seti_" + secrets.token_hex(12),
                "object": "setup_intent",
                "status": "succeeded",
                "usage": "off_session",
                "customer": session["customer"],
                "payment_method": "pm_" + secrets.token_hex(12),
                "metadata": dict(session["metadata"]),
                "created": int(time.time()),
                "livemode": False,
            }
            self.setup_intents[intent["id"]] = intent
            session.update(status="complete", setup_intent=intent["id"])
            return _public(session)

    def read_session(self, session_id: str, expand: set[str]) -> tuple[int, dict[str, Any]]:
        session = self.sessions.get(session_id)
        if session is None:
            return 404, _error("invalid_request_error", f"No such checkout.session: '{session_id}'", "resource_missing")
        body = _public(session)
        if "setup_intent" in expand and body.get("setup_intent"):
            body["setup_intent"] = dict(self.setup_intents[body["setup_intent"]])
        return 200, body

    def create_payment_intent(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """An off-session charge of a saved card: succeeded, or a card error (`charge_failure`)."""
        method = form.get("payment_method")
        if form.get("confirm") == "true" and not any(
            s["payment_method"] == method for s in self.setup_intents.values()
        ):
            return 400, _error("invalid_request_error", f"No such PaymentMethod: '{method}'", "resource_missing")
        failure = self.charge_failure
        intent: dict[str, Any] = {
            "id": "pi_" + secrets.token_hex(12),
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "currency": form.get("currency", "jpy"),
            "customer": form.get("customer"),
            "payment_method": None if failure else method,
            "description": form.get("description"),
            "metadata": _metadata(form),
            "status": "requires_payment_method" if failure else "succeeded",
            "created": int(time.time()),
            "livemode": False,
        }
        self.payment_intents[intent["id"]] = intent
        if failure:
            error = _error("card_error", "Your card was declined.", failure)
            error["error"]["payment_intent"] = _public(intent)
            if failure not in ("authentication_required",):
                error["error"]["decline_code"] = failure
            return 402, error
        return 200, _public(intent)

    def charges(self, status: str = "succeeded") -> list[dict[str, Any]]:
        """PaymentIntents made in `status` ("succeeded": the money actually taken)."""
        return [intent for intent in self.payment_intents.values() if intent["status"] == status]

    def refund_requests(self) -> list[SeenRequest]:
        """Every `POST /v1/refunds` the fake received (repeats included)."""
        return [request for request in self.requests if request.path == "/v1/refunds"]

    def session_for(self, order_id: str) -> dict[str, Any]:
        """The session created for an order (as Stripe would hold it)."""
        return next(_public(s) for s in self.sessions.values() if s["client_reference_id"] == order_id)


def _metadata(form: dict[str, str]) -> dict[str, str]:
    return {key[9:-1]: value for key, value in form.items() if key.startswith("metadata[")}


def _public(session: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in session.items() if not key.startswith("_")}


def _error(kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return {"error": error}


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header: `t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<payload>")>`."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """A Stripe event envelope around `obj`."""
    return {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": "2025-01-01",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj},
    }


def signed_event(payload: dict[str, Any], secret: str, timestamp: int | None = None) -> tuple[str, dict[str, str]]:
    """Body and headers of a webhook delivery, serialised the way Stripe sends it."""
    body = json.dumps(payload, indent=2)
    return body, {"Stripe-Signature": sign(body, secret, timestamp), "Content-Type": "application/json"}


def completed(session: dict[str, Any]) -> dict[str, Any]:
    """The session once paid, as `checkout.session.completed` carries it."""
    return {**session, "status": "complete", "payment_status": "paid"}


def refunded_charge(session: dict[str, Any]) -> dict[str, Any]:
    """The fully refunded charge of the session's payment, as `charge.refunded` carries it."""
    return {
        "id": "ch_" + secrets.token_hex(12),
        "object": "charge",
        "amount": session["amount_total"],
        "amount_refunded": session["amount_total"],
        "currency": session["currency"],
        "payment_intent": session["payment_intent"],
        "refunded": True,
        "metadata": {},
        "status": "succeeded",
    }
