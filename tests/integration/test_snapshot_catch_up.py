"""A validator that was down while the others compacted their Raft log catches up from a
snapshot: it fetches the blocks it missed and re-applies them to the same hashes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from tdx.node.ops.devnet import devnet_down, devnet_up, wait_for_leader
from tdx.node.ops.process import pid_alive, spawn_node, wait_healthy
from tdx.sdk import Client, Identity, body_from_json, seal, template


def test_restarted_validator_catches_up_from_a_snapshot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TDX_RAFT_COMPACT_EVERY", "20")
    root = tmp_path / "net"
    manifest = devnet_up(root, validators=3, observers=0, timeout=60)
    restarted = None
    try:
        nodes = manifest["nodes"]
        leader_id = wait_for_leader([n["api"] for n in nodes], 10)
        # customs-1 (DE) submits the DE export declarations; the lagging node is a follower.
        lagging = next(n for n in nodes if n["name"] not in (leader_id, "customs-1"))
        os.kill(lagging["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 15
        while pid_alive(lagging["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        leader = next(n for n in nodes if n["name"] == leader_id)
        issuer = Identity.load(next(n for n in nodes if n["name"] == "customs-1")["key"])
        with Client(leader["api"]) as client:
            for _ in range(60):
                client.submit(seal(issuer, body_from_json(manifest["network"],
                                                          template("export_declaration"))))
            target = client.status()
        assert "compacted the Raft log" in Path(leader["log"]).read_text()

        restarted = spawn_node(Path(lagging["data_dir"]), lagging["api"],
                               Path(lagging["log"]))
        wait_healthy(restarted)
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            with Client(lagging["api"]) as client:
                status = client.status()
            if status.height >= target.height:
                break
            time.sleep(0.2)
        assert status is not None and status.height >= target.height
        with Client(lagging["api"]) as client, Client(leader["api"]) as reference:
            for height in range(1, target.height + 1):
                assert client.get_block(height).header == reference.get_block(height).header
        assert "installing snapshot" in Path(lagging["log"]).read_text()
    finally:
        if restarted is not None:
            restarted.stop()
        devnet_down(root)
