"""A member's libp2p address, checked without libp2p: peer ids and the one spelling we accept.

Every node's mesh identity is its Ed25519 member key, so its libp2p peer id is a function of
that key: base58btc of the identity multihash of the protobuf ``PublicKey {type: Ed25519,
data: key}``. A member record's ``p2p_address`` must be ``/PROTO/HOST/tcp/PORT/p2p/PEERID``
(PROTO one of ip4, ip6, dns, dns4, dns6), written the way the multiaddr library writes it
(so a record has one spelling), with a port from 1 to 65535 and the peer id of the member's
own key. The ledger's rules check records with this module, so the state machine needs no
network code; ``tests/sdk`` checks that it agrees with py-libp2p on keys and addresses.
"""

from __future__ import annotations

import ipaddress
import re

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# identity multihash (0x00, length 0x24) of PublicKey{Type: Ed25519 (1), Data: 32 bytes}
_ED25519_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
_DNS_NAME = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?")
PROTOCOLS = ("ip4", "ip6", "dns", "dns4", "dns6")


def _base58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, digit = divmod(number, 58)
        out = _ALPHABET[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def peer_id_of(public_key: bytes) -> str:
    """The libp2p peer id (``12D3KooW…``) of an Ed25519 public key."""
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return _base58(_ED25519_PREFIX + public_key)


def p2p_address(host_protocol: str, host: str, port: int, public_key: bytes) -> str:
    """``/PROTO/HOST/tcp/PORT/p2p/PEERID`` for a member's key."""
    return f"/{host_protocol}/{host}/tcp/{port}/p2p/{peer_id_of(public_key)}"


def p2p_address_problem(address: str, public_key: bytes) -> str | None:
    """Why ``address`` is not a p2p address for the member with ``public_key``, or None."""
    parts = address.split("/")
    if len(parts) != 7 or parts[0] or parts[3] != "tcp" or parts[5] != "p2p":
        return "is not of the form /PROTO/HOST/tcp/PORT/p2p/PEERID"
    protocol, host, port, peer = parts[1], parts[2], parts[4], parts[6]
    if protocol not in PROTOCOLS:
        return f"names {protocol!r}; the host must be ip4, ip6, dns, dns4 or dns6"
    if protocol in ("ip4", "ip6"):
        try:
            parsed = ipaddress.ip_address(host)
        except ValueError:
            return f"{host!r} is not an {protocol} address"
        if parsed.version != int(protocol[-1]):
            return f"{host!r} is not an {protocol} address"
        if str(parsed) != host:
            return f"must be written as {address.replace(host, str(parsed), 1)}"
    elif not _DNS_NAME.fullmatch(host):
        return f"{host!r} is not a DNS name"
    if not port.isdigit() or str(int(port)) != port or not 0 < int(port) < 65536:
        return f"port {port!r} must be a number from 1 to 65535"
    if len(public_key) == 32 and peer != peer_id_of(public_key):
        return (f"names peer {peer}, which is not the member's key; it must end in "
                f"/p2p/{peer_id_of(public_key)}")
    return None
