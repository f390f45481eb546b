"""`scripts/verify_lottery.py` against a record the server's algorithm built, served over HTTP.

The verifier is a standalone file that never imports `backend`: here it runs as a plain,
isolated Python process (`python -I`, no project on the path) against `FakeTown` (a record
and list on a real socket, and a JSON-RPC chain), and in-process through its `main` for the
many tampering and random cases. An honest record passes with ✓; each kind of tampering
fails with exit 1 and a `✗` line naming what differs; random lotteries built by
`backend/lottery/algorithm.py` all pass.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from backend.lottery import algorithm
from tests.lottery.fake_town import (
    CLOSE_AT,
    DROP_ID,
    MINTER,
    FakeChain,
    FakeTown,
    Lottery,
    build_lottery,
    fake_hash,
    from_vector,
    iso,
    mint_tx,
    pairs,
    vector,
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_lottery.py"


def load_verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_lottery", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VERIFIER = load_verifier()


def run(town: FakeTown, *args: str, rpc: bool = True) -> tuple[int, str]:
    """The verifier's exit status and output, in-process."""
    out = io.StringIO()
    argv = [town.url, str(DROP_ID), *(["--rpc", town.rpc_url] if rpc else []), *args]
    with redirect_stdout(out):
        status = VERIFIER.main(argv)
    return status, out.getvalue()


@pytest.fixture
def town() -> Iterator[FakeTown]:
    with FakeTown(from_vector(vector("basic"))) as serving:
        yield serving


def test_the_script_imports_nothing_of_the_project() -> None:
    tree = SCRIPT.read_text()
    assert "import backend" not in tree
    assert "from backend" not in tree
    assert "import requests" not in tree
    assert "from tests" not in tree


