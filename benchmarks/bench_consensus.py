"""Proposals committed per second through the pure Raft core, in simulation.

Run: ``.venv/bin/python benchmarks/bench_consensus.py [--proposals N] [--payload BYTES]``

Every node is a ``RawNode`` over ``MemoryStorage`` in this one process; a reliable in-memory
network delivers each round's messages at the next round. Clients keep ``--window`` proposals
outstanding at the leader. "Batching on" lets an append carry up to 1 MiB of entries; "batching
off" sends one entry per append message (``max_size_per_msg=0``), so the difference is the
cost of the per-message path. The numbers measure the core's CPU cost (plus the trivial
in-memory host), not disk or network: a real node adds fsync and gRPC. Prints, asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import deque

from tdx.consensus import Config, EntryType, MemoryStorage, RaftMessage, RawNode, StateRole


class Simulation:
    """N nodes and a lossless network that delivers a round's messages in the next round."""

    def __init__(self, voters: int, batching: bool) -> None:
        self.ids = [f"n{i}" for i in range(1, voters + 1)]
        self.storages = {node_id: MemoryStorage() for node_id in self.ids}
        for storage in self.storages.values():
            storage.bootstrap(self.ids)
        self.nodes = {
            node_id: RawNode(
                Config(
                    id=node_id,
                    rng=random.Random(node_id),
                    max_size_per_msg=1024 * 1024 if batching else 0,
                    max_inflight_msgs=256,
                ),
                self.storages[node_id],
            )
            for node_id in self.ids
        }
        self.wire: deque[RaftMessage] = deque()
        self.applied_payloads = 0

    def round(self) -> None:
        """Deliver what was sent last round, then let every node handle its Ready."""
        for _ in range(len(self.wire)):
            message = self.wire.popleft()
            self.nodes[message.to].step(message)
        for node_id, node in self.nodes.items():
            if not node.has_ready():
                continue
            ready = node.ready()
            storage = self.storages[node_id]
            if ready.snapshot is not None:
                storage.apply_snapshot(ready.snapshot)
            storage.append(list(ready.entries))
            if ready.hard_state is not None:
                storage.set_hard_state(ready.hard_state)
            self.wire.extend(ready.messages)
            if node_id == self.ids[0]:
                self.applied_payloads += sum(
                    1 for e in ready.committed_entries if e.type is EntryType.NORMAL and e.data
                )
            node.advance(ready)

    def elect_first_node(self) -> RawNode:
        """Make n1 the leader and let the followers learn of it."""
        leader = self.nodes[self.ids[0]]
        leader.campaign()
        for _ in range(50):
            self.round()
            if leader.raft.role is StateRole.LEADER and not self.wire:
                return leader
        raise RuntimeError("no leader")


def measure(voters: int, batching: bool, proposals: int, window: int, payload: int) -> float:
    """Proposals committed (applied on the leader) per second."""
    sim = Simulation(voters, batching)
    leader = sim.elect_first_node()
    data = bytes(payload)
    proposed = 0
    start = time.perf_counter()
    while sim.applied_payloads < proposals:
        while proposed - sim.applied_payloads < window and proposed < proposals:
            leader.propose(data)
            proposed += 1
        sim.round()
    return proposals / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=20_000)
    parser.add_argument("--payload", type=int, default=256, help="bytes per proposal")
    parser.add_argument("--window", type=int, default=256, help="outstanding proposals")
    args = parser.parse_args()
    print(
        f"tdx.consensus: {args.proposals} proposals of {args.payload} B, "
        f"{args.window} outstanding, simulated lossless network"
    )
    print(f"{'voters':>6}  {'batching':>8}  {'committed/s':>12}")
    for voters in (3, 5):
        for batching in (True, False):
            rate = measure(voters, batching, args.proposals, args.window, args.payload)
            print(f"{voters:>6}  {'on' if batching else 'off':>8}  {rate:>12,.0f}")


if __name__ == "__main__":
    main()
