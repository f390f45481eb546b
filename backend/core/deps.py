"""Typed dependencies, so route signatures read like prose (`session: SessionDep`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from backend.core.schemas import MAX_ROW_ID
from backend.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """The process's runtime. `async` because it only reads an attribute: a plain `def`
    dependency costs a hop to the thread pool and back on every request."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One session per request, committed by the handler that writes."""
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


class PageParams:
    """`?limit=&offset=` of every list endpoint (limit 1-100, default 20)."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


PageDep = Annotated[PageParams, Depends()]