def test_an_honest_record_verifies_in_a_plain_isolated_python(town: FakeTown) -> None:
    result = subprocess.run(
        [sys.executable, "-I", str(SCRIPT), town.url, str(DROP_ID), "--rpc", town.rpc_url],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for line in (
        "✓ algorithm furusato-lottery-1",
        "✓ 12 entries, well formed",
        f"✓ list hash {vector('basic')['list_hash']}",
        "✓ anchor on chain 31337",
        "✓ the anchor is the first transaction of this list hash",
        "✓ server seed matches the commitment",
        f"✓ final seed {vector('basic')['final_seed']}",
        "✓ winners: 5 entries, 10 of 10 cards",
        "✓ waitlist: 7 entries in rank order",
        "✓ promotion round 1 at 2026-03-04T03:00:00Z: 2 lapsed, 1 promoted",
        "✓ promotion round 2 at 2026-03-05T03:00:00Z: 2 lapsed, 2 promoted",
        "✓ promotion round 3 at 2026-03-06T03:00:00Z: 1 lapsed, 1 promoted",
        "✓ the draw of drop 7 is what furusato-lottery-1 computes [",
    ):
        assert line in out, out
    assert "✗" not in out
    assert "NO CHAIN CHECK" not in out


def test_without_rpc_it_passes_but_says_the_chain_was_not_checked(town: FakeTown) -> None:
    status, out = run(town, rpc=False)
    assert status == 0, out
    assert "NO CHAIN CHECK" in out
    assert "taken on trust" in out
    assert "chain NOT checked" in out.splitlines()[-1]
    assert "anchor on chain" not in out


def test_an_entry_id_gives_its_rank_and_outcome(town: FakeTown) -> None:
    ranking = vector("basic")["ranking"]
    expected = {
        0: "× 5: rank 1 of 12, won",
        3: "× 3: rank 4 of 12, promoted from the waitlist, then lapsed unpaid",
        7: "× 4: rank 8 of 12, waitlisted",
    }
    for position, outcome in expected.items():
        status, out = run(town, "--entry", ranking[position].upper())
        assert status == 0, out
        assert f"✓ entry {ranking[position]} {outcome}" in out, out
    status, out = run(town, "--entry", "0" * 32)
    assert status == 1
    assert f"✗ entry: {'0' * 32} is not in the fixed list" in out


def _promoted_ids(lottery: Lottery) -> list[str]:
    return [p["entry_id"] for r in lottery.record["promotions"] for p in r["promoted"]]


def change_quantity(lottery: Lottery) -> None:
    lottery.listing["entries"][3]["quantity"] += 1


def change_quantity_rehashed(lottery: Lottery) -> None:
    """A quantity changed and the list hash recomputed in the record and the list alike."""
    lottery.listing["entries"][3]["quantity"] += 1
    rehashed = algorithm.list_hash((e["entry_id"], e["quantity"]) for e in lottery.listing["entries"])
    lottery.listing["list_hash"] = lottery.record["list_hash"] = rehashed


def add_entry(lottery: Lottery) -> None:
    lottery.listing["entries"].append({"entry_id": "ab" * 16, "quantity": 1})


def add_entry_counted(lottery: Lottery) -> None:
    add_entry(lottery)
    lottery.record["entries_count"] += 1


def remove_entry(lottery: Lottery) -> None:
    del lottery.listing["entries"][5]


def remove_entry_counted(lottery: Lottery) -> None:
    remove_entry(lottery)
    lottery.record["entries_count"] -= 1


def other_server_seed(lottery: Lottery) -> None:
    lottery.record["server_seed"] = "11" * 32


def other_block_hash(lottery: Lottery) -> None:
    lottery.record["anchor"]["block_hash"] = "0x" + "22" * 32


def other_block_hash_redrawn(lottery: Lottery) -> None:
    """A whole other draw, consistent in itself, on a block hash the chain does not have."""
    record = lottery.record
    entries = [(e["entry_id"], e["quantity"]) for e in lottery.listing["entries"]]
    redrawn = algorithm.draw(record["server_seed"], "0x" + "22" * 32, entries, record["supply"])
    record["anchor"]["block_hash"] = "0x" + "22" * 32
    record.update(final_seed=redrawn.final_seed, winners=pairs(redrawn.winners), waitlist=redrawn.waitlist)
    record["promotions"] = []


def winner_quantity(lottery: Lottery) -> None:
    lottery.record["winners"][1]["quantity"] = 1


def winners_swapped(lottery: Lottery) -> None:
    winners = lottery.record["winners"]
    winners[0], winners[1] = winners[1], winners[0]


def winner_dropped(lottery: Lottery) -> None:
    lottery.record["winners"].pop()


def waitlist_dropped(lottery: Lottery) -> None:
    lottery.record["waitlist"].pop(0)


def promoted_other(lottery: Lottery) -> None:
    lottery.record["promotions"][0]["promoted"][0]["entry_id"] = lottery.record["waitlist"][-1]


def lapsed_never_held(lottery: Lottery) -> None:
    lottery.record["promotions"][0]["lapsed"].append(lottery.record["waitlist"][-1])


def promoted_again(lottery: Lottery) -> None:
    """Round 3 lapses the entry round 1 promoted and round 2 lapsed: it cannot lapse twice."""
    lottery.record["promotions"][2]["lapsed"] = [_promoted_ids(lottery)[0]]


def round_before_draw(lottery: Lottery) -> None:
    lottery.record["promotions"][0]["at"] = "2026-03-01T00:00:00Z"


def other_commitment(lottery: Lottery) -> None:
    lottery.record["seed_commitment"] = "33" * 32


def other_algorithm(lottery: Lottery) -> None:
    lottery.record["algorithm"] = "furusato-lottery-0"


def other_chain(lottery: Lottery) -> None:
    lottery.chain.chain_id = 1


def anchor_from_elsewhere(lottery: Lottery) -> None:
    tx = lottery.chain.blocks[lottery.record["anchor"]["block_number"]]["transactions"][1]
    tx["from"] = "0x" + "44" * 20


def anchor_other_calldata(lottery: Lottery) -> None:
    tx = lottery.chain.blocks[lottery.record["anchor"]["block_number"]]["transactions"][1]
    tx["input"] = "0x" + "55" * 32


def anchor_in_another_block(lottery: Lottery) -> None:
    lottery.record["anchor"]["block_number"] -= 1


def list_hash_uppercase(lottery: Lottery) -> None:
    lottery.record["list_hash"] = lottery.record["list_hash"].upper()


TAMPERING: dict[str, tuple[Callable[[Lottery], None], str, str]] = {
    # name: (tampering, the ✗ line with --rpc, without --rpc)
    "changed quantity": (change_quantity, "✗ list_hash: the entries hash to", "✗ list_hash: the entries hash to"),
    "changed quantity, list rehashed": (
        change_quantity_rehashed,
        "✗ anchor: the anchor transaction's input is",
        "✗ final_seed: ",
    ),
    "added entry": (add_entry, "✗ entries_count: the record says 12, the list has 13", "✗ entries_count: "),
    "added entry, counted": (add_entry_counted, "✗ list_hash: the entries hash to", "✗ list_hash: "),
    "removed entry": (remove_entry, "✗ entries_count: the record says 12, the list has 11", "✗ entries_count: "),
    "removed entry, counted": (remove_entry_counted, "✗ list_hash: the entries hash to", "✗ list_hash: "),
    "other server seed": (other_server_seed, "✗ server_seed: sha256(server_seed) is", "✗ server_seed: "),
    "other block hash": (other_block_hash, "✗ anchor.block_hash: the anchor transaction's blockHash", "✗ final_seed: "),
    "other block hash, redrawn": (
        other_block_hash_redrawn,
        "✗ anchor.block_hash: the anchor transaction's blockHash",
        "",  # consistent in itself: only the chain can tell
    ),
    "winner's quantity": (winner_quantity, "✗ winners: #2 is", "✗ winners: #2 is"),
    "winners swapped": (winners_swapped, "✗ winners: #1 is", "✗ winners: #1 is"),
    "winner dropped": (winner_dropped, "✗ winners: the record lists 4, the recomputed draw 5: missing", "✗ winners: "),
    "waitlist dropped": (waitlist_dropped, "✗ waitlist: #1 is", "✗ waitlist: #1 is"),
    "promoted another": (promoted_other, "✗ promotions[1].promoted: #1 is", "✗ promotions[1].promoted: "),
    "lapsed a non-holder": (lapsed_never_held, "it never held a place", "✗ promotions[1].lapsed: "),
    "lapsed twice": (promoted_again, "✗ promotions[3].lapsed: ", "it lapsed in an earlier round"),
    "round before the draw": (round_before_draw, "✗ promotions[1].at: ", "✗ promotions[1].at: "),
    "other commitment": (other_commitment, "✗ server_seed: ", "✗ server_seed: "),
    "other algorithm": (other_algorithm, "✗ algorithm: the record says 'furusato-lottery-0'", "✗ algorithm: "),
    "other chain": (other_chain, "✗ anchor.chain_id: the node at --rpc is chain 1, the record says 31337", ""),
    "anchor from another address": (anchor_from_elsewhere, "✗ anchor: the anchor transaction's from is", ""),
    "anchor with other calldata": (anchor_other_calldata, "✗ anchor: the anchor transaction's input is", ""),
    "anchor in another block": (anchor_in_another_block, "✗ anchor.block_number: ", ""),
    "hash in upper case": (list_hash_uppercase, "✗ list_hash: not 64 lower-case hex digits", "✗ list_hash: "),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_tampering_fails_naming_what_differs(town: FakeTown, name: str) -> None:
    tamper, with_rpc, without_rpc = TAMPERING[name]
    tamper(town.lottery)
    status, out = run(town)
    assert status == 1, out
    assert with_rpc in out, out
    assert out.count("✗") == 1, out
    assert out.rstrip().splitlines()[-1].startswith("✗"), out
    status, out = run(town, rpc=False)
    if without_rpc:
        assert status == 1, out
        assert without_rpc in out, out
    else:
        assert status == 0, out
        assert "NO CHAIN CHECK" in out, out  # what only the chain can show


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"entry_id": "AB" * 16, "quantity": 1}, "✗ entries: entry #13 has no 32-hex-digit entry_id"),
        ({"entry_id": "ab" * 15, "quantity": 1}, "✗ entries: entry #13 has no 32-hex-digit entry_id"),
        ({"entry_id": "ab" * 16, "quantity": 0}, f"✗ entries: entry {'ab' * 16} has no quantity ≥ 1: 0"),
        ({"entry_id": "ab" * 16, "quantity": "1"}, f"✗ entries: entry {'ab' * 16} has no quantity ≥ 1: '1'"),
        ({"entry_id": "ab" * 16}, f"✗ entries: entry {'ab' * 16} has no quantity ≥ 1: None"),
        ("ab" * 16, "✗ entries: entry #13 has no 32-hex-digit entry_id"),
        (None, "✗ entries: entry #13 has no 32-hex-digit entry_id"),
    ],
)
def test_a_malformed_entry_is_named(town: FakeTown, bad: Any, message: str) -> None:
    town.lottery.listing["entries"].append(bad)
    status, out = run(town)
    assert status == 1, out
    assert message in out, out


