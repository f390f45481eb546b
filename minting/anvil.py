"""Run the anvil binary from npm as a local, persistent JSON-RPC node.

We start `node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil` itself, not the `.bin`
wrapper, which forks a child we could not stop by pid. The node listens on 127.0.0.1 only,
loads and dumps its state with `--state` (also every `--state-interval` seconds: a node
killed hard loses only what it had not dumped) and runs the Cancun hardfork like eth-tester.

Its pid is written next to the state file; a node left running by a process that was
killed is stopped before a new one is started on the same state, so two nodes never write
one file. Beside it, `anvil.json` names the node's URL and the process that started it:
while that process lives, another one (`furusato town add --data-dir …` beside a running
`furusato run`) connects to the same node instead (`running_node_url`), never starting a
second node or stopping the first.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from minting.compiler import EVM_VERSION, NODE_MODULES
from minting.errors import AnvilNotInstalled, NodeUnreachable

DEV_CHAIN_ID = 31337
#: anvil's (and Hardhat's) well-known development mnemonic; its accounts are pre-funded.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
STATE_FILE = "anvil-state.json"
PID_FILE = "anvil.pid"
LOG_FILE = "anvil.log"
#: {"url", "pid" (the node), "owner" (the process that started it)}, while the node runs.
NODE_FILE = "anvil.json"


def anvil_binary() -> Path:
    """Path of the platform's anvil binary (override: FURUSATO_ANVIL_BINARY)."""
    override = os.environ.get("FURUSATO_ANVIL_BINARY")
    if override:
        path = Path(override)
    else:
        system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), platform.system().lower())
        arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
            platform.machine(), platform.machine()
        )
        path = NODE_MODULES / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise AnvilNotInstalled(str(path))
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) == 0


def _is_our_anvil(pid: int, state_path: Path) -> bool:
    """True if `pid` is an anvil process working on `state_path` (Linux /proc check)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and cmdline[0].endswith(b"anvil") and str(state_path).encode() in cmdline


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def running_node_url(data_dir: Path) -> str | None:
    """The URL of the node a live process started on `data_dir`'s state, or None.

    None when there is no such node, or its starter died (the node is then a stale one that
    `AnvilNode.start` stops before starting afresh)."""
    try:
        entry = json.loads((Path(data_dir) / NODE_FILE).read_text())
        url, pid, owner = str(entry["url"]), int(entry["pid"]), int(entry["owner"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    state = (Path(data_dir) / STATE_FILE).resolve()
    if not (_alive(owner) and _is_our_anvil(pid, state)):
        return None
    return url


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # reap it if it is our own child
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


class AnvilNode:
    """One anvil process on 127.0.0.1 whose state lives in `data_dir`.

    Use as a context manager, or call `start()` and `stop()`.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        chain_id: int = DEV_CHAIN_ID,
        state_interval: int = 1,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = "127.0.0.1"
        self.port = port
        self.chain_id = chain_id
        self.state_interval = state_interval
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def state_path(self) -> Path:
        return (self.data_dir / STATE_FILE).resolve()

    @property
    def pid_path(self) -> Path:
        return self.data_dir / PID_FILE

    @property
    def node_path(self) -> Path:
        return self.data_dir / NODE_FILE

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            str(anvil_binary()),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--hardfork", EVM_VERSION,
            "--state", str(self.state_path),
            "--state-interval", str(self.state_interval),
            *self.extra_args,
        ]  # fmt: skip

    def _stop_stale(self) -> None:
        """Stop a node a killed process left running on our state file."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return
        if _is_our_anvil(pid, self.state_path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not _wait_for_exit(pid, 10):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)

    def start(self, timeout: float = 30.0) -> AnvilNode:
        """Start the node and return once it answers `eth_chainId`."""
        binary_command = self.command() if self.port else None  # checks the binary early
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        if self.port is None:
            self.port = free_port(self.host)
            binary_command = self.command()
        elif _port_in_use(self.host, self.port):
            raise NodeUnreachable(self.url, f"port {self.port} is already in use by another program")
        assert binary_command is not None
        log = (self.data_dir / LOG_FILE).open("ab")
        self.process = subprocess.Popen(
            binary_command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us, and we stop the node after a dump
        )
        log.close()
        self.pid_path.write_text(str(self.process.pid))
        self._wait_ready(timeout)
        entry = {"url": self.url, "pid": self.process.pid, "owner": os.getpid()}
        self.node_path.write_text(json.dumps(entry))
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        payload: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.data_dir / LOG_FILE).read_text(errors="replace").strip().splitlines()[-1:]
                raise NodeUnreachable(self.url, f"anvil exited with code {self.process.returncode}: {' '.join(tail)}")
            try:
                if requests.post(self.url, json=payload, timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise NodeUnreachable(self.url, f"anvil did not answer within {timeout:.0f} s")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the node gracefully (it dumps its state on SIGTERM), by pid."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.pid_path.unlink(missing_ok=True)
        self.node_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """Kill the node hard (SIGKILL), as a crash would; for tests."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
        self.pid_path.unlink(missing_ok=True)
        self.node_path.unlink(missing_ok=True)

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
