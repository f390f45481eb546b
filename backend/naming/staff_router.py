"""Town staff: parks and their lots (naming rights), created on chain once."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["naming"])
