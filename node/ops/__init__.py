"""Operator tooling: making, running and repairing nodes and local networks.

``config`` (a node's data folder and ``node init``), ``settings`` (node.json and the
environment read once: the composition root's input), ``tls`` (the node's certificates),
``process`` (running node processes), ``devnet`` and ``compose`` (local networks as
processes or containers), ``repair`` (re-sync a diverged ledger), ``logs`` (logging setup)
and ``testing`` (a shipped helper for tests).

Imports: anything below it (the ``state``, ``replication`` and ``api`` rooms, tdx.sdk,
tdx.network); nothing in tdx.node imports this room except the composition root
(``server``) and the package's public surface.
"""
