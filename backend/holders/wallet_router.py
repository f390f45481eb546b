"""Sign-In with Ethereum (EIP-4361) for holders with their own wallet. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["holders"])
