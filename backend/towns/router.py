"""Towns over HTTP: the public list, and each town's settings for its staff.

    GET   /api/v1/municipalities                    towns on this deployment (public)
    GET   /api/v1/staff/towns/{slug}/settings       owner and editor
    PATCH /api/v1/staff/towns/{slug}/settings       owner; fields not sent stay as they are

A PATCH stores the change and its audit row in one commit, then, for a town with contracts
of its own, puts a changed treasury or royalty on chain (`backend.towns.settings`); the
answer's `on_chain` says what the chain holds by then. A change of the premium rule
(activities or threshold) marks the town for the analytics rollup in the same commit.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from backend.analytics.changes import mark_town
from backend.core import audit
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import error_responses
from backend.runtime import Runtime
from backend.staff.deps import STAFF_RESPONSES, TownStaff
from backend.towns.contracts import contract_tree
from backend.towns.models import Municipality
from backend.towns.schemas import MunicipalitiesPage, MunicipalityPublic, TownSettings, TownSettingsUpdate
from backend.towns.settings import (
    TownChain,
    apply_changes,
    premium_rule_changed,
    read_chain,
    settings_view,
    sync_treasury,
)
from minting.errors import ChainLayerError
from minting.once import OnceSender

router = APIRouter(prefix="/api/v1", tags=["municipalities"])

#: How long a settings save waits for a treasury change to be mined before answering; the
#: stored transaction is finished in the background after that.
SYNC_WAIT_SECONDS = 10.0


@router.get("/municipalities", response_model=MunicipalitiesPage, responses=error_responses(422))
def list_municipalities(session: SessionDep, page: PageDep) -> MunicipalitiesPage:
    total = session.scalar(select(func.count()).select_from(Municipality)) or 0
    towns = session.scalars(select(Municipality).order_by(Municipality.id).limit(page.limit).offset(page.offset)).all()
    return MunicipalitiesPage(
        items=[MunicipalityPublic.model_validate(town) for town in towns],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def _chain(runtime: Runtime) -> TownChain | None:
    """The town contracts' admin on this chain; None when this server has no admin key (an
    API process given only the minter's): settings are then stored, and shown, only."""
    try:
        admin = runtime.admin()
    except ChainLayerError:
        return None
    return TownChain(OnceSender(runtime.sessions, runtime.chain.w3, admin, timeout=SYNC_WAIT_SECONDS), contract_tree())


@router.get("/staff/towns/{slug}/settings", tags=["staff"], response_model=TownSettings, responses={**STAFF_RESPONSES})
def get_settings(ctx: TownStaff, runtime: RuntimeDep) -> TownSettings:
    """The town's settings, and the treasury its own contracts hold on chain."""
    chain = _chain(runtime)
    return settings_view(ctx.town, None if chain is None else read_chain(ctx.town, chain))


@router.patch(
    "/staff/towns/{slug}/settings",
    tags=["staff"],
    response_model=TownSettings,
    responses={**STAFF_RESPONSES, **error_responses(422)},
)
def patch_settings(body: TownSettingsUpdate, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep) -> TownSettings:
    """Change the fields sent. A town with contracts of its own gets a changed treasury and
    royalty on chain too (`on_chain.in_sync` false: still on its way, finished in the background)."""
    town = ctx.town
    before, after = apply_changes(town, body.model_dump(exclude_unset=True))
    if premium_rule_changed(after):
        # In the same transaction: the rollup recomputes every person's designated count
        # after this commit, never before, and never misses it.
        mark_town(session, town.id)
    audit.record(
        session,
        town_id=town.id,
        actor=ctx.actor,
        action="town.settings",
        target_type="town",
        target_id=town.slug,
        before=before,
        after=after,
    )
    session.commit()
    chain = _chain(runtime)
    return settings_view(town, None if chain is None else sync_treasury(session, town, chain))
