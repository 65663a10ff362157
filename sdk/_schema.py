"""Schema rules for every document kind: what must be present and well formed.

``check_body`` raises SchemaError naming the first field that breaks a rule. The node runs
the same function when a document enters and again when a block is applied, so a rule here
is a rule of the ledger: keep it deterministic (no clock, no randomness, no locale).
"""

from __future__ import annotations

from collections.abc import Callable

from tdx.v1 import documents_pb2 as pb

from ._errors import SchemaError
from ._fields import (
    MAX_ITEMS,
    MEMBER_ID_PATTERN,
    check_amount,
    check_country,
    check_doc_id,
    check_hs,
    check_items,
    check_member_id,
    check_party,
    check_text,
    check_ucr,
    decimal_of,
)
from ._kinds import KINDS_BY_NAME, kind_of
from ._members import ROLES, check_proposal_member

__all__ = ["CONFIDENTIAL_PUBLIC_FIELDS", "MEMBER_ID_PATTERN", "ROLES", "check_body"]

NONCE_MIN = 16
# Year 9999: no creation time beyond it is meaningful. The ledger also holds a document's
# created_ms to a window around its block's time (tdx.sdk.CreatedWindow); this bound is the
# one check_body can make without a clock.
MAX_CREATED_MS = 253_402_300_799_999


def check_body(body: pb.DocumentBody, network: str | None = None) -> str:
    """Check a body against the common rules and its kind's schema; return the kind name.

    With ``network`` given, the body must name that network.
    """
    if not body.network:
        raise SchemaError("network", "is required")
    if network is not None and body.network != network:
        raise SchemaError("network", f"is {body.network!r}, this network is {network!r}")
    check_member_id("issuer", body.issuer)
    if not 0 < body.created_ms <= MAX_CREATED_MS:
        raise SchemaError("created_ms", "must be a Unix time in milliseconds, after 1970 and "
                                        "before the year 10000")
    if len(body.nonce) < NONCE_MIN or len(body.nonce) > 64:
        raise SchemaError("nonce", f"must be {NONCE_MIN} to 64 random bytes")
    if body.ucr:
        check_ucr("ucr", body.ucr)
    if len(body.recipients) > 64:
        raise SchemaError("recipients", "at most 64")
    for i, recipient in enumerate(body.recipients):
        check_member_id(f"recipients[{i}]", recipient)
    kind = kind_of(body)
    if not kind:
        field = body.WhichOneof("content")
        if field is None:
            raise SchemaError("content", "no document content is set")
        raise SchemaError(f"{field}.type", "is unspecified or unknown")
    _CHECKS[kind](body)
    return kind


# -- kinds -----------------------------------------------------------------------------

def _trade(body: pb.DocumentBody) -> None:
    doc = body.trade
    check_text("trade.functional_reference_id", doc.functional_reference_id, limit=70)
    declaration = doc.type in (
        pb.TRADE_DOCUMENT_TYPE_EXPORT_DECLARATION,
        pb.TRADE_DOCUMENT_TYPE_IMPORT_DECLARATION,
    )
    needs_ucr = declaration or doc.type == pb.TRADE_DOCUMENT_TYPE_BILL_OF_LADING
    if needs_ucr and not body.ucr:
        raise SchemaError("ucr", "is required for this kind")
    check_party("trade.declarant", doc.declarant, required=declaration)
    check_party("trade.exporter", doc.exporter, required=True)
    check_party("trade.importer", doc.importer, required=True)
    check_party("trade.consignor", doc.consignor, required=False)
    check_party("trade.consignee", doc.consignee, required=False)
    check_party("trade.carrier", doc.carrier,
                required=doc.type == pb.TRADE_DOCUMENT_TYPE_BILL_OF_LADING)
    check_country("trade.export_country_code", doc.export_country_code, required=declaration)
    check_country("trade.destination_country_code", doc.destination_country_code,
                  required=declaration)
    check_text("trade.declaration_office_id", doc.declaration_office_id, required=declaration,
               limit=17)
    check_items("trade.goods_items", doc.goods_items)
    check_amount("trade.invoice_amount", doc.invoice_amount,
            required=doc.type == pb.TRADE_DOCUMENT_TYPE_INVOICE)
    for i, cert in enumerate(doc.certificate_ids):
        check_doc_id(f"trade.certificate_ids[{i}]", cert)
    if doc.certificate_ids and doc.type != pb.TRADE_DOCUMENT_TYPE_IMPORT_DECLARATION:
        raise SchemaError("trade.certificate_ids",
                          "only an import declaration draws on certificates")
    if doc.linked_export_id:
        check_doc_id("trade.linked_export_id", doc.linked_export_id)


