"""`furusato` — the console script behind `make run` and `make test`.

    furusato run        serve pages and API (compiles and deploys on first start)
    furusato compile    compile contracts/ (a no-op when nothing changed)
    furusato deploy     deploy the contracts to a chain and write the manifest
    furusato seed-demo  create the demo town in the database
    furusato analytics rebuild --town SLUG   recompute a town's figures from its records

Every option also reads a `FURUSATO_*` environment variable. Configuration errors end the
process with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from backend.core.config import Settings
from minting.errors import ChainLayerError, CompilationFailed, first_line

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from minting.chains import Chain
    from minting.worker import LoopThread

app = typer.Typer(
    help="Furusato: digital resident cards and park naming rights for Japanese towns.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")

ChainOption = Annotated[
    str | None,
    typer.Option("--chain", envvar="FURUSATO_CHAIN", help="eth-tester://, anvil://[127.0.0.1:PORT] or http(s)://…"),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="FURUSATO_DATA_DIR", help="SQLite file, anvil state, manifest [default: var]"),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", envvar="FURUSATO_DATABASE_URL", help="sqlite:///… or postgresql://…"),
]


def fail(message: str) -> NoReturn:
    """Print one line for the operator and exit non-zero."""
    typer.echo(f"furusato: error: {message}", err=True)
    raise typer.Exit(code=2)


def _first_validation_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    field = ".".join(str(part) for part in error.get("loc", ()))
    return f"{field}: {message}" if field and field not in message else message


def build_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the options given on the command line on top."""
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        fail(_first_validation_message(exc))


def guarded(action: Callable[[], T]) -> T:
    """Run `action`, turning every known start-up failure into one line and exit code 2."""
    from backend.runtime import StartupError

    try:
        return action()
    except CompilationFailed as exc:  # the one multi-line report: every error, file:line first
        for line in exc.errors:
            typer.echo(line, err=True)
        fail(f"compilation failed with {len(exc.errors)} error(s)")
    except (ChainLayerError, StartupError) as exc:
        fail(first_line(exc, limit=None))


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@app.command()
def run(
    chain: ChainOption = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
    host: Annotated[str | None, typer.Option(envvar="FURUSATO_HOST", help="[default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(envvar="FURUSATO_PORT", help="[default: 8000]")] = None,
    demo_mode: Annotated[
        bool | None, typer.Option("--demo/--no-demo", envvar="FURUSATO_DEMO_MODE", help="demo payments [default: on]")
    ] = None,
    demo_lottery: Annotated[
        bool,
        typer.Option(
            "--demo-lottery/--no-demo-lottery",
            envvar="FURUSATO_DEMO_LOTTERY",
            help="seed a lottery drop with its window open in the demo town",
        ),
    ] = True,
) -> None:
    """Serve pages and API; on first start compile, start the chain and deploy."""
    import uvicorn

    from backend.app import create_app
    from backend.runtime import open_runtime, record_deployment

    settings = build_settings(
        chain=chain, data_dir=data_dir, database_url=database_url, host=host, port=port, demo_mode=demo_mode
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if not _port_free(settings.host, settings.port):
        fail(f"port {settings.port} on {settings.host} is in use: choose another with --port (make run PORT=…)")
    started = time.monotonic()
    runtime = guarded(lambda: open_runtime(settings))
    try:
        record_deployment(settings, runtime.chain)  # so `furusato town add --data-dir` finds us
        if settings.demo_mode and settings.seed_demo and demo_lottery:
            from backend.lottery.demo import seed_demo_lottery

            guarded(lambda: seed_demo_lottery(runtime))
        if settings.mint_worker:
            guarded(runtime.start_worker)
        else:
            guarded(runtime.start_naming)
            guarded(runtime.start_holder_posts)
            guarded(runtime.start_analytics)
        manifest = runtime.manifest
        action = "deployed" if runtime.deployed_now else "reusing"
        typer.echo(
            f"Furusato {action} contracts on chain {manifest.chain_id}: "
            + ", ".join(f"{name} {address}" for name, address in manifest.addresses().items())
        )
        typer.echo(f"Ready in {time.monotonic() - started:.1f} s: open {settings.public_url}/  (Ctrl-C to stop)")
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, runtime), host=settings.host, port=settings.port, log_level="warning")
        )
        # uvicorn shuts down gracefully, then re-raises the signal it caught. Make SIGTERM
        # behave like Ctrl-C so both end here, with anvil stopped and a zero exit status.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        typer.echo("Furusato stopped.")
    finally:
        runtime.close()


