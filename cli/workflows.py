"""The customs workflows at the command line: ``tdx cert``, ``tdx aeo`` and ``tdx watch``
(``tdx doc story`` is in ``story.py``).

Documents that start a workflow (certificates, declarations, alerts, shipment events) are
written from ``tdx doc template KIND`` and sent with ``tdx doc submit``; the commands here
act on what is already on the ledger and read the state the ledger keeps for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from google.protobuf import json_format
from google.protobuf.message import Message
from tdx.sdk import (
    AEO_ACTIONS,
    Client,
    aeo_decision,
    documents_pb2,
    draw_down,
    ledger_pb2,
    party,
    revoke_certificate,
    seal,
    state_pb2,
    verify_certificate,
)

from ._output import Output, TdxCommand, TdxGroup
from ._params import json_option, load_identity, node_option
from .doc import _document_id, _submit_one, _time, record_json

F = TypeVar("F", bound=Callable[..., Any])


def key_option(func: F) -> F:
    """Add ``--key FILE`` (env TDX_KEY): the member key that signs."""
    return click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
                        envvar="TDX_KEY", required=True,
                        help="Your member key file, to sign with (env TDX_KEY).")(func)


def _message_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def _enum(name: str, prefix: str) -> str:
    return name.removeprefix(prefix)


def _sign_and_submit(node: str, key_file: Path, output: Output,
                     make: Callable[[str], documents_pb2.DocumentBody]) -> None:
    """Build the body for the node's network, sign it and submit it; print the receipt."""
    identity = load_identity(key_file)
    with Client(node) as client:
        body = make(client.status().network)
        _submit_one(client, seal(identity, body), output)


# -- tdx cert ---------------------------------------------------------------------------

@click.group(cls=TdxGroup)
def cert() -> None:
    """Certificates of origin and phytosanitary certificates on the ledger.

    Issue one with `tdx doc submit` (see `tdx doc template origin_certificate`); then
    importing customs verify it and draw it down against import declarations, and the
    issuer may revoke it or amend it (a new version with supersedes_id).

    \b
    Example:
      tdx cert status 3f1c...e9
      tdx cert verify 3f1c...e9 --key ng-customs.key
      tdx cert draw-down 3f1c...e9 --declaration 77ab...01 --line 1=10 --key ng-customs.key
      tdx cert revoke 3f1c...e9 --reason "issued in error" --key chamber.key
    """


@cert.command("status")
@click.argument("certificate_id", metavar="ID", callback=_document_id)
@node_option
@json_option
def cert_status(certificate_id: str, node: str, as_json: bool) -> None:
    """Show a certificate's status, lines (certified, drawn, remaining) and draw-downs.

    \b
    Example:
      tdx cert status 3f1c...e9
      tdx cert status 3f1c...e9 --json | jq .certificate.lines
    """
    with Client(node) as client:
        answer = client.get_certificate(certificate_id)
    data = certificate_json(answer)
    output = Output(as_json)
    state = answer.certificate

    def human() -> None:
        output.fields([
            ("certificate", state.certificate_id), ("kind", state.kind),
            ("number", state.number), ("issuer", state.issuer), ("ucr", state.ucr),
            ("trade", f"{state.export_country_code} -> {state.import_country_code}"),
            ("status", data["status"]),
            ("valid", f"{_time(state.valid_from_ms)} to "
                      f"{_time(state.valid_until_ms) if state.valid_until_ms else 'no expiry'}"),
            ("current version", answer.current_id),
            *((("supersedes", state.supersedes_id),) if state.supersedes_id else ()),
            *((("revoked", state.revocation_reason),) if state.revocation_id else ()),
        ])
        output.table("lines", ["line", "hs code", "description", "quantity", "drawn",
                               "remaining", "unit"],
                     ([line.sequence_numeric, line.hs_code, line.description, line.quantity,
                       line.drawn, line.remaining, line.quantity_unit_code]
                      for line in state.lines))
        if state.draw_downs:
            output.table("draw-downs", ["height", "declaration", "by", "lines"],
                         ([d.height, d.declaration_id, d.member,
                           ", ".join(f"{x.sequence_numeric}={x.quantity}" for x in d.lines)]
                          for d in state.draw_downs), no_wrap=["declaration"])
        for check in state.verifications:
            output.line(f"verified by {check.member} at height {check.height}"
                        f"{': ' + check.reason if check.reason else ''}")

    output.emit(data, human)


