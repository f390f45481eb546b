"""The draw `furusato-lottery-1`: the reference implementation, standard library only.

Every step is public (``docs/lottery.md``) so that anyone can recompute a draw from its
published record: ``scripts/verify_lottery.py`` and ``frontend_static/js/lottery-verify.js``
are independent implementations of the same text and must agree with this module byte for
byte (``tests/lottery/vectors.json``).

Formats: seeds, hashes and entry ids are lower-case hex without ``0x``; a block hash is
written as JSON-RPC writes it, ``0x`` and 64 lower-case hex digits. Functions refuse any
other spelling (``ValueError``) rather than guess: a verifier that accepted ``0xAB`` where
the server hashed ``ab`` would compute a different draw without saying why.

Order of use::

    publish:  server_seed = new_server_seed(); seed_commitment(server_seed)
    apply:    entry_id = new_entry_id()
    close:    list_hash(entries) → anchor_calldata(...) sent from the minter to itself
    draw:     result = draw(server_seed, block_hash, entries, supply)
    lapses:   Settlement(supply, result.winners, result.waitlist, entries).apply_round(lapsed)
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

ALGORITHM = "furusato-lottery-1"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_BLOCK_HASH = re.compile(r"0x[0-9a-f]{64}")
_new_entry = tuple.__new__  # Entry(*e) without NamedTuple.__new__'s Python frame
_DELETE_HEX = str.maketrans("", "", "0123456789abcdef")


class Entry(NamedTuple):
    """One application in the fixed list: its public id and the cards it asks for."""

    entry_id: str
    quantity: int


EntryLike = Entry | tuple[str, int]


@dataclass(frozen=True)
class DrawResult:
    """Everything a draw computes from its inputs, as the public record shows it."""

    list_hash: str
    final_seed: str
    ranking: list[Entry]
    winners: list[Entry]
    waitlist: list[str]


# --- formats ---------------------------------------------------------------------------


def _hex64(name: str, value: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ValueError(f"{name} must be 64 lower-case hex digits without 0x, not {value!r}")
    return value


def check_entry_id(entry_id: str) -> str:
    """Return ``entry_id`` if it is 32 lower-case hex digits, else raise ``ValueError``."""
    if not isinstance(entry_id, str) or not _HEX32.fullmatch(entry_id):
        raise ValueError(f"entry_id must be 32 lower-case hex digits, not {entry_id!r}")
    return entry_id


def check_block_hash(block_hash: str) -> str:
    """Return ``block_hash`` if it is ``0x`` and 64 lower-case hex digits, else raise."""
    if not isinstance(block_hash, str) or not _BLOCK_HASH.fullmatch(block_hash):
        raise ValueError(f"block_hash must be 0x and 64 lower-case hex digits, not {block_hash!r}")
    return block_hash


def _entries(entries: Iterable[EntryLike]) -> list[Entry]:
    """The entries as ``Entry`` tuples, each checked: id format, quantity ≥ 1, ids unique.

    Checked in bulk (C-level passes over all ids and quantities) because a draw has up to
    millions; ``Entry`` tuples given in are kept as they are, not copied.
    """
    with _gc_paused():
        out = [e if type(e) is Entry else _new_entry(Entry, e) for e in entries]
    if not out:
        return out
    if set(map(len, out)) != {2}:
        raise ValueError("each entry is a pair (entry_id, quantity)")
    ids = [e[0] for e in out]
    quantities = [e[1] for e in out]
    if set(map(type, ids)) != {str} or set(map(len, ids)) != {32} or "".join(ids).translate(_DELETE_HEX):
        check_entry_id(next(i for i in ids if not isinstance(i, str) or not _HEX32.fullmatch(i)))
    if set(map(type, quantities)) != {int} or min(quantities) < 1:
        bad = next(e for e in out if type(e.quantity) is not int or e.quantity < 1)
        raise ValueError(f"quantity of {bad.entry_id} must be a whole number ≥ 1, not {bad.quantity!r}")
    if len(set(ids)) != len(ids):
        raise ValueError("entry ids must be unique")
    return out


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of tuples are made.

    Each new tuple counts towards a collection that walks every live tuple, which made
    building a million entries ~5× slower; nothing made here is cyclic garbage.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def new_server_seed() -> str:
    """32 random bytes as 64 hex digits: the server's secret share of the draw."""
    return secrets.token_hex(32)


def new_entry_id() -> str:
    """16 random bytes as 32 hex digits: an applicant's public, unlinkable entry id."""
    return secrets.token_hex(16)


