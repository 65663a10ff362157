"""A one-validator network whose nodes run the libp2p mesh, with observers, for attacks
on the mesh and on member records; and an attacking member's own mesh.

``mesh_network`` writes keys and a genesis with ``tdx.node.ops.testing.write_network``, gives
the validator and each observer a ``p2p_address`` on a free 127.0.0.1 port (so their mesh
starts and they dial each other), sets any other member addresses the test asks for (a
malformed one, say), and starts the nodes; every node is stopped when the block ends.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tdx.network import Mesh, MeshLimits
from tdx.node.ops.config import init_node
from tdx.node.ops.process import NodeProcess, free_port, spawn_node, wait_healthy
from tdx.node.ops.testing import Members, write_network
from tdx.node.replication.mesh import p2p_address
from tdx.sdk import (
    ApiError,
    Client,
    Identity,
    block_hash,
    body_from_json,
    documents_pb2,
    genesis_json,
    ledger_pb2,
    seal,
    template,
)
from tdx.v1 import mesh_pb2

T = TypeVar("T")
NETWORK = "tdx-attack"
VALIDATOR = "de-customs"
MEMBERS: Members = {
    "de-customs": ("DE", ["customs"]),
    "de-chamber": ("DE", ["issuer"]),
    "acme-trading": ("DE", ["trader"]),
    "atlantic": ("DE", ["logistics"]),
    "aquaflow": ("DE", ["rights_holder"]),
    "watcher": ("DE", ["observer"]),
}
#: Fast redials, so that a test's own mesh connects at once.
LIMITS = MeshLimits(reconnect_min=0.1, reconnect_max=0.5, stop_grace=2.0)


@dataclass
class MeshNetwork:
    """A running validator (and observers) with mesh addresses, and every member's key."""

    folder: Path
    genesis: ledger_pb2.Genesis
    members: dict[str, Identity]
    nodes: dict[str, NodeProcess]
    p2p: dict[str, str]

    def api(self, name: str) -> str:
        """The API address of node ``name``."""
        return self.nodes[name].api_address

    def status(self, name: str) -> ledger_pb2.StatusResponse:
        """What node ``name`` reports."""
        with Client(self.api(name), timeout=3) as client:
            return client.status()

    def envelope(self, kind: str = "export_declaration",
                 signer: str = VALIDATOR) -> documents_pb2.Envelope:
        """A fresh valid document of ``kind`` signed by member ``signer``."""
        return seal(self.members[signer], body_from_json(NETWORK, template(kind)))

    def commit(self) -> int:
        """Submit one valid document at the validator; return its block's height."""
        with Client(self.api(VALIDATOR), timeout=10) as client:
            receipt = client.submit(self.envelope())
        assert receipt.result.status == ledger_pb2.RESULT_STATUS_ACCEPTED
        return receipt.height

    def assert_alive(self) -> None:
        """Every node still runs; else show the log of the one that stopped."""
        for name, node in self.nodes.items():
            assert node.alive(), f"{name} stopped:\n{node.log_tail(8)}"

    def converged(self, min_height: int, timeout: float = 20.0) -> int:
        """Wait until every node holds the same last block at ``min_height`` or above."""
        deadline = time.monotonic() + timeout
        seen: dict[str, tuple[int, str]] = {}
        while time.monotonic() < deadline:
            try:
                states = {name: self.status(name) for name in self.nodes}
            except ApiError as exc:
                seen["error"] = (-1, str(exc))
                time.sleep(0.2)
                continue
            seen = {n: (s.height, s.last_block_hash.hex()[:12]) for n, s in states.items()}
            heights = {s.height for s in states.values()}
            if len(set(seen.values())) == 1 and min(heights) >= min_height:
                return heights.pop()
            time.sleep(0.2)
        raise AssertionError(f"nodes did not converge at height >= {min_height}: {seen}")

    def restart(self, name: str) -> None:
        """Stop node ``name`` and start it again on the same data directory."""
        node = self.nodes[name]
        node.stop()
        self.nodes[name] = spawn_node(node.data_dir, node.api_address, node.log_path)
        wait_healthy(self.nodes[name])

    def block_hashes(self, name: str, height: int) -> list[bytes]:
        """Node ``name``'s block hashes for heights 1..``height``."""
        with Client(self.api(name), timeout=10) as client:
            return [block_hash(client.get_block(h).header) for h in range(1, height + 1)]


