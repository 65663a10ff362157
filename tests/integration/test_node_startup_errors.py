"""A node that cannot start says why in one line and exits non-zero, without a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from solonet import make_solo_network
from tdx.node import init_node
from tdx.node.ops.devnet import devnet_down, devnet_up
from tdx.node.ops.process import free_port


def _start(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tdx.node", str(data)], capture_output=True,
                          text=True, timeout=60)


def _one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], result.stderr


def _initialized(tmp_path: Path) -> tuple[Path, str]:
    _, genesis_path, _ = make_solo_network(tmp_path)
    address = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    init_node(data, genesis_path, tmp_path / "de-customs.key", address)
    return data, address


def test_missing_data_directory(tmp_path: Path) -> None:
    _one_line_error(_start(tmp_path / "nowhere"), "no such data directory")


def test_not_a_data_directory(tmp_path: Path) -> None:
    _one_line_error(_start(tmp_path), "not a node data directory")


def test_corrupt_config(tmp_path: Path) -> None:
    data, _ = _initialized(tmp_path)
    (data / "node.json").write_text("{not json")
    _one_line_error(_start(data), "corrupt")


def test_missing_ledger(tmp_path: Path) -> None:
    data, _ = _initialized(tmp_path)
    for path in sorted((data / "ledger").iterdir()):
        path.unlink()
    (data / "ledger").rmdir()
    _one_line_error(_start(data), "ledger is missing")


def test_corrupt_ledger(tmp_path: Path) -> None:
    data, _ = _initialized(tmp_path)
    for path in (data / "ledger").iterdir():
        if path.name.startswith("MANIFEST") or path.name == "CURRENT":
            path.write_bytes(b"garbage")
    result = _start(data)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "ledger" in result.stderr


def test_wrong_genesis(tmp_path: Path) -> None:
    data, _ = _initialized(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_genesis, _ = make_solo_network(other)
    (data / "genesis.json").write_text(other_genesis.read_text())
    _one_line_error(_start(data), "not the genesis this node was initialized with")


def test_port_in_use(tmp_path: Path) -> None:
    data, address = _initialized(tmp_path)
    host, port = address.rsplit(":", 1)
    with socket.socket() as holder:
        holder.bind((host, int(port)))
        holder.listen()
        _one_line_error(_start(data), "cannot listen on")


def test_mesh_port_in_use(tmp_path: Path) -> None:
    """A node whose libp2p port is taken says so in one line and leaves no thread behind
    (the process exits promptly)."""
    manifest = devnet_up(tmp_path / "net", validators=1, observers=0, timeout=60)
    devnet_down(tmp_path / "net")
    node = manifest["nodes"][0]
    port = int(node["p2p"].split("/tcp/")[1].split("/")[0])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        _one_line_error(_start(Path(node["data_dir"])), "cannot start the libp2p mesh")
