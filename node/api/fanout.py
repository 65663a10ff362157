"""What the API does with each block once it is durable here: three entries of the node's
applied-block fan-out (``tdx.node.server.Assembly.sinks``), in this order: settle the
receipts waiting for it, count it in the metrics, wake the subscribers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tdx.node.api.metrics import NodeMetrics
from tdx.node.api.sequencer import Sequencer
from tdx.node.api.service import LedgerServicer
from tdx.node.state.ledger import AppliedBlock
from tdx.sdk import ledger_pb2

Sink = Callable[[AppliedBlock], Awaitable[None]]
"""Something told of each block once it is durable here."""


def settle(sequencer: Sequencer) -> Sink:
    """Resolve the receipts of the block's documents for the callers waiting on them."""
    async def sink(block: AppliedBlock) -> None:
        sequencer.applied(block)

    return sink


def observe(metrics: NodeMetrics) -> Sink:
    """Count the block and its documents by result."""
    async def sink(block: AppliedBlock) -> None:
        accepted = sum(r.status == ledger_pb2.RESULT_STATUS_ACCEPTED
                       for r in block.block.results)
        metrics.observe_block(block.height, accepted, len(block.block.results) - accepted)

    return sink


def notify(servicer: LedgerServicer) -> Sink:
    """Wake the Subscribe streams."""
    async def sink(block: AppliedBlock) -> None:
        await servicer.feed.notify()

    return sink


def api_sinks(servicer: LedgerServicer) -> list[Sink]:
    """The API's part of the fan-out, in order."""
    return [settle(servicer.sequencer), observe(servicer.metrics), notify(servicer)]
