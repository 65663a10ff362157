"""Raft snapshots for the driver: checking one from the leader, installing it, compacting.

A tdx snapshot's data is a ``LedgerSnapshot`` (height, block hash, Raft index): a node that
receives one fetches the blocks up to it from validators, each certified, and re-applies
them. Before the core sees a snapshot (and so before anything is written or the log is
dropped) its data must decode, agree with its metadata, and name a block that a validator
serves certified with that hash; a snapshot that fails is refused and changes nothing.
Compaction records such a snapshot at an applied block, keeping a tail of the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from google.protobuf.message import DecodeError
from tdx.consensus import ConfState, RaftMessage, RawNode, Snapshot
from tdx.node.ratelimit import RefusalLog
from tdx.node.replication.clients import ClientPool
from tdx.node.replication.seams import StateMachine
from tdx.node.replication.storage import RaftStore
from tdx.node.state.ledger import AppliedBlock, LedgerMismatch, Signer
from tdx.sdk import TdxError, block_hash, is_certified, ledger_pb2
from tdx.v1 import documents_pb2

log = logging.getLogger("tdx.node.replication.snapshots")

MAX_LOG_BYTES = 128 * 1024 * 1024
RECENT_BLOCKS = 20_000
MAX_CHECKS = 4
FETCH_TIMEOUT = 10.0

Validators = Callable[[], list[documents_pb2.MemberRecord]]


class CertifiedBlocks:
    """Fetches blocks from validators' APIs, taking only certified ones."""

    def __init__(self, member_id: str, validators: Validators, clients: ClientPool) -> None:
        self._member_id = member_id
        self._validators = validators
        self._clients = clients

    async def fetch(self, height: int) -> ledger_pb2.Block | None:
        """Block ``height``, certified, from the first validator that serves it so.

        A validator that answers with an uncertified or forged block is passed over, so one
        bad peer cannot hold up a snapshot install or a signature repair.
        """
        validators = self._validators()
        for validator in validators:
            if validator.id == self._member_id or not validator.api_address:
                continue
            try:
                # Inside the try: pinning a validator the ledger does not know yet (a joiner's
                # pinned set) raises TlsError, a TdxError, and that validator is passed over.
                client = self._clients.client(validator.api_address, timeout=FETCH_TIMEOUT)
                block = await client.get_block(height)
            except TdxError:
                continue
            if is_certified(block, validators):
                return block
        return None


