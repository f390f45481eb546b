"""Parks in public, the sign, name proposals and their moderation."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["naming"])
