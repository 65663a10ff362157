"""A deterministic, seeded simulation of a tdx.consensus cluster that checks Raft's safety.

:class:`Cluster` runs N :class:`~tdx.consensus.RawNode` cores against :class:`MemoryStorage`,
exchanging messages through a simulated network that can drop, delay (and so reorder),
duplicate and partition them. Time advances in steps; every node ticks once every
``steps_per_tick`` steps and a message takes ``min_delay..max_delay`` steps. A crashed node
keeps only what it persisted through ``Ready`` (its ``MemoryStorage``); the application state
machine (a hash chain over applied entries) survives only as the storage's snapshot, so a
restarted node re-applies everything after it.

Everything random comes from one ``random.Random(seed)`` (and per-node generators seeded from
the seed), so a seed replays exactly. The checks, raising :class:`SafetyViolation`:

- election safety: at most one leader per term (checked after every step and tick of a node);
- log matching: an (index, term) pair always names the same entry with the same predecessor
  term, in every persisted log (checked whenever a node persists entries);
- leader completeness: a new leader's log holds every entry known committed (on election);
- state machine safety: no two nodes commit or apply different entries at an index, and every
  node's state after index i (also when restored from a snapshot) is the same;
- durability: every step, the newest committed entry is persisted by enough voters of the
  current leader's configuration that every quorum of it holds one copy;
- monotonic hard state: a node's term and commit never go back, and it never changes its vote
  within a term;
- read index: a read confirmed at index i is never older than what was known committed when
  the read was requested.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tdx.consensus import (
    CompactedError,
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    Entry,
    EntryType,
    MemoryStorage,
    MessageType,
    ProposalDroppedError,
    RaftMessage,
    RawNode,
    ReadState,
    Snapshot,
    StateRole,
    decode_conf_change,
)
from tdx.consensus.quorum import majority
from tdx.consensus.storage import UnavailableError

GENESIS_DIGEST = bytes(32)


class SafetyViolation(AssertionError):
    """A Raft safety property was broken; the message names the property and the seed."""


@dataclass(frozen=True)
class Faults:
    """What the network (and the hosts) do wrong. Delays are in simulation steps."""

    drop: float = 0.0
    duplicate: float = 0.0
    min_delay: int = 1
    max_delay: int = 2
    crash_mid_ready: float = 0.0  # chance a host dies after persisting, before sending


RELIABLE = Faults()
UNRELIABLE = Faults(drop=0.1, duplicate=0.05, min_delay=1, max_delay=25)


class StateMachine:
    """The replicated application: a running hash over the data of applied NORMAL entries."""

    def __init__(self, applied: int = 0, digest: bytes = GENESIS_DIGEST) -> None:
        self.applied = applied
        self.digest = digest

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> StateMachine:
        """The state a snapshot holds (the genesis state for the empty snapshot)."""
        if snapshot.is_empty():
            return cls()
        return cls(snapshot.metadata.index, snapshot.data)

    def apply(self, entry: Entry) -> None:
        """Apply the next entry (conf changes and no-ops advance the index only)."""
        if entry.index != self.applied + 1:
            raise SafetyViolation(f"applied {entry.index} after {self.applied}")
        if entry.type is EntryType.NORMAL and entry.data:
            self.digest = hashlib.sha256(self.digest + entry.data).digest()
        self.applied = entry.index


class SimNode:
    """One simulated host: durable storage, and a core and application while it is up."""

    def __init__(self, node_id: str) -> None:
        self.id = node_id
        self.storage = MemoryStorage()
        self.raw: RawNode | None = None
        self.sm = StateMachine()
        self.conf_state = ConfState()
        self.read_states: list[ReadState] = []
        self.incarnation = 0
        self.last_commit = 0

    @property
    def alive(self) -> bool:
        """True while the node is running."""
        return self.raw is not None

    def core(self) -> RawNode:
        """The running core (the node must be up)."""
        if self.raw is None:
            raise AssertionError(f"{self.id} is down")
        return self.raw


class Cluster:
    """N simulated nodes, a simulated network and the safety checks (module docstring)."""

    def __init__(
        self,
        voters: int = 3,
        *,
        seed: int = 0,
        learners: int = 0,
        spares: int = 0,
        faults: Faults = RELIABLE,
        election_tick: int = 10,
        heartbeat_tick: int = 1,
        pre_vote: bool = True,
        check_quorum: bool = True,
        max_size_per_msg: int | None = 64 * 1024,
        max_inflight_msgs: int = 64,
        steps_per_tick: int = 5,
        snapshot_every: int | None = None,
        snapshot_keep: int = 0,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults = faults
        self.election_tick = election_tick
        self.heartbeat_tick = heartbeat_tick
        self.pre_vote = pre_vote
        self.check_quorum = check_quorum
        self.max_size_per_msg = max_size_per_msg
        self.max_inflight_msgs = max_inflight_msgs
        self.steps_per_tick = steps_per_tick
        self.snapshot_every = snapshot_every
        self.snapshot_keep = snapshot_keep
        total = voters + learners + spares
        ids = [f"n{i}" for i in range(1, total + 1)]
        self.nodes: dict[str, SimNode] = {node_id: SimNode(node_id) for node_id in ids}
        founders, founding_learners = ids[:voters], ids[voters : voters + learners]
        for node_id in founders + founding_learners:
            self.nodes[node_id].storage.bootstrap(founders, founding_learners)
        self.now = 0
        self._seq = 0
        self._queue: list[tuple[int, int, RaftMessage]] = []
        self._blocked: set[tuple[str, str]] = set()
        self._dirty: set[str] = set()
        self.sent: Counter[MessageType] = Counter()
        self.append_rejections = 0
        self.drop_if: Callable[[RaftMessage], bool] | None = None
        """A test's own filter: messages it returns True for are lost."""
        self.leaders: dict[int, str] = {}
        self._entry_ids: dict[tuple[int, int], tuple[EntryType, bytes, int | None]] = {}
        self.committed: dict[int, Entry] = {}
        self.max_committed = 0
        self.committed_data: dict[bytes, int] = {}
        self._digests: dict[int, bytes] = {0: GENESIS_DIGEST}
        self._read_floor: dict[tuple[str, bytes], int] = {}
        self.reads_done: dict[tuple[str, bytes], int] = {}
        for node_id in ids:
            self.start(node_id)

    # -- failure messages --------------------------------------------------------------------

    def violation(self, what: str) -> SafetyViolation:
        """A SafetyViolation naming the seed and time, so the run replays exactly."""
        return SafetyViolation(f"{what} (seed={self.seed}, step={self.now})")

    # -- node lifecycle ------------------------------------------------------------------------

    def start(self, node_id: str) -> None:
        """Start (or restart) a node from its persisted storage only."""
        node = self.nodes[node_id]
        if node.alive:
            return
        snapshot = node.storage.snapshot()
        node.sm = StateMachine.from_snapshot(snapshot)
        node.conf_state = snapshot.metadata.conf_state
        node.read_states = []
        # What it persisted as committed must still be what the cluster committed.
        node.last_commit = snapshot.metadata.index
        self._record_commit(node, node.storage.hard_state.commit)
        node.incarnation += 1
        config = Config(
            id=node_id,
            rng=random.Random(f"{self.seed}/{node_id}/{node.incarnation}"),
            applied=node.sm.applied,
            election_tick=self.election_tick,
            heartbeat_tick=self.heartbeat_tick,
            pre_vote=self.pre_vote,
            check_quorum=self.check_quorum,
            max_size_per_msg=self.max_size_per_msg,
            max_inflight_msgs=self.max_inflight_msgs,
        )
        node.raw = RawNode(config, node.storage)
        self._dirty.add(node_id)

    def crash(self, node_id: str) -> None:
        """Stop a node: everything it did not persist is gone."""
        self.nodes[node_id].raw = None

    def restart(self, node_id: str) -> None:
        """Crash a node if it is up, then start it again."""
        self.crash(node_id)
        self.start(node_id)

    def live(self) -> list[SimNode]:
        """The nodes that are up, in id order."""
        return [node for node in self.nodes.values() if node.alive]

    # -- network -------------------------------------------------------------------------------

    def cut(self, a: str, b: str) -> None:
        """Drop every message between ``a`` and ``b`` (both ways) until healed."""
        self._blocked.add((a, b))
        self._blocked.add((b, a))

    def isolate(self, node_id: str) -> None:
        """Cut ``node_id`` off from every other node."""
        for other in self.nodes:
            if other != node_id:
                self.cut(node_id, other)

    def partition(self, *groups: Iterable[str]) -> None:
        """Split the nodes into groups that cannot talk to each other."""
        self.heal()
        group_of = {node_id: i for i, group in enumerate(groups) for node_id in group}
        for a in self.nodes:
            for b in self.nodes:
                if group_of.get(a, -1) != group_of.get(b, -2) and a != b:
                    self._blocked.add((a, b))

    def heal(self) -> None:
        """Reconnect every link."""
        self._blocked.clear()

    def disturb(
        self,
        rng: random.Random,
        *,
        crash: float = 0.06,
        restart: float = 0.14,
        isolate: float = 0.05,
        split: float = 0.05,
        heal: float = 0.1,
    ) -> None:
        """Maybe inject one random fault, each with its chance: crash a node, restart a down
        one, isolate a node, split the cluster in two halves, or heal the network."""
        ids = sorted(self.nodes)
        victim = rng.choice(ids)
        draw = rng.random()
        faults: tuple[tuple[float, Callable[[], None]], ...] = (
            (crash, lambda: self.crash(victim)),
            (restart, lambda: self.start(victim)),
            (isolate, lambda: self.isolate(victim)),
            (split, lambda: self._split(rng.sample(ids, len(ids) // 2))),
            (heal, self.heal),
        )
        for chance, fault in faults:
            if draw < chance:
                fault()
                return
            draw -= chance

    def _split(self, half: list[str]) -> None:
        self.partition(half, [n for n in self.nodes if n not in half])

    def _send(self, message: RaftMessage) -> None:
        self.sent[message.type] += 1
        if message.reject and message.type is MessageType.APPEND_RESPONSE:
            self.append_rejections += 1
        if (message.from_, message.to) in self._blocked:
            return
        if self.drop_if is not None and self.drop_if(message):
            return
        copies = 1
        if self.faults.drop and self.rng.random() < self.faults.drop:
            copies = 0
        elif self.faults.duplicate and self.rng.random() < self.faults.duplicate:
            copies = 2
        for _ in range(copies):
            delay = self.rng.randint(self.faults.min_delay, self.faults.max_delay)
            self._seq += 1
            heapq.heappush(self._queue, (self.now + delay, self._seq, message))

    def in_flight(self) -> int:
        """Messages on the wire."""
        return len(self._queue)

    # -- client operations ---------------------------------------------------------------------

    def leader(self) -> str | None:
        """The live node leading the highest term, if any."""
        best: SimNode | None = None
        for node in self.live():
            raft = node.core().raft
            if raft.role is StateRole.LEADER and (
                best is None or raft.term > best.core().raft.term
            ):
                best = node
        return best.id if best is not None else None

    def propose(self, data: bytes, via: str | None = None) -> bool:
        """Propose ``data`` through ``via`` (default: the leader); False if it was dropped."""
        node_id = via or self.leader()
        if node_id is None or not self.nodes[node_id].alive:
            return False
        try:
            self.nodes[node_id].core().propose(data)
        except ProposalDroppedError:
            return False
        self._dirty.add(node_id)
        return True

    def propose_conf_change(self, change: ConfChange, via: str | None = None) -> bool:
        """Propose a membership change; False if it was dropped."""
        node_id = via or self.leader()
        if node_id is None:
            return False
        try:
            self.nodes[node_id].core().propose_conf_change(change)
        except ProposalDroppedError:
            return False
        self._dirty.add(node_id)
        return True

    def reconfigure(self, change: ConfChange, max_ticks: int = 100) -> None:
        """Propose ``change`` through the leader until it is accepted (a leader refuses one
        until its previous change and its own no-op are applied)."""
        if not self.run_until(lambda: self.propose_conf_change(change), max_ticks):
            raise AssertionError(f"{change} not accepted in {max_ticks} ticks (seed={self.seed})")

    def read_index(self, node_id: str, ctx: bytes) -> None:
        """Ask ``node_id`` for a linearizable read (see :meth:`read_result`)."""
        self._read_floor[(node_id, ctx)] = self.max_committed
        self.nodes[node_id].core().read_index(ctx)
        self._dirty.add(node_id)

    def read_result(self, node_id: str, ctx: bytes) -> int | None:
        """The confirmed index of a read, or None while it is pending (or was dropped)."""
        return self.reads_done.get((node_id, ctx))

    def transfer_leader(self, to: str, via: str | None = None) -> None:
        """Ask the leader (through ``via``) to hand leadership to ``to``."""
        node_id = via or self.leader()
        assert node_id is not None, "no leader to transfer from"
        self.nodes[node_id].core().transfer_leader(to)
        self._dirty.add(node_id)

    def applied_on(self, data: bytes) -> list[str]:
        """The ids of live nodes that have applied the committed entry holding ``data``."""
        index = self.committed_data.get(data)
        if index is None:
            return []
        return [node.id for node in self.live() if node.sm.applied >= index]

    # -- running -------------------------------------------------------------------------------

    def step(self) -> None:
        """Advance time one step: deliver due messages, tick if due, handle Readys, check."""
        self.now += 1
        while self._queue and self._queue[0][0] <= self.now:
            message = heapq.heappop(self._queue)[2]
            self._deliver(message)
        if self.now % self.steps_per_tick == 0:
            for node in self.live():
                node.core().tick()
                self._note_role(node)
                self._dirty.add(node.id)
        for node_id in sorted(self._dirty):
            node = self.nodes[node_id]
            if node.alive:
                self._handle_ready(node)
        self._dirty.clear()
        self._check_durability()

    def run(self, ticks: int) -> None:
        """Run for ``ticks`` ticks."""
        for _ in range(ticks * self.steps_per_tick):
            self.step()

    def run_until(self, condition: Callable[[], bool], max_ticks: int) -> bool:
        """Run until ``condition()`` holds (checked every step); False if time ran out."""
        for _ in range(max_ticks * self.steps_per_tick):
            if condition():
                return True
            self.step()
        return condition()

    def wait_leader(self, max_ticks: int = 100) -> str:
        """Run until some node leads, and return it."""
        if not self.run_until(lambda: self.leader() is not None, max_ticks):
            raise AssertionError(f"no leader within {max_ticks} ticks (seed={self.seed})")
        leader = self.leader()
        assert leader is not None
        return leader

    def wait_applied(self, data: bytes, count: int | None = None, max_ticks: int = 100) -> bool:
        """Run until ``count`` live nodes (default: all) have applied ``data``."""

        def done() -> bool:
            want = count if count is not None else len(self.live())
            return len(self.applied_on(data)) >= want

        return self.run_until(done, max_ticks)

    def commit(self, data: bytes, max_ticks: int = 200) -> int:
        """Propose ``data`` until it commits (retrying through leader changes); its index."""
        deadline = self.now + max_ticks * self.steps_per_tick
        while self.now < deadline:
            if data in self.committed_data:
                return self.committed_data[data]
            if self.propose(data):
                self.run_until(lambda: data in self.committed_data, 3 * self.election_tick)
            else:
                self.run(1)
        raise AssertionError(f"{data!r} not committed within {max_ticks} ticks (seed={self.seed})")

    def converge(self, max_ticks: int = 300) -> None:
        """Heal, stop crashing, restart everyone, commit a marker and wait until every voter
        applied it (message loss, duplication and delay go on)."""
        self.faults = dataclasses.replace(self.faults, crash_mid_ready=0.0)
        self.heal()
        for node_id in self.nodes:
            self.start(node_id)
        marker = f"converge-{self.now}".encode()
        self.commit(marker, max_ticks)
        voters = self._voters_of_leader()
        if not self.wait_applied(marker, len(voters), max_ticks):
            raise AssertionError(f"cluster did not converge (seed={self.seed})")

    # -- the host loop -------------------------------------------------------------------------

    def _deliver(self, message: RaftMessage) -> None:
        node = self.nodes.get(message.to)
        if node is None or node.raw is None:
            return
        if (message.from_, message.to) in self._blocked:
            return
        node.raw.step(message)
        self._note_role(node)
        self._dirty.add(node.id)

    def _handle_ready(self, node: SimNode) -> None:
        raw = node.core()
        if not raw.has_ready():
            return
        ready = raw.ready()
        if ready.snapshot is not None:
            node.storage.apply_snapshot(ready.snapshot)
        if ready.entries:
            self._check_log_matching(node, ready.entries)
            node.storage.append(list(ready.entries))
        if ready.hard_state is not None:
            self._check_hard_state(node, ready.hard_state.term, ready.hard_state.vote)
            node.storage.set_hard_state(ready.hard_state)
            self._record_commit(node, ready.hard_state.commit)
        if self.faults.crash_mid_ready and self.rng.random() < self.faults.crash_mid_ready:
            self.crash(node.id)
            return
        for message in ready.messages:
            self._send(message)
        if ready.snapshot is not None:
            self._install_snapshot(node, ready.snapshot)
        for entry in ready.committed_entries:
            self._apply(node, entry)
        for read_state in ready.read_states:
            self._check_read(node, read_state)
        raw.advance(ready)
        self._maybe_snapshot(node)

    def _apply(self, node: SimNode, entry: Entry) -> None:
        known = self.committed.get(entry.index)
        if known is None or known != entry:
            raise self.violation(
                f"state machine safety: {node.id} applies {entry} but committed is {known}"
            )
        if entry.type is EntryType.CONF_CHANGE:
            node.conf_state = node.core().apply_conf_change(decode_conf_change(entry.data))
        node.sm.apply(entry)
        self._check_digest(node, entry.index, node.sm.digest)

    def _install_snapshot(self, node: SimNode, snapshot: Snapshot) -> None:
        node.sm = StateMachine.from_snapshot(snapshot)
        node.conf_state = snapshot.metadata.conf_state
        self._check_digest(node, snapshot.metadata.index, node.sm.digest)

    def _maybe_snapshot(self, node: SimNode) -> None:
        if self.snapshot_every is None:
            return
        storage = node.storage
        if node.sm.applied - storage.snapshot().metadata.index < self.snapshot_every:
            return
        storage.create_snapshot(node.sm.applied, node.conf_state, node.sm.digest)
        storage.compact(max(node.sm.applied - self.snapshot_keep, 1))

    # -- checks ----------------------------------------------------------------------------------

    def _note_role(self, node: SimNode) -> None:
        raft = node.core().raft
        if raft.role is not StateRole.LEADER:
            return
        known = self.leaders.get(raft.term)
        if known == node.id:
            return
        if known is not None:
            raise self.violation(f"election safety: {known} and {node.id} lead term {raft.term}")
        self.leaders[raft.term] = node.id
        self._check_leader_completeness(node)

    def _check_leader_completeness(self, node: SimNode) -> None:
        log = node.core().raft.log
        for index in range(max(log.first_index(), 1), self.max_committed + 1):
            entry = self.committed[index]
            if log.term_or_zero(index) != entry.term:
                raise self.violation(
                    f"leader completeness: {node.id} leads term {node.core().raft.term} "
                    f"without committed entry {entry}"
                )

    def _check_log_matching(self, node: SimNode, entries: tuple[Entry, ...]) -> None:
        try:
            prev_term: int | None = node.storage.term(entries[0].index - 1)
        except (CompactedError, UnavailableError):
            prev_term = None
        for entry in entries:
            key = (entry.index, entry.term)
            identity = (entry.type, entry.data, prev_term)
            known = self._entry_ids.get(key)
            if known is None:
                self._entry_ids[key] = identity
            elif known[:2] != identity[:2] or (
                None not in (known[2], prev_term) and known[2] != prev_term
            ):
                raise self.violation(
                    f"log matching: {node.id} persists {entry} (prev term {prev_term}) "
                    f"but another log has {known} there"
                )
            prev_term = entry.term

    def _check_hard_state(self, node: SimNode, term: int, vote: str) -> None:
        before = node.storage.hard_state
        if term < before.term:
            raise self.violation(f"{node.id} term went back from {before.term} to {term}")
        if term == before.term and before.vote and vote != before.vote:
            raise self.violation(
                f"{node.id} changed its vote in term {term} from {before.vote} to {vote}"
            )

    def _record_commit(self, node: SimNode, commit: int) -> None:
        if commit < node.last_commit:
            raise self.violation(f"{node.id} commit went back from {node.last_commit} to {commit}")
        first = node.storage.first_index()
        for index in range(max(node.last_commit + 1, first), commit + 1):
            entry = node.storage.entries(index, index + 1)[0]
            known = self.committed.get(index)
            if known is None:
                self.committed[index] = entry
                if entry.type is EntryType.NORMAL and entry.data:
                    self.committed_data.setdefault(entry.data, index)
            elif known != entry:
                raise self.violation(
                    f"state machine safety: {node.id} commits {entry} where {known} is committed"
                )
        node.last_commit = commit
        self.max_committed = max(self.max_committed, commit)

    def _check_digest(self, node: SimNode, index: int, digest: bytes) -> None:
        known = self._digests.setdefault(index, digest)
        if known != digest:
            raise self.violation(f"state machine safety: {node.id} state differs after {index}")

    def _check_read(self, node: SimNode, read_state: ReadState) -> None:
        key = (node.id, read_state.request_ctx)
        floor = self._read_floor.get(key)
        if floor is not None and read_state.index < floor:
            raise self.violation(
                f"stale read on {node.id}: index {read_state.index} but {floor} was committed"
            )
        self.reads_done[key] = read_state.index

    def _voters_of_leader(self) -> tuple[str, ...]:
        leader = self.leader()
        if leader is None:
            return ()
        return self.nodes[leader].core().raft.conf_state().voters

    def _check_durability(self) -> None:
        if self.max_committed == 0:
            return
        voters = self._voters_of_leader()
        if not voters:
            return
        entry = self.committed[self.max_committed]
        holders = 0
        for voter in voters:
            storage = self.nodes[voter].storage
            if storage.snapshot().metadata.index >= entry.index:
                holders += 1
                continue
            with contextlib.suppress(CompactedError, UnavailableError):
                holders += storage.term(entry.index) == entry.term
        if holders <= len(voters) - majority(len(voters)):
            raise self.violation(
                f"durability: committed {entry} is held by {holders} of voters {voters}"
            )


def figure8_rounds(cluster: Cluster, rng: random.Random, rounds: int) -> None:
    """The course's Figure 8 test: leaders crash at random moments, often right after
    appending, while a majority is kept up; at the end everything converges."""
    for round_ in range(rounds):
        leader = cluster.leader()
        if leader is not None:
            cluster.propose(f"f8-{round_}".encode(), via=leader)
        if rng.random() < 0.1:
            cluster.run(rng.randint(1, 2 * cluster.election_tick))
        else:
            cluster.run(rng.randint(0, 2))
        leader = cluster.leader()
        if leader is not None and rng.random() < 0.5:
            cluster.crash(leader)
        if len(cluster.live()) < 3:
            down = [n for n in cluster.nodes if not cluster.nodes[n].alive]
            cluster.start(rng.choice(down))
    cluster.converge(max_ticks=400)


def add_voter(node_id: str) -> ConfChange:
    """The conf change that adds (or promotes) ``node_id`` as a voter."""
    return ConfChange(ConfChangeType.ADD_VOTER, node_id)


def add_learner(node_id: str) -> ConfChange:
    """The conf change that adds ``node_id`` as a learner."""
    return ConfChange(ConfChangeType.ADD_LEARNER, node_id)


def remove(node_id: str) -> ConfChange:
    """The conf change that removes ``node_id``."""
    return ConfChange(ConfChangeType.REMOVE, node_id)
