"""Fixtures for tests against real node processes on free 127.0.0.1 ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from solonet import SoloNetwork, make_solo_network
from tdx.node import init_node
from tdx.node.process import free_port, spawn_node, wait_healthy


@pytest.fixture
def solo(tmp_path: Path) -> Iterator[SoloNetwork]:
    """A running one-validator node; stopped (SIGTERM, then SIGKILL) after the test."""
    genesis, genesis_path, members = make_solo_network(tmp_path)
    address = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    init_node(data, genesis_path, tmp_path / "de-customs.key", address)
    node = spawn_node(data, address)
    network = SoloNetwork(tmp_path, genesis, genesis_path, members, node)
    try:
        wait_healthy(node)
        yield network
    finally:
        network.node.stop()
