"""Document bodies: one canonical encoding, a creation time within the network's window, and
JSON errors that name the snake_case field and the fields allowed."""

from __future__ import annotations

import re

import pytest
from sdk_factories import CREATED_MS, NETWORK, body_of, make_genesis
from tdx.sdk import (
    CreatedWindow,
    GenesisError,
    SchemaError,
    build,
    check_body,
    check_canonical,
    check_genesis,
    declaration,
    decode_body,
    documents_pb2,
    genesis_hash,
    goods_item,
)

pb = documents_pb2
UNKNOWN_111 = b"\xf8\x06\x01"  # field 111, varint 1: no DocumentBody field has that number
HOUR = 3_600_000


def canonical_check(raw: bytes) -> None:
    check_canonical(raw, decode_body(raw))


# -- canonical encoding --------------------------------------------------------------------

def test_a_sealed_body_is_canonical() -> None:
    for kind in ("invoice", "export_declaration", "governance_proposal", "shipment_events"):
        canonical_check(body_of(kind).SerializeToString(deterministic=True))


def test_an_unknown_field_is_refused_even_where_bytes_re_serialize_alike() -> None:
    raw = body_of("invoice").SerializeToString(deterministic=True) + UNKNOWN_111
    body = decode_body(raw)
    # protobuf keeps unknown fields and writes them back: a byte comparison alone passes.
    assert body.SerializeToString(deterministic=True) == raw
    with pytest.raises(SchemaError) as caught:
        check_canonical(raw, body)
    assert (caught.value.field, "unknown protobuf field number 111" in caught.value.message) == (
        "body", True)


def test_an_unknown_field_deep_in_the_body_is_named_by_its_path() -> None:
    party = pb.Party()
    party.MergeFromString(pb.Party(name="Rhein GmbH").SerializeToString() + UNKNOWN_111)
    body = body_of("invoice")
    body.trade.exporter.CopyFrom(party)
    line = pb.GoodsItem()
    line.MergeFromString(body.trade.goods_items[0].SerializeToString() + b"\xa0\x1f\x05")
    raw = body.SerializeToString(deterministic=True)
    with pytest.raises(SchemaError, match=re.escape("trade.exporter: carries unknown")):
        canonical_check(raw)
    body.trade.exporter.CopyFrom(pb.Party(name="Rhein GmbH"))
    body.trade.goods_items[0].CopyFrom(line)
    with pytest.raises(SchemaError, match=re.escape("trade.goods_items[0]: carries unknown")):
        canonical_check(body.SerializeToString(deterministic=True))


def test_an_unknown_enum_value_is_refused() -> None:
    body = body_of("ip_rights_alert")
    body.ip_alert.severity = 9  # type: ignore[assignment]
    with pytest.raises(SchemaError) as caught:
        canonical_check(body.SerializeToString(deterministic=True))
    assert caught.value.field == "ip_alert.severity"
    assert "ALERT_SEVERITY_HIGH" in caught.value.message


@pytest.mark.parametrize("reencode", [
    # the same fields in another order
    lambda raw, body: (pb.DocumentBody(issuer=body.issuer).SerializeToString()
                       + pb.DocumentBody(network=body.network).SerializeToString()
                       + raw.replace(pb.DocumentBody(network=body.network).SerializeToString()
                                     + pb.DocumentBody(issuer=body.issuer).SerializeToString(),
                                     b"", 1)),
    # a default value written out (ucr = "", which the body leaves unset)
    lambda raw, body: raw + b"\x2a\x00",
    # a singular field twice (the last one wins when decoding)
    lambda raw, body: pb.DocumentBody(network="other").SerializeToString() + raw,
    # a varint in more bytes than it needs (created_ms)
    lambda raw, body: raw.replace(
        pb.DocumentBody(created_ms=body.created_ms).SerializeToString(),
        b"\x18" + _long_varint(body.created_ms), 1),
], ids=["field order", "default written", "field twice", "long varint"])
def test_another_encoding_of_the_same_body_is_refused(reencode: object) -> None:
    body = body_of("invoice")
    body.ClearField("ucr")
    raw = body.SerializeToString(deterministic=True)
    other = reencode(raw, body)  # type: ignore[operator]
    assert other != raw and decode_body(other) == body  # same content, another id
    with pytest.raises(SchemaError) as caught:
        canonical_check(other)
    assert caught.value.field == "body"
    assert "canonical protobuf encoding" in caught.value.message


def _long_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
        if not value:
            break
    return bytes(out) + b"\x00"


# -- the creation-time window -----------------------------------------------------------

