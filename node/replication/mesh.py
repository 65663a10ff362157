"""The node's side of the libp2p mesh (tdx.network): who may connect, what is gossiped.

- Membership gate: the mesh admits exactly the current members' keys; after a block that
  changes membership, removed members are disconnected.
- Validators announce each block they store (``blocks`` topic) and relay accepted
  IP-rights alerts (``alerts``); identical announcements from several validators are one
  message, since the mesh de-duplicates by content.
- Documents submitted at a non-validator node travel to the validators as one gossip
  message per batch (``documents``), and the leader orders them.
- Every node serves its blocks by height range to members that ask.

What members send is bounded here too: a gossiped alert is logged only once its envelope
checks out (others are counted), documents go through the leader's admission like any
submission, malformed gossip is counted, and a member whose mesh address does not parse
is skipped with one warning. Refusals are logged as counts (``ratelimit.RefusalLog``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from google.protobuf.message import DecodeError
from tdx.network import Mesh, MeshError, peer_id_of
from tdx.node.ratelimit import KeyedBuckets, RefusalLog
from tdx.node.state.ledger import AppliedBlock, Ledger
from tdx.node.state.rules import Refusal, check_envelope
from tdx.sdk import Identity, document_id, ledger_pb2
from tdx.v1 import documents_pb2, mesh_pb2

log = logging.getLogger("tdx.node.replication.mesh")

OnAnnouncement = Callable[[int, bytes], None]
OnDocuments = Callable[[list[documents_pb2.Envelope], bytes], Coroutine[Any, Any, None]]
MAX_SERVE_BLOCKS = 256
ANNOUNCE_SECONDS = 0.1
ALERTS_PER_SECOND = 20.0
ALERT_BURST = 100.0


def p2p_address(host: str, port: int, public_key: bytes) -> str:
    """The multiaddr at which a member's mesh is dialled."""
    return f"/ip4/{host}/tcp/{port}/p2p/{peer_id_of(public_key)}"


def listen_address(advertised: str) -> str:
    """The listen multiaddr for an advertised one (without its /p2p/ part)."""
    return advertised.split("/p2p/")[0]


