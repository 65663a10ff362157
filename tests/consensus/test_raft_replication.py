"""Log replication and persistence: the course suite's agreement, back-up, count, persist and
Figure 8 tests. The harness checks log matching, leader completeness, state machine safety and
durability on every step; these tests add what each scenario must achieve."""

from __future__ import annotations

import random

import pytest
from raft_sim import UNRELIABLE, Cluster, Faults, figure8_rounds
from tdx.consensus import Config, Entry, HardState, MemoryStorage, MessageType, RaftMessage, RawNode


def _log_indexes(cluster: Cluster, data: bytes) -> set[int]:
    """Where ``data`` sits in each live node's log (one index if the logs agree)."""
    found = set()
    for node in cluster.live():
        for entry in node.core().raft.log.all_entries():
            if entry.data == data:
                found.add(entry.index)
    return found


def test_basic_agreement() -> None:
    """Basic agreement: each proposal commits at the next index, on every node."""
    cluster = Cluster(3, seed=21)
    cluster.wait_leader()
    cluster.run(3)
    first = cluster.max_committed + 1
    for i in range(3):
        data = f"agree-{i}".encode()
        assert cluster.propose(data)
        assert cluster.wait_applied(data, max_ticks=10)
        assert cluster.committed_data[data] == first + i


def test_follower_forwards_proposals_to_leader() -> None:
    """Proposal forwarding: a proposal made at a follower is committed through the leader."""
    cluster = Cluster(3, seed=22)
    leader = cluster.wait_leader()
    cluster.run(3)
    follower = next(n for n in cluster.nodes if n != leader)
    assert cluster.propose(b"via follower", via=follower)
    assert cluster.wait_applied(b"via follower", max_ticks=10)


def test_proposal_without_leader_is_dropped_and_reported() -> None:
    """A proposal at a node that knows no leader raises ProposalDroppedError (reported, not
    silently lost)."""
    cluster = Cluster(3, seed=23)
    assert not cluster.propose(b"too early", via="n1")


def test_agreement_with_follower_down() -> None:
    """Agreement despite a failed follower: two of three commit; the third catches up when it
    comes back."""
    cluster = Cluster(3, seed=24)
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n != leader)
    cluster.isolate(follower)
    for i in range(10):
        cluster.commit(f"down-{i}".encode())
    assert cluster.wait_applied(b"down-9", 2, max_ticks=10)
    assert follower not in cluster.applied_on(b"down-9")
    cluster.heal()
    assert cluster.wait_applied(b"down-9", 3, max_ticks=20)


def test_no_agreement_without_majority() -> None:
    """No agreement without a majority: with 3 of 5 followers gone nothing commits; once they
    return the leader's entry (or its successor's) commits and logs agree."""
    cluster = Cluster(5, seed=25)
    leader = cluster.wait_leader()
    cluster.commit(b"before")
    followers = [n for n in cluster.nodes if n != leader][:3]
    for node_id in followers:
        cluster.isolate(node_id)
    committed = cluster.max_committed
    assert cluster.propose(b"stuck", via=leader)
    cluster.run(50)
    assert cluster.max_committed == committed and b"stuck" not in cluster.committed_data
    cluster.heal()
    cluster.commit(b"after")
    cluster.converge()


def test_concurrent_proposals_commit_exactly_once() -> None:
    """Concurrent proposals from every node in the same instant all commit, each once."""
    cluster = Cluster(3, seed=26)
    cluster.wait_leader()
    cluster.run(3)
    batch = [f"c-{node}-{i}".encode() for node in cluster.nodes for i in range(5)]
    for data in batch:
        assert cluster.propose(data, via=f"n{batch.index(data) % 3 + 1}")
    assert cluster.run_until(lambda: all(d in cluster.committed_data for d in batch), 20)
    indexes = [cluster.committed_data[d] for d in batch]
    assert len(set(indexes)) == len(batch)
    committed_normal = [e for e in cluster.committed.values() if e.data in set(batch)]
    assert len(committed_normal) == len(batch)


def test_rejoin_of_partitioned_leader() -> None:
    """Rejoin: a cut-off leader's uncommitted entries are discarded when it returns, and it
    takes the new leader's log."""
    cluster = Cluster(3, seed=27)
    old = cluster.wait_leader()
    cluster.commit(b"101")
    cluster.isolate(old)
    for data in (b"102", b"103", b"104"):
        cluster.propose(data, via=old)
    assert cluster.run_until(lambda: cluster.leader() not in (None, old), 50)
    cluster.commit(b"103-new")
    cluster.heal()
    assert cluster.wait_applied(b"103-new", 3, max_ticks=30)
    for data in (b"102", b"103", b"104"):
        assert data not in cluster.committed_data
        assert _log_indexes(cluster, data) == set()


