"""Holders vote; anyone reads a poll, its results and its ballot file. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["polls"])
