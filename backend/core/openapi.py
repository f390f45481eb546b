"""The OpenAPI document, completed with what every route answers but no route declares.

Two answers come from machinery shared by all routes rather than from a handler, so they are
added here once instead of on each route:

- 422: FastAPI documents its validation errors as `HTTPValidationError` (`detail` only), but
  our handler (backend.core.errors) answers `{"detail": [...], "error": {...}}`, and handlers
  raising `ApiError(422, …)` answer `{"error": {...}}` alone: every 422 is `InvalidRequest`.
- 413: `BodySizeLimit` refuses any body over its cap, before a route is reached: every
  operation that takes a body may answer 413 `payload_too_large`.
- 400: FastAPI refuses a body that is not UTF-8 before any validation (`invalid_body`).

Everything else a route may answer it declares itself with `responses=error_responses(...)`
(docs/api-conventions.md); tests/backend/test_openapi_contract.py checks the result.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from backend.core.errors import Error, InvalidRequest, error_responses

_REF = "#/components/schemas/{model}"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _json_body(model: type[Error]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}


def _add_components(document: dict[str, Any]) -> None:
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (Error, InvalidRequest):
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas.setdefault(model.__name__, schema)


def _complete(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "422" in responses:
        responses["422"]["content"] = _json_body(InvalidRequest)
        responses["422"]["description"] = error_responses(422)[422]["description"]
    if "requestBody" not in operation:
        return
    if "413" not in responses:
        responses["413"] = {"description": error_responses(413)[413]["description"], "content": _json_body(Error)}
    undecodable = "`invalid_body`: the body is not UTF-8"
    if "400" not in responses:
        responses["400"] = {"description": undecodable, "content": _json_body(Error)}
    elif undecodable not in responses["400"]["description"]:
        responses["400"]["description"] += f"; {undecodable}"


def _drop_unused(document: dict[str, Any], *names: str) -> None:
    schemas: dict[str, Any] = document["components"]["schemas"]
    for name in names:  # in order: a schema may be referenced only by the one before it
        others = {key: value for key, value in document.items() if key != "components"}
        others["schemas"] = {key: value for key, value in schemas.items() if key != name}
        if name in schemas and _REF.format(model=name) not in json.dumps(others):
            del schemas[name]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with the shared answers above added to every operation (in place)."""
    _add_components(document)
    for path_item in document.get("paths", {}).values():
        for method in _METHODS:
            if method in path_item:
                _complete(path_item[method])
    _drop_unused(document, "HTTPValidationError", "ValidationError")
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (FastAPI builds it once, on first ask)."""
    build = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(build())
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