def test_an_entry_listed_twice_is_named(town: FakeTown) -> None:
    entries = town.lottery.listing["entries"]
    entries.append(dict(entries[4]))
    status, out = run(town)
    assert status == 1, out
    assert f"✗ entries: entry {entries[4]['entry_id']} is listed twice" in out, out


def test_a_commitment_noted_at_the_announcement_catches_a_consistent_other_seed(town: FakeTown) -> None:
    noted = town.lottery.record["seed_commitment"]
    other = "66" * 32
    record = town.lottery.record
    entries = [(e["entry_id"], e["quantity"]) for e in town.lottery.listing["entries"]]
    redrawn = build_lottery(other, record["anchor"]["block_hash"], entries, record["supply"])
    town.lottery = redrawn
    assert run(town)[0] == 0  # in itself it is a valid draw (the chain shows the same block hash)
    status, out = run(town, "--commitment", noted)
    assert status == 1, out
    assert f"✗ seed_commitment: the record says {redrawn.record['seed_commitment']}" in out, out


def test_a_list_anchored_twice_fails_the_first_anchor_check() -> None:
    """A town that anchored the list, disliked the block hash and anchored again is caught."""
    case = vector("basic")
    entries = [(e["entry_id"], e["quantity"]) for e in case["entries"]]
    list_hash = algorithm.list_hash(entries)
    chain = FakeChain()
    close = int(CLOSE_AT.timestamp())
    chain.add_block(close - 12, [mint_tx(1)])
    earlier = {"hash": fake_hash("first anchor"), "from": MINTER, "to": MINTER, "input": "0x" + list_hash}
    chain.add_block(close + 12, [earlier])
    chain.add_block(close + 24, [mint_tx(2)])
    lottery = build_lottery(case["server_seed"], case["block_hash"], entries, case["supply"], chain=chain)
    with FakeTown(lottery) as town:
        status, out = run(town)
    assert status == 1, out
    assert f"✗ anchor: {earlier['hash']} in block 1 anchored the same list too" in out, out


