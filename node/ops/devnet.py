"""A local test network: keys, a genesis and node processes on 127.0.0.1.

``devnet_up`` creates a devnet in a directory, or starts again the one it holds, and records
it in ``devnet.json``: each node's name, role, API and libp2p addresses, data directory, key
file, log and pid, plus the genesis, the leader and the base port. With a base port P, node
i serves its API on P+i and its libp2p mesh on P+200+i (the CLI's default P is 7400); with 0
every port is a free one picked at run time (what tests use).

With ``tls`` every node serves TLS on loopback too (node.json ``tls: on``) and the validators
and observers pin each other by the genesis; ``devnet.json`` then says ``"tls": true``, and
whoever talks to the devnet through it (``devnet_trust``, the CLI's ``--devnet``) pins every
node to its member key.

``devnet_start`` starts the nodes of a stopped devnet and ``devnet_down`` stops them, keeping
every file. A node is found by the lock its process holds on its ledger
(``process.serving_pid``), so a node restarted by hand is seen and stopped too, and no other
process is ever signalled.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tdx.node.errors import NodeError
from tdx.node.ops.config import init_node
from tdx.node.ops.process import (
    NodeProcess,
    free_port,
    pid_alive,
    port_free,
    serving_pid,
    spawn_node,
    wait_healthy,
)
from tdx.node.replication.mesh import p2p_address
from tdx.sdk import Client, Identity, TdxError, Trust, genesis_json
from tdx.v1 import documents_pb2, ledger_pb2

MANIFEST = "devnet.json"
DEFAULT_BASE_PORT = 7400
MESH_OFFSET = 200
COUNTRIES = ["DE", "FR", "NL", "BE", "IT", "ES", "PL"]
VALIDATOR_ROLES = ["customs", "issuer"]
OBSERVER_ROLES = ["trader", "logistics", "rights_holder"]
Progress = Callable[[str], None]


def devnet_up(root: Path, *, validators: int = 3, observers: int = 1,
              network: str = "tdx-devnet", timeout: float = 60.0, base_port: int = 0,
              fallback: bool = False, tls: bool = False,
              progress: Progress = lambda _: None) -> dict[str, Any]:
    """Create and start a devnet in ``root``, or start the one it holds; return the manifest.

    A new devnet's ports start at ``base_port`` (0: free ports); with ``fallback``, ports
    that are taken make it use free ones instead (said through ``progress``), else they are
    an error. Waits until every node answers its health check and a leader is elected; on
    failure every process started here is stopped again. The returned manifest also says
    which nodes were started (``started``) and whether the devnet existed (``resumed``).
    ``tls`` makes a new devnet serve TLS on loopback too (see the module docstring).
    """
    if (root / MANIFEST).exists():
        return devnet_start(root, timeout=timeout, progress=progress)
    if not 1 <= validators <= 7:
        raise NodeError("a devnet has 1 to 7 validators")
    if not 0 <= observers <= 8:
        raise NodeError("a devnet has 0 to 8 observers")
    root.mkdir(parents=True, exist_ok=True)
    if any(p for p in root.iterdir()):
        raise NodeError(f"{root} is not empty; choose an empty or new directory")
    names = [f"customs-{i + 1}" for i in range(validators)]
    names += [f"partner-{i + 1}" for i in range(observers)]
    ports, base = _ports(len(names), base_port, fallback, progress)
    (root / "keys").mkdir(mode=0o700)
    genesis = ledger_pb2.Genesis(network=network, created_ms=int(time.time() * 1000))
    nodes: list[dict[str, Any]] = []
    for i, (name, (api_port, mesh_port)) in enumerate(zip(names, ports, strict=True)):
        validator = i < validators
        identity = Identity.generate(name)
        key_path = root / "keys" / f"{name}.key"
        identity.save(key_path)
        api = f"127.0.0.1:{api_port}"
        p2p = p2p_address("127.0.0.1", mesh_port, identity.public_key)
        genesis.members.append(documents_pb2.MemberRecord(
            id=name, name=f"{'Customs' if validator else 'Partner'} {name.split('-')[1]}",
            country_code=COUNTRIES[i % len(COUNTRIES)],
            roles=VALIDATOR_ROLES if validator else OBSERVER_ROLES,
            public_key=identity.public_key, api_address=api, peer_address=api,
            p2p_address=p2p, validator=validator))
        nodes.append({"name": name, "role": "validator" if validator else "observer",
                      "api": api, "p2p": p2p, "data_dir": str(root / name),
                      "key": str(key_path), "log": str(root / f"{name}.log"), "pid": 0})
    genesis_path = root / "genesis.json"
    genesis_path.write_text(genesis_json(genesis))
    for node in nodes:
        init_node(Path(node["data_dir"]), genesis_path, Path(node["key"]), node["api"],
                  tls="on" if tls else "auto")
    manifest: dict[str, Any] = {"network": network, "genesis": str(genesis_path),
                                "base_port": base, "tls": tls, "nodes": nodes}
    return _start(root, manifest, timeout, progress, created=True)


def devnet_start(root: Path, *, timeout: float = 60.0,
                 progress: Progress = lambda _: None) -> dict[str, Any]:
    """Start every node of the devnet in ``root`` that is not running; wait for a leader."""
    return _start(root, load_manifest(root), timeout, progress, created=False)


def _start(root: Path, manifest: dict[str, Any], timeout: float, progress: Progress,
           *, created: bool) -> dict[str, Any]:
    processes: list[NodeProcess] = []
    started: list[str] = []
    try:
        for node in manifest["nodes"]:
            pid = node_pid(node)
            if pid:
                node["pid"] = pid
                progress(f"{node['role']} {node['name']} is running on {node['api']} "
                         f"(pid {pid})")
                continue
            process = spawn_node(Path(node["data_dir"]), node["api"], Path(node["log"]),
                                 detach=True)
            node["pid"] = process.pid
            processes.append(process)
            started.append(node["name"])
            progress(f"started {node['role']} {node['name']} on {node['api']} "
                     f"(pid {process.pid})")
        _write_manifest(root, manifest)
        deadline = time.monotonic() + timeout
        for process in processes:
            wait_healthy(process, max(1.0, deadline - time.monotonic()))
        leader = wait_for_leader(
            [n["api"] for n in manifest["nodes"] if n["role"] == "validator"],
            max(1.0, deadline - time.monotonic()), devnet_trust(manifest))
        progress(f"leader: {leader}")
    except BaseException:
        for process in processes:
            process.stop()
        if created:
            (root / MANIFEST).unlink(missing_ok=True)
        else:
            for node in manifest["nodes"]:
                node["pid"] = node_pid(node)
            _write_manifest(root, manifest)
        raise
    manifest["leader"] = leader
    _write_manifest(root, manifest)
    return {**manifest, "started": started, "resumed": not created}


def _ports(count: int, base: int, fallback: bool,
           progress: Progress) -> tuple[list[tuple[int, int]], int]:
    """(API port, mesh port) for each of ``count`` nodes, and the base port used (0: none)."""
    if base:
        if not 1024 <= base <= 65535 - MESH_OFFSET - count:
            raise NodeError(f"base port {base} is out of range (1024 to "
                            f"{65535 - MESH_OFFSET - count})")
        wanted = [(base + i, base + MESH_OFFSET + i) for i in range(count)]
        taken = [port for pair in wanted for port in pair if not port_free(port)]
        if not taken:
            return wanted, base
        listed = ", ".join(str(port) for port in taken)
        if not fallback:
            raise NodeError(f"port(s) {listed} on 127.0.0.1 are in use; choose another "
                            "--base-port, or 0 for free ports")
        progress(f"port(s) {listed} are in use: using free ports instead")
    chosen: set[int] = set()
    while len(chosen) < 2 * count:
        chosen.add(free_port())
    ordered = sorted(chosen)
    return [(ordered[i], ordered[count + i]) for i in range(count)], 0


def devnet_trust(manifest: dict[str, Any]) -> Trust | None:
    """How to pin the nodes of a devnet made with TLS (by its genesis), or None (plaintext)."""
    if not manifest.get("tls"):
        return None
    return Trust.from_genesis(manifest["genesis"], tls_on_loopback=True)


def wait_for_leader(addresses: list[str], timeout: float, trust: Trust | None = None) -> str:
    """Wait until the validators at ``addresses`` agree on one leader; return its id.

    ``trust`` pins them when they serve TLS (``devnet_trust``).
    """
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        leaders = set()
        for address in addresses:
            try:
                with Client(address, timeout=2, retry=None, trust=trust) as client:
                    leaders.add(client.status().leader)
            except TdxError as exc:
                last = str(exc)
                leaders.add("")
        if len(leaders) == 1 and "" not in leaders:
            return leaders.pop()
        time.sleep(0.1)
    raise NodeError(f"no leader was elected in {timeout:.0f}s {last}".strip())


def load_manifest(root: Path) -> dict[str, Any]:
    """Read ``devnet.json``; raise NodeError when there is none."""
    try:
        manifest: dict[str, Any] = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        raise NodeError(f"{root} holds no devnet ({MANIFEST} is missing); create one with "
                        f"`tdx devnet up --dir {root}`") from None
    except json.JSONDecodeError:
        raise NodeError(f"{root / MANIFEST} is corrupt") from None
    return manifest


def devnet_status(root: Path) -> list[dict[str, Any]]:
    """Each node of the devnet with its pid (0: not running) and what it reports."""
    rows = []
    manifest = load_manifest(root)
    trust = devnet_trust(manifest)
    for node in manifest["nodes"]:
        pid = node_pid(node)
        row = {**node, "pid": pid, "running": bool(pid), "status": None}
        if pid:
            try:
                with Client(node["api"], timeout=2, retry=None, trust=trust) as client:
                    answer = client.status()
                row["status"] = {"role": answer.role, "term": answer.term,
                                 "leader": answer.leader, "height": answer.height,
                                 "documents": answer.documents}
            except TdxError as exc:
                row["status"] = {"error": str(exc)}
        rows.append(row)
    return rows


def devnet_down(root: Path, timeout: float = 15.0) -> list[str]:
    """Stop the devnet's nodes (SIGTERM, then SIGKILL); keep its files; return the names."""
    manifest = load_manifest(root)
    running = [(node, pid) for node in manifest["nodes"] if (pid := node_pid(node))]
    for _, pid in running:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for _, pid in running:
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    for node in manifest["nodes"]:
        node["pid"] = 0
    manifest.pop("leader", None)
    _write_manifest(root, manifest)
    return [node["name"] for node, _ in running]


def node_pid(node: dict[str, Any]) -> int:
    """The pid of the process running this devnet node, or 0.

    The process holding its ledger's lock, however it was started; else the recorded pid,
    when it is still a tdx node on that data directory (one that has not opened its ledger
    yet).
    """
    data_dir = Path(node["data_dir"])
    pid = serving_pid(data_dir)
    if pid:
        return pid
    recorded = int(node.get("pid") or 0)
    if not pid_alive(recorded):
        return 0
    try:
        cmdline = Path(f"/proc/{recorded}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return 0
    return recorded if b"tdx.node" in cmdline and str(data_dir).encode() in cmdline else 0


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, root / MANIFEST)
