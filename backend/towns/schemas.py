"""Towns' request and response models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MunicipalityPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name_ja: str
    name_en: str
    prefecture: str
    description_ja: str
    description_en: str


class MunicipalitiesPage(BaseModel):
    items: list[MunicipalityPublic]
    total: int
    limit: int
    offset: int
