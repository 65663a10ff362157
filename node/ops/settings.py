"""Everything a node process is told, read once: its data folder's node.json and environment.

``NodeSettings.load`` is the one place that reads the node's environment variables, so that a
bad value stops the node with one line naming the variable before anything is opened, and the
composition root (``tdx.node.server``) is built from one typed value.

Variables: ``TDX_KEY_PASSPHRASE`` (an encrypted node key), ``TDX_RAFT_COMPACT_EVERY``,
``TDX_MAX_PENDING``, ``TDX_METRICS`` (HOST:PORT to serve Prometheus metrics on),
``TDX_P2P_LISTEN`` (the mesh's listen multiaddr, over node.json's ``p2p_listen``), and the
admission limits (``tdx.node.api.admission``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tdx.node.api.admission import AdmissionLimits
from tdx.node.api.sequencer import MAX_PENDING
from tdx.node.ops.config import NodeConfig, env_int, load_config
from tdx.node.replication.driver import COMPACT_EVERY


@dataclass(frozen=True)
class NodeSettings:
    """A node's configuration and tuning, as the composition root needs them."""

    data_dir: Path
    config: NodeConfig
    passphrase: str | None
    limits: AdmissionLimits
    compact_every: int
    max_pending: int
    metrics_address: str
    p2p_listen: str
    """Where the mesh listens when set ('' means: where the member's p2p_address says)."""

    @classmethod
    def load(cls, data_dir: Path, passphrase: str | None = None,
             env: Mapping[str, str] = os.environ) -> NodeSettings:
        """Read node.json and the environment; NodeError (one line) for a bad value."""
        config = load_config(data_dir)
        return cls(
            data_dir=data_dir, config=config,
            passphrase=passphrase or env.get("TDX_KEY_PASSPHRASE") or None,
            limits=AdmissionLimits.from_env(env),
            compact_every=env_int("TDX_RAFT_COMPACT_EVERY", COMPACT_EVERY),
            max_pending=env_int("TDX_MAX_PENDING", MAX_PENDING),
            metrics_address=env.get("TDX_METRICS", ""),
            p2p_listen=env.get("TDX_P2P_LISTEN") or config.p2p_listen)
