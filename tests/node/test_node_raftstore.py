"""RaftStore: the Raft log, hard state and snapshot kept in the node's LevelDB."""

from __future__ import annotations

import pytest
from tdx.consensus import (
    CompactedError,
    ConfState,
    Entry,
    EntryType,
    HardState,
    UnavailableError,
    bootstrap_entries,
)
from tdx.node.replication.storage import RaftStore
from tdx.node.state.store import Prefix, Store, u64


def entries(first: int, last: int, term: int = 1) -> list[Entry]:
    return [Entry(term=term, index=i, type=EntryType.NORMAL, data=f"e{i}t{term}".encode())
            for i in range(first, last + 1)]


def reopened(store: Store) -> RaftStore:
    """A RaftStore read back from disk, as after a restart."""
    return RaftStore(store)


def test_empty_store(store: Store) -> None:
    raft = RaftStore(store)
    hard, conf = raft.initial_state()
    assert hard == HardState() and hard.is_empty()
    assert (raft.first_index(), raft.last_index()) == (1, 0)
    assert conf == ConfState()


def test_saved_entries_and_hard_state_survive_reopening(store: Store) -> None:
    raft = RaftStore(store)
    raft.save(entries(1, 5), HardState(term=1, vote="de-customs", commit=3), None)
    again = reopened(store)
    assert again.entries(1, 6) == entries(1, 5)
    assert again.hard_state == HardState(term=1, vote="de-customs", commit=3)
    assert again.initial_state()[0] == again.hard_state
    assert [again.term(i) for i in range(1, 6)] == [1] * 5
    assert store.get(Prefix.RAFT_LOG + u64(5)) is not None


def test_a_conflicting_suffix_is_replaced_on_disk_too(store: Store) -> None:
    raft = RaftStore(store)
    raft.save(entries(1, 5), None, None)
    raft.save(entries(3, 4, term=2), HardState(term=2), None)
    expected = entries(1, 2) + entries(3, 4, term=2)
    assert raft.entries(1, 5) == expected
    assert raft.last_index() == 4
    again = reopened(store)
    assert again.entries(1, 5) == expected
    assert store.get(Prefix.RAFT_LOG + u64(5)) is None


def test_appending_past_a_gap_is_refused(store: Store) -> None:
    raft = RaftStore(store)
    raft.save(entries(1, 2), None, None)
    with pytest.raises(ValueError, match="gap"):
        raft.save(entries(4, 4), None, None)
    assert reopened(store).last_index() == 2


def test_out_of_range_reads(store: Store) -> None:
    raft = RaftStore(store)
    raft.save(entries(1, 3), None, None)
    with pytest.raises(UnavailableError):
        raft.entries(1, 5)
    with pytest.raises(UnavailableError):
        raft.term(4)
    with pytest.raises(CompactedError):
        raft.entries(0, 2)


def test_size_limit_returns_at_least_one_entry(store: Store) -> None:
    raft = RaftStore(store)
    raft.save(entries(1, 5), None, None)
    assert len(raft.entries(1, 6, max_size=1)) == 1
    assert len(raft.entries(1, 6, max_size=None)) == 5


def test_compaction_drops_the_log_and_keeps_a_snapshot(store: Store) -> None:
    raft = RaftStore(store)
    raft.save(entries(1, 6, term=2), None, None)
    conf = ConfState(voters=("de-customs",))
    items = raft.compact(4, 2, conf, b"ledger state")
    store.write(items)
    for again in (raft, reopened(store)):
        assert (again.first_index(), again.last_index()) == (5, 6)
        assert again.term(4) == 2
        assert again.snapshot().data == b"ledger state"
        assert again.initial_state()[1] == conf
        assert again.entries(5, 7) == entries(5, 6, term=2)
        with pytest.raises(CompactedError):
            again.entries(3, 5)
        with pytest.raises(CompactedError):
            again.term(3)
    assert store.get(Prefix.RAFT_LOG + u64(4)) is None
    # Compacting again at or below the snapshot, or past the log, changes nothing.
    assert raft.compact(4, 2, conf, b"") == {}
    assert raft.compact(9, 2, conf, b"") == {}


def test_stage_returns_writes_without_making_them(store: Store) -> None:
    """The driver stages on the loop thread and writes in its I/O thread."""
    raft = RaftStore(store)
    items = raft.stage(entries(1, 2), HardState(term=1, commit=1), None)
    assert raft.last_index() == 2  # the in-memory view has them already
    assert reopened(store).last_index() == 0
    store.write(items)
    assert reopened(store).last_index() == 2


def test_bootstrap_entries_round_trip(store: Store) -> None:
    founding = bootstrap_entries(["de-customs", "nl-customs", "fr-customs"])
    RaftStore(store).save(founding, HardState(term=1, commit=3), None)
    again = reopened(store)
    assert again.entries(1, 4) == founding
    assert all(e.type is EntryType.CONF_CHANGE for e in again.entries(1, 4))