def test_the_window_defaults_to_a_day_before_and_five_minutes_after() -> None:
    assert CreatedWindow() == CreatedWindow.of(make_genesis()) == CreatedWindow(
        24 * HOUR, 5 * 60_000)
    genesis = make_genesis()
    genesis.parameters.created_max_age_ms = 2 * HOUR
    assert CreatedWindow.of(genesis) == CreatedWindow(2 * HOUR, 5 * 60_000)
    # An unset parameter leaves the genesis (and so the network's identity) as it was.
    assert genesis_hash(make_genesis()) != genesis_hash(genesis)
    genesis.ClearField("parameters")
    assert genesis_hash(make_genesis()) == genesis_hash(genesis)


def test_bounds_are_inclusive_and_extremes_are_refused() -> None:
    window = CreatedWindow(HOUR, 60_000)
    now = CREATED_MS
    for created in (now - HOUR, now, now + 60_000):
        window.check(created, now)
    for created in (now - HOUR - 1, now + 60_001, 1, 2**63 - 1, 0, -1):
        with pytest.raises(SchemaError) as caught:
            window.check(created, now)
        assert caught.value.field == "created_ms"
    with pytest.raises(SchemaError, match="is 2 h before the ledger's time"):
        window.check(now - 2 * HOUR, now)
    with pytest.raises(SchemaError, match="at most 1 h before and 1 min after"):
        window.check(now + 10 * 60_000, now)


@pytest.mark.parametrize(("age", "lead", "field"), [
    (-1, 0, "created_max_age_ms"), (59_999, 0, "created_max_age_ms"),
    (367 * 24 * HOUR, 0, "created_max_age_ms"), (0, -5, "created_max_lead_ms"),
    (0, 999, "created_max_lead_ms"), (0, 25 * HOUR, "created_max_lead_ms"),
])
def test_genesis_parameters_must_be_in_range(age: int, lead: int, field: str) -> None:
    genesis = make_genesis()
    genesis.parameters.created_max_age_ms = age
    genesis.parameters.created_max_lead_ms = lead
    with pytest.raises(GenesisError, match=re.escape(f"parameters.{field}")):
        check_genesis(genesis)


def test_check_body_refuses_times_no_clock_could_show() -> None:
    body = body_of("invoice")
    for created in (0, -5, 253_402_300_800_000, 2**63 - 1):
        body.created_ms = created
        with pytest.raises(SchemaError, match="created_ms"):
            check_body(body, NETWORK)


# -- JSON content (issue 17: snake_case names) -------------------------------------------

def test_an_unknown_json_field_is_named_in_snake_case_with_the_allowed_ones() -> None:
    with pytest.raises(SchemaError) as caught:
        build(NETWORK, "invoice", {"exporter": {"nam": "Rhein GmbH"}})
    assert caught.value.field == "content.exporter.nam"
    assert caught.value.message == ("unknown field; fields of Party: name, id, country_code, "
                                    "address")
    with pytest.raises(SchemaError) as caught:
        build(NETWORK, "invoice", {"goodsItems": [{"hs_code": "841370", "qty": "4"}]})
    assert caught.value.field == "content.goods_items[0].qty"
    assert "quantity_unit_code" in caught.value.message
    assert not re.search(r"\b[a-z]+[A-Z]", caught.value.message)  # no camelCase field names


@pytest.mark.parametrize(("content", "field", "words"), [
    ({"goods_items": [{"hs_code": 841370}]}, "content.goods_items[0].hs_code", "a string"),
    ({"goods_items": [{"sequence_numeric": "x"}]}, "content.goods_items[0].sequence_numeric",
     "whole number"),
    ({"goods_items": {"a": 1}}, "content.goods_items", "JSON list"),
    ({"exporter": "Rhein"}, "content.exporter", "JSON object (Party)"),
    ({"type": "TRADE_DOCUMENT_TYPE_NONSENSE"}, "content.type", "TRADE_DOCUMENT_TYPE_INVOICE"),
    ({"invoice_amount": {"value": 12.5}}, "content.invoice_amount.value", "a string"),
])
def test_ill_typed_json_values_are_named(content: dict[str, object], field: str,
                                         words: str) -> None:
    with pytest.raises(SchemaError) as caught:
        build(NETWORK, "invoice", content)
    assert caught.value.field == field
    assert words in caught.value.message


def test_camel_case_input_is_still_read() -> None:
    body = build(NETWORK, "invoice", {"functionalReferenceId": "INV-1",
                                      "goodsItems": [{"sequenceNumeric": "1"}]})
    assert body.trade.functional_reference_id == "INV-1"
    assert body.trade.goods_items[0].sequence_numeric == 1


def test_builder_helpers_name_their_argument() -> None:
    with pytest.raises(SchemaError) as caught:
        declaration(NETWORK, "export_declaration", ucr="4DE1-X", reference="R",
                    declarant={"name": "D"}, exporter={"nme": "E"}, importer={"name": "I"},
                    export_country_code="DE", destination_country_code="NG", office_id="DE1",
                    goods=[goods_item(1, "Pumps", "841370")])
    assert caught.value.field == "exporter.nme"
