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

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("furusato.api")


class ApiError(Exception):
    """An error a client can act on: HTTP status, stable code and a human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)

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
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "Something went wrong on our side."), status_code=500)
