"""Block certification: collect validators' signatures until a majority signed each block.

Every validator signs each block it stores and sends the signature to the others (see
``transport.py``). ``Certifier`` keeps what arrives, bounded, merges it into the stored blocks
in the I/O thread once this node has the block, and repairs blocks that stayed uncertified
here (a signature sent while this node was paused or cut off is not sent again) from a
peer's copy of the block. A peer's certified copy with another hash than this node's means
this ledger diverged there (see ``divergence.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from tdx.node.replication.divergence import Divergence
from tdx.node.replication.seams import StateMachine
from tdx.node.state.ledger import AppliedBlock
from tdx.sdk import Certification, block_hash, ledger_pb2

PENDING_HEIGHTS = 10_000
HORIZON = 1_000
REPAIR_SECONDS = 2.0
REPAIR_BATCH = 20
FORGET_AFTER_BLOCKS = 10_000

Fetch = Callable[[int], Awaitable[ledger_pb2.Block | None]]


class Certifier:
    """Signatures waiting to be merged, and the blocks not yet certified on this node."""

    def __init__(self, ledger: StateMachine, executor: ThreadPoolExecutor, fetch: Fetch,
                 divergence: Divergence | None = None) -> None:
        self._ledger = ledger
        self._divergence = divergence
        self._executor = executor
        self._fetch = fetch
        self._pending: dict[int, list[ledger_pb2.BlockSignature]] = {}
        self._uncertified: dict[int, float] = {}

    @property
    def has_pending(self) -> bool:
        """Whether signatures wait to be merged."""
        return bool(self._pending)

    def offer(self, signatures: list[tuple[int, ledger_pb2.BlockSignature]]) -> None:
        """Keep signatures from a peer batch: at most one per validator and height, for
        heights not too far ahead, and a bounded number of heights."""
        horizon = self._ledger.height + HORIZON
        per_height = len(self._ledger.validators)
        for height, signature in signatures:
            if height > horizon:
                continue
            pending = self._pending.get(height)
            if pending is None:
                if len(self._pending) >= PENDING_HEIGHTS:
                    continue
                pending = self._pending[height] = []
            if len(pending) < per_height and all(
                s.validator != signature.validator for s in pending
            ):
                pending.append(signature)

    def applied(self, block: AppliedBlock) -> None:
        """Note a block this node just stored, if it lacks a majority of signatures."""
        # The block holds this node's own signature, just made: nothing to verify again.
        signed = Certification(tuple(block.block.signatures), len(self._ledger.validators))
        if not signed.certified:
            self._uncertified[block.height] = time.monotonic()

    async def merge_pending(self) -> None:
        """Merge the signatures of blocks this node has (in the I/O thread)."""
        ready = {h: sigs for h, sigs in self._pending.items() if h <= self._ledger.height}
        for height in ready:
            del self._pending[height]
        if ready:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._merge,
                                                             ready)

    def _merge(self, by_height: dict[int, list[ledger_pb2.BlockSignature]]) -> None:
        for height, signatures in by_height.items():
            if self._ledger.add_signatures(height, signatures).certified:
                self._uncertified.pop(height, None)

    async def repair_forever(self) -> None:
        """Every few seconds, take the signatures of long-uncertified blocks from a peer."""
        while True:
            await asyncio.sleep(REPAIR_SECONDS)
            now = time.monotonic()
            due = sorted(h for h, since in self._uncertified.items()
                         if now - since > REPAIR_SECONDS)[:REPAIR_BATCH]
            for height in due:
                if not await self.repair(height):
                    break
                if height in self._uncertified:
                    self._uncertified[height] = now
            oldest = self._ledger.height - FORGET_AFTER_BLOCKS
            for height in [h for h in self._uncertified if h < oldest]:
                del self._uncertified[height]

    async def repair(self, height: int) -> bool:
        """Take block ``height``'s signatures from a peer's certified copy; False when no
        peer serves one.

        A certified copy with another hash than this node's block means a majority signed
        another block at this height: this ledger diverged, and no signature will ever make
        its block certified; that is recorded (``divergence.py``) instead.
        """
        loop = asyncio.get_running_loop()
        block = await self._fetch(height)
        if block is None:
            return False
        own = self._ledger.block(height)
        own_hash, certified_hash = (block_hash(own.header) if own is not None else b"",
                                    block_hash(block.header))
        if own is not None and own_hash != certified_hash:
            if self._divergence is not None:
                await loop.run_in_executor(self._executor, self._divergence.found, height,
                                           own_hash, certified_hash)
            self._uncertified.pop(height, None)
            return True
        await loop.run_in_executor(self._executor, self._merge,
                                   {height: list(block.signatures)})
        return True