def _certificate(body: pb.DocumentBody) -> None:
    cert = body.certificate
    if not body.ucr:
        raise SchemaError("ucr", "is required for a certificate")
    check_text("certificate.number", cert.number, limit=70)
    check_party("certificate.exporter", cert.exporter, required=True)
    check_party("certificate.importer", cert.importer, required=True)
    check_country("certificate.export_country_code", cert.export_country_code)
    check_country("certificate.import_country_code", cert.import_country_code)
    check_items("certificate.goods_items", cert.goods_items,
           origin_criterion=cert.type == pb.CERTIFICATE_TYPE_ORIGIN)
    if cert.type == pb.CERTIFICATE_TYPE_PHYTOSANITARY:
        for i, item in enumerate(cert.goods_items):
            if not item.quantity:
                raise SchemaError(f"certificate.goods_items[{i}].quantity", "is required")
    if cert.valid_from_ms < 0 or cert.valid_until_ms < 0:
        raise SchemaError("certificate.valid_until_ms", "must not be negative")
    if cert.valid_until_ms and cert.valid_until_ms <= cert.valid_from_ms:
        raise SchemaError("certificate.valid_until_ms", "must be after valid_from_ms")
    if cert.supersedes_id:
        check_doc_id("certificate.supersedes_id", cert.supersedes_id)


def _certificate_action(body: pb.DocumentBody) -> None:
    action = body.certificate_action
    check_doc_id("certificate_action.certificate_id", action.certificate_id)
    check_text("certificate_action.reason", action.reason, required=False)
    if action.type == pb.CERTIFICATE_ACTION_TYPE_REVOKE:
        check_text("certificate_action.reason", action.reason)
    if action.type == pb.CERTIFICATE_ACTION_TYPE_DRAW_DOWN:
        check_doc_id("certificate_action.declaration_id", action.declaration_id)
        if not action.lines:
            raise SchemaError("certificate_action.lines", "needs at least one line to draw")
        seen: set[int] = set()
        for i, line in enumerate(action.lines):
            if line.sequence_numeric == 0 or line.sequence_numeric in seen:
                raise SchemaError(f"certificate_action.lines[{i}].sequence_numeric",
                                  "must be 1 or more and not repeat")
            seen.add(line.sequence_numeric)
            decimal_of(f"certificate_action.lines[{i}].quantity", line.quantity, positive=True)
    elif action.lines or action.declaration_id:
        raise SchemaError("certificate_action.lines", "only a draw-down carries lines")


def _ip_rights(body: pb.DocumentBody) -> None:
    record = body.ip_rights
    check_text("ip_rights.right_type", record.right_type, limit=32)
    check_text("ip_rights.brand", record.brand)
    check_text("ip_rights.goods_description", record.goods_description)
    if not record.hs_codes:
        raise SchemaError("ip_rights.hs_codes", "needs at least one HS code")
    for i, code in enumerate(record.hs_codes):
        check_hs(f"ip_rights.hs_codes[{i}]", code)
    check_party("ip_rights.holder", record.holder, required=True)
    check_text("ip_rights.contact", record.contact)


