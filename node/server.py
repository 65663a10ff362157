"""The node process: open the ledger, serve the API, commit blocks, stop cleanly."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tdx.sdk import BLOCK_DOMAIN, Identity, IdentityError, ledger_pb2
from tdx.v1 import ledger_pb2_grpc

from .api import LedgerServicer
from .config import check_store_genesis, load_config, open_genesis, paths
from .errors import NodeError
from .ledger import AppliedBlock, Ledger
from .sequencer import Sequencer
from .solo import SoloLog
from .store import Store

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
        genesis = open_genesis(data_dir, self.config)
        try:
            self.identity = Identity.load(paths(data_dir)["key"],
                                          passphrase or os.environ.get("TDX_KEY_PASSPHRASE"))
        except IdentityError as exc:
            raise NodeError(str(exc)) from None
        self.store = Store(paths(data_dir)["ledger"])
        try:
            check_store_genesis(self.store, genesis)
            self.ledger = Ledger(self.store)
        except Exception:
            self.store.close()
            raise
        self.server: grpc.aio.Server | None = None
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        """Serve until ``stop`` is called or SIGINT/SIGTERM arrives."""
        loop = asyncio.get_running_loop()
        applied_queue: asyncio.Queue[AppliedBlock] = asyncio.Queue()

        def on_applied(block: AppliedBlock) -> None:
            applied_queue.put_nowait(block)

        solo = SoloLog(self.store, self.ledger, block_signer(self.identity), on_applied,
                       self.identity.member_id)
        solo.recover()
        sequencer = Sequencer(solo.order, max_in_flight=1)
        servicer = LedgerServicer(self.ledger, sequencer, self.identity.member_id,
                                  lambda: {"role": "solo", "term": 1,
                                           "leader": self.identity.member_id})
        server = grpc.aio.server(options=SERVER_OPTIONS)
        ledger_pb2_grpc.add_LedgerServiceServicer_to_server(servicer, server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        names = (
            ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, server)
        address = self.config.api_address
        try:
            port = server.add_insecure_port(address)
        except RuntimeError:
            port = 0
        if port == 0:
            raise NodeError(f"cannot listen on {address}: the address is in use or not local")
        self.server = server
        await server.start()
        for name in ("", names[0]):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        sequencer.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopped.set)

        async def deliver() -> None:
            while True:
                block = await applied_queue.get()
                await servicer.on_applied(block)

        delivery = loop.create_task(deliver(), name="deliver-applied")
        log.info("node %s of %s serving on %s at height %d", self.identity.member_id,
                 self.ledger.network, address, self.ledger.height)
        print(f"tdx node {self.identity.member_id} ({self.ledger.network}) serving on "
              f"{address}, height {self.ledger.height}", flush=True)
        try:
            await self._stopped.wait()
        finally:
            log.info("stopping")
            await health_servicer.enter_graceful_shutdown()
            await sequencer.stop()
            await server.stop(grace=2.0)
            delivery.cancel()
            solo.close()
            self.store.close()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            log.info("stopped at height %d", self.ledger.height)

    def stop(self) -> None:
        """Ask ``run`` to return."""
        self._stopped.set()


def start_node(data_dir: Path, passphrase: str | None = None) -> None:
    """Run a node in the foreground until SIGINT or SIGTERM.

    Raises NodeError (one line) when the data directory is missing or corrupt, the genesis
    does not match, the key cannot be read, or the API address is in use.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=os.environ.get("TDX_LOG_LEVEL", "INFO"),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        node = Node(data_dir, passphrase)
        await node.run()

    asyncio.run(main())
