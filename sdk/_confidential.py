"""Confidential documents: content encrypted for its recipients only.

``seal_confidential`` builds the real document (a ``DocumentBody`` of ``kind``), serializes
it, encrypts it with a fresh 32-byte content key (XSalsa20-Poly1305 secretbox) and seals that
key for each recipient with a PyNaCl ``SealedBox`` to the X25519 key derived from the
recipient's Ed25519 member key. The ledger orders, stores and proves the ``Confidential``
body like any other; no node ever holds the plaintext. ``open_confidential`` is the
recipient's side.

Public fields: the submitter may leave some fields of the content in clear
(``Confidential.public_fields``), chosen by name from ``CONFIDENTIAL_PUBLIC_FIELDS``; their
values are taken from the content, so that they cannot disagree with it, and a recipient
checks them again when it opens the document. The body's UCR and recipients are always
public. Of the kinds that may be confidential (invoice, packing list, bill of lading), the
ledger's rules read only the UCR; the public fields are there for consignment queries and
for partners that route documents without reading them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.secret
from google.protobuf.message import DecodeError, Message
from tdx.v1 import documents_pb2 as pb

from ._documents import build
from ._errors import DocumentError, SchemaError
from ._identity import Identity
from ._kinds import kind_of
from ._schema import CONFIDENTIAL_PUBLIC_FIELDS, check_body

CONTENT_KEY_SIZE = nacl.secret.SecretBox.KEY_SIZE


def _joined(values: Iterable[str]) -> str:
    return ",".join(sorted({v for v in values if v}))


_EXTRACT: dict[str, Callable[[pb.TradeDocument], str]] = {
    "functional_reference_id": lambda d: d.functional_reference_id,
    "exporter.country_code": lambda d: d.exporter.country_code,
    "importer.country_code": lambda d: d.importer.country_code,
    "carrier.id": lambda d: d.carrier.id,
    "loading_location_id": lambda d: d.loading_location_id,
    "unloading_location_id": lambda d: d.unloading_location_id,
    "invoice_amount.currency_code": lambda d: d.invoice_amount.currency_code,
    "hs_codes": lambda d: _joined(item.hs_code for item in d.goods_items),
    "origin_country_codes": lambda d: _joined(i.origin_country_code for i in d.goods_items),
}
assert all(name in _EXTRACT for names in CONFIDENTIAL_PUBLIC_FIELDS.values() for name in names)


def public_field_values(inner: pb.DocumentBody) -> dict[str, str]:
    """Every public field the content of ``inner`` offers, by name (empty ones left out)."""
    kind = kind_of(inner)
    names = CONFIDENTIAL_PUBLIC_FIELDS.get(kind, ())
    values = {name: _EXTRACT[name](inner.trade) for name in names}
    return {name: value for name, value in values.items() if value}


def x25519_public_key(ed25519_public_key: bytes) -> bytes:
    """The X25519 public key of a member's Ed25519 key (what recipients' keys are sealed to)."""
    try:
        return bytes(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(ed25519_public_key))
    except (nacl.exceptions.RuntimeError, nacl.exceptions.ValueError, ValueError) as exc:
        raise DocumentError(f"not a usable Ed25519 member key: {exc}") from None


def seal_confidential(
    identity: Identity, network: str, kind: str, content: Message | Mapping[str, Any],
    recipients: Mapping[str, bytes], public_fields: Iterable[str] = (), *, ucr: str = "",
    include_self: bool = True,
) -> pb.DocumentBody:
    """A ``confidential`` body whose content only ``recipients`` (and the issuer) can read.

    ``recipients`` maps member ids to their Ed25519 public keys (``Client.list_members``).
    ``public_fields`` names the fields of the content to leave in clear (see
    ``CONFIDENTIAL_PUBLIC_FIELDS``). With ``include_self`` the issuer is a recipient too, so
    that it can read its own document back. Seal the result with ``identity``.
    Raises SchemaError when the content or a public field is not valid.
    """
    readers = dict(recipients)
    if include_self:
        readers.setdefault(identity.member_id, identity.public_key)
    if not readers:
        raise SchemaError("recipients", "a confidential document needs at least one recipient")
    ids = sorted(readers)
    inner = build(network, kind, content, ucr=ucr, recipients=ids)
    inner.issuer = identity.member_id
    inner.created_ms = int(time.time() * 1000)
    inner.nonce = os.urandom(16)
    check_body(inner, network)
    if kind not in CONFIDENTIAL_PUBLIC_FIELDS:
        raise SchemaError("kind", f"{kind} cannot be confidential; kinds: "
                                  + ", ".join(CONFIDENTIAL_PUBLIC_FIELDS))
    offered = public_field_values(inner)
    public: dict[str, str] = {}
    for name in public_fields:
        if name not in CONFIDENTIAL_PUBLIC_FIELDS[kind]:
            raise SchemaError(f"public_fields[{name}]", f"is not a public field of {kind}; "
                              "fields: " + ", ".join(CONFIDENTIAL_PUBLIC_FIELDS[kind]))
        if name not in offered:
            raise SchemaError(f"public_fields[{name}]", "is empty in the content")
        public[name] = offered[name]
    content_key = os.urandom(CONTENT_KEY_SIZE)
    ciphertext = bytes(nacl.secret.SecretBox(content_key).encrypt(
        inner.SerializeToString(deterministic=True)))
    keys = [
        pb.SealedKey(recipient=member_id, sealed_key=bytes(nacl.public.SealedBox(
            nacl.public.PublicKey(x25519_public_key(readers[member_id]))).encrypt(content_key)))
        for member_id in ids
    ]
    sealed = pb.Confidential(kind=kind, ciphertext=ciphertext, keys=keys, public_fields=public)
    body = build(network, "confidential", sealed, ucr=ucr, recipients=ids)
    body.issuer = identity.member_id
    return body


def open_confidential(identity: Identity, body: pb.DocumentBody) -> pb.DocumentBody:
    """Decrypt a confidential body addressed to ``identity``; return the real document.

    The real document must name the same network, issuer, UCR and recipients as the
    envelope's body, be of the kind the body says, pass its schema, and agree with every
    public field. Raises DocumentError when ``identity`` is not a recipient, holds another
    key than the one the content key was sealed to (a rotated key: use the old key file),
    or any check fails.
    """
    if body.WhichOneof("content") != "confidential":
        raise DocumentError("not a confidential document")
    sealed = body.confidential
    entry = next((k for k in sealed.keys if k.recipient == identity.member_id), None)
    if entry is None:
        raise DocumentError(f"member {identity.member_id!r} is not a recipient of this "
                            "document")
    private = identity.signing_key.to_curve25519_private_key()
    try:
        content_key = nacl.public.SealedBox(private).decrypt(bytes(entry.sealed_key))
        plaintext = nacl.secret.SecretBox(content_key).decrypt(bytes(sealed.ciphertext))
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, ValueError):
        raise DocumentError(f"cannot decrypt with the key of {identity.member_id!r} (was the "
                            "document sealed to an earlier key?)") from None
    inner = pb.DocumentBody()
    try:
        inner.ParseFromString(plaintext)
    except DecodeError:
        raise DocumentError("the decrypted content is not a DocumentBody") from None
    for name in ("network", "issuer", "ucr"):
        if getattr(inner, name) != getattr(body, name):
            raise DocumentError(f"the decrypted document's {name} is "
                                f"{getattr(inner, name)!r}, the envelope's is "
                                f"{getattr(body, name)!r}")
    if sorted(inner.recipients) != sorted(body.recipients):
        raise DocumentError("the decrypted document's recipients differ from the envelope's")
    if kind_of(inner) != sealed.kind:
        raise DocumentError(f"the decrypted document is {kind_of(inner) or 'of no kind'}, "
                            f"the envelope says {sealed.kind}")
    try:
        check_body(inner, body.network)
    except SchemaError as exc:
        raise DocumentError(f"the decrypted document breaks its schema: {exc}") from None
    actual = public_field_values(inner)
    for name, value in sorted(sealed.public_fields.items()):
        if actual.get(name) != value:
            raise DocumentError(f"public field {name} says {value!r} but the content says "
                                f"{actual.get(name, '')!r}")
    return inner
