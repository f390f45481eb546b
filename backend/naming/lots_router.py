"""The live auction: a lot, its bid stream (SSE), bids and the bid log (issue 10)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["naming"])
