"""Sales' request and response models: drops and orders."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from backend.core.schemas import (
    ADDRESS_FORMAT,
    ADDRESS_PATTERN,
    MAX_ROW_ID,
    NOT_ZERO_ADDRESS,
    PREFECTURE_PATTERN,
    Email,
    card_recipient,
)


class DropPublic(BaseModel):
    id: int
    kind: str
    #: "first_come", or "lottery" (applications open later: it cannot be ordered directly).
    sale_mode: str
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
    #: "upcoming", "on_sale", "sold_out", "ended", or "paused" (the town stopped orders for now).
    status: str
    chain_id: int
    contract: str


class DropsPage(BaseModel):
    items: list[DropPublic]
    total: int
    limit: int
    offset: int


#: `wallet` orders name the wallet paying (400 `wallet_address_required` otherwise): stated
#: in the schema too, so that no request the schema allows is refused for a missing field.
_WALLET_NEEDS_ADDRESS: JsonDict = {
    "if": {"properties": {"payment_method": {"const": "wallet"}}, "required": ["payment_method"]},
    "then": {"required": ["wallet_address"], "properties": {"wallet_address": {"type": "string", "minLength": 1}}},
}
#: One card of the demo town's first drop, paid with the demo provider (`make run`).
_ORDER_EXAMPLE: JsonDict = {
    "drop_id": 1,
    "quantity": 1,
    "email": "supporter@example.jp",
    "prefecture": "27",
    "payment_method": "demo",
}


class OrderCreate(BaseModel):
    """What a buyer may send. Anything the server owns (status, price, token ids) is refused."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={**_WALLET_NEEDS_ADDRESS, "examples": [_ORDER_EXAMPLE]},
    )

    drop_id: int = Field(ge=1, le=MAX_ROW_ID)
    quantity: int = Field(ge=1, le=100)
    email: Email
    prefecture: str = Field(pattern=PREFECTURE_PATTERN, description='JIS X 0401 code "01"…"47", or "00" abroad')
    wallet_address: str | None = Field(
        default=None,
        description="0x address, checksummed or all lower case; empty or null for none",
        json_schema_extra={
            "pattern": f"^({ADDRESS_PATTERN[1:-1]})?$",
            "format": ADDRESS_FORMAT,
            "not": NOT_ZERO_ADDRESS,
        },
    )
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
