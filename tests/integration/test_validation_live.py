"""Against a real node process, over gRPC: a member who writes raw protobuf cannot get a bad
member record, a non-canonical body or a mis-dated document onto the ledger. Each is
refused INVALID_ARGUMENT with the reason code and the field, and the ledger is unchanged."""

from __future__ import annotations

import time

import pytest
from solonet import NETWORK, SoloNetwork
from tdx.network import peer_id_of
from tdx.sdk import (
    ENVELOPE_DOMAIN,
    Client,
    Identity,
    InvalidArgument,
    body_from_json,
    build,
    documents_pb2,
    ledger_pb2,
    seal,
    template,
)

pb = documents_pb2
DAY_MS = 86_400_000


def _now_ms() -> int:
    return int(time.time() * 1000)


def _state(client: Client) -> tuple[int, int, list[pb.MemberRecord]]:
    status = client.status()
    return status.height, status.documents, list(client.list_members())


def _raw_proposal(customs: Identity, member: pb.MemberRecord) -> pb.Envelope:
    """A proposal written with protobuf alone, past the SDK's checks of the record."""
    content = pb.GovernanceProposal(action=pb.PROPOSAL_ACTION_ADD_MEMBER, member=member,
                                    expires_ms=_now_ms() + DAY_MS)
    return seal(customs, build(NETWORK, "governance_proposal", content))


def _refused(client: Client, envelope: pb.Envelope, reason: str, words: str) -> None:
    before = _state(client)
    with pytest.raises(InvalidArgument) as caught:
        client.submit(envelope)
    assert caught.value.reason == reason, caught.value
    assert words in caught.value.message, caught.value.message
    assert _state(client) == before


def test_bad_member_records_bodies_and_times_are_refused_over_the_wire(
        solo: SoloNetwork) -> None:
    customs = solo.members["de-customs"]
    trader = solo.members["acme-trading"]
    newcomer = Identity.generate("ng-customs")
    stranger = Identity.generate("stranger")
    record = pb.MemberRecord(id="ng-customs", name="Nigeria Customs", country_code="NG",
                             roles=["customs"], public_key=newcomer.public_key,
                             api_address="127.0.0.1:7999")
    with Client(solo.address) as client:
        # A p2p address whose peer id is another key: every node would dial the wrong peer.
        wrong_peer = pb.MemberRecord()
        wrong_peer.CopyFrom(record)
        wrong_peer.p2p_address = f"/ip4/127.0.0.1/tcp/7998/p2p/{peer_id_of(stranger.public_key)}"
        _refused(client, _raw_proposal(customs, wrong_peer), "schema.invalid",
                 "proposal.member.p2p_address")
        # An address the mesh cannot parse (this once made every node refuse to restart).
        garbage = pb.MemberRecord()
        garbage.CopyFrom(record)
        garbage.p2p_address = "/ip4/127.0.0.1/tcp/7998"
        _refused(client, _raw_proposal(customs, garbage), "schema.invalid",
                 "proposal.member.p2p_address")
        small_order = pb.MemberRecord()
        small_order.CopyFrom(record)
        small_order.public_key = b"\x01" + bytes(31)
        _refused(client, _raw_proposal(customs, small_order), "schema.invalid",
                 "proposal.member.public_key")

        # A body with a field the schema does not know, signed as is.
        body = body_from_json(NETWORK, template("invoice"))
        body.issuer, body.created_ms, body.nonce = "acme-trading", _now_ms(), b"\x07" * 16
        raw = body.SerializeToString(deterministic=True) + b"\xf8\x06\x01"
        smuggled = pb.Envelope(body=raw, signer=trader.public_key,
                               signature=trader.sign(ENVELOPE_DOMAIN, raw))
        _refused(client, smuggled, "document.not_canonical", "unknown protobuf field")

        # Documents dated 1970, two days ago and an hour ahead; then one in the year 292
        # million, which no block time can reach.
        for created in (1, _now_ms() - 2 * DAY_MS, _now_ms() + DAY_MS // 24):
            dated = body_from_json(NETWORK, template("invoice"))
            dated.created_ms = created
            _refused(client, seal(trader, dated), "created_ms.out_of_window", "created_ms")
        far = body_from_json(NETWORK, template("invoice"))
        far.created_ms = 2**63 - 1
        _refused(client, seal(trader, far), "schema.invalid", "created_ms")

        # The node goes on: a proper proposal for the same member, with its own mesh
        # address, is accepted.
        record.p2p_address = f"/ip4/127.0.0.1/tcp/7998/p2p/{peer_id_of(newcomer.public_key)}"
        receipt = client.submit(_raw_proposal(customs, record))
        assert receipt.result.status == ledger_pb2.RESULT_STATUS_ACCEPTED
