"""The genesis file: parsing, the checks on members, JSON round trip and its hash."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sdk_factories import MEMBERS, identity, make_genesis
from tdx.sdk import (
    GenesisError,
    check_genesis,
    genesis_hash,
    genesis_json,
    ledger_pb2,
    load_genesis,
    parse_genesis,
)
from tdx.sdk._genesis import validators_of

Genesis = ledger_pb2.Genesis


def test_json_round_trip_is_exact() -> None:
    genesis = make_genesis()
    text = genesis_json(genesis)
    assert parse_genesis(text) == genesis
    assert genesis_json(parse_genesis(text)) == text
    assert genesis_hash(parse_genesis(text)) == genesis_hash(genesis)


def test_json_uses_proto_field_names() -> None:
    record = json.loads(genesis_json(make_genesis()))
    assert set(record["members"][0]) >= {"id", "public_key", "api_address", "validator"}


def test_hash_is_stable_and_sensitive() -> None:
    a, b = make_genesis(), make_genesis()
    assert genesis_hash(a) == genesis_hash(b)
    assert len(genesis_hash(a)) == 32
    b.members[0].name = "renamed"
    assert genesis_hash(a) != genesis_hash(b)
    c = make_genesis()
    c.created_ms += 1
    assert genesis_hash(a) != genesis_hash(c)


def test_hash_depends_on_member_order() -> None:
    """Member order is part of the genesis (validators are listed in it)."""
    genesis = make_genesis()
    reordered = make_genesis(tuple(reversed(list(MEMBERS))))
    assert genesis_hash(genesis) != genesis_hash(reordered)


def test_load_genesis_from_file(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    path.write_text(genesis_json(make_genesis()))
    assert load_genesis(path) == make_genesis()


def test_load_missing_or_unreadable(tmp_path: Path) -> None:
    with pytest.raises(GenesisError, match="no such genesis file"):
        load_genesis(tmp_path / "absent.json")
    with pytest.raises(GenesisError, match="cannot read"):
        load_genesis(tmp_path)


@pytest.mark.parametrize("text", ["", "not json", "null", "7", '{"network": 5}',
                                  '{"members": 1}', '{"members": [{"roles": "customs"}]}'])
def test_parse_refuses_what_is_not_a_genesis(text: str) -> None:
    with pytest.raises(GenesisError, match=r"^g\.json: not a genesis file"):
        parse_genesis(text, "g.json")


def test_empty_json_list_is_an_empty_genesis_and_refused() -> None:
    with pytest.raises(GenesisError, match="network name"):
        parse_genesis("[]", "g.json")


def test_unknown_field_error_is_one_line() -> None:
    """Issue 2: a wrong genesis gives a one-line error."""
    with pytest.raises(GenesisError, match="not a genesis file") as caught:
        parse_genesis('{"network": "tdx-test", "validators": []}', "g.json")
    assert "\n" not in str(caught.value)


def _with(change: Callable[[Genesis], object]) -> Genesis:
    genesis = make_genesis()
    change(genesis)
    return genesis


IDENTITY_POINT = b"\x01" + b"\x00" * 31

BROKEN: list[tuple[str, Callable[[Genesis], object], str]] = [
    ("duplicate id", lambda g: setattr(g.members[1], "id", g.members[0].id), "appears twice"),
    ("duplicate key", lambda g: setattr(g.members[1], "public_key", g.members[0].public_key),
     "reuses another member's key"),
    ("bad role", lambda g: g.members[0].roles.append("king"), "unknown role 'king'"),
    ("no roles", lambda g: g.members[0].ClearField("roles"), "needs at least one role"),
    ("no validator", lambda g: [m.ClearField("validator") for m in g.members],
     "no member is a validator"),
    ("small-order key", lambda g: setattr(g.members[2], "public_key", IDENTITY_POINT),
     "unusable public key"),
    ("short key", lambda g: setattr(g.members[2], "public_key", b"\x05" * 31), "32-byte"),
    ("bad member id", lambda g: setattr(g.members[0], "id", "de customs"), "members[0].id"),
    ("bad country", lambda g: setattr(g.members[0], "country_code", "deu"),
     "members[0].country_code"),
    ("no name", lambda g: g.members[0].ClearField("name"), "members[0].name"),
    ("upper-case network", lambda g: setattr(g, "network", "TDX"), "network name"),
    ("network with space", lambda g: setattr(g, "network", "tdx net"), "network name"),
    ("network with slash", lambda g: setattr(g, "network", "tdx/net"), "network name"),
    ("no network", lambda g: g.ClearField("network"), "network name"),
]


@pytest.mark.parametrize(("change", "message"), [b[1:] for b in BROKEN],
                         ids=[b[0] for b in BROKEN])
def test_parse_refuses_inconsistent_genesis(
    change: Callable[[Genesis], object], message: str
) -> None:
    text = genesis_json(_with(change))
    with pytest.raises(GenesisError, match=re.escape(message)) as caught:
        parse_genesis(text, "g.json")
    assert str(caught.value).startswith("g.json: ")
    assert "\n" not in str(caught.value)


def test_check_genesis_allows_no_validator_unless_required() -> None:
    """`tdx genesis create` writes a genesis before any validator is added."""
    genesis = Genesis(network="tdx-new")
    check_genesis(genesis)
    with pytest.raises(GenesisError, match="validator"):
        check_genesis(genesis, require_validator=True)


def test_network_name_alphabet() -> None:
    check_genesis(_with(lambda g: setattr(g, "network", "tdx-devnet_1.2")))


def test_validators_of_keeps_genesis_order() -> None:
    genesis = make_genesis()
    assert [m.id for m in validators_of(genesis.members)] == [
        m for m, spec in MEMBERS.items() if spec[2]]
    assert validators_of(genesis.members)[0].public_key == identity("de-customs").public_key
