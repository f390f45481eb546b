"""Bidders: registering for a lot, their own view, the award offers and paying for one."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["naming"])