def chain_with_another_anchor() -> tuple[Lottery, str]:
    """The basic vector's lottery, with an anchor-shaped self-transaction of other data after the close."""
    case = vector("basic")
    entries = [(e["entry_id"], e["quantity"]) for e in case["entries"]]
    chain = FakeChain()
    close = int(CLOSE_AT.timestamp())
    chain.add_block(close - 12, [mint_tx(1)])
    other = {"hash": fake_hash("other list"), "from": MINTER, "to": MINTER, "input": "0x" + "77" * 32}
    chain.add_block(close + 12, [other])
    return build_lottery(case["server_seed"], case["block_hash"], entries, case["supply"], chain=chain), other["hash"]


def test_an_earlier_anchor_of_other_data_is_named_as_a_warning() -> None:
    """Another lottery's anchor, or a list anchored and not published: the verifier cannot tell."""
    lottery, other = chain_with_another_anchor()
    with FakeTown(lottery) as town:
        status, out = run(town)
    assert status == 0, out
    assert f"⚠ 1 earlier transaction(s) from {MINTER} to itself with other 32-byte data since the close: {other}" in out
    assert "(1 warnings above)" in out


def test_a_scan_limit_too_short_is_a_warning_not_a_pass_in_silence(town: FakeTown) -> None:
    status, out = run(town, "--scan-blocks", "0")
    assert status == 0, out
    assert "⚠ looked for an earlier anchor of the same list in 0 blocks only" in out
    assert "(1 warnings above)" in out


