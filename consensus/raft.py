"""The Raft protocol state machine of one node: roles, terms, votes, replication, commitment.

:class:`Raft` only changes its own memory and queues outgoing messages; it never does I/O. The
host drives it through :class:`~tdx.consensus.rawnode.RawNode`, which packages what Raft
produced into a ``Ready``. The design follows etcd's raft (``raft.go``) closely, and so does the
vocabulary: ``tick``, ``step``, ``campaign``, ``become_*``, progress states, read index.

Safety rests on these rules, each enforced here:

- A node votes at most once per term (``vote`` is persisted in the hard state before any vote
  response leaves), and only for a candidate whose log is at least as up to date as its own.
- A leader never overwrites its log; followers accept entries only after a matching
  (index, term) (Log Matching), and never truncate committed entries.
- A leader commits by counting replicas only for entries of its current term (Figure 8), and
  appends an empty entry when it is elected so that commitment can move on.
- Membership changes one server at a time and takes effect when its entry is appended (see
  ``confchange``); a leader takes a new change only after the previous one, and its own no-op,
  have been applied.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from enum import Enum

from tdx.consensus.confchange import apply_change
from tdx.consensus.config import Config
from tdx.consensus.log import RaftLog
from tdx.consensus.messages import (
    NO_NODE,
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MessageType,
    RaftMessage,
    Snapshot,
    decode_conf_change,
)
from tdx.consensus.progress import ProgressState, ProgressTracker
from tdx.consensus.quorum import VoteResult, vote_result
from tdx.consensus.readonly import ReadOnly
from tdx.consensus.storage import (
    CompactedError,
    SnapshotTemporarilyUnavailableError,
    Storage,
)
from tdx.consensus.validate import MAX_TERM_STEP

CAMPAIGN_TRANSFER = b"tdx.raft.campaign-transfer"
"""``VOTE.context`` of an election started by a leadership transfer: it overrides the lease."""

_RESPONSE_TO = {
    MessageType.VOTE: MessageType.VOTE_RESPONSE,
    MessageType.PRE_VOTE: MessageType.PRE_VOTE_RESPONSE,
}


def _conf_after(conf: ConfState, data: bytes) -> ConfState:
    """The configuration after the conf change encoded in ``data``; a malformed one is a no-op."""
    try:
        return apply_change(conf, decode_conf_change(data))
    except ValueError:
        return conf


class ProposalDroppedError(Exception):
    """A proposal (or conf change) was not accepted: no leader known, a leadership transfer is
    under way, this node was removed, or another membership change is still pending. The host
    may retry later; nothing was appended."""


class StateRole(Enum):
    """A node's role. ``PRE_CANDIDATE`` asks for pre-votes without raising its term."""

    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state the host may want to know about; it need not be persisted."""

    leader: str
    role: StateRole


@dataclass(frozen=True, slots=True)
class ReadState:
    """A read request confirmed by a quorum: reads are linearizable once ``index`` is applied.

    ``request_ctx`` is the id the host passed to ``read_index``.
    """

    index: int
    request_ctx: bytes


class Raft:
    """The Raft state of one node (see the module docstring for the rules it keeps).

    Outgoing messages accumulate in ``messages`` and confirmed reads in ``read_states`` until
    the :class:`~tdx.consensus.rawnode.RawNode` takes them into a ``Ready``.
    """

    def __init__(self, config: Config, storage: Storage) -> None:
        config.validate()
        self.id = config.id
        self.log = RaftLog(storage, config.max_committed_size_per_ready)
        hard_state, conf_state = storage.initial_state()
        self.max_size_per_msg = config.max_size_per_msg
        self.tracker = ProgressTracker(config.max_inflight_msgs)
        self.term = 0
        self.vote = NO_NODE
        self.lead = NO_NODE
        self.role = StateRole.FOLLOWER
        self.messages: list[RaftMessage] = []
        self.read_states: list[ReadState] = []
        self.election_timeout = config.election_tick
        self.heartbeat_timeout = config.heartbeat_tick
        self.check_quorum = config.check_quorum
        self.pre_vote = config.pre_vote
        self.disable_proposal_forwarding = config.disable_proposal_forwarding
        self.rng = config.rng
        self.lead_transferee = NO_NODE
        self.pending_conf_index = 0
        self.read_only = ReadOnly()
        self.pending_read_index: list[RaftMessage] = []
        self.appends_pending = False
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout
        # The configuration history of the log: the snapshot's, then one per conf change entry.
        self._conf_base = conf_state
        self._conf_changes: list[tuple[int, ConfState]] = []
        self._record_conf_changes(self._stored_entries(storage))
        self._sync_tracker()
        if not hard_state.is_empty():
            self.load_state(hard_state)
        if config.applied > self.log.applied:
            self.log.applied_to(config.applied)
        self.applied_conf_state = self.conf_state_at(self.log.applied)
        """The configuration as of the last conf change the host applied (for its snapshots)."""
        self.become_follower(self.term, NO_NODE)

    def __repr__(self) -> str:
        return f"Raft(id={self.id!r}, term={self.term}, role={self.role.value}, lead={self.lead!r})"

    # -- state the host persists or observes ---------------------------------------------------

    def hard_state(self) -> HardState:
        """The state that must be persisted before messages are sent."""
        return HardState(term=self.term, vote=self.vote, commit=self.log.committed)

    def soft_state(self) -> SoftState:
        """The leader this node knows of and its own role."""
        return SoftState(leader=self.lead, role=self.role)

    def load_state(self, hard_state: HardState) -> None:
        """Restore ``hard_state`` read from storage at start."""
        if not self.log.committed <= hard_state.commit <= self.log.last_index():
            raise ValueError(
                f"hard state commit {hard_state.commit} is outside "
                f"[{self.log.committed}, {self.log.last_index()}]"
            )
        self.log.committed = hard_state.commit
        self.term = hard_state.term
        self.vote = hard_state.vote

    def promotable(self) -> bool:
        """True if this node is a voter, and so may campaign."""
        return self.id in self.tracker.voters

    # -- sending -------------------------------------------------------------------------------

    def _send(
        self,
        type_: MessageType,
        to: str,
        *,
        term: int | None = None,
        log_term: int = 0,
        index: int = 0,
        entries: tuple[Entry, ...] = (),
        commit: int = 0,
        snapshot: Snapshot | None = None,
        reject: bool = False,
        reject_hint: int = 0,
        context: bytes = b"",
    ) -> None:
        self.messages.append(
            RaftMessage(
                type=type_,
                to=to,
                from_=self.id,
                term=self.term if term is None else term,
                log_term=log_term,
                index=index,
                entries=entries,
                commit=commit,
                snapshot=snapshot,
                reject=reject,
                reject_hint=reject_hint,
                context=context,
            )
        )

    def _forward(self, message: RaftMessage, to: str) -> None:
        """Send a local request on to ``to``, keeping its ``from_`` if it has one."""
        from_ = message.from_ or self.id
        term = message.term
        if message.type not in (MessageType.PROPOSE, MessageType.READ_INDEX):
            term = self.term
        self.messages.append(replace(message, to=to, from_=from_, term=term))

    def send_append(self, to: str, send_if_empty: bool = True) -> bool:
        """Send ``to`` the entries it lacks (or a snapshot); False if nothing was sent.

        Does nothing while its progress is paused (probing, window full, snapshot in flight).
        """
        progress = self.tracker.progress[to]
        if progress.is_paused():
            return False
        try:
            prev_term = self.log.term(progress.next - 1)
            entries = self.log.entries_from(progress.next, self.max_size_per_msg)
        except CompactedError:
            return self._send_snapshot(to)
        if not entries and not send_if_empty:
            return False
        self._send(
            MessageType.APPEND,
            to,
            index=progress.next - 1,
            log_term=prev_term,
            entries=tuple(entries),
            commit=self.log.committed,
        )
        if progress.state is ProgressState.REPLICATE:
            if entries:
                last = entries[-1].index
                progress.optimistic_update(last)
                progress.inflights.add(last, sum(e.size() for e in entries))
        elif progress.state is ProgressState.PROBE:
            progress.probe_sent = True
        return True

    def _send_snapshot(self, to: str) -> bool:
        progress = self.tracker.progress[to]
        if not progress.recent_active:
            return False
        try:
            snapshot = self.log.snapshot()
        except SnapshotTemporarilyUnavailableError:
            return False
        if snapshot.is_empty():
            raise RuntimeError("entries are compacted but storage has no snapshot")
        self._send(MessageType.SNAPSHOT, to, snapshot=snapshot)
        progress.become_snapshot(snapshot.metadata.index)
        return True

    def send_heartbeat(self, to: str, context: bytes) -> None:
        """Send ``to`` a heartbeat; its commit never exceeds what ``to`` is known to hold."""
        commit = min(self.tracker.progress[to].match, self.log.committed)
        self._send(MessageType.HEARTBEAT, to, commit=commit, context=context)

    def broadcast_append(self) -> None:
        """Send every other member what it lacks."""
        for node_id in self.tracker.progress:
            if node_id != self.id:
                self.send_append(node_id)

    def flush_appends(self) -> None:
        """Send the entries proposed since the last flush: as few messages as
        ``max_size_per_msg`` allows, pipelined up to ``max_inflight_msgs`` per follower.

        Proposals only append to the leader's log; batching them into messages here, once per
        ``Ready``, is what makes a burst of proposals cost one append per follower.
        """
        if not self.appends_pending:
            return
        self.appends_pending = False
        if self.role is not StateRole.LEADER:
            return
        for node_id in list(self.tracker.progress):
            if node_id == self.id:
                continue
            sent = self.send_append(node_id, send_if_empty=False)
            while sent and self.tracker.progress[node_id].state is ProgressState.REPLICATE:
                sent = self.send_append(node_id, send_if_empty=False)

    def broadcast_heartbeat(self, context: bytes | None = None) -> None:
        """Heartbeat every other member, carrying the newest pending read request's id."""
        if context is None:
            context = self.read_only.last_pending_context()
        for node_id in self.tracker.progress:
            if node_id != self.id:
                self.send_heartbeat(node_id, context)

    # -- roles ---------------------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = NO_NODE
        self.lead = NO_NODE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout + self.rng.randrange(
            self.election_timeout
        )
        self.lead_transferee = NO_NODE
        self.tracker.reset_votes()
        last_index = self.log.last_index()
        for node_id, progress in list(self.tracker.progress.items()):
            fresh = self.tracker.new_progress(last_index + 1, progress.is_learner)
            if node_id == self.id:
                fresh.match = last_index
            self.tracker.progress[node_id] = fresh
        self.pending_conf_index = 0
        self.read_only = ReadOnly()
        self.pending_read_index = []

    def become_follower(self, term: int, lead: str) -> None:
        """Follow ``lead`` (or nobody yet) in ``term``."""
        self._reset(term)
        self.lead = lead
        self.role = StateRole.FOLLOWER

    def become_pre_candidate(self) -> None:
        """Ask for pre-votes; term and vote stay as they are."""
        if self.role is StateRole.LEADER:
            raise RuntimeError("a leader cannot become a pre-candidate")
        self.tracker.reset_votes()
        self.lead = NO_NODE
        self.role = StateRole.PRE_CANDIDATE

    def become_candidate(self) -> None:
        """Start an election in the next term, voting for ourselves."""
        if self.role is StateRole.LEADER:
            raise RuntimeError("a leader cannot become a candidate")
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = StateRole.CANDIDATE

    def become_leader(self) -> None:
        """Lead this term: take every follower to probing and append the term's no-op."""
        if self.role is StateRole.FOLLOWER:
            raise RuntimeError("a follower cannot become leader without an election")
        self._reset(self.term)
        self.lead = self.id
        self.role = StateRole.LEADER
        self.tracker.progress[self.id].become_replicate()
        self.append_entries([Entry(type=EntryType.NORMAL)])
        # No conf change until everything up to here, our no-op included, is applied: the
        # no-op's commitment shows this leader's log holds every earlier committed change.
        self.pending_conf_index = self.log.last_index()

    # -- elections -----------------------------------------------------------------------------

    def hup(self, transfer: bool = False) -> None:
        """Start an election (a pre-vote first, unless this is a leadership transfer)."""
        if self.role is StateRole.LEADER or not self.promotable():
            return
        if self.pre_vote and not transfer:
            self.campaign(pre_vote=True)
        else:
            self.campaign(pre_vote=False, transfer=transfer)

    def campaign(self, pre_vote: bool, transfer: bool = False) -> None:
        """Ask every voter for its (pre-)vote."""
        if pre_vote:
            self.become_pre_candidate()
            vote_type = MessageType.PRE_VOTE
            term = self.term + 1
        else:
            self.become_candidate()
            vote_type = MessageType.VOTE
            term = self.term
        if self._poll(self.id, True) is VoteResult.WON:
            # A single-voter configuration wins at once.
            if pre_vote:
                self.campaign(pre_vote=False)
            else:
                self.become_leader()
            return
        context = CAMPAIGN_TRANSFER if transfer else b""
        for voter in sorted(self.tracker.voters):
            if voter != self.id:
                self._send(
                    vote_type,
                    voter,
                    term=term,
                    index=self.log.last_index(),
                    log_term=self.log.last_term(),
                    context=context,
                )

    def _poll(self, node_id: str, granted: bool) -> VoteResult:
        self.tracker.record_vote(node_id, granted)
        return self.tracker.tally_votes()[2]

    # -- ticks ---------------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance logical time by one tick."""
        if self.role is StateRole.LEADER:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.hup()

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_timeout:
            self.election_elapsed = 0
            if self.check_quorum:
                if not self.tracker.quorum_active(self.id):
                    self.become_follower(self.term, NO_NODE)
                    return
                for node_id, progress in self.tracker.progress.items():
                    if node_id != self.id:
                        progress.recent_active = False
            self.lead_transferee = NO_NODE
        for node_id, progress in self.tracker.progress.items():
            if progress.state is ProgressState.SNAPSHOT and node_id != self.id:
                progress.snapshot_ticks += 1
                if progress.snapshot_ticks >= self.election_timeout:
                    # The snapshot was probably lost: probe again (which resends it if needed).
                    progress.become_probe()
        if self.heartbeat_elapsed >= self.heartbeat_timeout:
            self.heartbeat_elapsed = 0
            self.broadcast_heartbeat()

    # -- stepping messages ---------------------------------------------------------------------

    def step(self, message: RaftMessage) -> None:
        """Process one message: from a peer, or a local request (``term == 0``).

        Raises :class:`ProposalDroppedError` when a local proposal cannot be accepted.
        """
        if message.term > self.term:
            if message.type in _RESPONSE_TO:
                force = message.context == CAMPAIGN_TRANSFER
                in_lease = (
                    self.check_quorum
                    and self.lead != NO_NODE
                    and self.election_elapsed < self.election_timeout
                )
                if in_lease and not force:
                    # We heard from a live leader recently: this candidate cannot win without
                    # breaking that leader's lease, so it is ignored (not even answered).
                    return
            if message.type is MessageType.PRE_VOTE:
                pass  # a pre-vote never changes our term
            elif message.type is MessageType.PRE_VOTE_RESPONSE and not message.reject:
                pass  # the term is ours once the real election is won
            elif message.type in (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT):
                self.become_follower(message.term, message.from_)
            else:
                self.become_follower(message.term, NO_NODE)
        elif 0 < message.term < self.term:
            if (self.check_quorum or self.pre_vote) and message.type in (
                MessageType.HEARTBEAT,
                MessageType.APPEND,
            ):
                # A stale leader (or one cut off and now back): tell it our term so it steps down.
                self._send(MessageType.APPEND_RESPONSE, message.from_)
            elif message.type is MessageType.PRE_VOTE:
                self._send(MessageType.PRE_VOTE_RESPONSE, message.from_, reject=True)
            return

        if message.type in _RESPONSE_TO:
            self._step_vote_request(message)
        elif self.role is StateRole.LEADER:
            self._step_leader(message)
        elif self.role is StateRole.FOLLOWER:
            self._step_follower(message)
        else:
            self._step_candidate(message)

    def refusal(self, message: RaftMessage) -> str | None:
        """Why ``message`` from a peer must be refused given this node's state, or None.

        Called before :meth:`step` touches any state. An honest peer never sends these: a
        term implausibly far ahead of ours, an acknowledgement of entries this leader does
        not have.
        """
        if message.term < self.term:
            return None  # stale: answered with our term, changes nothing
        if message.term > self.term + MAX_TERM_STEP:
            return (f"term {message.term} is more than {MAX_TERM_STEP} ahead of this node's "
                    f"term {self.term}")
        kind = message.type
        # (An append that would rewrite committed entries needs no check here: one that
        # starts below the commit index is answered with it and changes nothing. A heartbeat
        # committing past our log is clamped: an honest leader sends one to a follower whose
        # log was repaired, until it learns of the restart.)
        if (kind is MessageType.APPEND_RESPONSE and self.role is StateRole.LEADER
              and message.term == self.term and not message.reject
              and message.index > self.log.last_index()):
            return (f"acknowledges index {message.index}, past the leader's last index "
                    f"{self.log.last_index()}")
        return None

    def _step_vote_request(self, message: RaftMessage) -> None:
        response = _RESPONSE_TO[message.type]
        can_vote = (
            self.vote == message.from_
            or (self.vote == NO_NODE and self.lead == NO_NODE)
            or (message.type is MessageType.PRE_VOTE and message.term > self.term)
        )
        if can_vote and self.log.is_up_to_date(message.index, message.log_term):
            # Answer with the message's term: a pre-vote's term is one we have not entered.
            self._send(response, message.from_, term=message.term)
            if message.type is MessageType.VOTE:
                self.election_elapsed = 0
                self.vote = message.from_
        else:
            self._send(response, message.from_, reject=True)

    def _step_leader(self, message: RaftMessage) -> None:
        kind = message.type
        if kind is MessageType.PROPOSE:
            self._propose_as_leader(message)
            return
        if kind is MessageType.READ_INDEX:
            self._read_index_as_leader(message)
            return
        if kind is MessageType.TRANSFER_LEADER:
            self._transfer_leadership(message.from_)
            return
        progress = self.tracker.progress.get(message.from_)
        if progress is None:
            return
        if kind is MessageType.APPEND_RESPONSE:
            progress.recent_active = True
            if message.reject:
                self._handle_append_rejection(message)
            else:
                self._handle_append_success(message)
        elif kind is MessageType.HEARTBEAT_RESPONSE:
            progress.recent_active = True
            progress.probe_sent = False
            if progress.state is ProgressState.REPLICATE and progress.inflights.full():
                progress.inflights.free_first()
            if progress.match < self.log.last_index():
                self.send_append(message.from_)
            if message.context:
                self._confirm_read(message.from_, message.context)

    def _propose_as_leader(self, message: RaftMessage) -> None:
        local = message.from_ in (NO_NODE, self.id)
        if not message.entries:
            raise ValueError("a proposal must carry entries")
        if self.id not in self.tracker.progress:
            raise ProposalDroppedError("this leader was removed from the configuration")
        if self.lead_transferee != NO_NODE:
            raise ProposalDroppedError(f"leadership is moving to {self.lead_transferee}")
        entries = list(message.entries)
        for position, entry in enumerate(entries):
            if entry.type is not EntryType.CONF_CHANGE:
                continue
            if self.pending_conf_index > self.log.applied:
                if local:
                    raise ProposalDroppedError("a membership change is still pending")
                # A forwarded change the host cannot be told about: keep the batch, drop it.
                entries[position] = Entry(type=EntryType.NORMAL)
            else:
                self.pending_conf_index = self.log.last_index() + position + 1
        self.append_entries(entries)
        # Sent when the host next takes a Ready, so proposals made meanwhile share messages.
        self.appends_pending = True

    def _handle_append_rejection(self, message: RaftMessage) -> None:
        progress = self.tracker.progress[message.from_]
        next_probe = message.reject_hint
        if message.log_term > 0:
            # Fast back-off: skip every entry of terms the follower does not have.
            next_probe = self.log.find_conflict_by_term(message.reject_hint, message.log_term)[0]
        if progress.maybe_decrease_to(message.index, next_probe):
            if progress.state is ProgressState.REPLICATE:
                progress.become_probe()
            self.send_append(message.from_)

    def _handle_append_success(self, message: RaftMessage) -> None:
        node_id = message.from_
        progress = self.tracker.progress[node_id]
        was_paused = progress.is_paused()
        if not progress.maybe_update(message.index):
            return
        if progress.state is ProgressState.PROBE:
            progress.become_replicate()
        elif progress.state is ProgressState.SNAPSHOT:
            if progress.match >= progress.pending_snapshot:
                progress.become_probe()
                progress.become_replicate()
        else:
            progress.inflights.free_le(message.index)
        if self.maybe_commit():
            self._release_pending_read_index()
            self.broadcast_append()
        elif was_paused:
            self.send_append(node_id)
        while node_id in self.tracker.progress and self.send_append(node_id, send_if_empty=False):
            pass
        if node_id == self.lead_transferee and progress.match == self.log.last_index():
            self._send(MessageType.TIMEOUT_NOW, node_id)

    def _transfer_leadership(self, transferee: str) -> None:
        progress = self.tracker.progress.get(transferee)
        if progress is None or progress.is_learner or transferee == self.id:
            return
        if self.lead_transferee == transferee:
            return
        # Transfer must finish within an election timeout, or it is abandoned (see ticks).
        self.election_elapsed = 0
        self.lead_transferee = transferee
        if progress.match == self.log.last_index():
            self._send(MessageType.TIMEOUT_NOW, transferee)
        else:
            self.send_append(transferee)

    def _read_index_as_leader(self, message: RaftMessage) -> None:
        if self.tracker.voters == {self.id}:
            self._answer_read(message, self.log.committed)
            return
        if not self._committed_entry_in_current_term():
            # Our commit index may still miss entries committed by earlier leaders.
            self.pending_read_index.append(message)
            return
        self._start_read(message)

    def _start_read(self, message: RaftMessage) -> None:
        self.read_only.add_request(self.log.committed, message)
        self._confirm_read(self.id, message.context)
        self.broadcast_heartbeat(message.context)

    def _confirm_read(self, node_id: str, context: bytes) -> None:
        acks = self.read_only.receive_ack(node_id, context)
        if acks is None:
            return
        if vote_result(self.tracker.voters, dict.fromkeys(acks, True)) is not VoteResult.WON:
            return
        for status in self.read_only.advance(context):
            self._answer_read(status.request, status.index)

    def _answer_read(self, request: RaftMessage, index: int) -> None:
        if request.from_ in (NO_NODE, self.id):
            self.read_states.append(ReadState(index=index, request_ctx=request.context))
        else:
            self._send(
                MessageType.READ_INDEX_RESPONSE, request.from_, index=index, context=request.context
            )

    def _committed_entry_in_current_term(self) -> bool:
        return self.log.term_or_zero(self.log.committed) == self.term

    def _release_pending_read_index(self) -> None:
        if not self.pending_read_index or not self._committed_entry_in_current_term():
            return
        pending, self.pending_read_index = self.pending_read_index, []
        for message in pending:
            self._start_read(message)

    def _step_candidate(self, message: RaftMessage) -> None:
        kind = message.type
        if kind is MessageType.PROPOSE:
            raise ProposalDroppedError(f"no leader at term {self.term}")
        if kind in (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT):
            # Someone won this term (a pre-candidate may even be behind it).
            self.become_follower(message.term, message.from_)
            self._step_follower(message)
            return
        expected = (
            MessageType.PRE_VOTE_RESPONSE
            if self.role is StateRole.PRE_CANDIDATE
            else MessageType.VOTE_RESPONSE
        )
        if kind is not expected:
            return
        result = self._poll(message.from_, not message.reject)
        if result is VoteResult.WON:
            if self.role is StateRole.PRE_CANDIDATE:
                self.campaign(pre_vote=False)
            else:
                self.become_leader()
                self.broadcast_append()
        elif result is VoteResult.LOST:
            self.become_follower(self.term, NO_NODE)

    def _step_follower(self, message: RaftMessage) -> None:
        kind = message.type
        if kind is MessageType.PROPOSE:
            if self.lead == NO_NODE:
                raise ProposalDroppedError(f"no leader at term {self.term}")
            if self.disable_proposal_forwarding:
                raise ProposalDroppedError("proposal forwarding is disabled")
            self._forward(message, self.lead)
        elif kind is MessageType.APPEND:
            self.election_elapsed = 0
            self.lead = message.from_
            self._handle_append(message)
        elif kind is MessageType.HEARTBEAT:
            self.election_elapsed = 0
            self.lead = message.from_
            self.log.commit_to(min(message.commit, self.log.last_index()))
            self._send(MessageType.HEARTBEAT_RESPONSE, message.from_, context=message.context)
        elif kind is MessageType.SNAPSHOT:
            self.election_elapsed = 0
            self.lead = message.from_
            self._handle_snapshot(message)
        elif kind in (MessageType.TRANSFER_LEADER, MessageType.READ_INDEX):
            if self.lead != NO_NODE:
                self._forward(message, self.lead)
        elif kind is MessageType.TIMEOUT_NOW:
            self.hup(transfer=True)
        elif kind is MessageType.READ_INDEX_RESPONSE:
            self.read_states.append(ReadState(index=message.index, request_ctx=message.context))

    def _handle_append(self, message: RaftMessage) -> None:
        if message.index < self.log.committed:
            self._send(MessageType.APPEND_RESPONSE, message.from_, index=self.log.committed)
            return
        appended = self.log.maybe_append(
            message.index, message.log_term, message.commit, message.entries
        )
        if appended is not None:
            last_new, written = appended
            if written:
                self._on_entries_written(written)
            self._send(MessageType.APPEND_RESPONSE, message.from_, index=last_new)
            return
        hint_index = min(message.index, self.log.last_index())
        hint_index, hint_term = self.log.find_conflict_by_term(hint_index, message.log_term)
        self._send(
            MessageType.APPEND_RESPONSE,
            message.from_,
            index=message.index,
            reject=True,
            reject_hint=hint_index,
            log_term=hint_term,
        )

    def _handle_snapshot(self, message: RaftMessage) -> None:
        assert message.snapshot is not None
        index = self.log.last_index() if self.restore(message.snapshot) else self.log.committed
        self._send(MessageType.APPEND_RESPONSE, message.from_, index=index)

    # -- log ---------------------------------------------------------------------------------

    def append_entries(self, entries: list[Entry]) -> None:
        """Append ``entries`` as leader, numbering them in this term, and count our own ack."""
        last = self.log.last_index()
        numbered = [
            Entry(term=self.term, index=last + offset, type=entry.type, data=entry.data)
            for offset, entry in enumerate(entries, start=1)
        ]
        self.log.append(numbered)
        self._on_entries_written(numbered)
        own = self.tracker.progress.get(self.id)
        if own is not None:
            own.maybe_update(self.log.last_index())
        self.maybe_commit()

    def maybe_commit(self) -> bool:
        """Advance the commit index to what a quorum holds, if that entry is of this term."""
        return self.log.maybe_commit(self.tracker.committed(), self.term)

    def restore(self, snapshot: Snapshot) -> bool:
        """Replace the log by ``snapshot`` if it is news to us; True if it was installed."""
        metadata = snapshot.metadata
        if metadata.index <= self.log.committed:
            return False
        if self.role is not StateRole.FOLLOWER:
            self.become_follower(self.term + 1, NO_NODE)
            return False
        if self.log.match_term(metadata.index, metadata.term):
            # We already hold that prefix: just learn that it is committed.
            self.log.commit_to(metadata.index)
            return False
        self.log.restore(snapshot)
        self._conf_base = metadata.conf_state
        self._conf_changes = []
        self._sync_tracker()
        self.applied_conf_state = metadata.conf_state
        return True

    # -- membership ----------------------------------------------------------------------------

    @staticmethod
    def _stored_entries(storage: Storage) -> list[Entry]:
        """Every entry in ``storage``, read in bounded chunks (only conf changes are kept)."""
        kept: list[Entry] = []
        lo, hi = storage.first_index(), storage.last_index() + 1
        while lo < hi:
            chunk = storage.entries(lo, hi, 4 * 1024 * 1024)
            kept.extend(e for e in chunk if e.type is EntryType.CONF_CHANGE)
            lo += len(chunk)
        return kept

    def _record_conf_changes(self, entries: list[Entry]) -> bool:
        """Extend the configuration history with the conf changes among ``entries``."""
        recorded = False
        for entry in entries:
            if entry.type is EntryType.CONF_CHANGE:
                conf = _conf_after(self.conf_state(), entry.data)
                self._conf_changes.append((entry.index, conf))
                recorded = True
        return recorded

    def _on_entries_written(self, entries: list[Entry]) -> None:
        """Entries from ``entries[0].index`` on were (re)written: follow their configuration."""
        first = entries[0].index
        changed = False
        while self._conf_changes and self._conf_changes[-1][0] >= first:
            self._conf_changes.pop()  # truncated: that change never happened
            changed = True
        if self._record_conf_changes(entries) or changed:
            self._sync_tracker()

    def conf_state(self) -> ConfState:
        """The configuration in force: the newest one in the log, committed or not."""
        return self._conf_changes[-1][1] if self._conf_changes else self._conf_base

    def conf_state_at(self, index: int) -> ConfState:
        """The configuration as of log ``index`` (at or after the snapshot)."""
        conf = self._conf_base
        for change_index, change_conf in self._conf_changes:
            if change_index > index:
                break
            conf = change_conf
        return conf

    def _sync_tracker(self) -> None:
        """Make the progress tracker match :meth:`conf_state`."""
        conf = self.conf_state()
        next_index = self.log.last_index() + 1
        for node_id in set(self.tracker.progress) - set(conf.voters) - set(conf.learners):
            self.tracker.remove(node_id)
        for voter in conf.voters:
            self.tracker.set_voter(voter, next_index)
        for learner in conf.learners:
            self.tracker.set_learner(learner, next_index)
        if self.lead_transferee not in self.tracker.voters:
            self.lead_transferee = NO_NODE

    def apply_conf_change(self, change: ConfChange) -> ConfState:
        """The host applied a committed conf change; returns the configuration as of it.

        The core already follows the change (it did so when the entry was appended); this
        keeps the applied configuration the host records in its snapshots. Replaying a change
        after a restart is harmless. A leader whose removal is applied hands leadership to its
        most caught-up voter and steps down.
        """
        # An invalid change was appended as a no-op (see _conf_after); it changes nothing.
        with contextlib.suppress(ValueError):
            self.applied_conf_state = apply_change(self.applied_conf_state, change)
        if self.role is StateRole.LEADER and not self.promotable():
            self._step_down_after_removal()
        return self.applied_conf_state

    def _step_down_after_removal(self) -> None:
        last_index = self.log.last_index()
        caught_up = [
            node_id
            for node_id in sorted(self.tracker.voters)
            if self.tracker.progress[node_id].match == last_index
        ]
        if caught_up:
            self._send(MessageType.TIMEOUT_NOW, caught_up[0])
        self.become_follower(self.term, NO_NODE)

    # -- host reports ----------------------------------------------------------------------------

    def report_unreachable(self, node_id: str) -> None:
        """The host could not deliver a message to ``node_id``: stop streaming, probe instead."""
        progress = self.tracker.progress.get(node_id)
        if (
            self.role is StateRole.LEADER
            and progress is not None
            and progress.state is ProgressState.REPLICATE
        ):
            progress.become_probe()

    def report_restart(self, node_id: str) -> None:
        """``node_id`` restarted, perhaps holding less of the log than it acknowledged (its
        ledger was repaired): forget what it holds and probe it from the end of our log.

        Lowering a follower's match index is safe: it can only lower what a quorum is
        counted to hold, and a commit index never moves back.
        """
        progress = self.tracker.progress.get(node_id)
        if self.role is StateRole.LEADER and progress is not None and node_id != self.id:
            progress.match = 0
            progress.become_probe()
            progress.next = self.log.last_index() + 1

    def report_snapshot(self, node_id: str, failed: bool) -> None:
        """The host finished sending a snapshot to ``node_id`` (or failed to)."""
        progress = self.tracker.progress.get(node_id)
        if self.role is not StateRole.LEADER or progress is None:
            return
        if progress.state is ProgressState.SNAPSHOT:
            if failed:
                progress.pending_snapshot = 0
            progress.become_probe()
            # Wait for the follower's answer (or a heartbeat) before probing further.
            progress.probe_sent = True


__all__ = [
    "CAMPAIGN_TRANSFER",
    "ProposalDroppedError",
    "Raft",
    "ReadState",
    "SoftState",
    "StateRole",
]