class Snapshots:
    """Checks, installs and makes the driver's snapshots (see the module docstring)."""

    def __init__(self, *, node: RawNode, ledger: StateMachine, raft: RaftStore,
                 executor: ThreadPoolExecutor, blocks: CertifiedBlocks, sign: Signer,
                 on_applied: Callable[[AppliedBlock], None],
                 step: Callable[[RaftMessage], str | None], wake: Callable[[], None],
                 refusals: RefusalLog, compact_every: int) -> None:
        self._node = node
        self._ledger = ledger
        self._raft = raft
        self._executor = executor
        self._blocks = blocks
        self._sign = sign
        self._on_applied = on_applied
        self._step = step
        self._wake = wake
        self._refusals = refusals
        self.compact_every = compact_every
        self._recent: deque[tuple[int, int, bytes]] = deque(maxlen=RECENT_BLOCKS)
        self._checks: dict[tuple[str, int], asyncio.Task[None]] = {}

    # -- a snapshot from the leader -------------------------------------------------------

    def check(self, message: RaftMessage) -> str | None:
        """Step a SNAPSHOT message once it is shown sound; the reason if it is not."""
        assert message.snapshot is not None
        metadata = message.snapshot.metadata
        try:
            target = ledger_pb2.LedgerSnapshot.FromString(message.snapshot.data)
        except DecodeError:
            return "SNAPSHOT: snapshot data does not decode as a LedgerSnapshot"
        if target.raft_index != metadata.index or target.height < 1 or (
                len(target.block_hash) != 32):
            return (f"SNAPSHOT: snapshot data (height {target.height}, raft index "
                    f"{target.raft_index}) does not match its metadata (index "
                    f"{metadata.index}) or has no block hash")
        voters = set(metadata.conf_state.voters) | set(metadata.conf_state.learners)
        known = {v.id for v in self._ledger.validators}
        if not voters <= known:
            return (f"SNAPSHOT: snapshot names members {sorted(voters - known)} that are not "
                    "validators here")
        if target.height <= self._ledger.height:
            own = self._ledger.block(target.height)
            if own is None or block_hash(own.header) != bytes(target.block_hash):
                return (f"SNAPSHOT: snapshot names block {target.height} with a hash that "
                        "is not this node's")
            return self._agrees(own, message) or self._step(message)
        key = (message.from_, metadata.index)
        if key not in self._checks and len(self._checks) < MAX_CHECKS:
            task = asyncio.get_running_loop().create_task(
                self._step_when_certified(message, target), name="raft-snapshot-check")
            self._checks[key] = task
            task.add_done_callback(lambda _: self._checks.pop(key, None))
        return None

    async def _step_when_certified(self, message: RaftMessage,
                                   target: ledger_pb2.LedgerSnapshot) -> None:
        block = await self._blocks.fetch(target.height)
        if block is None or block_hash(block.header) != bytes(target.block_hash):
            self._refusals.refused(
                "SNAPSHOT uncertified",
                f"snapshot from {message.from_} names block {target.height}, which no "
                "validator serves certified with that hash; ignored", level=logging.WARNING)
            return
        refused = self._agrees(block, message) or self._step(message)
        if refused is not None:
            self._refusals.refused(refused.split(":")[0], refused, level=logging.WARNING)
        self._wake()

    @staticmethod
    def _agrees(block: ledger_pb2.Block, message: RaftMessage) -> str | None:
        """Why the snapshot's Raft index and term are not those of the block it names."""
        assert message.snapshot is not None
        metadata = message.snapshot.metadata
        try:
            header = ledger_pb2.BlockHeader.FromString(block.header)
        except DecodeError:
            return "SNAPSHOT: the block it names has an undecodable header"
        if header.raft_index != metadata.index or header.term != metadata.term:
            return (f"SNAPSHOT: snapshot says index {metadata.index} term {metadata.term}, "
                    f"but block {header.height} was entry {header.raft_index} of term "
                    f"{header.term}")
        return None

    def cancel(self) -> None:
        """Stop the checks in flight."""
        for task in list(self._checks.values()):
            task.cancel()

    # -- installing -----------------------------------------------------------------------

    async def resume(self) -> None:
        """Finish a snapshot install that a crash or stop interrupted, if there is one."""
        snapshot = self._raft.snapshot()
        if snapshot.metadata.index <= self._ledger.applied_index:
            return
        try:
            ledger_pb2.LedgerSnapshot.FromString(snapshot.data)
        except DecodeError:
            raise LedgerMismatch(
                f"the stored Raft snapshot (index {snapshot.metadata.index}) is "
                "unreadable; repair: stop the node, move its data folder aside and "
                "join again with `tdx node init --join --from HOST:PORT`") from None
        await self.install(snapshot)

    async def install(self, snapshot: Snapshot) -> None:
        """Catch up to ``snapshot`` by fetching and re-applying certified blocks."""
        loop = asyncio.get_running_loop()
        target = ledger_pb2.LedgerSnapshot.FromString(snapshot.data)
        log.info("installing snapshot: blocks %d..%d", self._ledger.height + 1, target.height)
        while self._ledger.height < target.height:
            fetched = await self._blocks.fetch(self._ledger.height + 1)
            if fetched is None:
                await asyncio.sleep(0.5)
                continue
            try:
                applied = await loop.run_in_executor(self._executor, self._ledger.replay,
                                                     fetched, self._sign)
            except LedgerMismatch as exc:
                log.error("block from a peer does not verify: %s", exc)
                await asyncio.sleep(0.5)
                continue
            self._on_applied(applied)
        reached = self._ledger.block(target.height)
        if reached is None or block_hash(reached.header) != bytes(target.block_hash):
            # The snapshot was checked against a certified block before it was stepped: this
            # ledger diverged (see divergence.py) or its disk is inconsistent.
            raise LedgerMismatch(f"after catching up, this ledger's block {target.height} is "
                                 "not the snapshot's; see `tdx node repair`")
        await loop.run_in_executor(self._executor, self._ledger.mark_applied,
                                   snapshot.metadata.index)

    # -- compacting -----------------------------------------------------------------------

    def block_applied(self, applied: AppliedBlock) -> None:
        """Remember an applied block as a possible snapshot point."""
        self._recent.append((applied.raft_index, applied.height, applied.hash))

    async def maybe_compact(self, applied_index: int) -> None:
        """Compact the Raft log when it holds too many entries or bytes, keeping a tail.

        The snapshot point is the last applied block at least ``compact_every // 2`` entries
        (or half the byte budget) back, so that a follower a little behind still gets
        entries rather than a snapshot.
        """
        retained = applied_index - self._raft.first_index()
        if retained < self.compact_every and self._raft.retained_bytes < MAX_LOG_BYTES:
            return
        keep = self.compact_every // 2
        if self._raft.retained_bytes >= MAX_LOG_BYTES:
            keep = min(keep, max(0, retained // 2))
        point = next(((i, h, d) for i, h, d in reversed(self._recent)
                      if i <= applied_index - keep), None)
        if point is None or point[0] < self._raft.first_index():
            return
        index, height, digest = point
        term = self._raft.term(index)
        conf: ConfState = self._node.conf_state_at(index)
        data = ledger_pb2.LedgerSnapshot(height=height, block_hash=digest,
                                         raft_index=index).SerializeToString()
        items = self._raft.compact(index, term, conf, data)
        if items:
            await asyncio.get_running_loop().run_in_executor(
                self._executor, lambda: self._raft.write(items))
            log.info("compacted the Raft log up to %d (block %d)", index, height)