@app.command()
def worker(
    chain: ChainOption = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
    batch_size: Annotated[
        int | None, typer.Option(envvar="FURUSATO_MINT_BATCH_SIZE", help="cards per mintBatch [default: 100]")
    ] = None,
    confirmations: Annotated[
        int | None, typer.Option(envvar="FURUSATO_MINT_CONFIRMATIONS", help="blocks on top [default: 0]")
    ] = None,
) -> None:
    """Run the mint worker as its own process (scaled-out deployments), with a live line.

    Point it at the same database and node as `furusato run` (e.g. --chain http://127.0.0.1:8545);
    the minter key comes from FURUSATO_MINTER_KEY or FURUSATO_MINTER_KEYSTORE. With the
    deployment's manifest in --data-dir it also runs the indexer and the order sweeper, which
    API processes started with FURUSATO_MINT_WORKER=false leave to it.
    """
    from backend.runtime import build_worker, open_database
    from minting.chains import connect
    from minting.worker import Progress, stop_loops

    settings = build_settings(
        chain=chain,
        data_dir=data_dir,
        database_url=database_url,
        mint_batch_size=batch_size,
        mint_confirmations=confirmations,
    )
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = guarded(lambda: open_database(settings))
    connected = guarded(lambda: connect(settings.chain, settings.data_dir))
    stop = threading.Event()
    interactive = sys.stdout.isatty()

    def show(progress: Progress) -> None:
        typer.echo(("\r" if interactive else "") + progress.line(), nl=not interactive)

    try:
        from backend.core.db import make_session_factory

        sessions = make_session_factory(engine)
        mint_worker = guarded(lambda: build_worker(settings, sessions, connected))
        typer.echo(f"mint worker for {mint_worker.sender.account.address} on chain {mint_worker.sender.chain_id}")
        helpers = _start_helpers(settings, sessions, connected)
        _stop_on_signals(stop)
        try:
            mint_worker.run(stop, on_progress=show)
        except KeyboardInterrupt:
            stop.set()
        stop_loops(helpers)
        typer.echo("\nmint worker stopped.")
    finally:
        connected.close()
        engine.dispose()


def _start_helpers(settings: Settings, sessions: sessionmaker[Session], chain: Chain) -> list[LoopThread]:
    """The indexer and the order sweeper beside a separate mint worker, when the deployment's
    manifest is in the data directory (they need the contracts' addresses)."""
    from backend.runtime import build_indexer
    from backend.sales.sweeper import OrderSweeper
    from minting.deploy import MANIFEST_FILE, Manifest

    path = settings.data_dir / MANIFEST_FILE
    if not path.exists():
        typer.echo(f"no manifest at {path}: indexer and order sweeper not started (pass --data-dir)")
        return []
    manifest = guarded(lambda: Manifest.load(path))
    typer.echo(f"indexer and order sweeper for {', '.join(manifest.addresses().values())}, and the lottery job")
    from backend.lottery.draw import lottery_job
    from backend.runtime import build_card_checkout

    lottery = lottery_job(sessions, chain, settings, card_checkout=build_card_checkout(settings))
    return [
        build_indexer(sessions, chain, manifest).start_thread(),
        OrderSweeper(sessions, chain).start_thread(),
        lottery.start_thread(),
    ]


