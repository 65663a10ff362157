"""The node process, and the one place where its rooms are wired together.

``NodeSettings`` (``ops/settings.py``: node.json and the environment, read once) -> ``Node``
(opens the store and ledger) -> ``Node.assemble`` (builds the parts in dependency order: TLS,
client pool, mesh link, the orderer, which is the Raft driver with its peer transport on a
validator or the follower on an observer, sequencer, API servicer, gRPC server and listeners,
and the applied-block fan-out ``Assembly.sinks``: receipts, metrics, subscribers, the mesh)
-> ``run`` (starts them, waits, stops them in reverse).

Signals: SIGINT and SIGTERM stop the node; SIGUSR1 cuts a validator off from its peers and
SIGUSR2 restores it (a fault hook for tests and drills).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tdx.consensus import StateRole
from tdx.network import MeshError
from tdx.node.api.fanout import Sink, api_sinks
from tdx.node.api.metrics import timed
from tdx.node.api.sequencer import Sequencer
from tdx.node.api.service import LedgerServicer
from tdx.node.errors import NodeError
from tdx.node.ops.config import check_store_genesis, open_genesis, paths, pinned_validators
from tdx.node.ops.logs import configure_logging, json_logs
from tdx.node.ops.settings import NodeSettings
from tdx.node.ops.tls import NodeTls
from tdx.node.replication.clients import ClientPool
from tdx.node.replication.divergence import FenceInterceptor
from tdx.node.replication.driver import RaftDriver
from tdx.node.replication.follower import Follower
from tdx.node.replication.mesh import MeshLink, OnDocuments, listen_address
from tdx.node.replication.ordering import NodeOrderer, OrderingStatus
from tdx.node.replication.storage import RaftStore
from tdx.node.replication.transport import PeerServicer, PeerTransport
from tdx.node.state.ledger import AppliedBlock, Ledger
from tdx.node.state.store import Store
from tdx.node.state.workflows import EFFECTS
from tdx.sdk import BLOCK_DOMAIN, Identity, IdentityError, ledger_pb2
from tdx.v1 import documents_pb2, ledger_pb2_grpc, peer_pb2, peer_pb2_grpc

log = logging.getLogger("tdx.node")

MAX_RECEIVE_BYTES = 4 * 1024 * 1024
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    ("grpc.max_send_message_length", 8 * 1024 * 1024),
    # Never share a port with another process: a second node on the same port must fail.
    ("grpc.so_reuseport", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
]


def block_signer(identity: Identity) -> Any:
    """A function that signs a block hash as this node's member."""

    def sign(digest: bytes) -> ledger_pb2.BlockSignature:
        return ledger_pb2.BlockSignature(validator=identity.member_id,
                                         public_key=identity.public_key,
                                         signature=identity.sign(BLOCK_DOMAIN, digest))

    return sign


@dataclass
class Assembly:
    """The parts of one running node, built in dependency order by ``Node.assemble``."""

    executor: ThreadPoolExecutor
    clients: ClientPool
    orderer: NodeOrderer
    sequencer: Sequencer
    servicer: LedgerServicer
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    addresses: list[str]
    sinks: list[Sink]
    """The applied-block fan-out, in order: receipts, metrics, subscribers, the mesh."""
    applied: asyncio.Queue[AppliedBlock] = field(default_factory=asyncio.Queue)
    mesh: MeshLink | None = None
    peers: PeerTransport | None = None
    driver: RaftDriver | None = None
    follower: Follower | None = None


