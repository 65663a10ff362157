"""``tdx genesis``: write a network's genesis file, one member at a time, and show it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from google.protobuf import json_format
from tdx.sdk import (
    ROLES,
    GenesisError,
    check_genesis,
    genesis_hash,
    genesis_json,
    ledger_pb2,
    public_key_of_file,
)
from tdx.v1 import documents_pb2

from ._output import Output, TdxGroup, read_text, warn, write_atomically
from ._params import HOST_PORT, json_option


@click.group(cls=TdxGroup)
def genesis() -> None:
    """Write and inspect a network's genesis file.

    The genesis names the network and its initial members (id, name, country, roles, public
    key, addresses) and which of them are validators. Every node of the network starts from
    the same file; its hash identifies the network.

    \b
    Example:
      tdx genesis create --out genesis.json --network tdx-devnet
      tdx genesis add-member genesis.json --name "Zoll DE" --key customs-de.key \\
          --country DE --roles customs,issuer --validator --address 127.0.0.1:7400
      tdx genesis show genesis.json
    """


def read_draft(path: Path) -> ledger_pb2.Genesis:
    """Read a genesis that may still be in the making (it need not have a validator yet)."""
    draft = ledger_pb2.Genesis()
    try:
        json_format.Parse(read_text(str(path)), draft)
    except json_format.ParseError as exc:
        raise GenesisError(f"{path}: not a genesis file: {exc}") from None
    check_genesis(draft, str(path))
    return draft


def _roles(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    roles = [r.strip() for r in value.split(",") if r.strip()]
    if not roles:
        raise click.BadParameter("give at least one role", ctx, param)
    for role in roles:
        if role not in ROLES:
            raise click.BadParameter(f"unknown role {role!r}; roles: {', '.join(ROLES)}",
                                     ctx, param)
    if len(set(roles)) != len(roles):
        raise click.BadParameter("a role is named twice", ctx, param)
    return roles


def _country(ctx: click.Context, param: click.Parameter, value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha() or not code.isascii():
        raise click.BadParameter("must be an ISO 3166-1 alpha-2 code, for example DE", ctx, param)
    return code


@genesis.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The genesis file to create; it must not exist.")
@click.option("--network", required=True,
              help="Network name: lower-case letters, digits, '-', '_', '.'.")
@json_option
def create(out: Path, network: str, as_json: bool) -> None:
    """Create a genesis file with a network name and no members yet.

    Add members with `tdx genesis add-member`; at least one must be a validator before a
    node can start from it.

    \b
    Example:
      tdx genesis create --out genesis.json --network tdx-devnet
    """
    draft = ledger_pb2.Genesis(network=network, created_ms=int(time.time() * 1000))
    check_genesis(draft, "--network")
    write_atomically(out, genesis_json(draft), replace=False)
    data = {"file": str(out), "network": network, "created_ms": draft.created_ms}
    output = Output(as_json)
    output.emit(data, lambda: output.fields([("created", out), ("network", network)]))


@genesis.command("add-member")
@click.argument("genesis_file", metavar="GENESIS",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The member's display name.")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The member's key file (only its public key is read).")
@click.option("--roles", callback=_roles, required=True, metavar="ROLE[,ROLE...]",
              help=f"Comma-separated roles: {', '.join(ROLES)}.")
@click.option("--id", "member_id", metavar="ID",
              help="Member id [default: the member id in the key file].")
@click.option("--country", callback=_country, required=True, metavar="CC",
              help="ISO 3166-1 alpha-2 country code, for example DE.")
@click.option("--validator", is_flag=True, help="The member votes in consensus.")
@click.option("--address", type=HOST_PORT, help="The member node's client API address.")
@click.option("--peer-address", type=HOST_PORT,
              help="The member node's address for validator (peer) traffic.")
@json_option
def add_member(genesis_file: Path, name: str, key_file: Path, roles: list[str],
               member_id: str | None, country: str, validator: bool, address: str | None,
               peer_address: str | None, as_json: bool) -> None:
    """Add a member to a genesis file.

    The file is checked as a whole (unique ids and keys, known roles, usable keys) and
    rewritten atomically, so a failed or interrupted call leaves it as it was.

    \b
    Example:
      tdx genesis add-member genesis.json --name "Zoll DE" --key customs-de.key \\
          --country DE --roles customs,issuer --validator --address 127.0.0.1:7400
    """
    draft = read_draft(genesis_file)
    key_member, public_key = public_key_of_file(key_file)
    chosen = member_id or key_member
    if chosen != key_member:
        warn(f"{key_file} acts as member {key_member!r}, not {chosen!r}; documents it signs "
             f"name {key_member!r} as issuer")
    for existing in draft.members:
        if existing.id == chosen:
            raise GenesisError(f"{genesis_file}: member {chosen!r} is already in the genesis")
        if existing.public_key == public_key:
            raise GenesisError(f"{genesis_file}: {key_file} is already the key of member "
                               f"{existing.id!r}")
    member = documents_pb2.MemberRecord(
        id=chosen, name=name, country_code=country, roles=roles, public_key=public_key,
        api_address=address or "", peer_address=peer_address or "", validator=validator,
    )
    draft.members.append(member)
    check_genesis(draft, str(genesis_file))
    write_atomically(genesis_file, genesis_json(draft), replace=True)
    data = {"file": str(genesis_file), "member": member_json(member),
            "members": len(draft.members)}
    output = Output(as_json)
    output.emit(data, lambda: output.fields([
        ("added", f"{chosen} ({name}, {country})"), ("roles", ", ".join(roles)),
        ("validator", "yes" if validator else "no"), ("public key", public_key.hex()),
        ("members", len(draft.members)),
    ]))


@genesis.command()
@click.argument("genesis_file", metavar="GENESIS",
                type=click.Path(dir_okay=False, path_type=Path))
@json_option
def show(genesis_file: Path, as_json: bool) -> None:
    """Show a genesis file's network, hash and members.

    \b
    Example:
      tdx genesis show genesis.json
    """
    draft = read_draft(genesis_file)
    ready = any(m.validator for m in draft.members)
    data = {
        "file": str(genesis_file), "network": draft.network, "created_ms": draft.created_ms,
        "hash": genesis_hash(draft).hex(), "ready": ready,
        "members": [member_json(m) for m in draft.members],
    }
    output = Output(as_json)

    def human() -> None:
        output.fields([("network", draft.network), ("hash", data["hash"]),
                       ("members", len(draft.members))])
        if not ready:
            output.line("not ready: no member is a validator yet (add one with --validator)")
        if draft.members:
            output.line()
            output.table(None, ["id", "name", "country", "roles", "validator", "api address",
                                "public key"],
                         ([m.id, m.name, m.country_code, ",".join(m.roles),
                           "yes" if m.validator else "", m.api_address, m.public_key.hex()]
                          for m in draft.members), no_wrap=["public key"])

    output.emit(data, human)


def member_json(member: documents_pb2.MemberRecord) -> dict[str, Any]:
    """A member record as JSON, with its public key in hex."""
    return {
        "id": member.id, "name": member.name, "country_code": member.country_code,
        "roles": list(member.roles), "public_key": member.public_key.hex(),
        "api_address": member.api_address, "peer_address": member.peer_address,
        "validator": member.validator,
    }
