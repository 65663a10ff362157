"""A validator whose ledger diverged: fenced off, said in its status, repaired from peers.

The divergence itself (a dishonest leader's equivocation) is marked the way the certifier
marks it, through ``Divergence.found`` on the stopped node's store; what follows runs the
real node, the real API fence, the real ``tdx node repair`` command and the real catch-up.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tdx.cli.main import cli
from tdx.node.ops.devnet import devnet_down, devnet_up, wait_for_leader
from tdx.node.ops.process import NodeProcess, pid_alive, spawn_node, wait_healthy
from tdx.node.replication.divergence import Divergence
from tdx.node.state.store import Store
from tdx.sdk import ApiError, Client, Identity, body_from_json, seal, template


@pytest.fixture
def net(tmp_path: Path) -> Iterator[dict[str, Any]]:
    manifest = devnet_up(tmp_path / "net", validators=3, observers=0, timeout=60)
    manifest["spawned"] = []
    try:
        yield manifest
    finally:
        for process in manifest["spawned"]:
            process.stop()
        devnet_down(tmp_path / "net")


def _submit(manifest: dict[str, Any], address: str) -> None:
    issuer = Identity.load(manifest["nodes"][0]["key"])
    with Client(address, timeout=10) as client:
        client.submit(seal(issuer, body_from_json(manifest["network"],
                                                  template("export_declaration"))))


def _stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)


def _caught_up(address: str, leader: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Client(address, timeout=5) as node, Client(leader, timeout=5) as lead:
            mine, theirs = node.status(), lead.status()
        if mine.height == theirs.height and mine.last_block_hash == theirs.last_block_hash:
            return
        time.sleep(0.2)
    raise AssertionError(f"{address} did not catch up with {leader}")


def test_a_diverged_validator_is_fenced_then_repaired_from_certified_peers(
        net: dict[str, Any]) -> None:
    validators = net["nodes"]
    leader_id = wait_for_leader([v["api"] for v in validators], 20)
    leader = next(v for v in validators if v["name"] == leader_id)
    follower = next(v for v in validators if v["name"] != leader_id)
    for _ in range(3):
        _submit(net, leader["api"])
    _caught_up(follower["api"], leader["api"])

    _stop(follower["pid"])
    data = Path(follower["data_dir"])
    store = Store(data / "ledger")
    try:
        Divergence(store).found(2, b"\x01" * 32, b"\x02" * 32)
    finally:
        store.close()

    process: NodeProcess = spawn_node(data, follower["api"], Path(follower["log"]))
    net["spawned"].append(process)
    wait_healthy(process)
    with Client(follower["api"], timeout=5) as client:
        assert client.status().diverged_height == 2
        with pytest.raises(ApiError) as refused:
            client.get_block(1)
    assert "tdx node repair" in str(refused.value)
    assert "disagrees with the block a majority" in Path(follower["log"]).read_text()
    shown = CliRunner().invoke(cli, ["status", "--node", follower["api"]])
    assert shown.exit_code == 0 and "ALERT: this node's block 2 disagrees" in shown.output

    # The network goes on without it meanwhile.
    _submit(net, leader["api"])
    process.stop()
    result = CliRunner().invoke(cli, ["node", "repair", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    assert list(data.glob("ledger.diverged-*")), "the diverged ledger is kept as evidence"

    process = spawn_node(data, follower["api"], Path(follower["log"]))
    net["spawned"].append(process)
    wait_healthy(process)
    _caught_up(follower["api"], leader["api"])
    with Client(follower["api"], timeout=5) as client:
        assert client.status().diverged_height == 0
        assert client.get_block(1).header
    _submit(net, follower["api"])
    _caught_up(follower["api"], leader["api"])
