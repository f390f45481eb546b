"""Staff: polls, their approval, opening and closing. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["polls"])
