"""Operating ``tdx node start``: settings from the environment, logs and metrics.

- A bad TDX_* setting stops the node with one line naming the variable.
- TDX_LOG_FORMAT=json makes every log line a JSON object; TDX_METRICS serves the commit
  latency histogram, peers connected and follower lag.
- libp2p's log lines come with a timestamp and level, and a mesh peer that is not up yet
  (every normal start) is not an error at the default level; it shows at DEBUG.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cli_testing import free_port, make_genesis, needs_node, run, running_node, spawn_cli, stop
from tdx.sdk import template

pytestmark = needs_node


def _node_dir(tmp_path: Path) -> tuple[Path, str]:
    genesis = make_genesis(tmp_path, ("customs-de", "customs,issuer", True))
    address = f"127.0.0.1:{free_port()}"
    run("node", "init", "--genesis", str(genesis), "--key", str(tmp_path / "customs-de.key"),
        "--data", str(tmp_path / "node"), "--api", address)
    return tmp_path / "node", address


@pytest.mark.parametrize(("variable", "value"), [
    ("TDX_MAX_PENDING", "lots"), ("TDX_MAX_PENDING", "0"), ("TDX_RAFT_COMPACT_EVERY", "1e4"),
    ("TDX_LOG_LEVEL", "loud"), ("TDX_LOG_FORMAT", "xml"),
])
def test_a_bad_setting_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    data, _ = _node_dir(tmp_path)
    done = subprocess.run([sys.executable, "-m", "tdx.cli.main", "node", "start", "--data",
                           str(data)], env={**_env(), variable: value}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {variable}='{value}'")
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


def test_lower_case_log_level_json_logs_and_metrics(tmp_path: Path) -> None:
    data, address = _node_dir(tmp_path)
    metrics = f"127.0.0.1:{free_port()}"
    env = {"TDX_LOG_LEVEL": "debug", "TDX_LOG_FORMAT": "json", "TDX_METRICS": metrics}
    decl = tmp_path / "decl.json"
    decl.write_text(json.dumps(template("export_declaration")))
    with running_node(data, address, env=env):
        run("doc", "submit", str(decl), "--key", str(tmp_path / "customs-de.key"),
            "--node", address)
        with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as answer:
            text = answer.read().decode()
    assert "tdx_commit_latency_seconds_count 1.0" in text
    assert 'tdx_peers_connected{link="raft"} 0.0' in text
    assert 'tdx_peers_connected{link="mesh"} 0.0' in text
    assert "tdx_raft_max_follower_lag 0.0" in text
    entries = [json.loads(line) for line in (tmp_path / "node.log").read_text().splitlines()]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(e["level"] == "DEBUG" for e in entries)
    assert any("serving on" in e["message"] for e in entries)


def test_a_mesh_peer_not_up_yet_is_no_error_at_the_default_level(tmp_path: Path) -> None:
    root = tmp_path / "net"
    run("devnet", "up", "--dir", str(root), "--validators", "2", "--observers", "0",
        "--base-port", "0")
    run("devnet", "stop", "--dir", str(root))
    nodes = json.loads((root / "devnet.json").read_text())["nodes"]
    api = nodes[0]["api"]
    failed_dial = "Failed to open TCP stream"
    verbose = _run_alone(root, api, tmp_path / "debug.log", {"TDX_LOG_LEVEL": "DEBUG"},
                         until=failed_dial)
    assert any("DEBUG libp2p.transport" in line and failed_dial in line
               for line in verbose.splitlines())
    quiet = _run_alone(root, api, tmp_path / "info.log", {}, until="dialling member customs-2")
    assert failed_dial not in quiet
    # Every line, libp2p's too, starts with its time ("2026-12-02 13:20:11,792 INFO ...").
    assert all(line[:4].isdigit() and (" INFO " in line or " WARNING " in line)
               for line in quiet.splitlines())


def _run_alone(root: Path, api: str, log: Path, env: dict[str, str], *, until: str) -> str:
    """Start customs-1 without its peer until it serves and ``until`` is in its log; stop
    it; return its log (stderr)."""
    process = spawn_cli("node", "start", "--data", str(root / "customs-1"), log=log, env=env)
    try:
        run("node", "health", "--node", api, "--wait", "30")
        deadline = time.monotonic() + 20
        while until not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        # The peer is dialled as the mesh starts; a moment more lets a retry be logged too.
        time.sleep(0.5)
    finally:
        stop(process)
    return log.read_text()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TDX_")}
