"""Reading protobuf messages from JSON objects with errors in the schema's own names.

``json_format.ParseDict`` names fields in protobuf's camelCase JSON form and lists a message's
fields as ``['functionalReferenceId', ...]``; tdx documents and errors use the snake_case
names of the .proto files. ``parse_json`` checks the object against the message's descriptor
first, so a wrong field is reported as ``content.goods_items[0].hs_cod: unknown field;
fields of GoodsItem: sequence_numeric, description, hs_code, ...``, and only then converts.
Both spellings of a field name are read, as protobuf JSON allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ._errors import SchemaError

M = TypeVar("M", bound=Message)

_INTEGERS = frozenset({
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
})
_FLOATS = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})


def parse_json(field: str, value: Any, message: M) -> M:
    """Fill ``message`` from the JSON object ``value``; return it.

    Raises SchemaError naming the snake_case path (under ``field``) of the first unknown
    field or ill-typed value, and for an unknown field the fields the message has.
    """
    if not isinstance(value, Mapping):
        raise SchemaError(field, f"must be a JSON object ({message.DESCRIPTOR.name})")
    _check_object(field, value, cast(Descriptor, message.DESCRIPTOR))
    try:
        json_format.ParseDict(dict(value), message)
    except json_format.ParseError as exc:
        # The walk above catches what it can name; what is left (a bad base64 string, a number
        # out of range) keeps protobuf's words, without its camelCase field list.
        raise SchemaError(field, str(exc).split("\n")[0]) from None
    return message


def _check_object(path: str, value: Mapping[Any, Any], descriptor: Descriptor) -> None:
    by_json = {f.json_name: f for f in descriptor.fields}
    for key, item in value.items():
        at = f"{path}.{key}" if path else str(key)
        field = descriptor.fields_by_name.get(key) or by_json.get(key)
        if field is None:
            names = ", ".join(f.name for f in descriptor.fields)
            raise SchemaError(at, f"unknown field; fields of {descriptor.name}: {names}")
        at = f"{path}.{field.name}" if path else field.name
        if item is not None:
            _check_field(at, item, field)


def _check_field(at: str, value: Any, field: FieldDescriptor) -> None:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        if not isinstance(value, Mapping):
            raise SchemaError(at, "must be a JSON object")
        for key, item in value.items():
            _check_value(f"{at}[{key}]", item, entry.fields_by_name["value"])
        return
    if field.is_repeated:
        if not isinstance(value, list):
            raise SchemaError(at, "must be a JSON list")
        for i, item in enumerate(value):
            _check_value(f"{at}[{i}]", item, field)
        return
    _check_value(at, value, field)


def _check_value(at: str, value: Any, field: FieldDescriptor) -> None:
    kind = field.type
    if field.message_type is not None:
        if not isinstance(value, Mapping):
            raise SchemaError(at, f"must be a JSON object ({field.message_type.name})")
        _check_object(at, value, field.message_type)
    elif field.enum_type is not None:
        names = field.enum_type.values_by_name
        if not ((isinstance(value, str) and value in names)
                or (isinstance(value, int) and not isinstance(value, bool))):
            raise SchemaError(at, f"must be one of {', '.join(names)}, not {value!r}")
    elif kind == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            raise SchemaError(at, f"must be true or false, not {value!r}")
    elif kind in _INTEGERS:
        whole = isinstance(value, int) or (isinstance(value, str)
                                           and value.lstrip("-").isascii()
                                           and value.lstrip("-").isdigit())
        if isinstance(value, bool) or not whole:
            raise SchemaError(at, f"must be a whole number, not {value!r}")
    elif kind in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise SchemaError(at, f"must be a number, not {value!r}")
    elif not isinstance(value, str):
        what = "a base64 string" if kind == FieldDescriptor.TYPE_BYTES else "a string"
        raise SchemaError(at, f"must be {what}, not {type(value).__name__} {value!r}")
