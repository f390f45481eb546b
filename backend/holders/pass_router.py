"""The holder's pass: GET /api/v1/holders/me/pass and the published pass keys. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["holders"])
