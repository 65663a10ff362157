"""Certificates of origin and phytosanitary certificates, used once: issue, verify, draw
down by quantity against import declarations, revoke, amend (a new version supersedes).

Rules (each refusal's code in brackets; every refusal is FAILED_PRECONDITION):

- Issuing (``origin_certificate``, ``phytosanitary_certificate``; issuer role): the issuing
  member's country must be the certificate's export country [certificate.issuer_country];
  a certificate already past ``valid_until_ms`` at the block's time is refused
  [certificate.expired]; the issuer's certificate number is unique among its certificates
  [certificate.number_taken] (an amendment may keep the number of the version it replaces).
- Amending is issuing with ``supersedes_id``: the old version must exist
  [certificate.unknown], be of the same kind [certificate.kind_mismatch] and issuer
  [certificate.not_issuer], and be neither revoked [certificate.revoked] nor superseded
  already [certificate.superseded]. What was drawn on the old version carries over line by
  line: a drawn line must stay [certificate.amend_drops_drawn_line] with at least the drawn
  quantity [certificate.amend_below_drawn]. The old version becomes SUPERSEDED.
- Using a certificate (a verification, a draw-down, an import declaration that lists it)
  needs it usable at the block's time: not revoked [certificate.revoked], not superseded
  [certificate.superseded], not before ``valid_from_ms`` [certificate.not_yet_valid], not
  after ``valid_until_ms`` [certificate.expired], not drawn to zero [certificate.used_up];
  and the certificate must exist [certificate.unknown].
- ``certificate_verification`` and ``certificate_draw_down`` (customs) come from the
  importing country's customs [certificate.not_import_country].
- A draw-down names an import declaration already on the ledger
  [certificate.declaration_unknown, certificate.not_import_declaration] that lists this
  certificate or a version it supersedes [certificate.not_on_declaration]; each line must
  exist on the certificate [certificate.line_unknown] and draw no more than remains
  [certificate.over_draw]. What was drawn is recorded on the certificate and on the
  declaration. Drawing the last of every line makes the certificate USED_UP (a notice).
- ``certificate_revocation`` (issuer role) comes from the certificate's issuer
  [certificate.not_issuer], for a version neither revoked [certificate.revoked] nor
  superseded [certificate.superseded] (revoke the current version). A notice says so.

State::

    state/cert/<certificate id>              CertificateState (every version)
    state/certno/<issuer>\\0<number>          id of the version that holds that number

Import declarations (``declarations.py``) check the certificates they list with
``check_listed``; declarations are read from ``state/decl/<id>``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from tdx.node.state.effects import Effect
from tdx.node.state.workflows._state import (
    add,
    load,
    number,
    refuse,
    save,
    short,
    state_key,
    subtract,
    text,
    when,
)
from tdx.v1 import documents_pb2 as pb
from tdx.v1 import state_pb2

if TYPE_CHECKING:
    from tdx.node.state.effects import ApplyContext

CERTIFICATE_KINDS = ("origin_certificate", "phytosanitary_certificate")
S = state_pb2.CertificateStatus


def certificate_key(certificate_id: str) -> bytes:
    """Where a certificate's state lives."""
    return state_key("cert/", certificate_id)


def number_key(issuer: str, cert_number: str) -> bytes:
    """Where the id of the certificate holding an issuer's number lives."""
    return state_key("certno/", issuer, b"\x00", cert_number)


def declaration_key(declaration_id: str) -> bytes:
    """Where a declaration's state lives (written by ``declarations.py``)."""
    return state_key("decl/", declaration_id)


def load_certificate(context: ApplyContext, certificate_id: str) -> state_pb2.CertificateState:
    """The certificate's state, or a refusal naming the unknown id."""
    state = load(context.batch, certificate_key(certificate_id), state_pb2.CertificateState)
    if state is None:
        raise refuse("certificate.unknown",
                     f"no certificate {certificate_id} on the ledger (an origin or "
                     "phytosanitary certificate's document id)")
    return state


