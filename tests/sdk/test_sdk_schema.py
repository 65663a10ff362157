"""Kinds and schemas: every kind round-trips, every template is valid, and each kind's
rules refuse a broken document naming the field that breaks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sdk_factories import CREATED_MS, NETWORK, body_of, identity
from tdx.sdk import (
    KIND_NAMES,
    KINDS,
    Kind,
    SchemaError,
    build,
    check_body,
    documents_pb2,
    key_rotation,
    kind_of,
    open_envelope,
    seal,
    template_kinds,
)
from tdx.sdk._kinds import content_of, set_content

pb = documents_pb2
Body = pb.DocumentBody


def _fixed(body: Body, issuer: str = "de-customs") -> Body:
    body.issuer = issuer
    body.created_ms = CREATED_MS
    body.nonce = b"\x00" * 16
    return body


def confidential_body() -> Body:
    """A valid confidential body: an invoice sealed for nl-customs."""
    content = pb.Confidential(kind="invoice", ciphertext=b"\x01" * 40,
                              keys=[pb.SealedKey(recipient="nl-customs", sealed_key=b"\x02" * 80)],
                              public_fields={"functional_reference_id": "INV-1"})
    return _fixed(build(NETWORK, "confidential", content, recipients=["nl-customs"]),
                  "acme-trader")


def rotation_body() -> Body:
    old = identity("de-customs")
    new = identity("nl-customs")
    return _fixed(key_rotation(NETWORK, old, new))


# -- kinds -----------------------------------------------------------------------------

def test_kind_names_are_unique_and_in_kinds_order() -> None:
    assert len(set(KIND_NAMES)) == len(KIND_NAMES) == len(KINDS)
    assert tuple(k.name for k in KINDS) == KIND_NAMES


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_set_content_and_kind_of_round_trip(kind: Kind) -> None:
    body = Body()
    empty = type(getattr(body, kind.field))()
    set_content(body, kind.name, empty)
    assert kind_of(body) == kind.name
    assert content_of(body) is getattr(body, kind.field)
    # The kind survives the wire.
    assert kind_of(Body.FromString(body.SerializeToString())) == kind.name


def test_kind_of_unset_or_unknown_type_is_empty() -> None:
    assert kind_of(Body()) == ""
    assert content_of(Body()) is None
    body = Body()
    body.trade.functional_reference_id = "x"  # type left UNSPECIFIED
    assert kind_of(body) == ""
    body.certificate.type = 99  # type: ignore[assignment]
    assert kind_of(body) == ""


def test_set_content_refuses_unknown_kind() -> None:
    with pytest.raises(KeyError):
        set_content(Body(), "no_such_kind", pb.TradeDocument())


# -- valid documents -------------------------------------------------------------------

def test_every_kind_but_rotation_and_confidential_has_a_template() -> None:
    assert set(KIND_NAMES) - set(template_kinds()) == {"key_rotation", "confidential"}
    assert template_kinds() == [k for k in KIND_NAMES if k in template_kinds()]


@pytest.mark.parametrize("kind", template_kinds())
def test_every_template_passes_the_schema_after_sealing(kind: str) -> None:
    envelope = seal(identity("de-customs"), body_of(kind, issuer="de-customs"))
    body = open_envelope(envelope)
    assert check_body(body, NETWORK) == kind
    assert check_body(body) == kind


def test_key_rotation_and_confidential_bodies_pass() -> None:
    assert check_body(rotation_body(), NETWORK) == "key_rotation"
    assert check_body(confidential_body(), NETWORK) == "confidential"


# -- rejections ------------------------------------------------------------------------

Mutation = Callable[[Body], object]


def _kind_body(kind: str) -> Callable[[], Body]:
    return lambda: body_of(kind)


CASES: list[tuple[str, Callable[[], Body], Mutation, str]] = [
    # common rules
    ("no network", _kind_body("invoice"), lambda b: b.ClearField("network"), "network"),
    ("bad issuer", _kind_body("invoice"), lambda b: setattr(b, "issuer", "a b"), "issuer"),
    ("no issuer", _kind_body("invoice"), lambda b: b.ClearField("issuer"), "issuer"),
    ("no time", _kind_body("invoice"), lambda b: b.ClearField("created_ms"), "created_ms"),
    ("negative time", _kind_body("invoice"), lambda b: setattr(b, "created_ms", -1),
     "created_ms"),
    ("short nonce", _kind_body("invoice"), lambda b: setattr(b, "nonce", b"\x00" * 15),
     "nonce"),
    ("long nonce", _kind_body("invoice"), lambda b: setattr(b, "nonce", b"\x00" * 65), "nonce"),
    ("lower-case ucr", _kind_body("invoice"), lambda b: setattr(b, "ucr", "4de123"), "ucr"),
    ("short ucr", _kind_body("invoice"), lambda b: setattr(b, "ucr", "4DE"), "ucr"),
    ("bad recipient", _kind_body("invoice"), lambda b: b.recipients.append("not ok"),
     "recipients[0]"),
    ("too many recipients", _kind_body("invoice"),
     lambda b: b.recipients.extend(f"m{i}" for i in range(65)), "recipients"),
    ("no content", _kind_body("invoice"), lambda b: b.ClearField("trade"), "content"),
    ("unspecified type", _kind_body("invoice"), lambda b: setattr(b.trade, "type", 0),
     "trade.type"),
    # trade documents
    ("declaration bad HS code", _kind_body("export_declaration"),
     lambda b: setattr(b.trade.goods_items[0], "hs_code", "8413"),
     "trade.goods_items[0].hs_code"),
    ("declaration HS code with letters", _kind_body("export_declaration"),
     lambda b: setattr(b.trade.goods_items[0], "hs_code", "84137A"),
     "trade.goods_items[0].hs_code"),
    ("declaration without UCR", _kind_body("export_declaration"),
     lambda b: b.ClearField("ucr"), "ucr"),
    ("import declaration without UCR", _kind_body("import_declaration"),
     lambda b: b.ClearField("ucr"), "ucr"),
    ("declaration bad country", _kind_body("export_declaration"),
     lambda b: setattr(b.trade, "export_country_code", "de"), "trade.export_country_code"),
    ("declaration three-letter country", _kind_body("export_declaration"),
     lambda b: setattr(b.trade, "destination_country_code", "NGA"),
     "trade.destination_country_code"),
    ("declaration without declarant", _kind_body("export_declaration"),
     lambda b: b.trade.ClearField("declarant"), "trade.declarant"),
    ("declaration without office", _kind_body("import_declaration"),
     lambda b: b.trade.ClearField("declaration_office_id"), "trade.declaration_office_id"),
    ("party bad country", _kind_body("export_declaration"),
     lambda b: setattr(b.trade.exporter, "country_code", "Germany"),
     "trade.exporter.country_code"),
    ("party without name", _kind_body("packing_list"),
     lambda b: setattr(b.trade.importer, "name", "  "), "trade.importer.name"),
    ("zero quantity", _kind_body("packing_list"),
     lambda b: setattr(b.trade.goods_items[0], "quantity", "0"),
     "trade.goods_items[0].quantity"),
    ("negative mass", _kind_body("packing_list"),
     lambda b: setattr(b.trade.goods_items[0], "net_mass_kg", "-1"),
     "trade.goods_items[0].net_mass_kg"),
    ("quantity not a number", _kind_body("packing_list"),
     lambda b: setattr(b.trade.goods_items[0], "quantity", "forty"),
     "trade.goods_items[0].quantity"),
    ("quantity NaN", _kind_body("packing_list"),
     lambda b: setattr(b.trade.goods_items[0], "quantity", "NaN"),
     "trade.goods_items[0].quantity"),
    ("quantity without unit", _kind_body("packing_list"),
     lambda b: b.trade.goods_items[0].ClearField("quantity_unit_code"),
     "trade.goods_items[0].quantity_unit_code"),
    ("line number zero", _kind_body("packing_list"),
     lambda b: setattr(b.trade.goods_items[0], "sequence_numeric", 0),
     "trade.goods_items[0].sequence_numeric"),
    ("repeated line number", _kind_body("packing_list"),
     lambda b: b.trade.goods_items.append(b.trade.goods_items[0]),
     "trade.goods_items[1].sequence_numeric"),
    ("no goods lines", _kind_body("packing_list"),
     lambda b: b.trade.ClearField("goods_items"), "trade.goods_items"),
    ("bad customs value currency", _kind_body("packing_list"),
     lambda b: setattr(b.trade.goods_items[0].customs_value, "currency_code", "eur"),
     "trade.goods_items[0].customs_value.currency_code"),
    ("invoice without amount", _kind_body("invoice"),
     lambda b: b.trade.ClearField("invoice_amount"), "trade.invoice_amount"),
    ("invoice amount not a number", _kind_body("invoice"),
     lambda b: setattr(b.trade.invoice_amount, "value", "lots"), "trade.invoice_amount.value"),
    ("invoice drawing on a certificate", _kind_body("invoice"),
     lambda b: b.trade.certificate_ids.append("ab" * 32), "trade.certificate_ids"),
    ("import declaration bad certificate id", _kind_body("import_declaration"),
     lambda b: b.trade.certificate_ids.append("AB" * 32), "trade.certificate_ids[0]"),
    ("bad linked export id", _kind_body("import_declaration"),
     lambda b: setattr(b.trade, "linked_export_id", "123"), "trade.linked_export_id"),
    ("bill of lading without carrier", _kind_body("bill_of_lading"),
     lambda b: b.trade.ClearField("carrier"), "trade.carrier"),
    ("bill of lading without UCR", _kind_body("bill_of_lading"),
     lambda b: b.ClearField("ucr"), "ucr"),
    # certificates
    ("certificate without UCR", _kind_body("origin_certificate"),
     lambda b: b.ClearField("ucr"), "ucr"),
    ("origin line without criterion", _kind_body("origin_certificate"),
     lambda b: b.certificate.goods_items[0].ClearField("origin_criterion"),
     "certificate.goods_items[0].origin_criterion"),
    ("origin line without origin country", _kind_body("origin_certificate"),
     lambda b: b.certificate.goods_items[0].ClearField("origin_country_code"),
     "certificate.goods_items[0].origin_country_code"),
    ("origin line without quantity", _kind_body("origin_certificate"),
     lambda b: b.certificate.goods_items[0].ClearField("quantity"),
     "certificate.goods_items[0].quantity"),
    ("phytosanitary line without quantity", _kind_body("phytosanitary_certificate"),
     lambda b: b.certificate.goods_items[0].ClearField("quantity"),
     "certificate.goods_items[0].quantity"),
    ("validity ends before it starts", _kind_body("origin_certificate"),
     lambda b: setattr(b.certificate, "valid_until_ms", b.certificate.valid_from_ms),
     "certificate.valid_until_ms"),
    ("negative validity", _kind_body("origin_certificate"),
     lambda b: setattr(b.certificate, "valid_from_ms", -5), "certificate.valid_until_ms"),
    ("certificate bad import country", _kind_body("origin_certificate"),
     lambda b: setattr(b.certificate, "import_country_code", ""),
     "certificate.import_country_code"),
    ("certificate without number", _kind_body("phytosanitary_certificate"),
     lambda b: b.certificate.ClearField("number"), "certificate.number"),
    ("bad supersedes id", _kind_body("origin_certificate"),
     lambda b: setattr(b.certificate, "supersedes_id", "x"), "certificate.supersedes_id"),
    # certificate actions
    ("revocation without reason", _kind_body("certificate_revocation"),
     lambda b: b.certificate_action.ClearField("reason"), "certificate_action.reason"),
    ("revocation bad certificate id", _kind_body("certificate_revocation"),
     lambda b: setattr(b.certificate_action, "certificate_id", "0" * 63),
     "certificate_action.certificate_id"),
    ("revocation carrying lines", _kind_body("certificate_revocation"),
     lambda b: b.certificate_action.lines.add(sequence_numeric=1, quantity="1"),
     "certificate_action.lines"),
    ("draw-down without lines", _kind_body("certificate_draw_down"),
     lambda b: b.certificate_action.ClearField("lines"), "certificate_action.lines"),
    ("draw-down zero quantity", _kind_body("certificate_draw_down"),
     lambda b: setattr(b.certificate_action.lines[0], "quantity", "0"),
     "certificate_action.lines[0].quantity"),
    ("draw-down repeated line", _kind_body("certificate_draw_down"),
     lambda b: b.certificate_action.lines.add(sequence_numeric=1, quantity="1"),
     "certificate_action.lines[1].sequence_numeric"),
    ("draw-down without declaration", _kind_body("certificate_draw_down"),
     lambda b: b.certificate_action.ClearField("declaration_id"),
     "certificate_action.declaration_id"),
    ("verification naming a declaration", _kind_body("certificate_verification"),
     lambda b: setattr(b.certificate_action, "declaration_id", "ab" * 32),
     "certificate_action.lines"),
    # IP rights
    ("rights record without HS codes", _kind_body("ip_rights_record"),
     lambda b: b.ip_rights.ClearField("hs_codes"), "ip_rights.hs_codes"),
    ("rights record bad HS code", _kind_body("ip_rights_record"),
     lambda b: b.ip_rights.hs_codes.append("12345"), "ip_rights.hs_codes[2]"),
    ("rights record without holder", _kind_body("ip_rights_record"),
     lambda b: b.ip_rights.ClearField("holder"), "ip_rights.holder"),
    ("rights record without brand", _kind_body("ip_rights_record"),
     lambda b: b.ip_rights.ClearField("brand"), "ip_rights.brand"),
    ("alert without indicators", _kind_body("ip_rights_alert"),
     lambda b: [b.ip_alert.ClearField(f) for f in ("hs_codes", "origin_country_codes",
                                                   "consignor_ids", "route_location_ids")],
     "ip_alert"),
    ("alert without severity", _kind_body("ip_rights_alert"),
     lambda b: b.ip_alert.ClearField("severity"), "ip_alert.severity"),
    ("alert without expiry", _kind_body("ip_rights_alert"),
     lambda b: b.ip_alert.ClearField("expires_ms"), "ip_alert.expires_ms"),
    ("alert bad rights record id", _kind_body("ip_rights_alert"),
     lambda b: setattr(b.ip_alert, "rights_record_id", ""), "ip_alert.rights_record_id"),
    ("alert bad origin", _kind_body("ip_rights_alert"),
     lambda b: b.ip_alert.origin_country_codes.append("xx"), "ip_alert.origin_country_codes[1]"),
    # shipment events
    ("seal event without status", _kind_body("shipment_events"),
     lambda b: b.shipment.events[1].ClearField("seal_status"), "shipment.events[1].seal_status"),
    ("seal event without seal id", _kind_body("shipment_events"),
     lambda b: b.shipment.events[1].ClearField("seal_id"), "shipment.events[1].seal_id"),
    ("event without type", _kind_body("shipment_events"),
     lambda b: b.shipment.events[0].ClearField("type"), "shipment.events[0].type"),
    ("event without time", _kind_body("shipment_events"),
     lambda b: b.shipment.events[2].ClearField("observed_ms"), "shipment.events[2].observed_ms"),
    ("temperature not a number", _kind_body("shipment_events"),
     lambda b: setattr(b.shipment.events[2], "temperature_c", "warm"),
     "shipment.events[2].temperature_c"),
    ("position out of range", _kind_body("shipment_events"),
     lambda b: setattr(b.shipment.events[0], "latitude", 91.0), "shipment.events[0].latitude"),
    ("position NaN", _kind_body("shipment_events"),
     lambda b: setattr(b.shipment.events[0], "longitude", float("nan")),
     "shipment.events[0].latitude"),
    ("range upside down", _kind_body("shipment_events"),
     lambda b: setattr(b.shipment, "min_temperature_c", "9"), "shipment.max_temperature_c"),
    ("no events", _kind_body("shipment_events"),
     lambda b: b.shipment.ClearField("events"), "shipment.events"),
    ("events without UCR", _kind_body("shipment_events"),
     lambda b: b.ClearField("ucr"), "ucr"),
    # AEO
    ("AEO without action", _kind_body("aeo_decision"),
     lambda b: b.aeo.ClearField("action"), "aeo.action"),
    ("AEO operator without id", _kind_body("aeo_decision"),
     lambda b: b.aeo.operator.ClearField("id"), "aeo.operator.id"),
    ("AEO bad recognizing country", _kind_body("aeo_decision"),
     lambda b: b.aeo.recognized_by_country_codes.append("X1"),
     "aeo.recognized_by_country_codes[2]"),
    # governance
    ("member with unknown role", _kind_body("governance_proposal"),
     lambda b: b.proposal.member.roles.append("admiral"), "proposal.member.roles[1]"),
    ("member without roles", _kind_body("governance_proposal"),
     lambda b: b.proposal.member.ClearField("roles"), "proposal.member.roles"),
    ("member short key", _kind_body("governance_proposal"),
     lambda b: setattr(b.proposal.member, "public_key", b"\x01" * 31),
     "proposal.member.public_key"),
    ("member bad id", _kind_body("governance_proposal"),
     lambda b: setattr(b.proposal.member, "id", "ng customs"), "proposal.member.id"),
    ("proposal without action", _kind_body("governance_proposal"),
     lambda b: b.proposal.ClearField("action"), "proposal.action"),
    ("removal with bad id", _kind_body("governance_proposal"),
     lambda b: [setattr(b.proposal, "action", pb.PROPOSAL_ACTION_REMOVE_MEMBER),
                setattr(b.proposal.member, "id", "")], "proposal.member.id"),
    ("vote bad proposal id", _kind_body("governance_vote"),
     lambda b: setattr(b.vote, "proposal_id", "nope"), "vote.proposal_id"),
    # key rotation
    ("rotation short key", rotation_body,
     lambda b: setattr(b.key_rotation, "new_public_key", b"\x01" * 31),
     "key_rotation.new_public_key"),
    ("rotation short signature", rotation_body,
     lambda b: setattr(b.key_rotation, "new_key_signature", b"\x01" * 63),
     "key_rotation.new_key_signature"),
    # confidential
    ("confidential key for a non-recipient", confidential_body,
     lambda b: b.ClearField("recipients"), "confidential.keys[0].recipient"),
    ("confidential of confidential", confidential_body,
     lambda b: setattr(b.confidential, "kind", "confidential"), "confidential.kind"),
    ("confidential of unknown kind", confidential_body,
     lambda b: setattr(b.confidential, "kind", "letter"), "confidential.kind"),
    ("confidential without ciphertext", confidential_body,
     lambda b: b.confidential.ClearField("ciphertext"), "confidential.ciphertext"),
    ("confidential without keys", confidential_body,
     lambda b: b.confidential.ClearField("keys"), "confidential.keys"),
    ("confidential short sealed key", confidential_body,
     lambda b: setattr(b.confidential.keys[0], "sealed_key", b"\x00" * 79),
     "confidential.keys[0].sealed_key"),
]


def test_rejection_cases_cover_every_kind() -> None:
    kinds = {check_body(make()) for _, make, _, _ in CASES}
    assert kinds == set(KIND_NAMES)


@pytest.mark.parametrize(("make", "mutate", "field"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_schema_rejection_names_the_field(
    make: Callable[[], Body], mutate: Mutation, field: str
) -> None:
    body = make()
    check_body(body, NETWORK)  # valid before the change
    mutate(body)
    with pytest.raises(SchemaError) as caught:
        check_body(body, NETWORK)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_wrong_network_is_named() -> None:
    with pytest.raises(SchemaError, match="this network is 'other'") as caught:
        check_body(body_of("invoice"), "other")
    assert caught.value.field == "network"


def test_check_body_is_a_pure_function_of_the_body() -> None:
    """The ledger runs check_body when applying blocks, so it must not change the body."""
    body = body_of("shipment_events")
    before = body.SerializeToString(deterministic=True)
    check_body(body, NETWORK)
    assert body.SerializeToString(deterministic=True) == before


# -- findings --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("make", "mutate", "field"),
    [
        (_kind_body("export_declaration"),
         lambda b: setattr(b.trade.goods_items[0], "hs_code", "841370\n"),
         "trade.goods_items[0].hs_code"),
        (_kind_body("export_declaration"), lambda b: setattr(b, "ucr", b.ucr + "\n"), "ucr"),
        (_kind_body("export_declaration"),
         lambda b: setattr(b.trade, "export_country_code", "DE\n"), "trade.export_country_code"),
        (_kind_body("invoice"),
         lambda b: setattr(b.trade.invoice_amount, "currency_code", "EUR\n"),
         "trade.invoice_amount.currency_code"),
        (_kind_body("invoice"), lambda b: b.recipients.append("nl-customs\n"), "recipients[0]"),
        (_kind_body("governance_vote"),
         lambda b: setattr(b.vote, "proposal_id", "ab" * 32 + "\n"), "vote.proposal_id"),
    ],
    ids=["hs_code", "ucr", "country", "currency", "recipient", "document_id"],
)
def test_trailing_newline_is_refused(
    make: Callable[[], Body], mutate: Mutation, field: str
) -> None:
    """A UCR "X\\n" would be indexed apart from "X"; a code must be exactly its pattern."""
    body = make()
    mutate(body)
    with pytest.raises(SchemaError) as caught:
        check_body(body, NETWORK)
    assert caught.value.field == field


@pytest.mark.parametrize("quantity", [" 40", "4_0", "\u0664\u0660", "40\n"])
def test_decimal_fields_are_plain_ascii_decimals(quantity: str) -> None:
    """Decimal strings cross to other systems: only [-]digits[.digits] should pass."""
    body = body_of("packing_list")
    body.trade.goods_items[0].quantity = quantity
    with pytest.raises(SchemaError) as caught:
        check_body(body, NETWORK)
    assert caught.value.field == "trade.goods_items[0].quantity"
