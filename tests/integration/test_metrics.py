"""A node serves Prometheus metrics when TDX_METRICS is set."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from solonet import MEMBERS, NETWORK, VALIDATOR
from tdx.node.ops.process import free_port
from tdx.node.ops.testing import local_network
from tdx.sdk import Client, PermissionDenied, body_from_json, seal, template


def test_metrics_count_blocks_documents_and_refusals(tmp_path: Path) -> None:
    metrics = f"127.0.0.1:{free_port()}"
    with local_network(MEMBERS, validator=VALIDATOR, network=NETWORK, folder=tmp_path,
                       env={"TDX_METRICS": metrics}) as net:
        trader = net.members["acme-trading"]
        with Client(net.address) as client:
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
