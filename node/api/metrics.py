"""Prometheus metrics of a node, served over HTTP when TDX_METRICS=HOST:PORT is set.

Each node process has its own registry (not the global one), so tests that run several
nodes in one process do not collide.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from tdx.node.replication.ordering import OrderingStatus
from tdx.sdk import ledger_pb2

A = TypeVar("A")
R = TypeVar("R")
# Seconds: a commit on loopback takes milliseconds; a stalled cluster, seconds.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class NodeMetrics:
    """The counters, gauges and histograms a node updates."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.blocks = Counter("tdx_blocks_applied", "Blocks applied to the ledger", registry=r)
        self.documents = Counter("tdx_documents_applied", "Documents applied, by result",
                                 ["result"], registry=r)
        self.refusals = Counter("tdx_submissions_refused",
                                "Submissions refused before ordering, by reason code",
                                ["code"], registry=r)
        self.block_size = Histogram("tdx_block_documents", "Documents per block",
                                    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000), registry=r)
        self.height = Gauge("tdx_ledger_height", "Height of the last applied block",
                            registry=r)
        self.pending = Gauge("tdx_pending_documents", "Documents waiting to be ordered",
                             registry=r)
        self.term = Gauge("tdx_raft_term", "Current Raft term", registry=r)
        self.leader = Gauge("tdx_raft_is_leader", "1 if this node leads", registry=r)
        self.commit_latency = Histogram(
            "tdx_commit_latency_seconds",
            "Seconds from handing a batch to be ordered until its block is durable here",
            buckets=LATENCY_BUCKETS, registry=r)
        self.peers_connected = Gauge(
            "tdx_peers_connected",
            "Peers connected, by link: raft (validators exchanging Raft traffic with this "
            "one) and mesh (libp2p)", ["link"], registry=r)
        self.max_lag = Gauge(
            "tdx_raft_max_follower_lag",
            "Raft entries the slowest follower is behind (on the leader; 0 elsewhere)",
            registry=r)

    def observe_block(self, height: int, accepted: int, rejected: int) -> None:
        """Record an applied block."""
        self.blocks.inc()
        self.height.set(height)
        self.block_size.observe(accepted + rejected)
        self.documents.labels("accepted").inc(accepted)
        self.documents.labels("rejected").inc(rejected)

    def track(self, pending: Callable[[], int], term: Callable[[], int],
              leading: Callable[[], bool]) -> None:
        """Read these values whenever metrics are scraped."""
        self.pending.set_function(pending)
        self.term.set_function(term)
        self.leader.set_function(lambda: 1.0 if leading() else 0.0)

    def track_peers(self, status: Callable[[], OrderingStatus]) -> None:
        """Read peers connected and follower lag from the node's status when scraped
        (``peers`` and ``mesh_peers``: ``connected``; ``lag`` where this node leads)."""
        def connected(peers: Iterable[ledger_pb2.PeerStatus]) -> float:
            return float(sum(1 for peer in peers if peer.connected))

        self.peers_connected.labels("raft").set_function(lambda: connected(status().peers))
        self.peers_connected.labels("mesh").set_function(
            lambda: connected(status().mesh_peers))
        self.max_lag.set_function(
            lambda: float(max((peer.lag for peer in status().peers), default=0)))

    def serve(self, address: str) -> None:
        """Serve /metrics on HOST:PORT in a daemon thread."""
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host or "127.0.0.1", registry=self.registry)


def timed(order: Callable[[A], Awaitable[R]],
          metrics: Callable[[], NodeMetrics]) -> Callable[[A], Awaitable[R]]:
    """``order`` observing ``tdx_commit_latency_seconds`` of ``metrics()`` for each call that
    succeeds (``metrics`` is read at call time, so it may belong to an object made later)."""
    async def timed_order(batch: A) -> R:
        started = time.perf_counter()
        outcome = await order(batch)
        metrics().commit_latency.observe(time.perf_counter() - started)
        return outcome

    return timed_order
