"""Read-index bookkeeping: linearizable reads without writing to the log.

A leader that receives a read request at commit index ``c`` (once it has committed an entry of
its own term, so ``c`` covers everything committed by earlier leaders) records ``c`` and sends a
heartbeat carrying the request's id. When a quorum of voters has answered that heartbeat, no
other leader can have been elected at a higher term before the request arrived (that quorum
would have had to vote for it, and its members would have rejected our heartbeat), so nothing
can be committed that ``c`` misses: the host may serve the read once it has applied ``c``.
A deposed leader never gathers that quorum, so it never answers with stale data.

Requests are answered in order: an acknowledged request also releases every older one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tdx.consensus.messages import RaftMessage


@dataclass(slots=True)
class ReadIndexStatus:
    """One pending read: the request, the commit index when it arrived, who acknowledged it."""

    request: RaftMessage
    index: int
    acks: set[str] = field(default_factory=set)


class ReadOnly:
    """Pending read-index requests of one leader, by request id (``RaftMessage.context``)."""

    def __init__(self) -> None:
        self._pending: dict[bytes, ReadIndexStatus] = {}
        self._queue: list[bytes] = []

    def __len__(self) -> int:
        return len(self._queue)

    def add_request(self, index: int, request: RaftMessage) -> None:
        """Start confirming ``request`` at commit index ``index`` (duplicates are ignored)."""
        ctx = request.context
        if ctx in self._pending:
            return
        self._pending[ctx] = ReadIndexStatus(request=request, index=index)
        self._queue.append(ctx)

    def receive_ack(self, node_id: str, ctx: bytes) -> set[str] | None:
        """Record that ``node_id`` acknowledged the heartbeat for ``ctx``; returns all acks."""
        status = self._pending.get(ctx)
        if status is None:
            return None
        status.acks.add(node_id)
        return status.acks

    def advance(self, ctx: bytes) -> list[ReadIndexStatus]:
        """Release the request ``ctx`` and every request queued before it."""
        if ctx not in self._pending:
            return []
        position = self._queue.index(ctx)
        released_ids = self._queue[: position + 1]
        del self._queue[: position + 1]
        return [self._pending.pop(request_id) for request_id in released_ids]

    def last_pending_context(self) -> bytes:
        """The id of the newest pending request (heartbeats carry it), or ``b""``."""
        return self._queue[-1] if self._queue else b""
