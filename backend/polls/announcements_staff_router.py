"""Staff: announcements, their approval and sending. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["polls"])
