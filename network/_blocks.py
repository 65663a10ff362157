"""Fetching blocks by height range over ``/tdx/{network}/blocks/1.0.0``.

One stream carries one exchange: the client writes a ``BlockRangeRequest`` and the server
answers with one ``BlockRangeResponse``, each framed by an unsigned varint length; then the
stream is closed. Heights run over ``[start, end)``.

Both sides keep the limits in ``MeshLimits``. The server clips the range to
``max_blocks``, packs blocks while they fit the smaller of its byte budget and the
client's, and answers BUSY to a peer that already has ``fetches_per_peer`` requests in
progress. The client clips its request the same way, waits for one of its own
``fetches_per_peer`` slots for that peer, reads no frame longer than its budget allows
(the length is checked before anything is decoded), and refuses an answer that starts at
another height, carries more blocks than it asked for, or more bytes than its budget.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable

import trio
from google.protobuf.message import DecodeError
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.io.exceptions import MessageTooLarge
from libp2p.peer.id import ID
from libp2p.utils.varint import encode_varint_prefixed, read_varint_prefixed_bytes_limited
from tdx.v1 import mesh_pb2

from ._config import MeshLimits
from ._errors import FetchFailed, PeerUnavailable
from ._gate import MemberCheck, is_member_id

log = logging.getLogger("tdx.network")

#: Reads blocks ``[start, end)`` for a peer; may return fewer (it has no more), never gaps.
Serve = Callable[[int, int], Awaitable[list[bytes]]]

#: The largest request frame (three varint fields and their tags).
REQUEST_LIMIT = 64
#: Per block in an answer: a field tag and a length of up to ten varint bytes.
BLOCK_OVERHEAD = 11
#: Status and start height of an answer.
ANSWER_OVERHEAD = 32

OK = mesh_pb2.BLOCK_RANGE_STATUS_OK
_REASONS = {
    mesh_pb2.BLOCK_RANGE_STATUS_INVALID_RANGE: "invalid_range",
    mesh_pb2.BLOCK_RANGE_STATUS_BUSY: "busy",
    mesh_pb2.BLOCK_RANGE_STATUS_UNAVAILABLE: "unavailable",
    mesh_pb2.BLOCK_RANGE_STATUS_TOO_LARGE: "too_large",
}


def block_protocol(network: str) -> TProtocol:
    """The stream protocol id blocks are fetched with on ``network``."""
    return TProtocol(f"/tdx/{network}/blocks/1.0.0")


def answer_limit(limits: MeshLimits) -> int:
    """The longest answer frame a client reads: its byte budget plus framing."""
    return limits.max_response_bytes + limits.max_blocks * BLOCK_OVERHEAD + ANSWER_OVERHEAD


def clip(start: int, end: int, limits: MeshLimits) -> int:
    """The end of ``[start, end)`` clipped to at most ``limits.max_blocks`` heights."""
    return min(end, start + limits.max_blocks)


class BlockServer:
    """The serving side: answers each request stream with the blocks ``serve`` reads."""

    def __init__(self, serve: Serve | None, limits: MeshLimits, is_member: MemberCheck) -> None:
        self._serve = serve
        self._limits = limits
        self._is_member = is_member
        self._in_progress: defaultdict[ID, int] = defaultdict(int)

    async def handle(self, stream: INetStream) -> None:
        """The stream handler: read one request, write one answer, close."""
        peer_id = stream.muxed_conn.peer_id
        if not is_member_id(self._is_member, peer_id):  # removed since it connected
            log.warning("refused a block request from %s: not a member", peer_id)
            with contextlib.suppress(Exception):
                await stream.reset()
            return
        try:
            with trio.fail_after(self._limits.fetch_timeout):  # the client waits no longer
                frame = await read_varint_prefixed_bytes_limited(stream, REQUEST_LIMIT)
                request = mesh_pb2.BlockRangeRequest.FromString(frame)
                answer = await self._answer(peer_id, request)
                await stream.write(encode_varint_prefixed(answer.SerializeToString()))
            await stream.close()
        except Exception as error:  # a broken or slow peer: drop its stream, keep serving
            log.info("block request from %s failed: %r", peer_id, error)
            with contextlib.suppress(Exception):
                await stream.reset()

    async def _answer(
        self, peer_id: ID, request: mesh_pb2.BlockRangeRequest
    ) -> mesh_pb2.BlockRangeResponse:
        start = request.start_height
        answer = mesh_pb2.BlockRangeResponse(start_height=start)
        if request.end_height <= start:
            answer.status = mesh_pb2.BLOCK_RANGE_STATUS_INVALID_RANGE
            return answer
        if self._serve is None:
            answer.status = mesh_pb2.BLOCK_RANGE_STATUS_UNAVAILABLE
            return answer
        if self._in_progress[peer_id] >= self._limits.fetches_per_peer:
            answer.status = mesh_pb2.BLOCK_RANGE_STATUS_BUSY
            return answer
        end = clip(start, request.end_height, self._limits)
        budget = self._limits.max_response_bytes
        if request.max_bytes:
            budget = min(budget, request.max_bytes)
        self._in_progress[peer_id] += 1
        try:
            with trio.fail_after(self._limits.serve_timeout):
                blocks = await self._serve(start, end)
        except Exception as error:
            log.warning("serve_blocks(%d, %d) failed: %r", start, end, error)
            answer.status = mesh_pb2.BLOCK_RANGE_STATUS_UNAVAILABLE
            return answer
        finally:
            self._in_progress[peer_id] -= 1
            if not self._in_progress[peer_id]:
                del self._in_progress[peer_id]
        total = 0
        for block in blocks[: end - start]:
            if total + len(block) > budget:
                break
            answer.blocks.append(block)
            total += len(block)
        if blocks and not answer.blocks:
            answer.status = mesh_pb2.BLOCK_RANGE_STATUS_TOO_LARGE
        else:
            answer.status = OK
        return answer


class BlockClient:
    """The fetching side, with at most ``fetches_per_peer`` requests per peer at once."""

    def __init__(self, host: IHost, protocol: TProtocol, limits: MeshLimits) -> None:
        self._host = host
        self._protocol = protocol
        self._limits = limits
        self._slots: dict[ID, trio.Semaphore] = {}

    async def fetch(self, peer_id: ID, start: int, end: int) -> list[bytes]:
        """Fetch blocks ``[start, end)`` (clipped to the limit) from a connected peer."""
        if start < 0 or end <= start:
            raise ValueError(f"an empty or negative height range [{start}, {end})")
        end = clip(start, end, self._limits)
        if not self._host.get_network().get_connections(peer_id):
            raise PeerUnavailable(f"no connection to {peer_id}")
        request = mesh_pb2.BlockRangeRequest(
            start_height=start, end_height=end, max_bytes=self._limits.max_response_bytes
        )
        try:
            with trio.fail_after(self._limits.fetch_timeout):
                async with self._slot(peer_id):
                    frame = await self._exchange(peer_id, request)
        except trio.TooSlowError:
            raise FetchFailed("timeout", f"no answer from {peer_id} in time") from None
        except MessageTooLarge as error:
            raise FetchFailed("protocol", f"{peer_id} sent an answer over the limit") from error
        except Exception as error:  # libp2p's dial, negotiation and stream errors
            raise FetchFailed("protocol", f"fetch from {peer_id} failed: {error!r}") from error
        return self._check(peer_id, frame, start, end)

    @contextlib.asynccontextmanager
    async def _slot(self, peer_id: ID) -> AsyncIterator[None]:
        slots = self._slots.get(peer_id)
        if slots is None:
            slots = self._slots[peer_id] = trio.Semaphore(self._limits.fetches_per_peer)
        async with slots:
            yield

    async def _exchange(self, peer_id: ID, request: mesh_pb2.BlockRangeRequest) -> bytes:
        stream = await self._host.new_stream(peer_id, [self._protocol])
        try:
            await stream.write(encode_varint_prefixed(request.SerializeToString()))
            frame = await read_varint_prefixed_bytes_limited(stream, answer_limit(self._limits))
        except BaseException:
            with contextlib.suppress(Exception):
                await stream.reset()
            raise
        with contextlib.suppress(Exception):
            await stream.close()
        return frame

    def _check(self, peer_id: ID, frame: bytes, start: int, end: int) -> list[bytes]:
        try:
            answer = mesh_pb2.BlockRangeResponse.FromString(frame)
        except DecodeError as error:
            raise FetchFailed("protocol", f"{peer_id} sent an undecodable answer") from error
        if answer.status != OK:
            reason = _REASONS.get(answer.status, "protocol")
            raise FetchFailed(reason, f"{peer_id} answered {reason} for [{start}, {end})")
        if answer.start_height != start:
            raise FetchFailed("protocol", f"{peer_id} answered from height {answer.start_height}")
        if len(answer.blocks) > end - start:
            raise FetchFailed("protocol", f"{peer_id} sent more blocks than asked for")
        if sum(len(block) for block in answer.blocks) > self._limits.max_response_bytes:
            raise FetchFailed("protocol", f"{peer_id} sent more bytes than the budget")
        return list(answer.blocks)
