"""Building documents: the generic builder, JSON forms and the action helpers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sdk_factories import NETWORK, body_of, identity
from tdx.sdk import (
    KIND_NAMES,
    SchemaError,
    body_from_json,
    body_to_json,
    build,
    check_body,
    check_json_document,
    documents_pb2,
    draw_down,
    key_rotation,
    revoke_certificate,
    template,
    template_kinds,
    vote,
)
from tdx.sdk._crypto import KEY_ROTATION_DOMAIN, verify

pb = documents_pb2
CERT = "ab" * 32
DECL = "cd" * 32


@pytest.mark.parametrize("kind", template_kinds())
def test_template_json_round_trip(kind: str) -> None:
    """body_to_json(body_from_json(t)) is a fixed point, and it survives json text."""
    body = body_from_json(NETWORK, template(kind))
    form = body_to_json(body)
    assert form["kind"] == kind
    again = body_from_json(NETWORK, json.loads(json.dumps(form)))
    assert again == body
    assert body_to_json(again) == form


@pytest.mark.parametrize("kind", template_kinds())
def test_templates_are_accepted_by_check_json_document(kind: str) -> None:
    assert check_json_document(NETWORK, template(kind)) == kind
    document = template(kind)
    del document["kind"]
    assert check_json_document(NETWORK, document, kind) == kind


def test_json_round_trip_of_key_rotation_and_confidential() -> None:
    rotation = key_rotation(NETWORK, identity("de-customs"), identity("nl-customs"))
    assert body_from_json(NETWORK, body_to_json(rotation)) == rotation
    sealed = build(NETWORK, "confidential", pb.Confidential(
        kind="invoice", ciphertext=b"\x00\xff" * 10,
        keys=[pb.SealedKey(recipient="nl-customs", sealed_key=b"\x07" * 80)],
        public_fields={"a": "1", "b": "2"}), recipients=["nl-customs"], ucr="4DE-1")
    assert body_from_json(NETWORK, body_to_json(sealed)) == sealed


def test_body_to_json_of_an_empty_body() -> None:
    assert body_to_json(pb.DocumentBody()) == {"kind": "", "ucr": "", "recipients": [],
                                               "content": {}}


def test_body_from_json_sets_network_ucr_and_recipients() -> None:
    body = body_from_json("net-a", {"kind": "governance_vote", "ucr": "4DE-1",
                                    "recipients": ["a", "b"],
                                    "content": {"proposal_id": CERT, "approve": True}})
    assert (body.network, body.ucr, list(body.recipients)) == ("net-a", "4DE-1", ["a", "b"])
    assert body.vote.approve and body.vote.proposal_id == CERT


def test_builder_sets_the_type_from_the_kind() -> None:
    """A content that says another type is overruled by the kind asked for."""
    content = pb.TradeDocument(type=pb.TRADE_DOCUMENT_TYPE_INVOICE)
    body = build(NETWORK, "packing_list", content)
    assert body.trade.type == pb.TRADE_DOCUMENT_TYPE_PACKING_LIST


@pytest.mark.parametrize(
    ("document", "kind", "field"),
    [
        ({"kind": "invoice", "signature": "x"}, None, "signature"),
        ({"kind": "invoice", "zeta": 1, "alpha": 2}, None, "alpha"),
        ({"kind": "invoice"}, "packing_list", "kind"),
        ({}, None, "kind"),
        ({"kind": 5}, None, "kind"),
        ({"kind": "nonsense"}, None, "kind"),
        ({"kind": "invoice", "content": []}, None, "content"),
        ({"kind": "invoice", "content": {"no_such_field": 1}}, None, "content.no_such_field"),
        ({"kind": "invoice", "content": {"goods_items": "many"}}, None, "content.goods_items"),
        ({"kind": "invoice", "recipients": "nl-customs"}, None, "recipients"),
        ({"kind": "invoice", "recipients": [1]}, None, "recipients"),
        ({"kind": "invoice", "ucr": 12}, None, "ucr"),
    ],
)
def test_body_from_json_errors_name_the_field(
    document: dict[str, Any], kind: str | None, field: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        body_from_json(NETWORK, document, kind)
    assert caught.value.field == field


def test_kind_argument_agreeing_with_the_file_is_fine() -> None:
    document = template("invoice")
    assert body_from_json(NETWORK, document, "invoice") == body_from_json(NETWORK, document)


def test_build_refuses_content_of_the_wrong_type() -> None:
    with pytest.raises(SchemaError) as caught:
        build(NETWORK, "invoice", pb.Certificate())
    assert caught.value.field == "content"
    assert "TradeDocument" in caught.value.message


def test_template_of_unknown_kind() -> None:
    with pytest.raises(SchemaError, match="no template"):
        template("key_rotation")


def test_check_json_document_reports_the_schema_field() -> None:
    document = template("invoice")
    document["content"]["invoice_amount"] = {"value": "1", "currency_code": "euro"}
    with pytest.raises(SchemaError) as caught:
        check_json_document(NETWORK, document)
    assert caught.value.field == "trade.invoice_amount.currency_code"


def _finish(body: pb.DocumentBody) -> pb.DocumentBody:
    body.issuer, body.created_ms, body.nonce = "de-customs", 1, b"\x00" * 16
    return body


def test_revoke_certificate_helper() -> None:
    body = _finish(revoke_certificate(NETWORK, CERT, "issued in error"))
    assert check_body(body) == "certificate_revocation"
    assert body.certificate_action.certificate_id == CERT


def test_draw_down_helper_sorts_lines() -> None:
    body = _finish(draw_down(NETWORK, CERT, DECL, {3: "1.5", 1: "10"}, ucr="4DE-1"))
    assert check_body(body) == "certificate_draw_down"
    assert [(line.sequence_numeric, line.quantity) for line in body.certificate_action.lines] \
        == [(1, "10"), (3, "1.5")]
    assert body.ucr == "4DE-1"


def test_vote_helper() -> None:
    body = _finish(vote(NETWORK, CERT, False, "not yet"))
    assert check_body(body) == "governance_vote"
    assert (body.vote.approve, body.vote.comment) == (False, "not yet")


def test_key_rotation_is_signed_by_the_new_key_over_id_and_old_key() -> None:
    old, new = identity("de-customs"), identity("nl-customs")
    rotation = key_rotation(NETWORK, old, new).key_rotation
    assert rotation.new_public_key == new.public_key
    message = b"de-customs\x00" + old.public_key
    assert verify(new.public_key, KEY_ROTATION_DOMAIN, message, rotation.new_key_signature)
    assert not verify(old.public_key, KEY_ROTATION_DOMAIN, message,
                      rotation.new_key_signature)


def test_every_kind_builds_from_an_empty_mapping() -> None:
    for kind in KIND_NAMES:
        assert body_to_json(build(NETWORK, kind, {}))["kind"] == kind


def test_body_of_factory_is_valid() -> None:
    """Sanity of the shared factory the other suites lean on."""
    assert check_body(body_of("invoice"), NETWORK) == "invoice"
