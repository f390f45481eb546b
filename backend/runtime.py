"""Everything a running backend holds open: database, chain, deployment manifest.

`open_runtime()` is start-up in one place, in the order that fails fastest: database
(reachable, migrated), chain (connected, or anvil started), contracts (deployed on first
start, else the manifest checked against the node), demo town. Each failure is raised as
an exception with a one-line message; the CLI prints it and exits non-zero.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from backend.core.config import Settings
from backend.core.db import make_engine, make_session_factory, migrate, ping, session_scope
from backend.holders.custody import Vault
from backend.lottery.draw import LotteryJob, lottery_job
from backend.payments.base import HostedCheckout
from backend.sales.drops import card_artifact
from backend.sales.sweeper import OrderSweeper
from backend.towns.contracts import towns_with_own_contracts
from backend.towns.demo import (
    demo_owner_notice,
    demo_shop_notice,
    seed_demo,
    seed_demo_owner,
    seed_demo_park,
    seed_demo_town_side,
)
from minting.chains import Chain, connect
from minting.compiler import compile_contracts
from minting.deploy import MANIFEST_FILE, Manifest, ensure_deployed
from minting.errors import ChainLayerError
from minting.indexer import Followed, IndexerSet
from minting.keys import load_signer
from minting.once import OnceSender
from minting.sender import SenderConfig
from minting.worker import IndexerWorker, LoopThread, MintWorker, OnceResumer, stop_loops

log = logging.getLogger("furusato")


class StartupError(Exception):
    """Start-up cannot proceed; the message is one line for the operator."""


@dataclass
class Runtime:
    """Open resources of one backend process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    chain: Chain
    manifest: Manifest
    deployed_now: bool
    #: Encrypts custodial keys and stored answers, with a key derived from FURUSATO_SECRET_KEY.
    vault: Vault
    #: Signs wallet buyers' vouchers (holds the card contract's SIGNER_ROLE).
    voucher_signer: LocalAccount
    #: The `card` provider, when configured (FURUSATO_CARD_API_KEY).
    card_checkout: HostedCheckout | None = None
    threads: list[LoopThread] = field(default_factory=list)

    @property
    def card_contract(self) -> str:
        return self.manifest.contracts["ResidentCard"].address

    def admin(self) -> LocalAccount:
        """The contracts' admin key (the deployer's): it deploys towns' contracts and adds
        series, through the exactly-once sender."""
        key = self.settings.deployer_key.get_secret_value() if self.settings.deployer_key else None
        return load_signer(self.chain, env_prefix="FURUSATO_DEPLOYER", key=key)

    def payment_methods(self, offered: str) -> list[str]:
        """The drop's methods (comma-separated) that this deployment can take right now:
        demo only in demo mode, card only with a provider configured."""
        available = {"demo": self.settings.demo_mode, "card": self.card_checkout is not None, "wallet": True}
        return [method for method in offered.split(",") if available.get(method, False)]

    def start_worker(self) -> None:
        """Run the mint worker and the indexer in threads of this process (the embedded default)."""
        if not self.threads:
            self.threads.append(build_worker(self.settings, self.sessions, self.chain).start_thread())
            self.threads.append(build_indexer(self.sessions, self.chain, self.manifest).start_thread())
            self.threads.append(OrderSweeper(self.sessions, self.chain).start_thread())
            self.threads.append(self.lottery_job().start_thread())
            self.start_naming()
            self.start_holder_posts()
            self.start_analytics()
            try:
                admin = self.admin()
            except ChainLayerError:  # no admin key here (a production API with the minter's only)
                log.info("no deployer key: unfinished admin transactions are resumed where it is configured")
            else:
                self.threads.append(OnceResumer(OnceSender(self.sessions, self.chain.w3, admin)).start_thread())

    def start_naming(self) -> None:
        """The naming area's loops (settle auctions, award; reconcile names, term notices).
        Safe in every process at once (conditional updates, the exactly-once sender), so an
        API process without the mint worker (`FURUSATO_MINT_WORKER=0`, the busy-launch setup
        with `furusato worker` apart) runs them too: that worker has no runtime of its own."""
        from backend.naming.names import NamingWatcher  # here: backend.naming imports this module
        from backend.naming.settle import LotSettler

        self.threads.append(LotSettler(self).start_thread())
        self.threads.append(NamingWatcher(self).start_thread())

    def start_holder_posts(self) -> None:
        """The polls area's loops: send announcements that are due (exactly once per holder)
        and open and close polls on time (the electorate frozen at the opening). Safe in every
        process at once (conditional updates, unique keys), so API processes without the mint
        worker run them too, like the naming loops."""
        from backend.polls.clock import PollClock  # here: backend.polls imports this module
        from backend.polls.sender import AnnouncementSender

        self.threads.append(AnnouncementSender(self).start_thread())
        self.threads.append(PollClock(self).start_thread())

    def start_analytics(self) -> None:
        """The analytics rollup loop: applies marked changes and new card transfers to the
        figures about once a second. Safe in every process at once (its batches take the
        rollup lock), so API processes without the mint worker run it too, like the polls'
        loops: figures stay current whichever process took the write."""
        from backend.analytics.rollup import AnalyticsRollup  # imported when started, like the other loops

        self.threads.append(AnalyticsRollup(self.sessions).start_thread())

    def lottery_job(self) -> LotteryJob:
        """The lottery job of this process (close, anchor, draw, orders, promotions, mail)."""
        return lottery_job(
            self.sessions,
            self.chain,
            self.settings,
            vault=self.vault,
            card_checkout=self.card_checkout,
            voucher_signer=self.voucher_signer,
        )

    def close(self) -> None:
        """Stop the threads and the node we started, release connections; safe to call twice."""
        stop_loops(self.threads)
        self.threads.clear()
        self.chain.close()
        self.engine.dispose()


