"""Envelopes: signing a DocumentBody, verifying it over its exact bytes, document ids."""

from __future__ import annotations

import os
import time

from google.protobuf.message import DecodeError
from tdx.v1 import documents_pb2 as pb

from ._crypto import ENVELOPE_DOMAIN, PUBLIC_KEY_SIZE, SIGNATURE_SIZE, sha256, verify
from ._errors import DocumentError, SignatureError
from ._identity import Identity

NONCE_SIZE = 16


def document_id(body: bytes) -> str:
    """Return a document's id: hex SHA-256 of its serialized body."""
    return sha256(body).hex()


def seal(identity: Identity, body: pb.DocumentBody) -> pb.Envelope:
    """Sign ``body`` as ``identity`` and return the envelope.

    Fills the issuer, the creation time and a random nonce when they are unset, so that
    two otherwise equal documents get different ids.
    """
    if not body.issuer:
        body.issuer = identity.member_id
    if not body.created_ms:
        body.created_ms = int(time.time() * 1000)
    if not body.nonce:
        body.nonce = os.urandom(NONCE_SIZE)
    raw = body.SerializeToString(deterministic=True)
    return pb.Envelope(
        body=raw, signer=identity.public_key, signature=identity.sign(ENVELOPE_DOMAIN, raw)
    )


def open_envelope(envelope: pb.Envelope, *, key_checked: bool = False) -> pb.DocumentBody:
    """Verify an envelope's signature over its exact body bytes and decode the body.

    Raises SignatureError when the key or signature is malformed or does not verify, and
    DocumentError when the body bytes are not a DocumentBody. It does not check membership
    or schema. ``key_checked`` skips the public-key point check (see ``verify``).
    """
    if len(envelope.signer) != PUBLIC_KEY_SIZE:
        raise SignatureError(f"signer must be a {PUBLIC_KEY_SIZE}-byte Ed25519 public key")
    if len(envelope.signature) != SIGNATURE_SIZE:
        raise SignatureError(f"signature must be {SIGNATURE_SIZE} bytes")
    if not verify(envelope.signer, ENVELOPE_DOMAIN, envelope.body, envelope.signature,
                  key_checked=key_checked):
        raise SignatureError("signature does not verify over the body")
    return decode_body(envelope.body)


def decode_body(raw: bytes) -> pb.DocumentBody:
    """Decode body bytes, raising DocumentError when they are not a DocumentBody."""
    body = pb.DocumentBody()
    try:
        body.ParseFromString(raw)
    except DecodeError:
        raise DocumentError("body: not a valid DocumentBody") from None
    return body
