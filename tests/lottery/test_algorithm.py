"""`backend/lottery/algorithm.py` against the golden vectors and the issue's text.

The vectors (`vectors.json`) are checked twice: against the module, and against a
line-by-line transcription of the issue's formulas in this file (`literal_*`), so that they
are not only the module's own output written down. Properties: allocation never exceeds the
supply and follows the walk's rule, a later smaller entry can win, the empty list, formats
refused, promotion rounds as the issue states them.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.lottery import algorithm
from backend.lottery.algorithm import Entry, Settlement
from tests.lottery.fake_town import vector, vectors

# --- the issue's text, transcribed -----------------------------------------------------


def literal_list_hash(entries: list[tuple[str, int]]) -> str:
    lines = sorted((f"{entry_id}:{quantity}" for entry_id, quantity in entries), key=lambda line: line.split(":")[0])
    return hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()


def literal_final_seed(server_seed: str, block_hash: str, list_hash: str) -> str:
    return hashlib.sha256(
        bytes.fromhex(server_seed) + bytes.fromhex(block_hash[2:]) + bytes.fromhex(list_hash)
    ).hexdigest()


def literal_key(final_seed: str, entry_id: str) -> str:
    return hmac.new(bytes.fromhex(final_seed), entry_id.encode("ascii"), "sha256").hexdigest()


def literal_draw(case: dict[str, Any]) -> dict[str, Any]:
    entries = [(e["entry_id"], e["quantity"]) for e in case["entries"]]
    list_hash = literal_list_hash(entries)
    final_seed = literal_final_seed(case["server_seed"], case["block_hash"], list_hash)
    ranked = sorted(entries, key=lambda e: (literal_key(final_seed, e[0]), e[0]))
    remaining, winners, waitlist = case["supply"], [], []
    for entry_id, quantity in ranked:
        if quantity <= remaining:
            winners.append({"entry_id": entry_id, "quantity": quantity})
            remaining -= quantity
        else:
            waitlist.append(entry_id)
    quantities = dict(entries)
    promoted_or_lapsed: set[str] = set()
    rounds = []
    for round_ in case.get("promotions", []):
        for entry_id in round_["lapsed"]:
            remaining += quantities[entry_id]
            promoted_or_lapsed.add(entry_id)
        promoted = []
        for entry_id in waitlist:
            if entry_id not in promoted_or_lapsed and quantities[entry_id] <= remaining:
                promoted.append({"entry_id": entry_id, "quantity": quantities[entry_id]})
                remaining -= quantities[entry_id]
                promoted_or_lapsed.add(entry_id)
        rounds.append({"at": round_["at"], "lapsed": round_["lapsed"], "promoted": promoted})
    return {
        "seed_commitment": hashlib.sha256(bytes.fromhex(case["server_seed"])).hexdigest(),
        "list_hash": list_hash,
        "final_seed": final_seed,
        "keys": {entry_id: literal_key(final_seed, entry_id) for entry_id, _ in ranked},
        "ranking": [entry_id for entry_id, _ in ranked],
        "winners": winners,
        "waitlist": waitlist,
        "promotions": rounds,
    }


CASES = [case["name"] for case in vectors()["cases"]]


def entries_of(case: dict[str, Any]) -> list[tuple[str, int]]:
    return [(e["entry_id"], e["quantity"]) for e in case["entries"]]


@pytest.mark.parametrize("name", CASES)
def test_the_vectors_are_the_issues_formulas(name: str) -> None:
    case = vector(name)
    literal = literal_draw(case)
    for field in ("seed_commitment", "list_hash", "final_seed", "keys", "ranking", "winners", "waitlist"):
        assert case[field] == literal[field], field
    assert case.get("promotions", []) == literal["promotions"]


@pytest.mark.parametrize("name", CASES)
def test_the_module_reproduces_the_vectors(name: str) -> None:
    case = vector(name)
    entries = entries_of(case)
    assert algorithm.seed_commitment(case["server_seed"]) == case["seed_commitment"]
    assert algorithm.list_lines(entries) == case["lines"]
    assert algorithm.list_hash(entries) == case["list_hash"]
    assert algorithm.anchor_calldata(case["list_hash"]) == case["anchor_calldata"]
    assert algorithm.final_seed(case["server_seed"], case["block_hash"], case["list_hash"]) == case["final_seed"]
    for entry_id, key in case["keys"].items():
        assert algorithm.entry_key(case["final_seed"], entry_id) == key
    ranked = algorithm.ranking(case["final_seed"], entries)
    assert [e.entry_id for e in ranked] == case["ranking"]
    winners, waitlist = algorithm.allocate(ranked, case["supply"])
    assert [{"entry_id": i, "quantity": q} for i, q in winners] == case["winners"]
    assert waitlist == case["waitlist"]
    result = algorithm.draw(case["server_seed"], case["block_hash"], entries, case["supply"])
    assert (result.list_hash, result.final_seed, result.ranking, result.winners, result.waitlist) == (
        case["list_hash"],
        case["final_seed"],
        ranked,
        winners,
        waitlist,
    )
    rounds = algorithm.replay_promotions(
        case["supply"], winners, waitlist, entries, [r["lapsed"] for r in case.get("promotions", [])]
    )
    assert [[{"entry_id": i, "quantity": q} for i, q in r] for r in rounds] == [
        r["promoted"] for r in case.get("promotions", [])
    ]


def test_the_basic_vector_shows_what_it_says() -> None:
    """Rank 4 does not fit and is waitlisted, ranks 5 and 6 (smaller) still win."""
    case = vector("basic")
    won = [w["entry_id"] for w in case["winners"]]
    assert case["ranking"][:6] == [*won[:3], case["waitlist"][0], *won[3:5]]
    quantities = {e["entry_id"]: e["quantity"] for e in case["entries"]}
    assert sum(quantities[e] for e in won) == case["supply"] == 10
    assert quantities[case["waitlist"][0]] == 3
    # Round 3 lapses round 2's promoted entry: it is not promoted again.
    second, third = case["promotions"][1], case["promotions"][2]
    assert third["lapsed"][0] in [p["entry_id"] for p in second["promoted"]]
    assert third["lapsed"][0] not in [p["entry_id"] for p in third["promoted"]]


def test_the_empty_list_is_a_single_newline() -> None:
    assert algorithm.list_lines([]) == []
    assert algorithm.list_hash([]) == hashlib.sha256(b"\n").hexdigest()
    assert algorithm.list_hash([]) == "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b"
    result = algorithm.draw("00" * 32, "0x" + "00" * 32, [], 10)
    assert (result.ranking, result.winners, result.waitlist) == ([], [], [])
    assert Settlement(10, [], [], []).apply_round([]) == []


def test_a_later_smaller_entry_can_win() -> None:
    ranked = [Entry("a" * 32, 3), Entry("b" * 32, 5), Entry("c" * 32, 2), Entry("d" * 32, 1)]
    winners, waitlist = algorithm.allocate(ranked, 6)
    assert winners == [Entry("a" * 32, 3), Entry("c" * 32, 2), Entry("d" * 32, 1)]
    assert waitlist == ["b" * 32]
    assert algorithm.allocate(ranked, 0) == ([], [e.entry_id for e in ranked])


entry_lists = st.lists(
    st.tuples(st.binary(min_size=16, max_size=16).map(bytes.hex), st.integers(min_value=1, max_value=12)),
    max_size=60,
    unique_by=lambda e: e[0],
)


@settings(max_examples=200, deadline=None)
@given(
    entries=entry_lists,
    supply=st.integers(min_value=0, max_value=120),
    seed=st.binary(min_size=32, max_size=32),
    block=st.binary(min_size=32, max_size=32),
)
def test_allocation_never_exceeds_the_supply_and_follows_the_walk(
    entries: list[tuple[str, int]], supply: int, seed: bytes, block: bytes
) -> None:
    result = algorithm.draw(seed.hex(), "0x" + block.hex(), entries, supply)
    assert sum(q for _, q in result.winners) <= supply
    assert sorted(result.ranking) == sorted(Entry(*e) for e in entries)
    assert {w.entry_id for w in result.winners}.isdisjoint(result.waitlist)
    assert len(result.winners) + len(result.waitlist) == len(entries)
    # Every waitlisted entry asked for more than was left when the walk reached it.
    left = supply
    won = {w.entry_id for w in result.winners}
    for entry_id, quantity in result.ranking:
        if entry_id in won:
            left -= quantity
        else:
            assert quantity > left
    # The same inputs given in another order draw the same.
    shuffled = list(entries)
    random.Random(len(entries)).shuffle(shuffled)
    assert algorithm.draw(seed.hex(), "0x" + block.hex(), shuffled, supply) == result
    case = {"server_seed": seed.hex(), "block_hash": "0x" + block.hex(), "supply": supply}
    literal = literal_draw({**case, "entries": [{"entry_id": i, "quantity": q} for i, q in entries]})
    assert [e.entry_id for e in result.ranking] == literal["ranking"]


@settings(max_examples=150, deadline=None)
@given(entries=entry_lists, supply=st.integers(min_value=0, max_value=120), data=st.data())
def test_promotion_rounds_keep_the_supply_and_never_promote_twice(
    entries: list[tuple[str, int]], supply: int, data: st.DataObject
) -> None:
    result = algorithm.draw("ab" * 32, "0x" + "cd" * 32, entries, supply)
    settlement = Settlement(supply, result.winners, result.waitlist, entries)
    promoted_ever: list[str] = []
    for _ in range(data.draw(st.integers(min_value=0, max_value=5))):
        holders = sorted(settlement.holders)
        lapsed = data.draw(st.lists(st.sampled_from(holders), unique=True)) if holders else []
        before = settlement.remaining + sum(settlement.quantities[e] for e in lapsed)
        promoted = settlement.apply_round(lapsed)
        assert sum(q for _, q in promoted) <= before
        assert sum(settlement.holders.values()) + settlement.remaining == supply
        assert settlement.remaining >= 0
        promoted_ever += [e.entry_id for e in promoted]
        assert len(promoted_ever) == len(set(promoted_ever))
        assert all(e.entry_id in result.waitlist for e in promoted)
        # In waitlist order.
        positions = [result.waitlist.index(e.entry_id) for e in promoted]
        assert positions == sorted(positions)
        # Nothing left unpromoted fits what is left.
        for entry_id in result.waitlist:
            if entry_id not in settlement.promoted:
                assert settlement.quantities[entry_id] > settlement.remaining


def test_a_round_refuses_impossible_lapses() -> None:
    case = vector("basic")
    entries = entries_of(case)
    winners = [(w["entry_id"], w["quantity"]) for w in case["winners"]]
    settlement = Settlement(case["supply"], winners, case["waitlist"], entries)
    with pytest.raises(ValueError, match="holds no cards"):
        settlement.apply_round([case["waitlist"][-1]])
    with pytest.raises(ValueError, match="twice in one round"):
        settlement.apply_round([winners[0][0], winners[0][0]])
    settlement.apply_round([winners[0][0]])
    with pytest.raises(ValueError, match="has lapsed already"):
        settlement.apply_round([winners[0][0]])
    with pytest.raises(ValueError, match="more cards than the supply"):
        Settlement(1, winners, case["waitlist"], entries)
    with pytest.raises(ValueError, match="not an entry of the list"):
        Settlement(10, [(winners[0][0], 99)], case["waitlist"], entries)


def test_promotion_round_alone() -> None:
    """x lapses (2 cards back, 3 left); b was promoted before: a (2) fits, c (3) not, d (1) fits."""
    quantities = {"a": 2, "b": 1, "c": 3, "d": 1, "x": 2}
    promoted, remaining = algorithm.promotion_round(1, ["a", "b", "c", "d"], quantities, ["x"], skip={"b"})
    assert promoted == [Entry("a", 2), Entry("d", 1)]
    assert remaining == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: algorithm.seed_commitment("AB" * 32), "server_seed must be 64 lower-case hex"),
        (lambda: algorithm.seed_commitment("ab" * 31), "server_seed must be 64"),
        (lambda: algorithm.final_seed("ab" * 32, "ab" * 32, "cd" * 32), "block_hash must be 0x"),
        (lambda: algorithm.final_seed("ab" * 32, "0X" + "ab" * 32, "cd" * 32), "block_hash must be 0x"),
        (lambda: algorithm.final_seed("ab" * 32, "0x" + "AB" * 32, "cd" * 32), "block_hash must be 0x"),
        (lambda: algorithm.final_seed("ab" * 32, "0x" + "ab" * 32, "0x" + "cd" * 31), "list_hash must be"),
        (lambda: algorithm.entry_key("ab" * 32, "A" * 32), "entry_id must be 32 lower-case hex"),
        (lambda: algorithm.list_hash([("a" * 32, 1), ("a" * 32, 2)]), "unique"),
        (lambda: algorithm.list_hash([("a" * 31 + "\n", 1)]), "entry_id must be"),
        (lambda: algorithm.list_hash([("a" * 32, 0)]), "quantity of a+ must be a whole number"),
        (lambda: algorithm.list_hash([("a" * 32, True)]), "quantity"),
        (lambda: algorithm.list_hash([("a" * 32, 1.0)]), "quantity"),  # type: ignore[list-item]
        (lambda: algorithm.list_hash([("a" * 32, "1")]), "quantity"),  # type: ignore[list-item]
        (lambda: algorithm.allocate([], -1), "supply must be"),
    ],
)
def test_other_spellings_are_refused(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_ties_sort_by_entry_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys never tie in practice; the tie-break path sorts by (key, entry_id) all the same."""
    entries = [Entry(f"{n:032x}", 1) for n in range(5)]

    class Constant:
        def __init__(self, data: bytes = b"") -> None:
            pass

        def digest(self) -> bytes:
            return b"\0" * 32

    monkeypatch.setattr(hashlib, "sha256", Constant)  # the module algorithm.py calls
    assert algorithm._ranking(bytes(32), list(reversed(entries))) == entries


def test_the_fast_hmac_is_hmac() -> None:
    rng = random.Random(3)
    for _ in range(200):
        key = rng.randbytes(32)
        entries = [Entry(rng.randbytes(16).hex(), 1) for _ in range(3)]
        ranked = algorithm._ranking(key, entries)
        expected = sorted(entries, key=lambda e: (hmac.new(key, e.entry_id.encode(), "sha256").digest(), e.entry_id))
        assert ranked == expected