class Node:
    """One running node: store, ledger, commit path and gRPC server.

    Built from one ``NodeSettings``; ``run`` assembles the parts (``assemble``), starts them,
    waits for a stop, and stops them in reverse.
    """

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.config = settings.config
        genesis = open_genesis(self.data_dir, self.config)
        try:
            self.identity = Identity.load(paths(self.data_dir)["key"], settings.passphrase)
        except IdentityError as exc:
            raise NodeError(str(exc)) from None
        self.store = Store(paths(self.data_dir)["ledger"])
        try:
            check_store_genesis(self.store, genesis)
            self.ledger = Ledger(self.store, EFFECTS)
        except Exception:
            self.store.close()
            raise
        self.server: grpc.aio.Server | None = None
        self._fatal: BaseException | None = None
        self._stopped = asyncio.Event()

    # -- assembly --------------------------------------------------------------------------

    def assemble(self) -> Assembly:
        """Build every part of the node, nothing started yet; NodeError when one cannot be."""
        member = self.ledger.member(self.identity.member_id)
        if member is None and not self.config.join:
            raise NodeError(f"member {self.identity.member_id!r} is no longer a member of "
                            f"{self.ledger.network}")
        validator = member.validator if member is not None else self.config.join == "validator"
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdx-io")
        try:
            return self._assemble(member, validator, executor)
        except BaseException:
            executor.shutdown(wait=False)
            raise

    def _assemble(self, member: documents_pb2.MemberRecord | None, validator: bool,
                  executor: ThreadPoolExecutor) -> Assembly:
        settings = self.settings
        tls = NodeTls.for_node(self.identity, self.ledger, self.config,
                               paths(self.data_dir)["tls"])
        # One channel per other node's API, opened on first use, pinned by the ledger.
        clients = ClientPool(tls.connect)
        applied: asyncio.Queue[AppliedBlock] = asyncio.Queue()
        mesh = self._mesh_link(member)
        driver: RaftDriver | None = None
        peers: PeerTransport | None = None
        follower: Follower | None = None
        orderer: NodeOrderer
        if validator:
            # The transport is made first; the driver, given it, attaches as its inbox.
            peers = PeerTransport(self.identity, self.ledger.network)
            peers.trust = tls.trust()
            driver = RaftDriver(member_id=self.identity.member_id, store=self.store,
                                ledger=self.ledger, raft=RaftStore(self.store),
                                transport=peers, sign=block_signer(self.identity),
                                on_applied=applied.put_nowait, executor=executor,
                                clients=clients, compact_every=settings.compact_every,
                                pinned=pinned_validators(self.data_dir),
                                on_fatal=self._fail)
            orderer = driver
        else:
            follower = Follower(self.ledger, executor, applied.put_nowait,
                                self.identity.member_id, mesh, clients=clients)
            orderer = follower
        role = _with_mesh(orderer.status, mesh)
        # The servicer, made next, holds the metrics; nothing is ordered before start().
        sequencer = Sequencer(timed(orderer.order, lambda: servicer.metrics),
                              max_pending=settings.max_pending,
                              settle_applied=driver is not None)
        servicer = LedgerServicer(self.ledger, sequencer, self.identity.member_id, role,
                                  settings.limits)
        if mesh is not None and driver is not None:
            mesh.on_documents = _relay_to(driver, servicer)
        if settings.metrics_address:
            _serve_metrics(servicer, sequencer, role, settings.metrics_address)
        server, health_servicer = _grpc_server(servicer, peers, driver)
        addresses = self._listen(server, tls, member, driver is not None)
        sinks = api_sinks(servicer)
        if mesh is not None:
            sinks.append(_announce(mesh, driver))
        return Assembly(executor=executor, clients=clients, orderer=orderer,
                        sequencer=sequencer, servicer=servicer, server=server,
                        health=health_servicer, addresses=addresses, sinks=sinks,
                        applied=applied, mesh=mesh, peers=peers, driver=driver,
                        follower=follower)

    def _listen(self, server: grpc.aio.Server, tls: NodeTls,
                member: documents_pb2.MemberRecord | None, validator: bool) -> list[str]:
        addresses = [self.config.api_address]
        # Where peer traffic is served: node.json's peer listen address (NAT, containers),
        # else the member's advertised peer address.
        peer_listen = self.config.peer_listen or (member.peer_address if member else "")
        if validator and peer_listen and (
            peer_listen.rpartition(":")[2] != self.config.api_address.rpartition(":")[2]
        ):
            # A peer address on another port gets its own listener; on the API's port the
            # API listener (perhaps on 0.0.0.0) serves PeerService already.
            addresses.append(peer_listen)
        for address in addresses:
            try:
                port = tls.add_port(server, address)
            except RuntimeError:
                port = 0
            if port == 0:
                raise NodeError(f"cannot listen on {address}: the address is in use or not "
                                "local")
        return addresses

    def _mesh_link(self, member: documents_pb2.MemberRecord | None) -> MeshLink | None:
        """The node's mesh, when it has a libp2p address (genesis or TDX_P2P_LISTEN)."""
        listen = self.settings.p2p_listen or (
            listen_address(member.p2p_address) if member is not None and member.p2p_address
            else "")
        if not listen:
            return None
        return MeshLink(self.identity, self.ledger, listen)

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until ``stop`` is called or SIGINT/SIGTERM arrives."""
        parts = self.assemble()
        loop = asyncio.get_running_loop()
        try:
            await self._start(parts)
        except BaseException:
            parts.executor.shutdown(wait=False)
            raise
        delivery = loop.create_task(self._deliver(parts), name="deliver-applied")
        kind = "validator" if parts.driver is not None else "observer"
        where = ", ".join(parts.addresses)
        log.info("%s %s of %s serving on %s at height %d", kind, self.identity.member_id,
                 self.ledger.network, where, self.ledger.height)
        if not json_logs():  # JSON logs share the output: only JSON lines there
            print(f"tdx {kind} {self.identity.member_id} ({self.ledger.network}) serving on "
                  f"{where}, height {self.ledger.height}", flush=True)
        try:
            await self._stopped.wait()
        finally:
            await self._shutdown(parts, delivery)
        if self._fatal is not None:
            raise NodeError(f"stopped after an internal failure: "
                            f"{type(self._fatal).__name__}: {self._fatal}")

    async def _start(self, parts: Assembly) -> None:
        if parts.mesh is not None:
            # Started last before serving: every check that can refuse to start is done, so
            # no mesh thread is left behind by a failed start.
            try:
                await parts.mesh.start()
            except (MeshError, ValueError, OSError) as exc:
                raise NodeError(f"cannot start the libp2p mesh: {exc} (it listens where this "
                                "member's p2p_address says; TDX_P2P_LISTEN overrides that)"
                                ) from None
        self.server = parts.server
        await parts.server.start()
        for name in ("", LEDGER_SERVICE):
            await parts.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        parts.sequencer.start()
        if parts.driver is not None:
            parts.driver.start()
        if parts.follower is not None:
            parts.follower.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopped.set)
        if parts.peers is not None:
            loop.add_signal_handler(signal.SIGUSR1, self._isolate, parts.peers, True)
            loop.add_signal_handler(signal.SIGUSR2, self._isolate, parts.peers, False)

    @staticmethod
    async def _deliver(parts: Assembly) -> None:
        """Hand each durable block to the fan-out, in order."""
        while True:
            block = await parts.applied.get()
            for sink in parts.sinks:
                await sink(block)

    async def _shutdown(self, parts: Assembly, delivery: asyncio.Task[None]) -> None:
        log.info("stopping")
        loop = asyncio.get_running_loop()
        await parts.health.enter_graceful_shutdown()
        await parts.sequencer.stop()
        await parts.server.stop(grace=2.0)
        if parts.driver is not None:
            await parts.driver.stop()
        if parts.follower is not None:
            await parts.follower.stop()
        if parts.mesh is not None:
            await parts.mesh.stop()
        await parts.clients.aclose()
        delivery.cancel()
        parts.servicer.close()
        parts.executor.shutdown(wait=True)
        self.store.close()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
            loop.remove_signal_handler(sig)
        log.info("stopped at height %d", self.ledger.height)

    def _fail(self, exc: BaseException) -> None:
        """Stop the node after an internal failure; ``run`` then raises NodeError."""
        self._fatal = exc
        self._stopped.set()

    @staticmethod
    def _isolate(transport: PeerTransport, isolated: bool) -> None:
        transport.isolated = isolated
        log.warning("fault hook: peer traffic %s", "cut off" if isolated else "restored")

    def stop(self) -> None:
        """Ask ``run`` to return."""
        self._stopped.set()


LEDGER_SERVICE = ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name


def _with_mesh(status: Callable[[], OrderingStatus],
               mesh: MeshLink | None) -> Callable[[], OrderingStatus]:
    """The node's status, with the mesh's peers when it runs one."""
    if mesh is None:
        return status
    return lambda: replace(status(), mesh_peers=tuple(mesh.status()))


def _relay_to(driver: RaftDriver, servicer: LedgerServicer) -> OnDocuments:
    async def on_documents(envelopes: list[documents_pb2.Envelope], sender: bytes) -> None:
        # Every validator hears relayed documents; the leader orders them.
        if driver.role is StateRole.LEADER:
            await servicer.admit_relayed(envelopes, sender)

    return on_documents


def _serve_metrics(servicer: LedgerServicer, sequencer: Sequencer,
                   role: Callable[[], OrderingStatus], address: str) -> None:
    servicer.metrics.track(lambda: sequencer.pending, lambda: role().term,
                           lambda: role().role == "leader")
    servicer.metrics.track_peers(role)
    try:
        servicer.metrics.serve(address)
    except (OSError, ValueError) as exc:
        raise NodeError(f"cannot serve metrics on {address}: {exc}") from None


def _grpc_server(servicer: LedgerServicer, peers: PeerTransport | None,
                 driver: RaftDriver | None) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    fence = [FenceInterceptor(driver.divergence)] if driver is not None else []
    server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=fence)
    ledger_pb2_grpc.add_LedgerServiceServicer_to_server(servicer, server)
    names = [LEDGER_SERVICE]
    if peers is not None:
        peer_pb2_grpc.add_PeerServiceServicer_to_server(PeerServicer(peers), server)
        names.append(peer_pb2.DESCRIPTOR.services_by_name["PeerService"].full_name)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names += [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
              reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    return server, health_servicer


def _announce(mesh: MeshLink, driver: RaftDriver | None) -> Sink:
    async def announce(block: AppliedBlock) -> None:
        # The leader announces blocks; the others' announcements would be the same bytes at
        # a CPU cost each.
        await mesh.block_applied(block, announce=driver is not None and (
            driver.role is StateRole.LEADER))

    return announce


def start_node(data_dir: Path, passphrase: str | None = None) -> None:
    """Run a node in the foreground until SIGINT or SIGTERM.

    Raises NodeError (one line) when the data directory is missing or corrupt, the genesis
    does not match, the key cannot be read, or the API address is in use.
    """
    configure_logging()
    settings = NodeSettings.load(data_dir, passphrase)

    async def main() -> None:
        node = Node(settings)
        await node.run()

    asyncio.run(main())
