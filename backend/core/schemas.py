"""Field types every area validates the same way: row ids, token ids, addresses, prefectures."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, EmailStr, Field
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError
from web3 import Web3

#: The largest numbers a row can be named by: `drops.id` is a 32-bit column on PostgreSQL and
#: token ids are 64-bit. A larger number names nothing, so it is refused as invalid input (422)
#: instead of overflowing in the database driver (a 500).
MAX_ROW_ID = 2**31 - 1
MAX_TOKEN_ID = 2**63 - 1


#: An address as the OpenAPI document states it: the syntax (`pattern`), not the zero address
#: (`not`), and with `format: ethereum-address` what no pattern can say, that a mixed-case
#: spelling must carry its EIP-55 checksum. A route validates with `card_recipient`, whose
#: messages name what is wrong; the schema states the same checks.
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
ADDRESS_FORMAT = "ethereum-address"
#: `type` too: a bare `{"pattern"}` holds for any non-string, so `not` of it would forbid `null`.
NOT_ZERO_ADDRESS: JsonDict = {"type": "string", "pattern": "^0x0{40}$"}
ADDRESS_SCHEMA: JsonDict = {"pattern": ADDRESS_PATTERN, "format": ADDRESS_FORMAT, "not": NOT_ZERO_ADDRESS}


def _any_case(word: str) -> str:
    return "".join(f"[{letter}{letter.upper()}]" if letter.isalpha() else re.escape(letter) for letter in word)


#: email-validator (behind pydantic's `EmailStr`) refuses special-use domains (RFC 6761:
#: `.test`, `.local`, `.invalid`, …) that the `email` format allows; the schema says so.
EMAIL_SCHEMA: JsonDict = {
    "not": {
        "type": "string",
        "pattern": f"[@.]({'|'.join(_any_case(name) for name in sorted(SPECIAL_USE_DOMAIN_NAMES))})$",
    }
}
#: An email address a route takes: what `EmailStr` accepts, at most 254 characters (RFC 5321).
Email = Annotated[EmailStr, Field(max_length=254, json_schema_extra=EMAIL_SCHEMA)]


#: RFC 3339 `date-time`, what the OpenAPI `format: date-time` means: date, `T`, time with
#: seconds, and an offset. Pydantic alone would also take `2026-04-01`, `10:00` without
#: seconds, or a bare number as a Unix time, all of which the document says are invalid.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339_text(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return value
    raise ValueError("expected an RFC 3339 date-time with an offset, e.g. 2026-04-01T10:00:00+09:00")


#: A moment a client sends (body field or query parameter): RFC 3339 text with an offset only.
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]


_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _full_date_text(value: object) -> object:
    if isinstance(value, date) or (isinstance(value, str) and _FULL_DATE.fullmatch(value)):
        return value
    raise ValueError("expected a date as YYYY-MM-DD")


#: A day a client sends (`format: date`): `YYYY-MM-DD` only; pydantic alone takes `0` as 1970-01-01.
IsoDate = Annotated[date, BeforeValidator(_full_date_text)]


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


#: A moment the API answers with. SQLite hands datetimes back naive (every one stored is UTC);
#: this gives them their offset, so the JSON is a `date-time` (`…Z`/`+00:00`), never naive.
UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]

#: The pydantic error type of a rule between fields (`ends_at` after `starts_at`, a limit not
#: above the supply), which JSON Schema cannot state. Raise `cross_field("...")` from a model
#: validator: the OpenAPI contract test accepts a 422 made only of these for a valid request.
CROSS_FIELD = "cross_field"


def cross_field(message: str) -> PydanticCustomError:
    return PydanticCustomError(CROSS_FIELD, message)


def card_recipient(value: str) -> str:
    """An address a card may be sent to, checksummed; a `ValueError` names what is wrong.

    The zero address is refused here: minting to it reverts the whole batch on chain, so an
    order naming it would fail every other buyer's card in the same transaction."""
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        raise ValueError("not an Ethereum address (0x followed by 40 hex digits)")
    digits = value[2:]
    if digits not in (digits.lower(), digits.upper()) and not Web3.is_checksum_address(value):
        raise ValueError("mixed-case address with a wrong checksum (mistyped?)")
    if int(value, 16) == 0:
        raise ValueError("the zero address cannot hold a card")
    return Web3.to_checksum_address(value)


PREFECTURE_PATTERN = r"^(0[0-9]|[1-3][0-9]|4[0-7])$"


class Health(BaseModel):
    status: str
    chain_id: int | None
    block: int | None
    contracts: dict[str, str]
    db: str


def whole_number(value: object) -> object:
    """What JSON Schema's `integer` is: a number with no fraction (`10` or `10.0`), never a
    string (`"10"`) or a boolean, which pydantic's lax mode would take."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("a whole number")
        return int(value)
    return value
