"""Which contracts a town's cards and naming rights live in.

A town added with `furusato town add` has its own ResidentCard and NamingRights (its own
collection name, treasury and royalty). The demo town, and any town created before towns
had contracts of their own, uses the deployment's: the manifest's. A town whose contracts
are still being deployed has none yet, and must not fall back to the manifest's (its drops
would land in another town's collection): asking for them is a 409 `town_not_ready`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.errors import ApiError
from backend.towns.models import Municipality
from minting.compiler import CompiledTree, compile_contracts
from minting.deploy import Manifest
from minting.store import OnceTxRow


class TownNotReady(ApiError):
    """The town's own contracts are not deployed and configured yet (`town add` is running,
    or died: running it again finishes it)."""

    def __init__(self, slug: str) -> None:
        super().__init__(
            409,
            "town_not_ready",
            f"The contracts of town {slug!r} are still being deployed: run `furusato town add` again to finish.",
        )


def _ready(town: Municipality) -> None:
    if town.contracts_state != "ready":
        raise TownNotReady(town.slug)


def card_contract_of(town: Municipality, manifest: Manifest) -> str:
    """The checksummed ResidentCard address of `town`: its own, else the manifest's."""
    _ready(town)
    return town.card_contract or manifest.contracts["ResidentCard"].address


def rights_contract_of(town: Municipality, manifest: Manifest) -> str:
    """The checksummed NamingRights address of `town`: its own, else the manifest's."""
    _ready(town)
    return town.rights_contract or manifest.contracts["NamingRights"].address


def deploy_purpose(slug: str, contract: str) -> str:
    """The exactly-once purpose of deploying `contract` ("ResidentCard", "NamingRights") for a town."""
    return f"town:{slug}:{contract}:deploy"


@dataclass(frozen=True)
class TownContracts:
    """One town's own contracts and the block the first was deployed in (the indexer's start)."""

    town_id: int
    slug: str
    addresses: tuple[str, ...]
    start_block: int


def towns_with_own_contracts(session: Session, chain_id: int, default_start: int) -> list[TownContracts]:
    """Every ready town with contracts of its own, with where its history on chain begins
    (its deployment's block; `default_start` if the deployment is not recorded here)."""
    towns = session.scalars(
        select(Municipality)
        .where(Municipality.contracts_state == "ready", Municipality.card_contract.is_not(None))
        .order_by(Municipality.id)
    ).all()
    followed = []
    for town in towns:
        purposes = [deploy_purpose(town.slug, name) for name in ("ResidentCard", "NamingRights")]
        blocks = session.scalars(
            select(OnceTxRow.block_number).where(
                OnceTxRow.chain_id == chain_id,
                OnceTxRow.purpose.like(f"{purposes[0]}%") | OnceTxRow.purpose.like(f"{purposes[1]}%"),
                OnceTxRow.block_number.is_not(None),
            )
        ).all()
        addresses = tuple(address for address in (town.card_contract, town.rights_contract) if address)
        start = min((int(block) for block in blocks if block is not None), default=default_start)
        followed.append(TownContracts(town.id, town.slug, addresses, start))
    return followed


@cache
def contract_tree() -> CompiledTree:
    """The compiled contracts, read once per process: each `compile_contracts()` hashes the
    sources and reads the artifacts again (about 5 ms), and they do not change under a server."""
    return compile_contracts()
