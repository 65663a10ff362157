"""Ed25519 signing and verification with domain separation, and hashing.

Every signature in tdx is over ``tag || message`` where ``tag`` is an ASCII domain name and
a zero byte, so that a signature made for one purpose (an envelope) can never be replayed
as another (a block or a peer batch).
"""

from __future__ import annotations

import hashlib

import nacl.bindings
import nacl.exceptions
import nacl.signing

ENVELOPE_DOMAIN = b"tdx.v1.envelope\x00"
BLOCK_DOMAIN = b"tdx.v1.block\x00"
PEER_DOMAIN = b"tdx.v1.peer\x00"
VOTE_DOMAIN = b"tdx.v1.vote\x00"
KEY_ROTATION_DOMAIN = b"tdx.v1.key-rotation\x00"

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def sha256(data: bytes) -> bytes:
    """Return SHA-256 of ``data``."""
    return hashlib.sha256(data).digest()


def sign(signing_key: nacl.signing.SigningKey, domain: bytes, message: bytes) -> bytes:
    """Return the 64-byte Ed25519 signature of ``domain || message``."""
    return bytes(signing_key.sign(domain + message).signature)


def verify(public_key: bytes, domain: bytes, message: bytes, signature: bytes, *,
           key_checked: bool = False) -> bool:
    """Return whether ``signature`` by ``public_key`` is valid over ``domain || message``.

    Keys of the wrong size, small-order keys and non-canonical encodings are refused. The
    point check costs about as much as the signature check; ``key_checked=True`` skips it
    for a key the caller already checked (a member's key, checked when it was admitted).
    """
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    if not key_checked and not is_acceptable_public_key(public_key):
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(domain + message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def is_acceptable_public_key(public_key: bytes) -> bool:
    """Return whether ``public_key`` is a canonical Ed25519 point outside the small-order set.

    libsodium's ``crypto_core_ed25519_is_valid_point`` refuses small-order points and
    non-canonical encodings, which is what a member's key must never be.
    """
    if len(public_key) != PUBLIC_KEY_SIZE:
        return False
    return bool(nacl.bindings.crypto_core_ed25519_is_valid_point(public_key))
