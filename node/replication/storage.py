"""The Raft log, hard state and snapshot in the node's LevelDB: tdx.consensus's Storage.

The core only reads (the Storage protocol); the driver stages what each Ready hands it
(``stage``) and writes it (``write``), fsync'd, before it sends that Ready's messages.
Entries are cached in memory from the first retained index, so the core's reads do not touch
the disk.
"""

from __future__ import annotations

from tdx.consensus.messages import ConfState, Entry, HardState, Snapshot, SnapshotMetadata
from tdx.consensus.storage import CompactedError, UnavailableError, limit_size
from tdx.node.replication.wire import (
    entry_from_pb,
    entry_to_pb,
    hard_state_from_pb,
    hard_state_to_pb,
    snapshot_from_pb,
    snapshot_to_pb,
)
from tdx.node.state.store import Prefix, Store, from_u64, u64
from tdx.v1 import raft_pb2


class RaftStore:
    """A consensus Storage backed by LevelDB, with an in-memory copy of the retained log."""

    def __init__(self, store: Store) -> None:
        self._store = store
        raw = store.get(Prefix.RAFT_HARD)
        self._hard = HardState() if raw is None else hard_state_from_pb(
            raft_pb2.HardState.FromString(raw))
        raw = store.get(Prefix.RAFT_SNAPSHOT)
        self._snapshot = Snapshot() if raw is None else snapshot_from_pb(
            raft_pb2.Snapshot.FromString(raw))
        self._entries: list[Entry] = [
            entry_from_pb(raft_pb2.Entry.FromString(value))
            for key, value in store.scan(Prefix.RAFT_LOG)
            if from_u64(key[len(Prefix.RAFT_LOG):]) > self._snapshot.metadata.index
        ]

    # -- the Storage protocol -------------------------------------------------------------

    def initial_state(self) -> tuple[HardState, ConfState]:
        """The persisted hard state and the membership as of the snapshot."""
        return self._hard, self._snapshot.metadata.conf_state

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries ``[lo, hi)``, within ``max_size`` bytes but at least one."""
        if lo < self.first_index():
            raise CompactedError(lo)
        if hi > self.last_index() + 1:
            raise UnavailableError(hi)
        offset = self.first_index()
        return limit_size(self._entries[lo - offset:hi - offset], max_size)

    def term(self, index: int) -> int:
        """The term of entry ``index`` (or of the snapshot's last entry)."""
        snap = self._snapshot.metadata
        if index == snap.index:
            return snap.term
        if index < snap.index:
            raise CompactedError(index)
        if index > self.last_index():
            raise UnavailableError(index)
        return self._entries[index - self.first_index()].term

    def first_index(self) -> int:
        """Index of the first retained entry."""
        return self._snapshot.metadata.index + 1

    def last_index(self) -> int:
        """Index of the last persisted entry."""
        return self._snapshot.metadata.index + len(self._entries)

    def snapshot(self) -> Snapshot:
        """The latest snapshot."""
        return self._snapshot

    @property
    def retained_bytes(self) -> int:
        """Bytes of entry data in the retained log (held in memory too)."""
        return sum(len(e.data) for e in self._entries)

    # -- writes, by the driver ------------------------------------------------------------

    @property
    def hard_state(self) -> HardState:
        """The persisted hard state."""
        return self._hard

    def save(self, entries: list[Entry], hard_state: HardState | None,
             snapshot: Snapshot | None, *, sync: bool = True) -> None:
        """Persist a Ready's snapshot, entries and hard state in one fsync'd batch."""
        items = self.stage(entries, hard_state, snapshot)
        if items:
            self.write(items, sync=sync)

    def write(self, items: dict[bytes, bytes | None], *, sync: bool = True) -> None:
        """Write what ``stage`` or ``compact`` returned in one batch (the driver does so in
        its I/O thread), fsync'd unless ``sync`` is False."""
        self._store.write(items, sync=sync)

    def stage(self, entries: list[Entry], hard_state: HardState | None,
              snapshot: Snapshot | None) -> dict[bytes, bytes | None]:
        """Take a Ready's writes into memory and return them for one ``Store.write``.

        The driver calls this on the event loop thread (the core reads this object there) and
        writes the returned items, fsync'd, in its I/O thread before it sends that Ready's
        messages. Appended entries replace any conflicting suffix of the log.
        """
        items: dict[bytes, bytes | None] = {}
        if snapshot is not None and not snapshot.is_empty():
            # As etcd's ApplySnapshot: the snapshot replaces the whole log.
            items[Prefix.RAFT_SNAPSHOT] = snapshot_to_pb(snapshot).SerializeToString()
            for entry in self._entries:
                items[Prefix.RAFT_LOG + u64(entry.index)] = None
            self._entries = []
            self._snapshot = snapshot
        if entries:
            first = entries[0].index
            if first < self.first_index():
                entries = [e for e in entries if e.index >= self.first_index()]
                first = entries[0].index if entries else first
        if entries:
            if first > self.last_index() + 1:
                raise ValueError(f"log gap: last {self.last_index()}, appending at {first}")
            for entry in self._entries[first - self.first_index():]:
                items[Prefix.RAFT_LOG + u64(entry.index)] = None
            del self._entries[first - self.first_index():]
            for entry in entries:
                items[Prefix.RAFT_LOG + u64(entry.index)] = entry_to_pb(entry).SerializeToString()
            self._entries.extend(entries)
        if hard_state is not None:
            items[Prefix.RAFT_HARD] = hard_state_to_pb(hard_state).SerializeToString()
            self._hard = hard_state
        return items

    def compact(self, index: int, term: int, conf_state: ConfState,
                data: bytes) -> dict[bytes, bytes | None]:
        """Record a snapshot of applied state at ``index`` and drop the log up to it.

        Returns the writes for the driver to make (as with ``stage``).
        """
        if index <= self._snapshot.metadata.index or index > self.last_index():
            return {}
        snapshot = Snapshot(SnapshotMetadata(index=index, term=term, conf_state=conf_state),
                            data)
        items: dict[bytes, bytes | None] = {
            Prefix.RAFT_SNAPSHOT: snapshot_to_pb(snapshot).SerializeToString()}
        for entry in self._entries:
            if entry.index <= index:
                items[Prefix.RAFT_LOG + u64(entry.index)] = None
        self._entries = [e for e in self._entries if e.index > index]
        self._snapshot = snapshot
        return items
