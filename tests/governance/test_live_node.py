"""Against a real single-validator node process: governance through the API, key rotation
with no outage, and a confidential round trip."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from solonet import MEMBERS, VALIDATOR, SoloNetwork
from tdx.node.ops.testing import local_network
from tdx.sdk import (
    Client,
    DocumentError,
    Identity,
    NotFound,
    PermissionDenied,
    body_from_json,
    decode_body,
    documents_pb2,
    key_rotation,
    ledger_pb2,
    member_record,
    open_confidential,
    propose_add_member,
    seal,
    seal_confidential,
    template,
    verify_proof,
    vote,
)

NETWORK = "tdx-test"
ACCEPTED = ledger_pb2.RESULT_STATUS_ACCEPTED


@pytest.fixture
def solo(tmp_path: Path) -> Iterator[SoloNetwork]:
    """A running one-validator node (de-customs); stopped after the test."""
    with local_network(MEMBERS, validator=VALIDATOR, network=NETWORK, folder=tmp_path) as net:
        yield net


def invoice() -> documents_pb2.DocumentBody:
    return body_from_json(NETWORK, template("invoice"))


def test_key_rotation_without_outage_and_old_documents_still_prove(solo: SoloNetwork) -> None:
    trader = solo.members["acme-trading"]
    new = Identity.generate("acme-trading")
    with Client(solo.address) as node:
        # Another member keeps submitting all along; nothing it does is disturbed.
        stop = threading.Event()
        others: list[int] = []

        def keep_submitting() -> None:
            with Client(solo.address) as own:
                while not stop.is_set():
                    body = body_from_json(NETWORK, template("bill_of_lading"))
                    own.submit(seal(solo.members["atlantic"], body))
                    others.append(1)

        thread = threading.Thread(target=keep_submitting)
        thread.start()
        try:
            before = [node.submit(seal(trader, invoice())) for _ in range(3)]
            rotated = node.submit(seal(trader, key_rotation(NETWORK, trader, new)))
            # No pause: the receipt comes once the block is applied, so the new key works.
            after = [node.submit(seal(new, invoice())) for _ in range(3)]
        finally:
            stop.set()
            thread.join(10)
        assert others
        assert all(r.result.status == ACCEPTED for r in [*before, rotated, *after])
        assert after[0].height > rotated.height
        # The retired key is refused where documents enter.
        with pytest.raises(PermissionDenied, match="is not a member"):
            node.submit(seal(trader, invoice()))
        member = node.get_member("acme-trading")
        assert member.member.public_key == new.public_key
        assert [k.public_key for k in member.retired_keys] == [trader.public_key]
        assert member.retired_keys[0].retired_height == rotated.height
        verified = verify_proof(node.get_proof(before[0].document_id), solo.genesis)
        assert verified.accepted and verified.issuer == "acme-trading"


def test_governance_adds_a_member_through_the_api(solo: SoloNetwork) -> None:
    customs = solo.members["de-customs"]
    newcomer = Identity.generate("ng-trader")
    record = member_record("ng-trader", "NG Trader", "NG", ["trader"], newcomer.public_key)
    with Client(solo.address) as node:
        proposed = node.submit(seal(customs, propose_add_member(NETWORK, record)))
        assert node.get_proposal(proposed.document_id).customs_members == 1
        decided = node.submit(seal(customs, vote(NETWORK, proposed.document_id, True)))
        assert "approved (1 of 1 customs)" in decided.result.notices[0]
        assert "ng-trader" in [m.id for m in node.list_members()]
        assert node.submit(seal(newcomer, invoice())).result.status == ACCEPTED
        with pytest.raises(NotFound):
            node.get_proposal("ab" * 32)


def test_confidential_round_trip(solo: SoloNetwork) -> None:
    trader, customs = solo.members["acme-trading"], solo.members["de-customs"]
    document = template("invoice")
    with Client(solo.address) as node:
        keys = {"de-customs": bytes(node.get_member("de-customs").member.public_key)}
        body = seal_confidential(trader, NETWORK, "invoice", document["content"], keys,
                                 ["hs_codes"], ucr=document["ucr"])
        receipt = node.submit(seal(trader, body))
        record = node.get(receipt.document_id)
        assert record.kind == "confidential"
        stored = decode_body(record.envelope.body)
        assert b"Lagos Industrial Supplies" not in record.envelope.body
        assert stored.confidential.public_fields["hs_codes"]
        inner = open_confidential(customs, stored)
        assert inner.trade.importer.name == "Lagos Industrial Supplies Ltd"
        with pytest.raises(DocumentError):
            open_confidential(solo.members["watcher"], stored)
        assert [r.document_id for r in node.query(ucr=document["ucr"])] == [receipt.document_id]