def expired(state: state_pb2.CertificateState, now_ms: int) -> bool:
    """Whether the certificate is past its validity at ``now_ms``."""
    return bool(state.valid_until_ms) and now_ms > state.valid_until_ms


def check_usable(state: state_pb2.CertificateState, now_ms: int) -> None:
    """Refuse unless the certificate can be used (verified, drawn, declared) at ``now_ms``."""
    name = f"certificate {state.number} ({short(state.certificate_id)})"
    if state.status == S.CERTIFICATE_STATUS_REVOKED:
        raise refuse("certificate.revoked",
                     f"{name} was revoked by its issuer: {state.revocation_reason}")
    if state.status == S.CERTIFICATE_STATUS_SUPERSEDED:
        raise refuse("certificate.superseded",
                     f"{name} was superseded by version {state.superseded_by}; use that one")
    if now_ms < state.valid_from_ms:
        raise refuse("certificate.not_yet_valid",
                     f"{name} is valid from {when(state.valid_from_ms)}")
    if expired(state, now_ms):
        raise refuse("certificate.expired",
                     f"{name} expired at {when(state.valid_until_ms)}")
    if state.status == S.CERTIFICATE_STATUS_USED_UP:
        raise refuse("certificate.used_up", f"{name} is fully drawn; nothing remains")


def versions(context: ApplyContext, state: state_pb2.CertificateState) -> list[str]:
    """The certificate's id and the ids of every version it supersedes, newest first."""
    ids = [state.certificate_id]
    current = state
    while current.supersedes_id and len(ids) < 1000:
        ids.append(current.supersedes_id)
        older = load(context.batch, certificate_key(current.supersedes_id),
                     state_pb2.CertificateState)
        if older is None:
            break
        current = older
    return ids


# -- issue and amend --------------------------------------------------------------------

def issue(context: ApplyContext) -> None:
    """Effect of ``origin_certificate`` and ``phytosanitary_certificate``."""
    body = context.checked.body
    cert = body.certificate
    member = context.checked.member
    if member.country_code != cert.export_country_code:
        raise refuse("certificate.issuer_country",
                     f"member {member.id} ({member.country_code}) may not issue certificates "
                     f"for exports from {cert.export_country_code}")
    if cert.valid_until_ms and context.proposed_ms > cert.valid_until_ms:
        raise refuse("certificate.expired",
                     f"valid_until_ms {when(cert.valid_until_ms)} is already past")
    old = _superseded_version(context) if cert.supersedes_id else None
    holder = context.batch.get(number_key(body.issuer, cert.number))
    if holder is not None and (old is None or holder.decode() != old.certificate_id):
        raise refuse("certificate.number_taken",
                     f"{body.issuer} already issued certificate number {cert.number} "
                     f"({short(holder.decode())}); amend it with supersedes_id instead")
    state = state_pb2.CertificateState(
        certificate_id=context.document_id, kind=context.checked.kind, issuer=body.issuer,
        ucr=body.ucr, number=cert.number, export_country_code=cert.export_country_code,
        import_country_code=cert.import_country_code, valid_from_ms=cert.valid_from_ms,
        valid_until_ms=cert.valid_until_ms, status=S.CERTIFICATE_STATUS_ACTIVE,
        supersedes_id=cert.supersedes_id, height=context.height,
    )
    drawn = _drawn_by_line(old) if old is not None else {}
    for item in cert.goods_items:
        quantity = number(item.quantity)
        already = drawn.pop(item.sequence_numeric, Decimal(0))
        if already > quantity:
            raise refuse("certificate.amend_below_drawn",
                         f"line {item.sequence_numeric}: {text(already)} is already drawn, "
                         f"more than the amended quantity {item.quantity}")
        state.lines.append(state_pb2.CertificateLine(
            sequence_numeric=item.sequence_numeric, hs_code=item.hs_code,
            description=item.description, quantity_unit_code=item.quantity_unit_code,
            quantity=text(quantity), drawn=text(already),
            remaining=text(subtract(quantity, already))))
    if drawn:
        line = min(drawn)
        raise refuse("certificate.amend_drops_drawn_line",
                     f"line {line} has {text(drawn[line])} drawn; the amendment must keep it")
    if old is not None:
        state.draw_downs.extend(old.draw_downs)
        state.verifications.extend(old.verifications)
        old.status = S.CERTIFICATE_STATUS_SUPERSEDED
        old.superseded_by = context.document_id
        save(context.batch, certificate_key(old.certificate_id), old)
        context.notices.append(
            f"certificate.amended: certificate {cert.number} version {context.document_id} "
            f"supersedes {old.certificate_id}")
    if state.lines and all(number(line.remaining) == 0 for line in state.lines):
        state.status = S.CERTIFICATE_STATUS_USED_UP
    save(context.batch, certificate_key(context.document_id), state)
    context.batch.put(number_key(body.issuer, cert.number), context.document_id.encode())


