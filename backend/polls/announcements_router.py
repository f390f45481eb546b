"""Holders read announcements; one-click unsubscribe. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["polls"])