def certificate_json(answer: ledger_pb2.GetCertificateResponse) -> dict[str, Any]:
    """A certificate's state as JSON, with its effective status (EXPIRED when past)."""
    state = answer.certificate
    status = _enum(state_pb2.CertificateStatus.Name(state.status), "CERTIFICATE_STATUS_")
    if answer.expired and status == "ACTIVE":
        status = "EXPIRED"
    return {"status": status, "expired": answer.expired, "current_id": answer.current_id,
            "as_of_ms": answer.as_of_ms, "certificate": _message_json(state)}


@cert.command("verify")
@click.argument("certificate_id", metavar="ID", callback=_document_id)
@click.option("--reason", default="", help="What was checked (free text).")
@key_option
@node_option
@json_option
def cert_verify(certificate_id: str, reason: str, key_file: Path, node: str,
                as_json: bool) -> None:
    """Record that importing customs checked a certificate (refused unless it is usable).

    \b
    Example:
      tdx cert verify 3f1c...e9 --reason "checked at clearance" --key ng-customs.key
    """
    _sign_and_submit(node, key_file, Output(as_json),
                     lambda network: verify_certificate(network, certificate_id, reason))


def _lines(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[int, str]:
    lines: dict[int, str] = {}
    for value in values:
        number, sep, quantity = value.partition("=")
        if not sep or not number.strip().isdigit() or not quantity.strip():
            raise click.BadParameter(f"{value!r} is not LINE=QUANTITY (for example 1=10)",
                                     ctx, param)
        lines[int(number)] = quantity.strip()
    return lines


@cert.command("draw-down")
@click.argument("certificate_id", metavar="ID", callback=_document_id)
@click.option("--declaration", "declaration_id", required=True, callback=_document_id,
              metavar="ID", help="The import declaration the goods clear under.")
@click.option("--line", "lines", multiple=True, required=True, callback=_lines,
              metavar="LINE=QUANTITY", help="A quantity to draw from a line; repeat for more.")
@click.option("--ucr", default="", help="The consignment (defaults to the certificate's).")
@key_option
@node_option
@json_option
def cert_draw_down(certificate_id: str, declaration_id: str, lines: dict[int, str], ucr: str,
                   key_file: Path, node: str, as_json: bool) -> None:
    """Draw quantities down against a certificate for an import declaration.

    Refused when more is drawn than remains, or the certificate is revoked, superseded,
    expired or used up; the receipt says why.

    \b
    Example:
      tdx cert draw-down 3f1c...e9 --declaration 77ab...01 --line 1=10 --line 2=5 \\
          --key ng-customs.key
    """
    if not ucr:
        with Client(node) as client:
            ucr = client.get_certificate(certificate_id).certificate.ucr
    _sign_and_submit(node, key_file, Output(as_json),
                     lambda network: draw_down(network, certificate_id, declaration_id,
                                               lines, ucr=ucr))


@cert.command("revoke")
@click.argument("certificate_id", metavar="ID", callback=_document_id)
@click.option("--reason", required=True, help="Why the certificate is revoked.")
@key_option
@node_option
@json_option
def cert_revoke(certificate_id: str, reason: str, key_file: Path, node: str,
                as_json: bool) -> None:
    """Revoke a certificate (its issuer only); it can no longer be used.

    \b
    Example:
      tdx cert revoke 3f1c...e9 --reason "issued in error" --key chamber.key
    """
    _sign_and_submit(node, key_file, Output(as_json),
                     lambda network: revoke_certificate(network, certificate_id, reason))


# -- tdx aeo ----------------------------------------------------------------------------

@click.group(cls=TdxGroup)
def aeo() -> None:
    """Authorized Economic Operator status: decisions and the status with its history.

    \b
    Example:
      tdx aeo decide grant DE123456789012345 --name "Rhein Maschinenbau GmbH" \\
          --reference DEAEOF123456 --recognized-by NG,JP --key customs-de.key
      tdx aeo status DE123456789012345
    """


@aeo.command("status")
@click.argument("operator_id", metavar="OPERATOR")
@node_option
@json_option
def aeo_status(operator_id: str, node: str, as_json: bool) -> None:
    """Show an operator's current AEO status and every decision on it, oldest first.

    \b
    Example:
      tdx aeo status DE123456789012345 --json
    """
    with Client(node) as client:
        answer = client.get_aeo_status(operator_id)
    state = answer.status
    data = {"status": _enum(state_pb2.AeoStatus.Name(state.status), "AEO_STATUS_"),
            "aeo": _message_json(state)}
    output = Output(as_json)

    def human() -> None:
        output.fields([
            ("operator", f"{state.operator.id} ({state.operator.name})"),
            ("status", data["status"]), ("reference", state.reference),
            ("granted by", f"{state.granted_by} ({state.country_code})"),
            ("recognized by", ", ".join(state.recognized_by_country_codes) or "-"),
        ])
        output.table("history", ["height", "decision", "status", "by", "reference", "reason"],
                     ([e.height, _enum(documents_pb2.AeoAction.Name(e.action), "AEO_ACTION_"),
                       _enum(state_pb2.AeoStatus.Name(e.status), "AEO_STATUS_"), e.member,
                       e.reference, e.reason] for e in state.history))

    output.emit(data, human)


def _countries(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    codes = [c.strip().upper() for c in value.split(",") if c.strip()]
    for code in codes:
        if len(code) != 2 or not code.isalpha():
            raise click.BadParameter(f"{code!r} is not a two-letter country code", ctx, param)
    return codes


@aeo.command("decide")
@click.argument("action", type=click.Choice(AEO_ACTIONS))
@click.argument("operator_id", metavar="OPERATOR")
@click.option("--name", required=True, help="The operator's name.")
@click.option("--reference", required=True, help="The AEO certificate reference.")
@click.option("--reason", default="", help="Why (free text).")
@click.option("--country", default="", callback=lambda c, p, v: v.upper(), metavar="CC",
              help="The operator's country.")
@click.option("--recognized-by", default="", callback=_countries, metavar="CC,CC",
              help="MRA partner countries that recognize the status.")
@key_option
@node_option
@json_option
def aeo_decide(action: str, operator_id: str, name: str, reference: str, reason: str,
               country: str, recognized_by: list[str], key_file: Path, node: str,
               as_json: bool) -> None:
    """Grant, suspend, reinstate or revoke an operator's AEO status (customs).

    \b
    Example:
      tdx aeo decide suspend DE123456789012345 --name "Rhein Maschinenbau GmbH" \\
          --reference DEAEOF123456 --reason "audit findings" --key customs-de.key
    """
    operator = party(name, operator_id, country)
    _sign_and_submit(node, key_file, Output(as_json),
                     lambda network: aeo_decision(network, action, operator, reference,
                                                  reason=reason, recognized_by=recognized_by))


# -- tdx watch --------------------------------------------------------------------------

@click.command(cls=TdxCommand)
@click.option("--from-height", type=click.IntRange(min=0), default=0,
              help="Start at this block height (0: only new blocks).")
@click.option("--ucr", default="", help="Only documents of this consignment.")
@click.option("--count", type=click.IntRange(min=0), default=0,
              help="Stop after this many documents (0: run until interrupted).")
@node_option
@json_option
def watch(from_height: int, ucr: str, count: int, node: str, as_json: bool) -> None:
    """Stream the notices the ledger raises: alert matches, AEO changes and flags,
    temperature excursions, broken seals, used-up and revoked certificates.

    One line per notice (with --json: one JSON object per document, a line each).

    \b
    Example:
      tdx watch --node 127.0.0.1:7400
      tdx watch --from-height 1 --count 5 --json
    """
    seen = 0
    with Client(node) as client:
        for item in client.subscribe(from_height=from_height, ucr=ucr, notices_only=True):
            record = record_json(item.record)
            if as_json:
                click.echo(json.dumps({"height": item.height, "document_id":
                                       record["document_id"], "kind": record["kind"],
                                       "issuer": record["issuer"], "ucr": record["ucr"],
                                       "notices": list(item.record.receipt.result.notices)}))
            else:
                for notice in item.record.receipt.result.notices:
                    click.echo(f"{item.height} {record['kind']} {record['document_id'][:12]} "
                               f"{notice}")
            seen += 1
            if count and seen >= count:
                return
