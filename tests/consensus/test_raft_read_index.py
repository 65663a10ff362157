"""Linearizable reads through read index. The harness fails any read confirmed at an index
older than what was known committed when the read was requested (a stale read)."""

from __future__ import annotations

import pytest
from raft_sim import UNRELIABLE, Cluster
from tdx.consensus import MessageType


def test_read_on_leader_waits_for_heartbeat_quorum() -> None:
    """A read on the leader is confirmed by a heartbeat round, at the current commit index."""
    cluster = Cluster(3, seed=61)
    leader = cluster.wait_leader()
    index = cluster.commit(b"written")
    heartbeats = cluster.sent[MessageType.HEARTBEAT]
    cluster.read_index(leader, b"read-1")
    assert cluster.run_until(lambda: cluster.read_result(leader, b"read-1") is not None, 5)
    result = cluster.read_result(leader, b"read-1")
    assert result is not None and result >= index
    assert cluster.sent[MessageType.HEARTBEAT] > heartbeats


def test_read_on_follower_is_forwarded() -> None:
    """A read on a follower is confirmed by the leader and answered to the follower."""
    cluster = Cluster(3, seed=62)
    leader = cluster.wait_leader()
    index = cluster.commit(b"written")
    follower = next(n for n in sorted(cluster.nodes) if n != leader)
    cluster.read_index(follower, b"read-f")
    assert cluster.run_until(lambda: cluster.read_result(follower, b"read-f") is not None, 5)
    result = cluster.read_result(follower, b"read-f")
    assert result is not None and result >= index


def test_read_right_after_election_waits_for_leaders_first_commit() -> None:
    """A new leader does not answer reads until its own no-op commits, since until then its
    commit index may miss entries committed by its predecessor."""
    cluster = Cluster(3, seed=63)
    old = cluster.wait_leader()
    index = cluster.commit(b"by the old leader")
    cluster.crash(old)
    assert cluster.run_until(lambda: cluster.leader() not in (None, old), 60)
    new = cluster.leader()
    assert new is not None
    cluster.read_index(new, b"early")
    assert cluster.run_until(lambda: cluster.read_result(new, b"early") is not None, 10)
    result = cluster.read_result(new, b"early")
    assert result is not None and result > index


@pytest.mark.parametrize("check_quorum", [True, False])
def test_deposed_leader_never_serves_a_stale_read(check_quorum: bool) -> None:
    """A leader cut off from the others (still believing it leads when check-quorum is off)
    cannot confirm a read, because no quorum acknowledges its heartbeat; the new majority
    meanwhile commits writes that such a read would have missed."""
    cluster = Cluster(5, seed=64, check_quorum=check_quorum, pre_vote=check_quorum)
    old = cluster.wait_leader()
    cluster.commit(b"v1")
    cluster.isolate(old)
    assert cluster.run_until(lambda: cluster.leader() not in (None, old), 60)
    cluster.commit(b"v2")
    cluster.read_index(old, b"stale?")
    cluster.run(50)
    assert cluster.read_result(old, b"stale?") is None


def test_single_voter_reads_immediately() -> None:
    """A single-voter cluster confirms reads at once (it is its own quorum)."""
    cluster = Cluster(1, seed=65)
    leader = cluster.wait_leader()
    index = cluster.commit(b"solo")
    cluster.read_index(leader, b"solo-read")
    cluster.step()
    assert cluster.read_result(leader, b"solo-read") == index


def test_many_reads_on_unreliable_network() -> None:
    """Reads interleaved with writes on an unreliable network are never stale, and most of
    them are confirmed."""
    cluster = Cluster(5, seed=66, faults=UNRELIABLE)
    cluster.wait_leader(max_ticks=200)
    for i in range(30):
        cluster.propose(f"w-{i}".encode())
        node_id = f"n{i % 5 + 1}"
        if cluster.nodes[node_id].alive:
            cluster.read_index(node_id, f"r-{i}".encode())
        cluster.run(3)
    cluster.run(30)
    assert len(cluster.reads_done) >= 10
