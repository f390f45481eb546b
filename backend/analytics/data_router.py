"""People's own data (APPI): download, deletion requests, the staff queue (stub)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
