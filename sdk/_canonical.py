"""Canonical document bodies: one encoding per document, so one id per document.

A document's id is the hash of its body bytes, and protobuf can write the same content in
many ways (fields in another order, a default value written out, a repeated number not
packed, fields this version does not know). A body is canonical when it decodes to a
message with no unknown fields and no unknown enum values, and the message's deterministic
serialization gives back exactly its bytes. ``check_canonical`` refuses anything else, so
that nobody can give a second id to someone's document by re-encoding it, nor smuggle data
the schema never checked onto the ledger.
"""

from __future__ import annotations

from google.protobuf.message import Message
from google.protobuf.unknown_fields import (  # type: ignore[import-not-found]  # no stub
    UnknownFieldSet,
)

from ._errors import SchemaError


def check_canonical(raw: bytes, body: Message) -> None:
    """Refuse body bytes that are not the canonical encoding of ``body`` (decoded from them).

    Raises SchemaError naming the first field that holds an unknown field or enum value, or
    ``body`` when only the encoding differs.
    """
    _check_known(body, "")
    if body.SerializeToString(deterministic=True) != raw:
        raise SchemaError("body", "is not in canonical protobuf encoding (fields in field-number "
                                  "order, defaults omitted, repeated numbers packed); sign the "
                                  "bytes of SerializeToString(deterministic=True)")


def _check_known(message: Message, path: str) -> None:
    unknown = UnknownFieldSet(message)
    if len(unknown):
        numbers = ", ".join(str(n) for n in sorted({f.field_number for f in unknown}))
        raise SchemaError(path or "body", f"carries unknown protobuf field number {numbers}; "
                                          "a body holds only the fields of its schema")
    for field, value in message.ListFields():
        at = f"{path}.{field.name}" if path else field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is not None:
                for key in sorted(value):
                    _check_known(value[key], f"{at}[{key}]")
            continue
        values = list(value) if field.is_repeated else [value]
        for i, item in enumerate(values):
            item_at = f"{at}[{i}]" if field.is_repeated else at
            if field.message_type is not None:
                _check_known(item, item_at)
            elif field.enum_type is not None and item not in field.enum_type.values_by_number:
                raise SchemaError(item_at, f"has unknown enum value {item}; values: "
                                           + ", ".join(field.enum_type.values_by_name))
