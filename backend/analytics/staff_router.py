"""Town staff: the relationship-population dashboard (stub)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
