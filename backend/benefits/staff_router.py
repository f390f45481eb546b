"""Staff: shops, verifier devices, benefits, redemptions. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["benefits"])
