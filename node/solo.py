"""The commit path of a network with one validator: a log of one voter.

A proposal is persisted as a Raft entry (fsync), which with a single voter commits it, and
then applied. ``SoloLog.order`` has the shape that the Raft driver offers, so the
sequencer and the API do not change when consensus takes over the commit path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tdx.v1 import documents_pb2, ledger_pb2, raft_pb2

from .ledger import AppliedBlock, Ledger, Signer
from .sequencer import Outcome
from .store import Prefix, Store, from_u64, u64

log = logging.getLogger("tdx.node.solo")

SOLO_TERM = 1


class SoloLog:
    """Orders proposals alone: persist, commit, apply, in that order, one at a time."""

    def __init__(self, store: Store, ledger: Ledger, sign: Signer,
                 on_applied: Callable[[AppliedBlock], None], proposer: str) -> None:
        self._proposer = proposer
        self._store = store
        self._ledger = ledger
        self._sign = sign
        self._on_applied = on_applied
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdx-apply")
        self._lock = asyncio.Lock()
        self.last_index = self._last_index()

    def _last_index(self) -> int:
        for key, _ in self._store.scan(Prefix.RAFT_LOG, reverse=True):
            return from_u64(key[len(Prefix.RAFT_LOG):])
        return self._ledger.applied_index

    def recover(self) -> int:
        """Apply persisted entries that a crash left unapplied; return how many."""
        count = 0
        start = Prefix.RAFT_LOG + u64(self._ledger.applied_index)
        for _, value in list(self._store.scan(Prefix.RAFT_LOG, start=start)):
            entry = raft_pb2.Entry.FromString(value)
            self._ledger.apply(entry.data, entry.term, entry.index, self._sign)
            count += 1
        if count:
            log.info("replayed %d committed entries after restart", count)
        return count

    async def order(self, envelopes: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
        """Order envelopes as the next block; return their receipts once it is durable."""
        proposal = ledger_pb2.BlockProposal(envelopes=envelopes, proposer=self._proposer,
                                            proposed_ms=int(time.time() * 1000))
        data = proposal.SerializeToString()
        async with self._lock:
            index = self.last_index + 1
            applied = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._commit_and_apply, index, data)
            self.last_index = index
        if applied is None:
            return {}
        self._on_applied(applied)
        return dict(applied.receipts)

    def _commit_and_apply(self, index: int, data: bytes) -> AppliedBlock | None:
        entry = raft_pb2.Entry(term=SOLO_TERM, index=index, type=raft_pb2.ENTRY_TYPE_NORMAL,
                               data=data)
        self._store.write({Prefix.RAFT_LOG + u64(index): entry.SerializeToString()}, sync=True)
        return self._ledger.apply(data, SOLO_TERM, index, self._sign)

    def close(self) -> None:
        """Wait for the apply thread to finish."""
        self._executor.shutdown(wait=True)
