"""Member records: the rules every genesis entry and governance proposal must meet.

A member record names an id, a name, a country, roles, an Ed25519 key and the addresses of
the member's node. Every node dials those addresses and every signature check trusts that
key, so a record is checked field by field before it is admitted (``check_member_record``
raises SchemaError naming the field). The libp2p address (``p2p_address``) is checked here
only for its form; the node parses it as a multiaddr with the mesh's own parser and checks
that its peer id is the member's key (``tdx.node.state.rules.check_member_addresses``), since the
SDK does not depend on libp2p.

The checks are deterministic (no clock, no DNS, no Unicode database lookups), because the
ledger runs them when it applies a block.
"""

from __future__ import annotations

import ipaddress
import re

from tdx.v1 import documents_pb2 as pb

from ._crypto import PUBLIC_KEY_SIZE, is_acceptable_public_key
from ._errors import SchemaError
from ._fields import check_country, check_member_id

ROLES: tuple[str, ...] = ("customs", "issuer", "trader", "rights_holder", "logistics", "observer")
MAX_NAME = 128
MAX_P2P_ADDRESS = 256

# Code points a name may not hold: C0 and C1 controls, and the invisible or direction-changing
# format characters that would let one name pass for another in a listing. A fixed list rather
# than unicodedata, whose categories change between Python versions (nodes must agree).
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                     "\u2060-\u206f\ufeff\ufff9-\ufffb]")
_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?")
_P2P_FORM = re.compile(r"/[\x21-\x7e]+")


def parse_host_port(value: str) -> tuple[str, int] | None:
    """Split ``HOST:PORT`` into host and port, or None when it is not one.

    HOST is a DNS name (letters, digits, "-" and "_" in dot-separated labels: container
    names may hold "_"), an IPv4 address, or an IPv6 address in brackets (``[::1]:7400``);
    PORT is 1 to 65535 without leading zeros.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or port != str(int(port)):
        return None
    number = int(port)
    if not 0 < number < 65536:
        return None
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
        return host[1:-1], number
    if not host or len(host) > 253:
        return None
    labels = host.split(".")
    if all(label.isascii() and label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return None
        return host, number
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return host, number


def check_host_port(field: str, value: str, *, required: bool = False) -> None:
    """Refuse an address that is not ``HOST:PORT`` (an empty optional one passes)."""
    if not value:
        if required:
            raise SchemaError(field, "is required for a validator (HOST:PORT)")
        return
    if parse_host_port(value) is None:
        raise SchemaError(field, "must be HOST:PORT with a port from 1 to 65535, for example "
                                 "127.0.0.1:7400 or [::1]:7400")


def check_name(field: str, value: str) -> None:
    """Refuse a blank name, one over MAX_NAME characters, or one with hidden characters."""
    if not value.strip():
        raise SchemaError(field, "is required")
    if len(value) > MAX_NAME:
        raise SchemaError(field, f"is longer than {MAX_NAME} characters")
    if value != value.strip():
        raise SchemaError(field, "must not start or end with spaces")
    hidden = _HIDDEN.search(value)
    if hidden is not None:
        raise SchemaError(field, f"holds the control or invisible character "
                                 f"U+{ord(hidden.group()):04X}")


def check_member_record(field: str, member: pb.MemberRecord, *,
                        validator_needs_api: bool = False) -> None:
    """Check every identifier, key and address of a member record.

    ``field`` is the record's path in its message (``members[0]``, ``proposal.member``).
    With ``validator_needs_api`` a validator must give its API address (a proposal: the
    other validators forward to it at once; a genesis may leave it to the node's config).
    """
    check_member_id(f"{field}.id", member.id)
    check_name(f"{field}.name", member.name)
    check_country(f"{field}.country_code", member.country_code)
    if not member.roles:
        raise SchemaError(f"{field}.roles", "needs at least one role; roles: " + ", ".join(ROLES))
    seen: set[str] = set()
    for i, role in enumerate(member.roles):
        if role not in ROLES:
            raise SchemaError(f"{field}.roles[{i}]", f"unknown role {role!r}; roles: "
                                                      + ", ".join(ROLES))
        if role in seen:
            raise SchemaError(f"{field}.roles[{i}]", f"names role {role!r} twice")
        seen.add(role)
    if len(member.public_key) != PUBLIC_KEY_SIZE:
        raise SchemaError(f"{field}.public_key", "must be a 32-byte Ed25519 public key")
    if not is_acceptable_public_key(bytes(member.public_key)):
        raise SchemaError(f"{field}.public_key", "is an unusable public key (small-order or "
                                                 "non-canonical Ed25519 point); generate another")
    check_host_port(f"{field}.api_address", member.api_address,
                    required=validator_needs_api and member.validator)
    check_host_port(f"{field}.peer_address", member.peer_address)
    if member.p2p_address and (len(member.p2p_address) > MAX_P2P_ADDRESS
                               or not _P2P_FORM.fullmatch(member.p2p_address)):
        raise SchemaError(f"{field}.p2p_address", "must be a libp2p multiaddr of at most "
                                                  f"{MAX_P2P_ADDRESS} characters, for example "
                                                  "/ip4/10.0.0.2/tcp/7600/p2p/12D3KooW...")


def check_proposal_member(action: int, member: pb.MemberRecord) -> None:
    """Check the member record a governance proposal carries, for its action.

    A removal names only the member id (any other field would be ignored, so it is refused:
    a proposal has one meaning); an addition or update carries the whole new record.
    """
    if action == pb.PROPOSAL_ACTION_REMOVE_MEMBER:
        check_member_id("proposal.member.id", member.id)
        if member != pb.MemberRecord(id=member.id):
            raise SchemaError("proposal.member", "a removal names only the member id")
        return
    check_member_record("proposal.member", member, validator_needs_api=True)
