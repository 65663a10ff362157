"""The node process: open the ledger, serve the API, commit blocks, stop cleanly.

A validator orders blocks with Raft (``cluster.RaftDriver``) and serves PeerService beside
LedgerService; an observer follows the validators (``follower.Follower``). Signals: SIGINT
and SIGTERM stop the node; SIGUSR1 cuts a validator off from its peers and SIGUSR2 restores
it (a fault hook for tests and drills).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tdx.consensus import StateRole
from tdx.network import MeshError
from tdx.node.api.admission import AdmissionLimits
from tdx.node.api.metrics import timed
from tdx.node.api.sequencer import MAX_PENDING, Sequencer
from tdx.node.api.service import LedgerServicer
from tdx.node.errors import NodeError
from tdx.node.ops.config import (
    check_store_genesis,
    env_int,
    load_config,
    open_genesis,
    paths,
    pinned_validators,
)
from tdx.node.ops.logs import configure_logging, json_logs
from tdx.node.ops.tls import NodeTls
from tdx.node.replication.clients import ClientPool
from tdx.node.replication.divergence import FenceInterceptor
from tdx.node.replication.driver import COMPACT_EVERY, RaftDriver
from tdx.node.replication.follower import Follower
from tdx.node.replication.mesh import MeshLink, listen_address
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


class Node:
    """One running node: store, ledger, commit path and gRPC server."""

    def __init__(self, data_dir: Path, passphrase: str | None = None) -> None:
        self.data_dir = data_dir
        self.config = load_config(data_dir)
        self.limits = AdmissionLimits.from_env()
        # Tuning knobs, from the environment so that tests and operators can set them (read
        # before the store is opened, so that a bad value leaves nothing open).
        self.compact_every = env_int("TDX_RAFT_COMPACT_EVERY", COMPACT_EVERY)
        self.max_pending = env_int("TDX_MAX_PENDING", MAX_PENDING)
        genesis = open_genesis(data_dir, self.config)
        try:
            self.identity = Identity.load(paths(data_dir)["key"],
                                          passphrase or os.environ.get("TDX_KEY_PASSPHRASE"))
        except IdentityError as exc:
            raise NodeError(str(exc)) from None
        self.store = Store(paths(data_dir)["ledger"])
        try:
            check_store_genesis(self.store, genesis)
            self.ledger = Ledger(self.store, EFFECTS)
        except Exception:
            self.store.close()
            raise
        self.server: grpc.aio.Server | None = None
        self._fatal: BaseException | None = None
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        """Serve until ``stop`` is called or SIGINT/SIGTERM arrives."""
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdx-io")
        tls = NodeTls.for_node(self.identity, self.ledger, self.config,
                               paths(self.data_dir)["tls"])
        # One channel per other node's API, opened on first use, pinned by the ledger.
        clients = ClientPool(tls.connect)
        applied_queue: asyncio.Queue[AppliedBlock] = asyncio.Queue()
        member = self.ledger.member(self.identity.member_id)
        if member is None and not self.config.join:
            raise NodeError(f"member {self.identity.member_id!r} is no longer a member of "
                            f"{self.ledger.network}")
        validator = member.validator if member is not None else self.config.join == "validator"
        driver: RaftDriver | None = None
        peers: PeerTransport | None = None
        follower: Follower | None = None
        mesh = self._mesh_link(member)
        if validator:
            identity = self.identity
            # The transport is made first; the driver, given it, attaches as its inbox.
            peers = PeerTransport(identity, self.ledger.network)
            peers.trust = tls.trust()
            driver = RaftDriver(member_id=identity.member_id, store=self.store,
                                ledger=self.ledger, raft=RaftStore(self.store),
                                transport=peers, sign=block_signer(identity),
                                on_applied=applied_queue.put_nowait, executor=executor,
                                clients=clients, compact_every=self.compact_every,
                                pinned=pinned_validators(self.data_dir))
            orderer: NodeOrderer = driver
            driver.on_fatal = self._fail
        else:
            follower = Follower(self.ledger, executor, applied_queue.put_nowait,
                                self.identity.member_id, mesh, clients=clients)
            orderer = follower
        order, role = orderer.order, orderer.status
        if mesh is not None:
            node_role, link = role, mesh

            def role() -> OrderingStatus:
                return replace(node_role(), mesh_peers=tuple(link.status()))

        # The servicer, made next, holds the metrics; nothing is ordered before start().
        sequencer = Sequencer(timed(order, lambda: servicer.metrics),
                              max_pending=self.max_pending,
                              settle_applied=driver is not None)
        servicer = LedgerServicer(self.ledger, sequencer, self.identity.member_id, role,
                                  self.limits)
        if mesh is not None and driver is not None:
            leader = driver

            async def on_documents(envelopes: list[documents_pb2.Envelope],
                                   sender: bytes) -> None:
                # Every validator hears relayed documents; the leader orders them.
                if leader.role is StateRole.LEADER:
                    await servicer.admit_relayed(envelopes, sender)

            mesh.on_documents = on_documents
        metrics_address = os.environ.get("TDX_METRICS")
        if metrics_address:
            servicer.metrics.track(lambda: sequencer.pending,
                                   lambda: role().term,
                                   lambda: role().role == "leader")
            servicer.metrics.track_peers(role)
            try:
                servicer.metrics.serve(metrics_address)
            except (OSError, ValueError) as exc:
                executor.shutdown(wait=False)
                raise NodeError(f"cannot serve metrics on {metrics_address}: {exc}") from None
        fence = [FenceInterceptor(driver.divergence)] if driver is not None else []
        server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=fence)
        ledger_pb2_grpc.add_LedgerServiceServicer_to_server(servicer, server)
        names = [ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name]
        if peers is not None:
            peer_pb2_grpc.add_PeerServiceServicer_to_server(PeerServicer(peers), server)
            names.append(peer_pb2.DESCRIPTOR.services_by_name["PeerService"].full_name)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        names += [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                  reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, server)
        addresses = [self.config.api_address]
        # Where peer traffic is served: node.json's peer listen address (NAT, containers),
        # else the member's advertised peer address.
        peer_listen = self.config.peer_listen or (member.peer_address if member else "")
        if driver is not None and peer_listen and (
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
                executor.shutdown(wait=False)
                raise NodeError(f"cannot listen on {address}: the address is in use or not "
                                "local")
        if mesh is not None:
            # Started last before serving: every check that can refuse to start is done, so
            # no mesh thread is left behind by a failed start.
            try:
                await mesh.start()
            except (MeshError, ValueError, OSError) as exc:
                executor.shutdown(wait=False)
                raise NodeError(f"cannot start the libp2p mesh: {exc} (it listens where this "
                                "member's p2p_address says; TDX_P2P_LISTEN overrides that)"
                                ) from None
        self.server = server
        await server.start()
        for name in ("", names[0]):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        sequencer.start()
        if driver is not None:
            driver.start()
        if follower is not None:
            follower.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopped.set)
        if peers is not None:
            loop.add_signal_handler(signal.SIGUSR1, self._isolate, peers, True)
            loop.add_signal_handler(signal.SIGUSR2, self._isolate, peers, False)

        async def deliver() -> None:
            while True:
                block = await applied_queue.get()
                await servicer.on_applied(block)
                if mesh is not None:
                    # The leader announces blocks; the others' announcements would be the
                    # same bytes at a CPU cost each.
                    await mesh.block_applied(block, announce=driver is not None and (
                        driver.role is StateRole.LEADER))

        delivery = loop.create_task(deliver(), name="deliver-applied")
        kind = "validator" if driver is not None else "observer"
        log.info("%s %s of %s serving on %s at height %d", kind, self.identity.member_id,
                 self.ledger.network, ", ".join(addresses), self.ledger.height)
        if not json_logs():  # JSON logs share the output: only JSON lines there
            print(f"tdx {kind} {self.identity.member_id} ({self.ledger.network}) serving on "
                  f"{', '.join(addresses)}, height {self.ledger.height}", flush=True)
        try:
            await self._stopped.wait()
        finally:
            log.info("stopping")
            await health_servicer.enter_graceful_shutdown()
            await sequencer.stop()
            await server.stop(grace=2.0)
            if driver is not None:
                await driver.stop()
            if follower is not None:
                await follower.stop()
            if mesh is not None:
                await mesh.stop()
            await clients.aclose()
            delivery.cancel()
            servicer.close()
            executor.shutdown(wait=True)
            self.store.close()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
                loop.remove_signal_handler(sig)
            log.info("stopped at height %d", self.ledger.height)
        if self._fatal is not None:
            raise NodeError(f"stopped after an internal failure: "
                            f"{type(self._fatal).__name__}: {self._fatal}")

    def _mesh_link(self, member: documents_pb2.MemberRecord | None) -> MeshLink | None:
        """The node's mesh, when it has a libp2p address (genesis or TDX_P2P_LISTEN)."""
        listen = os.environ.get("TDX_P2P_LISTEN") or self.config.p2p_listen or (
            listen_address(member.p2p_address) if member is not None and member.p2p_address
            else "")
        if not listen:
            return None
        return MeshLink(self.identity, self.ledger, listen)

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


def start_node(data_dir: Path, passphrase: str | None = None) -> None:
    """Run a node in the foreground until SIGINT or SIGTERM.

    Raises NodeError (one line) when the data directory is missing or corrupt, the genesis
    does not match, the key cannot be read, or the API address is in use.
    """
    configure_logging()

    async def main() -> None:
        node = Node(data_dir, passphrase)
        await node.run()

    asyncio.run(main())
