"""Snapshots and log compaction: the host snapshots its applied state, compacts the log, and
the leader sends a snapshot to a follower that needs compacted entries. The harness checks
that every state restored from a snapshot equals the state other nodes reached by applying."""

from __future__ import annotations

from raft_sim import UNRELIABLE, Cluster
from tdx.consensus import MessageType


def test_snapshots_compact_every_log() -> None:
    """Compaction: with snapshots every 10 entries, no node keeps more than ~10 entries."""
    cluster = Cluster(3, seed=41, snapshot_every=10)
    cluster.wait_leader()
    for i in range(100):
        cluster.commit(f"s-{i}".encode())
    cluster.converge()
    for node in cluster.live():
        storage = node.storage
        assert storage.snapshot().metadata.index >= 90
        assert storage.last_index() - storage.first_index() + 1 <= 20


def test_install_snapshot_to_lagging_follower() -> None:
    """Install snapshot: a follower that missed entries the leader has compacted receives a
    SNAPSHOT, restores the state it holds, and then follows the log normally."""
    cluster = Cluster(3, seed=42, snapshot_every=10)
    leader = cluster.wait_leader()
    lagging = next(n for n in cluster.nodes if n != leader)
    cluster.isolate(lagging)
    for i in range(50):
        cluster.commit(f"l-{i}".encode())
    assert (
        cluster.nodes[leader].storage.first_index()
        > cluster.nodes[lagging].core().raft.log.last_index()
    )
    cluster.heal()
    cluster.commit(b"after heal")
    assert cluster.wait_applied(b"after heal", 3, max_ticks=30)
    assert cluster.sent[MessageType.SNAPSHOT] >= 1
    follower = cluster.nodes[lagging]
    assert follower.storage.snapshot().metadata.index >= 50


def test_snapshot_survives_restart() -> None:
    """A node restarted after installing a snapshot resumes from it (its applied index starts
    at the snapshot), replays only what follows, and agrees with the others."""
    cluster, _, lagging = _lagging_behind_compaction(43, "r")
    assert cluster.wait_applied(b"r-29", 3, max_ticks=30)
    cluster.restart(lagging)
    node = cluster.nodes[lagging]
    assert node.sm.applied == node.storage.snapshot().metadata.index > 0
    cluster.commit(b"after restart")
    assert cluster.wait_applied(b"after restart", 3, max_ticks=30)


def _lagging_behind_compaction(seed: int, prefix: str) -> tuple[Cluster, str, str]:
    """A cluster whose leader compacted entries that one healed follower never received."""
    cluster = Cluster(3, seed=seed, snapshot_every=10)
    leader = cluster.wait_leader()
    lagging = next(n for n in cluster.nodes if n != leader)
    cluster.isolate(lagging)
    for i in range(30):
        cluster.commit(f"{prefix}-{i}".encode())
    cluster.heal()
    return cluster, leader, lagging


def test_lost_snapshot_is_sent_again() -> None:
    """A snapshot lost on the way is sent again after an election timeout, without the host
    having to report the failure."""
    cluster, _, lagging = _lagging_behind_compaction(44, "x")
    cluster.drop_if = lambda m: m.type is MessageType.SNAPSHOT
    cluster.run(5)
    assert cluster.sent[MessageType.SNAPSHOT] == 1
    cluster.drop_if = None
    cluster.run(3 * cluster.election_tick)
    assert cluster.sent[MessageType.SNAPSHOT] >= 2
    assert cluster.nodes[lagging].sm.applied >= cluster.committed_data[b"x-29"]


def test_report_snapshot_failure_retries_sooner() -> None:
    """A host that reports a failed snapshot makes the leader probe (and resend) right away."""
    cluster, leader, lagging = _lagging_behind_compaction(45, "y")
    cluster.drop_if = lambda m: m.type is MessageType.SNAPSHOT
    cluster.run(3)
    cluster.drop_if = None
    cluster.nodes[leader].core().report_snapshot(lagging, failed=True)
    cluster.run(4)
    assert cluster.sent[MessageType.SNAPSHOT] >= 2
    assert cluster.nodes[lagging].sm.applied >= cluster.committed_data[b"y-29"]


def test_snapshots_with_crashes_on_unreliable_network() -> None:
    """Snapshots under stress: frequent snapshots, crashes and an unreliable network keep
    every state machine identical at every index."""
    cluster = Cluster(5, seed=46, snapshot_every=5, snapshot_keep=2, faults=UNRELIABLE)
    cluster.wait_leader(max_ticks=200)
    for i in range(40):
        cluster.propose(f"z-{i}".encode())
        cluster.run(2)
        if i % 7 == 3:
            victim = f"n{i % 5 + 1}"
            cluster.crash(victim)
            cluster.run(3)
            cluster.start(victim)
    cluster.converge(max_ticks=400)
