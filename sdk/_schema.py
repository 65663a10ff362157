"""Schema rules for every document kind: what must be present and well formed.

``check_body`` raises SchemaError naming the first field that breaks a rule. The node runs
the same function when a document enters and again when a block is applied, so a rule here
is a rule of the ledger: keep it deterministic (no clock, no randomness, no locale).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation

from tdx.v1 import documents_pb2 as pb

from ._errors import SchemaError
from ._kinds import KINDS_BY_NAME, kind_of

ROLES: tuple[str, ...] = ("customs", "issuer", "trader", "rights_holder", "logistics", "observer")

_UCR = re.compile(r"[A-Z0-9][A-Z0-9\-/.:]{3,34}")
_HS = re.compile(r"[0-9]{6,10}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DOC_ID = re.compile(r"[0-9a-f]{64}")
MEMBER_ID_PATTERN = _MEMBER_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
MAX_TEXT = 512
MAX_ITEMS = 999
NONCE_MIN = 16


def check_body(body: pb.DocumentBody, network: str | None = None) -> str:
    """Check a body against the common rules and its kind's schema; return the kind name.

    With ``network`` given, the body must name that network.
    """
    if not body.network:
        raise SchemaError("network", "is required")
    if network is not None and body.network != network:
        raise SchemaError("network", f"is {body.network!r}, this network is {network!r}")
    _member_id("issuer", body.issuer)
    if body.created_ms <= 0:
        raise SchemaError("created_ms", "must be a positive Unix time in milliseconds")
    if len(body.nonce) < NONCE_MIN or len(body.nonce) > 64:
        raise SchemaError("nonce", f"must be {NONCE_MIN} to 64 random bytes")
    if body.ucr:
        _ucr("ucr", body.ucr)
    if len(body.recipients) > 64:
        raise SchemaError("recipients", "at most 64")
    for i, recipient in enumerate(body.recipients):
        _member_id(f"recipients[{i}]", recipient)
    kind = kind_of(body)
    if not kind:
        field = body.WhichOneof("content")
        if field is None:
            raise SchemaError("content", "no document content is set")
        raise SchemaError(f"{field}.type", "is unspecified or unknown")
    _CHECKS[kind](body)
    return kind


# -- field helpers ---------------------------------------------------------------------

def _text(field: str, value: str, *, required: bool = True, limit: int = MAX_TEXT) -> None:
    if required and not value.strip():
        raise SchemaError(field, "is required")
    if len(value) > limit:
        raise SchemaError(field, f"is longer than {limit} characters")


def _member_id(field: str, value: str) -> None:
    if not _MEMBER_ID.fullmatch(value):
        raise SchemaError(field, "must be a member id (1-64 letters, digits, '-', '_', '.')")


def _ucr(field: str, value: str) -> None:
    if not _UCR.fullmatch(value):
        raise SchemaError(field, "must be a UCR: 4-35 upper-case letters, digits, - / . :")


def _country(field: str, value: str, *, required: bool = True) -> None:
    if not value and not required:
        return
    if not _COUNTRY.fullmatch(value):
        raise SchemaError(field, "must be an ISO 3166-1 alpha-2 code, for example DE")


def _hs(field: str, value: str) -> None:
    if not _HS.fullmatch(value):
        raise SchemaError(field, "must be an HS code of 6 to 10 digits")


def _doc_id(field: str, value: str) -> None:
    if not _DOC_ID.fullmatch(value):
        raise SchemaError(field, "must be a document id (64 lower-case hex digits)")


_DECIMAL = re.compile(r"-?[0-9]{1,24}(\.[0-9]{1,8})?")


def decimal_of(field: str, value: str, *, positive: bool = False) -> Decimal:
    """Parse a plain ASCII decimal string ("1250.00", "-4.5"), raising SchemaError naming
    the field. No spaces, exponents, underscores or non-ASCII digits: other systems read
    these values too."""
    if not _DECIMAL.fullmatch(value):
        raise SchemaError(field, f"must be a plain decimal number like 1250.00, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise SchemaError(field, f"must be a decimal number, got {value!r}") from None
    if positive and number <= 0:
        raise SchemaError(field, "must be greater than zero")
    return number


def _amount(field: str, amount: pb.Amount, *, required: bool) -> None:
    if not amount.value and not amount.currency_code:
        if required:
            raise SchemaError(field, "is required")
        return
    decimal_of(f"{field}.value", amount.value)
    if not _CURRENCY.fullmatch(amount.currency_code):
        raise SchemaError(f"{field}.currency_code", "must be an ISO 4217 code, for example EUR")


def _party(field: str, party: pb.Party, *, required: bool) -> None:
    if not party.name and not party.id:
        if required:
            raise SchemaError(field, "is required")
        return
    _text(f"{field}.name", party.name)
    _text(f"{field}.id", party.id, required=False, limit=64)
    _country(f"{field}.country_code", party.country_code, required=False)
    _text(f"{field}.address", party.address, required=False)


def _items(field: str, items: Iterable[pb.GoodsItem], *, origin_criterion: bool = False) -> None:
    seen: set[int] = set()
    count = 0
    for i, item in enumerate(items):
        count += 1
        at = f"{field}[{i}]"
        if item.sequence_numeric == 0:
            raise SchemaError(f"{at}.sequence_numeric", "must be 1 or more")
        if item.sequence_numeric in seen:
            raise SchemaError(f"{at}.sequence_numeric", "repeats an earlier line")
        seen.add(item.sequence_numeric)
        _text(f"{at}.description", item.description)
        _hs(f"{at}.hs_code", item.hs_code)
        _country(f"{at}.origin_country_code", item.origin_country_code, required=False)
        if item.quantity:
            decimal_of(f"{at}.quantity", item.quantity, positive=True)
            _text(f"{at}.quantity_unit_code", item.quantity_unit_code, limit=3)
        if item.net_mass_kg:
            decimal_of(f"{at}.net_mass_kg", item.net_mass_kg, positive=True)
        _amount(f"{at}.customs_value", item.customs_value, required=False)
        if origin_criterion:
            _text(f"{at}.origin_criterion", item.origin_criterion, limit=16)
            if not item.quantity:
                raise SchemaError(f"{at}.quantity", "is required on a certificate line")
            _country(f"{at}.origin_country_code", item.origin_country_code)
    if count == 0:
        raise SchemaError(field, "needs at least one goods line")
    if count > MAX_ITEMS:
        raise SchemaError(field, f"at most {MAX_ITEMS} lines")


# -- kinds -----------------------------------------------------------------------------

def _trade(body: pb.DocumentBody) -> None:
    doc = body.trade
    _text("trade.functional_reference_id", doc.functional_reference_id, limit=70)
    declaration = doc.type in (
        pb.TRADE_DOCUMENT_TYPE_EXPORT_DECLARATION,
        pb.TRADE_DOCUMENT_TYPE_IMPORT_DECLARATION,
    )
    needs_ucr = declaration or doc.type == pb.TRADE_DOCUMENT_TYPE_BILL_OF_LADING
    if needs_ucr and not body.ucr:
        raise SchemaError("ucr", "is required for this kind")
    _party("trade.declarant", doc.declarant, required=declaration)
    _party("trade.exporter", doc.exporter, required=True)
    _party("trade.importer", doc.importer, required=True)
    _party("trade.consignor", doc.consignor, required=False)
    _party("trade.consignee", doc.consignee, required=False)
    _party("trade.carrier", doc.carrier, required=doc.type == pb.TRADE_DOCUMENT_TYPE_BILL_OF_LADING)
    _country("trade.export_country_code", doc.export_country_code, required=declaration)
    _country("trade.destination_country_code", doc.destination_country_code, required=declaration)
    _text("trade.declaration_office_id", doc.declaration_office_id, required=declaration, limit=17)
    _items("trade.goods_items", doc.goods_items)
    _amount("trade.invoice_amount", doc.invoice_amount,
            required=doc.type == pb.TRADE_DOCUMENT_TYPE_INVOICE)
    for i, cert in enumerate(doc.certificate_ids):
        _doc_id(f"trade.certificate_ids[{i}]", cert)
    if doc.certificate_ids and doc.type != pb.TRADE_DOCUMENT_TYPE_IMPORT_DECLARATION:
        raise SchemaError("trade.certificate_ids",
                          "only an import declaration draws on certificates")
    if doc.linked_export_id:
        _doc_id("trade.linked_export_id", doc.linked_export_id)


def _certificate(body: pb.DocumentBody) -> None:
    cert = body.certificate
    if not body.ucr:
        raise SchemaError("ucr", "is required for a certificate")
    _text("certificate.number", cert.number, limit=70)
    _party("certificate.exporter", cert.exporter, required=True)
    _party("certificate.importer", cert.importer, required=True)
    _country("certificate.export_country_code", cert.export_country_code)
    _country("certificate.import_country_code", cert.import_country_code)
    _items("certificate.goods_items", cert.goods_items,
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
        _doc_id("certificate.supersedes_id", cert.supersedes_id)


def _certificate_action(body: pb.DocumentBody) -> None:
    action = body.certificate_action
    _doc_id("certificate_action.certificate_id", action.certificate_id)
    _text("certificate_action.reason", action.reason, required=False)
    if action.type == pb.CERTIFICATE_ACTION_TYPE_REVOKE:
        _text("certificate_action.reason", action.reason)
    if action.type == pb.CERTIFICATE_ACTION_TYPE_DRAW_DOWN:
        _doc_id("certificate_action.declaration_id", action.declaration_id)
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
    _text("ip_rights.right_type", record.right_type, limit=32)
    _text("ip_rights.brand", record.brand)
    _text("ip_rights.goods_description", record.goods_description)
    if not record.hs_codes:
        raise SchemaError("ip_rights.hs_codes", "needs at least one HS code")
    for i, code in enumerate(record.hs_codes):
        _hs(f"ip_rights.hs_codes[{i}]", code)
    _party("ip_rights.holder", record.holder, required=True)
    _text("ip_rights.contact", record.contact)


def _ip_alert(body: pb.DocumentBody) -> None:
    alert = body.ip_alert
    _doc_id("ip_alert.rights_record_id", alert.rights_record_id)
    if alert.severity == pb.ALERT_SEVERITY_UNSPECIFIED:
        raise SchemaError("ip_alert.severity", "is required (LOW, MEDIUM or HIGH)")
    if not (alert.hs_codes or alert.origin_country_codes or alert.consignor_ids
            or alert.route_location_ids):
        raise SchemaError("ip_alert", "needs at least one indicator (HS code, origin, "
                                      "consignor or route)")
    for i, code in enumerate(alert.hs_codes):
        _hs(f"ip_alert.hs_codes[{i}]", code)
    for i, country in enumerate(alert.origin_country_codes):
        _country(f"ip_alert.origin_country_codes[{i}]", country)
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
        _text(f"{at}.device_id", event.device_id, required=False, limit=64)
        if event.type == pb.SHIPMENT_EVENT_TYPE_TEMPERATURE:
            decimal_of(f"{at}.temperature_c", event.temperature_c)
        if event.type == pb.SHIPMENT_EVENT_TYPE_SEAL:
            _text(f"{at}.seal_id", event.seal_id, limit=64)
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
    _party("aeo.operator", decision.operator, required=True)
    _text("aeo.operator.id", decision.operator.id, limit=64)
    _text("aeo.reference", decision.reference, limit=70)
    for i, country in enumerate(decision.recognized_by_country_codes):
        _country(f"aeo.recognized_by_country_codes[{i}]", country)


def check_member_record(field: str, member: pb.MemberRecord) -> None:
    """Check a member record (genesis entry or governance proposal)."""
    _member_id(f"{field}.id", member.id)
    _text(f"{field}.name", member.name)
    _country(f"{field}.country_code", member.country_code)
    if not member.roles:
        raise SchemaError(f"{field}.roles", "needs at least one role")
    for i, role in enumerate(member.roles):
        if role not in ROLES:
            raise SchemaError(f"{field}.roles[{i}]", f"unknown role {role!r}; roles: "
                                                      + ", ".join(ROLES))
    if len(member.public_key) != 32:
        raise SchemaError(f"{field}.public_key", "must be a 32-byte Ed25519 public key")


_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]{1,253}):[0-9]{1,5}")


def _address(field: str, value: str, *, required: bool) -> None:
    if not value:
        if required:
            raise SchemaError(field, "is required for a validator")
        return
    match = _HOST_PORT.fullmatch(value)
    if match is None or not 0 < int(value.rsplit(":", 1)[1]) < 65536:
        raise SchemaError(field, "must be HOST:PORT, for example 127.0.0.1:7400")


def _proposal(body: pb.DocumentBody) -> None:
    proposal = body.proposal
    if proposal.action == pb.PROPOSAL_ACTION_UNSPECIFIED:
        raise SchemaError("proposal.action", "is required")
    if proposal.action == pb.PROPOSAL_ACTION_REMOVE_MEMBER:
        _member_id("proposal.member.id", proposal.member.id)
    else:
        member = proposal.member
        check_member_record("proposal.member", member)
        _address("proposal.member.api_address", member.api_address, required=member.validator)
        _address("proposal.member.peer_address", member.peer_address, required=False)
        _text("proposal.member.p2p_address", member.p2p_address, required=False)
    _text("proposal.rationale", proposal.rationale, required=False)
    if proposal.expires_ms <= 0:
        raise SchemaError("proposal.expires_ms", "is required (Unix milliseconds)")


def _vote(body: pb.DocumentBody) -> None:
    _doc_id("vote.proposal_id", body.vote.proposal_id)
    _text("vote.comment", body.vote.comment, required=False)


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
        _member_id(f"confidential.keys[{i}].recipient", key.recipient)
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
        _text(f"confidential.public_fields[{name}]", sealed.public_fields[name])


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
