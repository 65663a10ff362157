"""``tdx node init`` and ``tdx node start``: set-up, a clean run, and one-line failures."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from cli_testing import (
    as_json,
    free_port,
    make_genesis,
    needs_node,
    run,
    running_node,
    spawn_cli,
    stop,
)

pytestmark = needs_node


@pytest.fixture
def genesis(tmp_path: Path) -> Path:
    return make_genesis(tmp_path, ("customs-de", "customs,issuer", True),
                        ("trader-a", "trader", False))


def test_init_prints_a_summary_and_refuses_to_init_twice(tmp_path: Path,
                                                         genesis: Path) -> None:
    data = tmp_path / "node"
    key = tmp_path / "customs-de.key"
    summary = as_json(run("node", "init", "--genesis", str(genesis), "--key", str(key),
                          "--data", str(data), "--api", "127.0.0.1:7999", "--json"))
    assert summary["member_id"] == "customs-de"
    assert summary["network"] == "tdx-test"
    assert summary["api_address"] == "127.0.0.1:7999"
    again = run("node", "init", "--genesis", str(genesis), "--key", str(key), "--data",
                str(data), code=1)
    assert "already initialized" in again.stderr


def test_init_refuses_a_key_that_is_not_a_member(tmp_path: Path, genesis: Path) -> None:
    stranger = tmp_path / "stranger.key"
    run("keys", "generate", "--out", str(stranger))
    result = run("node", "init", "--genesis", str(genesis), "--key", str(stranger), "--data",
                 str(tmp_path / "node"), code=1)
    assert "not a member" in result.stderr


def test_init_with_an_encrypted_key_asks_for_its_passphrase(tmp_path: Path) -> None:
    key = tmp_path / "customs-de.key"
    run("keys", "generate", "--out", str(key), "--encrypt", env={"TDX_KEY_PASSPHRASE": "pw"})
    genesis = make_genesis(tmp_path, ("customs-de", "customs", True))
    wrong = run("node", "init", "--genesis", str(genesis), "--key", str(key), "--data",
                str(tmp_path / "a"), input="nope\n", code=1)
    assert "wrong passphrase" in wrong.stderr
    run("node", "init", "--genesis", str(genesis), "--key", str(key), "--data",
        str(tmp_path / "b"), input="pw\n")


def test_init_with_a_missing_genesis_and_a_bad_api_address(tmp_path: Path,
                                                           genesis: Path) -> None:
    key = tmp_path / "customs-de.key"
    missing = run("node", "init", "--genesis", str(tmp_path / "none.json"), "--key", str(key),
                  "--data", str(tmp_path / "n"), code=1)
    assert "no such genesis file" in missing.stderr
    run("node", "init", "--genesis", str(genesis), "--key", str(key), "--data",
        str(tmp_path / "n"), "--api", "localhost", code=2)


def test_start_refuses_a_missing_data_dir(tmp_path: Path) -> None:
    result = run("node", "start", "--data", str(tmp_path / "nothing"), code=1)
    assert "tdx node init" in result.stderr


def test_start_refuses_a_port_in_use(tmp_path: Path, genesis: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        data = tmp_path / "node"
        run("node", "init", "--genesis", str(genesis), "--key",
            str(tmp_path / "customs-de.key"), "--data", str(data), "--api", address)
        log = tmp_path / "start.log"
        process = spawn_cli("node", "start", "--data", str(data), log=log)
        try:
            code = process.wait(30)
        finally:
            stop(process)
    lines = log.read_text().strip().splitlines()
    assert code == 1
    assert "Traceback" not in log.read_text()
    assert lines[-1].startswith("error: ") and address in lines[-1]


def test_start_serves_then_stops_on_sigterm_with_one_json_object(tmp_path: Path,
                                                                 genesis: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    data = tmp_path / "node"
    run("node", "init", "--genesis", str(genesis), "--key", str(tmp_path / "customs-de.key"),
        "--data", str(data), "--api", address)
    log = tmp_path / "json.log"
    process = spawn_cli("node", "start", "--data", str(data), "--json", log=log)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "serving" not in log.read_text():
            assert process.poll() is None, log.read_text()
            time.sleep(0.1)
        assert json.loads(run("status", "--node", address, "--json").stdout)["height"] == 0
    finally:
        code = stop(process)
    assert code == 0, log.read_text()
    assert json.loads(log.with_suffix(".out").read_text()) == {"data_dir": str(data),
                                                               "stopped": True}


def test_a_restarted_node_keeps_its_documents(tmp_path: Path, genesis: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    data = tmp_path / "node"
    key = tmp_path / "customs-de.key"
    run("node", "init", "--genesis", str(genesis), "--key", str(key), "--data", str(data),
        "--api", address)
    doc = tmp_path / "d.json"
    doc.write_text(run("doc", "template", "export_declaration").stdout)
    with running_node(data, address):
        receipt = as_json(run("doc", "submit", str(doc), "--key", str(key), "--node", address,
                              "--json"))
    assert "no node answers" in run("status", "--node", address, code=1).stderr
    with running_node(data, address):
        record = as_json(run("doc", "get", receipt["document_id"], "--node", address,
                             "--json"))
    assert record["receipt"]["block_hash"] == receipt["block_hash"]
