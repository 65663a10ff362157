"""The building blocks: wire mirror of raft.proto, storage, log, quorum math, inflights."""

from __future__ import annotations

import ast
import dataclasses
import pathlib
import sys

import pytest
from tdx import consensus
from tdx.consensus import (
    CompactedError,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    MessageType,
    RaftMessage,
    Snapshot,
    SnapshotMetadata,
    UnavailableError,
    decode_conf_change,
    encode_conf_change,
)
from tdx.consensus.confchange import apply_change
from tdx.consensus.log import LogInvariantError, RaftLog
from tdx.consensus.progress import Inflights, Progress, ProgressState
from tdx.consensus.quorum import VoteResult, committed_index, majority, vote_result
from tdx.v1 import raft_pb2

CONSENSUS_DIR = pathlib.Path(consensus.__file__).resolve().parent


def test_consensus_imports_only_stdlib_and_itself() -> None:
    """Layering: tdx.consensus imports nothing but the standard library and itself."""
    offenders = []
    modules = sorted(CONSENSUS_DIR.glob("*.py"))
    assert len(modules) >= 8
    for module in modules:
        tree = ast.parse(module.read_text(), filename=str(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    continue  # relative: inside the package
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                inside = name == "tdx.consensus" or name.startswith("tdx.consensus.")
                if not inside and top not in sys.stdlib_module_names and top != "__future__":
                    offenders.append(f"{module.name}: {name}")
    assert offenders == []


@pytest.mark.parametrize(
    ("mirror", "proto"),
    [
        (Entry, raft_pb2.Entry),
        (ConfState, raft_pb2.ConfState),
        (ConfChange, raft_pb2.ConfChange),
        (SnapshotMetadata, raft_pb2.SnapshotMetadata),
        (Snapshot, raft_pb2.Snapshot),
        (HardState, raft_pb2.HardState),
        (RaftMessage, raft_pb2.RaftMessage),
    ],
)
def test_dataclasses_mirror_proto_fields(mirror: type, proto: type) -> None:
    """Wire mirror: each dataclass has its proto message's fields, in order (``from`` is
    ``from_``, the one name Python forbids)."""
    names = [f.name for f in dataclasses.fields(mirror)]
    proto_names = [f.name for f in proto.DESCRIPTOR.fields]  # type: ignore[attr-defined]
    assert names == ["from_" if n == "from" else n for n in proto_names]


@pytest.mark.parametrize(
    ("mirror", "proto", "prefix"),
    [
        (EntryType, raft_pb2.EntryType, "ENTRY_TYPE_"),
        (ConfChangeType, raft_pb2.ConfChangeType, "CONF_CHANGE_TYPE_"),
        (MessageType, raft_pb2.MessageType, "MESSAGE_TYPE_"),
    ],
)
def test_enums_mirror_proto_numbers(mirror: type, proto: object, prefix: str) -> None:
    """Wire mirror: enum members have the proto enum's names (without prefix) and numbers."""
    proto_values = {
        v.name.removeprefix(prefix): v.number
        for v in proto.DESCRIPTOR.values  # type: ignore[attr-defined]
    }
    assert {m.name: m.value for m in mirror} == proto_values  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "change",
    [
        ConfChange(ConfChangeType.ADD_VOTER, "de-customs"),
        ConfChange(ConfChangeType.ADD_LEARNER, "nl-partner", b"governance:42" * 20),
        ConfChange(ConfChangeType.REMOVE, "fr-customs-\u00e9"),
        ConfChange(),
    ],
)
def test_conf_change_encoding_is_protobufs(change: ConfChange) -> None:
    """A CONF_CHANGE entry's data is byte for byte the protobuf encoding, both ways."""
    proto = raft_pb2.ConfChange(
        type=raft_pb2.ConfChangeType.ValueType(change.type),
        node_id=change.node_id,
        context=change.context,
    )
    assert encode_conf_change(change) == proto.SerializeToString()
    assert decode_conf_change(proto.SerializeToString()) == change


def test_conf_change_decoding_rejects_truncated_data() -> None:
    """A malformed conf change is an error, never a silent different change."""
    data = encode_conf_change(ConfChange(ConfChangeType.ADD_VOTER, "abc"))
    with pytest.raises(ValueError):
        decode_conf_change(data[:-1])


def test_apply_change_adds_promotes_demotes_and_removes() -> None:
    """Membership: one server changes per step, replaying a change changes nothing."""
    conf = ConfState(voters=("a", "b"))
    conf = apply_change(conf, ConfChange(ConfChangeType.ADD_LEARNER, "c"))
    assert conf == ConfState(voters=("a", "b"), learners=("c",))
    conf = apply_change(conf, ConfChange(ConfChangeType.ADD_VOTER, "c"))
    assert conf == ConfState(voters=("a", "b", "c"))
    assert apply_change(conf, ConfChange(ConfChangeType.ADD_VOTER, "c")) == conf
    conf = apply_change(conf, ConfChange(ConfChangeType.REMOVE, "a"))
    assert conf == ConfState(voters=("b", "c"))
    with pytest.raises(ValueError):
        apply_change(conf, ConfChange(ConfChangeType.UNSPECIFIED, "d"))


def _storage_with(count: int, term: int = 1) -> MemoryStorage:
    storage = MemoryStorage()
    storage.append([Entry(term=term, index=i, data=b"x") for i in range(1, count + 1)])
    return storage


def test_memory_storage_bounds_and_compaction() -> None:
    """Storage: indexes, terms and errors around the snapshot and the end of the log."""
    storage = _storage_with(10)
    assert (storage.first_index(), storage.last_index()) == (1, 10)
    assert [e.index for e in storage.entries(3, 6)] == [3, 4, 5]
    with pytest.raises(UnavailableError):
        storage.entries(5, 12)
    with pytest.raises(ValueError):
        storage.compact(5)  # not covered by a snapshot yet
    storage.create_snapshot(6, ConfState(voters=("a",)), b"state")
    storage.compact(6)
    assert (storage.first_index(), storage.last_index()) == (7, 10)
    assert storage.term(6) == 1
    with pytest.raises(CompactedError):
        storage.term(5)
    with pytest.raises(CompactedError):
        storage.entries(6, 8)
    assert storage.initial_state()[1] == ConfState(voters=("a",))


def test_memory_storage_append_replaces_conflicting_suffix() -> None:
    """Storage: appending at index i replaces everything from i on."""
    storage = _storage_with(5)
    storage.append([Entry(term=2, index=3), Entry(term=2, index=4)])
    assert [(e.index, e.term) for e in storage.entries(1, 5)] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    with pytest.raises(ValueError):
        storage.append([Entry(term=2, index=9)])


def test_memory_storage_entries_respect_max_size() -> None:
    """Batching: entries() stops at max_size bytes but always returns at least one."""
    storage = _storage_with(10)
    one = Entry(term=1, index=1, data=b"x").size()
    assert len(storage.entries(1, 11, max_size=3 * one)) == 3
    assert len(storage.entries(1, 11, max_size=0)) == 1


def test_log_find_conflict_by_term_skips_whole_terms() -> None:
    """Fast back-off: the search skips every entry of a term newer than the probe's."""
    storage = MemoryStorage()
    terms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
    storage.append([Entry(term=t, index=i) for i, t in enumerate(terms, start=1)])
    log = RaftLog(storage)
    assert log.find_conflict_by_term(10, 3) == (3, 1)
    assert log.find_conflict_by_term(10, 5) == (7, 5)
    assert log.find_conflict_by_term(10, 6) == (10, 6)
    assert log.find_conflict_by_term(2, 9) == (2, 1)


def test_log_never_truncates_committed_entries() -> None:
    """Log safety: a conflicting append below the commit index is refused loudly."""
    log = RaftLog(_storage_with(5))
    log.commit_to(4)
    appended = log.maybe_append(2, 1, 5, (Entry(term=1, index=3, data=b"x"),))
    assert appended == (3, [])
    with pytest.raises(LogInvariantError):
        log.maybe_append(2, 1, 5, (Entry(term=2, index=3),))
    assert log.maybe_append(5, 9, 5, ()) is None  # mismatched previous term


def test_log_commit_rule_is_current_term_only() -> None:
    """Figure 8 rule: maybe_commit only commits an entry of the given (current) term."""
    storage = MemoryStorage()
    storage.append([Entry(term=1, index=1), Entry(term=2, index=2), Entry(term=3, index=3)])
    log = RaftLog(storage)
    assert not log.maybe_commit(2, 3)
    assert log.committed == 0
    assert log.maybe_commit(3, 3)
    assert log.committed == 3


def test_quorum_math() -> None:
    """Quorums: majority sizes, commit index as the quorum's smallest ack, vote outcomes."""
    assert [majority(n) for n in range(1, 8)] == [1, 2, 2, 3, 3, 4, 4]
    voters = ["a", "b", "c", "d", "e"]
    assert committed_index(voters, {"a": 9, "b": 7, "c": 5, "d": 2}) == 5
    assert committed_index(voters, {"a": 9, "b": 7}) == 0
    assert committed_index(voters, {"a": 9, "b": 7, "c": 5, "learner": 100}) == 5
    assert vote_result(voters, {"a": True, "b": True}) is VoteResult.PENDING
    assert vote_result(voters, {"a": True, "b": True, "c": True}) is VoteResult.WON
    assert vote_result(voters, {"a": False, "b": False, "c": False}) is VoteResult.LOST


def test_inflights_window() -> None:
    """Flow control: the window fills at capacity or bytes, and acks free it in order."""
    window = Inflights(capacity=3, max_bytes=1000)
    for last in (5, 10, 15):
        assert not window.full()
        window.add(last, 10)
    assert window.full()
    window.free_le(10)
    assert len(window) == 1 and not window.full()
    window.add(20, 2000)
    assert window.full()
    window.free_first()
    window.free_first()
    assert len(window) == 0


def test_progress_probe_and_replicate() -> None:
    """Progress: probing sends one append at a time; a stale rejection is ignored."""
    progress = Progress(next_index=11, max_inflight=4)
    assert progress.state is ProgressState.PROBE and not progress.is_paused()
    progress.probe_sent = True
    assert progress.is_paused()
    assert not progress.maybe_decrease_to(rejected=5, match_hint=3)  # not our last probe
    assert progress.maybe_decrease_to(rejected=10, match_hint=3)
    assert progress.next == 4 and not progress.is_paused()
    assert progress.maybe_update(7)
    progress.become_replicate()
    assert (progress.match, progress.next) == (7, 8)
    progress.optimistic_update(12)
    assert progress.maybe_decrease_to(rejected=12, match_hint=0)
    assert progress.next == 8


def test_public_surface_is_explicit_and_sorted() -> None:
    """Public API: ``tdx.consensus.__all__`` lists each public name once (ruff keeps it
    sorted), every one of them exists, and it holds what the node needs."""
    assert len(set(consensus.__all__)) == len(consensus.__all__)
    assert {"RawNode", "Ready", "Config", "Storage", "MemoryStorage", "RaftMessage"} <= set(
        consensus.__all__
    )
    assert all(hasattr(consensus, name) for name in consensus.__all__)
