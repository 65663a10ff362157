"""``tdx gov``: propose membership changes, vote on them, and read proposals and members."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from tdx.sdk import (
    ROLES,
    Client,
    Identity,
    SchemaError,
    check_member_record,
    documents_pb2,
    member_record,
    propose_add_member,
    propose_remove_member,
    propose_update_member,
    seal,
    vote,
)
from tdx.v1 import governance_state_pb2 as gov_pb

from ._output import Failure, Output, TdxGroup
from ._params import (
    HOST_PORT,
    choose_p2p,
    json_option,
    load_identity,
    member_public_key,
    node_option,
)
from .doc import _document_id, _submit_one
from .genesis import check_p2p_address, member_json

DAY_MS = 86_400_000
_ACTIONS = {documents_pb2.PROPOSAL_ACTION_ADD_MEMBER: "add",
            documents_pb2.PROPOSAL_ACTION_UPDATE_MEMBER: "update",
            documents_pb2.PROPOSAL_ACTION_REMOVE_MEMBER: "remove"}
_STATUS = {gov_pb.PROPOSAL_STATUS_OPEN: "open", gov_pb.PROPOSAL_STATUS_APPROVED: "approved",
           gov_pb.PROPOSAL_STATUS_REJECTED: "rejected",
           gov_pb.PROPOSAL_STATUS_EXPIRED: "expired"}

key_option = click.option(
    "--key", "key_file", type=click.Path(dir_okay=False, path_type=Path), envvar="TDX_KEY",
    required=True, help="Your (customs) member key file, to sign with (env TDX_KEY).")


@click.group(cls=TdxGroup)
def gov() -> None:
    """Membership governance: proposals, votes, members.

    A proposal adds, changes or removes a member. It takes effect in the block of the vote
    that gives it approvals from more than half of the customs members in force; it is
    rejected once half or more reject it, and expires unapproved after --expires-in days.

    \b
    Example:
      tdx gov propose add --id ng-customs --name "Nigeria Customs" --country NG \\
          --roles customs --member-key ng-customs.pub.key --key customs-de.key
      tdx gov vote <PROPOSAL ID> --approve --key customs-nl.key
      tdx gov show <PROPOSAL ID>
      tdx gov members
    """


@gov.group(cls=TdxGroup)
def propose() -> None:
    """Propose to add, update or remove a member (customs members only).

    \b
    Example:
      tdx gov propose remove trader-x --rationale "Licence withdrawn" --key customs-de.key
    """


def _roles(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    roles = [r.strip() for r in value.split(",") if r.strip()]
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise click.BadParameter(f"roles are a comma-separated list of {', '.join(ROLES)}",
                                 ctx, param)
    return roles


def _member_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--name", help="The member's name."),
        click.option("--country", help="ISO 3166-1 alpha-2 country code."),
        click.option("--roles", callback=_roles, metavar="ROLE[,ROLE]",
                     help="Comma-separated roles: " + ", ".join(ROLES) + "."),
        click.option("--member-key", type=click.Path(dir_okay=False, path_type=Path),
                     help="The member's key file (only its public key is read)."),
        click.option("--public-key", metavar="HEX", help="The member's Ed25519 public key."),
        click.option("--validator/--no-validator", default=None,
                     help="Whether the member's node validates (votes in Raft)."),
        click.option("--address", type=HOST_PORT, help="The member node's client API address."),
        click.option("--peer-address", type=HOST_PORT,
                     help="The member node's address for validator traffic."),
        click.option("--p2p", type=HOST_PORT,
                     help="The member node's libp2p mesh address as HOST:PORT; the peer id "
                          "is derived from the member's key."),
        click.option("--p2p-address", metavar="MULTIADDR",
                     help="The same as a full multiaddr, /ip4/HOST/tcp/PORT/p2p/PEERID "
                          "(PEERID: the peer id of its key)."),
    ]):
        func = option(func)
    return func


def _common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--rationale", default="", help="Why (recorded with the proposal)."),
        click.option("--expires-in", type=click.FloatRange(min=0.01, max=90), default=7.0,
                     show_default=True, metavar="DAYS",
                     help="Days the proposal stays open for votes."),
        key_option, node_option, json_option,
    ]):
        func = option(func)
    return func


def _submit(node: str, key_file: Path, as_json: bool,
            make: Callable[[Client, str], documents_pb2.DocumentBody]) -> None:
    identity: Identity = load_identity(key_file)
    with Client(node) as client:
        network = client.status().network
        _submit_one(client, seal(identity, make(client, network)), Output(as_json))


def _expires(days: float) -> int:
    return int(time.time() * 1000 + days * DAY_MS)


def _checked(record: documents_pb2.MemberRecord) -> documents_pb2.MemberRecord:
    """The record, once it meets the ledger's rules for a proposal's record (raises
    SchemaError naming the field) and its libp2p address parses as the nodes will parse it."""
    check_member_record("member", record, validator_needs_api=True)
    try:
        check_p2p_address("member", record)
    except SchemaError as exc:
        raise click.BadParameter(exc.message, param_hint="--p2p/--p2p-address") from None
    return record


@propose.command("add")
@click.option("--id", "member_id", required=True, help="The new member's id.")
@_member_options
@_common_options
def propose_add(member_id: str, name: str | None, country: str | None,
                roles: list[str] | None, member_key: Path | None, public_key: str | None,
                validator: bool | None, address: str | None, peer_address: str | None,
                p2p: str | None, p2p_address: str | None, rationale: str, expires_in: float,
                key_file: Path, node: str, as_json: bool) -> None:
    """Propose to admit a new member; prints the proposal's receipt (its id is the proposal id).

    \b
    Example:
      tdx gov propose add --id ng-customs --name "Nigeria Customs Service" --country NG \\
          --roles customs --validator --address 10.0.0.9:7400 --p2p 10.0.0.9:7600 \\
          --member-key ng-customs.key --key customs-de.key
    """
    key = member_public_key(member_key, public_key)
    p2p_address = choose_p2p(p2p, p2p_address, key)
    missing = [flag for flag, value in (("--name", name), ("--country", country),
                                        ("--roles", roles), ("--member-key or --public-key", key))
               if not value]
    if missing:
        raise click.UsageError(f"a new member needs {', '.join(missing)}")
    assert name and country and roles and key
    record = _checked(member_record(
        member_id, name, country, roles, key, api_address=address or "",
        peer_address=peer_address or "", p2p_address=p2p_address or "",
        validator=bool(validator)))
    _submit(node, key_file, as_json, lambda _c, network: propose_add_member(
        network, record, rationale=rationale, expires_ms=_expires(expires_in)))


@propose.command("update")
@click.argument("member_id", metavar="ID")
@_member_options
@_common_options
def propose_update(member_id: str, name: str | None, country: str | None,
                   roles: list[str] | None, member_key: Path | None, public_key: str | None,
                   validator: bool | None, address: str | None, peer_address: str | None,
                   p2p: str | None, p2p_address: str | None, rationale: str,
                   expires_in: float, key_file: Path, node: str, as_json: bool) -> None:
    """Propose to change member ID: only the options given change, the rest stays.

    \b
    Example:
      tdx gov propose update de-chamber --roles issuer,customs --key customs-de.key
      tdx gov propose update customs-fr --no-validator --key customs-de.key
      tdx gov propose update customs-fr --p2p 10.0.0.7:7600 --key customs-de.key
    """
    key = member_public_key(member_key, public_key)
    if p2p is not None and p2p_address is not None:
        raise click.UsageError("give --p2p or --p2p-address, not both")

    def make(client: Client, network: str) -> documents_pb2.DocumentBody:
        record = documents_pb2.MemberRecord()
        record.CopyFrom(client.get_member(member_id).member)
        if not record.id:
            raise Failure(f"member {member_id!r} was removed")
        if name is not None:
            record.name = name
        if country is not None:
            record.country_code = country
        if roles is not None:
            record.ClearField("roles")
            record.roles.extend(roles)
        if key is not None:
            record.public_key = key
        if validator is not None:
            record.validator = validator
        if address is not None:
            record.api_address = address
        if peer_address is not None:
            record.peer_address = peer_address
        if p2p_address is not None:
            record.p2p_address = p2p_address
        if p2p is not None:  # the peer id of the key the record will hold
            record.p2p_address = choose_p2p(p2p, None, bytes(record.public_key)) or ""
        return propose_update_member(network, _checked(record), rationale=rationale,
                                     expires_ms=_expires(expires_in))

    _submit(node, key_file, as_json, make)


@propose.command("remove")
@click.argument("member_id", metavar="ID")
@_common_options
def propose_remove(member_id: str, rationale: str, expires_in: float, key_file: Path,
                   node: str, as_json: bool) -> None:
    """Propose to remove member ID; its key is retired once the proposal passes.

    \b
    Example:
      tdx gov propose remove trader-x --rationale "Licence withdrawn" --key customs-de.key
    """
    _submit(node, key_file, as_json, lambda _c, network: propose_remove_member(
        network, member_id, rationale=rationale, expires_ms=_expires(expires_in)))


@gov.command("vote")
@click.argument("proposal_id", metavar="PROPOSAL_ID", callback=_document_id)
@click.option("--approve/--reject", required=True, default=None,
              help="Approve or reject the proposal.")
@click.option("--comment", default="", help="A comment recorded with the vote.")
@key_option
@node_option
@json_option
def vote_command(proposal_id: str, approve: bool, comment: str, key_file: Path, node: str,
                 as_json: bool) -> None:
    """Vote on a proposal (customs members; one vote each). The receipt's notice says
    whether this vote decided it.

    \b
    Example:
      tdx gov vote 3f1c...e9 --approve --key customs-nl.key
      tdx gov vote 3f1c...e9 --reject --comment "Not yet audited" --key customs-fr.key
    """
    _submit(node, key_file, as_json,
            lambda _c, network: vote(network, proposal_id, approve, comment))


@gov.command()
@click.argument("proposal_id", metavar="PROPOSAL_ID", callback=_document_id)
@node_option
@json_option
def show(proposal_id: str, node: str, as_json: bool) -> None:
    """Show a proposal: what it changes, its status and every vote.

    \b
    Example:
      tdx gov show 3f1c...e9
    """
    with Client(node) as client:
        answer = client.get_proposal(proposal_id)
    state = answer.proposal
    # A decided proposal counts against the membership in force when it was decided (adding
    # a customs member changes the count after); an open one against today's.
    decided = bool(state.decided_height and state.decided_customs)
    customs = state.decided_customs if decided else answer.customs_members
    approvals = (state.decided_approvals if decided
                 else sum(1 for v in state.votes if v.approve))
    data = {
        "proposal_id": state.proposal_id, "action": _ACTIONS.get(state.action, "unknown"),
        "member": member_json(state.member), "proposer": state.proposer,
        "rationale": state.rationale, "status": _STATUS.get(state.status, "unknown"),
        "expires_ms": state.expires_ms, "proposed_height": state.proposed_height,
        "decided_height": state.decided_height, "customs_members": customs,
        "needed": customs // 2 + 1, "approvals": approvals,
        "votes": [{"member_id": v.member_id, "approve": v.approve, "height": v.height,
                   "vote_id": v.vote_id, "comment": v.comment} for v in state.votes],
    }
    output = Output(as_json)

    def human() -> None:
        output.fields([
            ("proposal", state.proposal_id), ("action", f"{data['action']} {state.member.id}"),
            ("proposer", state.proposer), ("rationale", state.rationale or "-"),
            ("status", data["status"]),
            ("approvals", f"{approvals} ({'needed' if decided else 'needs'} {data['needed']} "
                          f"of {customs} customs{' when decided' if decided else ''})"),
            ("proposed at", state.proposed_height),
            ("decided at", state.decided_height or "-"),
        ])
        if state.votes:
            output.table("votes", ["member", "vote", "height", "comment"],
                         ([v.member_id, "approve" if v.approve else "reject", v.height,
                           v.comment] for v in state.votes))

    output.emit(data, human)


@gov.command()
@node_option
@json_option
def members(node: str, as_json: bool) -> None:
    """List the members in force: id, roles, validator flag, key.

    \b
    Example:
      tdx gov members --json
    """
    with Client(node) as client:
        records = client.list_members()
    rows = [member_json(m) for m in records]
    output = Output(as_json)
    output.emit(rows, lambda: output.table(
        None, ["id", "name", "country", "roles", "validator", "public key"],
        ([r["id"], r["name"], r["country_code"], ",".join(r["roles"]),
          "yes" if r["validator"] else "no", r["public_key"]] for r in rows),
        no_wrap=["public key"]))

