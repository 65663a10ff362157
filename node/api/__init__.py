"""The client API: tdx.v1.LedgerService and what stands between it and ordering.

``service`` (the servicer), ``errors`` (every request checked, every failure a clear gRPC
status), ``admission`` (signature and schema checks off the event loop, budgets per
connection and member), ``sequencer`` (batching, waiting for receipts) and ``metrics``.

Imports: tdx.sdk, tdx.v1, the ``state`` room, ``replication.forward`` (the forwarded-by
marker), ``replication.ordering`` (what orders a batch, and its typed status) and
tdx.node.errors / tdx.node.ratelimit. Never the ``ops`` room.
"""
