"""Shop side: verify a pass, redeem a benefit, the device's own redemptions. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["benefits"])