def _ip_alert(body: pb.DocumentBody) -> None:
    alert = body.ip_alert
    check_doc_id("ip_alert.rights_record_id", alert.rights_record_id)
    if alert.severity == pb.ALERT_SEVERITY_UNSPECIFIED:
        raise SchemaError("ip_alert.severity", "is required (LOW, MEDIUM or HIGH)")
    if not (alert.hs_codes or alert.origin_country_codes or alert.consignor_ids
            or alert.route_location_ids):
        raise SchemaError("ip_alert", "needs at least one indicator (HS code, origin, "
                                      "consignor or route)")
    for i, code in enumerate(alert.hs_codes):
        check_hs(f"ip_alert.hs_codes[{i}]", code)
    for i, country in enumerate(alert.origin_country_codes):
        check_country(f"ip_alert.origin_country_codes[{i}]", country)
    if alert.expires_ms <= 0:
        raise SchemaError("ip_alert.expires_ms", "is required")


def _shipment(body: pb.DocumentBody) -> None:
    batch = body.shipment
    if not body.ucr:
        raise SchemaError("ucr", "is required for shipment events")
    if not batch.events:
        raise SchemaError("shipment.events", "needs at least one event")
    if len(batch.events) > MAX_ITEMS:
        raise SchemaError("shipment.events", f"at most {MAX_ITEMS} events")
    low = high = None
    if batch.min_temperature_c:
        low = decimal_of("shipment.min_temperature_c", batch.min_temperature_c)
    if batch.max_temperature_c:
        high = decimal_of("shipment.max_temperature_c", batch.max_temperature_c)
    if low is not None and high is not None and low > high:
        raise SchemaError("shipment.max_temperature_c", "must not be below min_temperature_c")
    for i, event in enumerate(batch.events):
        at = f"shipment.events[{i}]"
        if event.type == pb.SHIPMENT_EVENT_TYPE_UNSPECIFIED:
            raise SchemaError(f"{at}.type", "is required")
        if event.observed_ms <= 0:
            raise SchemaError(f"{at}.observed_ms", "is required")
        check_text(f"{at}.device_id", event.device_id, required=False, limit=64)
        if event.type == pb.SHIPMENT_EVENT_TYPE_TEMPERATURE:
            decimal_of(f"{at}.temperature_c", event.temperature_c)
        if event.type == pb.SHIPMENT_EVENT_TYPE_SEAL:
            check_text(f"{at}.seal_id", event.seal_id, limit=64)
            if event.seal_status == pb.SEAL_STATUS_UNSPECIFIED:
                raise SchemaError(f"{at}.seal_status", "is required for a seal event")
        if event.type == pb.SHIPMENT_EVENT_TYPE_POSITION and not (
            -90 <= event.latitude <= 90 and -180 <= event.longitude <= 180
        ):
            raise SchemaError(f"{at}.latitude", "position out of range")


def _aeo(body: pb.DocumentBody) -> None:
    decision = body.aeo
    if decision.action == pb.AEO_ACTION_UNSPECIFIED:
        raise SchemaError("aeo.action", "is required (GRANT, SUSPEND, REINSTATE or REVOKE)")
    check_party("aeo.operator", decision.operator, required=True)
    check_text("aeo.operator.id", decision.operator.id, limit=64)
    check_text("aeo.reference", decision.reference, limit=70)
    for i, country in enumerate(decision.recognized_by_country_codes):
        check_country(f"aeo.recognized_by_country_codes[{i}]", country)


def _proposal(body: pb.DocumentBody) -> None:
    proposal = body.proposal
    if proposal.action == pb.PROPOSAL_ACTION_UNSPECIFIED:
        raise SchemaError("proposal.action", "is required")
    check_proposal_member(proposal.action, proposal.member)
    check_text("proposal.rationale", proposal.rationale, required=False)
    if proposal.expires_ms <= 0:
        raise SchemaError("proposal.expires_ms", "is required (Unix milliseconds)")


def _vote(body: pb.DocumentBody) -> None:
    check_doc_id("vote.proposal_id", body.vote.proposal_id)
    check_text("vote.comment", body.vote.comment, required=False)


