"""What a leader knows about each follower's log, and how it paces replication to it.

Each member has a :class:`Progress` in one of three states (as in etcd's raft):

- ``PROBE``: the leader does not know where the follower's log matches its own. It sends one
  append at a time and waits for the answer (or the next heartbeat response) before another.
- ``REPLICATE``: the logs match up to ``match``. The leader streams appends optimistically,
  advancing ``next`` as it sends, with at most ``max_inflight_msgs`` unacknowledged messages
  (:class:`Inflights`): pipelining with flow control.
- ``SNAPSHOT``: the follower needs entries the leader has compacted; a snapshot is on its way
  and nothing else is sent until it is acknowledged (or reported failed, or times out).

Invariant: ``match < next``. The :class:`ProgressTracker` holds the progress of every member,
the configuration (voters and learners) and the votes of an election.
"""

from __future__ import annotations

from collections import deque
from enum import Enum

from tdx.consensus.messages import ConfState
from tdx.consensus.quorum import VoteResult, committed_index, vote_result


class ProgressState(Enum):
    """How the leader replicates to one follower (see the module docstring)."""

    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Inflights:
    """The sliding window of appends sent in ``REPLICATE`` state and not yet acknowledged.

    Each slot remembers the last index an append carried; an acknowledgement of index ``i``
    frees every slot ``<= i``. Full when ``capacity`` messages or ``max_bytes`` bytes are out.
    """

    __slots__ = ("_bytes", "_queue", "capacity", "max_bytes")

    def __init__(self, capacity: int, max_bytes: int | None = None) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._queue: deque[tuple[int, int]] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, last_index: int, size: int) -> None:
        """Record an append whose last entry is ``last_index`` and that carried ``size`` bytes."""
        self._queue.append((last_index, size))
        self._bytes += size

    def free_le(self, index: int) -> None:
        """Free every slot for appends ending at or before ``index``."""
        while self._queue and self._queue[0][0] <= index:
            self._bytes -= self._queue.popleft()[1]

    def free_first(self) -> None:
        """Free the oldest slot (a heartbeat response shows the follower is alive)."""
        if self._queue:
            self._bytes -= self._queue.popleft()[1]

    def full(self) -> bool:
        """True if no more appends may be sent until some are acknowledged."""
        if len(self._queue) >= self.capacity:
            return True
        return self.max_bytes is not None and self._bytes >= self.max_bytes

    def reset(self) -> None:
        """Forget every slot."""
        self._queue.clear()
        self._bytes = 0


class Progress:
    """The leader's view of one member's log (see the module docstring for the states)."""

    __slots__ = (
        "inflights",
        "is_learner",
        "match",
        "next",
        "pending_snapshot",
        "probe_sent",
        "recent_active",
        "snapshot_ticks",
        "state",
    )

    def __init__(self, next_index: int, max_inflight: int, is_learner: bool = False) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.probe_sent = False
        self.recent_active = True
        self.is_learner = is_learner
        self.inflights = Inflights(max_inflight)

    def __repr__(self) -> str:
        return (
            f"Progress(state={self.state.value}, match={self.match}, next={self.next}, "
            f"learner={self.is_learner}, inflight={len(self.inflights)})"
        )

    def _reset_state(self, state: ProgressState) -> None:
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        """Go back to probing one append at a time from just after ``match``."""
        if self.state is ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        """Stream appends optimistically from just after ``match``."""
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        """Wait for the snapshot at ``snapshot_index`` to be installed."""
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index
        self.next = snapshot_index + 1

    def maybe_update(self, index: int) -> bool:
        """The follower acknowledged its log matches through ``index``; False if stale."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def optimistic_update(self, last_sent: int) -> None:
        """Appends through ``last_sent`` are on their way (``REPLICATE`` state)."""
        self.next = last_sent + 1

    def maybe_decrease_to(self, rejected: int, match_hint: int) -> bool:
        """The follower rejected the append at ``rejected``; move ``next`` back. False if stale.

        ``match_hint`` is where the leader now believes the logs may match (after the fast
        back-off through the follower's ``reject_hint``/``log_term``).
        """
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        """True if the leader must not send this member another append right now."""
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        if self.state is ProgressState.REPLICATE:
            return self.inflights.full()
        return True


class ProgressTracker:
    """The configuration (voters, learners), every member's :class:`Progress`, and votes.

    Invariants: ``voters`` and ``learners`` are disjoint, and ``progress`` has exactly their
    union as keys.
    """

    def __init__(self, max_inflight: int, max_inflight_bytes: int | None = None) -> None:
        self.max_inflight = max_inflight
        self.max_inflight_bytes = max_inflight_bytes
        self.voters: set[str] = set()
        self.learners: set[str] = set()
        self.progress: dict[str, Progress] = {}
        self.votes: dict[str, bool] = {}

    def conf_state(self) -> ConfState:
        """The configuration, sorted for determinism."""
        return ConfState(voters=tuple(sorted(self.voters)), learners=tuple(sorted(self.learners)))

    def new_progress(self, next_index: int, is_learner: bool) -> Progress:
        """A fresh progress starting at ``next_index``."""
        progress = Progress(next_index, self.max_inflight, is_learner)
        progress.inflights.max_bytes = self.max_inflight_bytes
        return progress

    def set_voter(self, node_id: str, next_index: int) -> None:
        """Make ``node_id`` a voter (adding it, or promoting a learner)."""
        self.learners.discard(node_id)
        self.voters.add(node_id)
        progress = self.progress.get(node_id)
        if progress is None:
            self.progress[node_id] = self.new_progress(next_index, is_learner=False)
        else:
            progress.is_learner = False

    def set_learner(self, node_id: str, next_index: int) -> None:
        """Make ``node_id`` a learner (adding it, or demoting a voter)."""
        self.voters.discard(node_id)
        self.learners.add(node_id)
        progress = self.progress.get(node_id)
        if progress is None:
            self.progress[node_id] = self.new_progress(next_index, is_learner=True)
        else:
            progress.is_learner = True

    def remove(self, node_id: str) -> None:
        """Remove ``node_id`` from the configuration."""
        self.voters.discard(node_id)
        self.learners.discard(node_id)
        self.progress.pop(node_id, None)

    def is_singleton(self) -> bool:
        """True if this configuration has exactly one voter."""
        return len(self.voters) == 1

    def committed(self) -> int:
        """The highest index a quorum of voters has acknowledged."""
        return committed_index(self.voters, {node: pr.match for node, pr in self.progress.items()})

    def quorum_active(self, self_id: str) -> bool:
        """True if a quorum of voters (counting ``self_id``) was heard from recently."""
        active = {node: (node == self_id or pr.recent_active) for node, pr in self.progress.items()}
        return vote_result(self.voters, active) is VoteResult.WON

    def reset_votes(self) -> None:
        """Forget the votes of the last election."""
        self.votes = {}

    def record_vote(self, node_id: str, granted: bool) -> None:
        """Record ``node_id``'s answer, keeping its first answer if it answers twice."""
        self.votes.setdefault(node_id, granted)

    def tally_votes(self) -> tuple[int, int, VoteResult]:
        """Granted votes, rejections, and the election's outcome among the voters."""
        granted = sum(1 for v in self.voters if self.votes.get(v) is True)
        rejected = sum(1 for v in self.voters if self.votes.get(v) is False)
        return granted, rejected, vote_result(self.voters, self.votes)
