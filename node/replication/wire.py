"""Conversion between tdx.consensus's plain types and the tdx.v1 Raft protobufs.

The core mirrors raft.proto field by field; this module is the one place that knows both.
"""

from __future__ import annotations

from tdx.consensus.messages import (
    ConfState,
    Entry,
    EntryType,
    HardState,
    MessageType,
    RaftMessage,
    Snapshot,
    SnapshotMetadata,
)
from tdx.v1 import raft_pb2


def entry_to_pb(entry: Entry) -> raft_pb2.Entry:
    """Core Entry -> proto."""
    return raft_pb2.Entry(term=entry.term, index=entry.index,
                          type=raft_pb2.EntryType.ValueType(entry.type),
                          data=entry.data)


def entry_from_pb(entry: raft_pb2.Entry) -> Entry:
    """Proto Entry -> core."""
    return Entry(term=entry.term, index=entry.index, type=EntryType(entry.type),
                 data=bytes(entry.data))


def conf_state_to_pb(state: ConfState) -> raft_pb2.ConfState:
    """Core ConfState -> proto."""
    return raft_pb2.ConfState(voters=list(state.voters), learners=list(state.learners))


def conf_state_from_pb(state: raft_pb2.ConfState) -> ConfState:
    """Proto ConfState -> core."""
    return ConfState(voters=tuple(state.voters), learners=tuple(state.learners))


def snapshot_to_pb(snapshot: Snapshot) -> raft_pb2.Snapshot:
    """Core Snapshot -> proto."""
    meta = snapshot.metadata
    return raft_pb2.Snapshot(
        metadata=raft_pb2.SnapshotMetadata(index=meta.index, term=meta.term,
                                           conf_state=conf_state_to_pb(meta.conf_state)),
        data=snapshot.data)


def snapshot_from_pb(snapshot: raft_pb2.Snapshot) -> Snapshot:
    """Proto Snapshot -> core."""
    meta = snapshot.metadata
    return Snapshot(
        metadata=SnapshotMetadata(index=meta.index, term=meta.term,
                                  conf_state=conf_state_from_pb(meta.conf_state)),
        data=bytes(snapshot.data))


def hard_state_to_pb(state: HardState) -> raft_pb2.HardState:
    """Core HardState -> proto."""
    return raft_pb2.HardState(term=state.term, vote=state.vote, commit=state.commit)


def hard_state_from_pb(state: raft_pb2.HardState) -> HardState:
    """Proto HardState -> core."""
    return HardState(term=state.term, vote=state.vote, commit=state.commit)


def message_to_pb(message: RaftMessage) -> raft_pb2.RaftMessage:
    """Core RaftMessage -> proto (``from_`` becomes ``from``)."""
    out = raft_pb2.RaftMessage(
        type=raft_pb2.MessageType.ValueType(message.type), to=message.to, term=message.term,
        log_term=message.log_term,
        index=message.index, entries=[entry_to_pb(e) for e in message.entries],
        commit=message.commit, reject=message.reject, reject_hint=message.reject_hint,
        context=message.context)
    setattr(out, "from", message.from_)
    if message.snapshot is not None:
        out.snapshot.CopyFrom(snapshot_to_pb(message.snapshot))
    return out


def message_from_pb(message: raft_pb2.RaftMessage) -> RaftMessage:
    """Proto RaftMessage -> core; raises ValueError for an unknown message type."""
    return RaftMessage(
        type=MessageType(message.type), to=message.to, from_=getattr(message, "from"),
        term=message.term, log_term=message.log_term, index=message.index,
        entries=tuple(entry_from_pb(e) for e in message.entries), commit=message.commit,
        snapshot=snapshot_from_pb(message.snapshot) if message.HasField("snapshot") else None,
        reject=message.reject, reject_hint=message.reject_hint, context=bytes(message.context))
