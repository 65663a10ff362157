"""The ledger's own checks, as a hostile member could test them with raw protobuf: member
records in proposals, canonical bodies and the creation-time window. Each refusal is a
rejected result naming the field, and leaves state as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from gov_chain import ACCEPTED, Chain, identity, new_identity, new_member
from sdk_factories import CREATED_MS, NETWORK, body_of, make_genesis
from tdx.network import peer_id_of
from tdx.node.state.rules import Refusal, check_envelope
from tdx.node.state.store import Prefix
from tdx.node.state.workflows import governance
from tdx.sdk import ENVELOPE_DOMAIN, document_id, documents_pb2, ledger_pb2, seal

pb = documents_pb2
REJECTED = ledger_pb2.RESULT_STATUS_REJECTED
HOUR = 3_600_000
PEER = peer_id_of(new_identity("ng-customs", 40).public_key)
OTHER_PEER = peer_id_of(new_identity("stranger", 77).public_key)


def snapshot(chain: Chain) -> dict[bytes, bytes]:
    """Membership and governance state, to show a refusal changed none of it."""
    return dict(chain.ledger.store.scan(Prefix.MEMBER)) | dict(
        chain.ledger.store.scan(governance.PROPOSALS)) | dict(
        chain.ledger.store.scan(governance.BY_MEMBER))


def refused(chain: Chain, envelope: pb.Envelope, code: str, field: str) -> None:
    before = snapshot(chain)
    result = chain.one(envelope)
    assert (result.status, result.code) == (REJECTED, code), result
    assert field in result.reason, result.reason
    assert snapshot(chain) == before
    # A rejected document is recorded with its result, and indexed nowhere.
    record = chain.ledger.record(document_id(envelope.body))
    assert record is not None and record.receipt.result.code == code


# -- member records in proposals -----------------------------------------------------------

BAD_RECORDS: list[tuple[str, Callable[[pb.MemberRecord], object], str]] = [
    ("id", lambda m: setattr(m, "id", "ng customs"), "proposal.member.id"),
    ("name", lambda m: setattr(m, "name", "NG\x1b[2J"), "proposal.member.name"),
    ("country", lambda m: setattr(m, "country_code", "Nigeria"), "proposal.member.country_code"),
    ("role", lambda m: m.roles.append("admin"), "proposal.member.roles[1]"),
    ("key", lambda m: setattr(m, "public_key", b"\x01" + bytes(31)),
     "proposal.member.public_key"),
    ("api", lambda m: setattr(m, "api_address", "10.0.0.9:70000"),
     "proposal.member.api_address"),
    ("validator without api", lambda m: (setattr(m, "validator", True),
                                         m.ClearField("api_address")),
     "proposal.member.api_address"),
    ("peer", lambda m: setattr(m, "peer_address", "10.0.0.9"), "proposal.member.peer_address"),
    ("p2p garbage", lambda m: setattr(m, "p2p_address", "/garbage"),
     "proposal.member.p2p_address"),
    ("p2p without peer id", lambda m: setattr(m, "p2p_address", "/ip4/10.0.0.9/tcp/7600"),
     "proposal.member.p2p_address"),
    ("p2p of another key", lambda m: setattr(m, "p2p_address",
                                             f"/ip4/10.0.0.9/tcp/7600/p2p/{OTHER_PEER}"),
     "proposal.member.p2p_address"),
    ("p2p bad port", lambda m: setattr(m, "p2p_address", f"/ip4/10.0.0.9/tcp/99999/p2p/{PEER}"),
     "proposal.member.p2p_address"),
    ("p2p port 0", lambda m: setattr(m, "p2p_address", f"/ip4/10.0.0.9/tcp/0/p2p/{PEER}"),
     "proposal.member.p2p_address"),
    ("p2p udp", lambda m: setattr(m, "p2p_address", f"/ip4/10.0.0.9/udp/7600/p2p/{PEER}"),
     "proposal.member.p2p_address"),
    ("p2p spelt twice", lambda m: setattr(m, "p2p_address", f"//ip4/10.0.0.9/tcp/7600/p2p/{PEER}"),
     "proposal.member.p2p_address"),
]


@pytest.mark.parametrize(("change", "field"), [b[1:] for b in BAD_RECORDS],
                         ids=[b[0] for b in BAD_RECORDS])
def test_a_raw_proposal_with_a_bad_record_is_rejected_naming_the_field(
        chain: Chain, change: Callable[[pb.MemberRecord], object], field: str) -> None:
    record = new_member("ng-customs", 40)
    change(record)
    refused(chain, chain.propose_raw(record), "schema.invalid", field)


def test_updates_are_checked_like_additions(chain: Chain) -> None:
    record = pb.MemberRecord()
    record.CopyFrom(chain.ledger.member("acme-trader"))
    record.p2p_address = f"/ip4/10.0.0.5/tcp/7600/p2p/{OTHER_PEER}"
    refused(chain, chain.propose_raw(record, action=pb.PROPOSAL_ACTION_UPDATE_MEMBER),
            "schema.invalid", "proposal.member.p2p_address")
    removal = pb.MemberRecord(id="acme-trader", api_address="10.0.0.5:7400")
    refused(chain, chain.propose_raw(removal, action=pb.PROPOSAL_ACTION_REMOVE_MEMBER),
            "schema.invalid", "a removal names only the member id")


def test_a_member_with_a_dialable_address_of_its_own_key_is_admitted(chain: Chain) -> None:
    record = new_member("ng-customs", 40)
    record.p2p_address = f"/ip4/10.0.0.9/tcp/7600/p2p/{PEER}"
    proposal = chain.propose_raw(record)
    assert chain.pass_proposal(proposal).status == ACCEPTED
    assert chain.ledger.member("ng-customs") == record


# -- canonical bodies ------------------------------------------------------------------------

def _signed_raw(member: str, raw: bytes) -> pb.Envelope:
    signer = identity(member)
    return pb.Envelope(body=raw, signer=signer.public_key,
                       signature=signer.sign(ENVELOPE_DOMAIN, raw))


def test_a_body_with_unknown_fields_or_another_encoding_is_rejected(chain: Chain) -> None:
    body = body_of("invoice", nonce=501)
    raw = body.SerializeToString(deterministic=True)
    refused(chain, _signed_raw("acme-trader", raw + b"\xf8\x06\x01"), "document.not_canonical",
            "unknown protobuf field number 111")
    reordered = (pb.DocumentBody(issuer=body.issuer).SerializeToString()
                 + raw.replace(pb.DocumentBody(issuer=body.issuer).SerializeToString(), b"", 1))
    assert reordered != raw
    refused(chain, _signed_raw("acme-trader", reordered), "document.not_canonical",
            "canonical protobuf encoding")
    # The canonical bytes of the same body are accepted: one document, one id.
    assert chain.one(_signed_raw("acme-trader", raw)).status == ACCEPTED


# -- the creation-time window ------------------------------------------------------------

def _created_at(member: str, created_ms: int, nonce: int) -> pb.Envelope:
    body = body_of("invoice", nonce=nonce, issuer=member)
    body.created_ms = created_ms
    return seal(identity(member), body)


@pytest.mark.parametrize(("created", "code"), [
    (lambda block: block - 24 * HOUR - 1, "created_ms.out_of_window"),
    (lambda block: block + 5 * 60_000 + 1, "created_ms.out_of_window"),
    (lambda block: 1, "created_ms.out_of_window"),
    (lambda block: 2**63 - 1, "schema.invalid"),  # past the year 9999: no block is that late
], ids=["a day and a millisecond old", "five minutes ahead and a millisecond", "1", "2^63-1"])
def test_a_document_dated_outside_the_window_is_rejected(
        chain: Chain, created: Callable[[int], int], code: str) -> None:
    block_ms = chain.now_ms + 1000  # the time Chain.one gives the next block
    refused(chain, _created_at("acme-trader", created(block_ms), nonce=600), code,
            "created_ms")
    assert chain.ledger.documents == 1


def test_the_window_edges_are_inside(chain: Chain) -> None:
    block_ms = chain.now_ms + 1000
    old, ahead = (_created_at("acme-trader", block_ms - 24 * HOUR, nonce=700),
                  _created_at("acme-trader", block_ms + 5 * 60_000, nonce=701))
    assert [r.status for r in chain.apply(old, ahead, at_ms=block_ms)] == [ACCEPTED] * 2


def test_the_genesis_sets_the_window(tmp_path: Path) -> None:
    genesis = make_genesis()
    genesis.parameters.created_max_age_ms = HOUR
    chain = Chain.new(tmp_path / "ledger", genesis)
    try:
        block_ms = chain.now_ms + 1000
        two_hours = _created_at("acme-trader", block_ms - 2 * HOUR, nonce=800)
        result = chain.one(two_hours)
        assert (result.code, "at most 1 h before" in result.reason) == (
            "created_ms.out_of_window", True)
        block_ms = chain.now_ms + 1000
        assert chain.one(_created_at("acme-trader", block_ms - HOUR, 801)).status == ACCEPTED
    finally:
        chain.close()


def test_the_api_checks_against_the_node_clock(chain: Chain) -> None:
    """Without a block's time (the API), check_envelope uses this node's clock."""
    fresh = chain.seal(identity("acme-trader"), body_of("invoice", nonce=900))
    assert check_envelope(fresh, NETWORK, chain.ledger).kind == "invoice"
    stale = _created_at("acme-trader", CREATED_MS - 3 * 24 * HOUR, nonce=901)
    with pytest.raises(Refusal) as caught:
        check_envelope(stale, NETWORK, chain.ledger, chain.ledger.verified)
    assert (caught.value.status, caught.value.code, caught.value.field) == (
        "INVALID_ARGUMENT", "created_ms.out_of_window", "created_ms")
    # The verdict of the other checks is remembered; the time is checked afresh each time.
    with pytest.raises(Refusal):
        check_envelope(stale, NETWORK, chain.ledger, chain.ledger.verified)
    assert check_envelope(stale, NETWORK, chain.ledger, chain.ledger.verified,
                          now_ms=CREATED_MS - 3 * 24 * HOUR).kind == "invoice"
