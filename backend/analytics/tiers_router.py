"""Registration tiers: premium candidates for staff, a holder's own tier (stub)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