def _superseded_version(context: ApplyContext) -> state_pb2.CertificateState:
    body = context.checked.body
    old = load_certificate(context, body.certificate.supersedes_id)
    if old.kind != context.checked.kind:
        raise refuse("certificate.kind_mismatch",
                     f"{short(old.certificate_id)} is a {old.kind}, not a "
                     f"{context.checked.kind}")
    if old.issuer != body.issuer:
        raise refuse("certificate.not_issuer",
                     f"only {old.issuer}, its issuer, may amend certificate {old.number}")
    if old.status == S.CERTIFICATE_STATUS_REVOKED:
        raise refuse("certificate.revoked",
                     f"certificate {old.number} was revoked; issue a new one instead")
    if old.status == S.CERTIFICATE_STATUS_SUPERSEDED:
        raise refuse("certificate.superseded",
                     f"certificate {old.number} was already superseded by "
                     f"{old.superseded_by}; amend that version")
    return old


def _drawn_by_line(state: state_pb2.CertificateState) -> dict[int, Decimal]:
    return {line.sequence_numeric: number(line.drawn) for line in state.lines
            if number(line.drawn) > 0}


# -- verify, draw down, revoke ----------------------------------------------------------

def _importing_customs(context: ApplyContext, state: state_pb2.CertificateState) -> None:
    member = context.checked.member
    if member.country_code != state.import_country_code:
        raise refuse("certificate.not_import_country",
                     f"certificate {state.number} is for imports into "
                     f"{state.import_country_code}; member {member.id} is customs of "
                     f"{member.country_code}")


def verify(context: ApplyContext) -> None:
    """Effect of ``certificate_verification``: importing customs record a check."""
    action = context.checked.body.certificate_action
    state = load_certificate(context, action.certificate_id)
    _importing_customs(context, state)
    check_usable(state, context.proposed_ms)
    state.verifications.append(state_pb2.Verification(
        action_id=context.document_id, member=context.checked.body.issuer,
        height=context.height, at_ms=context.proposed_ms, reason=action.reason))
    save(context.batch, certificate_key(state.certificate_id), state)


