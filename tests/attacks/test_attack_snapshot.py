"""Attack 1 of issue 9: a SNAPSHOT Raft message whose data is garbage, empty, or a
well-formed LedgerSnapshot naming blocks nobody certified, signed by one validator's key.

Whatever the receiver does with it (refuse it naming the snapshot, refuse it because the
sender does not lead, or take it and ignore it), it keeps running, keeps its ledger in step
with the others, and starts again after a stop.
"""

from __future__ import annotations

import os

import grpc
from attack_net import MT, AttackNet, assert_refused_or_ignored, raft
from tdx.sdk import ledger_pb2
from tdx.v1 import raft_pb2

ALLOWED = {grpc.StatusCode.INVALID_ARGUMENT: ("snapshot",),
           grpc.StatusCode.PERMISSION_DENIED: ("lead", "term")}


def bad_data(height: int, index: int) -> list[tuple[str, bytes]]:
    """Snapshot data an attacker sends: undecodable, empty, and forged."""
    forged = ledger_pb2.LedgerSnapshot(height=height + 50, block_hash=os.urandom(32),
                                       raft_index=index + 100)
    return [("garbage", b"\xff\x00 not a LedgerSnapshot \xde\xad\xbe\xef"),
            ("empty", b""),
            ("forged", forged.SerializeToString())]


def snapshot_message(net: AttackNet, sender: str, to: str, term: int, index: int,
                     data: bytes) -> raft_pb2.RaftMessage:
    """A SNAPSHOT at ``term`` claiming the log up to ``index``, with ``data``."""
    snapshot = raft_pb2.Snapshot(
        metadata=raft_pb2.SnapshotMetadata(index=index, term=term,
                                           conf_state=raft_pb2.ConfState(voters=net.validators)),
        data=data)
    return raft(MT.MESSAGE_TYPE_SNAPSHOT, sender, to, term=term, snapshot=snapshot)


def attack(net: AttackNet, signer: str, target: str, term_offset: int) -> None:
    """Send each bad snapshot from ``signer`` to ``target``; after each, the target still
    runs while a document commits."""
    status = net.converged(net.commit())
    target_status = net.status(target)
    term = target_status.term + term_offset
    for name, data in bad_data(status.height, target_status.commit_index):
        message = snapshot_message(net, signer, target, term,
                                   target_status.commit_index + 100, data)
        assert_refused_or_ignored(net.send(signer, target, [message]), ALLOWED)
        net.commit()
        net.assert_alive(target, after=f"a {name} snapshot (term {term}) from {signer}")


def restarts_in_step(net: AttackNet, target: str) -> None:
    """The target holds the others' ledger, stops, starts again and follows on."""
    height = net.commit(2)
    net.converged(height)
    net.assert_one_history(height)
    net.stop(target)
    net.start(target)
    height = net.assert_serving()
    net.assert_one_history(height)


def test_bad_snapshots_at_the_current_term_leave_a_follower_whole(net: AttackNet) -> None:
    """Sent at the current term to a follower, by the leader's key and by another
    validator's."""
    net.heal()
    leader = net.leader()
    target, other = net.followers(leader)
    for signer in (leader, other):
        attack(net, signer, target, 0)
    restarts_in_step(net, target)


def test_bad_snapshots_with_a_higher_term_leave_the_leader_whole(net: AttackNet) -> None:
    """Sent with term+1 by a follower's key to the leader."""
    net.heal()
    leader = net.leader()
    signer = net.followers(leader)[0]
    attack(net, signer, leader, 1)
    restarts_in_step(net, leader)
