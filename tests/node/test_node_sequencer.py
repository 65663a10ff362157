"""The group-commit sequencer: batching, limits, back-pressure, stop and failures.

Each test runs its own event loop (asyncio.run). The commit path is a fake ``Order``
function that records each batch and, unless held at a gate, answers a receipt per
document at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import pytest
from tdx.node.api.sequencer import Outcome, Sequencer
from tdx.node.state.ledger import AppliedBlock
from tdx.node.state.rules import Refusal
from tdx.sdk import document_id, documents_pb2, ledger_pb2


def envelope(i: int, size: int = 0) -> documents_pb2.Envelope:
    return documents_pb2.Envelope(body=i.to_bytes(4, "big") + b"\x00" * size,
                                  signer=b"\x01" * 32, signature=b"\x02" * 64)


def doc(e: documents_pb2.Envelope) -> str:
    return document_id(e.body)


class FakeOrder:
    """An Order function: records batches, waits at ``gate``, answers ``answer(batch)``."""

    def __init__(self) -> None:
        self.batches: list[list[documents_pb2.Envelope]] = []
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None
        self.entered = asyncio.Event()
        self.running = 0
        self.most_running = 0
        self.answer: Callable[[list[documents_pb2.Envelope]], Mapping[str, Outcome]] = (
            self.receipts)

    def receipts(self, batch: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
        height = len(self.batches)
        return {doc(e): ledger_pb2.Receipt(document_id=doc(e), height=height, position=pos)
                for pos, e in enumerate(batch)}

    async def __call__(self, batch: list[documents_pb2.Envelope]) -> Mapping[str, Outcome]:
        self.batches.append(list(batch))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        self.entered.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.fail is not None:
                raise self.fail
            return self.answer(batch)
        finally:
            self.running -= 1

    def sizes(self) -> list[int]:
        return [len(b) for b in self.batches]


Scenario = Callable[[Sequencer, FakeOrder], Awaitable[None]]


def run(scenario: Scenario, **limits: int) -> FakeOrder:
    async def main() -> FakeOrder:
        order = FakeOrder()
        sequencer = Sequencer(order, **limits)
        try:
            await scenario(sequencer, order)
        finally:
            await sequencer.stop()
        return order

    return asyncio.run(main())


def enqueue(sequencer: Sequencer, e: documents_pb2.Envelope) -> asyncio.Future[ledger_pb2.Receipt]:
    return sequencer.enqueue(doc(e), e)


async def refusal_of(future: asyncio.Future[ledger_pb2.Receipt]) -> Refusal:
    with pytest.raises(Refusal) as caught:
        await future
    return caught.value


def test_envelopes_waiting_together_leave_in_one_batch() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        futures = [enqueue(sequencer, envelope(i)) for i in range(50)]
        assert sequencer.pending == 50
        sequencer.start()
        receipts = await asyncio.gather(*futures)
        assert [r.position for r in receipts] == list(range(50))
        assert [r.document_id for r in receipts] == [doc(envelope(i)) for i in range(50)]
        assert sequencer.pending == 0

    order = run(scenario)
    assert order.sizes() == [50]
    assert order.batches[0] == [envelope(i) for i in range(50)]


def test_group_commit_gathers_while_a_batch_is_being_ordered() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        order.gate = asyncio.Event()
        sequencer.start()
        first = enqueue(sequencer, envelope(0))
        await order.entered.wait()
        rest = [enqueue(sequencer, envelope(i)) for i in range(1, 31)]
        assert sequencer.pending == 31
        order.gate.set()
        await asyncio.gather(first, *rest)

    assert run(scenario, max_in_flight=1).sizes() == [1, 30]


def test_at_most_max_in_flight_batches_are_ordered_at_once() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        order.gate = asyncio.Event()
        sequencer.start()
        futures = []
        for i in range(4):
            futures.append(enqueue(sequencer, envelope(i)))
            for _ in range(10):
                await asyncio.sleep(0)
        assert order.sizes() == [1, 1]  # the third and fourth wait for a free slot
        order.gate.set()
        await asyncio.gather(*futures)

    order = run(scenario, max_in_flight=2)
    assert order.most_running == 2
    assert order.sizes() == [1, 1, 2]


def test_max_envelopes_per_batch_keeps_order() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        futures = [enqueue(sequencer, envelope(i)) for i in range(35)]
        sequencer.start()
        await asyncio.gather(*futures)

    order = run(scenario, max_envelopes=10, max_in_flight=1)
    assert order.sizes() == [10, 10, 10, 5]
    assert [e for b in order.batches for e in b] == [envelope(i) for i in range(35)]


def test_max_bytes_per_batch() -> None:
    limit = 3500

    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        futures = [enqueue(sequencer, envelope(i, size=1000)) for i in range(7)]
        futures.append(enqueue(sequencer, envelope(99, size=5000)))
        futures.append(enqueue(sequencer, envelope(100)))
        sequencer.start()
        await asyncio.gather(*futures)

    order = run(scenario, max_bytes=limit, max_in_flight=1)
    for batch in order.batches:
        assert sum(e.ByteSize() + 8 for e in batch) <= limit or len(batch) == 1
    assert order.sizes() == [3, 3, 1, 1, 1]
    assert order.batches[3] == [envelope(99, size=5000)]


def test_back_pressure_refuses_beyond_max_pending() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        futures = [enqueue(sequencer, envelope(i)) for i in range(3)]
        with pytest.raises(Refusal) as caught:
            enqueue(sequencer, envelope(3))
        assert (caught.value.status, caught.value.code) == ("RESOURCE_EXHAUSTED",
                                                            "node.overloaded")
        sequencer.start()
        await asyncio.gather(*futures)
        await enqueue(sequencer, envelope(4))  # room again once they are answered

    assert run(scenario, max_pending=3).sizes() == [3, 1]


def test_envelopes_being_ordered_count_toward_max_pending() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        order.gate = asyncio.Event()
        sequencer.start()
        futures = [enqueue(sequencer, envelope(i)) for i in range(2)]
        await order.entered.wait()
        assert sequencer.pending == 2
        with pytest.raises(Refusal, match="waiting"):
            enqueue(sequencer, envelope(2))
        order.gate.set()
        await asyncio.gather(*futures)

    run(scenario, max_pending=2)


def test_applied_resolves_waiters_and_forgets_them() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        e = envelope(1)
        future = enqueue(sequencer, e)
        assert sequencer.waiter(doc(e)) is future
        receipt = ledger_pb2.Receipt(document_id=doc(e), height=9)
        other = ledger_pb2.Receipt(document_id="ff" * 32, height=9)
        sequencer.applied(AppliedBlock(height=9, hash=b"", block=ledger_pb2.Block(),
                                       receipts={doc(e): receipt, "ff" * 32: other},
                                       raft_index=9))
        assert await future == receipt
        assert sequencer.waiter(doc(e)) is None
        assert sequencer.pending == 0

    run(scenario)


def test_a_block_applied_before_order_returns_wins_over_a_missing_outcome() -> None:
    """On a follower the block can arrive (applied) before the forwarded call answers."""
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        def answer(batch: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
            sequencer.applied(AppliedBlock(height=1, hash=b"", block=ledger_pb2.Block(),
                                           receipts=dict(order.receipts(batch)), raft_index=1))
            return {}

        order.answer = answer
        future = enqueue(sequencer, envelope(0))
        sequencer.start()
        assert (await future).height == 1

    run(scenario)


def test_document_missing_from_the_answer_is_lost_and_retryable() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        order.answer = lambda batch: {doc(batch[0]): order.receipts(batch)[doc(batch[0])]}
        kept, lost = enqueue(sequencer, envelope(0)), enqueue(sequencer, envelope(1))
        sequencer.start()
        assert (await kept).position == 0
        refusal = await refusal_of(lost)
        assert (refusal.status, refusal.code) == ("UNAVAILABLE", "node.order_lost")

    run(scenario)


def test_refusal_outcome_for_one_document() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        def answer(batch: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
            out = dict(order.receipts(batch))
            out[doc(batch[1])] = Refusal("ALREADY_EXISTS", "document.duplicate", "dup")
            return out

        order.answer = answer
        good, dup = enqueue(sequencer, envelope(0)), enqueue(sequencer, envelope(1))
        sequencer.start()
        assert (await good).position == 0
        assert (await refusal_of(dup)).code == "document.duplicate"

    run(scenario)


def test_failing_order_fails_its_batch_and_the_sequencer_carries_on() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        order.fail = RuntimeError("disk on fire")
        futures = [enqueue(sequencer, envelope(i)) for i in range(3)]
        sequencer.start()
        for future in futures:
            refusal = await refusal_of(future)
            assert (refusal.status, refusal.code) == ("UNAVAILABLE", "node.order_failed")
        assert sequencer.pending == 0
        order.fail = None
        assert (await enqueue(sequencer, envelope(3))).height == 2

    assert run(scenario).sizes() == [3, 1]


def test_refusal_raised_by_order_reaches_every_waiter_of_the_batch() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        order.fail = Refusal("UNAVAILABLE", "cluster.proposal_dropped", "retry")
        futures = [enqueue(sequencer, envelope(i)) for i in range(2)]
        sequencer.start()
        for future in futures:
            assert (await refusal_of(future)).code == "cluster.proposal_dropped"

    run(scenario)


def test_stop_fails_waiting_and_in_flight_with_unavailable() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        order.gate = asyncio.Event()
        sequencer.start()
        in_flight = enqueue(sequencer, envelope(0))
        await order.entered.wait()
        waiting = [enqueue(sequencer, envelope(i)) for i in (1, 2, 3)]
        await sequencer.stop()
        for future in (in_flight, *waiting):
            refusal = await refusal_of(future)
            assert (refusal.status, refusal.code) == ("UNAVAILABLE", "node.stopping")
        assert sequencer.pending == 0
        with pytest.raises(Refusal) as caught:
            enqueue(sequencer, envelope(4))
        assert caught.value.status == "UNAVAILABLE"

    run(scenario, max_in_flight=1)


def test_stop_without_start() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        future = enqueue(sequencer, envelope(0))
        await sequencer.stop()
        assert "shutting down" in (await refusal_of(future)).message

    assert run(scenario).batches == []


def test_an_idle_sequencer_orders_nothing() -> None:
    async def scenario(sequencer: Sequencer, order: FakeOrder) -> None:
        sequencer.start()
        for _ in range(20):
            await asyncio.sleep(0)

    assert run(scenario).batches == []