@contextmanager
def mesh_network(folder: Path, *, observers: Sequence[str] = (),
                 addresses: Mapping[str, str] | None = None) -> Iterator[MeshNetwork]:
    """Start the validator and ``observers`` (member ids with the observer role) with mesh
    addresses; ``addresses`` sets other members' ``p2p_address`` verbatim."""
    api = {name: f"127.0.0.1:{free_port()}" for name in (VALIDATOR, *observers)}
    genesis, genesis_path, members = write_network(
        folder, MEMBERS, validator=VALIDATOR, network=NETWORK, api_address=api[VALIDATOR])
    p2p = {name: p2p_address("127.0.0.1", free_port(), members[name].public_key)
           for name in api}
    for record in genesis.members:
        if record.id in p2p:
            record.p2p_address = p2p[record.id]
        record.p2p_address = (addresses or {}).get(record.id, record.p2p_address)
    genesis_path.write_text(genesis_json(genesis))
    net = MeshNetwork(folder, genesis, members, {}, p2p)
    try:
        for name, address in api.items():
            data = folder / name
            init_node(data, genesis_path, folder / f"{name}.key", address)
            net.nodes[name] = spawn_node(data, address, folder / f"{name}.log")
        for node in net.nodes.values():
            wait_healthy(node)
        yield net
    finally:
        for node in net.nodes.values():
            node.stop()


class Attacker:
    """A member's own mesh, run by the test on an asyncio loop in a thread of its own: it
    publishes what the test asks and serves ``junk`` to whoever fetches blocks from it."""

    def __init__(self, net: MeshNetwork, member: str, peers: Sequence[str]) -> None:
        self.junk: list[bytes] = []
        self.served = 0
        keys = frozenset(bytes(m.public_key) for m in net.genesis.members)
        self._peer_keys = [net.members[p].public_key for p in peers]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="attacker-loop")
        self.mesh = Mesh(seed=net.members[member].seed, network=NETWORK,
                         bootstrap=[net.p2p[p] for p in peers],
                         is_member=lambda key: key in keys, serve_blocks=self._serve,
                         limits=LIMITS)

    async def _serve(self, start: int, end: int) -> list[bytes]:
        self.served += 1
        return list(self.junk)

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        """Run ``work`` on the mesh's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def publish(self, topic: str, data: bytes) -> None:
        """Gossip ``data`` on ``topic``, signed by this member."""
        self.run(self.mesh.publish(topic, data))

    def lure(self, height: int, timeout: float = 10.0) -> None:
        """Announce blocks from ``height`` on (one more each time, so that no announcement
        is a duplicate) until a node fetches blocks from this mesh."""
        before = self.served
        deadline = time.monotonic() + timeout
        while self.served == before:
            assert time.monotonic() < deadline, "no node fetched blocks from the announcer"
            self.publish("blocks", mesh_pb2.BlockAnnouncement(height=height).SerializeToString())
            height += 1
            time.sleep(0.2)

    def start(self) -> None:
        """Start the mesh and wait until it is connected to its peers."""
        self.thread.start()
        self.run(self.mesh.start())

        async def connected() -> None:
            while not all(self.mesh.is_connected(k) for k in self._peer_keys):
                await asyncio.sleep(0.05)

        self.run(asyncio.wait_for(connected(), 15))

    def close(self) -> None:
        """Stop the mesh, the loop and its thread."""
        if self.thread.is_alive():
            self.run(self.mesh.stop())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()


@contextmanager
def attacker(net: MeshNetwork, member: str, peers: Sequence[str]) -> Iterator[Attacker]:
    """Member ``member``'s mesh, connected to the nodes ``peers``; stopped afterwards."""
    made = Attacker(net, member, peers)
    try:
        made.start()
        yield made
    finally:
        made.close()
