"""The persisted Raft log as the core sees it: a read-only :class:`Storage`, and a memory one.

The core never writes storage. The host writes what each ``Ready`` hands it (entries, hard
state, snapshot) and then calls ``advance``; from then on the core reads those entries back
through this protocol. The node implements the same protocol over LevelDB; the tests and
benchmarks use :class:`MemoryStorage`.

Index conventions (as in etcd's raft): the log holds entries ``first_index() .. last_index()``;
the entry just before ``first_index()`` is the last one covered by the snapshot, and its term is
still answerable through ``term()``. An empty log has ``last_index() == first_index() - 1``.
"""

from __future__ import annotations

from typing import Protocol

from tdx.consensus.messages import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Snapshot,
    SnapshotMetadata,
    encode_conf_change,
)


class StorageError(Exception):
    """Base of the errors a :class:`Storage` raises; the core handles each of them."""


class CompactedError(StorageError):
    """The requested index is covered by the snapshot: the entry is gone, only its term may stay."""


class UnavailableError(StorageError):
    """The requested index is past the end of the log."""


class SnapshotTemporarilyUnavailableError(StorageError):
    """The snapshot is being built; the core retries later."""


class Storage(Protocol):
    """Read-only access to the persisted log, hard state and snapshot.

    Implementations must reflect every write the host made before its last ``advance``; they
    need not be thread-safe (the core calls them from the host's thread).
    """

    def initial_state(self) -> tuple[HardState, ConfState]:
        """The persisted hard state and the membership as of the snapshot."""
        ...

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries ``[lo, hi)``; at least one if any, then no more than ``max_size`` bytes.

        Raises :class:`CompactedError` if ``lo < first_index()`` and :class:`UnavailableError`
        if ``hi > last_index() + 1``.
        """
        ...

    def term(self, index: int) -> int:
        """The term of entry ``index``, for ``first_index() - 1 <= index <= last_index()``.

        Raises :class:`CompactedError` below that range, :class:`UnavailableError` above it.
        """
        ...

    def first_index(self) -> int:
        """Index of the first entry still in the log (snapshot index + 1)."""
        ...

    def last_index(self) -> int:
        """Index of the last persisted entry (snapshot index if the log is empty)."""
        ...

    def snapshot(self) -> Snapshot:
        """The most recent snapshot; may raise :class:`SnapshotTemporarilyUnavailableError`."""
        ...


def limit_size(entries: list[Entry], max_size: int | None) -> list[Entry]:
    """The longest prefix of ``entries`` within ``max_size`` bytes, but never less than one."""
    if max_size is None or not entries:
        return entries
    total = entries[0].size()
    for count in range(1, len(entries)):
        total += entries[count].size()
        if total > max_size:
            return entries[:count]
    return entries


def bootstrap_entries(voters: list[str], learners: list[str] | None = None) -> list[Entry]:
    """The first log entries of a brand-new cluster: one committed conf change per member.

    Every founding member writes these same entries (term 1, indexes 1..n) and the hard state
    ``HardState(term=1, commit=n)`` before starting, so that nodes joining later learn the
    founding membership by replicating the log like any other change. Non-founding members
    start with an empty log.
    """
    changes = [ConfChange(ConfChangeType.ADD_VOTER, v) for v in voters]
    changes += [ConfChange(ConfChangeType.ADD_LEARNER, lr) for lr in learners or []]
    return [
        Entry(term=1, index=i, type=EntryType.CONF_CHANGE, data=encode_conf_change(cc))
        for i, cc in enumerate(changes, start=1)
    ]


class MemoryStorage:
    """A :class:`Storage` in memory, written by the host (tests, benchmarks, tools).

    Invariant: ``self._entries[0]`` is a dummy entry carrying the snapshot's index and term, so
    ``term(first_index() - 1)`` is always answerable and the list is contiguous after it.
    """

    def __init__(self) -> None:
        self._hard_state = HardState()
        self._snapshot = Snapshot()
        self._entries: list[Entry] = [Entry(term=0, index=0)]

    # -- the Storage protocol -------------------------------------------------------------

    def initial_state(self) -> tuple[HardState, ConfState]:
        """See :meth:`Storage.initial_state`."""
        return self._hard_state, self._snapshot.metadata.conf_state

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """See :meth:`Storage.entries`."""
        offset = self._entries[0].index
        if lo <= offset:
            raise CompactedError(lo)
        if hi > self.last_index() + 1:
            raise UnavailableError(hi)
        return limit_size(self._entries[lo - offset : hi - offset], max_size)

    def term(self, index: int) -> int:
        """See :meth:`Storage.term`."""
        offset = self._entries[0].index
        if index < offset:
            raise CompactedError(index)
        if index - offset >= len(self._entries):
            raise UnavailableError(index)
        return self._entries[index - offset].term

    def first_index(self) -> int:
        """See :meth:`Storage.first_index`."""
        return self._entries[0].index + 1

    def last_index(self) -> int:
        """See :meth:`Storage.last_index`."""
        return self._entries[0].index + len(self._entries) - 1

    def snapshot(self) -> Snapshot:
        """See :meth:`Storage.snapshot`."""
        return self._snapshot

    # -- writes, made by the host -------------------------------------------------------------

    @property
    def hard_state(self) -> HardState:
        """The persisted hard state."""
        return self._hard_state

    def set_hard_state(self, hard_state: HardState) -> None:
        """Persist ``hard_state`` (from ``Ready.hard_state``)."""
        self._hard_state = hard_state

    def bootstrap(self, voters: list[str], learners: list[str] | None = None) -> None:
        """Write the founding log of a new cluster (see :func:`bootstrap_entries`)."""
        if self.last_index() != 0:
            raise ValueError("bootstrap needs an empty storage")
        entries = bootstrap_entries(voters, learners)
        self.append(entries)
        self._hard_state = HardState(term=1, commit=len(entries))

    def append(self, entries: list[Entry]) -> None:
        """Persist ``entries`` (from ``Ready.entries``), replacing any conflicting suffix.

        Entries already covered by the snapshot are ignored; the first new entry must not leave a
        gap after ``last_index()``.
        """
        if not entries:
            return
        first = self.first_index()
        last = entries[0].index + len(entries) - 1
        if last < first:
            return
        if first > entries[0].index:
            entries = entries[first - entries[0].index :]
        offset = entries[0].index - self._entries[0].index
        if offset > len(self._entries):
            raise ValueError(
                f"missing log entries: last {self.last_index()}, appending at {entries[0].index}"
            )
        del self._entries[offset:]
        self._entries.extend(entries)

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log by ``snapshot`` (from ``Ready.snapshot``) unless it is older."""
        if snapshot.metadata.index <= self._snapshot.metadata.index:
            return
        self._snapshot = snapshot
        self._entries = [Entry(term=snapshot.metadata.term, index=snapshot.metadata.index)]

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record the application's state as of applied ``index`` as the current snapshot.

        ``conf_state`` is the membership as of ``index`` (what ``apply_conf_change`` last
        returned). The log is not compacted: call :meth:`compact` for that.
        """
        if index <= self._snapshot.metadata.index:
            raise ValueError(f"snapshot at {index} is not newer than {self._snapshot.metadata}")
        if index > self.last_index():
            raise ValueError(f"snapshot at {index} is past the last index {self.last_index()}")
        metadata = SnapshotMetadata(index=index, term=self.term(index), conf_state=conf_state)
        self._snapshot = Snapshot(metadata=metadata, data=data)
        return self._snapshot

    def compact(self, compact_index: int) -> None:
        """Discard entries before ``compact_index``; it becomes the new dummy entry.

        Only a prefix the current snapshot covers may be compacted, so that a follower that
        needs a discarded entry can always be sent the snapshot instead.
        """
        offset = self._entries[0].index
        if compact_index <= offset:
            return
        if compact_index > self._snapshot.metadata.index:
            raise ValueError(
                f"compact {compact_index} is past the snapshot {self._snapshot.metadata}"
            )
        kept = self._entries[compact_index - offset :]
        self._entries = [Entry(term=kept[0].term, index=kept[0].index), *kept[1:]]
