"""Membership changes one server at a time, and learners. Configurations take effect when
their entry is appended; the harness checks safety throughout, including while the voter set
changes under the durability check's feet."""

from __future__ import annotations

import pytest
from raft_sim import Cluster, add_learner, add_voter, remove
from tdx.consensus import ConfState, StateRole


def _conf(cluster: Cluster, node_id: str) -> ConfState:
    return cluster.nodes[node_id].core().raft.conf_state()


def test_add_voter_catches_up_and_counts_towards_quorum() -> None:
    """Adding a voter: the new node replicates the whole log (founding conf changes included),
    joins every node's configuration, and is then needed for a quorum of four."""
    cluster = Cluster(3, seed=51, spares=1)
    cluster.wait_leader()
    cluster.commit(b"before")
    cluster.reconfigure(add_voter("n4"))
    cluster.commit(b"with n4")
    assert cluster.wait_applied(b"with n4", 4, max_ticks=30)
    assert all(_conf(cluster, n).voters == ("n1", "n2", "n3", "n4") for n in cluster.nodes)
    leader = cluster.leader()
    assert leader is not None
    down = [n for n in ("n1", "n2", "n3") if n != leader][:1]
    cluster.crash(down[0])
    cluster.commit(b"three of four")
    cluster.crash("n4")
    assert cluster.propose(b"two of four")
    cluster.run(30)
    assert b"two of four" not in cluster.committed_data
    cluster.converge()


def test_add_voter_after_compaction_gets_a_snapshot() -> None:
    """A node added after the log was compacted starts from a snapshot whose configuration
    already lists the members."""
    cluster = Cluster(3, seed=52, spares=1, snapshot_every=10)
    cluster.wait_leader()
    for i in range(30):
        cluster.commit(f"c-{i}".encode())
    cluster.reconfigure(add_voter("n4"))
    cluster.commit(b"joined")
    assert cluster.wait_applied(b"joined", 4, max_ticks=40)
    assert cluster.nodes["n4"].storage.snapshot().metadata.index > 0


def test_remove_follower() -> None:
    """Removing a follower: the two remaining voters form the quorum on their own."""
    cluster = Cluster(3, seed=53)
    leader = cluster.wait_leader()
    follower = next(n for n in sorted(cluster.nodes) if n != leader)
    cluster.reconfigure(remove(follower))
    cluster.commit(b"removed")
    cluster.crash(follower)
    cluster.commit(b"two voters")
    assert _conf(cluster, leader).voters == tuple(sorted(set(cluster.nodes) - {follower}))


def test_remove_leader_hands_over() -> None:
    """Removing the leader: once its removal is applied it steps down, handing leadership to a
    caught-up voter, and it never campaigns again."""
    cluster = Cluster(3, seed=54)
    leader = cluster.wait_leader()
    cluster.reconfigure(remove(leader))
    assert cluster.run_until(lambda: cluster.leader() not in (None, leader), 30)
    removed_term = cluster.nodes[leader].core().raft.term
    cluster.commit(b"new leader")
    cluster.run(100)
    assert cluster.nodes[leader].core().raft.role is StateRole.FOLLOWER
    assert cluster.nodes[leader].core().raft.term == removed_term


def test_one_change_at_a_time() -> None:
    """A leader refuses a second membership change until the first is applied."""
    cluster = Cluster(3, seed=55, spares=2)
    leader = cluster.wait_leader()
    cluster.commit(b"settled")
    cluster.run(3)
    assert cluster.propose_conf_change(add_learner("n4"), via=leader)
    assert not cluster.propose_conf_change(add_learner("n5"), via=leader)
    cluster.run(5)
    assert cluster.propose_conf_change(add_learner("n5"), via=leader)


def test_conf_change_cannot_remove_last_voter() -> None:
    """A change that would leave no voter is refused before it is proposed."""
    cluster = Cluster(1, seed=56)
    cluster.wait_leader()
    with pytest.raises(ValueError):
        cluster.propose_conf_change(remove("n1"))


def test_learner_receives_log_but_never_votes_or_counts() -> None:
    """Learners: a learner applies every entry, but it neither campaigns (even cut off for a
    long time) nor counts towards a quorum."""
    cluster = Cluster(3, seed=57, learners=1)
    cluster.wait_leader()
    for i in range(5):
        cluster.commit(f"l-{i}".encode())
    assert cluster.wait_applied(b"l-4", 4, max_ticks=20)
    assert _conf(cluster, "n4") == ConfState(voters=("n1", "n2", "n3"), learners=("n4",))
    learner_term = cluster.nodes["n4"].core().raft.term
    cluster.isolate("n4")
    cluster.run(200)
    assert cluster.nodes["n4"].core().raft.term == learner_term
    cluster.heal()
    leader = cluster.leader()
    assert leader is not None
    for node_id in ("n1", "n2", "n3"):
        if node_id != leader:
            cluster.crash(node_id)
    assert cluster.propose(b"leader and learner only")
    cluster.run(30)
    assert b"leader and learner only" not in cluster.committed_data


def test_promote_learner_to_voter() -> None:
    """Promoting a learner makes it a voter that can win an election."""
    cluster = Cluster(3, seed=58, learners=1)
    cluster.wait_leader()
    cluster.reconfigure(add_voter("n4"))
    cluster.commit(b"promoted")
    assert cluster.wait_applied(b"promoted", 4, max_ticks=20)
    assert _conf(cluster, "n4").voters == ("n1", "n2", "n3", "n4")
    cluster.transfer_leader("n4")
    assert cluster.run_until(lambda: cluster.leader() == "n4", 20)


def test_membership_churn() -> None:
    """Membership churn: voters are removed and added back repeatedly while nodes crash; every
    configuration change keeps safety, and the final configuration commits."""
    cluster = Cluster(3, seed=59, spares=2, snapshot_every=8)
    cluster.wait_leader()
    sequence = [
        add_voter("n4"),
        add_learner("n5"),
        remove("n1"),
        add_voter("n5"),
        remove("n2"),
        add_voter("n1"),
    ]
    for step, change in enumerate(sequence):
        for i in range(3):
            cluster.commit(f"m-{step}-{i}".encode())
        cluster.reconfigure(change)
        cluster.commit(f"after-{step}".encode(), max_ticks=300)
        victim = f"n{step % 5 + 1}"
        cluster.restart(victim)
    cluster.commit(b"final")
    leader = cluster.leader()
    assert leader is not None
    assert _conf(cluster, leader).voters == ("n1", "n3", "n4", "n5")
