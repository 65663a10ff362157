"""The peer transport is built before the driver and knows it only as an ``Inbox``: until
one attaches, nobody is a validator and every batch is refused; after, checked batches go
to the inbox."""

from __future__ import annotations

import time

import grpc
from tdx.consensus import RaftMessage
from tdx.node.replication.seams import Signature
from tdx.node.replication.transport import PeerTransport
from tdx.sdk import BLOCK_DOMAIN, PEER_DOMAIN, Identity, ledger_pb2
from tdx.v1 import documents_pb2, peer_pb2

NETWORK = "tdx-test"


class RecordingInbox:
    """An Inbox (seams.Inbox) over two validators that keeps what is delivered."""

    def __init__(self, records: list[documents_pb2.MemberRecord]) -> None:
        self.records = records
        self.delivered: list[tuple[str, list[RaftMessage], list[Signature]]] = []

    def deliver(self, sender: str, messages: list[RaftMessage],
                signatures: list[Signature]) -> str | None:
        self.delivered.append((sender, messages, signatures))
        return None

    def peer_validators(self) -> list[documents_pb2.MemberRecord]:
        return self.records

    def voter_sets(self) -> list[list[str]]:
        return [[r.id for r in self.records]]

    def term(self) -> int:
        return 1

    def report_unreachable(self, member_id: str) -> None:
        pass

    def report_snapshot(self, member_id: str, failed: bool) -> None:
        pass

    def report_restart(self, member_id: str) -> None:
        pass


def _batch(sender: Identity, to: str, sequence: int,
           signature: ledger_pb2.BlockSignature) -> peer_pb2.PeerBatch:
    body = peer_pb2.PeerBatchBody(network=NETWORK, to=to, sequence=sequence,
                                  sent_ms=int(time.time() * 1000),
                                  block_signatures=[signature], block_heights=[1])
    setattr(body, "from", sender.member_id)
    raw = body.SerializeToString()
    return peer_pb2.PeerBatch(body=raw, signer=sender.public_key,
                              signature=sender.sign(PEER_DOMAIN, raw))


def test_batches_wait_for_an_inbox_and_then_reach_it() -> None:
    a, b = Identity.generate("a"), Identity.generate("b")
    records = [documents_pb2.MemberRecord(id=i.member_id, public_key=i.public_key,
                                          validator=True) for i in (a, b)]
    transport = PeerTransport(b, NETWORK)
    signature = ledger_pb2.BlockSignature(validator="a", public_key=a.public_key,
                                          signature=a.sign(BLOCK_DOMAIN, b"\x01" * 32))
    code, reason = transport.receive(_batch(a, "b", 1, signature))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "is not a validator" in reason
    inbox = RecordingInbox(records)
    transport.attach(inbox)
    assert transport.receive(_batch(a, "b", 2, signature)) == (grpc.StatusCode.OK, "")
    assert inbox.delivered == [("a", [], [(1, signature)])]
