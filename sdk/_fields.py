"""Field rules shared by the schemas: text, ids, codes, decimals, parties and goods lines.

Each ``check_*`` raises SchemaError naming the field (its dotted snake_case path) when the
value breaks the rule. They are part of the ledger's rules: deterministic, no clock, no locale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from tdx.v1 import documents_pb2 as pb

from ._errors import SchemaError

MEMBER_ID_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
MAX_TEXT = 512
MAX_ITEMS = 999

_UCR = re.compile(r"[A-Z0-9][A-Z0-9\-/.:]{3,34}")
_HS = re.compile(r"[0-9]{6,10}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DOC_ID = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"-?[0-9]{1,24}(\.[0-9]{1,8})?")


def check_text(field: str, value: str, *, required: bool = True, limit: int = MAX_TEXT) -> None:
    """Refuse a blank required text, or one longer than ``limit`` characters."""
    if required and not value.strip():
        raise SchemaError(field, "is required")
    if len(value) > limit:
        raise SchemaError(field, f"is longer than {limit} characters")


def check_member_id(field: str, value: str) -> None:
    """Refuse anything but a member id: 1-64 ASCII letters, digits, '-', '_', '.'."""
    if not MEMBER_ID_PATTERN.fullmatch(value):
        raise SchemaError(field, "must be a member id (1-64 letters, digits, '-', '_', '.')")


def check_ucr(field: str, value: str) -> None:
    """Refuse anything but a UCR: 4-35 upper-case letters, digits, - / . :."""
    if not _UCR.fullmatch(value):
        raise SchemaError(field, "must be a UCR: 4-35 upper-case letters, digits, - / . :")


def check_country(field: str, value: str, *, required: bool = True) -> None:
    """Refuse anything but an ISO 3166-1 alpha-2 code (an empty optional one passes)."""
    if not value and not required:
        return
    if not _COUNTRY.fullmatch(value):
        raise SchemaError(field, "must be an ISO 3166-1 alpha-2 code, for example DE")


def check_hs(field: str, value: str) -> None:
    """Refuse anything but an HS code of 6 to 10 digits."""
    if not _HS.fullmatch(value):
        raise SchemaError(field, "must be an HS code of 6 to 10 digits")


def check_doc_id(field: str, value: str) -> None:
    """Refuse anything but a document id (64 lower-case hex digits)."""
    if not _DOC_ID.fullmatch(value):
        raise SchemaError(field, "must be a document id (64 lower-case hex digits)")


def decimal_of(field: str, value: str, *, positive: bool = False) -> Decimal:
    """Parse a plain ASCII decimal string ("1250.00", "-4.5"), raising SchemaError naming
    the field. No spaces, exponents, underscores or non-ASCII digits: other systems read
    these values too."""
    if not _DECIMAL.fullmatch(value):
        raise SchemaError(field, f"must be a plain decimal number like 1250.00, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise SchemaError(field, f"must be a decimal number, got {value!r}") from None
    if positive and number <= 0:
        raise SchemaError(field, "must be greater than zero")
    return number


def check_amount(field: str, amount: pb.Amount, *, required: bool) -> None:
    """Refuse a money amount that is not a decimal with an ISO 4217 currency."""
    if not amount.value and not amount.currency_code:
        if required:
            raise SchemaError(field, "is required")
        return
    decimal_of(f"{field}.value", amount.value)
    if not _CURRENCY.fullmatch(amount.currency_code):
        raise SchemaError(f"{field}.currency_code", "must be an ISO 4217 code, for example EUR")


def check_party(field: str, party: pb.Party, *, required: bool) -> None:
    """Refuse a party without a name, or with an over-long id or a bad country."""
    if not party.name and not party.id:
        if required:
            raise SchemaError(field, "is required")
        return
    check_text(f"{field}.name", party.name)
    check_text(f"{field}.id", party.id, required=False, limit=64)
    check_country(f"{field}.country_code", party.country_code, required=False)
    check_text(f"{field}.address", party.address, required=False)


def check_items(field: str, items: Iterable[pb.GoodsItem], *,
                origin_criterion: bool = False) -> None:
    """Refuse goods lines that are missing, repeat a line number, or break a field rule."""
    seen: set[int] = set()
    count = 0
    for i, item in enumerate(items):
        count += 1
        at = f"{field}[{i}]"
        if item.sequence_numeric == 0:
            raise SchemaError(f"{at}.sequence_numeric", "must be 1 or more")
        if item.sequence_numeric in seen:
            raise SchemaError(f"{at}.sequence_numeric", "repeats an earlier line")
        seen.add(item.sequence_numeric)
        check_text(f"{at}.description", item.description)
        check_hs(f"{at}.hs_code", item.hs_code)
        check_country(f"{at}.origin_country_code", item.origin_country_code, required=False)
        if item.quantity:
            decimal_of(f"{at}.quantity", item.quantity, positive=True)
            check_text(f"{at}.quantity_unit_code", item.quantity_unit_code, limit=3)
        if item.net_mass_kg:
            decimal_of(f"{at}.net_mass_kg", item.net_mass_kg, positive=True)
        check_amount(f"{at}.customs_value", item.customs_value, required=False)
        if origin_criterion:
            check_text(f"{at}.origin_criterion", item.origin_criterion, limit=16)
            if not item.quantity:
                raise SchemaError(f"{at}.quantity", "is required on a certificate line")
            check_country(f"{at}.origin_country_code", item.origin_country_code)
    if count == 0:
        raise SchemaError(field, "needs at least one goods line")
    if count > MAX_ITEMS:
        raise SchemaError(field, f"at most {MAX_ITEMS} lines")
