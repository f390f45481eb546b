#!/usr/bin/env python3
"""Re-check a Furusato lottery draw (algorithm furusato-lottery-1) without trusting the town.

    python3 verify_lottery.py BASE_URL DROP_ID [--rpc URL] [--entry ENTRY_ID] [--commitment HEX]

    python3 scripts/verify_lottery.py http://127.0.0.1:8000 2 --rpc http://127.0.0.1:8545

This file is the whole verifier: a plain Python 3.11+ and its standard library (urllib,
json, hashlib, hmac), nothing to install. It deliberately does NOT import Furusato's own
code (``backend/lottery/algorithm.py``): it is a second, independent implementation of the
published text (``docs/lottery.md``), so that a mistake or a dishonest change in the
server's code cannot also hide in the check. Copy it anywhere and run it.

It fetches ``GET {BASE_URL}/api/v1/drops/{DROP_ID}/lottery`` (the public record) and
``…/lottery/entries`` (the fixed list), then checks, in order, printing ``✓`` per check:

1. the algorithm's name and the formats of every hash, seed and id;
2. the list: well formed, as many entries as the record says, and its hash;
3. with ``--rpc``, the anchor on the chain: the transaction is a 0-value transaction from
   the record's ``from`` to itself whose input is ``0x`` + list_hash, in the block the record
   names, and that block is the chain's block at that height; no earlier transaction from
   that address carries the same list hash (blocks back to the applications' close, at most
   ``--scan-blocks``). Without ``--rpc`` the block hash is taken on trust and the output
   says so loudly;
4. the server seed against the commitment published with the drop (and against
   ``--commitment`` if you wrote it down then);
5. the final seed, the ranking, the winners, the waitlist, and every promotion round.

The first difference stops it with ``✗ <what>: <how it differs>``. Exit status: 0 every
check passed, 1 a difference (or an unreachable server or chain), 2 the lottery is not
drawn yet (what could be checked so far is printed).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import json
import re
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

ALGORITHM = "furusato-lottery-1"
HEX64 = re.compile(r"[0-9a-f]{64}")
HEX32 = re.compile(r"[0-9a-f]{32}")
RPC_HASH = re.compile(r"0x[0-9a-f]{64}")
RPC_ADDRESS = re.compile(r"0x[0-9a-f]{40}")
ANCHOR_SHAPED = re.compile(r"0x[0-9a-f]{64}")
DELETE_HEX = str.maketrans("", "", "0123456789abcdef")
DRAWN = ("drawn", "settled")


class Difference(Exception):
    """A check failed: ``what`` names the field or step, the message says how."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        self.what = what


class NotDrawn(Exception):
    """The record is from before the draw: nothing more to check yet."""


