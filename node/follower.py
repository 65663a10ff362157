"""An observer's copy of the ledger: fetch blocks from validators, verify, re-apply.

An observer (a member that does not vote) follows the validators through their client API.
It takes a block only when a majority of the current validators signed its hash, and it
re-executes the block with its own state machine: the block must follow its last block and
come out with the same hash, or it is refused and the source is avoided for a while. So an
observer trusts no single peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tdx.sdk import (
    AsyncClient,
    NotFound,
    TdxError,
    block_hash,
    count_valid_signatures,
    ledger_pb2,
    quorum,
)
from tdx.v1 import documents_pb2

from .forward import Forwarder
from .ledger import AppliedBlock, Ledger, LedgerMismatch
from .sequencer import Outcome

log = logging.getLogger("tdx.node.follower")

POLL_SECONDS = 0.2
BAN_SECONDS = 30.0


class Follower:
    """Keeps an observer's ledger in step with the validators."""

    def __init__(self, ledger: Ledger, executor: ThreadPoolExecutor,
                 on_applied: Callable[[AppliedBlock], None], member_id: str) -> None:
        self.ledger = ledger
        self._executor = executor
        self._on_applied = on_applied
        self._clients: dict[str, AsyncClient] = {}
        self._banned: dict[str, float] = {}
        self._rotation = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self.leader = ""
        self.term = 0
        self.source_height = 0
        self._forwarder = Forwarder(self._any_validator, member_id)

    async def order(self, envelopes: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
        """Submissions at an observer are forwarded to a validator."""
        return await self._forwarder.order(envelopes)

    def _sources(self) -> list[str]:
        now = time.monotonic()
        return [v.api_address for v in self.ledger.validators
                if v.api_address and self._banned.get(v.api_address, 0) <= now]

    def _any_validator(self) -> str | None:
        sources = self._sources()
        return sources[next(self._rotation) % len(sources)] if sources else None

    def _client(self, address: str) -> AsyncClient:
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = AsyncClient(address, timeout=10)
        return client

    def start(self) -> None:
        """Start following on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="follower")

    async def stop(self) -> None:
        """Stop following and close connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for client in self._clients.values():
            await client.aclose()
        await self._forwarder.close()

    async def _run(self) -> None:
        while True:
            address = self._any_validator()
            if address is None:
                await asyncio.sleep(POLL_SECONDS)
                continue
            try:
                await self._follow(address)
            except TdxError as exc:
                log.debug("validator %s: %s", address, exc)
            await asyncio.sleep(POLL_SECONDS)

    async def _follow(self, address: str) -> None:
        client = self._client(address)
        status = await client.status()
        self.leader, self.term = status.leader, status.term
        self.source_height = max(self.source_height, status.height)
        loop = asyncio.get_running_loop()
        while self.ledger.height < status.height:
            try:
                block = await client.get_block(self.ledger.height + 1)
            except NotFound:
                return
            if not self._certified(block):
                return
            try:
                applied = await loop.run_in_executor(self._executor, self.ledger.replay, block,
                                                     None)
            except LedgerMismatch as exc:
                log.error("refusing block from %s and avoiding it for %.0fs: %s", address,
                          BAN_SECONDS, exc)
                self._banned[address] = time.monotonic() + BAN_SECONDS
                return
            self._on_applied(applied)

    def _certified(self, block: ledger_pb2.Block) -> bool:
        validators = self.ledger.validators
        digest = block_hash(block.header)
        return count_valid_signatures(digest, list(block.signatures), validators) >= quorum(
            len(validators))

    def status(self) -> dict[str, Any]:
        """For StatusResponse: this node observes."""
        return {"role": "observer", "term": self.term, "leader": self.leader,
                "commit_index": self.ledger.applied_index, "peers": []}
