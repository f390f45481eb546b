"""`GET /healthz`: is this process able to serve — database, chain and contracts."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backend.core.db import ping
from backend.core.deps import RuntimeDep
from backend.core.schemas import Health

router = APIRouter(tags=["health"])
log = logging.getLogger("furusato.health")


@router.get("/api/v1/ping", include_in_schema=False)
def ping_endpoint() -> dict[str, bool]:
    """Does nothing: the baseline benchmarks compare real endpoints with."""
    return {"ok": True}


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(runtime: RuntimeDep) -> JSONResponse:
    """`status` is `ok` when the database answers and the node reports its chain and block."""
    chain_id: int | None = None
    block: int | None = None
    db = "ok"
    try:
        ping(runtime.engine)
    except Exception:
        log.exception("database health check failed")
        db = "error"
    try:
        chain_id = int(runtime.chain.w3.eth.chain_id)
        block = int(runtime.chain.w3.eth.block_number)
    except Exception:
        log.exception("chain health check failed")
    healthy = db == "ok" and chain_id is not None and block is not None
    body = Health(
        status="ok" if healthy else "error",
        chain_id=chain_id,
        block=block,
        contracts=runtime.manifest.addresses(),
        db=db,
    )
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


# HEAD too: uptime monitors often ask with HEAD, and would otherwise reach the pages' 404.
router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)
