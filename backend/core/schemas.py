"""Field types every area validates the same way: row ids, token ids, addresses, prefectures."""

from __future__ import annotations

import re
from typing import Annotated

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import BaseModel, EmailStr, Field
from pydantic.config import JsonDict
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
NOT_ZERO_ADDRESS: JsonDict = {"pattern": "^0x0{40}$"}
ADDRESS_SCHEMA: JsonDict = {"pattern": ADDRESS_PATTERN, "format": ADDRESS_FORMAT, "not": NOT_ZERO_ADDRESS}


def _any_case(word: str) -> str:
    return "".join(f"[{letter}{letter.upper()}]" if letter.isalpha() else re.escape(letter) for letter in word)


#: email-validator (behind pydantic's `EmailStr`) refuses special-use domains (RFC 6761:
#: `.test`, `.local`, `.invalid`, …) that the `email` format allows; the schema says so.
EMAIL_SCHEMA: JsonDict = {
    "not": {"pattern": f"[@.]({'|'.join(_any_case(name) for name in sorted(SPECIAL_USE_DOMAIN_NAMES))})$"}
}
#: An email address a route takes: what `EmailStr` accepts, at most 254 characters (RFC 5321).
Email = Annotated[EmailStr, Field(max_length=254, json_schema_extra=EMAIL_SCHEMA)]


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
