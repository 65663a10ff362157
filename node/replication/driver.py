"""The Raft driver: runs tdx.consensus inside the node's event loop.

It ticks the core, steps the messages the peer transport delivers, and handles each Ready in
the order the core requires: persist the entries and hard state (fsync, in the I/O thread),
then send the messages, then apply the committed entries (blocks go to the state machine,
conf changes back to the core), then advance. On the leader, ``order`` proposes a batch of
envelopes as one entry and waits until its block is applied; elsewhere it forwards the
batch to the leader. Every validator signs each block it stores and sends the signature to
the others, so blocks become certified (signed by a majority; see ``certify.py``).

Its seams are small interfaces (``seams.py``): it is given a ``StateMachine`` (the ledger)
and a ``Transport`` (the signed peer link), attaches itself to the transport as its
``Inbox``, reads the core only through ``RawNode``'s public methods, and is a
``NodeOrderer`` (``ordering.py``) to the API.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from tdx.consensus import (
    Config,
    EntryType,
    InvalidMessageError,
    MessageType,
    ProposalDroppedError,
    RaftMessage,
    RawNode,
    Ready,
    StateRole,
    decode_conf_change,
)
from tdx.node.ratelimit import RefusalLog
from tdx.node.replication.certify import Certifier
from tdx.node.replication.clients import ClientPool
from tdx.node.replication.divergence import Divergence
from tdx.node.replication.forward import Forwarder
from tdx.node.replication.ordering import Orderer, OrderingStatus
from tdx.node.replication.seams import Signature, StateMachine, Transport
from tdx.node.replication.snapshots import CertifiedBlocks, Snapshots
from tdx.node.replication.storage import RaftStore
from tdx.node.replication.voters import Voters
from tdx.node.state.ledger import AppliedBlock, LedgerMismatch, Signer
from tdx.node.state.rules import Outcome, Refusal
from tdx.node.state.store import Store
from tdx.sdk import ledger_pb2
from tdx.v1 import documents_pb2

log = logging.getLogger("tdx.node.replication.driver")

TICK_SECONDS = 0.05
ELECTION_TICKS = 10
HEARTBEAT_TICKS = 1
ORDER_TIMEOUT = 10.0
COMPACT_EVERY = 10_000
MAX_APPLY_BYTES_PER_READY = 4 * 1024 * 1024
LOCAL_ONLY = frozenset({MessageType.PROPOSE, MessageType.READ_INDEX,
                        MessageType.TRANSFER_LEADER})


class RaftDriver:
    """Hosts a RawNode for one validator and orders blocks through it.

    ``store`` holds the divergence record (``divergence.py``); ``raft`` is the Raft log in
    it. ``clients`` is the node's pool for calls to other nodes' API (forwarding, fetching
    certified blocks).
    """

    def __init__(self, *, member_id: str, store: Store, ledger: StateMachine,
                 raft: RaftStore, transport: Transport, sign: Signer,
                 on_applied: Callable[[AppliedBlock], None], executor: ThreadPoolExecutor,
                 clients: ClientPool, compact_every: int = COMPACT_EVERY,
                 seed: int | None = None,
                 pinned: Sequence[documents_pb2.MemberRecord] = (),
                 on_fatal: Callable[[BaseException], None] = lambda exc: None) -> None:
        self.member_id = member_id
        self.ledger = ledger
        self.raft = raft
        self.sign = sign
        self._on_applied = on_applied
        self._executor = executor
        config = Config(id=member_id, election_tick=ELECTION_TICKS,
                        heartbeat_tick=HEARTBEAT_TICKS, pre_vote=True, check_quorum=True,
                        max_size_per_msg=2 * 1024 * 1024, max_inflight_msgs=64,
                        max_committed_size_per_ready=MAX_APPLY_BYTES_PER_READY,
                        # Submissions reach the leader through its API; a peer may not
                        # propose through Raft (that would bypass the API's checks).
                        disable_proposal_forwarding=True,
                        rng=random.Random(seed),
                        # After a power loss the commit index (written without fsync) may
                        # trail the applied index; never claim more than was committed.
                        applied=min(ledger.applied_index, raft.hard_state.commit))
        self.node = RawNode(config, raft)
        self.voters = Voters(ledger, self.node, pinned)
        self.transport = transport
        self.leader = ""
        self.role = StateRole.FOLLOWER
        self._proposals: dict[bytes, asyncio.Future[AppliedBlock]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._forwarder: Orderer = Forwarder(self._leader_address, member_id, clients)
        self._refusals = RefusalLog(log, "Raft messages")
        self.blocks = CertifiedBlocks(member_id, self.peer_validators, clients)
        self.divergence = Divergence(store)
        self.certifier = Certifier(ledger, executor, self.blocks.fetch, self.divergence)
        self.snapshots = Snapshots(node=self.node, ledger=ledger, raft=raft,
                                   executor=executor, blocks=self.blocks, sign=sign,
                                   on_applied=on_applied, step=self._step,
                                   wake=self._wake.set, refusals=self._refusals,
                                   compact_every=compact_every)
        self.on_fatal = on_fatal
        # Last, once every part is made: from here on the transport delivers to this driver.
        transport.attach(self)

    # -- inputs --------------------------------------------------------------------------

    def deliver(self, sender: str, messages: list[RaftMessage],
                signatures: list[Signature]) -> str | None:
        """Step messages from a checked peer batch into the core; keep block signatures.

        Returns why a message was refused (the rest are still stepped), or None. Proposals,
        read requests and transfer requests are local inputs only: a peer that sends them is
        ignored (it could otherwise append conf changes without governance). A snapshot is
        stepped only once its data decodes and the block it names is certified with that
        hash (checked in a task; the leader retries meanwhile), so nothing is written or
        dropped for a snapshot that cannot be installed.
        """
        refused: str | None = None
        for message in messages:
            if message.type in LOCAL_ONLY:
                refused = f"{message.type.name} is a local request; not taken from a peer"
            elif message.type is MessageType.SNAPSHOT:
                refused = self.snapshots.check(message) or refused
            else:
                refused = self._step(message) or refused
        self.certifier.offer(signatures)
        self._wake.set()
        if refused is not None:
            self._refusals.refused(refused.split(":")[0], f"from {sender}: {refused}",
                                   level=logging.WARNING)
        return refused

    def _step(self, message: RaftMessage) -> str | None:
        try:
            self.node.step(message)
        except InvalidMessageError as exc:
            return str(exc)
        return None

    def start(self) -> None:
        """Start ticking and handling Readies on the running loop."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._ticker(), name="raft-tick"),
                       loop.create_task(self._ready_loop(), name="raft-ready"),
                       loop.create_task(self.certifier.repair_forever(), name="raft-certify")]
        for task in self._tasks:
            task.add_done_callback(self._task_done)
        if len(self.ledger.validators) == 1:
            self.node.campaign()
            self._wake.set()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """Crash-only: a driver task that fails stops the node rather than limp on."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        assert exc is not None
        log.critical("%s failed; stopping the node: %s: %s", task.get_name(),
                     type(exc).__name__, exc, exc_info=exc)
        self.on_fatal(exc)

    async def stop(self) -> None:
        """Stop the loops and the transport (the client pool is closed by whoever made it)."""
        self.snapshots.cancel()
        for task in self._tasks:
            task.remove_done_callback(self._task_done)
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("raft task failed")
        await self.transport.close()
        for future in self._proposals.values():
            if not future.done():
                future.set_exception(Refusal("UNAVAILABLE", "node.stopping",
                                             "the node is shutting down"))

    async def _ticker(self) -> None:
        next_tick = time.monotonic()
        while True:
            next_tick += TICK_SECONDS
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
            self.node.tick()
            self._wake.set()

    # -- ordering ------------------------------------------------------------------------

    def _leader_address(self) -> str | None:
        if not self.leader or self.leader == self.member_id:
            return None
        member = self.ledger.member(self.leader)
        return member.api_address if member is not None and member.api_address else None

    async def order(self, envelopes: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
        """Order envelopes as one block: propose on the leader, forward elsewhere."""
        if self.role is not StateRole.LEADER:
            return await self._forwarder.order(envelopes)
        proposal = ledger_pb2.BlockProposal(envelopes=envelopes, proposer=self.member_id,
                                            proposed_ms=int(time.time() * 1000))
        data = proposal.SerializeToString()
        key = hashlib.sha256(data).digest()
        future: asyncio.Future[AppliedBlock] = asyncio.get_running_loop().create_future()
        self._proposals[key] = future
        try:
            self.node.propose(data)
        except ProposalDroppedError:
            self._proposals.pop(key, None)
            raise Refusal("UNAVAILABLE", "cluster.proposal_dropped",
                          "the leader cannot take proposals right now; retry") from None
        self._wake.set()
        try:
            applied = await asyncio.wait_for(asyncio.shield(future), ORDER_TIMEOUT)
        except TimeoutError:
            return {}
        finally:
            self._proposals.pop(key, None)
        return dict(applied.receipts)

    # -- the Ready loop ------------------------------------------------------------------

    async def _ready_loop(self) -> None:
        loop = asyncio.get_running_loop()
        await self.snapshots.resume()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.certifier.has_pending:
                await self.certifier.merge_pending()
            if self.role is StateRole.LEADER and self.voters.propose_change():
                self._wake.set()
            while self.node.has_ready():
                ready = self.node.ready()
                await self._handle(ready, loop)
                self.node.advance(ready)

    async def _handle(self, ready: Ready, loop: asyncio.AbstractEventLoop) -> None:
        if ready.soft_state is not None:
            self._role_changed(ready.soft_state.leader, ready.soft_state.role)
        before = self.raft.hard_state
        vote_changed = ready.hard_state is not None and (
            ready.hard_state.term != before.term or ready.hard_state.vote != before.vote)
        # As etcd's server does: a leader may send its appends while it writes the same
        # entries to its own disk. The core counts the leader's own copy when it appends,
        # but a commit that relies on it can only appear in a later Ready, which is taken
        # after this one is on disk. A follower acknowledges only what is on disk, and
        # nobody sends a message of a new term or vote before that is on disk.
        send_first = self.role is StateRole.LEADER and not vote_changed and (
            ready.snapshot is None)
        if send_first:
            self.transport.send(ready.messages)
        items = self.raft.stage(list(ready.entries), ready.hard_state, ready.snapshot)
        if items:
            await loop.run_in_executor(self._executor, lambda: self.raft.write(
                items, sync=ready.must_sync or ready.snapshot is not None))
        if ready.snapshot is not None:
            await self.snapshots.install(ready.snapshot)
        if not send_first:
            self.transport.send(ready.messages)
        if ready.committed_entries and (
            ready.committed_entries[0].index > self.ledger.applied_index + 1
        ):
            raise LedgerMismatch(
                f"committed entry {ready.committed_entries[0].index} does not follow the "
                f"ledger's applied entry {self.ledger.applied_index}")
        for entry in ready.committed_entries:
            if entry.type is EntryType.CONF_CHANGE:
                try:
                    change = decode_conf_change(entry.data)
                except ValueError:
                    # The core appended it as a no-op; so does the host.
                    log.error("entry %d is an undecodable conf change; skipped", entry.index)
                else:
                    conf = self.node.apply_conf_change(change)
                    log.info("membership change applied: %s %s -> voters %s learners %s",
                             change.type.name, change.node_id, list(conf.voters),
                             list(conf.learners))
                await loop.run_in_executor(self._executor, self.ledger.mark_applied,
                                           entry.index)
                continue
            applied = await loop.run_in_executor(
                self._executor, self.ledger.apply, entry.data, entry.term, entry.index,
                self.sign)
            if applied is not None:
                self._block_applied(applied, entry.data)
        if ready.committed_entries:
            await self.snapshots.maybe_compact(ready.committed_entries[-1].index)

    def _role_changed(self, leader: str, role: StateRole) -> None:
        if leader != self.leader or role is not self.role:
            log.info("raft: role %s, leader %s", role.value, leader or "unknown")
            if role is StateRole.LEADER:
                self.transport.won(self.node.term)
        self.leader = leader
        self.role = role

    def _block_applied(self, applied: AppliedBlock, data: bytes) -> None:
        future = self._proposals.pop(hashlib.sha256(data).digest(), None)
        if future is not None and not future.done():
            future.set_result(applied)
        own = next((s for s in applied.block.signatures if s.validator == self.member_id),
                   None)
        if own is not None:
            self.transport.broadcast_signature(applied.height, own)
        self.snapshots.block_applied(applied)
        self.certifier.applied(applied)
        self._on_applied(applied)

    # -- the transport's inbox (seams.Inbox) ---------------------------------------------

    def peer_validators(self) -> list[documents_pb2.MemberRecord]:
        """Who may speak PeerService to this node (``Voters.peer_validators``)."""
        return self.voters.peer_validators()

    def voter_sets(self) -> list[list[str]]:
        """The voter sets this node believes in (``Voters.voter_sets``)."""
        return self.voters.voter_sets()

    def term(self) -> int:
        """The current Raft term."""
        return self.node.term

    def report_unreachable(self, member_id: str) -> None:
        """A message to ``member_id`` could not be sent (tell the core)."""
        self.node.report_unreachable(member_id)

    def report_snapshot(self, member_id: str, failed: bool) -> None:
        """A snapshot to ``member_id`` was delivered, or not (tell the core)."""
        self.node.report_snapshot(member_id, failed)

    def report_restart(self, member_id: str) -> None:
        """``member_id`` restarted (tell the core)."""
        self.node.report_restart(member_id)

    # -- status --------------------------------------------------------------------------

    def status(self) -> OrderingStatus:
        """Role, term, leader, commit index and per-peer progress, for StatusResponse."""
        status = self.node.status()
        connections = self.transport.status()
        last = status.last_index
        peers = []
        for validator in self.ledger.validators:
            if validator.id == self.member_id:
                continue
            progress = status.progress.get(validator.id)
            address, connected = connections.get(
                validator.id, (validator.peer_address or validator.api_address, False))
            match = progress.match if progress is not None else 0
            peers.append(ledger_pb2.PeerStatus(
                member_id=validator.id, address=address, connected=connected,
                match_index=match, lag=max(0, last - match) if progress is not None else 0))
        return OrderingStatus(role=status.soft_state.role.value, term=status.hard_state.term,
                              leader=status.soft_state.leader,
                              commit_index=status.hard_state.commit, peers=tuple(peers),
                              diverged_height=self.divergence.height)