#: What CLI commands given a data directory need to find the deployment running on it.
DEPLOYMENT_FILE = "deployment.json"


def record_deployment(settings: Settings, chain: Chain) -> None:
    """Write `<data_dir>/deployment.json` at start-up: the chain URL, public URL and database
    URL this deployment runs with, so `furusato town add --data-dir DIR` (and the other
    commands) work against it with no other option. An anvil node is joined through its own
    `anvil.json` (`minting.anvil.running_node_url`). A database URL with a password is not
    written (the commands then need FURUSATO_DATABASE_URL, as the server did). eth-tester
    chains live in one process: nothing to record."""
    if chain.kind == "eth-tester":
        return
    database = make_url(settings.database_url)
    entry = {
        "chain": settings.chain,
        "public_url": settings.public_url,
        "database_url": None if database.password else settings.database_url,
    }
    path = settings.data_dir / DEPLOYMENT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entry, indent=2))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def recorded_deployment(data_dir: Path) -> dict[str, str]:
    """The settings `record_deployment` wrote in `data_dir` (empty if none): chain,
    public_url and database_url, each only when recorded."""
    try:
        entry = json.loads((data_dir / DEPLOYMENT_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(entry, dict):
        return {}
    return {key: str(value) for key, value in entry.items() if key in ("chain", "public_url", "database_url") and value}


def _database_reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def open_database(settings: Settings) -> Engine:
    """Connect and migrate; raise `StartupError` with the database's own reason."""
    try:
        engine = make_engine(settings.database_url)
        ping(engine)
        migrate(engine)
    except SQLAlchemyError as exc:
        raise StartupError(f"cannot open database: {_database_reason(exc)}") from exc
    except OSError as exc:
        raise StartupError(f"cannot open database: {exc}") from exc
    return engine


def build_worker(settings: Settings, sessions: sessionmaker[Session], chain: Chain) -> MintWorker:
    """A mint worker for the configured minter key (dev chains: the deployer's account)."""
    config = SenderConfig(
        batch_size=settings.mint_batch_size,
        confirmations=settings.mint_confirmations,
        max_fee_per_gas=int(settings.mint_max_fee_gwei * 10**9) if settings.mint_max_fee_gwei else None,
    )
    return MintWorker(sessions, chain.w3, load_signer(chain), card_artifact().abi, config)


def build_indexer(sessions: sessionmaker[Session], chain: Chain, manifest: Manifest) -> IndexerWorker:
    """An indexer following Transfer events of every deployed contract (cards and rights):
    the manifest's, and each town's own (re-read from the database every round, so a town
    added by `furusato town add` while the server runs is followed from its deployment)."""
    contracts = manifest.contracts.values()
    deployment = Followed(
        name=f"transfers-{manifest.chain_id}",
        contracts=tuple(contract.address for contract in contracts),
        start_block=min(contract.block_number for contract in contracts),
    )

    def groups() -> list[Followed]:
        with sessions() as session:
            towns = towns_with_own_contracts(session, manifest.chain_id, deployment.start_block)
        return [
            deployment,
            *(Followed(f"transfers-{manifest.chain_id}-town-{t.town_id}", t.addresses, t.start_block) for t in towns),
        ]

    return IndexerWorker(IndexerSet(sessions, chain.w3, card_artifact().abi, groups))


def build_card_checkout(settings: Settings) -> HostedCheckout | None:
    """The `card` provider (Stripe Checkout) when an API key is configured, else None."""
    if settings.card_api_key is None:
        return None
    from backend.payments.card import StripeCheckout

    return StripeCheckout(settings)


def open_runtime(settings: Settings) -> Runtime:
    """Start-up: database, chain, contracts, demo town (see module docstring)."""
    engine = open_database(settings)
    try:
        chain = connect(settings.chain, settings.data_dir)
    except BaseException:
        engine.dispose()
        raise
    try:
        # eth-tester chains are new on every start, so their manifest is never kept.
        manifest_path = None if chain.kind == "eth-tester" else settings.data_dir / MANIFEST_FILE
        deployer_key = settings.deployer_key.get_secret_value() if settings.deployer_key else None
        manifest, deployed_now = ensure_deployed(
            chain,
            manifest_path,
            compile_contracts,
            deployer_key=deployer_key,
            metadata_base_url=settings.public_url,
        )
        if deployed_now:
            log.info("deployed %s on chain %s", manifest.addresses(), manifest.chain_id)
        sessions = make_session_factory(engine)
        card_contract = manifest.contracts["ResidentCard"].address
        if settings.demo_mode and settings.seed_demo:
            admin = load_signer(chain, env_prefix="FURUSATO_DEPLOYER", key=deployer_key)
            with session_scope(sessions) as session:
                town, _drop = seed_demo(session, chain, card_contract, admin, settings.demo_supply)
                owner = seed_demo_owner(session, town)
                link_file = seed_demo_town_side(session, town, owner, settings)
            seed_demo_park(sessions, chain, manifest, admin)  # its own transactions: it sends on chain
            print(demo_owner_notice(settings), flush=True)
            print(demo_shop_notice(settings, link_file), flush=True)
        signer_key = settings.signer_key.get_secret_value() if settings.signer_key else None
        runtime = Runtime(
            settings,
            engine,
            sessions,
            chain,
            manifest,
            deployed_now,
            vault=Vault.from_secret(settings.secret_key.get_secret_value()),
            voucher_signer=load_signer(chain, env_prefix="FURUSATO_SIGNER", key=signer_key),
            card_checkout=build_card_checkout(settings),
        )
    except BaseException:
        chain.close()
        engine.dispose()
        raise
    return runtime