# --- commitments -----------------------------------------------------------------------


def seed_commitment(server_seed: str) -> str:
    """``sha256(bytes.fromhex(server_seed)).hexdigest()``, published with the drop."""
    return hashlib.sha256(bytes.fromhex(_hex64("server_seed", server_seed))).hexdigest()


def list_lines(entries: Iterable[EntryLike]) -> list[str]:
    """The fixed list's lines ``f"{entry_id}:{quantity}"``, sorted by ``entry_id``."""
    return _lines(_entries(entries))


def _lines(entries: list[Entry]) -> list[str]:
    # Ids are unique and all 32 characters long, so sorting the lines sorts by entry_id.
    lines = [f"{entry_id}:{quantity}" for entry_id, quantity in entries]
    lines.sort()
    return lines


def list_hash(entries: Iterable[EntryLike]) -> str:
    """``sha256(("\\n".join(lines) + "\\n").encode()).hexdigest()``.

    The empty list is therefore the hash of a single ``"\\n"``, not of the empty string.
    """
    return _list_hash(_entries(entries))


def _list_hash(entries: list[Entry]) -> str:
    return hashlib.sha256(("\n".join(_lines(entries)) + "\n").encode("ascii")).hexdigest()


def anchor_calldata(list_hash_hex: str) -> str:
    """The anchor transaction's ``input`` (data): the 32 bytes of the list hash, ``0x…``."""
    return "0x" + _hex64("list_hash", list_hash_hex)


def final_seed(server_seed: str, block_hash: str, list_hash_hex: str) -> str:
    """``sha256(server_seed ‖ block_hash ‖ list_hash)`` over the raw bytes (96 bytes in)."""
    data = (
        bytes.fromhex(_hex64("server_seed", server_seed))
        + bytes.fromhex(check_block_hash(block_hash)[2:])
        + bytes.fromhex(_hex64("list_hash", list_hash_hex))
    )
    return hashlib.sha256(data).hexdigest()


# --- ranking and allocation ------------------------------------------------------------


def entry_key(final_seed_hex: str, entry_id: str) -> str:
    """``hmac.new(bytes.fromhex(final_seed), entry_id.encode("ascii"), "sha256").hexdigest()``."""
    key = bytes.fromhex(_hex64("final_seed", final_seed_hex))
    return hmac.digest(key, check_entry_id(entry_id).encode("ascii"), "sha256").hex()


def ranking(final_seed_hex: str, entries: Iterable[EntryLike]) -> list[Entry]:
    """The entries sorted by ``(entry_key, entry_id)``, ascending: rank 1 first."""
    return _ranking(bytes.fromhex(_hex64("final_seed", final_seed_hex)), _entries(entries))


def _ranking(key: bytes, entries: list[Entry]) -> list[Entry]:
    # HMAC-SHA256 by its definition, H((K ^ opad) ‖ H((K ^ ipad) ‖ m)), for a 32-byte key:
    # the same digest as hmac.digest(key, m, "sha256"), at less than half the cost per entry.
    block = key.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in block)
    opad = bytes(b ^ 0x5C for b in block)
    sha256 = hashlib.sha256
    # Each sort key is the raw digest followed by the id's ASCII: raw digests sort exactly as
    # their lower-case hex does, and a fixed-length digest first makes byte order the
    # (key, entry_id) order, ties included.
    ids = [e[0].encode("ascii") for e in entries]
    keys = [sha256(opad + sha256(ipad + m).digest()).digest() + m for m in ids]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return [entries[n] for n in order]


def allocate(ranked: Iterable[EntryLike], supply: int) -> tuple[list[Entry], list[str]]:
    """Walk the ranking once with ``remaining = supply``: ``(winners, waitlist)``.

    An entry whose quantity fits (``quantity <= remaining``) wins that many cards; one that
    does not is waitlisted and the walk goes on, so a later, smaller entry may still win.
    Winners are ``Entry`` tuples and the waitlist entry ids, both in rank order.
    """
    if type(supply) is not int or supply < 0:
        raise ValueError(f"supply must be a whole number ≥ 0, not {supply!r}")
    remaining = supply
    winners: list[Entry] = []
    waitlist: list[str] = []
    rest = iter(ranked)
    for entry in rest:
        if remaining == 0:  # every quantity is ≥ 1: nothing further can fit
            waitlist.append(entry[0])
            break
        if entry[1] <= remaining:
            winners.append(entry if type(entry) is Entry else Entry(*entry))
            remaining -= entry[1]
        else:
            waitlist.append(entry[0])
    waitlist += [entry[0] for entry in rest]
    return winners, waitlist