def test_before_the_draw_it_checks_what_there_is_and_exits_2(town: FakeTown) -> None:
    record = town.lottery.record
    for key in ("server_seed", "final_seed", "winners", "waitlist", "promotions"):
        del record[key]
    record["state"] = "closed"
    status, out = run(town)
    assert status == 2, out
    assert "✓ list hash" in out
    assert "✓ anchor on chain" in out
    assert "… the lottery is 'closed': its draw can be checked once it is drawn" in out
    for key in ("list_hash", "anchor"):
        del record[key]
    record["state"] = "open"
    status, out = run(town)
    assert status == 2, out
    assert "✓ seed commitment" in out, out
    assert "list hash" not in out, out


def test_an_unreachable_server_or_unknown_drop_fails(town: FakeTown) -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert VERIFIER.main([town.url, "999"]) == 1
    assert "✗ server: GET " in out.getvalue()
    assert "answered 404" in out.getvalue()
    with redirect_stdout(out):
        assert VERIFIER.main(["http://127.0.0.1:9", str(DROP_ID)]) == 1
    assert "failed:" in out.getvalue()
    status, text = run(town, "--rpc", "http://127.0.0.1:9", rpc=False)
    assert status == 1
    assert "✗ rpc: eth_chainId at http://127.0.0.1:9 failed" in text


@pytest.mark.parametrize("case", ["basic", "empty", "one_too_big"])
def test_every_vector_verifies(case: str) -> None:
    with FakeTown(from_vector(vector(case))) as town:
        status, out = run(town)
    assert status == 0, out


def random_lottery(rng: random.Random) -> Lottery:
    """A drawn lottery of random size, quantities, supply and promotion rounds."""
    n = rng.choice([0, 1, 2, rng.randint(3, 40), rng.randint(40, 400)])
    entries = [(rng.randbytes(16).hex(), rng.choice([1, 1, 1, 2, 3, 5, rng.randint(1, 20)])) for _ in range(n)]
    supply = rng.randint(0, max(1, sum(q for _, q in entries)))
    server_seed, block_hash = rng.randbytes(32).hex(), "0x" + rng.randbytes(32).hex()
    draw = algorithm.draw(server_seed, block_hash, entries, supply)
    settlement = algorithm.Settlement(supply, draw.winners, draw.waitlist, entries)
    lapses = []
    for _ in range(rng.randint(0, 4)):
        holders = sorted(settlement.holders)
        lapsed = rng.sample(holders, rng.randint(0, len(holders))) if holders else []
        settlement.apply_round(lapsed)
        lapses.append(lapsed)
    return build_lottery(server_seed, block_hash, entries, supply, lapses)