def _stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C and SIGTERM set `stop`, so the worker finishes its round and exits cleanly.

    Installed explicitly because a shell that starts background jobs ignores SIGINT and Python
    keeps an inherited SIG_IGN. The first signal only sets the event: a KeyboardInterrupt
    raised at an arbitrary bytecode can leave a lock of the connection pool held, and the
    clean-up that follows then waits on it for ever. A second signal interrupts at once.
    """

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


@app.command("compile")
def compile_command(
    force: Annotated[bool, typer.Option("--force", help="recompile even if nothing changed")] = False,
) -> None:
    """Compile contracts/ into build/contracts/ (skipped when sources are unchanged)."""
    from minting.compiler import BUILD_DIR, CONTRACTS_DIR, compile_contracts

    started = time.monotonic()
    tree = guarded(lambda: compile_contracts(CONTRACTS_DIR, BUILD_DIR, force=force))
    state = "up to date" if tree.from_cache else "compiled"
    typer.echo(f"{state}: {', '.join(sorted(tree.artifacts))} in {time.monotonic() - started:.2f} s -> {BUILD_DIR}")


@app.command()
def deploy(chain: ChainOption = None, data_dir: DataDirOption = None) -> None:
    """Deploy the contracts to CHAIN and write DATA_DIR/manifest.json (once per chain)."""
    from minting.chains import connect
    from minting.compiler import compile_contracts
    from minting.deploy import MANIFEST_FILE, ensure_deployed

    settings = build_settings(chain=chain, data_dir=data_dir)
    key = settings.deployer_key.get_secret_value() if settings.deployer_key else None

    def _deploy() -> tuple[Any, bool]:
        with connect(settings.chain, settings.data_dir) as connected:
            return ensure_deployed(
                connected,
                settings.data_dir / MANIFEST_FILE,
                compile_contracts,
                deployer_key=key,
                metadata_base_url=settings.public_url,
            )

    manifest, deployed_now = guarded(_deploy)
    verb = "deployed" if deployed_now else "already deployed"
    for name, address in manifest.addresses().items():
        typer.echo(f"{verb}: {name} at {address} on chain {manifest.chain_id}")


@app.command("seed-demo")
def seed_demo(chain: ChainOption = None, data_dir: DataDirOption = None, database_url: DatabaseOption = None) -> None:
    """Create the demo town (星川町) and its card drop if they are missing (deploys first if needed)."""
    from sqlalchemy import select

    from backend.runtime import open_runtime
    from backend.sales.models import Drop
    from backend.towns.demo import DEMO_TOWN
    from backend.towns.models import Municipality

    settings = build_settings(chain=chain, data_dir=data_dir, database_url=database_url, demo_mode=True, seed_demo=True)
    runtime = guarded(lambda: open_runtime(settings))
    try:
        with runtime.sessions() as session:
            town = session.scalar(select(Municipality).where(Municipality.slug == DEMO_TOWN["slug"]))
            assert town is not None
            drops = session.scalars(select(Drop).where(Drop.municipality_id == town.id)).all()
            typer.echo(f"demo town ready: {town.name_ja} ({town.slug}), drops: {', '.join(d.title_ja for d in drops)}")
    finally:
        runtime.close()


staff_app = typer.Typer(help="Town staff: add members (the operator's way in; others are invited in the console).")
audit_app = typer.Typer(help="The audit log of staff actions.")
app.add_typer(staff_app, name="staff")
app.add_typer(audit_app, name="audit")


@staff_app.command("add")
def staff_add(
    email: Annotated[str, typer.Argument(help="the member's e-mail address (their sign-in)")],
    town: Annotated[str, typer.Option("--town", help="the town's slug, e.g. hoshikawa")],
    role: Annotated[str, typer.Option("--role", help="owner, editor, moderator, analyst or verifier")],
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Give EMAIL a ROLE in a town (e.g. the first owner). Works beside a running deployment:
    same data directory or database, no chain needed. The change is in the audit log."""
    from backend.staff.admin import add_staff_member

    settings = deployment_settings(data_dir, database_url=database_url)
    line = _with_database(settings, lambda sessions: add_staff_member(sessions, email, town, role))
    typer.echo(line)


