#!/usr/bin/env python3
"""Recount a Furusato poll (ballot format furusato-ballots-1) without trusting the town.

    python3 recount_poll.py BALLOTS [--results RESULTS] [--receipt HEX [--nonce HEX]]

    python3 scripts/recount_poll.py http://127.0.0.1:8000/api/v1/polls/3/ballots.txt \\
        --results http://127.0.0.1:8000/api/v1/polls/3/results

BALLOTS and RESULTS are each a file path or an http(s) URL: the poll's ballot file
(``GET /api/v1/polls/{id}/ballots.txt``) and, optionally, its results
(``GET /api/v1/polls/{id}/results``, JSON).

This file is the whole recount: a plain Python 3.11+ and its standard library (urllib,
json, hashlib), nothing to install. It deliberately does NOT import Furusato's own code
(``backend/polls/ballots.py``): it is a second, independent implementation of the published
format (``docs/polls.md``), so that a mistake or a dishonest change in the server's code
cannot also hide in the check. Copy it anywhere and run it.

It checks, in order, printing ``✓`` per check:

1. the file's shape: a header, the vote lines and a footer, separated by one empty line;
   the header's format name, poll, options (2 to 10, numbered 1, 2, …) and electorate;
2. every vote line: well formed, a choice that is an option, cards in (contract, token id)
   order and each once, and its hash ``sha256(previous hash + "\\n" + line)``, the first
   previous hash being ``sha256(header)``;
3. the footer: the votes and the count per option are what the lines add up to, and the
   head is the last hash;
4. with ``--results``, the results agree: same poll, head, electorate, exclusions, votes,
   counts per option, turnout and quorum;
5. with ``--receipt``, your vote is in the file (and with ``--nonce``, that the receipt is
   the hash of your card and choice).

The first difference stops it with ``✗ <what>: <how it differs>``. Exit status: 0 every
check passed, 1 a difference, 2 a file or URL could not be read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

FORMAT = "furusato-ballots-1"
RECEIPT_FORMAT = "furusato-vote-1"
HEX64 = re.compile(r"[0-9a-f]{64}")
VOTE_LINE = re.compile(
    r"card=(?P<contract>0x[0-9a-fA-F]{40}):(?P<token>0|[1-9][0-9]*) choice=(?P<choice>[1-9][0-9]*) "
    r"receipt=(?P<receipt>[0-9a-f]{64}) hash=(?P<hash>[0-9a-f]{64})"
)
WHOLE = re.compile(r"0|[1-9][0-9]*")
OPTION_KEY = re.compile(r"option (?P<position>[1-9][0-9]*) (?P<lang>ja|en)")
COUNT_KEY = re.compile(r"count (?P<position>[1-9][0-9]*)")
HEADER_KEYS = (
    "poll",
    "town",
    "chain_id",
    "question_ja",
    "question_en",
    "series",
    "electorate",
    "opened_at",
    "frozen_block",
    "closes_at",
    "closed_at",
    "quorum_percent",
    "allow_change",
)


class Difference(Exception):
    """A check failed: ``what`` names the line or field, the message says how."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        self.what = what


class Unreadable(Exception):
    """A file or URL could not be read."""


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Vote:
    number: int  # line number in the file, from 1
    contract: str
    token_id: int
    choice: int
    receipt: str
    hash: str

    @property
    def line(self) -> str:
        """The line as hashed: without its ``hash=`` field."""
        return f"card={self.contract}:{self.token_id} choice={self.choice} receipt={self.receipt}"


@dataclass
class Recount:
    header: dict[str, str]
    options: dict[int, tuple[str, str]]
    votes: list[Vote]
    counts: dict[int, int]
    head: str
    revoked_excluded: int
    notes: list[str] = field(default_factory=list)

    @property
    def poll_id(self) -> int:
        return int(self.header["poll"])

    @property
    def electorate(self) -> int:
        return int(self.header["electorate"])

    @property
    def eligible(self) -> int:
        return max(self.electorate - self.revoked_excluded, 0)

    @property
    def turnout_percent(self) -> float:
        return round(100 * len(self.votes) / self.eligible, 2) if self.eligible else 0.0

    def quorum_met(self) -> bool:
        quorum = int(self.header["quorum_percent"])
        if quorum > 0 and not self.votes:
            return False
        return 100 * len(self.votes) >= quorum * self.eligible


