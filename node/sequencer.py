"""Group commit: submitted envelopes wait here and leave together as one block proposal.

The sequencer collects envelopes that passed the API's checks, and while one proposal is
being committed it gathers the next, so one Raft entry and one fsync carry many documents.
A submitter waits on a future that resolves with its receipt once the block is durable.
It bounds what waits: past ``max_pending`` envelopes it refuses new ones (back-pressure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tdx.sdk import ledger_pb2
from tdx.v1 import documents_pb2

from .ledger import AppliedBlock
from .rules import Refusal

log = logging.getLogger("tdx.node.sequencer")

Propose = Callable[[bytes], Awaitable[None]]


@dataclass
class _Waiting:
    envelope: documents_pb2.Envelope
    future: asyncio.Future[ledger_pb2.Receipt]


class Sequencer:
    """Assembles block proposals from waiting envelopes and resolves their receipts."""

    def __init__(
        self,
        propose: Propose,
        proposer: str,
        *,
        max_envelopes: int = 1024,
        max_bytes: int = 3 * 1024 * 1024,
        max_pending: int = 20_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._propose = propose
        self._proposer = proposer
        self.max_envelopes = max_envelopes
        self.max_bytes = max_bytes
        self.max_pending = max_pending
        self._clock = clock
        self._queue: deque[str] = deque()
        self._waiting: dict[str, _Waiting] = {}
        self._in_flight: dict[str, _Waiting] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Envelopes waiting or in flight."""
        return len(self._waiting) + len(self._in_flight)

    def start(self) -> None:
        """Start the proposing loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sequencer")

    async def stop(self) -> None:
        """Stop proposing and fail every waiter with UNAVAILABLE."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        refusal = Refusal("UNAVAILABLE", "node.stopping", "the node is shutting down")
        for waiting in [*self._waiting.values(), *self._in_flight.values()]:
            if not waiting.future.done():
                waiting.future.set_exception(refusal)
        self._waiting.clear()
        self._in_flight.clear()

    def waiter(self, doc_id: str) -> asyncio.Future[ledger_pb2.Receipt] | None:
        """The future of a document already waiting or in flight, if any."""
        found = self._waiting.get(doc_id) or self._in_flight.get(doc_id)
        return None if found is None else found.future

    def enqueue(self, doc_id: str, envelope: documents_pb2.Envelope) -> (
        asyncio.Future[ledger_pb2.Receipt]
    ):
        """Queue an envelope for the next proposal; return the future of its receipt.

        Raises Refusal(RESOURCE_EXHAUSTED) when too much is waiting, and
        Refusal(UNAVAILABLE) once stopping.
        """
        if self._closed:
            raise Refusal("UNAVAILABLE", "node.stopping", "the node is shutting down")
        if self.pending >= self.max_pending:
            raise Refusal("RESOURCE_EXHAUSTED", "node.overloaded",
                          f"{self.pending} documents are waiting to be ordered; retry shortly")
        future: asyncio.Future[ledger_pb2.Receipt] = (
            asyncio.get_running_loop().create_future())
        self._waiting[doc_id] = _Waiting(envelope, future)
        self._queue.append(doc_id)
        self._wake.set()
        return future

    def applied(self, block: AppliedBlock) -> None:
        """Resolve the waiters of the documents in an applied block."""
        for doc_id, receipt in block.receipts.items():
            waiting = self._in_flight.pop(doc_id, None) or self._waiting.pop(doc_id, None)
            if waiting is not None and not waiting.future.done():
                waiting.future.set_result(receipt)

    def fail_in_flight(self, refusal: Refusal) -> None:
        """Fail every in-flight waiter (the proposal was lost, for example on a new leader)."""
        for waiting in self._in_flight.values():
            if not waiting.future.done():
                waiting.future.set_exception(refusal)
        self._in_flight.clear()

    def _take(self) -> list[documents_pb2.Envelope]:
        taken: list[documents_pb2.Envelope] = []
        size = 0
        while self._queue and len(taken) < self.max_envelopes:
            doc_id = self._queue[0]
            waiting = self._waiting.get(doc_id)
            if waiting is None:
                self._queue.popleft()
                continue
            cost = waiting.envelope.ByteSize() + 8
            if taken and size + cost > self.max_bytes:
                break
            self._queue.popleft()
            del self._waiting[doc_id]
            self._in_flight[doc_id] = waiting
            taken.append(waiting.envelope)
            size += cost
        return taken

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                envelopes = self._take()
                if not envelopes:
                    break
                proposal = ledger_pb2.BlockProposal(
                    envelopes=envelopes,
                    proposed_ms=int(self._clock() * 1000),
                    proposer=self._proposer,
                )
                try:
                    await self._propose(proposal.SerializeToString())
                except Refusal as refusal:
                    self.fail_in_flight(refusal)
                except Exception:
                    log.exception("proposing a block failed")
                    self.fail_in_flight(Refusal("UNAVAILABLE", "node.propose_failed",
                                                "the node could not order the document"))
