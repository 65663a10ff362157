"""A node serves Prometheus metrics when TDX_METRICS is set."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from solonet import NETWORK, make_solo_network
from tdx.node import init_node
from tdx.node.process import free_port, spawn_node, wait_healthy
from tdx.sdk import Client, PermissionDenied, body_from_json, seal, template


def test_metrics_count_blocks_documents_and_refusals(tmp_path: Path) -> None:
    _, genesis_path, members = make_solo_network(tmp_path)
    address = f"127.0.0.1:{free_port()}"
    metrics = f"127.0.0.1:{free_port()}"
    init_node(tmp_path / "data", genesis_path, tmp_path / "de-customs.key", address)
    node = spawn_node(tmp_path / "data", address, env={"TDX_METRICS": metrics})
    try:
        wait_healthy(node)
        trader = members["acme-trading"]
        with Client(address) as client:
            client.submit_many([seal(trader, body_from_json(NETWORK, template("invoice")))
                                for _ in range(5)])
            with pytest.raises(PermissionDenied):
                client.submit(seal(trader, body_from_json(NETWORK,
                                                          template("origin_certificate"))))
        with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        assert 'tdx_documents_applied_total{result="accepted"} 5.0' in text
        assert 'tdx_submissions_refused_total{code="role.forbidden"} 1.0' in text
        assert "tdx_raft_is_leader 1.0" in text
        assert "tdx_ledger_height" in text
    finally:
        node.stop()
