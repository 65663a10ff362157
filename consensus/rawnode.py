"""The host's handle on one Raft node: feed it time and messages, take its ``Ready``, advance.

A host loop looks like this (etcd's ``RawNode`` contract); a host reads the node through
``term``, ``conf_state``, ``conf_state_at`` and ``status``, never through ``RawNode.raft``::

    node = RawNode(Config(id="a", rng=random.Random(seed)), storage)
    while running:
        on each tick of the clock:   node.tick()
        on each message from a peer: node.step(message)
        on each client request:      node.propose(data)   # may raise ProposalDroppedError
        if node.has_ready():
            ready = node.ready()
            persist(ready.snapshot, ready.entries, ready.hard_state)   # in that order, durably
            send(ready.messages)
            apply(ready.committed_entries)  # conf changes: node.apply_conf_change(cc)
            node.advance(ready)

Nothing in this module blocks, reads a clock or does I/O.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from tdx.consensus.confchange import apply_change
from tdx.consensus.config import Config
from tdx.consensus.messages import (
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MessageType,
    RaftMessage,
    Snapshot,
    encode_conf_change,
)
from tdx.consensus.progress import ProgressState
from tdx.consensus.raft import ProposalDroppedError, Raft, ReadState, SoftState, StateRole
from tdx.consensus.storage import Storage
from tdx.consensus.validate import FORWARDABLE, InvalidMessageError, check_message

_RESPONSES = frozenset(
    {
        MessageType.APPEND_RESPONSE,
        MessageType.HEARTBEAT_RESPONSE,
        MessageType.VOTE_RESPONSE,
        MessageType.PRE_VOTE_RESPONSE,
        MessageType.READ_INDEX_RESPONSE,
    }
)


@dataclass(frozen=True, slots=True)
class Ready:
    """Work the host must do, in this order, before calling ``RawNode.advance(ready)``:

    1. Persist, durably (fsync) when ``must_sync``: first ``snapshot`` if set (it replaces the
       whole log and the state machine), then ``entries`` (replacing any persisted entries from
       the first one's index on), then ``hard_state`` if set. A node that sends before it
       persists can vote twice in a term or lose entries it acknowledged.
    2. Send ``messages`` (in any order; the network may lose or reorder them anyway).
    3. Apply ``committed_entries`` to the state machine in order. For a ``CONF_CHANGE`` entry,
       decode it (``decode_conf_change``) and call ``RawNode.apply_conf_change``; keep the
       returned ``ConfState`` for the next snapshot. Serve the ``read_states`` once their index
       is applied.
    4. Call ``advance(ready)``. Only one ``Ready`` may be outstanding at a time.

    Fields: ``soft_state`` is the leader and role if they changed (else None); ``hard_state`` is
    term, vote and commit if they changed (else None); ``entries`` are new log entries not yet
    persisted; ``snapshot`` is a snapshot received from the leader, not yet persisted;
    ``messages`` are outgoing; ``committed_entries`` are committed and not yet applied (they may
    include entries from ``entries``: persist before applying); ``read_states`` are confirmed
    read-index requests; ``must_sync`` says whether the writes must reach disk before sending.
    """

    soft_state: SoftState | None
    hard_state: HardState | None
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None
    messages: tuple[RaftMessage, ...]
    committed_entries: tuple[Entry, ...]
    read_states: tuple[ReadState, ...]
    must_sync: bool


@dataclass(frozen=True, slots=True)
class PeerProgress:
    """How far a leader has replicated to one member (see ``progress.ProgressState``)."""

    match: int
    next: int
    state: ProgressState
    is_learner: bool


@dataclass(frozen=True, slots=True)
class Status:
    """A snapshot of a node's state for status pages and tests."""

    id: str
    hard_state: HardState
    soft_state: SoftState
    applied: int
    last_index: int
    conf_state: ConfState
    progress: dict[str, PeerProgress]


class RawNode:
    """One Raft node, driven by its host. Not thread-safe: call it from one thread."""

    def __init__(self, config: Config, storage: Storage) -> None:
        self.raft = Raft(config, storage)
        self._prev_soft_state = self.raft.soft_state()
        self._prev_hard_state = self.raft.hard_state()
        self._outstanding: Ready | None = None

    # -- inputs --------------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance logical time by one tick (the host's clock decides how long that is)."""
        self.raft.tick()

    def campaign(self) -> None:
        """Start an election now instead of waiting for the election timeout."""
        self.raft.hup()

    def propose(self, data: bytes) -> None:
        """Propose ``data`` for the log; the leader appends it, a follower forwards it.

        Raises :class:`ProposalDroppedError` if it cannot be accepted now. Acceptance is not
        commitment: the host learns of commitment when the entry appears in
        ``Ready.committed_entries`` (and should retry on a timeout, since a forwarded proposal
        can be lost with its message or with a leader change).
        """
        self.raft.step(
            RaftMessage(
                type=MessageType.PROPOSE, entries=(Entry(type=EntryType.NORMAL, data=data),)
            )
        )

    def propose_conf_change(self, change: ConfChange) -> None:
        """Propose a single-server membership change (raises like :meth:`propose`).

        A leader accepts one only when the previous change has been applied. Raises
        ``ValueError`` for a malformed change or one that would leave no voter.
        """
        if not apply_change(self.raft.conf_state(), change).voters:
            raise ValueError("a conf change must not remove the last voter")
        entry = Entry(type=EntryType.CONF_CHANGE, data=encode_conf_change(change))
        self.raft.step(RaftMessage(type=MessageType.PROPOSE, entries=(entry,)))

    def step(self, message: RaftMessage) -> None:
        """Process a message received from a peer.

        Responses from non-members and messages addressed elsewhere are ignored, as is a
        forwarded proposal this node cannot take (its sender retries). A message with a
        field out of range (:func:`~tdx.consensus.validate.check_message`) or one that no
        honest peer could send in this node's state (:meth:`Raft.refusal`) raises
        :class:`~tdx.consensus.validate.InvalidMessageError` and changes nothing: the host
        refuses it, logs it, and goes on.
        """
        if message.to != self.raft.id:
            return
        if message.term == 0 and message.type not in FORWARDABLE:
            return
        reason = check_message(message) or self.raft.refusal(message)
        if reason is not None:
            raise InvalidMessageError(f"{message.type.name} from {message.from_!r}: {reason}")
        if message.type in _RESPONSES and message.from_ not in self.raft.tracker.progress:
            return
        with contextlib.suppress(ProposalDroppedError):
            self.raft.step(message)

    def transfer_leader(self, transferee: str) -> None:
        """Ask the leader to hand leadership to ``transferee`` (a voter).

        The leader brings it up to date, then sends it TIMEOUT_NOW so it campaigns at once;
        proposals are refused meanwhile. Abandoned after an election timeout.
        """
        self.raft.step(RaftMessage(type=MessageType.TRANSFER_LEADER, from_=transferee))

    def read_index(self, request_ctx: bytes) -> None:
        """Ask for a linearizable read; ``request_ctx`` must be unique among pending reads.

        When a quorum has confirmed this node's leader is still the leader, a
        ``ReadState(index, request_ctx)`` appears in a ``Ready``: the read may be served once
        the state machine has applied ``index``. If leadership changes first the request is
        dropped silently; the host retries on a timeout. See ``readonly`` for why this cannot
        return stale data.
        """
        self.raft.step(RaftMessage(type=MessageType.READ_INDEX, context=request_ctx))

    def apply_conf_change(self, change: ConfChange) -> ConfState:
        """Apply a committed conf change (from ``Ready.committed_entries``); returns the new
        configuration, which the host records for its next snapshot."""
        return self.raft.apply_conf_change(change)

    def report_unreachable(self, node_id: str) -> None:
        """Tell a leader that a message to ``node_id`` could not be delivered."""
        self.raft.report_unreachable(node_id)

    def report_restart(self, node_id: str) -> None:
        """Tell a leader that ``node_id`` restarted (its log may be shorter than it was)."""
        self.raft.report_restart(node_id)

    def report_snapshot(self, node_id: str, failed: bool) -> None:
        """Tell a leader whether the snapshot it sent ``node_id`` was delivered."""
        self.raft.report_snapshot(node_id, failed)

    # -- outputs -------------------------------------------------------------------------------

    def has_ready(self) -> bool:
        """True if :meth:`ready` has work for the host."""
        raft = self.raft
        raft.flush_appends()
        if raft.soft_state() != self._prev_soft_state:
            return True
        hard_state = raft.hard_state()
        if not hard_state.is_empty() and hard_state != self._prev_hard_state:
            return True
        log = raft.log
        return bool(
            log.unstable.snapshot is not None
            or log.unstable.entries
            or raft.messages
            or raft.read_states
            or log.has_next_committed_entries()
        )

    def ready(self) -> Ready:
        """Take the work accumulated since the last ``Ready`` (see :class:`Ready`).

        Raises ``RuntimeError`` if the previous ``Ready`` has not been advanced.
        """
        if self._outstanding is not None:
            raise RuntimeError("advance() the previous Ready before taking another")
        raft = self.raft
        raft.flush_appends()
        soft_state = raft.soft_state()
        hard_state = raft.hard_state()
        entries = tuple(raft.log.unstable_entries())
        ready = Ready(
            soft_state=soft_state if soft_state != self._prev_soft_state else None,
            hard_state=hard_state if hard_state != self._prev_hard_state else None,
            entries=entries,
            snapshot=raft.log.unstable.snapshot,
            messages=tuple(raft.messages),
            committed_entries=tuple(raft.log.next_committed_entries()),
            read_states=tuple(raft.read_states),
            must_sync=bool(entries)
            or hard_state.term != self._prev_hard_state.term
            or hard_state.vote != self._prev_hard_state.vote,
        )
        raft.messages = []
        raft.read_states = []
        self._prev_soft_state = soft_state
        self._prev_hard_state = hard_state
        self._outstanding = ready
        return ready

    def advance(self, ready: Ready) -> None:
        """The host has done everything ``ready`` asked (persisted, sent, applied)."""
        if ready is not self._outstanding:
            raise RuntimeError("advance() must be given the Ready last returned by ready()")
        log = self.raft.log
        if ready.snapshot is not None:
            log.stable_snap_to(ready.snapshot.metadata.index)
            log.applied_to(ready.snapshot.metadata.index)
        if ready.entries:
            last = ready.entries[-1]
            log.stable_to(last.index, last.term)
        if ready.committed_entries:
            log.applied_to(ready.committed_entries[-1].index)
        self._outstanding = None

    # -- reads ---------------------------------------------------------------------------------

    @property
    def term(self) -> int:
        """The current term."""
        return self.raft.term

    def conf_state(self) -> ConfState:
        """The configuration in force: the newest one in the log, committed or not."""
        return self.raft.conf_state()

    def conf_state_at(self, index: int) -> ConfState:
        """The configuration as of log ``index`` (at or after the last snapshot): what a
        snapshot of the state machine at ``index`` records."""
        return self.raft.conf_state_at(index)

    def status(self) -> Status:
        """The node's current state (progress is only filled in on a leader)."""
        raft = self.raft
        progress: dict[str, PeerProgress] = {}
        if raft.role is StateRole.LEADER:
            progress = {
                node_id: PeerProgress(pr.match, pr.next, pr.state, pr.is_learner)
                for node_id, pr in raft.tracker.progress.items()
            }
        return Status(
            id=raft.id,
            hard_state=raft.hard_state(),
            soft_state=raft.soft_state(),
            applied=raft.log.applied,
            last_index=raft.log.last_index(),
            conf_state=raft.conf_state(),
            progress=progress,
        )
