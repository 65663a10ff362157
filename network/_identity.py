"""A member's Ed25519 key as a libp2p identity: the peer id is derived from the member key."""

from __future__ import annotations

from libp2p.crypto.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from libp2p.crypto.keys import KeyPair, KeyType
from libp2p.peer.id import ID
from tdx.sdk import is_acceptable_public_key

SEED_SIZE = 32


def key_pair_of(seed: bytes) -> KeyPair:
    """Return the libp2p key pair of the member whose Ed25519 seed is ``seed``."""
    if len(seed) != SEED_SIZE:
        raise ValueError("an Ed25519 seed is 32 bytes")
    private = Ed25519PrivateKey.new(seed)
    return KeyPair(private, private.get_public_key())


def peer_id_of(public_key: bytes) -> str:
    """Return the libp2p peer id (base58, ``12D3Koo…``) of a member's Ed25519 public key.

    An Ed25519 peer id embeds the key itself, so ``public_key_of`` inverts this.
    """
    return _peer_id(public_key).to_base58()


def public_key_of(peer_id: str) -> bytes:
    """Return the Ed25519 public key inside an Ed25519 peer id; ``ValueError`` for others."""
    try:
        parsed = ID.from_base58(peer_id)
    except Exception as error:  # base58 and multihash errors have no common base
        raise ValueError(f"{peer_id!r} is not a peer id") from error
    key = public_key_of_id(parsed)
    if key is None:
        raise ValueError(f"{peer_id!r} does not carry an Ed25519 key")
    return key


def public_key_of_id(peer_id: ID) -> bytes | None:
    """Return the Ed25519 key inside ``peer_id``, or ``None`` if it carries none."""
    try:
        key = peer_id.extract_public_key()
    except Exception:  # a malformed identity multihash
        return None
    if key is None or key.get_type() != KeyType.Ed25519:
        return None
    raw = key.to_bytes()
    return raw if len(raw) == SEED_SIZE else None


def _peer_id(public_key: bytes) -> ID:
    if not is_acceptable_public_key(public_key):
        raise ValueError("not an acceptable Ed25519 public key (32 bytes, canonical point)")
    return ID.from_pubkey(Ed25519PublicKey.from_bytes(public_key))
