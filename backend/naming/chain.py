"""The naming area's way to the chain: the town's NamingRights contract and the admin's
exactly-once sender, and one purpose string per transaction so each is sent once.

Every write of this area (create a lot, relist it, award it, relay a signed proposal,
approve or reject a name) goes through `OnceSender` under a purpose below, so a crash or a
second process never sends one twice; `OnceResumer` finishes what a dead process started.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract

from backend.runtime import Runtime
from backend.towns.contracts import contract_tree
from minting.errors import ChainLayerError
from minting.once import OnceSender

#: How long a request waits for a naming transaction's receipt before answering "pending"
#: (the sender keeps it; the settle loop and `OnceResumer` finish it).
SYNC_WAIT_SECONDS = 20.0


def lot_purpose(lot_id: int, step: str) -> str:
    """e.g. `naming:lot:7:create`, `naming:lot:7:relist:1`, `naming:lot:7:award`."""
    return f"naming:lot:{lot_id}:{step}"


def proposal_purpose(proposal_id: int, step: str) -> str:
    """e.g. `naming:proposal:3:relay`, `naming:proposal:3:approve`, `naming:proposal:3:reject`."""
    return f"naming:proposal:{proposal_id}:{step}"


@dataclass(frozen=True)
class NamingChain:
    """The admin's sender (it holds every role on the towns' NamingRights) and the ABI."""

    sender: OnceSender
    abi: Any

    @property
    def w3(self) -> Web3:
        return self.sender.w3

    def rights(self, contract: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(contract), abi=self.abi)


def naming_chain(runtime: Runtime, timeout: float = SYNC_WAIT_SECONDS) -> NamingChain | None:
    """The admin's naming chain, or None where this process has no admin key (an API given
    only the minter's key): writes then wait for a process that has it."""
    try:
        admin = runtime.admin()
    except ChainLayerError:
        return None
    sender = OnceSender(runtime.sessions, runtime.chain.w3, admin, timeout=timeout)
    return NamingChain(sender, contract_tree()["NamingRights"].abi)