def _key_rotation(body: pb.DocumentBody) -> None:
    rotation = body.key_rotation
    if len(rotation.new_public_key) != 32:
        raise SchemaError("key_rotation.new_public_key", "must be a 32-byte Ed25519 key")
    if len(rotation.new_key_signature) != 64:
        raise SchemaError("key_rotation.new_key_signature", "must be a 64-byte signature")


# The kinds whose content may be encrypted, and the fields each may leave public (see
# tdx.sdk._confidential for their values). The ledger's rules need the content of the other
# kinds (declarations are matched against alerts, certificates are drawn down, ...), so those
# stay in clear. Of these kinds the ledger's rules read only the body's UCR, which is public.
CONFIDENTIAL_PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    "invoice": ("functional_reference_id", "exporter.country_code", "importer.country_code",
                "hs_codes", "origin_country_codes", "invoice_amount.currency_code"),
    "packing_list": ("functional_reference_id", "exporter.country_code",
                     "importer.country_code", "hs_codes", "origin_country_codes"),
    "bill_of_lading": ("functional_reference_id", "carrier.id", "loading_location_id",
                       "unloading_location_id", "hs_codes", "origin_country_codes"),
}
_MIN_SECRETBOX = 24 + 16


def _confidential(body: pb.DocumentBody) -> None:
    sealed = body.confidential
    if sealed.kind not in KINDS_BY_NAME or sealed.kind == "confidential":
        raise SchemaError("confidential.kind", "must name the kind of the encrypted content")
    allowed = CONFIDENTIAL_PUBLIC_FIELDS.get(sealed.kind)
    if allowed is None:
        raise SchemaError("confidential.kind", f"{sealed.kind} cannot be confidential (the "
                                               "ledger's rules need its content); kinds: "
                          + ", ".join(CONFIDENTIAL_PUBLIC_FIELDS))
    if len(sealed.ciphertext) < _MIN_SECRETBOX:
        raise SchemaError("confidential.ciphertext", "is required (nonce, box and tag)")
    if not sealed.keys:
        raise SchemaError("confidential.keys", "needs a sealed key for each recipient")
    recipients = set(body.recipients)
    keyed: set[str] = set()
    for i, key in enumerate(sealed.keys):
        check_member_id(f"confidential.keys[{i}].recipient", key.recipient)
        if key.recipient not in recipients:
            raise SchemaError(f"confidential.keys[{i}].recipient", "is not among the recipients")
        if key.recipient in keyed:
            raise SchemaError(f"confidential.keys[{i}].recipient", "has a key already")
        keyed.add(key.recipient)
        if len(key.sealed_key) != 80:
            raise SchemaError(f"confidential.keys[{i}].sealed_key", "must be a 32-byte key "
                                                                     "in a sealed box (80 bytes)")
    missing = sorted(recipients - keyed)
    if missing:
        raise SchemaError("confidential.keys", f"no sealed key for recipient {missing[0]!r}")
    for name in sorted(sealed.public_fields):
        if name not in allowed:
            raise SchemaError(f"confidential.public_fields[{name}]",
                              f"is not a public field of {sealed.kind}; fields: "
                              + ", ".join(allowed))
        check_text(f"confidential.public_fields[{name}]", sealed.public_fields[name])


_CHECKS: dict[str, Callable[[pb.DocumentBody], None]] = {
    "export_declaration": _trade,
    "import_declaration": _trade,
    "invoice": _trade,
    "bill_of_lading": _trade,
    "packing_list": _trade,
    "origin_certificate": _certificate,
    "phytosanitary_certificate": _certificate,
    "certificate_revocation": _certificate_action,
    "certificate_draw_down": _certificate_action,
    "certificate_verification": _certificate_action,
    "ip_rights_record": _ip_rights,
    "ip_rights_alert": _ip_alert,
    "shipment_events": _shipment,
    "aeo_decision": _aeo,
    "governance_proposal": _proposal,
    "governance_vote": _vote,
    "key_rotation": _key_rotation,
    "confidential": _confidential,
}
assert set(_CHECKS) == set(KINDS_BY_NAME)
