"""Public statistics of a town with small counts suppressed (stub)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