def test_fast_backup_over_long_divergent_logs() -> None:
    """Fast back-off (the course's Backup test): four nodes holding 50 conflicting
    uncommitted entries each are repaired with a handful of rejections, one per conflicting
    term, rather than one per entry."""
    cluster = Cluster(5, seed=28, max_size_per_msg=None)
    leader = cluster.wait_leader()
    cluster.commit(b"base")
    ids = sorted(cluster.nodes)
    old_pair = [leader, next(n for n in ids if n != leader)]
    others = [n for n in ids if n not in old_pair]
    # The leader and one follower take 50 entries that will never commit.
    cluster.partition(old_pair, others)
    for i in range(50):
        cluster.propose(f"lost-a-{i}".encode(), via=leader)
    cluster.run(5)
    # The other three elect a leader and commit 50 entries.
    assert cluster.run_until(lambda: cluster.leader() in others, 60)
    for i in range(50):
        cluster.commit(f"kept-{i}".encode())
    # That leader and one follower take 50 more that will never commit...
    second = cluster.leader()
    assert second is not None
    straggler = next(n for n in others if n != second)
    third = next(n for n in others if n not in (second, straggler))
    cluster.partition([second, straggler], [*old_pair, third])
    for i in range(50):
        cluster.propose(f"lost-b-{i}".encode(), via=second)
    rejections_before = cluster.append_rejections
    # ...while the old pair, now with the third node, must drop their 50 and commit 50 more.
    for i in range(50):
        cluster.commit(f"kept-2-{i}".encode(), max_ticks=300)
    cluster.heal()
    cluster.converge()
    assert all(f"kept-{i}".encode() in cluster.committed_data for i in range(50))
    assert not any(
        f"lost-{s}-{i}".encode() in cluster.committed_data for s in "ab" for i in range(50)
    )
    assert cluster.append_rejections - rejections_before <= 12


def test_bounded_message_count() -> None:
    """RPC count: an election takes a handful of messages, each agreement a few appends per
    follower, and an idle cluster sends only one heartbeat round per heartbeat tick."""
    cluster = Cluster(3, seed=29)
    cluster.wait_leader()
    cluster.run(1)
    assert sum(cluster.sent.values()) <= 25
    before = cluster.sent.copy()
    for i in range(10):
        assert cluster.propose(f"count-{i}".encode())
        assert cluster.wait_applied(f"count-{i}".encode(), max_ticks=5)
    during = cluster.sent - before
    followers, proposals = 2, 10
    assert during[MessageType.APPEND] <= 3 * followers * proposals
    assert during[MessageType.APPEND_RESPONSE] <= during[MessageType.APPEND]
    assert set(during) <= {
        MessageType.APPEND,
        MessageType.APPEND_RESPONSE,
        MessageType.HEARTBEAT,
        MessageType.HEARTBEAT_RESPONSE,
    }
    idle_before = cluster.sent.copy()
    idle_ticks = 20
    cluster.run(idle_ticks)
    idle = cluster.sent - idle_before
    assert idle[MessageType.HEARTBEAT] <= followers * (idle_ticks + 1)
    assert sum(idle.values()) == idle[MessageType.HEARTBEAT] + idle[MessageType.HEARTBEAT_RESPONSE]


def test_persistence_across_full_restart() -> None:
    """Persistence: after every node crashes and restarts from storage alone, every committed
    entry is still there and the cluster keeps going."""
    cluster = Cluster(3, seed=30)
    cluster.wait_leader()
    for i in range(10):
        cluster.commit(f"p-{i}".encode())
    committed = cluster.max_committed
    for node_id in cluster.nodes:
        cluster.crash(node_id)
    for node_id in cluster.nodes:
        cluster.start(node_id)
    cluster.wait_leader()
    cluster.commit(b"after restart")
    cluster.converge()
    assert all(node.sm.applied > committed for node in cluster.live())


def test_persistence_with_leader_and_followers_crashing_in_turn() -> None:
    """Persistence: leaders and followers crash and restart one after another while entries
    commit; nothing committed is lost and the restarted nodes catch up."""
    cluster = Cluster(5, seed=31)
    cluster.wait_leader()
    for round_ in range(6):
        cluster.commit(f"round-{round_}".encode())
        leader = cluster.leader() or "n1"
        cluster.crash(leader)
        victim = f"n{(round_ % 5) + 1}"
        cluster.crash(victim)
        cluster.commit(f"round-{round_}-b".encode())
        cluster.start(leader)
        cluster.start(victim)
    cluster.converge()


