"""Prometheus metrics of a node, served over HTTP when TDX_METRICS=HOST:PORT is set.

Each node process has its own registry (not the global one), so tests that run several
nodes in one process do not collide.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


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

    def serve(self, address: str) -> None:
        """Serve /metrics on HOST:PORT in a daemon thread."""
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host or "127.0.0.1", registry=self.registry)
