"""The Raft log as one node sees it: persisted entries (read through storage) plus unstable ones.

:class:`RaftLog` joins two parts. The stable part is whatever the host has persisted, read
through the read-only :class:`~tdx.consensus.storage.Storage`. The unstable part
(:class:`Unstable`) holds entries, and at most one incoming snapshot, that the core has accepted
but the host has not yet persisted; they leave through ``Ready`` and become stable at
``advance``. Invariants: ``applied <= committed <= last_index()``, and ``committed`` never
decreases (a committed entry is never truncated; trying to is a bug and raises).
"""

from __future__ import annotations

from tdx.consensus.messages import Entry, Snapshot
from tdx.consensus.storage import CompactedError, Storage, UnavailableError, limit_size


class LogInvariantError(AssertionError):
    """The core was asked to do something that would break a log invariant (a bug)."""


class Unstable:
    """Entries (and possibly a snapshot) accepted but not yet persisted by the host.

    ``entries[k].index == offset + k``; when ``snapshot`` is set, ``offset`` is its index + 1.
    """

    __slots__ = ("entries", "offset", "snapshot")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset

    def maybe_first_index(self) -> int | None:
        """The first log index if an unstable snapshot decides it."""
        return self.snapshot.metadata.index + 1 if self.snapshot is not None else None

    def maybe_last_index(self) -> int | None:
        """The last log index if the unstable part decides it."""
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.metadata.index
        return None

    def maybe_term(self, index: int) -> int | None:
        """The term at ``index`` if the unstable part knows it."""
        if index < self.offset:
            if self.snapshot is not None and self.snapshot.metadata.index == index:
                return self.snapshot.metadata.term
            return None
        last = self.maybe_last_index()
        if last is None or index > last:
            return None
        return self.entries[index - self.offset].term

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to ``index`` (of ``term``) are persisted; a replaced entry is left alone."""
        if index < self.offset or self.maybe_term(index) != term:
            return
        del self.entries[: index + 1 - self.offset]
        self.offset = index + 1

    def stable_snap_to(self, index: int) -> None:
        """The snapshot at ``index`` is persisted."""
        if self.snapshot is not None and self.snapshot.metadata.index == index:
            self.snapshot = None

    def restore(self, snapshot: Snapshot) -> None:
        """Replace everything by ``snapshot``."""
        self.offset = snapshot.metadata.index + 1
        self.entries = []
        self.snapshot = snapshot

    def truncate_and_append(self, entries: list[Entry]) -> None:
        """Append ``entries``, dropping any unstable suffix they replace."""
        after = entries[0].index
        if after == self.offset + len(self.entries):
            self.entries.extend(entries)
        elif after <= self.offset:
            # Replaces every unstable entry, and possibly stable ones the host will overwrite.
            self.offset = after
            self.entries = list(entries)
        else:
            del self.entries[after - self.offset :]
            self.entries.extend(entries)

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Unstable entries ``[lo, hi)``; the caller checks bounds."""
        return self.entries[lo - self.offset : hi - self.offset]


