"""Holders check in at spots: /s/{code} and its API. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["benefits"])