class MeshLink:
    """Runs a node's Mesh and turns gossip into node events."""

    def __init__(self, identity: Identity, ledger: Ledger, listen: str) -> None:
        self.identity = identity
        self.ledger = ledger
        self._member_keys: frozenset[bytes] = frozenset()
        self.refresh_members()
        self.on_announcement: OnAnnouncement | None = None
        self.on_documents: OnDocuments | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._latest: tuple[int, bytes] = (0, b"")
        self._announcer: asyncio.Task[None] | None = None
        self._next_announce = 0.0
        self._dialled: set[str] = set()
        self._gossip_refusals = RefusalLog(log, "gossip messages")
        self._alert_budget = KeyedBuckets(ALERTS_PER_SECOND, ALERT_BURST, max_keys=1000)
        # Members are dialled once the mesh runs (``start``), one address at a time, so
        # that one member's address that does not parse costs a warning, not the start.
        self.mesh = Mesh(seed=identity.seed, network=ledger.network, listen=listen,
                         is_member=self._is_member, on_message=self._on_message,
                         serve_blocks=self._serve)

    async def start(self) -> None:
        """Start the mesh (raises MeshError, for example when the port is taken) and dial
        the members' mesh addresses."""
        await self.mesh.start()
        log.info("mesh %s listening on %s", self.mesh.peer_id, ", ".join(self.mesh.addresses))
        await self._dial_new_members()

    async def stop(self) -> None:
        """Stop the mesh and its thread."""
        if self._announcer is not None:
            self._announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._announcer
        await self.mesh.stop()

    # -- membership ----------------------------------------------------------------------

    def _is_member(self, public_key: bytes) -> bool:
        # Called on the mesh thread: reads one immutable set that is replaced whole.
        return public_key in self._member_keys

    def refresh_members(self) -> list[bytes]:
        """Take the ledger's current members; return the keys that are no longer members."""
        keys = frozenset(bytes(m.public_key) for m in self.ledger.members)
        removed = sorted(self._member_keys - keys)
        self._member_keys = keys
        return removed

    async def _dial_new_members(self) -> None:
        """Keep connections to members' mesh addresses not dialled yet (at start, and
        after governance admits a member or changes an address). An address that does not
        parse is skipped with one warning naming the member; the mesh goes on."""
        for member in self.ledger.members:
            address = member.p2p_address
            if not address or member.id == self.identity.member_id or (
                    address in self._dialled):
                continue
            self._dialled.add(address)
            try:
                await self.mesh.add_peer(address)
                log.info("dialling member %s's mesh address %s", member.id, address)
            except ValueError as exc:
                log.warning("member %s's p2p_address %r is not a mesh address (%s); not "
                            "dialling it", member.id, address[:200], exc)
            except MeshError as exc:
                log.warning("cannot dial member %s at %s: %s", member.id, address[:200], exc)

    async def block_applied(self, block: AppliedBlock, announce: bool) -> None:
        """After a block: follow membership changes; announce it and relay its alerts."""
        for key in self.refresh_members():
            log.info("disconnecting a removed member's mesh peer %s", peer_id_of(key))
            with contextlib.suppress(MeshError):
                await self.mesh.disconnect(key)
        await self._dial_new_members()
        if not announce:
            return
        # Gossip costs milliseconds of CPU a message, so announcements are coalesced: at
        # most one every ANNOUNCE_SECONDS, naming the newest block (an observer fetches
        # the whole range it misses anyway).
        self._latest = (block.height, block.hash)
        if self._announcer is None or self._announcer.done():
            self._announcer = asyncio.get_running_loop().create_task(self._announce())
        try:
            for envelope, kind in zip(block.block.envelopes, block.kinds, strict=False):
                if kind == "ip_rights_alert":
                    await self.mesh.publish("alerts", envelope.SerializeToString())
        except (MeshError, ValueError) as exc:
            log.debug("could not gossip the alerts of block %d: %s", block.height, exc)

    async def _announce(self) -> None:
        wait = self._next_announce - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._next_announce = asyncio.get_running_loop().time() + ANNOUNCE_SECONDS
        height, digest = self._latest
        try:
            await self.mesh.publish("blocks", mesh_pb2.BlockAnnouncement(
                height=height, block_hash=digest).SerializeToString())
        except (MeshError, ValueError) as exc:
            log.debug("could not announce block %d: %s", height, exc)

    async def relay(self, envelopes: list[documents_pb2.Envelope]) -> None:
        """Gossip documents submitted here toward the validators (one message a batch)."""
        data = ledger_pb2.SubmitBatchRequest(envelopes=envelopes).SerializeToString()
        await self.mesh.publish("documents", data)

    def validator_peers(self) -> list[bytes]:
        """Keys of validators this mesh is connected to."""
        return [bytes(v.public_key) for v in self.ledger.validators
                if v.id != self.identity.member_id and self.mesh.is_connected(
                    bytes(v.public_key))]

    def connected_peers(self) -> list[bytes]:
        """Keys of members this mesh is connected to."""
        return [p.public_key for p in self.mesh.peers() if p.connected]

    def status(self) -> list[ledger_pb2.PeerStatus]:
        """Mesh peers, for StatusResponse."""
        by_key = {bytes(m.public_key): m.id for m in self.ledger.members}
        return [ledger_pb2.PeerStatus(member_id=by_key.get(p.public_key, p.peer_id),
                                      address=p.address or "", connected=p.connected)
                for p in self.mesh.peers()]

    # -- gossip in -----------------------------------------------------------------------

    def _on_message(self, topic: str, data: bytes, sender: bytes) -> None:
        try:
            if topic == "blocks":
                announcement = mesh_pb2.BlockAnnouncement.FromString(data)
                if self.on_announcement is not None:
                    self.on_announcement(announcement.height, sender)
            elif topic == "alerts":
                self._alert(documents_pb2.Envelope.FromString(data), sender)
            elif topic == "documents" and self.on_documents is not None:
                batch = ledger_pb2.SubmitBatchRequest.FromString(data)
                task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
                    self.on_documents(list(batch.envelopes), sender))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except DecodeError:
            self._gossip_refusals.refused(
                f"{topic}.malformed", f"malformed {topic} gossip from {peer_id_of(sender)} "
                "dropped", level=logging.WARNING)

    def _alert(self, envelope: documents_pb2.Envelope, sender: bytes) -> None:
        """Log an IP-rights alert a member gossiped, once it checks out; count the rest.

        Each sender may have ALERTS_PER_SECOND alerts checked (bursts of ALERT_BURST); the
        check verifies a signature on the event loop, so a flood is counted unchecked.
        """
        if self._alert_budget.take(sender, 1):
            self._gossip_refusals.refused("alerts.rate_limited", "IP-rights alerts from "
                                          f"{peer_id_of(sender)} over the rate; not checked")
            return
        try:
            checked = check_envelope(envelope, self.ledger.network, self.ledger,
                                     self.ledger.verified)
        except Refusal as refusal:
            self._gossip_refusals.refused(
                f"alerts.{refusal.code}", f"IP-rights alert gossiped by {peer_id_of(sender)}: "
                f"{refusal.message}", level=logging.WARNING)
            return
        if checked.kind != "ip_rights_alert":
            self._gossip_refusals.refused("alerts.kind", f"a {checked.kind} gossiped as an "
                                          f"IP-rights alert by {peer_id_of(sender)}",
                                          level=logging.WARNING)
            return
        log.info("IP-rights alert gossiped by %s: document %s", peer_id_of(sender),
                 document_id(envelope.body))

    async def _serve(self, start: int, end: int) -> list[bytes]:
        """Blocks ``[start, end)`` from our store, for a member's fetch (the mesh clipped
        the range already); nothing past our height."""
        out: list[bytes] = []
        if start < 1 or start > self.ledger.height:
            return out
        for height in range(start, min(end, start + MAX_SERVE_BLOCKS)):
            raw = self.ledger.block_bytes(height)
            if raw is None:
                break
            out.append(raw)
        return out
