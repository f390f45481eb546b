"""`GET /api/v1/municipalities`: the towns on this deployment."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from backend.core.deps import PageDep, SessionDep
from backend.towns.models import Municipality
from backend.towns.schemas import MunicipalitiesPage, MunicipalityPublic

router = APIRouter(prefix="/api/v1", tags=["municipalities"])


@router.get("/municipalities", response_model=MunicipalitiesPage)
def list_municipalities(session: SessionDep, page: PageDep) -> MunicipalitiesPage:
    total = session.scalar(select(func.count()).select_from(Municipality)) or 0
    towns = session.scalars(select(Municipality).order_by(Municipality.id).limit(page.limit).offset(page.offset)).all()
    return MunicipalitiesPage(
        items=[MunicipalityPublic.model_validate(town) for town in towns],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
