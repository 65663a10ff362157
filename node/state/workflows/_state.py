"""What the customs workflows share: typed state records, refusals, decimals, notices.

State values are protobuf messages (``tdx.v1.state_pb2``) serialized deterministically, so
that every node writes the same bytes. Quantities and temperatures are decimal strings and
are computed with ``Decimal`` in a fixed, wide context: never floats.
"""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from google.protobuf.message import Message
from tdx.node.state.rules import Refusal
from tdx.node.state.store import Prefix, WriteBatch

M = TypeVar("M", bound=Message)

# Wide enough for the schema's decimals (24 integer and 8 fraction digits) and their sums.
_CONTEXT = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_EVEN, traps=[
    decimal.InvalidOperation, decimal.Overflow, decimal.DivisionByZero])


def state_key(*parts: str | bytes) -> bytes:
    """``state/<part0><part1>...``: text parts are UTF-8; callers put separators in parts."""
    return Prefix.STATE + b"".join(p.encode() if isinstance(p, str) else p for p in parts)


def load(batch: WriteBatch, key: bytes, message_type: type[M]) -> M | None:
    """The record stored at ``key`` (as this block sees it), or None."""
    raw = batch.get(key)
    if raw is None:
        return None
    message = message_type()
    message.ParseFromString(raw)
    return message


def save(batch: WriteBatch, key: bytes, message: Message) -> None:
    """Stage ``message`` at ``key``, serialized deterministically."""
    batch.put(key, message.SerializeToString(deterministic=True))


def refuse(code: str, message: str) -> Refusal:
    """A refusal of a document by a workflow rule (the document was well formed)."""
    return Refusal("FAILED_PRECONDITION", code, message)


def number(text: str) -> Decimal:
    """A schema-checked decimal string as a Decimal (empty is zero)."""
    return _CONTEXT.create_decimal(text or "0")


def add(a: Decimal, b: Decimal) -> Decimal:
    """``a + b`` in the workflows' exact context."""
    return _CONTEXT.add(a, b)


def subtract(a: Decimal, b: Decimal) -> Decimal:
    """``a - b`` in the workflows' exact context."""
    return _CONTEXT.subtract(a, b)


def text(value: Decimal) -> str:
    """A Decimal as a plain decimal string without exponent or trailing zeros ("12.5")."""
    if value == 0:
        return "0"
    plain = format(value, "f")
    if "." in plain:
        plain = plain.rstrip("0").rstrip(".")
    return plain


def short(document_id: str) -> str:
    """The first 12 hex digits of a document id, for messages people read."""
    return document_id[:12]


def when(ms: int) -> str:
    """A Unix-milliseconds time as UTC text; deterministic (no local zone)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
