"""A ledger that disagrees with the certified chain: noticed, fenced off, and said loudly.

A validator applies whatever its Raft log commits; a dishonest leader (see docs/DESIGN.md,
"What a compromised validator can do") can make one node commit a block that the others do
not. Such a block never gathers a majority of signatures here, so the certifier fetches the
certified block of that height from peers to repair it, and that is where the disagreement
shows: a peer serves a block of the same height, signed by a majority, with another hash.

From then on the node is **diverged from that height**: the record is kept in the store (so a
restart does not forget it), a CRITICAL line names both hashes, the
``tdx_ledger_diverged_height`` gauge says the height, and the client API refuses every call
but ``Status`` with FAILED_PRECONDITION naming the height and the repair (``tdx node repair``,
which sets the diverged ledger aside and re-syncs from certified peers).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import grpc
import grpc.aio
from tdx.node.state.store import Store

log = logging.getLogger("tdx.node.replication.divergence")

KEY = b"meta/diverged"
ALWAYS_SERVED = frozenset({"/tdx.v1.LedgerService/Status"})


class Divergence:
    """Whether, and from which height, this ledger disagrees with the certified chain."""

    def __init__(self, store: Store) -> None:
        self._store = store
        raw = store.get(KEY)
        self.record: dict[str, Any] | None = None if raw is None else json.loads(raw)
        if self.record is not None:
            self._alert()

    @property
    def height(self) -> int:
        """The first height known to disagree, or 0."""
        return int(self.record["height"]) if self.record is not None else 0

    def found(self, height: int, own_hash: bytes, certified_hash: bytes) -> None:
        """Record that block ``height`` here is not the certified one (fsync'd)."""
        if self.record is not None and self.height <= height:
            return
        self.record = {"height": height, "own_hash": own_hash.hex(),
                       "certified_hash": certified_hash.hex(),
                       "detected_ms": int(time.time() * 1000)}
        self._store.write({KEY: json.dumps(self.record).encode()}, sync=True)
        self._alert()

    def _alert(self) -> None:
        assert self.record is not None
        log.critical("ALERT: this ledger's block %d (%s) disagrees with the block a majority "
                     "of validators certified (%s); refusing reads and submissions; repair "
                     "with `tdx node repair`", self.height, self.record["own_hash"][:16],
                     self.record["certified_hash"][:16])

    def refusal(self) -> str | None:
        """What the API answers while diverged, or None."""
        if self.record is None:
            return None
        return (f"this node's ledger disagrees with the certified chain from block "
                f"{self.height}; it serves nothing until an operator runs `tdx node repair` "
                "(ask another node meanwhile)")


Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


class FenceInterceptor(grpc.aio.ServerInterceptor):
    """Refuses client API calls (but Status) while the ledger is diverged."""

    def __init__(self, divergence: Divergence) -> None:
        self._divergence = divergence

    async def intercept_service(
            self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
            handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        method = handler_call_details.method
        reason = self._divergence.refusal()
        if reason is None or not method.startswith("/tdx.v1.LedgerService/") or (
                method in ALWAYS_SERVED):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler

        async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, reason)

        async def refuse_stream(request: Any,
                                context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, reason)
            yield  # pragma: no cover - abort raises

        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                refuse_stream, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return grpc.unary_unary_rpc_method_handler(
            refuse, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)