@audit_app.command("verify")
def audit_verify(data_dir: DataDirOption = None, database_url: DatabaseOption = None) -> None:
    """Recompute the audit log's hash chain: exit 0 if intact, 1 naming the first broken row."""
    from backend.core.audit import verify
    from backend.core.db import session_scope

    settings = deployment_settings(data_dir, database_url=database_url)
    sqlite_path = settings.database_url.split("///", 1)[-1] if settings.database_url.startswith("sqlite") else None
    if sqlite_path is not None and not Path(sqlite_path).exists():
        fail(f"no database at {sqlite_path}: pass the deployment's --data-dir (or --database-url)")

    def _verify(sessions: sessionmaker[Session]) -> Any:
        with session_scope(sessions) as session:
            return verify(session)

    report = _with_database(settings, _verify)
    if report.broken_id is not None:
        typer.echo(f"audit chain BROKEN at row {report.broken_id} (after {report.rows - 1} intact rows)", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"audit chain intact: {report.rows} rows")


def _with_database(settings: Settings, action: Callable[[sessionmaker[Session]], T]) -> T:
    """Open (and migrate) the deployment's database, run `action` with a session factory, close."""
    from backend.core.db import make_session_factory
    from backend.runtime import open_database
    from backend.staff.admin import AdminError

    engine = guarded(lambda: open_database(settings))
    try:
        return action(make_session_factory(engine))
    except AdminError as exc:
        fail(str(exc))
    finally:
        engine.dispose()


analytics_app = typer.Typer(help="Relationship-population figures: recompute a town's from its records.")
app.add_typer(analytics_app, name="analytics")