def test_random_lotteries_the_server_draws_all_verify() -> None:
    rng = random.Random(20260301)
    with FakeTown(random_lottery(rng)) as town:
        for _ in range(60):
            town.lottery = random_lottery(rng)
            status, out = run(town)
            assert status == 0, out
            record = town.lottery.record
            assert f"✓ winners: {len(record['winners'])} entries" in out


def test_random_tampering_of_the_record_never_passes() -> None:
    """Swap two ranked entries' places in the record: the verifier always finds it."""
    rng = random.Random(7)
    with FakeTown(random_lottery(rng)) as town:
        checked = 0
        while checked < 30:
            lottery = random_lottery(rng)
            tampered = copy.deepcopy(lottery)
            key = rng.choice(["winners", "waitlist"] if len(lottery.record["waitlist"]) > 1 else ["winners"])
            items = tampered.record[key]
            if len(items) < 2:
                continue
            i, j = rng.sample(range(len(items)), 2)
            items[i], items[j] = items[j], items[i]
            town.lottery = tampered
            status, out = run(town)
            assert status == 1, out
            assert f"✗ {key}: #{min(i, j) + 1} is" in out, out
            checked += 1


@pytest.mark.anvil
def test_the_anchor_on_a_real_anvil_node(tmp_path: Path) -> None:
    """The chain checks against anvil itself: a 0-value self-transaction with the list hash."""
    from minting.anvil import AnvilNode

    case = vector("basic")
    entries = [(e["entry_id"], e["quantity"]) for e in case["entries"]]
    list_hash = algorithm.list_hash(entries)

    def rpc(url: str, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())["result"]

    def send(url: str, sender: str, data: str) -> dict[str, Any]:
        """A 0-value self-transaction, and its receipt once mined (anvil mines on its own time)."""
        tx_hash = rpc(url, "eth_sendTransaction", {"from": sender, "to": sender, "value": "0x0", "data": data})
        deadline = time.monotonic() + 20
        while (receipt := rpc(url, "eth_getTransactionReceipt", tx_hash)) is None:
            assert time.monotonic() < deadline, f"{tx_hash} not mined"
            time.sleep(0.05)
        mined: dict[str, Any] = receipt
        return mined

    def anchored(receipt: dict[str, Any], sender: str, closed_at: float) -> Lottery:
        lottery = build_lottery(case["server_seed"], receipt["blockHash"], entries, case["supply"])
        lottery.record["applications_close_at"] = iso_seconds(closed_at)
        lottery.record["anchor"] = {
            "chain_id": 31337,
            "from": sender,
            "tx_hash": receipt["transactionHash"],
            "block_number": int(receipt["blockNumber"], 16),
            "block_hash": receipt["blockHash"],
        }
        return lottery

    def verify(town: FakeTown, rpc_url: str) -> tuple[int, str]:
        out = io.StringIO()
        with redirect_stdout(out):
            status = VERIFIER.main([town.url, str(DROP_ID), "--rpc", rpc_url])
        return status, out.getvalue()

    with AnvilNode(tmp_path / "anvil") as node:
        sender = rpc(node.url, "eth_accounts")[0].lower()
        closed_at = time.time() - 1
        first = send(node.url, sender, "0x" + list_hash)
        send(node.url, sender, "0x01")  # one block on top: 2 confirmations
        with FakeTown(anchored(first, sender, closed_at)) as town:
            status, out = verify(town, node.url)
            assert status == 0, out
            assert "(2 confirmations)" in out
            assert "✓ the anchor is the first transaction of this list hash" in out
            # A second anchor of the same list, kept instead of the first, is caught.
            second = send(node.url, sender, "0x" + list_hash)
            town.lottery = anchored(second, sender, closed_at)
            status, out = verify(town, node.url)
            assert status == 1, out
            block = int(first["blockNumber"], 16)
            assert f"✗ anchor: {first['transactionHash']} in block {block} anchored the same list too" in out, out


def iso_seconds(seconds: float) -> str:
    from datetime import UTC, datetime

    return iso(datetime.fromtimestamp(int(seconds), UTC))
