"""The files a containerised test network mounts: keys, genesis and node data folders.

``compose_network`` writes what ``docker/compose.yaml`` (3 validators, 1 observer) needs::

    ROOT/genesis.json     members validator-1..3 and observer-1, each addressed by its
                          compose service name (``validator-1:7400``)
    ROOT/keys/NAME.key    each member's key (0600), to sign documents from the host
    ROOT/nodes/NAME/      each node's data folder, initialised to listen on 0.0.0.0:7400
                          inside its container; the compose file mounts it at /data
    ROOT/compose.env      the variables the compose file reads (``--env-file``)
    ROOT/compose.json     a manifest: each node's service, role and published address

The genesis advertises names that resolve only on the compose network; node.json holds the
listen addresses (API 0.0.0.0:7400, mesh /ip4/0.0.0.0/tcp/7600). A member's peer address is
left empty, so a validator serves PeerService on its API port and peers dial its API address.
Published ports are bound to 127.0.0.1 by the compose file, so that only this host reaches the
nodes from outside their network.

Every node serves TLS (it listens on 0.0.0.0, not loopback), with a certificate issued by its
member key; the nodes pin each other by the genesis (``validator-2:7400`` is member
validator-2's address). From this host, ``--devnet ROOT`` (or env TDX_DEVNET) pins each
published port to its node's member key (``compose.json`` maps them: ``"tls": true``); in a
container, the image's health check pins the node's own key (env TDX_PIN=/data/node.key in
the compose file).

The containers run as ``uid``: the image's user (10001) when this runs as root (the node
folders are then handed to that user), else the caller's own uid, so that the key files stay
0600 and still readable by the node that owns them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tdx.network import peer_id_of
from tdx.node.errors import NodeError
from tdx.node.ops.config import init_node
from tdx.node.ops.devnet import COUNTRIES, OBSERVER_ROLES, VALIDATOR_ROLES
from tdx.node.ops.process import free_port
from tdx.sdk import Identity, genesis_json
from tdx.v1 import documents_pb2, ledger_pb2

#: The services of docker/compose.yaml, in order; each is also the member id and host name.
VALIDATORS = ("validator-1", "validator-2", "validator-3")
OBSERVERS = ("observer-1",)
P2P_PORT = 7600
CONTAINER_PORT = 7400
LISTEN_ADDRESS = f"0.0.0.0:{CONTAINER_PORT}"
#: The non-root user of the node image (Dockerfile).
IMAGE_UID = 10001
DEFAULT_HOST_PORT = 17401
MANIFEST = "compose.json"
ENV_FILE = "compose.env"


def port_variable(name: str) -> str:
    """The compose variable that holds a service's published port: TDX_PORT_VALIDATOR_1."""
    return "TDX_PORT_" + name.upper().replace("-", "_")


def compose_network(root: Path, *, network: str = "tdx-compose",
                    host_port: int = DEFAULT_HOST_PORT,
                    uid: int | None = None, gid: int | None = None) -> dict[str, Any]:
    """Write keys, genesis, node folders and the env file into ``root``; return the manifest.

    ``root`` must be new or empty. ``host_port`` is the first of four consecutive ports
    published on 127.0.0.1 (0: any free ports). ``uid``/``gid``: who the containers run as
    (see the module docstring); giving the files to another user needs root.
    """
    root = root.absolute()
    run_uid, run_gid = _container_user(uid, gid)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise NodeError(f"{root} is not empty; choose an empty or new directory")
    names = [*VALIDATORS, *OBSERVERS]
    ports = ([free_port() for _ in names] if host_port == 0
             else [host_port + i for i in range(len(names))])
    if not all(0 < port < 65536 for port in ports):
        raise NodeError(f"host ports {ports[0]}-{ports[-1]} are not all from 1 to 65535")
    (root / "keys").mkdir(mode=0o700)
    genesis = ledger_pb2.Genesis(network=network, created_ms=int(time.time() * 1000))
    nodes: list[dict[str, Any]] = []
    for i, (name, port) in enumerate(zip(names, ports, strict=True)):
        validator = name in VALIDATORS
        identity = Identity.generate(name)
        key_path = root / "keys" / f"{name}.key"
        identity.save(key_path)
        genesis.members.append(documents_pb2.MemberRecord(
            id=name, name=f"{'Customs' if validator else 'Partner'} {name}",
            country_code=COUNTRIES[i % len(COUNTRIES)],
            roles=VALIDATOR_ROLES if validator else OBSERVER_ROLES,
            public_key=identity.public_key, api_address=f"{name}:{CONTAINER_PORT}",
            p2p_address=f"/dns4/{name}/tcp/{P2P_PORT}/p2p/{peer_id_of(identity.public_key)}",
            validator=validator))
        nodes.append({"name": name, "role": "validator" if validator else "observer",
                      "api": f"127.0.0.1:{port}", "advertised": f"{name}:{CONTAINER_PORT}",
                      "data_dir": str(root / "nodes" / name), "key": str(key_path)})
    genesis_path = root / "genesis.json"
    genesis_path.write_text(genesis_json(genesis))
    (root / "nodes").mkdir()
    for node in nodes:
        init_node(Path(node["data_dir"]), genesis_path, Path(node["key"]), LISTEN_ADDRESS,
                  p2p_listen=f"/ip4/0.0.0.0/tcp/{P2P_PORT}")
    if run_uid != os.geteuid():
        _give_to(root / "nodes", run_uid, run_gid)
    env = {"TDX_NET_DIR": str(root), "TDX_UID": str(run_uid), "TDX_GID": str(run_gid)}
    env.update({port_variable(n["name"]): n["api"].rpartition(":")[2] for n in nodes})
    (root / ENV_FILE).write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    manifest: dict[str, Any] = {"network": network, "genesis": str(genesis_path),
                                "env_file": str(root / ENV_FILE), "uid": run_uid,
                                "gid": run_gid, "tls": True, "nodes": nodes}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _container_user(uid: int | None, gid: int | None) -> tuple[int, int]:
    as_root = os.geteuid() == 0
    if uid is None:
        uid = IMAGE_UID if as_root else os.getuid()
    if gid is None:
        gid = uid if as_root else os.getgid()
    if uid < 0 or gid < 0:
        raise NodeError("uid and gid must not be negative")
    if not as_root and (uid, gid) != (os.getuid(), os.getgid()):
        raise NodeError(f"only root can give the node folders to uid {uid}, gid {gid}; "
                        "leave --uid and --gid out to run the containers as yourself")
    if uid == 0:
        raise NodeError("the containers must not run as root; choose another --uid")
    return uid, gid


def _give_to(top: Path, uid: int, gid: int) -> None:
    """chown ``top`` and everything under it (no symlinks are followed)."""
    os.chown(top, uid, gid, follow_symlinks=False)
    for folder, dirs, files in os.walk(top):
        for name in (*dirs, *files):
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)
