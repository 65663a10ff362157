"""An observer's copy of the ledger: fetch blocks from peers, verify, re-apply.

An observer (a member that does not vote) follows the ledger over the libp2p mesh: it
hears block announcements, fetches the blocks it misses by height range from the peer that
announced them (or any connected member), and catches up the same way after being down.
Without a mesh it polls the validators' client API instead. Either way it takes a block
only when a majority of the current validators signed its hash, and it re-executes the
block with its own state machine: the block must follow its last block and come out with
the same hash. A peer that serves a block that does not verify is disconnected and avoided
for a while, so an observer trusts no single peer.

Documents submitted at an observer go to the validators as gossip when the mesh reaches a
validator (the observer then waits for the block that holds them), else through a
validator's client API.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from google.protobuf.message import DecodeError
from tdx.network import MeshError, peer_id_of
from tdx.node.replication.clients import ClientPool
from tdx.node.replication.forward import Forwarder
from tdx.node.replication.mesh import MeshLink
from tdx.node.replication.ordering import Orderer, OrderingStatus
from tdx.node.state.ledger import AppliedBlock, Ledger, LedgerMismatch
from tdx.node.state.rules import Outcome, Refusal
from tdx.sdk import (
    AsyncClient,
    NotFound,
    TdxError,
    document_id,
    is_certified,
    ledger_pb2,
)
from tdx.v1 import documents_pb2

log = logging.getLogger("tdx.node.replication.follower")

POLL_SECONDS = 0.2
FETCH_BLOCKS = 64
RELAY_WAIT_SECONDS = 10.0
STATUS_WAIT_SECONDS = 1.0
BAN_SECONDS = 30.0
CLIENT_TIMEOUT = 10.0


class Follower:
    """Keeps an observer's ledger in step with the validators (its clients of their API come
    from the node's ``clients`` pool)."""

    def __init__(self, ledger: Ledger, executor: ThreadPoolExecutor,
                 on_applied: Callable[[AppliedBlock], None], member_id: str,
                 mesh: MeshLink | None = None, *, clients: ClientPool) -> None:
        self.ledger = ledger
        self._mesh = mesh
        self._wake = asyncio.Event()
        self._announced_by: bytes | None = None
        self._banned_keys: dict[bytes, float] = {}
        if mesh is not None:
            mesh.on_announcement = self._announced
        self._executor = executor
        self._on_applied = on_applied
        self._clients = clients
        self._banned: dict[str, float] = {}
        self._rotation = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self.leader = ""
        self.term = 0
        self.source_height = 0
        self._forwarder: Orderer = Forwarder(self._any_validator, member_id, clients)

    async def order(self, envelopes: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
        """Relay submissions to the validators: over the mesh when it reaches one (and wait
        for their block), else through a validator's client API.

        Gossip carries no answer, so a replay is told apart by height: a document found in
        a block no higher than the validators' height before the relay was on the ledger
        already (this observer had not caught up), and is answered ALREADY_EXISTS with its
        receipt, as a validator answers.
        """
        if self._mesh is None or not self._mesh.validator_peers():
            return await self._forwarder.order(envelopes)
        before = await self._validators_height()
        await self._mesh.relay(envelopes)
        ids = [document_id(e.body) for e in envelopes]
        deadline = time.monotonic() + RELAY_WAIT_SECONDS
        found: dict[str, Outcome] = {}
        while time.monotonic() < deadline:
            for doc_id in ids:
                if doc_id not in found:
                    record = self.ledger.record(doc_id)
                    if record is None:
                        continue
                    found[doc_id] = record.receipt if record.receipt.height > before else (
                        Refusal("ALREADY_EXISTS", "document.duplicate",
                                "this document is already on the ledger",
                                receipt=record.receipt))
            if len(found) == len(ids):
                break
            self._wake.set()
            await asyncio.sleep(0.05)
        return found

    async def _validators_height(self) -> int:
        """The highest height the validators' APIs report (they store a block before it is
        certified, so this can be above ours), or ours when none answers in time."""
        async def height(address: str) -> int:
            try:
                status = await asyncio.wait_for(self._client(address).status(),
                                                STATUS_WAIT_SECONDS)
            except (TdxError, TimeoutError):
                return 0
            return int(status.height)

        heights = await asyncio.gather(*(height(v.api_address) for v in self.ledger.validators
                                         if v.api_address))
        return max([self.ledger.height, *heights])

    def _announced(self, height: int, sender: bytes) -> None:
        if height > self.ledger.height:
            self._announced_by = sender
            self._wake.set()

    def _sources(self) -> list[str]:
        now = time.monotonic()
        return [v.api_address for v in self.ledger.validators
                if v.api_address and self._banned.get(v.api_address, 0) <= now]

    def _any_validator(self) -> str | None:
        sources = self._sources()
        return sources[next(self._rotation) % len(sources)] if sources else None

    def _client(self, address: str) -> AsyncClient:
        return self._clients.client(address, timeout=CLIENT_TIMEOUT)

    def start(self) -> None:
        """Start following on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="follower")

    async def stop(self) -> None:
        """Stop following (the client pool is closed by whoever made it)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS * 5)
            self._wake.clear()
            try:
                await self._catch_up()
            except Exception:  # following must outlive any one failure; it is retried
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    log.exception("following failed (%d times so far); retrying", failures)
                await asyncio.sleep(POLL_SECONDS)

    async def _catch_up(self) -> None:
        if self._mesh is not None and await self._follow_mesh():
            return
        address = self._any_validator()
        if address is None:
            await asyncio.sleep(POLL_SECONDS)
            return
        try:
            await self._follow(address)
        except TdxError as exc:
            log.debug("validator %s: %s", address, exc)

    async def _follow_mesh(self) -> bool:
        """Catch up from mesh peers; return False when no peer could be asked."""
        assert self._mesh is not None
        now = time.monotonic()
        connected = [k for k in self._mesh.connected_peers()
                     if self._banned_keys.get(k, 0) <= now]
        if not connected:
            return False
        validators = set(self._mesh.validator_peers())
        hinted, self._announced_by = self._announced_by, None
        order = sorted(connected, key=lambda k: (k != hinted, k not in validators))
        for key in order:
            try:
                progressed = await self._fetch_from(key)
            except MeshError as exc:
                log.debug("mesh fetch from %s failed: %s", peer_id_of(key), exc)
                continue
            if progressed:
                self._wake.set()
                return True
        return True

    async def _fetch_from(self, key: bytes) -> bool:
        """Fetch, verify and apply blocks after ours from one peer; True if any applied."""
        assert self._mesh is not None
        start = self.ledger.height + 1
        raw_blocks = await self._mesh.mesh.fetch_blocks(key, start, start + FETCH_BLOCKS)
        applied_any = False
        for raw in raw_blocks:
            try:
                if not await self._take(ledger_pb2.Block.FromString(raw)):
                    return applied_any
            except (LedgerMismatch, DecodeError) as exc:
                log.error("peer %s served a block that does not verify; disconnecting it and "
                          "avoiding it for %.0fs: %s", peer_id_of(key), BAN_SECONDS, exc)
                self._banned_keys[key] = time.monotonic() + BAN_SECONDS
                with contextlib.suppress(MeshError):
                    await self._mesh.mesh.disconnect(key)
                return applied_any
            applied_any = True
        return applied_any

    async def _follow(self, address: str) -> None:
        client = self._client(address)
        status = await client.status()
        self.leader, self.term = status.leader, status.term
        self.source_height = max(self.source_height, status.height)
        while self.ledger.height < status.height:
            try:
                block = await client.get_block(self.ledger.height + 1)
            except NotFound:
                return
            try:
                if not await self._take(block):
                    return
            except (LedgerMismatch, DecodeError) as exc:
                log.error("refusing block from %s and avoiding it for %.0fs: %s", address,
                          BAN_SECONDS, exc)
                self._banned[address] = time.monotonic() + BAN_SECONDS
                return

    async def _take(self, block: ledger_pb2.Block) -> bool:
        """Apply a fetched block if a majority of validators signed it; False if not (yet).

        Raises LedgerMismatch when re-executing it here does not give its hash, and
        DecodeError when its header does not decode: the caller then avoids the peer that
        served it.
        """
        if not is_certified(block, self.ledger.validators):
            return False
        applied = await asyncio.get_running_loop().run_in_executor(
            self._executor, self.ledger.replay, block, None)
        self._on_applied(applied)
        return True

    def status(self) -> OrderingStatus:
        """For StatusResponse: this node observes."""
        mesh_peers = tuple(self._mesh.status()) if self._mesh is not None else ()
        return OrderingStatus(role="observer", term=self.term, leader=self.leader,
                              commit_index=self.ledger.applied_index, mesh_peers=mesh_peers)
