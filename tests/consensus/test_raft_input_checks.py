"""Hostile input: a message no honest peer sends is refused before it changes any state.

One sentence each: terms and indexes out of range, appends with gaps or past the end of the
log, appends that would rewrite committed entries, heartbeats committing past the log, and
acknowledgements of entries the leader does not have. After each refusal the cluster goes on
committing, and the simulator's safety checks hold.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from raft_sim import Cluster
from tdx.consensus import (
    MAX_INDEX,
    MAX_TERM,
    ConfState,
    Entry,
    EntryType,
    InvalidMessageError,
    MessageType,
    RaftMessage,
    Snapshot,
    SnapshotMetadata,
    check_message,
)


def _running() -> tuple[Cluster, str, str]:
    cluster = Cluster(3, seed=7)
    leader = cluster.wait_leader()
    cluster.commit(b"first")
    follower = next(n for n in cluster.nodes if n != leader)
    return cluster, leader, follower


def _state(cluster: Cluster, node_id: str) -> tuple[object, ...]:
    raft = cluster.nodes[node_id].core().raft
    return (raft.term, raft.vote, raft.lead, raft.role, raft.log.committed,
            raft.log.last_index(), tuple(raft.log.all_entries()))


def _refused(cluster: Cluster, node_id: str, message: RaftMessage, match: str) -> None:
    before = _state(cluster, node_id)
    with pytest.raises(InvalidMessageError, match=match):
        cluster.nodes[node_id].core().step(message)
    assert _state(cluster, node_id) == before, "a refused message changed state"


@pytest.mark.parametrize("term", [MAX_TERM, 2**64 - 1])
def test_huge_terms_are_refused(term: int) -> None:
    """A heartbeat with term 2^64-1 used to be adopted, leaving no encodable next term."""
    cluster, leader, follower = _running()
    for target in (leader, follower):
        _refused(cluster, target, RaftMessage(type=MessageType.HEARTBEAT, to=target,
                                              from_="n9", term=term), "term")
    cluster.commit(b"after")


def test_append_past_the_end_of_the_log_is_rejected_not_a_gap() -> None:
    """An append at an index past our last entry, claiming log term 0, does not match (the
    follower answers with a rejection hint) instead of leaving a gap in the log."""
    cluster, leader, follower = _running()
    raft = cluster.nodes[follower].core().raft
    term, last = raft.term, raft.log.last_index()
    index = last + 1000
    message = RaftMessage(type=MessageType.APPEND, to=follower, from_=leader, term=term,
                          index=index, log_term=0,
                          entries=(Entry(term=term, index=index + 1, data=b"x"),),
                          commit=index + 1)
    cluster.nodes[follower].core().step(message)
    assert raft.log.last_index() == last
    answer = [m for m in raft.messages if m.type is MessageType.APPEND_RESPONSE][-1]
    assert answer.reject and answer.reject_hint <= last
    cluster.commit(b"after")


def test_append_rewriting_a_committed_entry_changes_nothing() -> None:
    """An append (at the current term) whose entry conflicts with a committed one is
    answered with the commit index; the committed entry stays."""
    cluster, leader, follower = _running()
    raft = cluster.nodes[follower].core().raft
    committed = raft.log.committed
    before = _state(cluster, follower)
    message = RaftMessage(type=MessageType.APPEND, to=follower, from_=leader, term=raft.term,
                          index=committed - 1, log_term=raft.log.term(committed - 1),
                          entries=(Entry(term=raft.term, index=committed, data=b"forged"),),
                          commit=committed)
    cluster.nodes[follower].core().step(message)
    assert _state(cluster, follower) == before
    cluster.commit(b"after")


def test_heartbeat_committing_past_the_log_is_clamped() -> None:
    """A leader that has not noticed a follower's repaired (shorter) log may heartbeat a
    commit past it: the follower commits no further than its log, and does not fail."""
    cluster, leader, follower = _running()
    raft = cluster.nodes[follower].core().raft
    committed = raft.log.committed
    cluster.nodes[follower].core().step(RaftMessage(
        type=MessageType.HEARTBEAT, to=follower, from_=leader, term=raft.term,
        commit=raft.log.last_index() + 5))
    assert committed <= raft.log.committed <= raft.log.last_index()
    cluster.commit(b"after")


def test_a_restarted_follower_is_probed_from_scratch() -> None:
    """report_restart: the leader forgets the follower's match and probes again; a follower
    whose log is intact answers at once, and the cluster goes on committing."""
    cluster, leader, follower = _running()
    core = cluster.nodes[leader].core()
    assert core.raft.tracker.progress[follower].match > 0
    core.report_restart(follower)
    assert core.raft.tracker.progress[follower].match == 0
    cluster.commit(b"after")
    assert core.raft.tracker.progress[follower].match == core.raft.log.last_index()


def test_acknowledging_entries_the_leader_lacks_is_refused() -> None:
    """A lying follower cannot make the leader count entries it never sent."""
    cluster, leader, follower = _running()
    raft = cluster.nodes[leader].core().raft
    message = RaftMessage(type=MessageType.APPEND_RESPONSE, to=leader, from_=follower,
                          term=raft.term, index=raft.log.last_index() + 10)
    _refused(cluster, leader, message, "past the leader")
    cluster.commit(b"after")


@pytest.mark.parametrize(("message", "reason"), [
    (RaftMessage(type=MessageType.UNSPECIFIED, to="a", from_="b", term=1), "unspecified"),
    (RaftMessage(type=MessageType.VOTE, to="a", from_="b", term=2, log_term=3),
     "log term"),
    (RaftMessage(type=MessageType.APPEND, to="a", from_="b", term=2, index=MAX_INDEX),
     "index"),
    (RaftMessage(type=MessageType.HEARTBEAT, to="a", from_="b", term=2, commit=2**64 - 1),
     "commit"),
    (RaftMessage(type=MessageType.APPEND, to="a", from_="b", term=2, index=4,
                 entries=(Entry(term=2, index=6),)), "without gaps"),
    (RaftMessage(type=MessageType.APPEND, to="a", from_="b", term=2, index=4,
                 entries=(Entry(term=3, index=5),)), "terms"),
    (RaftMessage(type=MessageType.APPEND, to="a", from_="b", term=2, index=4, log_term=2,
                 entries=(Entry(term=1, index=5),)), "terms"),
    (RaftMessage(type=MessageType.APPEND, to="a", from_="b", term=2, index=4,
                 entries=(Entry(term=2, index=5, type=EntryType.UNSPECIFIED),)), "type"),
    (RaftMessage(type=MessageType.HEARTBEAT, to="a", from_="b", term=2,
                 entries=(Entry(term=2, index=5),)), "must not carry"),
    (RaftMessage(type=MessageType.HEARTBEAT, to="a", from_="", term=2), "sender"),
    (RaftMessage(type=MessageType.SNAPSHOT, to="a", from_="b", term=2), "snapshot"),
    (RaftMessage(type=MessageType.SNAPSHOT, to="a", from_="b", term=2, snapshot=Snapshot(
        SnapshotMetadata(index=5, term=3, conf_state=ConfState(voters=("a",))), b"d")),
     "snapshot"),
    (RaftMessage(type=MessageType.SNAPSHOT, to="a", from_="b", term=2, snapshot=Snapshot(
        SnapshotMetadata(index=5, term=2, conf_state=ConfState()), b"d")), "voter"),
    (RaftMessage(type=MessageType.HEARTBEAT, to="a", from_="b", term=2, snapshot=Snapshot(
        SnapshotMetadata(index=5, term=2, conf_state=ConfState(voters=("a",))), b"d")),
     "snapshot"),
])
def test_malformed_messages_are_named(message: RaftMessage, reason: str) -> None:
    found = check_message(message)
    assert found is not None and reason in found


_NUMBERS = st.one_of(st.integers(0, 20), st.integers(0, 2**64 - 1))


@settings(max_examples=300, deadline=None, database=None)
@given(kind=st.sampled_from(list(MessageType)), term=_NUMBERS, log_term=_NUMBERS,
       index=_NUMBERS, commit=_NUMBERS, reject=st.booleans(), hint=_NUMBERS,
       entry_terms=st.lists(_NUMBERS, max_size=3))
def test_any_message_is_taken_or_refused_and_the_cluster_stays_safe(
        kind: MessageType, term: int, log_term: int, index: int, commit: int, reject: bool,
        hint: int, entry_terms: list[int]) -> None:
    """Fuzz: a message with arbitrary fields, from a voter, to the leader or a follower,
    either steps normally or raises InvalidMessageError, never anything else; afterwards
    the cluster still elects, commits, and passes every safety check of the simulator."""
    cluster, leader, follower = _running()
    entries = tuple(Entry(term=t, index=index + i + 1, data=b"e")
                    for i, t in enumerate(entry_terms))
    for to, from_ in ((follower, leader), (leader, follower)):
        message = RaftMessage(type=kind, to=to, from_=from_, term=term, log_term=log_term,
                              index=index, commit=commit, reject=reject, reject_hint=hint,
                              entries=entries)
        with contextlib.suppress(InvalidMessageError):
            cluster.nodes[to].core().step(message)
        raft = cluster.nodes[to].core().raft
        assert raft.term < MAX_TERM
        assert raft.log.committed <= raft.log.last_index()
    cluster.commit(b"after")


def test_a_term_far_ahead_is_refused_so_terms_cannot_be_pushed_to_the_limit() -> None:
    """Term exhaustion: a vote request at 2^62-1 while no leader holds a lease would make
    every node adopt it, and the next election would need a term past the limit."""
    cluster, leader, follower = _running()
    cluster.isolate(leader)
    cluster.run(cluster.election_tick * 3)
    raft = cluster.nodes[follower].core().raft
    _refused(cluster, follower, RaftMessage(type=MessageType.VOTE, to=follower, from_=leader,
                                            term=MAX_TERM - 1, log_term=raft.log.last_term(),
                                            index=raft.log.last_index()), "ahead")
    cluster.heal()
    cluster.commit(b"after")