def test_vote_and_term_survive_restart() -> None:
    """Persistence of the hard state: a node restarted in the same term does not vote again
    for a different candidate."""
    storage = MemoryStorage()
    storage.bootstrap(["a", "b", "c"])
    node = RawNode(Config(id="a", pre_vote=False), storage)
    vote = RaftMessage(type=MessageType.VOTE, to="a", from_="b", term=5, index=3, log_term=1)
    node.step(vote)
    ready = node.ready()
    assert ready.hard_state == HardState(term=5, vote="b", commit=3)
    assert ready.must_sync
    storage.set_hard_state(ready.hard_state)
    node.advance(ready)
    restarted = RawNode(Config(id="a", pre_vote=False), storage)
    restarted.step(
        RaftMessage(type=MessageType.VOTE, to="a", from_="c", term=5, index=3, log_term=1)
    )
    response = restarted.ready().messages[0]
    assert response.type is MessageType.VOTE_RESPONSE and response.reject


def test_figure8_commit_rule_scripted() -> None:
    """Figure 8: a new leader does not commit an entry of an earlier term by counting
    replicas; it commits once an entry of its own term is on a quorum."""
    storage = MemoryStorage()
    storage.bootstrap(["a", "b", "c"])
    storage.append([Entry(term=2, index=4, data=b"from term 2")])
    storage.set_hard_state(HardState(term=2, commit=3))
    node = RawNode(Config(id="a", pre_vote=False), storage)
    node.campaign()
    node.step(RaftMessage(type=MessageType.VOTE_RESPONSE, to="a", from_="b", term=3))
    raft = node.raft
    assert raft.lead == "a" and raft.log.last_index() == 5  # its no-op at term 3
    node.step(RaftMessage(type=MessageType.APPEND_RESPONSE, to="a", from_="b", term=3, index=4))
    assert raft.log.committed == 3  # entry 4 is on a, b, but it is of term 2
    node.step(RaftMessage(type=MessageType.APPEND_RESPONSE, to="a", from_="b", term=3, index=5))
    assert raft.log.committed == 5


def test_figure8_reliable() -> None:
    """Figure 8 (reliable network): no committed entry is ever lost or replaced while leaders
    keep crashing in the middle of replication."""
    cluster = Cluster(5, seed=32)
    cluster.wait_leader()
    figure8_rounds(cluster, random.Random(32), rounds=1000)


def test_figure8_unreliable() -> None:
    """Figure 8 (unreliable network): the same under loss, duplication and long delays."""
    cluster = Cluster(5, seed=33, faults=UNRELIABLE)
    cluster.wait_leader(max_ticks=200)
    figure8_rounds(cluster, random.Random(33), rounds=1000)


def test_agreement_on_unreliable_network() -> None:
    """Unreliable network: with 10% loss, 5% duplication and reordering delays, concurrent
    proposals from all nodes still all commit, in one order everywhere."""
    cluster = Cluster(5, seed=34, faults=UNRELIABLE)
    cluster.wait_leader(max_ticks=200)
    wanted = []
    for i in range(30):
        data = f"u-{i}".encode()
        wanted.append(data)
        cluster.commit(data, max_ticks=300)
    cluster.converge(max_ticks=300)
    assert all(data in cluster.committed_data for data in wanted)


def test_delivery_with_crashes_mid_ready() -> None:
    """Crash between persisting and sending: a host that dies after writing a Ready but before
    sending its messages loses nothing committed."""
    faults = Faults(drop=0.02, crash_mid_ready=0.01, max_delay=4)
    cluster = Cluster(3, seed=35, faults=faults)
    rng = random.Random(35)
    for i in range(40):
        cluster.propose(f"m-{i}".encode())
        cluster.run(rng.randint(1, 3))
        for node_id, node in cluster.nodes.items():
            if not node.alive and rng.random() < 0.5:
                cluster.start(node_id)
    cluster.converge()


@pytest.mark.parametrize("unreliable", [False, True], ids=["reliable", "unreliable"])
def test_churn(unreliable: bool) -> None:
    """Churn: nodes crash, restart and get partitioned at random while clients propose;
    everything a client saw committed stays committed, and the cluster converges."""
    seed = 36 + unreliable
    cluster = Cluster(5, seed=seed, faults=UNRELIABLE if unreliable else Faults(max_delay=3))
    rng = random.Random(seed)
    seen_committed: set[bytes] = set()
    for round_ in range(300):
        for _ in range(rng.randint(0, 3)):
            cluster.propose(f"churn-{round_}-{rng.random()}".encode())
        cluster.run(rng.randint(1, 5))
        seen_committed.update(cluster.committed_data)
        cluster.disturb(rng, crash=0.2, restart=0.3, isolate=0.1, split=0.05, heal=0.2)
    cluster.converge(max_ticks=400)
    assert seen_committed <= set(cluster.committed_data)