def draw_down(context: ApplyContext) -> None:
    """Effect of ``certificate_draw_down``: draw quantities against an import declaration."""
    action = context.checked.body.certificate_action
    state = load_certificate(context, action.certificate_id)
    _importing_customs(context, state)
    check_usable(state, context.proposed_ms)
    declaration = load(context.batch, declaration_key(action.declaration_id),
                       state_pb2.DeclarationState)
    if declaration is None:
        raise refuse("certificate.declaration_unknown",
                     f"no import declaration {action.declaration_id} on the ledger")
    if declaration.kind != "import_declaration":
        raise refuse("certificate.not_import_declaration",
                     f"{short(action.declaration_id)} is an {declaration.kind}; goods are "
                     "drawn against an import declaration")
    if not set(versions(context, state)) & set(declaration.certificate_ids):
        raise refuse("certificate.not_on_declaration",
                     f"import declaration {short(action.declaration_id)} does not list "
                     f"certificate {state.number} ({short(state.certificate_id)})")
    lines = {line.sequence_numeric: line for line in state.lines}
    for wanted in action.lines:
        line = lines.get(wanted.sequence_numeric)
        if line is None:
            raise refuse("certificate.line_unknown",
                         f"certificate {state.number} has no line {wanted.sequence_numeric}")
        quantity = number(wanted.quantity)
        remaining = number(line.remaining)
        if quantity > remaining:
            raise refuse("certificate.over_draw",
                         f"line {line.sequence_numeric}: drawing {wanted.quantity} "
                         f"{line.quantity_unit_code} but only {line.remaining} remain")
        line.drawn = text(add(number(line.drawn), quantity))
        line.remaining = text(subtract(remaining, quantity))
    state.draw_downs.append(state_pb2.DrawDown(
        action_id=context.document_id, declaration_id=action.declaration_id,
        member=context.checked.body.issuer, height=context.height,
        at_ms=context.proposed_ms, lines=action.lines, certificate_id=state.certificate_id))
    if all(number(line.remaining) == 0 for line in state.lines):
        state.status = S.CERTIFICATE_STATUS_USED_UP
        context.notices.append(
            f"certificate.used_up: certificate {state.number} ({state.certificate_id}) is "
            f"fully drawn, last by import declaration {action.declaration_id}")
    save(context.batch, certificate_key(state.certificate_id), state)
    declaration.draw_down_ids.append(context.document_id)
    save(context.batch, declaration_key(action.declaration_id), declaration)


def revoke(context: ApplyContext) -> None:
    """Effect of ``certificate_revocation``: the issuer withdraws a certificate."""
    action = context.checked.body.certificate_action
    state = load_certificate(context, action.certificate_id)
    issuer = context.checked.body.issuer
    if issuer != state.issuer:
        raise refuse("certificate.not_issuer",
                     f"only {state.issuer}, its issuer, may revoke certificate {state.number}")
    if state.status == S.CERTIFICATE_STATUS_REVOKED:
        raise refuse("certificate.revoked", f"certificate {state.number} is already revoked")
    if state.status == S.CERTIFICATE_STATUS_SUPERSEDED:
        raise refuse("certificate.superseded",
                     f"certificate {state.number} was superseded by {state.superseded_by}; "
                     "revoke that version")
    state.status = S.CERTIFICATE_STATUS_REVOKED
    state.revocation_id = context.document_id
    state.revocation_reason = action.reason
    save(context.batch, certificate_key(state.certificate_id), state)
    context.notices.append(
        f"certificate.revoked: certificate {state.number} ({state.certificate_id}) revoked "
        f"by {issuer}: {action.reason}; drawn by {len(state.draw_downs)} draw-down(s)")


def check_listed(context: ApplyContext, certificate_id: str,
                 trade: pb.TradeDocument) -> state_pb2.CertificateState:
    """Refuse an import declaration that lists a certificate it may not use."""
    state = load_certificate(context, certificate_id)
    check_usable(state, context.proposed_ms)
    if trade.destination_country_code != state.import_country_code:
        raise refuse("certificate.destination_mismatch",
                     f"certificate {state.number} is for imports into "
                     f"{state.import_country_code}, the declaration's destination is "
                     f"{trade.destination_country_code}")
    return state


EFFECTS: dict[str, Effect] = {}
"""The effects of this module's kinds (merged in ``tdx.node.state.workflows``)."""

EFFECTS.update({
    "origin_certificate": issue,
    "phytosanitary_certificate": issue,
    "certificate_verification": verify,
    "certificate_draw_down": draw_down,
    "certificate_revocation": revoke,
})
