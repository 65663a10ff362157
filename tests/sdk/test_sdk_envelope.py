"""Envelopes: sealing, verification over the exact body bytes, small-order keys, ids."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sdk_factories import NETWORK, body_of, identity, sealed
from tdx.sdk import (
    BLOCK_DOMAIN,
    ENVELOPE_DOMAIN,
    PEER_DOMAIN,
    DocumentError,
    SignatureError,
    build,
    decode_body,
    document_id,
    documents_pb2,
    is_acceptable_public_key,
    open_envelope,
    seal,
)

# The Ed25519 identity point (0, 1): small order, and with pyca/cryptography a "signature"
# of R = identity, S = 0 verifies for every message under it.
IDENTITY_POINT = b"\x01" + b"\x00" * 31
FORGED_SIGNATURE = IDENTITY_POINT + b"\x00" * 32


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_seal_fills_issuer_time_and_nonce() -> None:
    me = identity("de-customs")
    body = build(NETWORK, "governance_vote", {"proposal_id": "ab" * 32, "approve": True})
    envelope = seal(me, body)
    opened = open_envelope(envelope)
    assert opened.issuer == "de-customs"
    assert opened.created_ms > 1_700_000_000_000
    assert len(opened.nonce) == 16
    assert envelope.signer == me.public_key


def test_seal_keeps_given_issuer_time_and_nonce() -> None:
    body = body_of("invoice", nonce=9)
    opened = open_envelope(seal(identity("acme-trader"), body))
    assert opened.issuer == "acme-trader"
    assert opened.created_ms == body.created_ms
    assert opened.nonce == (9).to_bytes(16, "big")


def test_two_seals_of_equal_bodies_differ_in_id() -> None:
    me = identity("de-customs")
    content = {"proposal_id": "ab" * 32, "approve": True}
    a = seal(me, build(NETWORK, "governance_vote", content))
    b = seal(me, build(NETWORK, "governance_vote", content))
    assert document_id(a.body) != document_id(b.body)


def test_sealing_is_deterministic_given_time_and_nonce() -> None:
    assert sealed("invoice", 3) == sealed("invoice", 3)


def test_document_id_is_sha256_hex_of_body() -> None:
    envelope = sealed("invoice")
    assert document_id(envelope.body) == hashlib.sha256(envelope.body).hexdigest()
    assert document_id(b"") == hashlib.sha256(b"").hexdigest()


def test_open_envelope_returns_the_signed_body() -> None:
    body = body_of("export_declaration")
    envelope = seal(identity("de-customs"), body)
    assert open_envelope(envelope) == body


def test_open_envelope_verifies_exact_bytes_not_a_reserialization() -> None:
    """A body whose fields are in a non-canonical order verifies as signed; its canonical
    re-serialization is other bytes that the signature does not cover."""
    me = identity("de-customs")
    body = body_of("export_declaration")
    tail = documents_pb2.DocumentBody(network=body.network)
    body.ClearField("network")
    raw = body.SerializeToString(deterministic=True) + tail.SerializeToString()
    envelope = documents_pb2.Envelope(body=raw, signer=me.public_key,
                                      signature=me.sign(ENVELOPE_DOMAIN, raw))
    opened = open_envelope(envelope)
    assert opened.network == NETWORK
    canonical = opened.SerializeToString(deterministic=True)
    assert canonical != raw
    with pytest.raises(SignatureError):
        open_envelope(documents_pb2.Envelope(body=canonical, signer=me.public_key,
                                             signature=envelope.signature))
    assert document_id(envelope.body) == hashlib.sha256(raw).hexdigest()


@settings(max_examples=60, deadline=None)
@given(part=st.sampled_from(["body", "signer", "signature"]), data=st.data())
def test_any_flipped_bit_is_refused(part: str, data: st.DataObject) -> None:
    envelope = sealed("invoice")
    value = getattr(envelope, part)
    bit = data.draw(st.integers(0, len(value) * 8 - 1), label="bit")
    tampered = documents_pb2.Envelope()
    tampered.CopyFrom(envelope)
    setattr(tampered, part, _flip(value, bit))
    with pytest.raises(SignatureError):
        open_envelope(tampered)


def test_every_bit_of_the_signature_matters() -> None:
    envelope = sealed("invoice")
    for bit in range(64 * 8):
        tampered = documents_pb2.Envelope(body=envelope.body, signer=envelope.signer,
                                          signature=_flip(envelope.signature, bit))
        with pytest.raises(SignatureError):
            open_envelope(tampered)


@pytest.mark.parametrize("domain", [BLOCK_DOMAIN, PEER_DOMAIN, b"", b"tdx.v1.envelope"])
def test_signature_under_another_domain_is_refused(domain: bytes) -> None:
    me = identity("de-customs")
    raw = body_of("export_declaration").SerializeToString()
    envelope = documents_pb2.Envelope(body=raw, signer=me.public_key,
                                      signature=me.sign(domain, raw))
    with pytest.raises(SignatureError, match="does not verify"):
        open_envelope(envelope)


def test_signature_by_another_key_is_refused() -> None:
    envelope = sealed("invoice")
    envelope.signer = identity("de-customs").public_key
    with pytest.raises(SignatureError):
        open_envelope(envelope)


@pytest.mark.parametrize(
    ("signer", "signature", "message"),
    [
        (b"", b"\x00" * 64, "signer must be"),
        (b"\x01" * 31, b"\x00" * 64, "signer must be"),
        (b"\x01" * 33, b"\x00" * 64, "signer must be"),
        (None, b"", "signature must be"),
        (None, b"\x00" * 63, "signature must be"),
        (None, b"\x00" * 65, "signature must be"),
    ],
)
def test_malformed_key_or_signature_sizes(
    signer: bytes | None, signature: bytes, message: str
) -> None:
    envelope = sealed("invoice")
    if signer is not None:
        envelope.signer = signer
    envelope.signature = signature
    with pytest.raises(SignatureError, match=message):
        open_envelope(envelope)


def test_small_order_identity_key_is_not_acceptable() -> None:
    assert not is_acceptable_public_key(IDENTITY_POINT)
    assert not is_acceptable_public_key(b"\x00" * 32)
    assert not is_acceptable_public_key(b"\x01" * 31)
    assert is_acceptable_public_key(identity("de-customs").public_key)


def test_small_order_key_with_forged_signature_is_refused() -> None:
    """R = identity point, S = 0 'verifies' any message under the identity key in lax
    verifiers; open_envelope must refuse it."""
    raw = body_of("invoice").SerializeToString()
    envelope = documents_pb2.Envelope(body=raw, signer=IDENTITY_POINT,
                                      signature=FORGED_SIGNATURE)
    with pytest.raises(SignatureError):
        open_envelope(envelope)


def test_non_canonical_key_is_not_acceptable() -> None:
    # y = p (2^255 - 19) encoded without reduction: a non-canonical encoding of y = 0.
    p = 2**255 - 19
    assert not is_acceptable_public_key(p.to_bytes(32, "little"))


def test_body_that_is_not_a_document_body_is_a_document_error() -> None:
    me = identity("de-customs")
    raw = b"\xff\xff\xff"
    envelope = documents_pb2.Envelope(body=raw, signer=me.public_key,
                                      signature=me.sign(ENVELOPE_DOMAIN, raw))
    with pytest.raises(DocumentError, match="not a valid DocumentBody") as caught:
        open_envelope(envelope)
    assert not isinstance(caught.value, SignatureError)
    with pytest.raises(DocumentError):
        decode_body(raw)
