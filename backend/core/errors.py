"""API errors: `{"error": {"code": "...", "message": "..."}}` with the right status.

Handlers here turn `ApiError` and Starlette's HTTP errors (unknown route, wrong method) into
that shape; request validation keeps FastAPI's 422 body (`detail`, which clients already
parse) and adds the same `error` object (`invalid_request`, naming each bad field).
Unexpected exceptions become a 500 with a generic message: the details go to the log, never
to the client (they may contain a database URL or a node's answer).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.core.routing import allowed_methods

log = logging.getLogger("furusato.api")


class ApiError(Exception):
    """An error a client can act on: HTTP status, stable code and a human message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        #: Extra response headers, e.g. `Retry-After` on a 429.
        self.headers = headers


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


#: Starlette's and FastAPI's own refusals. FastAPI answers 400 for a body it cannot decode
#: (not UTF-8); JSON that does not parse is a 422 like any invalid field.
_HTTP_CODES = {
    400: "invalid_body",
    404: "not_found",
    405: "method_not_allowed",
    401: "unauthorized",
    403: "forbidden",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable and machine-readable (`sold_out`, `forbidden`, …): branch on this")
    message: str = Field(description="For people; its wording may change")


class Error(BaseModel):
    """The body of every refusal: `{"error": {"code", "message"}}`."""

    error: ErrorDetail


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description="Where: `body`, `query`, `path` or `header`, then the field")
    msg: str
    type: str


class InvalidRequest(Error):
    """A 422: the `error` of every refusal, plus FastAPI's `detail` (one entry per bad field)
    when the request failed validation (absent when a handler refused a well-formed value)."""

    detail: list[FieldProblem] | None = None


#: What each status means on this API, for the OpenAPI document; a route adds its own codes.
_STATUS_MEANING = {
    400: "The request cannot be acted on as sent",
    401: "`unauthorized`: no session, or an invalid or expired one",
    403: "`forbidden`: not allowed for this session (another town, or a role that may not)",
    404: "Not found (or not yours to see)",
    409: "Conflicts with the current state",
    413: "`payload_too_large`: the body is over the size limit",
    422: "`invalid_request`: a field is missing or invalid (see `detail`)",
    429: "`rate_limited`: too many requests; try again later",
    502: "An upstream service (the chain, the payment provider) failed",
    503: "Temporarily unavailable",
}


def error_responses(*statuses: int, codes: Mapping[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status it may answer besides success, with the `Error`
    body (422: `InvalidRequest`). `codes` names the error codes a status stands for on this
    route (`{409: "sold_out, limit_exceeded"}`), so a client knows what to branch on.

    The OpenAPI contract test (tests/backend/test_openapi_contract.py) fails on any status a
    route answers that is not listed here; see docs/api-conventions.md."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        meaning = _STATUS_MEANING.get(status, "Refused")
        if codes and status in codes:
            meaning = f"{meaning}: {codes[status]}"
        responses[status] = {"model": InvalidRequest if status == 422 else Error, "description": meaning}
    return responses


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(part) for part in error.get('loc', ()) if part != 'body') or 'body'}: {error.get('msg')}"
            for error in exc.errors()
        ]
        # Without the rejected `input`: echoing it back would repeat a 20 MB body or an email,
        # and a lone surrogate or NaN in it cannot be written as JSON (a 500 instead of a 422).
        detail = [{key: value for key, value in error.items() if key != "input"} for error in exc.errors()]
        body = {"detail": jsonable_encoder(detail), **error_body("invalid_request", "; ".join(problems))}
        try:
            text = json.dumps(body, ensure_ascii=True, allow_nan=False, default=str)
        except ValueError:  # a non-finite number left in an error's context
            text = json.dumps(error_body("invalid_request", "; ".join(problems)), ensure_ascii=True)
        return Response(text, status_code=422, media_type="application/json")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:
            # The route that refused names only its own methods; other routes may share its path.
            headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(request.scope))}
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "Something went wrong on our side."), status_code=500)
