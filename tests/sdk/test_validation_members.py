"""Member records: every identifier, key and address is checked before a record can be
proposed or written into a genesis, and the error names the field."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sdk_factories import NETWORK, identity, make_genesis
from tdx.sdk import (
    GenesisError,
    SchemaError,
    check_genesis,
    check_member_record,
    documents_pb2,
    genesis_json,
    member_record,
    parse_genesis,
    propose_add_member,
    propose_remove_member,
    propose_update_member,
)
from tdx.sdk._members import check_proposal_member, parse_host_port

pb = documents_pb2
SMALL_ORDER = b"\x01" + bytes(31)  # the identity point
# A y coordinate >= p: the non-canonical encoding of a point libsodium refuses.
NON_CANONICAL = b"\xee" + b"\xff" * 30 + b"\x7f"


def good() -> pb.MemberRecord:
    return pb.MemberRecord(
        id="ng-customs", name="Nigeria Customs Service", country_code="NG",
        roles=["customs", "issuer"], public_key=identity("de-customs").public_key,
        api_address="10.0.0.9:7400", peer_address="[fd00::9]:7500",
        p2p_address="/ip4/10.0.0.9/tcp/7600/p2p/12D3KooWSomething", validator=True)


def test_a_complete_record_passes() -> None:
    check_member_record("member", good())
    check_member_record("member", pb.MemberRecord(
        id="x", name="X", country_code="DE", roles=["observer"],
        public_key=identity("watcher").public_key))


BROKEN: list[tuple[str, Callable[[pb.MemberRecord], object], str, str]] = [
    ("empty id", lambda m: setattr(m, "id", ""), "id", "member id"),
    ("id with a space", lambda m: setattr(m, "id", "ng customs"), "id", "member id"),
    ("id too long", lambda m: setattr(m, "id", "a" * 65), "id", "member id"),
    ("no name", lambda m: setattr(m, "name", ""), "name", "required"),
    ("blank name", lambda m: setattr(m, "name", "   "), "name", "required"),
    ("long name", lambda m: setattr(m, "name", "N" * 129), "name", "128"),
    ("padded name", lambda m: setattr(m, "name", " Nigeria"), "name", "spaces"),
    ("escape in name", lambda m: setattr(m, "name", "Nigeria\x1b[31m"), "name", "U+001B"),
    ("newline in name", lambda m: setattr(m, "name", "Nigeria\nCustoms"), "name", "U+000A"),
    ("bidi override", lambda m: setattr(m, "name", "Nigeria\u202e"), "name", "U+202E"),
    ("zero width", lambda m: setattr(m, "name", "Nige\u200bria"), "name", "U+200B"),
    ("lower-case country", lambda m: setattr(m, "country_code", "ng"), "country_code", "ISO"),
    ("three-letter country", lambda m: setattr(m, "country_code", "NGA"), "country_code",
     "ISO"),
    ("no roles", lambda m: m.ClearField("roles"), "roles", "at least one role"),
    ("unknown role", lambda m: m.roles.append("king"), "roles[2]", "unknown role 'king'"),
    ("repeated role", lambda m: m.roles.append("customs"), "roles[2]", "twice"),
    ("short key", lambda m: setattr(m, "public_key", b"\x05" * 31), "public_key", "32-byte"),
    ("small-order key", lambda m: setattr(m, "public_key", SMALL_ORDER), "public_key",
     "unusable public key"),
    ("non-canonical key", lambda m: setattr(m, "public_key", NON_CANONICAL), "public_key",
     "unusable public key"),
    ("api without port", lambda m: setattr(m, "api_address", "10.0.0.9"), "api_address",
     "HOST:PORT"),
    ("api port 0", lambda m: setattr(m, "api_address", "10.0.0.9:0"), "api_address",
     "HOST:PORT"),
    ("api port too big", lambda m: setattr(m, "api_address", "10.0.0.9:65536"), "api_address",
     "HOST:PORT"),
    ("peer host bad", lambda m: setattr(m, "peer_address", "bad host:7500"), "peer_address",
     "HOST:PORT"),
    ("p2p with spaces", lambda m: setattr(m, "p2p_address", "/ip4/1.2.3.4 /tcp/1"),
     "p2p_address", "multiaddr"),
    ("p2p not a path", lambda m: setattr(m, "p2p_address", "10.0.0.9:7600"), "p2p_address",
     "multiaddr"),
    ("p2p too long", lambda m: setattr(m, "p2p_address", "/" + "a" * 256), "p2p_address",
     "multiaddr"),
]


@pytest.mark.parametrize(("change", "field", "words"), [b[1:] for b in BROKEN],
                         ids=[b[0] for b in BROKEN])
def test_each_broken_field_is_named(change: Callable[[pb.MemberRecord], object], field: str,
                                    words: str) -> None:
    record = good()
    change(record)
    with pytest.raises(SchemaError) as caught:
        check_member_record("members[3]", record)
    assert caught.value.field == f"members[3].{field}"
    assert words in caught.value.message


@pytest.mark.parametrize(("text", "parsed"), [
    ("127.0.0.1:7400", ("127.0.0.1", 7400)),
    ("localhost:1", ("localhost", 1)),
    ("customs-de.example.org:65535", ("customs-de.example.org", 65535)),
    ("customs_de:7400", ("customs_de", 7400)),  # docker compose service names
    ("[::1]:7400", ("::1", 7400)),
    ("[fd00::9]:7500", ("fd00::9", 7500)),
    ("", None), (":7400", None), ("host:", None), ("host", None), ("host:0", None),
    ("host:65536", None), ("host:07400", None), ("host:+80", None),
    ("host:\uff17\uff14\uff10\uff10", None),  # full-width digits
    ("::1:7400", None), ("[::1", None), ("[nothost]:80", None), ("300.1.1.1:80", None),
    ("1.2.3:80", None), ("-host:80", None), ("host-:80", None), ("a..b:80", None),
    ("exa mple:80", None), ("h\u00f6st:80", None), ("a" * 64 + ":80", None),
    ("http://host:80", None),
])
def test_host_port(text: str, parsed: tuple[str, int] | None) -> None:
    assert parse_host_port(text) == parsed


def test_a_validator_in_a_proposal_needs_its_api_address() -> None:
    record = good()
    record.api_address = ""
    check_member_record("members[0]", record)  # a genesis may leave it to the node config
    with pytest.raises(SchemaError, match=re.escape("proposal.member.api_address")):
        propose_add_member(NETWORK, record)


def test_builders_refuse_a_bad_record_before_anything_is_signed() -> None:
    with pytest.raises(SchemaError) as caught:
        member_record("ng-customs", "Nigeria", "NG", ["customs"], SMALL_ORDER)
    assert caught.value.field == "member.public_key"
    with pytest.raises(SchemaError, match=re.escape("member.roles[0]: unknown role")):
        member_record("ng-customs", "Nigeria", "NG", ["king"], identity("watcher").public_key)
    record = good()
    record.peer_address = "nowhere"
    with pytest.raises(SchemaError, match=re.escape("proposal.member.peer_address")):
        propose_update_member(NETWORK, record)
    with pytest.raises(SchemaError, match=re.escape("proposal.member.id")):
        propose_remove_member(NETWORK, "no such id")
    body = propose_add_member(NETWORK, good())
    assert body.proposal.member == good()


def test_a_removal_names_only_the_member_id() -> None:
    body = propose_remove_member(NETWORK, "acme-trader")
    assert body.proposal.member == pb.MemberRecord(id="acme-trader")
    body.proposal.member.name = "smuggled"
    with pytest.raises(SchemaError, match=re.escape("proposal.member: a removal names only")):
        check_proposal_member(body.proposal.action, body.proposal.member)


def test_genesis_members_are_checked_the_same_way() -> None:
    genesis = make_genesis()
    genesis.members[1].api_address = "10.0.0.2:99999"
    with pytest.raises(GenesisError, match=re.escape("members[1].api_address")):
        check_genesis(genesis)
    genesis = make_genesis()
    genesis.members[2].name = "Customs\x07"
    with pytest.raises(GenesisError, match=re.escape("members[2].name")):
        parse_genesis(genesis_json(genesis))
