"""Leader election: the paper's section 5.2 and the course suite's election tests, plus
pre-vote, check-quorum and leadership transfer. Every run also checks election safety (one
leader per term) on each step, inside the harness."""

from __future__ import annotations

import random

from raft_sim import Cluster
from tdx.consensus import MessageType, StateRole


def _term(cluster: Cluster, node_id: str) -> int:
    return cluster.nodes[node_id].core().raft.term


def _role(cluster: Cluster, node_id: str) -> StateRole:
    return cluster.nodes[node_id].core().raft.role


def test_initial_election() -> None:
    """Initial election: a leader emerges within a few timeouts, every node agrees on it, and
    without failures the term stays put."""
    cluster = Cluster(3, seed=11)
    leader = cluster.wait_leader(max_ticks=40)
    cluster.run(5)
    assert {node.core().raft.lead for node in cluster.live()} == {leader}
    term = _term(cluster, leader)
    cluster.run(100)
    assert cluster.leader() == leader
    assert {_term(cluster, n) for n in cluster.nodes} == {term}


def test_reelection_after_leader_failure() -> None:
    """Re-election: when the leader is cut off a new one is elected; the old one rejoining
    does not disturb it; without a quorum no leader is elected; with a quorum back, one is."""
    cluster = Cluster(3, seed=12)
    first = cluster.wait_leader()
    cluster.isolate(first)
    assert cluster.run_until(lambda: cluster.leader() not in (None, first), 60)
    second = cluster.leader()
    assert second is not None and second != first
    cluster.heal()
    cluster.run(30)
    assert cluster.leader() == second
    assert _role(cluster, first) is StateRole.FOLLOWER
    others = [n for n in cluster.nodes if n != second]
    cluster.isolate(second)
    cluster.isolate(others[0])
    cluster.run(60)
    assert all(_role(cluster, n) is not StateRole.LEADER for n in others)
    cluster.heal()
    cluster.isolate(second)
    assert cluster.run_until(lambda: cluster.leader() in others, 60)


def test_many_elections_keep_one_leader_per_term() -> None:
    """Many elections: 7 nodes, 3 random ones cut off at a time, over and over; whenever a
    quorum is connected a leader is (re-)established."""
    cluster = Cluster(7, seed=13)
    rng = random.Random(13)
    cluster.wait_leader()
    for _ in range(10):
        cut = rng.sample(sorted(cluster.nodes), 3)
        cluster.heal()
        for node_id in cut:
            cluster.isolate(node_id)

        def led_from_connected_side(cut: list[str] = cut) -> bool:
            return cluster.leader() not in (None, *cut)

        assert cluster.run_until(led_from_connected_side, 80)
    cluster.heal()
    cluster.converge()
    assert len(cluster.leaders) >= 3


def test_vote_requires_up_to_date_log() -> None:
    """Election restriction (5.4.1): a node whose log is behind cannot become leader."""
    cluster = Cluster(3, seed=14)
    leader = cluster.wait_leader()
    lagging = next(n for n in cluster.nodes if n != leader)
    cluster.isolate(lagging)
    for i in range(5):
        cluster.commit(f"v{i}".encode())
    cluster.crash(leader)
    cluster.heal()
    cluster.isolate(leader)
    new_leader = cluster.wait_leader(max_ticks=100)
    assert new_leader != lagging


def test_prevote_partitioned_node_does_not_disrupt() -> None:
    """Pre-vote: a follower cut off for a long time does not raise its term, so when it
    rejoins it does not depose the healthy leader."""
    cluster = Cluster(3, seed=15)
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n != leader)
    term = _term(cluster, leader)
    cluster.isolate(follower)
    cluster.run(200)
    assert _term(cluster, follower) == term
    cluster.heal()
    cluster.run(50)
    assert cluster.leader() == leader and _term(cluster, leader) == term


def test_check_quorum_lease_ignores_disruptive_candidate() -> None:
    """Check-quorum without pre-vote: a rejoining node that raised its term cannot win votes
    from followers that hear from a live leader (lease), and the cluster settles."""
    cluster = Cluster(3, seed=16, pre_vote=False)
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n != leader)
    cluster.isolate(follower)
    cluster.run(100)
    assert _term(cluster, follower) > _term(cluster, leader)
    votes_before = cluster.sent[MessageType.VOTE_RESPONSE]
    cluster.heal()
    cluster.run(5)
    # The others ignore the higher-term vote requests (no answer) while their leader lives.
    assert cluster.sent[MessageType.VOTE_RESPONSE] == votes_before
    cluster.run(60)
    assert cluster.leader() is not None


def test_check_quorum_leader_steps_down_without_quorum() -> None:
    """Check-quorum: a leader that cannot hear from a quorum steps down within an election
    timeout or two, so clients are not left talking to a powerless leader."""
    cluster = Cluster(5, seed=17)
    leader = cluster.wait_leader()
    cluster.isolate(leader)
    cluster.run(2 * cluster.election_tick + 1)
    assert _role(cluster, leader) is not StateRole.LEADER


def test_leadership_transfer() -> None:
    """Leadership transfer: the leader brings the transferee up to date, sends TIMEOUT_NOW,
    and the transferee wins at once (overriding the lease), at the next term."""
    cluster = Cluster(3, seed=18)
    leader = cluster.wait_leader()
    target = next(n for n in sorted(cluster.nodes) if n != leader)
    term = _term(cluster, leader)
    cluster.commit(b"before transfer")
    cluster.transfer_leader(target)
    assert cluster.run_until(lambda: cluster.leader() == target, 5)
    assert _term(cluster, target) == term + 1
    assert cluster.sent[MessageType.TIMEOUT_NOW] == 1
    cluster.commit(b"after transfer")


def test_leadership_transfer_to_lagging_follower_catches_it_up() -> None:
    """Leadership transfer to a follower that missed entries: it is caught up first, and no
    proposal is accepted while the transfer is under way."""
    cluster = Cluster(3, seed=19)
    leader = cluster.wait_leader()
    target = next(n for n in sorted(cluster.nodes) if n != leader)
    cluster.isolate(target)
    for i in range(20):
        cluster.commit(f"t{i}".encode())
    cluster.heal()
    cluster.transfer_leader(target)
    assert not cluster.propose(b"during transfer", via=leader)
    assert cluster.run_until(lambda: cluster.leader() == target, 20)
    assert cluster.nodes[target].core().raft.log.last_index() >= cluster.max_committed


def test_leadership_transfer_is_abandoned_when_target_is_down() -> None:
    """Leadership transfer to an unreachable node gives up after an election timeout, and the
    leader accepts proposals again."""
    cluster = Cluster(3, seed=20)
    leader = cluster.wait_leader()
    target = next(n for n in sorted(cluster.nodes) if n != leader)
    cluster.crash(target)
    cluster.transfer_leader(target)
    assert not cluster.propose(b"refused", via=leader)
    cluster.run(cluster.election_tick + 1)
    assert cluster.leader() == leader
    assert cluster.propose(b"accepted", via=leader)


def test_follower_forwards_transfer_request() -> None:
    """A transfer request made at a follower is forwarded to the leader."""
    cluster = Cluster(3, seed=21)
    leader = cluster.wait_leader()
    follower = next(n for n in sorted(cluster.nodes) if n != leader)
    cluster.run(3)  # the follower learns who leads from the first append
    cluster.transfer_leader(follower, via=follower)
    assert cluster.run_until(lambda: cluster.leader() == follower, 10)
