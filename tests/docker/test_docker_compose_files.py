"""What `tdx devnet compose` writes, the compose file that mounts it, and `tdx node health`.

No Docker engine needed: these check the files and the health command on this host.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tdx.cli.main import cli
from tdx.node.errors import NodeError
from tdx.node.ops.compose import (
    CONTAINER_PORT,
    IMAGE_UID,
    LISTEN_ADDRESS,
    OBSERVERS,
    VALIDATORS,
    compose_network,
    port_variable,
)
from tdx.node.ops.process import free_port
from tdx.sdk import load_genesis

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
NAMES = [*VALIDATORS, *OBSERVERS]


def test_the_files_name_each_node_by_its_service_and_listen_on_all_interfaces(
        tmp_path: Path) -> None:
    manifest = compose_network(tmp_path / "net", host_port=0)
    net = tmp_path / "net"
    genesis = load_genesis(net / "genesis.json")
    assert [m.id for m in genesis.members] == NAMES
    for member in genesis.members:
        # Advertised on the compose network; PeerService shares the API port.
        assert member.api_address == f"{member.id}:{CONTAINER_PORT}"
        assert member.peer_address == ""
        assert member.validator == (member.id in VALIDATORS)
    expected_uid = IMAGE_UID if os.geteuid() == 0 else os.getuid()
    assert manifest["uid"] == expected_uid
    for name in NAMES:
        data = net / "nodes" / name
        config = json.loads((data / "node.json").read_text())
        assert (config["member_id"], config["api_address"]) == (name, LISTEN_ADDRESS)
        key = (data / "node.key").stat()
        assert stat.S_IMODE(key.st_mode) == 0o600
        assert key.st_uid == expected_uid
        assert stat.S_IMODE((net / "keys" / f"{name}.key").stat().st_mode) == 0o600
    env = dict(line.split("=", 1) for line in (net / "compose.env").read_text().splitlines())
    assert env["TDX_NET_DIR"] == str(net.absolute())
    assert env["TDX_UID"] == str(expected_uid)
    ports = [env[port_variable(name)] for name in NAMES]
    assert len(set(ports)) == len(NAMES)
    assert [n["api"] for n in manifest["nodes"]] == [f"127.0.0.1:{p}" for p in ports]


def test_consecutive_host_ports_from_the_one_given(tmp_path: Path) -> None:
    manifest = compose_network(tmp_path / "net", host_port=27401)
    assert [n["api"] for n in manifest["nodes"]] == [
        f"127.0.0.1:{27401 + i}" for i in range(len(NAMES))]


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("")
    with pytest.raises(NodeError, match="not empty"):
        compose_network(tmp_path)


def test_never_runs_the_containers_as_root(tmp_path: Path) -> None:
    with pytest.raises(NodeError):
        compose_network(tmp_path / "net", uid=0)
    assert not (tmp_path / "net" / "keys").exists()


def _services(text: str) -> dict[str, str]:
    """Each service of the compose file and its lines (a YAML parser is no dependency)."""
    body = text.split("\nservices:\n", 1)[1].split("\nnetworks:", 1)[0]
    parts = re.split(r"^  ([a-z0-9-]+):\n", body, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_compose_file_runs_exactly_these_nodes_and_publishes_on_loopback_only() -> None:
    services = _services(COMPOSE_FILE.read_text())
    assert list(services) == NAMES
    for name, lines in services.items():
        assert f"hostname: {name}\n" in lines
        assert f"/nodes/{name}:/data" in lines
        assert f'ports: ["127.0.0.1:${{{port_variable(name)}:-' in lines
        assert f":{CONTAINER_PORT}\"]" in lines


def test_the_cli_writes_the_files_and_prints_the_manifest(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["devnet", "compose", "--dir", str(tmp_path / "net"),
                                      "--host-port", "0", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    assert [n["name"] for n in manifest["nodes"]] == NAMES
    assert Path(manifest["env_file"]).is_file()


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    """A gRPC server with only the standard health service, on a free loopback port."""
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    server.start()
    try:
        yield address, servicer
    finally:
        server.stop(None)


def test_health_exits_0_only_when_the_node_is_serving(
        health_server: tuple[str, health.HealthServicer]) -> None:
    address, servicer = health_server
    runner = CliRunner()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    ok = runner.invoke(cli, ["node", "health", "--node", address, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["status"] == "SERVING"
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    down = runner.invoke(cli, ["node", "health", "--node", address])
    assert down.exit_code == 1
    assert down.stderr.strip() == f"error: node {address} is not healthy: NOT_SERVING"


def test_health_of_a_node_that_is_not_there_is_one_line() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, ["node", "health", "--node", address, "--timeout", "1"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: node {address} is not healthy: UNAVAILABLE"
