"""A lottery's public record built with the server's algorithm, served as a town would serve it.

`build_lottery` makes the record and the fixed list (`GET /api/v1/drops/{id}/lottery` and
`…/lottery/entries`) from inputs, with `backend/lottery/algorithm.py`; `FakeChain` holds the
blocks around the anchor and answers the JSON-RPC calls the verifier makes; `FakeTown`
serves both over real HTTP on 127.0.0.1 (http.server in a thread), so the verifier script,
the browser module and the benchmark are tested against bytes on a socket, not objects.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from backend.lottery import algorithm

VECTORS_PATH = Path(__file__).with_name("vectors.json")
MINTER = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
CHAIN_ID = 31337
DROP_ID = 7
CLOSE_AT = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
DRAW_AT = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
BLOCK_TIME = 12


def vectors() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(VECTORS_PATH.read_text())
    return loaded


def vector(name: str) -> dict[str, Any]:
    return next(case for case in vectors()["cases"] if case["name"] == name)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fake_hash(*parts: object) -> str:
    """A 0x-prefixed 32-byte hash of labels, for made-up transaction and block hashes."""
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


@dataclass
class Lottery:
    """A drawn lottery: its public record, its fixed list, and the chain it was anchored on."""

    record: dict[str, Any]
    listing: dict[str, Any]
    chain: FakeChain


@dataclass
class FakeChain:
    """Blocks by number; each block a dict as `eth_getBlockByNumber(n, true)` answers it."""

    chain_id: int = CHAIN_ID
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def add_block(self, timestamp: int, transactions: Sequence[dict[str, Any]] = (), block_hash: str = "") -> int:
        number = len(self.blocks)
        block_hash = block_hash or fake_hash("block", number, timestamp)
        txs = []
        for index, tx in enumerate(transactions):
            full = {"nonce": "0x1", "value": "0x0", "to": None, "input": "0x", **tx}
            full.update(blockNumber=hex(number), blockHash=block_hash, transactionIndex=hex(index))
            txs.append(full)
        self.blocks.append(
            {"number": hex(number), "hash": block_hash, "timestamp": hex(timestamp), "transactions": txs}
        )
        return number

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        for block in self.blocks:
            for tx in block["transactions"]:
                if tx["hash"] == tx_hash:
                    return dict(tx)
        return None

    def answer(self, method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "eth_blockNumber":
            return hex(len(self.blocks) - 1)
        if method == "eth_getTransactionByHash":
            return self.transaction(params[0])
        if method == "eth_getTransactionReceipt":
            tx = self.transaction(params[0])
            return None if tx is None else {"transactionHash": tx["hash"], "status": "0x1"}
        if method == "eth_getBlockByNumber":
            number = int(params[0], 16)
            if number >= len(self.blocks):
                return None
            block = copy.deepcopy(self.blocks[number])
            if not params[1]:
                block["transactions"] = [tx["hash"] for tx in block["transactions"]]
            return block
        raise ValueError(f"method {method} not supported by the fake chain")


def build_lottery(
    server_seed: str,
    block_hash: str,
    entries: Iterable[tuple[str, int]],
    supply: int,
    lapses: Sequence[Sequence[str]] = (),
    *,
    chain: FakeChain | None = None,
) -> Lottery:
    """The record of a drawn lottery, as the server publishes it, and its chain.

    The anchor is a 0-value transaction from `MINTER` to itself with the list hash as
    calldata, in a block with `block_hash`, a few blocks after the close; `lapses` are
    each promotion round's lapsed entries.
    """
    fixed = sorted((algorithm.Entry(*e) for e in entries), key=lambda e: e.entry_id)
    result = algorithm.draw(server_seed, block_hash, fixed, supply)
    settlement = algorithm.Settlement(supply, result.winners, result.waitlist, fixed)
    rounds = []
    for n, lapsed in enumerate(lapses, start=1):
        promoted = settlement.apply_round(lapsed)
        rounds.append({"at": iso(DRAW_AT + timedelta(days=n + 1)), "lapsed": list(lapsed), "promoted": pairs(promoted)})

    if chain is None:
        chain = FakeChain()
        close = int(CLOSE_AT.timestamp())
        for n in range(3):  # blocks before the close, one with an unrelated transaction from the minter
            chain.add_block(close - BLOCK_TIME * (3 - n), [mint_tx(n)] if n == 1 else [])
    tx_hash = fake_hash("anchor", result.list_hash, len(chain.blocks))
    anchor_tx = {"hash": tx_hash, "from": MINTER, "to": MINTER, "input": algorithm.anchor_calldata(result.list_hash)}
    block_time = int(CLOSE_AT.timestamp()) + BLOCK_TIME * (len(chain.blocks) + 1)
    chain.add_block(block_time, [mint_tx(99), anchor_tx], block_hash=block_hash)
    anchor_number = len(chain.blocks) - 1
    for n in range(2):  # confirmations
        chain.add_block(block_time + BLOCK_TIME * (n + 1))

    record = {
        "algorithm": algorithm.ALGORITHM,
        "state": "drawn",
        "seed_commitment": algorithm.seed_commitment(server_seed),
        "applications_close_at": iso(CLOSE_AT),
        "draw_at": iso(DRAW_AT),
        "supply": supply,
        "entries_count": len(fixed),
        "list_hash": result.list_hash,
        "anchor": {
            "chain_id": chain.chain_id,
            "from": MINTER,
            "tx_hash": tx_hash,
            "block_number": anchor_number,
            "block_hash": block_hash,
        },
        "server_seed": server_seed,
        "final_seed": result.final_seed,
        "winners": pairs(result.winners),
        "waitlist": list(result.waitlist),
        "promotions": rounds,
    }
    listing = {"list_hash": result.list_hash, "entries": pairs(fixed)}
    return Lottery(record=record, listing=listing, chain=chain)


def mint_tx(n: int) -> dict[str, Any]:
    """An unrelated transaction from the minter (a mint batch to the card contract)."""
    return {"hash": fake_hash("mint", n), "from": MINTER, "to": "0x" + "c0" * 20, "input": "0x40c10f19"}


def pairs(entries: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"entry_id": entry_id, "quantity": quantity} for entry_id, quantity in entries]


def from_vector(case: dict[str, Any]) -> Lottery:
    lapses = [r["lapsed"] for r in case.get("promotions", [])]
    entries = [(e["entry_id"], e["quantity"]) for e in case["entries"]]
    return build_lottery(case["server_seed"], case["block_hash"], entries, case["supply"], lapses)


class FakeTown:
    """`GET /api/v1/drops/{DROP_ID}/lottery[/entries]` and `POST /rpc` on 127.0.0.1.

    `lottery` may be replaced or edited between requests (the tests tamper with it);
    `frozen()` serves pre-encoded bytes instead (the benchmark's million entries).
    Other paths under `static` serve files (the browser test's page and scripts).
    """

    def __init__(self, lottery: Lottery, static: dict[str, tuple[bytes, str]] | None = None) -> None:
        self.lottery = lottery
        self.static = static or {}
        self._frozen: dict[str, bytes] = {}
        town = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                base = f"/api/v1/drops/{DROP_ID}/lottery"
                path = self.path.split("?")[0]
                if path in self._routes():
                    self._send(200, self._routes()[path], "application/json")
                elif path in town.static:
                    body, content_type = town.static[path]
                    self._send(200, body, content_type)
                elif path.startswith(base) or path.startswith("/api/"):
                    self._send(
                        404, b'{"error": {"code": "drop_not_found", "message": "no such drop"}}', "application/json"
                    )
                else:
                    self._send(404, b"not found", "text/plain")

            def _routes(self) -> dict[str, bytes]:
                if town._frozen:
                    return town._frozen
                base = f"/api/v1/drops/{DROP_ID}/lottery"
                return {
                    base: json.dumps(town.lottery.record).encode(),
                    base + "/entries": json.dumps(town.lottery.listing).encode(),
                }

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    answer = {
                        "jsonrpc": "2.0",
                        "id": request["id"],
                        "result": town.lottery.chain.answer(request["method"], request["params"]),
                    }
                except ValueError as exc:
                    answer = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": str(exc)}}
                self._send(200, json.dumps(answer).encode(), "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.rpc_url = self.url + "/rpc"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def freeze(self) -> None:
        base = f"/api/v1/drops/{DROP_ID}/lottery"
        self._frozen = {
            base: json.dumps(self.lottery.record).encode(),
            base + "/entries": json.dumps(self.lottery.listing).encode(),
        }

    def __enter__(self) -> FakeTown:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def serving(lottery: Lottery) -> Iterator[FakeTown]:
    with FakeTown(lottery) as town:
        yield town
