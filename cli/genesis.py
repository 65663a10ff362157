"""``tdx genesis``: write a network's genesis file, one member at a time, and show it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from google.protobuf import json_format
from tdx.sdk import (
    ROLES,
    CreatedWindow,
    GenesisError,
    SchemaError,
    check_genesis,
    genesis_hash,
    genesis_json,
    ledger_pb2,
    public_key_of_file,
)
from tdx.v1 import documents_pb2

from ._output import Output, TdxGroup, read_text, warn, write_atomically
from ._params import HOST_PORT, choose_p2p, json_option, member_public_key


@click.group(cls=TdxGroup)
def genesis() -> None:
    """Write and inspect a network's genesis file.

    The genesis names the network and its initial members (id, name, country, roles, public
    key, addresses) and which of them are validators. Every node of the network starts from
    the same file; its hash identifies the network.

    It also holds the network's ledger parameters, the same on every node: how far a
    document's creation time may lie before (default 24 hours) or after (default 5 minutes)
    the time of the block that orders it; set them with `tdx genesis create`.

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
    for i, member in enumerate(draft.members):
        try:
            check_p2p_address(f"members[{i}]", member)
        except SchemaError as exc:
            raise GenesisError(f"{path}: {exc}") from None
    return draft


def check_p2p_address(field: str, member: documents_pb2.MemberRecord) -> None:
    """Parse a member's libp2p address as every node will (``tdx.node.state.rules``); raise
    SchemaError naming ``field``.p2p_address when the mesh could not dial it."""
    if not member.p2p_address:
        return
    from tdx.node.state.rules import check_member_addresses  # loads libp2p: only when needed

    check_member_addresses(field, member)


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
@click.option("--max-document-age", type=click.FloatRange(min=1 / 60, max=366 * 24),
              metavar="HOURS",
              help="How long before its block's time a document may have been created "
                   "[default: 24].")
@click.option("--max-document-lead", type=click.FloatRange(min=1 / 60, max=24 * 60),
              metavar="MINUTES",
              help="How far after its block's time a document's creation time may lie "
                   "(clock skew) [default: 5].")
@json_option
def create(out: Path, network: str, max_document_age: float | None,
           max_document_lead: float | None, as_json: bool) -> None:
    """Create a genesis file with a network name and no members yet.

    Add members with `tdx genesis add-member`; at least one must be a validator before a
    node can start from it. Every node refuses a document created more than
    --max-document-age before, or more than --max-document-lead after, the time of the
    block that orders it (a node's API refuses it early by its own clock).

    \b
    Example:
      tdx genesis create --out genesis.json --network tdx-devnet
    """
    draft = ledger_pb2.Genesis(network=network, created_ms=int(time.time() * 1000))
    if max_document_age is not None:
        draft.parameters.created_max_age_ms = round(max_document_age * 3_600_000)
    if max_document_lead is not None:
        draft.parameters.created_max_lead_ms = round(max_document_lead * 60_000)
    check_genesis(draft, "--network")
    write_atomically(out, genesis_json(draft), replace=False)
    window = CreatedWindow.of(draft)
    data = {"file": str(out), "network": network, "created_ms": draft.created_ms,
            **_window_json(window)}
    output = Output(as_json)
    output.emit(data, lambda: output.fields([("created", out), ("network", network),
                                             ("documents", _window_text(window))]))


def _window_json(window: CreatedWindow) -> dict[str, int]:
    return {"created_max_age_ms": window.max_age_ms, "created_max_lead_ms": window.max_lead_ms}


def _window_text(window: CreatedWindow) -> str:
    return (f"created at most {window.max_age_ms / 3_600_000:g} h before and "
            f"{window.max_lead_ms / 60_000:g} min after their block")


@genesis.command("add-member")
@click.argument("genesis_file", metavar="GENESIS",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The member's display name.")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The member's key file (only its public key is read).")
@click.option("--public-key", "public_key_hex", metavar="HEX",
              help="Or the member's public key (what `tdx keys show` prints), with --id: "
                   "an administration sends only that.")
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
@click.option("--p2p", type=HOST_PORT,
              help="The member node's libp2p mesh address as HOST:PORT; the peer id is "
                   "derived from the member's key (/ip4, /ip6 or /dns by the host).")
@click.option("--p2p-address", metavar="MULTIADDR",
              help="The same as a full multiaddr, /ip4/HOST/tcp/PORT/p2p/PEERID (PEERID: "
                   "the peer id of the member's key).")
@json_option
def add_member(genesis_file: Path, name: str, key_file: Path | None,
               public_key_hex: str | None, roles: list[str], member_id: str | None,
               country: str, validator: bool, address: str | None, peer_address: str | None,
               p2p: str | None, p2p_address: str | None, as_json: bool) -> None:
    """Add a member to a genesis file.

    The file is checked as a whole (unique ids and keys, known roles, usable keys) and
    rewritten atomically, so a failed or interrupted call leaves it as it was. A node that
    others reach across hosts needs --address (client API), --peer-address (a validator's
    peer port, when not the API's) and --p2p (its mesh).

    \b
    Example:
      tdx genesis add-member genesis.json --name "Zoll DE" --key customs-de.key \\
          --country DE --roles customs,issuer --validator --address 127.0.0.1:7400
      tdx genesis add-member genesis.json --name "Douane FR" --key customs-fr.key \\
          --country FR --roles customs --validator --address ledger.douane.example:7400 \\
          --peer-address ledger.douane.example:7401 --p2p ledger.douane.example:7600
    """
    public_key = member_public_key(key_file, public_key_hex, "--key")
    if public_key is None or (key_file is None and not member_id):
        raise click.UsageError("give the member's --key file, or its --public-key and --id")
    draft = read_draft(genesis_file)
    p2p_address = choose_p2p(p2p, p2p_address, public_key)
    key_member = public_key_of_file(key_file)[0] if key_file is not None else member_id or ""
    chosen = member_id or key_member
    if chosen != key_member:
        warn(f"{key_file} acts as member {key_member!r}, not {chosen!r}; documents it signs "
             f"name {key_member!r} as issuer")
    for existing in draft.members:
        if existing.id == chosen:
            raise GenesisError(f"{genesis_file}: member {chosen!r} is already in the genesis")
        if existing.public_key == public_key:
            raise GenesisError(f"{genesis_file}: {key_file or 'this key'} is already the key "
                               f"of member {existing.id!r}")
    member = documents_pb2.MemberRecord(
        id=chosen, name=name, country_code=country, roles=roles, public_key=public_key,
        api_address=address or "", peer_address=peer_address or "",
        p2p_address=p2p_address or "", validator=validator,
    )
    try:
        check_p2p_address("member", member)
    except SchemaError as exc:
        raise click.BadParameter(exc.message, param_hint="--p2p" if p2p else "--p2p-address"
                                 ) from None
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
    window = CreatedWindow.of(draft)
    data = {
        "file": str(genesis_file), "network": draft.network, "created_ms": draft.created_ms,
        "hash": genesis_hash(draft).hex(), "ready": ready, **_window_json(window),
        "members": [member_json(m) for m in draft.members],
    }
    output = Output(as_json)

    def human() -> None:
        output.fields([("network", draft.network), ("hash", data["hash"]),
                       ("documents", _window_text(window)), ("members", len(draft.members))])
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
        "p2p_address": member.p2p_address, "validator": member.validator,
    }
