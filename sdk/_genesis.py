"""The genesis file: a network's name and its initial members, as protobuf JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from google.protobuf import json_format
from tdx.v1 import documents_pb2, ledger_pb2

from ._crypto import sha256
from ._errors import GenesisError, SchemaError
from ._members import check_member_record
from ._window import check_parameters

_NETWORK_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def load_genesis(path: str | os.PathLike[str]) -> ledger_pb2.Genesis:
    """Read and check a genesis file; raises GenesisError with a one-line reason."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise GenesisError(f"{path}: no such genesis file") from None
    except OSError as exc:
        raise GenesisError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_genesis(text, str(path))


def parse_genesis(text: str, source: str = "genesis") -> ledger_pb2.Genesis:
    """Parse genesis JSON text and check it."""
    genesis = ledger_pb2.Genesis()
    try:
        json_format.Parse(text, genesis)
    except (json_format.ParseError, json.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GenesisError(f"{source}: not a genesis file: {first}") from None
    check_genesis(genesis, source, require_validator=True)
    return genesis


def check_genesis(
    genesis: ledger_pb2.Genesis, source: str = "genesis", *, require_validator: bool = False
) -> None:
    """Check the network's name and parameters, and each member's ids, keys, roles and
    addresses; raise GenesisError naming the first problem."""
    if not genesis.network or not set(genesis.network) <= _NETWORK_CHARS:
        raise GenesisError(f"{source}: network name must be lower-case letters, digits, - _ .")
    try:
        check_parameters(genesis.parameters)
    except SchemaError as exc:
        raise GenesisError(f"{source}: {exc}") from None
    ids: set[str] = set()
    keys: set[bytes] = set()
    for i, member in enumerate(genesis.members):
        try:
            check_member_record(f"members[{i}]", member)
        except SchemaError as exc:
            raise GenesisError(f"{source}: {exc}") from None
        if member.id in ids:
            raise GenesisError(f"{source}: member id {member.id!r} appears twice")
        if member.public_key in keys:
            raise GenesisError(f"{source}: member {member.id!r} reuses another member's key")
        ids.add(member.id)
        keys.add(member.public_key)
    if require_validator and not any(m.validator for m in genesis.members):
        raise GenesisError(f"{source}: no member is a validator; add one with --validator")


def genesis_json(genesis: ledger_pb2.Genesis) -> str:
    """Render a genesis as the JSON that load_genesis reads."""
    return json_format.MessageToJson(genesis, preserving_proto_field_name=True, indent=2) + "\n"


def genesis_hash(genesis: ledger_pb2.Genesis) -> bytes:
    """The genesis's identity: SHA-256 of its deterministic serialization."""
    return sha256(genesis.SerializeToString(deterministic=True))


def validators_of(
    members: Iterable[documents_pb2.MemberRecord],
) -> list[documents_pb2.MemberRecord]:
    """The members that are validators, in order."""
    return [m for m in members if m.validator]
