"""Confidential documents: sealed for recipients, ordered and proven by the ledger without
plaintext, opened only by recipients, public fields checked against the content."""

from __future__ import annotations

import pytest
from gov_chain import ACCEPTED, Chain, identity
from sdk_factories import NETWORK, template
from tdx.sdk import (
    CONFIDENTIAL_PUBLIC_FIELDS,
    DocumentError,
    SchemaError,
    check_body,
    documents_pb2,
    ledger_pb2,
    open_confidential,
    open_envelope,
    public_field_values,
    seal_confidential,
)

INVOICE = template("invoice")


def sealed_invoice(public: tuple[str, ...] = ("hs_codes", "functional_reference_id"),
                   recipients: tuple[str, ...] = ("nl-customs",)) -> documents_pb2.DocumentBody:
    return seal_confidential(
        identity("acme-trader"), NETWORK, "invoice", INVOICE["content"],
        {m: identity(m).public_key for m in recipients}, public, ucr=INVOICE["ucr"])


def checked(body: documents_pb2.DocumentBody) -> str:
    """Schema-check an unsealed body (time and nonce as sealing would fill them)."""
    body.created_ms, body.nonce = 1, b"\x00" * 16
    return check_body(body, NETWORK)


def test_recipients_and_the_issuer_open_it_and_nobody_else() -> None:
    body = sealed_invoice()
    assert checked(body) == "confidential"
    assert sorted(body.recipients) == ["acme-trader", "nl-customs"]
    assert b"Lagos Industrial Supplies" not in body.SerializeToString()
    for reader in ("nl-customs", "acme-trader"):
        inner = open_confidential(identity(reader), body)
        assert inner.trade.functional_reference_id == INVOICE["content"][
            "functional_reference_id"]
        assert inner.issuer == "acme-trader" and inner.ucr == body.ucr
    with pytest.raises(DocumentError, match="not a recipient"):
        open_confidential(identity("fr-customs"), body)


def test_public_fields_come_from_the_content_and_are_checked_on_opening() -> None:
    body = sealed_invoice()
    inner = open_confidential(identity("nl-customs"), body)
    assert dict(body.confidential.public_fields) == {
        k: v for k, v in public_field_values(inner).items()
        if k in ("hs_codes", "functional_reference_id")}
    body.confidential.public_fields["hs_codes"] = "999999"
    with pytest.raises(DocumentError, match="public field hs_codes"):
        open_confidential(identity("nl-customs"), body)


def test_a_recipient_cannot_pass_the_ciphertext_off_as_its_own() -> None:
    body = sealed_invoice()
    body.issuer = "nl-customs"
    with pytest.raises(DocumentError, match="issuer"):
        open_confidential(identity("nl-customs"), body)


def test_what_may_be_confidential_and_public_is_a_fixed_list() -> None:
    with pytest.raises(SchemaError, match="cannot be confidential"):
        seal_confidential(identity("de-chamber"), NETWORK, "origin_certificate",
                          template("origin_certificate")["content"], {}, (),
                          ucr=template("origin_certificate")["ucr"])
    with pytest.raises(SchemaError, match="not a public field"):
        sealed_invoice(public=("importer.name",))
    body = sealed_invoice(public=())
    body.confidential.public_fields["importer.name"] = "x"
    with pytest.raises(SchemaError, match="not a public field"):
        checked(body)
    assert set(CONFIDENTIAL_PUBLIC_FIELDS) == {"invoice", "packing_list", "bill_of_lading"}


def test_the_ledger_orders_it_and_refuses_unknown_recipients(chain: Chain) -> None:
    result = chain.one(chain.seal(identity("acme-trader"), sealed_invoice()))
    assert result.status == ACCEPTED
    stranger = sealed_invoice(recipients=("nl-customs",))
    stranger.recipients.append("nobody")
    stranger.confidential.keys.add(recipient="nobody", sealed_key=b"\x00" * 80)
    refused = chain.one(chain.seal(identity("acme-trader"), stranger))
    assert (refused.status, refused.code) == (ledger_pb2.RESULT_STATUS_REJECTED,
                                              "confidential.recipient_unknown")
    record = chain.ledger.record(
        next(r.document_id for _, raw in chain.ledger.store.scan(b"doc/")
             for r in [ledger_pb2.DocumentRecord.FromString(raw)]
             if r.receipt.result.status == ACCEPTED))
    assert record is not None and record.kind == "confidential"
    assert open_confidential(identity("nl-customs"), open_envelope(record.envelope)).trade
