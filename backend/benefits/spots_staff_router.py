"""Staff: spots, spot posters, kiosks, check-ins. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["benefits"])
