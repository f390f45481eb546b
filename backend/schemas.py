"""Pydantic schemas of the HTTP contract, named by role (`…Public`, `…Page`)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from web3 import Web3

#: The largest numbers a row can be named by: `drops.id` is a 32-bit column on PostgreSQL and
#: token ids are 64-bit. A larger number names nothing, so it is refused as invalid input (422)
#: instead of overflowing in the database driver (a 500).
MAX_ROW_ID = 2**31 - 1
MAX_TOKEN_ID = 2**63 - 1


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


class Health(BaseModel):
    status: str
    chain_id: int | None
    block: int | None
    contracts: dict[str, str]
    db: str


class MunicipalityPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name_ja: str
    name_en: str
    prefecture: str
    description_ja: str
    description_en: str


class MunicipalitiesPage(BaseModel):
    items: list[MunicipalityPublic]
    total: int
    limit: int
    offset: int


PREFECTURE_PATTERN = r"^(0[0-9]|[1-3][0-9]|4[0-7])$"


class DropPublic(BaseModel):
    id: int
    kind: str
    municipality: str
    title_ja: str
    title_en: str
    description_ja: str
    description_en: str
    price_jpy: int
    supply: int
    #: Cards taken: paid for, or held by an order that is still awaiting payment.
    sold: int
    remaining: int
    per_buyer_limit: int
    payment_methods: list[str]
    starts_at: datetime
    ends_at: datetime | None
    #: "upcoming", "on_sale", "sold_out" or "ended".
    status: str
    chain_id: int
    contract: str


class DropsPage(BaseModel):
    items: list[DropPublic]
    total: int
    limit: int
    offset: int


class OrderCreate(BaseModel):
    """What a buyer may send. Anything the server owns (status, price, token ids) is refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    drop_id: int = Field(ge=1, le=MAX_ROW_ID)
    quantity: int = Field(ge=1, le=100)
    email: EmailStr = Field(max_length=254)
    prefecture: str = Field(pattern=PREFECTURE_PATTERN, description='JIS X 0401 code "01"…"47", or "00" abroad')
    wallet_address: str | None = Field(default=None, description="0x address, checksummed or all lower case")
    campaign_code: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    payment_method: Literal["demo", "card", "wallet"]

    @field_validator("wallet_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None or value == "" else card_recipient(value)


class OrderCreated(BaseModel):
    order_id: str
    status: str
    #: Shown once: the bearer token that reads this order. Keep it; it is not stored.
    order_token: str
    drop_id: int
    quantity: int
    amount_jpy: int
    payment_method: str
    expires_at: datetime
    checkout_url: str | None = None
    #: `wallet` orders: the first voucher, and all of them (one per card).
    voucher: dict[str, Any] | None = None
    vouchers: list[dict[str, Any]] | None = None


class OrderPublic(BaseModel):
    order_id: str
    status: str
    drop_id: int
    quantity: int
    amount_jpy: int
    payment_method: str
    prefecture: str
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    token_ids: list[int]
    chain_id: int | None = None
    contract: str | None = None
    tx_hash: str | None = None
    owner: str | None = None
    checkout_url: str | None = None
    voucher: dict[str, Any] | None = None
    vouchers: list[dict[str, Any]] | None = None
    failure: str | None = None