@analytics_app.command("rebuild")
def analytics_rebuild(
    town: Annotated[str, typer.Option("--town", help="the town's slug, e.g. hoshikawa")],
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Recompute every person of a town from the raw records and replace its figures (the
    repair path; the running rollup keeps them current otherwise). Works beside a running
    deployment: same data directory or database, no chain needed."""
    from sqlalchemy import select

    from backend.analytics.rollup import rebuild
    from backend.towns.models import Municipality

    settings = deployment_settings(data_dir, database_url=database_url)

    def _rebuild(sessions: sessionmaker[Session]) -> tuple[int, float] | None:
        with sessions() as session:
            town_id = session.scalar(select(Municipality.id).where(Municipality.slug == town))
        if town_id is None:
            return None
        started = time.monotonic()
        people = rebuild(sessions, town_id)
        return people, time.monotonic() - started

    done = _with_database(settings, _rebuild)
    if done is None:
        fail(f"no town {town!r} in this deployment's database (see the console's town list)")
    people, seconds = done
    typer.echo(f"analytics of {town} rebuilt: {people:,} people in {seconds:.1f} s")


town_app = typer.Typer(help="Towns on this deployment: add one, with its own contracts.")
app.add_typer(town_app, name="town")


def deployment_settings(data_dir: Path | None, **overrides: Any) -> Settings:
    """Settings of the deployment running on `data_dir`: what `furusato run` recorded there
    (chain, public URL, database), under the environment and the options given."""
    import os

    from backend.runtime import recorded_deployment

    directory = data_dir or Path(os.environ.get("FURUSATO_DATA_DIR", "var"))
    recorded = {
        key: value
        for key, value in recorded_deployment(directory).items()
        if f"FURUSATO_{key.upper()}" not in os.environ
    }
    given = {key: value for key, value in overrides.items() if value is not None}
    return build_settings(**{**recorded, **given, "data_dir": data_dir})


@town_app.command("add")
def town_add(
    slug: Annotated[str, typer.Option("--slug", help="the town's id in URLs, e.g. sakura-town")],
    name_ja: Annotated[str, typer.Option("--name-ja", help="the town's name in Japanese, e.g. 桜町")],
    name_en: Annotated[str, typer.Option("--name-en", help="the town's name in English, e.g. Sakura Town")],
    prefecture: Annotated[str, typer.Option("--prefecture", help="JIS X 0401 code, 01-47 (06: Yamagata)")],
    treasury: Annotated[
        str | None, typer.Option("--treasury", help="0x… address for proceeds and royalties [default: deployer]")
    ] = None,
    royalty_bps: Annotated[int, typer.Option("--royalty-bps", help="ERC-2981 royalty, 0-1000 basis points")] = 500,
    description_ja: Annotated[str, typer.Option("--description-ja")] = "",
    description_en: Annotated[str, typer.Option("--description-en")] = "",
    data_dir: DataDirOption = None,
    chain: ChainOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Add a town and deploy its own ResidentCard and NamingRights, exactly once: killed
    midway, run it again and it finishes without a second deployment. Given the data
    directory of a running `furusato run`, it uses that deployment's database and chain."""
    from backend.towns.registry import NewTown, TownError

    try:
        new = NewTown(
            slug, name_ja, name_en, prefecture, description_ja, description_en, treasury, royalty_bps
        ).validated()
    except TownError as exc:
        fail(str(exc))
    settings = deployment_settings(data_dir, chain=chain, database_url=database_url)
    added = guarded(lambda: _add_town(settings, new))
    verb = "finished adding" if added.resumed else "added"
    typer.echo(
        f"town {added.slug} {verb}: ResidentCard {added.card_contract}, NamingRights {added.rights_contract}, "
        f"treasury {added.treasury} ({len(added.sent)} transactions sent, {added.seconds:.1f} s)"
    )


def _add_town(settings: Settings, new: Any) -> Any:
    """Open the deployment's database and chain (joining its running node), check the
    manifest is this chain's, and add the town (`backend.towns.registry.add_town`)."""
    from backend.core.db import make_session_factory
    from backend.runtime import StartupError, open_database
    from backend.staff.admin import operator
    from backend.towns.registry import Deployer, TownError, add_town
    from minting.chains import connect
    from minting.compiler import compile_contracts
    from minting.deploy import MANIFEST_FILE, Manifest, verify_manifest
    from minting.keys import load_signer
    from minting.once import OnceSender

    manifest_path = settings.data_dir / MANIFEST_FILE
    if not manifest_path.exists():
        raise StartupError(
            f"no deployment in {settings.data_dir} (no {MANIFEST_FILE}): start `furusato run --data-dir "
            f"{settings.data_dir}` once first, or pass the deployment's --data-dir"
        )
    if settings.chain.startswith("eth-tester"):
        raise StartupError("towns need a persistent chain: eth-tester:// lives inside one process")
    engine = open_database(settings)
    try:
        with connect(settings.chain, settings.data_dir) as connected:
            verify_manifest(connected.w3, Manifest.load(manifest_path), manifest_path)
            key = settings.deployer_key.get_secret_value() if settings.deployer_key else None
            admin = load_signer(connected, env_prefix="FURUSATO_DEPLOYER", key=key)
            signer_key = settings.signer_key.get_secret_value() if settings.signer_key else None
            grants = [
                ("MINTER_ROLE", load_signer(connected).address),
                ("SIGNER_ROLE", load_signer(connected, env_prefix="FURUSATO_SIGNER", key=signer_key).address),
            ]
            sessions = make_session_factory(engine)
            deployer = Deployer(
                OnceSender(sessions, connected.w3, admin), compile_contracts, settings.public_url, grants
            )
            try:
                return add_town(sessions, deployer, new, actor=operator())
            except TownError as exc:
                raise StartupError(str(exc)) from exc
    finally:
        engine.dispose()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
