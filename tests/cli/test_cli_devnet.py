"""``tdx devnet`` up/stop/start/status on a fixed base port, a node restarted by hand, and the
``--devnet``/``TDX_DEVNET`` way to reach the devnet's leader.

One devnet of two validators serves the module (on a base port free at run time); the tests
run in file order and leave it running, and the fixture always stops it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_testing import as_json, json_error, needs_node, run, spawn_cli, stop
from tdx.node.ops.devnet import MESH_OFFSET, devnet_down
from tdx.node.ops.process import pid_alive, port_free

pytestmark = needs_node


def free_base(count: int) -> int:
    """A base port whose API and mesh ports for ``count`` nodes are free now."""
    for base in range(21000, 39000, 97):
        ports = [base + i for i in range(count)] + [base + MESH_OFFSET + i
                                                    for i in range(count)]
        if all(port_free(port) for port in ports):
            return base
    raise AssertionError("no free ports")


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    root = tmp_path_factory.mktemp("devnet") / "net"
    base = free_base(2)
    try:
        yield root, base
    finally:
        if (root / "devnet.json").exists():
            devnet_down(root)


def test_up_serves_on_the_base_port_and_says_how_to_reach_it(devnet: tuple[Path, int]) -> None:
    root, base = devnet
    out = run("devnet", "up", "--dir", str(root), "--validators", "2", "--observers", "0",
              "--base-port", str(base)).stdout
    assert f"127.0.0.1:{base} " in out and f"127.0.0.1:{base + 1} " in out
    assert f"export TDX_DEVNET={root}" in out
    manifest = json.loads((root / "devnet.json").read_text())
    assert manifest["base_port"] == base
    assert [n["p2p"].split("/tcp/")[1].split("/")[0] for n in manifest["nodes"]] == [
        str(base + MESH_OFFSET), str(base + MESH_OFFSET + 1)]
    again = as_json(run("devnet", "up", "--dir", str(root), "--json"))
    assert (again["resumed"], again["started"]) == (True, [])


def test_the_cli_finds_the_devnets_leader(devnet: tuple[Path, int]) -> None:
    root, _ = devnet
    by_option = as_json(run("status", "--devnet", str(root), "--json"))
    assert by_option["role"] == "leader"
    by_env = as_json(run("status", "--json", env={"TDX_DEVNET": str(root)}))
    assert by_env["member_id"] == by_option["member_id"]
    follower = next(n for n in json.loads((root / "devnet.json").read_text())["nodes"]
                    if n["name"] != by_option["member_id"])
    named = as_json(run("status", "--node", follower["api"], "--json",
                        env={"TDX_DEVNET": str(root)}))
    assert named["member_id"] == follower["name"]  # --node wins over TDX_DEVNET
    missing = run("status", "--devnet", str(root.parent / "nothing"), "--json", code=2)
    assert "holds no devnet" in json_error(missing)["message"]


def test_taken_ports_are_named_when_a_base_port_is_asked_for(devnet: tuple[Path, int],
                                                              tmp_path: Path) -> None:
    _, base = devnet  # the running devnet holds base and base + 1
    result = run("devnet", "up", "--dir", str(tmp_path / "other"), "--base-port", str(base),
                 "--validators", "1", "--observers", "0", code=1)
    assert f"{base}" in result.stderr and "in use" in result.stderr
    assert not (tmp_path / "other" / "devnet.json").exists()


def test_stop_then_a_node_restarted_by_hand_is_seen_and_stopped(
        devnet: tuple[Path, int]) -> None:
    root, base = devnet
    assert "stopped 2 node(s)" in run("devnet", "stop", "--dir", str(root)).stdout
    rows = as_json(run("devnet", "status", "--dir", str(root), "--json"))
    assert [r["running"] for r in rows] == [False, False]
    hand = spawn_cli("node", "start", "--data", str(root / "customs-1"),
                     log=root / "by-hand.log")
    try:
        run("node", "health", "--node", f"127.0.0.1:{base}", "--wait", "30")
        rows = as_json(run("devnet", "status", "--dir", str(root), "--json"))
        assert [(r["name"], r["running"], r["pid"]) for r in rows] == [
            ("customs-1", True, hand.pid), ("customs-2", False, 0)]
        down = as_json(run("devnet", "down", "--dir", str(root), "--json"))
        assert down == {"stopped": ["customs-1"]}
        assert hand.wait(15) is not None and not pid_alive(hand.pid)
    finally:
        stop(hand)


def test_start_resumes_the_stopped_devnet(devnet: tuple[Path, int]) -> None:
    root, base = devnet
    started = as_json(run("devnet", "start", "--dir", str(root), "--json"))
    assert sorted(started["started"]) == ["customs-1", "customs-2"]
    assert started["leader"] in ("customs-1", "customs-2")
    with socket.create_connection(("127.0.0.1", base + 1), timeout=5):
        pass
    rows = as_json(run("devnet", "status", "--dir", str(root), "--json"))
    assert all(r["running"] and r["status"]["leader"] == started["leader"] for r in rows)
