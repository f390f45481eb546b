"""A town's settings: names, description, home prefecture, look, treasury, refund rule,
whether announcements and polls need a moderator's approval before they go out, and the
analytics' own (public statistics' threshold, deletion-request days, premium rule).

Changes are stored with their audit row in one commit. The treasury (and royalty rate) of a
town with contracts of its own is also set on chain, after that commit, by `sync_treasury`:
it compares what the town's ResidentCard and NamingRights hold with what is stored and, while
they differ, sends `setTreasury` through the exactly-once sender under the next purpose
`town:{slug}:treasury:{n}:{contract}` (finishing first any such purpose left unfinished).
Comparing with the chain rather than remembering "a change is due" is what makes it safe to
be cut short anywhere: a crash after the commit leaves the two different, and the next save
(or the background resumer, for a stored transaction) brings them together. A town using
the deployment's contracts (the demo town) has its treasury stored only: those contracts are
the deployment's, not the town's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from web3 import Web3

from backend.analytics.categories import format_activities, parse_activities
from backend.towns.models import Municipality
from backend.towns.schemas import ChainTreasury, TownContractsView, TownSettings
from minting.compiler import CompiledTree
from minting.errors import first_line
from minting.once import OnceSender, OnceSendFailed, call_tx
from minting.store import OnceTxRow

log = logging.getLogger("furusato.towns.settings")

#: Fields staff may change (`TownSettingsUpdate`); the audit row lists those that changed.
EDITABLE = (
    "name_ja",
    "name_en",
    "description_ja",
    "description_en",
    "prefecture",
    "treasury",
    "royalty_receiver",
    "brand_colour",
    "logo_data_url",
    "editors_may_refund",
    "posts_need_approval",
    "stats_threshold",
    "data_request_days",
    "premium_activities",
    "premium_threshold",
)
#: The premium rule: a change makes every person's designated count stale (`premium_rule_changed`).
PREMIUM_RULE = frozenset({"premium_activities", "premium_threshold"})
#: Rounds of "compare, send" before leaving the rest to the next save.
MAX_SYNC_ROUNDS = 3


def apply_changes(town: Municipality, changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Set the changed fields on `town`; (before, after) of those that really changed. The
    logo is audited by its length only: the log keeps who changed it, not 270 KB of base64."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "premium_activities":
            # Stored as the comma list the rollup reads; audited as lists, as staff sent them.
            if list(parse_activities(town.premium_activities)) == list(value):
                continue
            before[name], after[name] = list(parse_activities(town.premium_activities)), list(value)
            town.premium_activities = format_activities(value)
            continue
        if name not in EDITABLE or getattr(town, name) == value:
            continue
        old = getattr(town, name)
        setattr(town, name, value)
        if name == "logo_data_url":
            old, value = f"{len(old)} characters", f"{len(value)} characters"
        before[name], after[name] = old, value
    return before, after


def premium_rule_changed(after: dict[str, Any]) -> bool:
    """Whether a change (`apply_changes`' after) touched the premium rule: then every person
    of the town needs their designated count again (`backend.analytics.changes.mark_town`)."""
    return not PREMIUM_RULE.isdisjoint(after)


@dataclass(frozen=True)
class TownChain:
    """What reading and setting a town's treasury on chain needs."""

    sender: OnceSender
    tree: CompiledTree

    @property
    def admin(self) -> str:
        return self.sender.account.address

    def card(self, town: Municipality) -> Any:
        assert town.card_contract is not None
        return self.sender.w3.eth.contract(
            address=Web3.to_checksum_address(town.card_contract), abi=self.tree["ResidentCard"].abi
        )

    def rights(self, town: Municipality) -> Any:
        assert town.rights_contract is not None
        return self.sender.w3.eth.contract(
            address=Web3.to_checksum_address(town.rights_contract), abi=self.tree["NamingRights"].abi
        )


def has_own_contracts(town: Municipality) -> bool:
    return town.contracts_state == "ready" and town.card_contract is not None and town.rights_contract is not None


def wanted_treasury(town: Municipality, chain: TownChain) -> str:
    """The treasury the town's contracts should hold: the stored one, else the admin's."""
    return Web3.to_checksum_address(town.treasury) if town.treasury else chain.admin


def read_chain(town: Municipality, chain: TownChain) -> ChainTreasury | None:
    """The treasury and royalty on the town's own contracts now; None without own contracts
    or when the node does not answer (the page shows the stored values then)."""
    if not has_own_contracts(town):
        return None
    try:
        card_treasury, bps = chain.card(town).functions.royaltyInfo(1, 10_000).call()
        rights_treasury = chain.rights(town).functions.treasury().call()
    except Exception as exc:  # a node that is down must not break the settings page
        log.warning("cannot read town %s's treasury on chain: %s", town.slug, first_line(exc))
        return None
    wanted = wanted_treasury(town, chain)
    in_sync = card_treasury == wanted and rights_treasury == wanted and int(bps) == town.royalty_bps
    return ChainTreasury(treasury=str(card_treasury), royalty_bps=int(bps), in_sync=in_sync)


def _next_round(session: Session, chain: TownChain, slug: str) -> int:
    prefix = f"town:{slug}:treasury:"
    count = session.scalar(
        select(func.count())
        .select_from(OnceTxRow)
        .where(OnceTxRow.chain_id == chain.sender.chain_id, OnceTxRow.purpose.startswith(prefix, autoescape=True))
    )
    return int(count or 0) // 2 + 1


def sync_treasury(session: Session, town: Municipality, chain: TownChain) -> ChainTreasury | None:
    """Bring the town's contracts to its stored treasury and royalty (module docstring);
    returns what the chain holds afterwards (None: stored only, or the node is down)."""
    if not has_own_contracts(town):
        return None
    sender = chain.sender
    try:
        for purpose in sender.unfinished(f"town:{town.slug}:treasury:"):
            sender.resume(purpose)
        for _ in range(MAX_SYNC_ROUNDS):
            state = read_chain(town, chain)
            if state is None or state.in_sync:
                return state
            round_ = _next_round(session, chain, town.slug)
            wanted = wanted_treasury(town, chain)
            card_tx = call_tx(chain.card(town), "setTreasury", wanted, town.royalty_bps)
            rights_tx = call_tx(chain.rights(town), "setTreasury", wanted)
            for name, tx in (("ResidentCard", card_tx), ("NamingRights", rights_tx)):
                receipt = sender.send(f"town:{town.slug}:treasury:{round_}:{name}", tx)
                if not receipt.ok:
                    log.warning("setTreasury on town %s's %s reverted (tx %s)", town.slug, name, receipt.tx_hash)
                    return read_chain(town, chain)
    except OnceSendFailed as exc:  # stored: the background resumer or the next save finishes it
        log.warning("town %s's treasury change is stored, not yet on chain: %s", town.slug, first_line(exc))
    return read_chain(town, chain)


def settings_view(town: Municipality, on_chain: ChainTreasury | None) -> TownSettings:
    return TownSettings(
        slug=town.slug,
        name_ja=town.name_ja,
        name_en=town.name_en,
        description_ja=town.description_ja,
        description_en=town.description_en,
        prefecture=town.prefecture,
        treasury=town.treasury,
        royalty_receiver=town.royalty_receiver,
        royalty_bps=town.royalty_bps,
        brand_colour=town.brand_colour,
        logo_data_url=town.logo_data_url,
        editors_may_refund=town.editors_may_refund,
        posts_need_approval=town.posts_need_approval,
        stats_threshold=town.stats_threshold,
        data_request_days=town.data_request_days,
        premium_activities=list(parse_activities(town.premium_activities)),  # type: ignore[arg-type]
        premium_threshold=town.premium_threshold,
        contracts=TownContractsView(
            state="ready" if town.contracts_state == "ready" else "deploying",
            own=town.card_contract is not None,
            card_contract=town.card_contract,
            rights_contract=town.rights_contract,
        ),
        on_chain=on_chain,
    )
