"""check_envelope: every refusal with its gRPC status, result code and field."""

from __future__ import annotations

import pytest
from sdk_factories import NETWORK, body_of, identity, make_genesis, sealed
from tdx.node.state.rules import MAX_BODY_BYTES, Refusal, check_envelope
from tdx.sdk import (
    ENVELOPE_DOMAIN,
    Identity,
    build,
    documents_pb2,
    key_rotation,
    seal,
)

pb = documents_pb2


class Members:
    """Membership as in the genesis: the MemberView the checks need."""

    def __init__(self) -> None:
        self.by_key = {bytes(m.public_key): m for m in make_genesis().members}

    def member_by_key(self, public_key: bytes) -> pb.MemberRecord | None:
        return self.by_key.get(bytes(public_key))


MEMBERSHIP = Members()


def refusal(envelope: pb.Envelope, network: str = NETWORK) -> Refusal:
    with pytest.raises(Refusal) as caught:
        check_envelope(envelope, network, MEMBERSHIP)
    return caught.value


def confidential(inner: str, signer: str) -> pb.Envelope:
    content = pb.Confidential(kind=inner, ciphertext=b"\x01" * 48,
                              keys=[pb.SealedKey(recipient="nl-customs", sealed_key=b"\x02" * 80)])
    body = build(NETWORK, "confidential", content, recipients=["nl-customs"])
    return seal(identity(signer), body)


def test_a_good_envelope_passes_with_its_kind_and_member() -> None:
    checked = check_envelope(sealed("invoice"), NETWORK, MEMBERSHIP)
    assert checked.kind == "invoice"
    assert checked.member.id == "acme-trader"
    assert checked.body.issuer == "acme-trader"


def test_too_large_is_resource_exhausted_before_anything_else() -> None:
    envelope = pb.Envelope(body=b"\x00" * (MAX_BODY_BYTES + 1))
    r = refusal(envelope)
    assert (r.status, r.code) == ("RESOURCE_EXHAUSTED", "document.too_large")


def test_body_at_the_limit_is_not_too_large() -> None:
    r = refusal(pb.Envelope(body=b"\x00" * MAX_BODY_BYTES))
    assert r.code != "document.too_large"


def test_bad_signature_is_invalid_argument() -> None:
    envelope = sealed("invoice")
    envelope.signature = bytes(64)
    r = refusal(envelope)
    assert (r.status, r.code, r.field) == ("INVALID_ARGUMENT", "signature.invalid", "signature")


def test_signature_of_another_body_is_invalid() -> None:
    envelope = sealed("invoice")
    envelope.signature = sealed("invoice", nonce=1).signature
    assert refusal(envelope).code == "signature.invalid"


def test_malformed_body_is_invalid_argument() -> None:
    me = identity("acme-trader")
    raw = b"\x0a\xff"  # field 1, length 255, then nothing
    envelope = pb.Envelope(body=raw, signer=me.public_key, signature=me.sign(ENVELOPE_DOMAIN, raw))
    r = refusal(envelope)
    assert (r.status, r.code, r.field) == ("INVALID_ARGUMENT", "document.malformed", "body")


def test_schema_breach_names_the_field() -> None:
    body = body_of("export_declaration")
    body.trade.goods_items[0].hs_code = "1"
    r = refusal(seal(identity("de-customs"), body))
    assert (r.status, r.code) == ("INVALID_ARGUMENT", "schema.invalid")
    assert r.field == "trade.goods_items[0].hs_code"
    assert "hs_code" in r.message


def test_wrong_network_is_refused() -> None:
    r = refusal(sealed("invoice"), network="tdx-elsewhere")
    assert (r.status, r.code, r.field) == ("INVALID_ARGUMENT", "schema.invalid", "network")


def test_unknown_signer_is_permission_denied() -> None:
    stranger = Identity.from_seed(b"\x99" * 32, "acme-trader")
    r = refusal(seal(stranger, body_of("invoice")))
    assert (r.status, r.code) == ("PERMISSION_DENIED", "member.unknown")


def test_issuer_other_than_the_signer_is_permission_denied() -> None:
    """de-customs may not sign a body naming nl-customs as its issuer."""
    body = body_of("export_declaration", issuer="nl-customs")
    r = refusal(seal(identity("de-customs"), body))
    assert (r.status, r.code) == ("PERMISSION_DENIED", "member.not_issuer")


@pytest.mark.parametrize(("kind", "signer"), [
    ("invoice", "watcher"),
    ("origin_certificate", "acme-trader"),
    ("ip_rights_alert", "aquaflow"),
    ("ip_rights_record", "de-customs"),
    ("governance_vote", "de-chamber"),
    ("shipment_events", "acme-trader"),
])
def test_role_that_may_not_submit_the_kind(kind: str, signer: str) -> None:
    r = refusal(sealed(kind, signer=signer))
    assert (r.status, r.code) == ("PERMISSION_DENIED", "role.forbidden")
    assert kind in r.message


def test_observer_may_rotate_its_key() -> None:
    body = key_rotation(NETWORK, identity("watcher"), Identity.from_seed(b"\x42" * 32, "watcher"))
    checked = check_envelope(seal(identity("watcher"), body), NETWORK, MEMBERSHIP)
    assert checked.kind == "key_rotation"


def test_confidential_is_judged_by_the_kind_it_carries() -> None:
    assert check_envelope(confidential("invoice", "acme-trader"), NETWORK,
                          MEMBERSHIP).kind == "confidential"
    assert check_envelope(confidential("bill_of_lading", "atlantic"), NETWORK,
                          MEMBERSHIP).kind == "confidential"
    r = refusal(confidential("invoice", "atlantic"))
    assert (r.status, r.code) == ("PERMISSION_DENIED", "role.forbidden")
    assert "invoice" in r.message
    assert refusal(confidential("invoice", "watcher")).code == "role.forbidden"
    # Kinds whose rules need their content cannot be confidential at all.
    assert refusal(confidential("origin_certificate", "de-chamber")).code == "schema.invalid"


def test_small_order_signer_is_refused_as_unknown() -> None:
    """A small-order key can never be a member's (genesis and governance refuse such keys),
    so an envelope signed with one is refused before any signature math."""
    raw = body_of("invoice").SerializeToString()
    point = b"\x01" + b"\x00" * 31
    r = refusal(pb.Envelope(body=raw, signer=point, signature=point + b"\x00" * 32))
    assert (r.status, r.code) == ("PERMISSION_DENIED", "member.unknown")
