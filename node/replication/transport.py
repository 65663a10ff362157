"""Validator-to-validator transport: signed batches of Raft messages over tdx.v1.PeerService.

Every batch is signed by the sending member's key (``PEER_DOMAIN``), names its network,
sender and receiver, and carries a sequence number that must grow per sender. A receiver
accepts a batch only from a current validator whose key signed it, refuses every other with
PERMISSION_DENIED and logs it. One sender task per peer drains a bounded queue, so a slow or
dead peer never holds up the others; what cannot be sent is dropped (Raft retransmits) and
reported to the core as unreachable.

Fault hook for tests and drills: ``isolated`` drops all peer traffic in and out (the node
process maps SIGUSR1 to isolate and SIGUSR2 to heal).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import DecodeError
from tdx.consensus import MessageType, RaftMessage, check_message
from tdx.node.ratelimit import RefusalLog
from tdx.node.replication.election import ElectionProofs
from tdx.node.replication.replay import ReplayWindow
from tdx.node.replication.seams import DetachedInbox, Inbox, Signature
from tdx.node.replication.wire import message_from_pb, message_to_pb
from tdx.sdk import PEER_DOMAIN, Identity, TlsError, Trust, aio_channel, ledger_pb2
from tdx.sdk import verify_signature as verify
from tdx.v1 import documents_pb2, peer_pb2, peer_pb2_grpc

log = logging.getLogger("tdx.node.replication.transport")

MAX_QUEUE = 10_000
MAX_SIGNATURES = 1_000
_VOTE_REQUESTS = frozenset({MessageType.VOTE, MessageType.PRE_VOTE})
MAX_BATCH_BYTES = 3 * 1024 * 1024
SEND_TIMEOUT = 3.0
CLOCK_SKEW_MS = 120_000
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", 8 * 1024 * 1024),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]



@dataclass
class _Peer:
    member_id: str
    address: str
    messages: deque[RaftMessage] = field(default_factory=deque)
    signatures: list[Signature] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    connected: bool = False
    last_error: str = ""
    task: asyncio.Task[None] | None = None
    channel: grpc.aio.Channel | None = None


class PeerTransport:
    """Sends and receives signed Raft traffic for one validator."""

    def __init__(self, identity: Identity, network: str) -> None:
        self.identity = identity
        self.network = network
        # Built before the driver: until the driver attaches as the inbox, nobody is a
        # validator here, so every batch is refused and nothing is sent.
        self._inbox: Inbox = DetachedInbox()
        self.elections = ElectionProofs(identity, network, self._validators,
                                        lambda: self._inbox.voter_sets())
        self._incarnations: dict[str, int] = {}
        self._peers: dict[str, _Peer] = {}
        self._sequence = int(time.time() * 1000) * 1_000_000
        self.isolated = False
        # How peers are pinned over TLS (the node's ledger trust); None: the process default.
        self.trust: Trust | None = None
        self._closed = False
        # Batches sent before this process started are stale: refusing them closes the
        # window in which captured batches could be replayed after a restart.
        self._started_ms = int(time.time() * 1000)
        self._replays = ReplayWindow(started_ms=self._started_ms, skew_ms=CLOCK_SKEW_MS)

    def attach(self, inbox: Inbox) -> None:
        """Hand checked batches to ``inbox`` (the driver) and ask it who the validators are."""
        self._inbox = inbox

    def _validators(self) -> list[documents_pb2.MemberRecord]:
        return self._inbox.peer_validators()

    # -- sending -------------------------------------------------------------------------

    def _peer(self, member_id: str) -> _Peer | None:
        peer = self._peers.get(member_id)
        if peer is not None:
            return peer
        record = next((v for v in self._validators() if v.id == member_id), None)
        if record is None or self._closed:
            return None
        address = record.peer_address or record.api_address
        if not address:
            log.error("validator %s has no address; cannot send to it", member_id)
            return None
        peer = _Peer(member_id=member_id, address=address)
        peer.task = asyncio.get_running_loop().create_task(self._sender(peer),
                                                           name=f"peer-{member_id}")
        self._peers[member_id] = peer
        return peer

    def send(self, messages: list[RaftMessage] | tuple[RaftMessage, ...]) -> None:
        """Queue messages for their receivers (dropped when isolated or the queue is full)."""
        for message in messages:
            peer = self._peer(message.to)
            if peer is None:
                continue
            if len(peer.messages) >= MAX_QUEUE:
                peer.messages.popleft()
            peer.messages.append(message)
            peer.wake.set()

    def broadcast_signature(self, height: int, signature: ledger_pb2.BlockSignature) -> None:
        """Send this node's signature of block ``height`` to every other validator."""
        for validator in self._validators():
            if validator.id == self.identity.member_id:
                continue
            peer = self._peer(validator.id)
            if peer is not None:
                peer.signatures.append((height, signature))
                del peer.signatures[:-MAX_SIGNATURES]
                peer.wake.set()

    async def _sender(self, peer: _Peer) -> None:
        backoff = 0.05
        while not self._closed:
            await peer.wake.wait()
            peer.wake.clear()
            while (peer.messages or peer.signatures) and not self._closed:
                messages = self._drain(peer)
                signatures, peer.signatures = peer.signatures, []
                if self.isolated:
                    continue
                try:
                    ok = await self._deliver_batch(peer, messages, signatures)
                except Exception:
                    log.exception("sending to validator %s failed", peer.member_id)
                    ok = False
                if not ok:
                    # Signatures are not sent twice by anyone else: keep them (bounded).
                    peer.signatures = (signatures + peer.signatures)[-MAX_SIGNATURES:]
                for message in messages:
                    if message.type is MessageType.SNAPSHOT:
                        self._inbox.report_snapshot(peer.member_id, not ok)
                if ok:
                    backoff = 0.05
                    continue
                self._inbox.report_unreachable(peer.member_id)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    @staticmethod
    def _drain(peer: _Peer) -> list[RaftMessage]:
        out: list[RaftMessage] = []
        size = 0
        while peer.messages:
            message = peer.messages[0]
            cost = sum(e.size() for e in message.entries) + 64
            if message.snapshot is not None:
                cost += len(message.snapshot.data)
            if out and size + cost > MAX_BATCH_BYTES:
                break
            out.append(peer.messages.popleft())
            size += cost
        return out

    async def _deliver_batch(self, peer: _Peer, messages: list[RaftMessage],
                             signatures: list[Signature]) -> bool:
        self._sequence += 1
        body = peer_pb2.PeerBatchBody(
            network=self.network, to=peer.member_id, sequence=self._sequence,
            sent_ms=int(time.time() * 1000),
            messages=[message_to_pb(m) for m in messages],
            block_signatures=[s for _, s in signatures],
            block_heights=[h for h, _ in signatures],
            vote_grants=self.elections.grants_for(messages), incarnation_ms=self._started_ms)
        proof = self.elections.proof_for(messages)
        if proof is not None:
            body.election_proof.CopyFrom(proof)
        setattr(body, "from", self.identity.member_id)
        raw = body.SerializeToString()
        batch = peer_pb2.PeerBatch(body=raw, signer=self.identity.public_key,
                                   signature=self.identity.sign(PEER_DOMAIN, raw))
        if peer.channel is None:
            try:
                # Plaintext on loopback, else TLS pinned to the key the ledger names there.
                peer.channel = aio_channel(peer.address, trust=self.trust,
                                           options=CHANNEL_OPTIONS)
            except TlsError as exc:
                if peer.last_error != "TLS":
                    log.warning("cannot reach validator %s: %s", peer.member_id, exc)
                peer.connected, peer.last_error = False, "TLS"
                return False
        stub = peer_pb2_grpc.PeerServiceStub(peer.channel)
        try:
            await stub.Send(peer_pb2.SendRequest(batch=batch), timeout=SEND_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            refused = "handshake failed" in (exc.details() or "").lower()
            error = "TLS" if refused else exc.code().name
            if peer.connected or peer.last_error != error:
                log.warning("cannot reach validator %s at %s: %s %s", peer.member_id,
                            peer.address, "it does not prove the member key the ledger "
                            "names for it:" if refused else exc.code().name, exc.details())
            peer.connected = False
            peer.last_error = error
            if refused:
                # The next try pins what the ledger names then (a rotation recorded since).
                await peer.channel.close()
                peer.channel = None
            return False
        if not peer.connected:
            log.info("connected to validator %s at %s", peer.member_id, peer.address)
        peer.connected = True
        peer.last_error = ""
        return True

    # -- receiving -----------------------------------------------------------------------

    def receive(self, batch: peer_pb2.PeerBatch) -> tuple[grpc.StatusCode, str]:
        """Check a batch and deliver its contents; return (status, reason) when refused."""
        if self.isolated:
            return grpc.StatusCode.UNAVAILABLE, "this node is isolated"
        sender = next((v for v in self._validators()
                       if bytes(v.public_key) == bytes(batch.signer)), None)
        if sender is None:
            return grpc.StatusCode.PERMISSION_DENIED, (
                f"key {bytes(batch.signer).hex()[:16]}... is not a validator of {self.network}")
        if not verify(bytes(batch.signer), PEER_DOMAIN, bytes(batch.body),
                      bytes(batch.signature)):
            return grpc.StatusCode.PERMISSION_DENIED, "batch signature does not verify"
        body = peer_pb2.PeerBatchBody()
        try:
            body.ParseFromString(batch.body)
        except DecodeError:
            return grpc.StatusCode.INVALID_ARGUMENT, "batch body is malformed"
        origin = getattr(body, "from")
        if body.network != self.network or origin != sender.id or (
            body.to != self.identity.member_id
        ):
            return grpc.StatusCode.PERMISSION_DENIED, (
                f"batch from {origin!r} to {body.to!r} on {body.network!r} does not match "
                f"signer {sender.id!r}, this node and network")
        stale = self._replays.refusal(sender.id, body.sent_ms, body.sequence,
                                      int(time.time() * 1000))
        if stale is not None:
            return grpc.StatusCode.PERMISSION_DENIED, stale
        try:
            messages = [message_from_pb(m) for m in body.messages]
        except ValueError:
            return grpc.StatusCode.INVALID_ARGUMENT, "batch carries an unknown message type"
        # tdx never transfers leadership: a vote request claiming a transfer (which would
        # skip the followers' leader lease) is taken as a plain one.
        messages = [replace(m, context=b"") if m.type in _VOTE_REQUESTS else m
                    for m in messages]
        if any(m.from_ != sender.id or m.to != self.identity.member_id for m in messages):
            return grpc.StatusCode.PERMISSION_DENIED, "a message names another sender"
        for message in messages:
            reason = check_message(message)
            if reason is not None:
                return grpc.StatusCode.INVALID_ARGUMENT, f"{message.type.name}: {reason}"
        if len(body.block_signatures) != len(body.block_heights) or (
                len(body.block_signatures) > MAX_SIGNATURES):
            return grpc.StatusCode.INVALID_ARGUMENT, (
                f"batch carries {len(body.block_signatures)} block signatures for "
                f"{len(body.block_heights)} heights (at most {MAX_SIGNATURES})")
        granted = sum(1 for m in messages
                      if m.type is MessageType.VOTE_RESPONSE and not m.reject)
        refused = self.elections.receive_grants(sender, body.vote_grants, self._inbox.term(),
                                                granted)
        if refused is None:
            refused = self.elections.check(
                sender.id, messages, self._inbox.term(),
                body.election_proof if body.HasField("election_proof") else None)
        if refused is not None:
            return grpc.StatusCode.PERMISSION_DENIED, refused
        # The replay window learns the batch only now, so a refused batch costs nothing.
        self._replays.remember(sender.id, body.sent_ms, body.sequence)
        if self._incarnations.get(sender.id, body.incarnation_ms) != body.incarnation_ms:
            self._inbox.report_restart(sender.id)
        self._incarnations[sender.id] = body.incarnation_ms
        signatures = list(zip(body.block_heights, body.block_signatures, strict=True))
        refused = self._inbox.deliver(sender.id, messages, signatures)
        if refused is not None:
            return grpc.StatusCode.INVALID_ARGUMENT, refused
        return grpc.StatusCode.OK, ""

    def won(self, term: int) -> None:
        """This node became leader of ``term``: send the votes that prove it from now on."""
        self.elections.won(term)

    def status(self) -> dict[str, tuple[str, bool]]:
        """Per peer: (address, connected)."""
        return {p.member_id: (p.address, p.connected) for p in self._peers.values()}

    async def close(self) -> None:
        """Stop the sender tasks and close the channels."""
        self._closed = True
        for peer in self._peers.values():
            if peer.task is not None:
                peer.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await peer.task
            if peer.channel is not None:
                await peer.channel.close()


class PeerServicer(peer_pb2_grpc.PeerServiceServicer):
    """tdx.v1.PeerService: hands checked batches to the transport."""

    def __init__(self, transport: PeerTransport) -> None:
        self._transport = transport
        self._refusals = RefusalLog(log, "peer batches")

    async def Send(self, request: peer_pb2.SendRequest,
                   context: grpc.aio.ServicerContext[Any, Any]) -> peer_pb2.SendResponse:
        code, reason = self._transport.receive(request.batch)
        if code != grpc.StatusCode.OK:
            if code != grpc.StatusCode.UNAVAILABLE:
                self._refusals.refused(f"{code.name} {re.sub(r'[0-9]+', 'N', reason)}",
                                       f"refused peer batch from {context.peer()}: {reason}",
                                       level=logging.WARNING)
            await context.abort(code, reason)
        return peer_pb2.SendResponse()
