"""Group commit: submitted envelopes wait here and leave together as one ordered batch.

The sequencer collects envelopes that passed the API's checks and hands them, many at a
time, to an ``Order`` function (the Raft driver on a leader, a forwarder elsewhere). While
``max_in_flight`` batches are being ordered it gathers the next, so one Raft entry and one
fsync carry many documents. A submitter waits on a future that resolves with its receipt
once the block is durable. What waits is bounded: past ``max_pending`` envelopes new ones
are refused (back-pressure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

from tdx.node.state.ledger import AppliedBlock
from tdx.node.state.rules import Outcome, Refusal
from tdx.sdk import ledger_pb2
from tdx.v1 import documents_pb2

log = logging.getLogger("tdx.node.api.sequencer")

MAX_PENDING = 20_000
Order = Callable[[list[documents_pb2.Envelope]], Awaitable[Mapping[str, Outcome]]]
"""Orders a batch of envelopes; returns the outcome per document id it knows of."""


class Sequencer:
    """Batches waiting envelopes into ``Order`` calls and resolves their receipts."""

    def __init__(
        self,
        order: Order,
        *,
        max_envelopes: int = 1024,
        max_bytes: int = 3 * 1024 * 1024,
        max_pending: int = MAX_PENDING,
        max_in_flight: int = 2,
        settle_applied: bool = True,
    ) -> None:
        self._order = order
        self._settle_applied = settle_applied
        self.max_envelopes = max_envelopes
        self.max_bytes = max_bytes
        self.max_pending = max_pending
        self._slots = asyncio.Semaphore(max_in_flight)
        self._queue: deque[str] = deque()
        self._envelopes: dict[str, documents_pb2.Envelope] = {}
        self._futures: dict[str, asyncio.Future[ledger_pb2.Receipt]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def pending(self) -> int:
        """Envelopes waiting or being ordered."""
        return len(self._futures)

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sequencer")

    async def stop(self) -> None:
        """Stop ordering and fail every waiter with UNAVAILABLE."""
        self._closed = True
        for task in [*self._batches, *([self._task] if self._task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        refusal = Refusal("UNAVAILABLE", "node.stopping", "the node is shutting down")
        for doc_id in list(self._futures):
            self._settle(doc_id, refusal)

    def waiter(self, doc_id: str) -> asyncio.Future[ledger_pb2.Receipt] | None:
        """The future of a document already waiting or being ordered, if any."""
        return self._futures.get(doc_id)

    def enqueue(self, doc_id: str, envelope: documents_pb2.Envelope) -> (
        asyncio.Future[ledger_pb2.Receipt]
    ):
        """Queue an envelope; return the future of its receipt.

        Raises Refusal(RESOURCE_EXHAUSTED) when too much is waiting, and Refusal(UNAVAILABLE)
        once stopping.
        """
        if self._closed:
            raise Refusal("UNAVAILABLE", "node.stopping", "the node is shutting down")
        if self.pending >= self.max_pending:
            raise Refusal("RESOURCE_EXHAUSTED", "node.overloaded",
                          f"{self.pending} documents are waiting to be ordered; retry shortly")
        future: asyncio.Future[ledger_pb2.Receipt] = (
            asyncio.get_running_loop().create_future())
        self._futures[doc_id] = future
        self._envelopes[doc_id] = envelope
        self._queue.append(doc_id)
        self._wake.set()
        return future

    def applied(self, block: AppliedBlock) -> None:
        """Resolve the waiters of the documents in an applied block, unless made with
        ``settle_applied=False``.

        On a validator the first block that holds a waiting document is the one its own
        ordering made or forwarded. An observer catching up applies blocks that may hold
        a document submitted elsewhere before (a replay, which only its ``order`` can tell
        apart), so there only ``order``'s answer resolves a waiter.
        """
        if not self._settle_applied:
            return
        for doc_id, receipt in block.receipts.items():
            self._settle(doc_id, receipt)

    def _settle(self, doc_id: str, outcome: Outcome) -> None:
        future = self._futures.pop(doc_id, None)
        self._envelopes.pop(doc_id, None)
        if future is None or future.done():
            return
        if isinstance(outcome, Refusal):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def _take(self) -> tuple[list[str], list[documents_pb2.Envelope]]:
        ids: list[str] = []
        taken: list[documents_pb2.Envelope] = []
        size = 0
        while self._queue and len(taken) < self.max_envelopes:
            doc_id = self._queue[0]
            envelope = self._envelopes.pop(doc_id, None)
            if envelope is None:
                self._queue.popleft()
                continue
            cost = envelope.ByteSize() + 8
            if taken and size + cost > self.max_bytes:
                self._envelopes[doc_id] = envelope
                break
            self._queue.popleft()
            ids.append(doc_id)
            taken.append(envelope)
            size += cost
        return ids, taken

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._slots.acquire()
                ids, envelopes = self._take()
                if not envelopes:
                    self._slots.release()
                    break
                task = asyncio.get_running_loop().create_task(self._order_batch(ids, envelopes))
                self._batches.add(task)
                task.add_done_callback(self._batches.discard)

    async def _order_batch(self, ids: list[str], envelopes: list[documents_pb2.Envelope]) -> None:
        try:
            outcomes = await self._order(envelopes)
        except Refusal as refusal:
            outcomes = {doc_id: refusal for doc_id in ids}
        except Exception:
            log.exception("ordering a batch failed")
            failed = Refusal("UNAVAILABLE", "node.order_failed",
                             "the node could not order the document; retry")
            outcomes = {doc_id: failed for doc_id in ids}
        finally:
            self._slots.release()
        lost = Refusal("UNAVAILABLE", "node.order_lost",
                       "the document was not ordered in time; retry (a retry of a document "
                       "that did commit answers ALREADY_EXISTS with its receipt)")
        for doc_id in ids:
            self._settle(doc_id, outcomes.get(doc_id, lost))
