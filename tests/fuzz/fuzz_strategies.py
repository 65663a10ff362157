"""Hypothesis strategies for wire fuzzing: any protobuf message with random field values,
byte-level mutations of valid encodings, and envelopes mutated from valid ones.

Integers favour the edges an attacker tries (0, 2**31, 2**62, 2**63-1, 2**64-1 ...) next to
small values, which hit the live terms and heights of a young network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from hypothesis import strategies as st
from tdx.sdk import ENVELOPE_DOMAIN, Identity, documents_pb2

F = FieldDescriptor
EDGES = [0, 1, 2, 3, 2**31 - 1, 2**31, 2**32, 2**53, 2**62 - 1, 2**62, 2**63 - 1, 2**63,
         2**64 - 1, -1, -(2**31), -(2**63)]
MAX_DEPTH = 3
SIGNED = {F.TYPE_INT64: 64, F.TYPE_SINT64: 64, F.TYPE_SFIXED64: 64, F.TYPE_INT32: 32,
          F.TYPE_SINT32: 32, F.TYPE_SFIXED32: 32}
UNSIGNED = {F.TYPE_UINT64: 64, F.TYPE_FIXED64: 64, F.TYPE_UINT32: 32, F.TYPE_FIXED32: 32}


def integers(bits: int, signed: bool, near: Sequence[int] = ()) -> st.SearchStrategy[int]:
    """Integers of a protobuf type: edges, small values, values ``near`` the live ones,
    anything in range."""
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    edges = sorted({v for v in (*EDGES, low, high, *near) if low <= v <= high})
    return st.one_of(st.sampled_from(edges), st.integers(0, 40), st.integers(low, high))


def _scalar(field: FieldDescriptor, near: Sequence[int]) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind in SIGNED:
        return integers(SIGNED[kind], True, near)
    if kind in UNSIGNED:
        return integers(UNSIGNED[kind], False, near)
    if kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind == F.TYPE_STRING:
        return st.text(max_size=24)
    if kind == F.TYPE_BYTES:
        return st.binary(max_size=48)
    if kind == F.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(0, 64))
    raise TypeError(f"no strategy for field type {kind}")


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, near: Sequence[int] = (),
             depth: int = 0) -> Message:
    """A message of ``descriptor``'s type whose fields are each set or not, at random."""
    out: Message = message_factory.GetMessageClass(descriptor)()
    for field in descriptor.fields:
        nested = field.message_type
        if nested is not None and depth >= MAX_DEPTH:
            continue
        if not draw(st.booleans()):
            continue
        target = getattr(out, field.name)
        if nested is not None and nested.GetOptions().map_entry:
            key_field, value_field = nested.fields_by_name["key"], nested.fields_by_name["value"]
            for _ in range(draw(st.integers(0, 3))):
                key = draw(_scalar(key_field, near))
                if value_field.message_type is not None:
                    target[key].CopyFrom(draw(messages(value_field.message_type, near,
                                                       depth + 1)))
                else:
                    target[key] = draw(_scalar(value_field, near))
        elif field.is_repeated:
            for _ in range(draw(st.integers(0, 3))):
                if nested is not None:
                    target.add().CopyFrom(draw(messages(nested, near, depth + 1)))
                else:
                    target.append(draw(_scalar(field, near)))
        elif nested is not None:
            target.CopyFrom(draw(messages(nested, near, depth + 1)))
        else:
            setattr(out, field.name, draw(_scalar(field, near)))
    return out


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@st.composite
def mutated(draw: st.DrawFn, raw: bytes) -> bytes:
    """``raw`` after one to four random edits: bit flips, cuts, insertions, truncation, an
    appended unknown field."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["flip", "cut", "insert", "truncate", "unknown"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if edit == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut" and data:
            del data[at:at + draw(st.integers(1, 8))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "truncate":
            del data[at:]
        else:
            data += draw(unknown_field())
    return bytes(data)


@st.composite
def unknown_field(draw: st.DrawFn) -> bytes:
    """The encoding of one field with a number no tdx message uses (a varint or bytes)."""
    number = draw(st.one_of(st.integers(100, 2000), st.integers(100, 2**29 - 1)))
    if draw(st.booleans()):
        return _varint(number << 3) + _varint(draw(st.integers(0, 2**64 - 1)))
    payload = draw(st.binary(max_size=16))
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def parses(cls: type[Message], raw: bytes) -> bool:
    """Whether ``raw`` decodes as a ``cls``."""
    try:
        cls.FromString(raw)
    except (DecodeError, RecursionError):
        return False
    return True


def reseal(identity: Identity, body: bytes) -> documents_pb2.Envelope:
    """An envelope over exactly ``body``, validly signed by ``identity``."""
    return documents_pb2.Envelope(body=body, signer=identity.public_key,
                                  signature=identity.sign(ENVELOPE_DOMAIN, body))


@st.composite
def tweaked(draw: st.DrawFn, original: Message, near: Sequence[int] = (),
            depth: int = 0) -> Message:
    """A copy of ``original`` with some of its set fields (nested ones too) given random
    values, and now and then a field it did not set: close enough to valid to reach deep
    checks."""
    out = type(original)()
    out.CopyFrom(original)
    for field, value in original.ListFields():
        if draw(st.integers(0, 2)) != 0:
            continue
        nested = field.message_type
        target = getattr(out, field.name)
        if nested is not None and nested.GetOptions().map_entry:
            target.clear()
        elif field.is_repeated and nested is not None:
            if value and depth < MAX_DEPTH and draw(st.booleans()):
                at = draw(st.integers(0, len(value) - 1))
                target[at].CopyFrom(draw(tweaked(value[at], near, depth + 1)))
            else:
                target.add().CopyFrom(draw(messages(nested, near, depth + 1)))
        elif field.is_repeated:
            target.append(draw(_scalar(field, near)))
        elif nested is not None:
            if depth < MAX_DEPTH:
                target.CopyFrom(draw(tweaked(value, near, depth + 1)))
        else:
            setattr(out, field.name, draw(_scalar(field, near)))
    if draw(st.integers(0, 4)) == 0:
        out.MergeFrom(draw(messages(original.DESCRIPTOR, near, MAX_DEPTH - 1)))
    return out


# Keys a forger tries: zeros, the identity point (small order), all ones, and random.
ODD_KEYS = [bytes(32), b"\x01" + bytes(31), b"\xff" * 32, b"\x00" * 31]
Seed = tuple[documents_pb2.Envelope, Identity]


@st.composite
def envelopes(draw: st.DrawFn, seeds: Sequence[Seed], members: Sequence[Identity],
              resign: bool = True) -> documents_pb2.Envelope:
    """An envelope derived from a valid one (``seeds``: an envelope and its issuer):
    unsigned edits of its body, signature or key; its body with bytes edited, an unknown
    field appended, or random field values, signed again by its issuer (or another
    member); or an envelope of random fields. Without ``resign``, no envelope carries a
    valid signature."""
    base, issuer = draw(st.sampled_from(list(seeds)))
    signed_again = ["bytes", "unknown", "fields", "fields"] if resign else []
    how = draw(st.sampled_from(["body", "signature", "signer", "random", *signed_again]))
    if how in ("body", "signature", "signer"):
        made = documents_pb2.Envelope()
        made.CopyFrom(base)
        if how == "body":
            made.body = draw(mutated(base.body))
        elif how == "signature":
            made.signature = draw(mutated(base.signature))
        else:
            made.signer = draw(st.one_of(
                st.sampled_from(ODD_KEYS), st.binary(min_size=32, max_size=32),
                st.sampled_from([m.public_key for m in members if m is not issuer])))
        if made == base:  # the edits cancelled out: this must not be the valid original
            made.signature = bytes([made.signature[0] ^ 1]) + made.signature[1:]
        return made
    if how == "random":
        made = draw(messages(documents_pb2.Envelope.DESCRIPTOR))
        assert isinstance(made, documents_pb2.Envelope)
        return made
    signer = draw(st.one_of(st.just(issuer), st.sampled_from(list(members))))
    body = documents_pb2.DocumentBody.FromString(base.body)
    # A fresh nonce, so that an edit that changes nothing is no replay of the seed.
    body.nonce = draw(st.binary(min_size=16, max_size=16))
    if how == "bytes":
        return reseal(signer, draw(mutated(body.SerializeToString(deterministic=True))))
    if how == "unknown":
        raw = body.SerializeToString(deterministic=True)
        return reseal(signer, raw + draw(unknown_field()))
    return reseal(signer, draw(tweaked(body)).SerializeToString(deterministic=True))
