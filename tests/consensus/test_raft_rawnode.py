"""The host contract of RawNode: what a Ready holds, and when."""

from __future__ import annotations

import random

import pytest
from tdx.consensus import (
    Config,
    EntryType,
    HardState,
    MemoryStorage,
    MessageType,
    ProposalDroppedError,
    RaftMessage,
    RawNode,
    Ready,
    SoftState,
    StateRole,
    Storage,
)


def _single_node() -> tuple[RawNode, MemoryStorage]:
    storage = MemoryStorage()
    storage.bootstrap(["solo"])
    typed: Storage = storage  # MemoryStorage implements the Storage protocol
    return RawNode(Config(id="solo", rng=random.Random(1)), typed), storage


def _persist(storage: MemoryStorage, ready: Ready) -> None:
    if ready.snapshot is not None:
        storage.apply_snapshot(ready.snapshot)
    storage.append(list(ready.entries))
    if ready.hard_state is not None:
        storage.set_hard_state(ready.hard_state)


def test_ready_reports_only_changes_and_advance_consumes_them() -> None:
    """Ready contract: a new leader's Ready carries its role, its new hard state, its no-op
    to persist and the committed entries to apply; after advance nothing is left."""
    node, storage = _single_node()
    first = node.ready()
    assert first.soft_state is None and first.hard_state is None
    assert [e.type for e in first.committed_entries] == [EntryType.CONF_CHANGE]
    node.advance(first)
    node.campaign()
    ready = node.ready()
    assert ready.soft_state == SoftState(leader="solo", role=StateRole.LEADER)
    assert ready.hard_state == HardState(term=2, vote="solo", commit=2)
    assert [(e.index, e.term, e.data) for e in ready.entries] == [(2, 2, b"")]
    assert [e.index for e in ready.committed_entries] == [2]
    assert ready.must_sync and ready.messages == ()
    _persist(storage, ready)
    node.advance(ready)
    assert not node.has_ready()
    node.propose(b"doc")
    ready = node.ready()
    assert ready.hard_state == HardState(term=2, vote="solo", commit=3)
    assert [e.data for e in ready.committed_entries] == [b"doc"]


def test_a_host_reads_term_and_configuration_without_the_core() -> None:
    """Host reads: the term and the configuration, now and as of an index, are RawNode's own
    (a host never reaches into ``RawNode.raft``)."""
    storage = MemoryStorage()
    storage.bootstrap(["a", "b"])
    node = RawNode(Config(id="a", pre_vote=False, rng=random.Random(1)), storage)
    assert node.term == 1 == node.status().hard_state.term
    assert list(node.conf_state().voters) == ["a", "b"]
    node.advance(node.ready())
    node.campaign()
    assert node.term == 2 == node.status().hard_state.term
    # The bootstrap entries added a then b: at index 1 only a was a voter.
    assert list(node.conf_state_at(1).voters) == ["a"]
    assert node.conf_state_at(2) == node.conf_state() == node.status().conf_state


def test_one_ready_at_a_time() -> None:
    """Ready contract: a second ready() before advance() is refused, and advance() only takes
    the Ready last handed out."""
    node, _ = _single_node()
    ready = node.ready()
    with pytest.raises(RuntimeError):
        node.ready()
    node.advance(ready)
    with pytest.raises(RuntimeError):
        node.advance(ready)


def test_step_ignores_misaddressed_and_unknown_responses() -> None:
    """Robustness: messages for another node, and responses from non-members, change nothing."""
    node, _ = _single_node()
    node.advance(node.ready())
    node.step(RaftMessage(type=MessageType.HEARTBEAT, to="other", from_="x", term=9))
    node.step(RaftMessage(type=MessageType.APPEND_RESPONSE, to="solo", from_="x", term=0))
    assert node.raft.term == 1 and not node.has_ready()


def test_propose_without_leader_raises() -> None:
    """Drop and report: a follower that knows no leader refuses proposals."""
    storage = MemoryStorage()
    storage.bootstrap(["a", "b", "c"])
    node = RawNode(Config(id="a"), storage)
    with pytest.raises(ProposalDroppedError):
        node.propose(b"nowhere to go")


def test_config_is_validated() -> None:
    """Config: impossible timing settings are refused up front."""
    with pytest.raises(ValueError):
        RawNode(Config(id="a", election_tick=1, heartbeat_tick=1), MemoryStorage())
    with pytest.raises(ValueError):
        RawNode(Config(id=""), MemoryStorage())