class Verifier:
    """The checks, in order, writing ``✓``/``⚠`` lines to ``out``."""

    def __init__(self, out: Any = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.warnings: list[str] = []

    def ok(self, text: str) -> None:
        print(f"✓ {text}", file=self.out, flush=True)

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        print(f"⚠ {text}", file=self.out, flush=True)

    # -- the record and the list ---------------------------------------------------------

    def check_record(self, record: dict[str, Any], commitment: str | None) -> None:
        if record.get("algorithm") != ALGORITHM:
            raise Difference(
                "algorithm", f"the record says {record.get('algorithm')!r}; this verifier knows {ALGORITHM}"
            )
        self.ok(f"algorithm {ALGORITHM}")
        hex64(record, "seed_commitment")
        if commitment is not None and record["seed_commitment"] != commitment.lower():
            raise Difference(
                "seed_commitment",
                f"the record says {record['seed_commitment']}, you noted {commitment.lower()} at the announcement",
            )
        supply = record.get("supply")
        if type(supply) is not int or supply < 0:
            raise Difference("supply", f"not a whole number ≥ 0: {supply!r}")
        self.ok(f"seed commitment {record['seed_commitment']}, supply {supply}, state {record.get('state')!r}")

    def check_list(self, record: dict[str, Any], listing: dict[str, Any]) -> dict[str, int]:
        """The entries as ``{entry_id: quantity}``, after checking them and their hash."""
        entries = listing.get("entries")
        if not isinstance(entries, list):
            raise Difference("entries", "the list endpoint has no 'entries' array")
        quantities = well_formed(entries)
        if record.get("entries_count") != len(quantities):
            raise Difference(
                "entries_count", f"the record says {record.get('entries_count')!r}, the list has {len(quantities)}"
            )
        self.ok(f"{len(quantities)} entries, well formed, as many as the record's entries_count")

        lines = sorted(f"{entry_id}:{quantity}" for entry_id, quantity in quantities.items())
        computed = hashlib.sha256(("\n".join(lines) + "\n").encode("ascii")).hexdigest()
        claimed = hex64(record, "list_hash")
        if listing.get("list_hash") != claimed:
            raise Difference(
                "list_hash", f"the list endpoint says {listing.get('list_hash')!r}, the record says {claimed}"
            )
        if computed != claimed:
            raise Difference("list_hash", f"the entries hash to {computed}, the record says {claimed}")
        self.ok(f"list hash {computed} (the entries' lines, sorted, hashed)")
        return quantities

    def check_anchor_format(self, record: dict[str, Any]) -> dict[str, Any]:
        anchor = record.get("anchor")
        if not isinstance(anchor, dict):
            raise Difference("anchor", "the record has no anchor")
        if type(anchor.get("chain_id")) is not int:
            raise Difference("anchor.chain_id", f"not a number: {anchor.get('chain_id')!r}")
        if type(anchor.get("block_number")) is not int or anchor["block_number"] < 0:
            raise Difference("anchor.block_number", f"not a block number: {anchor.get('block_number')!r}")
        for field, pattern in (("from", RPC_ADDRESS), ("tx_hash", RPC_HASH), ("block_hash", RPC_HASH)):
            value = anchor.get(field)
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise Difference(f"anchor.{field}", f"not 0x and lower-case hex as JSON-RPC writes it: {value!r}")
        return anchor

    # -- the chain --------------------------------------------------------------------------

    def check_chain(self, rpc: Rpc, record: dict[str, Any], anchor: dict[str, Any], scan_blocks: int) -> None:
        list_hash = record["list_hash"]
        sender = anchor["from"]
        chain_id = int(rpc.call("eth_chainId"), 16)
        if chain_id != anchor["chain_id"]:
            raise Difference(
                "anchor.chain_id", f"the node at --rpc is chain {chain_id}, the record says {anchor['chain_id']}"
            )
        tx = rpc.call("eth_getTransactionByHash", anchor["tx_hash"])
        if tx is None:
            raise Difference("anchor.tx_hash", f"the chain has no transaction {anchor['tx_hash']}")
        expected = {
            "from": sender,
            "to": sender,
            "input": "0x" + list_hash,
            "blockNumber": hex(anchor["block_number"]),
            "blockHash": anchor["block_hash"],
        }
        for field, value in expected.items():
            got = tx.get(field) if field != "input" else tx.get("input", tx.get("data"))
            got = got.lower() if isinstance(got, str) else got
            if got != value:
                what = {"blockNumber": "anchor.block_number", "blockHash": "anchor.block_hash"}.get(field, "anchor")
                raise Difference(what, f"the anchor transaction's {field} is {got!r}, expected {value!r}")
        if int(tx.get("value", "0x0"), 16) != 0:
            raise Difference("anchor", f"the anchor transaction carries value {int(tx['value'], 16)}")
        receipt = rpc.call("eth_getTransactionReceipt", anchor["tx_hash"])
        if receipt is None or receipt.get("status") != "0x1":
            raise Difference("anchor", f"the anchor transaction did not succeed: {receipt and receipt.get('status')!r}")
        block = rpc.call("eth_getBlockByNumber", hex(anchor["block_number"]), False)
        if block is None:
            raise Difference("anchor.block_number", f"the chain has no block {anchor['block_number']}")
        if block["hash"] != anchor["block_hash"]:
            raise Difference(
                "anchor.block_hash",
                f"the chain's block {anchor['block_number']} is {block['hash']}, "
                f"the record says {anchor['block_hash']}",
            )
        if anchor["tx_hash"] not in [h.lower() for h in block.get("transactions", [])]:
            raise Difference("anchor.block_hash", f"block {anchor['block_number']} does not include the anchor")
        head = int(rpc.call("eth_blockNumber"), 16)
        self.ok(
            f"anchor on chain {chain_id}: tx {anchor['tx_hash']} from {sender} to itself, input 0x{list_hash[:12]}…, "
            f"block {anchor['block_number']} {anchor['block_hash']} ({head - anchor['block_number'] + 1} confirmations)"
        )
        if int(tx.get("nonce", "0x1"), 16) == 0:
            self.warn(f"the anchor is the first transaction {sender} ever sent: check it is the town's minter")

        close_at = parse_time(record.get("applications_close_at"))
        block_time = int(block["timestamp"], 16)
        if close_at is not None and block_time < close_at:
            self.warn(
                f"the anchor block's time {iso(block_time)} is before applications_close_at "
                f"{record['applications_close_at']} (the chain's clock, or a list fixed early)"
            )
        self.check_first_anchor(rpc, anchor, "0x" + list_hash, close_at, scan_blocks)

    def check_first_anchor(
        self, rpc: Rpc, anchor: dict[str, Any], calldata: str, close_at: float | None, scan_blocks: int
    ) -> None:
        """No earlier transaction from the sender to itself with the same calldata.

        Walks back from the anchor until a block older than the close (no final list existed
        to anchor before it) or ``scan_blocks`` blocks. Anchoring the list several times and
        keeping the best block hash shows here as an earlier anchor (a failure). An earlier
        self-transaction with *other* 32-byte calldata is anchor-shaped too: another lottery's
        anchor, or a list that was anchored and not published (a town trying several lists);
        the verifier cannot tell which, so it names it as a warning to look at.
        """
        sender = anchor["from"]
        number = anchor["block_number"]
        scanned = 0
        others: list[str] = []
        while number >= 0 and scanned < scan_blocks:
            block = rpc.call("eth_getBlockByNumber", hex(number), True)
            if block is None:
                raise Difference("anchor", f"the chain has no block {number}")
            if close_at is not None and int(block["timestamp"], 16) < close_at and number != anchor["block_number"]:
                break
            for tx in block.get("transactions", []):
                tx_hash = tx["hash"].lower()
                if number == anchor["block_number"] and tx_hash == anchor["tx_hash"]:
                    break  # later transactions in the anchor's own block come after it
                data = (tx.get("input", tx.get("data")) or "").lower()
                to_self = (tx.get("from") or "").lower() == sender and (tx.get("to") or "").lower() == sender
                if to_self and data == calldata:
                    raise Difference(
                        "anchor",
                        f"{tx['hash']} in block {number} anchored the same list too: the list was anchored more "
                        "than once, and a draw could have kept the block hash it liked",
                    )
                if to_self and ANCHOR_SHAPED.fullmatch(data):
                    others.append(f"{tx['hash']} (block {number})")
            scanned += 1
            number -= 1
        if others:
            self.warn(
                f"{len(others)} earlier transaction(s) from {sender} to itself with other 32-byte data "
                f"since the close: {', '.join(others[:5])}: another lottery's anchor, or a list anchored "
                "and not published — look them up"
            )
        if number >= 0 and scanned >= scan_blocks:
            self.warn(
                f"looked for an earlier anchor of the same list in {scanned} blocks only (--scan-blocks); "
                f"blocks up to {number} not searched"
            )
            return
        self.ok(f"the anchor is the first transaction of this list hash from {sender} ({scanned} blocks searched)")

    # -- the draw ---------------------------------------------------------------------------

    def check_draw(self, record: dict[str, Any], quantities: dict[str, int], anchor: dict[str, Any]) -> list[str]:
        """Seed, ranking, winners, waitlist, promotions; returns the ranking's entry ids."""
        server_seed = hex64(record, "server_seed")
        commitment = hashlib.sha256(bytes.fromhex(server_seed)).hexdigest()
        if commitment != record["seed_commitment"]:
            raise Difference(
                "server_seed",
                f"sha256(server_seed) is {commitment}, the commitment published with the drop is "
                f"{record['seed_commitment']}",
            )
        self.ok("server seed matches the commitment published with the drop")

        seed_input = (
            bytes.fromhex(server_seed) + bytes.fromhex(anchor["block_hash"][2:]) + bytes.fromhex(record["list_hash"])
        )
        final_seed = hashlib.sha256(seed_input).hexdigest()
        if record.get("final_seed") != final_seed:
            raise Difference(
                "final_seed",
                f"sha256(server_seed ‖ block_hash ‖ list_hash) is {final_seed}, "
                f"the record says {record.get('final_seed')!r}",
            )
        self.ok(f"final seed {final_seed}")

        # key = HMAC-SHA256(final_seed's 32 bytes, the entry id's 32 ASCII characters); the
        # ranking sorts by (key, entry_id): as bytes, key ‖ entry_id sorts in exactly that order.
        key = bytes.fromhex(final_seed)
        inner, outer = hmac_pads(key)
        sha256 = hashlib.sha256
        ids = [entry_id.encode("ascii") for entry_id in quantities]
        for message in ids[:100]:
            if sha256(outer + sha256(inner + message).digest()).digest() != hmac.new(key, message, "sha256").digest():
                raise Difference("hmac", "this Python's SHA-256 and HMAC disagree")  # never, on a sound Python
        keyed = [sha256(outer + sha256(inner + message).digest()).digest() + message for message in ids]
        del ids
        keyed.sort()
        ranked = [k[32:].decode("ascii") for k in keyed]
        del keyed

        remaining = record["supply"]
        winners: list[tuple[str, int]] = []
        waitlist: list[str] = []
        for entry_id in ranked:
            quantity = quantities[entry_id]
            if quantity <= remaining:
                winners.append((entry_id, quantity))
                remaining -= quantity
            else:
                waitlist.append(entry_id)
        compare_entries("winners", record.get("winners"), winners)
        self.ok(f"winners: {len(winners)} entries, {record['supply'] - remaining} of {record['supply']} cards")
        compare_ids("waitlist", record.get("waitlist"), waitlist)
        self.ok(f"waitlist: {len(waitlist)} entries in rank order")

        self.check_promotions(record, quantities, winners, waitlist, remaining)
        return ranked

    def check_promotions(
        self,
        record: dict[str, Any],
        quantities: dict[str, int],
        winners: list[tuple[str, int]],
        waitlist: list[str],
        remaining: int,
    ) -> None:
        rounds = record.get("promotions")
        if not isinstance(rounds, list):
            raise Difference("promotions", f"not a list: {rounds!r}")
        holding = dict(winners)  # entries holding cards now
        promoted_ever: set[str] = set()
        lapsed_ever: set[str] = set()
        previous_at = parse_time(record.get("draw_at"))
        for n, round_ in enumerate(rounds, start=1):
            what = f"promotions[{n}]"
            if not isinstance(round_, dict):
                raise Difference(what, f"not an object: {round_!r}")
            at = parse_time(round_.get("at"))
            if at is None:
                raise Difference(f"{what}.at", f"not a time: {round_.get('at')!r}")
            if previous_at is not None and at < previous_at:
                raise Difference(f"{what}.at", f"{round_['at']} is before the draw or the round before it")
            previous_at = at
            lapsed = round_.get("lapsed")
            if not isinstance(lapsed, list) or len(set(lapsed)) != len(lapsed):
                raise Difference(f"{what}.lapsed", f"not a list of distinct entry ids: {lapsed!r}")
            for entry_id in lapsed:
                if entry_id not in holding:
                    why = "lapsed in an earlier round" if entry_id in lapsed_ever else "never held a place"
                    raise Difference(f"{what}.lapsed", f"{entry_id} cannot lapse: it {why}")
            for entry_id in lapsed:
                remaining += holding.pop(entry_id)
                lapsed_ever.add(entry_id)
            expected: list[tuple[str, int]] = []
            for entry_id in waitlist:
                if entry_id in promoted_ever or entry_id in lapsed_ever:
                    continue
                quantity = quantities[entry_id]
                if quantity <= remaining:
                    expected.append((entry_id, quantity))
                    remaining -= quantity
            compare_entries(f"{what}.promoted", round_.get("promoted"), expected)
            for entry_id, quantity in expected:
                holding[entry_id] = quantity
                promoted_ever.add(entry_id)
            self.ok(f"promotion round {n} at {round_['at']}: {len(lapsed)} lapsed, {len(expected)} promoted")
        if not rounds:
            self.ok("promotions: none so far")


class Rpc:
    """A minimal JSON-RPC 2.0 client over urllib."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.next_id = 0

    def call(self, method: str, *params: Any) -> Any:
        self.next_id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except (OSError, ValueError) as exc:
            raise Difference("rpc", f"{method} at {self.url} failed: {exc}") from exc
        if "error" in answer:
            raise Difference("rpc", f"{method} at {self.url}: {answer['error']}")
        return answer.get("result")


def well_formed(entries: list[Any]) -> dict[str, int]:
    """``{entry_id: quantity}`` if every entry is well formed and no id is listed twice.

    A million entries are checked in bulk first (C-level passes over all ids at once); only
    when that finds something does the entry-by-entry loop run, to name the first bad one.
    """
    try:
        ids = [entry["entry_id"] for entry in entries]
        amounts = [entry["quantity"] for entry in entries]
        bulk_ok = (
            set(map(type, ids)) <= {str}
            and set(map(len, ids)) <= {32}
            and not "".join(ids).translate(DELETE_HEX)
            and set(map(type, amounts)) <= {int}
            and min(amounts, default=1) >= 1
        )
    except (TypeError, KeyError):
        bulk_ok = False
    if bulk_ok:
        quantities = dict(zip(ids, amounts, strict=True))
        if len(quantities) == len(ids):
            return quantities
    quantities = {}
    for n, entry in enumerate(entries):
        entry_id = entry.get("entry_id") if isinstance(entry, dict) else None
        quantity = entry.get("quantity") if isinstance(entry, dict) else None
        if not isinstance(entry_id, str) or not HEX32.fullmatch(entry_id):
            raise Difference("entries", f"entry #{n + 1} has no 32-hex-digit entry_id: {entry!r}")
        if type(quantity) is not int or quantity < 1:
            raise Difference("entries", f"entry {entry_id} has no quantity ≥ 1: {quantity!r}")
        if entry_id in quantities:
            raise Difference("entries", f"entry {entry_id} is listed twice")
        quantities[entry_id] = quantity
    return quantities


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's two padded keys (RFC 2104): HMAC(K, m) = H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)).

    Computing HMAC-SHA256 by that definition gives the same digest as
    ``hmac.digest(key, m, "sha256")`` (checked against it on the first entries of every run)
    at less than half the cost: OpenSSL's one-shot HMAC sets itself up anew per message.
    """
    block = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def compare_entries(what: str, claimed: Any, expected: list[tuple[str, int]]) -> None:
    """The record's ``[{entry_id, quantity}]`` against the recomputed list, first difference."""
    if not isinstance(claimed, list):
        raise Difference(what, f"not a list: {claimed!r}")
    for n, (mine, theirs) in enumerate(zip(expected, claimed, strict=False), start=1):
        pair = (theirs.get("entry_id"), theirs.get("quantity")) if isinstance(theirs, dict) else theirs
        if pair != mine:
            raise Difference(what, f"#{n} is {show(pair)}, the recomputed draw has {show(mine)}")
    if len(claimed) != len(expected):
        extra = (
            f"an extra {show(claimed[len(expected)])}"
            if len(claimed) > len(expected)
            else f"missing {show(expected[len(claimed)])}"
        )
        raise Difference(what, f"the record lists {len(claimed)}, the recomputed draw {len(expected)}: {extra}")


def compare_ids(what: str, claimed: Any, expected: list[str]) -> None:
    if not isinstance(claimed, list):
        raise Difference(what, f"not a list: {claimed!r}")
    if claimed == expected:
        return
    for n, (mine, theirs) in enumerate(zip(expected, claimed, strict=False), start=1):
        if theirs != mine:
            raise Difference(what, f"#{n} is {theirs!r}, the recomputed draw has {mine}")
    if len(claimed) != len(expected):
        raise Difference(what, f"the record lists {len(claimed)}, the recomputed draw {len(expected)}")


def show(pair: Any) -> str:
    if isinstance(pair, tuple) and len(pair) == 2:
        return f"{pair[0]} × {pair[1]}"
    return repr(pair)


def hex64(record: dict[str, Any], field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not HEX64.fullmatch(value):
        raise Difference(field, f"not 64 lower-case hex digits: {value!r}")
    return value


def parse_time(value: Any) -> float | None:
    """An ISO 8601 time (``Z`` or an offset) as Unix seconds; None if absent or not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def fetch_json(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise Difference(
            "server", f"GET {url} answered {exc.code}: {exc.read()[:300].decode(errors='replace')}"
        ) from exc
    except (OSError, ValueError) as exc:
        raise Difference("server", f"GET {url} failed: {exc}") from exc


def verify(
    base_url: str,
    drop_id: str,
    rpc_url: str | None = None,
    entry: str | None = None,
    commitment: str | None = None,
    scan_blocks: int = 10_000,
    timeout: float = 120.0,
    out: Any = None,
) -> int:
    """Run every check and print the outcome; the exit status (0, 1 or 2)."""
    verifier = Verifier(out)
    started = time.perf_counter()
    base = f"{base_url.rstrip('/')}/api/v1/drops/{drop_id}/lottery"
    try:
        record = fetch_json(base, timeout)
        if not isinstance(record, dict):
            raise Difference("server", f"GET {base} did not answer a JSON object")
        verifier.check_record(record, commitment)
        if record.get("state") not in DRAWN and "server_seed" not in record:
            if "list_hash" in record:
                verifier.check_list(record, fetch_json(f"{base}/entries", timeout))
            if "anchor" in record:
                anchor = verifier.check_anchor_format(record)
                if rpc_url is not None:
                    verifier.check_chain(Rpc(rpc_url, timeout), record, anchor, scan_blocks)
            raise NotDrawn(f"the lottery is {record.get('state')!r}: its draw can be checked once it is drawn")
        quantities = verifier.check_list(record, fetch_json(f"{base}/entries", timeout))
        anchor = verifier.check_anchor_format(record)
        if rpc_url is not None:
            verifier.check_chain(Rpc(rpc_url, timeout), record, anchor, scan_blocks)
        ranked = verifier.check_draw(record, quantities, anchor)
        if entry is not None:
            report_entry(verifier, record, quantities, ranked, entry.lower())
    except NotDrawn as exc:
        print(f"… {exc}", file=verifier.out)
        return 2
    except Difference as exc:
        print(f"✗ {exc.what}: {exc}", file=verifier.out, flush=True)
        return 1
    seconds = time.perf_counter() - started
    if rpc_url is None:
        banner = "!" * 78
        print(
            f"{banner}\n! NO CHAIN CHECK: without --rpc URL the anchor was NOT looked up on the chain.\n"
            "! The block hash in the record was taken on trust, so this run does NOT show that the\n"
            "! town could not choose the outcome. Run again with --rpc <the drop's chain's JSON-RPC URL>.\n"
            f"{banner}",
            file=verifier.out,
        )
    note = f" ({len(verifier.warnings)} warnings above)" if verifier.warnings else ""
    chain = "" if rpc_url else ", chain NOT checked"
    print(
        f"✓ the draw of drop {drop_id} is what furusato-lottery-1 computes{chain}{note} [{seconds:.1f} s]",
        file=verifier.out,
    )
    return 0


def report_entry(
    verifier: Verifier, record: dict[str, Any], quantities: dict[str, int], ranked: list[str], entry_id: str
) -> None:
    if entry_id not in quantities:
        raise Difference("entry", f"{entry_id} is not in the fixed list")
    rank = ranked.index(entry_id) + 1
    won = {e["entry_id"] for e in record.get("winners", [])}
    promoted = {p["entry_id"] for r in record.get("promotions", []) for p in r.get("promoted", [])}
    lapsed = {e for r in record.get("promotions", []) for e in r.get("lapsed", [])}
    outcome = "won" if entry_id in won else "promoted from the waitlist" if entry_id in promoted else "waitlisted"
    if entry_id in lapsed:
        outcome += ", then lapsed unpaid"
    verifier.ok(f"entry {entry_id} × {quantities[entry_id]}: rank {rank} of {len(ranked)}, {outcome}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("base_url", help="the town's server, e.g. https://furusato.example.jp")
    parser.add_argument("drop_id", help="the lottery drop's id")
    parser.add_argument("--rpc", help="a JSON-RPC URL of the drop's chain (without it, the chain is NOT checked)")
    parser.add_argument("--entry", help="your entry id (receipt): print its rank and outcome")
    parser.add_argument("--commitment", help="the seed commitment you noted when the drop was announced")
    parser.add_argument("--scan-blocks", type=int, default=10_000, help="blocks searched for an earlier anchor")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per HTTP request")
    args = parser.parse_args(argv)
    return verify(args.base_url, args.drop_id, args.rpc, args.entry, args.commitment, args.scan_blocks, args.timeout)


if __name__ == "__main__":
    gc.disable()  # a million entries are millions of small objects, none of them cyclic garbage
    sys.exit(main())