class RaftLog:
    """The log of one node: stable entries in storage, unstable ones in memory.

    ``committed`` is the highest index known to be committed; ``applied`` the highest index the
    host has been handed for application (it never exceeds ``committed``).
    """

    def __init__(self, storage: Storage, max_committed_size: int | None = None) -> None:
        self.storage = storage
        self.max_committed_size = max_committed_size
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(offset=last + 1)
        self.committed = first - 1
        self.applied = first - 1

    def __repr__(self) -> str:
        return (
            f"RaftLog(committed={self.committed}, applied={self.applied}, "
            f"unstable.offset={self.unstable.offset}, unstable.len={len(self.unstable.entries)})"
        )

    def first_index(self) -> int:
        """Index of the first entry still held (after the snapshot)."""
        index = self.unstable.maybe_first_index()
        return index if index is not None else self.storage.first_index()

    def last_index(self) -> int:
        """Index of the last entry, stable or not."""
        index = self.unstable.maybe_last_index()
        return index if index is not None else self.storage.last_index()

    def term(self, index: int) -> int:
        """The term of entry ``index``: 0 past the end, ``CompactedError`` before the start."""
        term = self.unstable.maybe_term(index)
        if term is not None:
            return term
        if index > self.last_index():
            return 0
        if index < self.first_index() - 1:
            raise CompactedError(index)
        try:
            return self.storage.term(index)
        except UnavailableError:
            return 0

    def term_or_zero(self, index: int) -> int:
        """Like :meth:`term`, but 0 for a compacted index too."""
        try:
            return self.term(index)
        except CompactedError:
            return 0

    def last_term(self) -> int:
        """The term of the last entry."""
        return self.term(self.last_index())

    def match_term(self, index: int, term: int) -> bool:
        """True if this log has an entry at ``index`` of ``term`` (compacted counts as no).

        An index past the end never matches, whatever the term (as etcd's ``matchTerm``):
        :meth:`term` answers 0 there, and an append claiming (past the end, term 0) must be
        refused, not taken as a match that would leave a gap in the log.
        """
        if index > self.last_index():
            return False
        try:
            return self.term(index) == term
        except CompactedError:
            return False

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """True if a log ending at (``last_index``, ``term``) is at least as up to date as ours."""
        our_term = self.last_term()
        return term > our_term or (term == our_term and last_index >= self.last_index())

    def find_conflict(self, entries: tuple[Entry, ...] | list[Entry]) -> int:
        """Index of the first of ``entries`` that is new or conflicts with ours, or 0 if none."""
        for entry in entries:
            if not self.match_term(entry.index, entry.term):
                return entry.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index <= ``index`` whose term is <= ``term``, and that term.

        This is the fast back-off: a leader probing at (``index``, ``term``) can skip every
        entry of a term it does not have. Returns term 0 if the search hits the compacted prefix.
        """
        while index > 0:
            try:
                our_term = self.term(index)
            except CompactedError:
                return index, 0
            if our_term <= term:
                return index, our_term
            index -= 1
        return 0, 0

    def maybe_append(
        self, index: int, log_term: int, committed: int, entries: tuple[Entry, ...]
    ) -> tuple[int, list[Entry]] | None:
        """Append ``entries`` after (``index``, ``log_term``) if our log matches there.

        Returns the index of the last new entry and the entries actually written (those from
        the first conflict on; earlier ones were already there), or None if the log does not
        match (the leader must back off). Advances ``committed`` to ``min(committed, last new)``.
        """
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        written: list[Entry] = []
        if conflict:
            if conflict <= self.committed:
                raise LogInvariantError(
                    f"entry {conflict} conflicts with committed entry (committed {self.committed})"
                )
            written = list(entries[conflict - index - 1 :])
            self.append(written)
        self.commit_to(min(committed, last_new))
        return last_new, written

    def append(self, entries: list[Entry]) -> int:
        """Append ``entries`` (replacing any suffix they conflict with); returns the last index."""
        if entries:
            if entries[0].index - 1 < self.committed:
                raise LogInvariantError(
                    f"append at {entries[0].index} would truncate committed {self.committed}"
                )
            self.unstable.truncate_and_append(entries)
        return self.last_index()

    def unstable_entries(self) -> list[Entry]:
        """Entries the host has yet to persist."""
        return list(self.unstable.entries)

    def next_committed_entries(self) -> list[Entry]:
        """Committed entries the host has yet to apply (bounded by ``max_committed_size``)."""
        lo = max(self.applied + 1, self.first_index())
        if self.committed + 1 <= lo:
            return []
        return self.slice(lo, self.committed + 1, self.max_committed_size)

    def has_next_committed_entries(self) -> bool:
        """True if :meth:`next_committed_entries` would return something."""
        return self.committed + 1 > max(self.applied + 1, self.first_index())

    def snapshot(self) -> Snapshot:
        """The newest snapshot, unstable or persisted."""
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    def commit_to(self, index: int) -> None:
        """Raise ``committed`` to ``index`` (never lowers it)."""
        if index > self.committed:
            if index > self.last_index():
                raise LogInvariantError(
                    f"commit {index} is past the last index {self.last_index()}"
                )
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Commit up to ``index`` if that entry is of ``term`` (the leader's current term).

        This is the Figure 8 rule: a leader counts replicas only for entries of its own term;
        earlier entries commit indirectly, through the Log Matching property.
        """
        if index > self.committed and self.term_or_zero(index) == term:
            self.commit_to(index)
            return True
        return False

    def applied_to(self, index: int) -> None:
        """Record that the host applied everything up to ``index``."""
        if index == 0:
            return
        if index > self.committed or index < self.applied:
            raise LogInvariantError(
                f"applied {index} out of range [{self.applied}, {self.committed}]"
            )
        self.applied = index

    def stable_to(self, index: int, term: int) -> None:
        """The host persisted entries up to (``index``, ``term``)."""
        self.unstable.stable_to(index, term)

    def stable_snap_to(self, index: int) -> None:
        """The host persisted the snapshot at ``index``."""
        self.unstable.stable_snap_to(index)

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the log by ``snapshot``, whose index becomes committed."""
        self.committed = snapshot.metadata.index
        self.unstable.restore(snapshot)

    def entries_from(self, index: int, max_size: int | None = None) -> list[Entry]:
        """Entries from ``index`` to the end, bounded by ``max_size`` (at least one if any)."""
        if index > self.last_index():
            return []
        return self.slice(index, self.last_index() + 1, max_size)

    def all_entries(self) -> list[Entry]:
        """Every entry still held (for tests and debugging)."""
        return self.entries_from(self.first_index())

    def slice(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries ``[lo, hi)`` from storage and the unstable part; raises if out of bounds."""
        if lo < self.first_index():
            raise CompactedError(lo)
        if hi > self.last_index() + 1:
            raise LogInvariantError(f"slice [{lo}, {hi}) past the last index {self.last_index()}")
        if lo == hi:
            return []
        offset = self.unstable.offset
        if lo >= offset:
            return limit_size(self.unstable.slice(lo, hi), max_size)
        stored = self.storage.entries(lo, min(hi, offset), max_size)
        if hi <= offset or len(stored) < min(hi, offset) - lo:
            return stored
        return limit_size(stored + self.unstable.slice(offset, hi), max_size)
