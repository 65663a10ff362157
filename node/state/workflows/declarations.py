"""Export and import declarations: advance cross-border data linked by UCR, and the checks
every declaration gets when it is applied (certificates, IP-rights alerts, AEO status).

Rules (each refusal's code in brackets):

- An ``export_declaration`` signed by a customs member comes from the export country's
  administration [declaration.not_export_country]; an ``import_declaration`` signed by a
  customs member, from the destination country's [declaration.not_import_country].
  (Traders declare for themselves; the role table says who may submit which kind.)
- An import declaration that lists certificates may use each one only if it is usable
  (see ``certificates.py``: certificate.unknown, .revoked, .superseded, .not_yet_valid,
  .expired, .used_up) and is for imports into the declaration's destination country
  [certificate.destination_mismatch].
- An import declaration's ``linked_export_id`` must name an export declaration on the
  ledger [declaration.export_unknown, declaration.not_export] of the same UCR
  [declaration.ucr_mismatch] and destination [declaration.destination_mismatch]. Without
  one, the latest export declaration of the same UCR and destination is linked
  automatically. Either way both sides record the link and a ``declaration.linked`` notice
  names it.
- A declaration whose ``functional_reference_id`` its issuer already used for a declaration
  of the same kind is taken, and flagged with a ``declaration.duplicate_reference`` notice
  naming the first one (the same declaration submitted twice, or a reference reused).
- Every export and import declaration is matched against the active IP-rights alerts
  (``ip_rights.AlertIndex``) and its parties' AEO status is checked (``aeo.flags``); the
  matches and flags are recorded on the declaration's state and raised as notices.

State::

    state/decl/<declaration id>            DeclarationState
    state/xport/<ucr>\\0<destination>       id of the latest export declaration of the UCR
                                           to that destination
    state/dref/<issuer>\\0<kind>\\0<ref>     id of the first declaration with that reference
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tdx.node.state.effects import Effect
from tdx.node.state.workflows import aeo, certificates, ip_rights
from tdx.node.state.workflows._state import load, refuse, save, short, state_key
from tdx.v1 import state_pb2

if TYPE_CHECKING:
    from tdx.node.state.effects import ApplyContext

declaration_key = certificates.declaration_key


def export_key(ucr: str, destination: str) -> bytes:
    """Where the id of the latest export declaration of ``ucr`` to ``destination`` lives."""
    return state_key("xport/", ucr, b"\x00", destination)


def _state_of(context: ApplyContext) -> state_pb2.DeclarationState:
    body = context.checked.body
    trade = body.trade
    return state_pb2.DeclarationState(
        declaration_id=context.document_id, kind=context.checked.kind, issuer=body.issuer,
        ucr=body.ucr, export_country_code=trade.export_country_code,
        destination_country_code=trade.destination_country_code,
        certificate_ids=trade.certificate_ids, height=context.height)


def reference_key(issuer: str, kind: str, reference: str) -> bytes:
    """Where the first declaration of ``issuer`` and ``kind`` with ``reference`` is named."""
    return state_key("dref/", issuer, b"\x00", kind, b"\x00", reference)


def _flag_reused_reference(context: ApplyContext) -> None:
    body = context.checked.body
    reference = body.trade.functional_reference_id
    if not reference:
        return
    key = reference_key(body.issuer, context.checked.kind, reference)
    first = context.batch.get(key)
    if first is None:
        context.batch.put(key, context.document_id.encode())
        return
    context.notices.append(
        f"declaration.duplicate_reference: {body.issuer} already declared functional "
        f"reference {reference!r} in {context.checked.kind.replace('_', ' ')} "
        f"{first.decode()}; this may be the same declaration submitted twice")


def _screen(context: ApplyContext, state: state_pb2.DeclarationState) -> None:
    """Match the declaration against the alert index and its parties' AEO status."""
    trade = context.checked.body.trade
    for match in ip_rights.AlertIndex(context).match(trade):
        state.alert_matches.append(match)
        context.notices.append(ip_rights.match_notice(match, ip_rights.brand_of(context, match)))
    for flag in aeo.flags(context, trade):
        state.aeo_flags.append(flag)
        context.notices.append(aeo.flag_notice(flag))


def _customs_country(context: ApplyContext, country: str, code: str, what: str) -> None:
    member = context.checked.member
    if "customs" in member.roles and member.country_code != country:
        raise refuse(code, f"member {member.id} is customs of {member.country_code}; only "
                           f"{country}'s customs may submit this {what}")


def export_declared(context: ApplyContext) -> None:
    """Effect of ``export_declaration``."""
    trade = context.checked.body.trade
    _customs_country(context, trade.export_country_code, "declaration.not_export_country",
                     "export declaration")
    state = _state_of(context)
    _flag_reused_reference(context)
    _screen(context, state)
    save(context.batch, declaration_key(context.document_id), state)
    context.batch.put(export_key(state.ucr, state.destination_country_code),
                      context.document_id.encode())


def import_declared(context: ApplyContext) -> None:
    """Effect of ``import_declaration``."""
    trade = context.checked.body.trade
    _customs_country(context, trade.destination_country_code,
                     "declaration.not_import_country", "import declaration")
    for certificate_id in trade.certificate_ids:
        certificates.check_listed(context, certificate_id, trade)
    state = _state_of(context)
    export = _linked_export(context, state)
    if export is not None:
        state.linked_export_id = export.declaration_id
        export.linked_import_ids.append(context.document_id)
        save(context.batch, declaration_key(export.declaration_id), export)
        how = "given" if trade.linked_export_id else "found by UCR"
        context.notices.append(
            f"declaration.linked: import declaration {context.document_id} is linked to "
            f"export declaration {export.declaration_id} ({how}; exported from "
            f"{export.export_country_code} by {export.issuer})")
    _flag_reused_reference(context)
    _screen(context, state)
    save(context.batch, declaration_key(context.document_id), state)


def _linked_export(context: ApplyContext,
                   state: state_pb2.DeclarationState) -> state_pb2.DeclarationState | None:
    given = context.checked.body.trade.linked_export_id
    if not given:
        found = context.batch.get(export_key(state.ucr, state.destination_country_code))
        if found is None:
            return None
        return load(context.batch, declaration_key(found.decode()), state_pb2.DeclarationState)
    export = load(context.batch, declaration_key(given), state_pb2.DeclarationState)
    if export is None:
        raise refuse("declaration.export_unknown", f"no export declaration {given} on the ledger")
    if export.kind != "export_declaration":
        raise refuse("declaration.not_export",
                     f"{short(given)} is an {export.kind}, not an export declaration")
    if export.ucr != state.ucr:
        raise refuse("declaration.ucr_mismatch",
                     f"export declaration {short(given)} is for consignment {export.ucr}, "
                     f"this declaration for {state.ucr}")
    if export.destination_country_code != state.destination_country_code:
        raise refuse("declaration.destination_mismatch",
                     f"export declaration {short(given)} goes to "
                     f"{export.destination_country_code}, this import is into "
                     f"{state.destination_country_code}")
    return export


EFFECTS: dict[str, Effect] = {}
"""The effects of this module's kinds (merged in ``tdx.node.state.workflows``)."""

EFFECTS.update({"export_declaration": export_declared, "import_declaration": import_declared})
