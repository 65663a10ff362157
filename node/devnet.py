"""A local test network: keys, a genesis and node processes on free 127.0.0.1 ports.

``devnet_up`` writes everything under one directory and records it in ``devnet.json``:
each node's name, role, API address, data directory, key file, log and pid, plus the
genesis. ``devnet_down`` stops exactly the processes that file lists (after checking that
each pid still runs a tdx node on that data directory), and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tdx.sdk import Client, Identity, TdxError, genesis_json
from tdx.v1 import documents_pb2, ledger_pb2

from .config import init_node
from .errors import NodeError
from .mesh import p2p_address
from .process import NodeProcess, free_port, spawn_node, wait_healthy

MANIFEST = "devnet.json"
COUNTRIES = ["DE", "FR", "NL", "BE", "IT", "ES", "PL"]
VALIDATOR_ROLES = ["customs", "issuer"]
OBSERVER_ROLES = ["trader", "logistics", "rights_holder"]
Progress = Callable[[str], None]


def devnet_up(root: Path, *, validators: int = 3, observers: int = 1,
              network: str = "tdx-devnet", timeout: float = 60.0,
              progress: Progress = lambda _: None) -> dict[str, Any]:
    """Create and start a devnet in ``root`` (which must not hold one); return the manifest.

    Waits until every node answers its health check and a leader is elected. On failure
    every started process is stopped again.
    """
    if not 1 <= validators <= 7:
        raise NodeError("a devnet has 1 to 7 validators")
    if not 0 <= observers <= 8:
        raise NodeError("a devnet has 0 to 8 observers")
    if (root / MANIFEST).exists():
        raise NodeError(f"{root} already holds a devnet; run `tdx devnet down --dir {root}` "
                        "or choose another directory")
    root.mkdir(parents=True, exist_ok=True)
    if any(p for p in root.iterdir()):
        raise NodeError(f"{root} is not empty; choose an empty or new directory")
    (root / "keys").mkdir(mode=0o700)
    names = [f"customs-{i + 1}" for i in range(validators)]
    names += [f"partner-{i + 1}" for i in range(observers)]
    genesis = ledger_pb2.Genesis(network=network, created_ms=int(time.time() * 1000))
    nodes: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        validator = i < validators
        identity = Identity.generate(name)
        key_path = root / "keys" / f"{name}.key"
        identity.save(key_path)
        api = f"127.0.0.1:{free_port()}"
        p2p = p2p_address("127.0.0.1", free_port(), identity.public_key)
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
        init_node(Path(node["data_dir"]), genesis_path, Path(node["key"]), node["api"])
    manifest: dict[str, Any] = {"network": network, "genesis": str(genesis_path),
                                "nodes": nodes}
    processes: list[NodeProcess] = []
    try:
        for node in nodes:
            process = spawn_node(Path(node["data_dir"]), node["api"], Path(node["log"]),
                                 detach=True)
            node["pid"] = process.pid
            processes.append(process)
            progress(f"started {node['role']} {node['name']} on {node['api']} "
                     f"(pid {process.pid})")
        _write_manifest(root, manifest)
        deadline = time.monotonic() + timeout
        for process in processes:
            wait_healthy(process, max(1.0, deadline - time.monotonic()))
        leader = wait_for_leader([n["api"] for n in nodes if n["role"] == "validator"],
                                 max(1.0, deadline - time.monotonic()))
        progress(f"leader elected: {leader}")
    except BaseException:
        for process in processes:
            process.stop()
        (root / MANIFEST).unlink(missing_ok=True)
        raise
    manifest["leader"] = leader
    _write_manifest(root, manifest)
    return manifest


def wait_for_leader(addresses: list[str], timeout: float) -> str:
    """Wait until the validators at ``addresses`` agree on one leader; return its id."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        leaders = set()
        for address in addresses:
            try:
                with Client(address, timeout=2) as client:
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
        raise NodeError(f"{root} holds no devnet ({MANIFEST} is missing)") from None
    except json.JSONDecodeError:
        raise NodeError(f"{root / MANIFEST} is corrupt") from None
    return manifest


def devnet_status(root: Path) -> list[dict[str, Any]]:
    """Each node of the devnet with whether its process runs and what it reports."""
    rows = []
    for node in load_manifest(root)["nodes"]:
        row = {**node, "running": _is_our_node(node), "status": None}
        if row["running"]:
            try:
                with Client(node["api"], timeout=2) as client:
                    answer = client.status()
                row["status"] = {"role": answer.role, "term": answer.term,
                                 "leader": answer.leader, "height": answer.height,
                                 "documents": answer.documents}
            except TdxError as exc:
                row["status"] = {"error": str(exc)}
        rows.append(row)
    return rows


def devnet_down(root: Path, timeout: float = 15.0) -> list[str]:
    """Stop the devnet's processes (SIGTERM, then SIGKILL); return the names stopped."""
    manifest = load_manifest(root)
    stopped = []
    running = [node for node in manifest["nodes"] if _is_our_node(node)]
    for node in running:
        os.kill(node["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for node in running:
        while _is_our_node(node) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _is_our_node(node):
            os.kill(node["pid"], signal.SIGKILL)
        stopped.append(node["name"])
    for node in manifest["nodes"]:
        node["pid"] = 0
    _write_manifest(root, manifest)
    return stopped


def _is_our_node(node: dict[str, Any]) -> bool:
    """Whether the recorded pid is still a tdx node running on that data directory."""
    pid = int(node.get("pid") or 0)
    if pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        _reap(pid)
        return False
    return b"tdx.node" in cmdline and node["data_dir"].encode() in cmdline


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, root / MANIFEST)