def draw(server_seed: str, block_hash: str, entries: Iterable[EntryLike], supply: int) -> DrawResult:
    """The whole draw from its three inputs and the supply."""
    checked = _entries(entries)
    lh = _list_hash(checked)
    seed = final_seed(server_seed, block_hash, lh)
    ranked = _ranking(bytes.fromhex(seed), checked)
    winners, waitlist = allocate(ranked, supply)
    return DrawResult(list_hash=lh, final_seed=seed, ranking=ranked, winners=winners, waitlist=waitlist)


# --- lapses and promotions -------------------------------------------------------------


def promotion_round(
    remaining: int,
    waitlist: Sequence[str],
    quantities: Mapping[str, int],
    lapsed: Collection[str],
    skip: Collection[str],
) -> tuple[list[Entry], int]:
    """One round's walk: the lapsed entries' cards go back, then the waitlist is walked once.

    ``remaining`` is the number of unallocated cards before the round, ``lapsed`` the entries
    lapsing in it (all together), ``skip`` the waitlisted entries already promoted in earlier
    rounds (lapsed or not). The waitlist is walked from its top with the allocation's rule,
    skipping ``skip`` and ``lapsed``. Returns ``(promoted, remaining after the round)``.
    ``Settlement`` keeps this state between rounds and checks that each lapse is possible.
    """
    remaining += sum(quantities[entry_id] for entry_id in lapsed)
    promoted: list[Entry] = []
    for entry_id in waitlist:
        if remaining == 0:  # every quantity is ≥ 1: nothing further can fit
            break
        if entry_id in skip or entry_id in lapsed:
            continue
        quantity = quantities[entry_id]
        if quantity <= remaining:
            promoted.append(Entry(entry_id, quantity))
            remaining -= quantity
    return promoted, remaining


class Settlement:
    """The places after a draw, replayed round by round (the server and a verifier alike).

    ``holders`` are the entries holding cards now (winners and promoted entries that have
    not lapsed), ``remaining`` the cards nobody holds.
    """

    def __init__(
        self,
        supply: int,
        winners: Iterable[EntryLike],
        waitlist: Sequence[str],
        entries: Iterable[EntryLike],
    ) -> None:
        self.quantities: dict[str, int] = {e.entry_id: e.quantity for e in _entries(entries)}
        self.waitlist: list[str] = list(waitlist)
        self.holders: dict[str, int] = {}
        for entry_id, quantity in winners:
            if self.quantities.get(entry_id) != quantity:
                raise ValueError(f"winner {entry_id} with {quantity} is not an entry of the list")
            self.holders[entry_id] = quantity
        unknown = [e for e in self.waitlist if e not in self.quantities or e in self.holders]
        if unknown:
            raise ValueError(f"waitlisted {unknown[0]} is not a non-winning entry of the list")
        self.remaining: int = supply - sum(self.holders.values())
        if self.remaining < 0:
            raise ValueError("the winners hold more cards than the supply")
        self.promoted: set[str] = set()
        self.lapsed: set[str] = set()

    def apply_round(self, lapsed: Iterable[str]) -> list[Entry]:
        """Lapse ``lapsed`` (current holders), promote from the waitlist; the promoted."""
        lapsing = list(lapsed)
        if len(set(lapsing)) != len(lapsing):
            raise ValueError("an entry lapses twice in one round")
        for entry_id in lapsing:
            if entry_id not in self.holders:
                state = "has lapsed already" if entry_id in self.lapsed else "holds no cards"
                raise ValueError(f"{entry_id} cannot lapse: it {state}")
        promoted, self.remaining = promotion_round(
            self.remaining, self.waitlist, self.quantities, set(lapsing), self.promoted
        )
        for entry_id in lapsing:
            del self.holders[entry_id]
            self.lapsed.add(entry_id)
        for entry_id, quantity in promoted:
            self.holders[entry_id] = quantity
            self.promoted.add(entry_id)
        return promoted


def replay_promotions(
    supply: int,
    winners: Iterable[EntryLike],
    waitlist: Sequence[str],
    entries: Iterable[EntryLike],
    lapses: Iterable[Iterable[str]],
) -> list[list[Entry]]:
    """Each round's promoted entries, given each round's lapsed entries in order."""
    settlement = Settlement(supply, winners, waitlist, entries)
    return [settlement.apply_round(lapsed) for lapsed in lapses]