def ok(text: str) -> None:
    print(f"✓ {text}", flush=True)


def whole(what: str, value: str) -> int:
    if not WHOLE.fullmatch(value):
        raise Difference(what, f"not a whole number: {value!r}")
    return int(value)


def read_source(source: str, timeout: float) -> bytes:
    if re.match(r"https?://", source):
        try:
            with urllib.request.urlopen(urllib.request.Request(source), timeout=timeout) as response:
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as exc:
            body = exc.read()[:300].decode(errors="replace")
            raise Unreadable(f"GET {source} answered {exc.code}: {body}") from exc
        except OSError as exc:
            raise Unreadable(f"GET {source} failed: {exc}") from exc
    try:
        with open(source, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise Unreadable(f"cannot read {source}: {exc}") from exc


def blocks(data: bytes) -> tuple[list[str], list[str], list[str]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Difference("file", f"not UTF-8 text: {exc}") from exc
    if "\r" in text:
        raise Difference("file", "has carriage returns: lines end with LF only (was it converted?)")
    if not text.endswith("\n"):
        raise Difference("file", "does not end with a line feed (cut short?)")
    lines = text[:-1].split("\n")
    gaps = [n for n, line in enumerate(lines) if line == ""]
    if len(gaps) != 2:
        raise Difference("file", f"expected 3 blocks separated by 2 empty lines, found {len(gaps)} empty lines")
    first, second = gaps
    return lines[:first], lines[first + 1 : second], lines[second + 1 :]


def parse_header(lines: list[str]) -> tuple[dict[str, str], dict[int, tuple[str, str]]]:
    if not lines or lines[0] != FORMAT:
        got = lines[0] if lines else ""
        raise Difference("header", f"the first line is {got!r}; this recount knows {FORMAT}")
    header: dict[str, str] = {}
    labels: dict[int, dict[str, str]] = {}
    for number, line in enumerate(lines[1:], start=2):
        key, sep, value = line.partition(": ")
        if not sep:
            raise Difference(f"line {number}", f"not 'key: value': {line!r}")
        option = OPTION_KEY.fullmatch(key)
        if option:
            labels.setdefault(int(option["position"]), {})[option["lang"]] = value
            continue
        if key not in HEADER_KEYS:
            raise Difference(f"line {number}", f"unknown header field {key!r}")
        if key in header:
            raise Difference(f"line {number}", f"{key!r} appears twice")
        header[key] = value
    missing = [key for key in HEADER_KEYS if key not in header]
    if missing:
        raise Difference("header", f"missing {', '.join(missing)}")
    for key in ("poll", "electorate", "quorum_percent"):
        whole(key, header[key])
    if not 0 <= int(header["quorum_percent"]) <= 100:
        raise Difference("quorum_percent", f"not 0 to 100: {header['quorum_percent']}")
    positions = sorted(labels)
    if positions != list(range(1, len(positions) + 1)) or not 2 <= len(positions) <= 10:
        raise Difference("header", f"options must be numbered 1, 2, … (2 to 10 of them), found {positions}")
    options: dict[int, tuple[str, str]] = {}
    for position in positions:
        if set(labels[position]) != {"ja", "en"}:
            raise Difference("header", f"option {position} needs a ja and an en label")
        options[position] = (labels[position]["ja"], labels[position]["en"])
    return header, options


def parse_votes(lines: list[str], first_number: int, options: dict[int, tuple[str, str]]) -> list[Vote]:
    votes = []
    previous_key: tuple[str, int] | None = None
    for offset, line in enumerate(lines):
        number = first_number + offset
        match = VOTE_LINE.fullmatch(line)
        if match is None:
            raise Difference(f"line {number}", f"not a vote line (card=… choice=… receipt=… hash=…): {line!r}")
        vote = Vote(
            number,
            match["contract"],
            int(match["token"]),
            int(match["choice"]),
            match["receipt"],
            match["hash"],
        )
        if vote.choice not in options:
            raise Difference(f"line {number}", f"choice {vote.choice} is not an option (1 to {len(options)})")
        key = (vote.contract.lower(), vote.token_id)
        if previous_key is not None and key <= previous_key:
            what = "appears twice" if key == previous_key else "is out of (contract, token id) order: reordered?"
            raise Difference(f"line {number}", f"card {vote.contract}:{vote.token_id} {what}")
        previous_key = key
        votes.append(vote)
    return votes


def check_chain(header_lines: list[str], votes: list[Vote]) -> str:
    """The head the lines chain to; a Difference at the first line whose hash is wrong."""
    previous = sha256_hex("".join(f"{line}\n" for line in header_lines))
    for vote in votes:
        expected = sha256_hex(f"{previous}\n{vote.line}")
        if vote.hash != expected:
            raise Difference(
                f"line {vote.number}",
                f"hash {vote.hash} is not sha256(previous hash + newline + line) = {expected}: "
                "this line, or one before it, was changed, added, dropped or moved",
            )
        previous = vote.hash
    return previous


def parse_footer(lines: list[str], first_number: int) -> tuple[dict[str, str], dict[int, int]]:
    footer: dict[str, str] = {}
    counts: dict[int, int] = {}
    for offset, line in enumerate(lines):
        number = first_number + offset
        key, sep, value = line.partition(": ")
        if not sep:
            raise Difference(f"line {number}", f"not 'key: value': {line!r}")
        count = COUNT_KEY.fullmatch(key)
        if count:
            counts[int(count["position"])] = whole(f"line {number}", value)
        elif key in ("votes", "revoked_excluded", "head") and key not in footer:
            footer[key] = value
        else:
            raise Difference(f"line {number}", f"unexpected footer field {key!r}")
    for key in ("votes", "revoked_excluded", "head"):
        if key not in footer:
            raise Difference("footer", f"missing {key}")
    return footer, counts


def recount(data: bytes) -> Recount:
    header_lines, vote_lines, footer_lines = blocks(data)
    header, options = parse_header(header_lines)
    ok(
        f"{FORMAT}: poll {header['poll']} of {header['town']}, {len(options)} options, "
        f"electorate {header['electorate']}"
    )
    votes = parse_votes(vote_lines, len(header_lines) + 2, options)
    head = check_chain(header_lines, votes)
    ok(f"{len(votes)} vote lines, well formed, in card order, each card once, each hash chained")
    footer, stated_counts = parse_footer(footer_lines, len(header_lines) + len(vote_lines) + 3)
    counts = {position: 0 for position in options}
    for vote in votes:
        counts[vote.choice] += 1
    if whole("votes", footer["votes"]) != len(votes):
        raise Difference("votes", f"the footer says {footer['votes']}, the file has {len(votes)} vote lines")
    if stated_counts != counts:
        for position in sorted(set(counts) | set(stated_counts)):
            if stated_counts.get(position) != counts.get(position):
                raise Difference(
                    f"count {position}",
                    f"the footer says {stated_counts.get(position)}, the lines add up to {counts.get(position)}",
                )
    if footer["head"] != head:
        raise Difference("head", f"the footer says {footer['head']}, the lines chain to {head}")
    excluded = whole("revoked_excluded", footer["revoked_excluded"])
    result = Recount(header, options, votes, counts, head, excluded)
    if len(votes) > result.eligible:
        raise Difference("votes", f"{len(votes)} votes from an electorate of {result.eligible} (after exclusions)")
    ok(f"footer: votes and counts per option are what the lines add up to; head {head}")
    return result


def check_results(result: Recount, results: Any) -> None:
    if not isinstance(results, dict):
        raise Difference("results", "not a JSON object")
    expected: dict[str, Any] = {
        "algorithm": FORMAT,
        "poll_id": result.poll_id,
        "ballots_head": result.head,
        "electorate": result.electorate,
        "revoked_excluded": result.revoked_excluded,
        "eligible": result.eligible,
        "votes_cast": len(result.votes),
        "quorum_percent": int(result.header["quorum_percent"]),
        "quorum_met": result.quorum_met(),
    }
    for key, value in expected.items():
        if results.get(key) != value:
            raise Difference(f"results.{key}", f"the results say {results.get(key)!r}, the ballot file gives {value!r}")
    turnout = results.get("turnout_percent")
    if not isinstance(turnout, int | float) or abs(turnout - result.turnout_percent) > 0.005:
        raise Difference("results.turnout_percent", f"the results say {turnout!r}, recounted {result.turnout_percent}")
    options = results.get("options")
    if not isinstance(options, list):
        raise Difference("results.options", "not a list")
    stated: dict[int, int] = {}
    for option in options:
        if not isinstance(option, dict) or type(option.get("position")) is not int:
            raise Difference("results.options", f"not an option with a position: {option!r}")
        stated[option["position"]] = option.get("votes")  # type: ignore[assignment]
        labels = result.options.get(option["position"])
        if labels is not None and (option.get("label_ja"), option.get("label_en")) != labels:
            raise Difference(
                f"results.options[{option['position']}]", "its labels are not the ballot file's option labels"
            )
    for position in sorted(set(stated) | set(result.counts)):
        if stated.get(position) != result.counts.get(position):
            raise Difference(
                f"results option {position}",
                f"the results say {stated.get(position)!r} votes, the ballot file has {result.counts.get(position)}",
            )
    ok("the results agree: poll, head, electorate, exclusions, votes, counts per option, turnout, quorum")


def find_receipt(result: Recount, receipt: str, nonce: str | None) -> None:
    receipt = receipt.lower()
    found = [vote for vote in result.votes if vote.receipt == receipt]
    if not found:
        raise Difference(
            "receipt",
            f"{receipt} is not in the ballot file (a vote changed later has the newer receipt; "
            "a revoked card's vote is not counted)",
        )
    vote = found[0]
    label_ja, label_en = result.options[vote.choice]
    if nonce is not None:
        line = (
            f"{RECEIPT_FORMAT} poll={result.poll_id} card={vote.contract}:{vote.token_id} "
            f"choice={vote.choice} nonce={nonce.lower()}"
        )
        if sha256_hex(line) != receipt:
            raise Difference("receipt", "with this nonce the receipt is not the hash of the card and choice listed")
        ok("the receipt is the hash of this card, this choice and your nonce")
    ok(
        f"your vote (line {vote.number}): card {vote.contract}:{vote.token_id}, "
        f"choice {vote.choice} {label_ja} / {label_en}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("ballots", help="the ballot file: a path or an http(s) URL (…/polls/{id}/ballots.txt)")
    parser.add_argument("--results", help="the results JSON: a path or an http(s) URL (…/polls/{id}/results)")
    parser.add_argument("--receipt", help="your vote's receipt: show your line")
    parser.add_argument("--nonce", help="the receipt's nonce (given with it): check the receipt binds your choice")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per HTTP request")
    args = parser.parse_args(argv)
    if args.nonce is not None and args.receipt is None:
        parser.error("--nonce goes with --receipt")
    try:
        result = recount(read_source(args.ballots, args.timeout))
        if args.results is not None:
            try:
                results = json.loads(read_source(args.results, args.timeout))
            except ValueError as exc:
                raise Difference("results", f"not JSON: {exc}") from exc
            check_results(result, results)
        if args.receipt is not None:
            find_receipt(result, args.receipt, args.nonce)
    except Unreadable as exc:
        print(f"✗ {exc}", file=sys.stderr, flush=True)
        return 2
    except Difference as exc:
        print(f"✗ {exc.what}: {exc}", flush=True)
        return 1
    print(f"tally of poll {result.poll_id}: {result.header['question_ja']} / {result.header['question_en']}")
    for position, (label_ja, label_en) in result.options.items():
        print(f"  {position}. {label_ja} / {label_en}: {result.counts[position]}")
    print(
        f"  votes {len(result.votes)} of {result.eligible} eligible (electorate {result.electorate}, "
        f"{result.revoked_excluded} revoked), turnout {result.turnout_percent:.2f} %, "
        f"quorum {result.header['quorum_percent']} % {'met' if result.quorum_met() else 'NOT met'}"
    )
    print(f"✓ poll {result.poll_id} recounts to head {result.head}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
