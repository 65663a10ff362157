"""A node's data directory: its configuration, genesis, key and ledger.

::

    DIR/node.json      member id, network, genesis hash, the addresses it listens on (API,
                       peer and mesh, when they differ from what others dial), TLS settings
    DIR/genesis.json   the network's genesis, as given to ``tdx node init``
    DIR/node.key       the member's key file (mode 0600, encrypted if it was)
    DIR/ledger/        the LevelDB store
    DIR/tls/node.pem   the TLS certificate chain the node serves now (written at start)

What others dial is in the member record (genesis or governance); what the node listens on
is here, and defaults to that: behind NAT or in a container the two differ (``--api``,
``--peer-listen``, ``--p2p-listen`` of ``tdx node init``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from google.protobuf import json_format
from tdx.consensus import HardState, bootstrap_entries
from tdx.node.errors import NodeError
from tdx.node.ops.tls import check_tls_mode
from tdx.node.replication.storage import RaftStore
from tdx.node.state.ledger import Ledger
from tdx.node.state.store import Prefix, Store
from tdx.sdk import (
    Client,
    GenesisError,
    Identity,
    IdentityError,
    TdxError,
    Trust,
    genesis_hash,
    load_genesis,
    public_key_of_file,
)
from tdx.v1 import documents_pb2, ledger_pb2

CONFIG_FORMAT = "tdx-node/1"
DEFAULT_API = "127.0.0.1:7400"


@dataclass(frozen=True)
class NodeConfig:
    """What ``node.json`` holds."""

    member_id: str
    network: str
    api_address: str
    genesis_hash: str
    peer_address: str = ""
    join: str = ""
    format: str = CONFIG_FORMAT
    peer_listen: str = ""
    p2p_listen: str = ""
    tls: str = "auto"
    client_certificates: bool = False

    @property
    def summary(self) -> dict[str, str]:
        """The fields an operator wants to see (listen addresses only when set)."""
        listen = {name: value for name, value in (("peer_listen", self.peer_listen),
                                                  ("p2p_listen", self.p2p_listen)) if value}
        return {"member_id": self.member_id, "network": self.network,
                "api_address": self.api_address, "peer_address": self.peer_address,
                **listen, "tls": self.tls + (" (client certificates required)"
                                             if self.client_certificates else "")}


def env_int(name: str, default: int, minimum: int = 1) -> int:
    """A whole-number setting from the environment (``default`` when unset).

    A value that is not a whole number of at least ``minimum`` is a NodeError naming the
    variable, so that a typo stops the node with one clear line.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise NodeError(f"{name}={raw!r} is not a whole number of at least {minimum} "
                        f"(default {default})")
    return value


def paths(data_dir: Path) -> dict[str, Path]:
    """The files of a data directory."""
    return {
        "config": data_dir / "node.json",
        "genesis": data_dir / "genesis.json",
        "key": data_dir / "node.key",
        "ledger": data_dir / "ledger",
        "pinned": data_dir / "join-validators.json",
        "tls": data_dir / "tls" / "node.pem",
    }


def check_address(address: str, what: str) -> str:
    """Check HOST:PORT; return it."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise NodeError(f"{what} {address!r} must be HOST:PORT with a port from 1 to 65535")
    return address


def check_listen_multiaddr(address: str, what: str = "mesh listen address") -> str:
    """Check a libp2p listen address, ``/ip4/HOST/tcp/PORT`` or ``/ip6/HOST/tcp/PORT``."""
    parts = address.split("/")
    problem = ""
    if len(parts) != 5 or parts[0] or parts[1] not in ("ip4", "ip6") or parts[3] != "tcp":
        problem = "must be /ip4/HOST/tcp/PORT or /ip6/HOST/tcp/PORT (a node listens on an IP)"
    else:
        try:
            if ipaddress.ip_address(parts[2]).version != int(parts[1][-1]):
                problem = f"{parts[2]!r} is not an {parts[1]} address"
        except ValueError:
            problem = f"{parts[2]!r} is not an {parts[1]} address"
        if not problem and not (parts[4].isdigit() and 0 < int(parts[4]) < 65536):
            problem = f"port {parts[4]!r} must be a number from 1 to 65535"
    if problem:
        raise NodeError(f"{what} {address!r} {problem}")
    return address


def init_node(data_dir: Path, genesis_path: Path, key_path: Path,
              api_address: str | None = None, passphrase: str | None = None,
              join: str = "", join_from: str = "", *, peer_listen: str = "",
              p2p_listen: str = "", tls: str = "auto",
              client_certificates: bool = False) -> dict[str, str]:
    """Create a node's data directory from a genesis and the member's key file.

    ``api_address`` is where the node serves its client API (default: the member's API
    address); ``peer_listen`` and ``p2p_listen`` (a /ip4 or /ip6 multiaddr) where it serves
    validator traffic and the mesh, when they differ from the member's advertised peer and
    p2p addresses. ``tls`` and ``client_certificates``: see ``tdx.node.ops.tls``.

    The key must belong to a member of the genesis, unless ``join`` ("validator" or
    "observer") says the node joins a running network as a member that governance adds:
    it then starts from the genesis and catches up from the others. With ``join_from``
    (HOST:PORT of a running node the operator trusts) it also records the validators in
    force now, so that it accepts a leader that joined after the genesis before its own
    ledger has caught up to that decision. Refuses a directory that is not empty.
    """
    if join not in ("", "validator", "observer"):
        raise NodeError(f"join must be 'validator' or 'observer', not {join!r}")
    try:
        genesis = load_genesis(genesis_path)
        member_id, public_key = public_key_of_file(key_path)
        if passphrase is not None:
            Identity.load(key_path, passphrase)
    except (GenesisError, IdentityError) as exc:
        raise NodeError(str(exc)) from None
    member = next((m for m in genesis.members if bytes(m.public_key) == public_key), None)
    if member is None and join:
        if any(m.id == member_id for m in genesis.members):
            raise NodeError(f"{key_path}: member {member_id!r} is in the genesis with another "
                            "key")
        member = documents_pb2.MemberRecord(id=member_id)
    elif member is None:
        raise NodeError(f"{key_path}: this key (member {member_id!r}) is not a member of "
                        f"network {genesis.network!r} in {genesis_path}; to join a running "
                        "network as a new member use --join")
    elif join:
        raise NodeError(f"{key_path}: member {member_id!r} is in the genesis; initialize it "
                        "without --join")
    if member.id != member_id:
        raise NodeError(f"{key_path}: the key file says member {member_id!r} but the genesis "
                        f"registers this key as {member.id!r}")
    api = check_address(api_address or member.api_address or DEFAULT_API, "API address")
    _check_listening(member, join, peer_listen, p2p_listen, tls)
    files = paths(data_dir)
    if data_dir.exists() and any(data_dir.iterdir()):
        if files["config"].exists():
            raise NodeError(f"{data_dir} is already initialized; start it with "
                            f"`tdx node start --data {data_dir}`")
        raise NodeError(f"{data_dir} is not empty; choose an empty or new directory")
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(genesis_path, files["genesis"])
        fd = os.open(files["key"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Path(key_path).read_bytes())
    except OSError as exc:
        raise NodeError(f"cannot create {data_dir}: {exc.strerror}") from None
    pinned: list[documents_pb2.MemberRecord] = []
    if join_from:
        if not join:
            raise NodeError("--from goes with --join")
        pinned = _current_validators(check_address(join_from, "--from address"), genesis,
                                     tls)
    store = Store(files["ledger"], create=True)
    try:
        Ledger.initialize(store, genesis)
        if member.validator:
            voters = [m.id for m in genesis.members if m.validator]
            entries = bootstrap_entries(voters)
            RaftStore(store).save(entries, HardState(term=1, commit=len(entries)), None)
    finally:
        store.close()
    config = NodeConfig(member_id=member.id, network=genesis.network, api_address=api,
                        genesis_hash=genesis_hash(genesis).hex(),
                        peer_address=member.peer_address, join=join, peer_listen=peer_listen,
                        p2p_listen=p2p_listen, tls=tls,
                        client_certificates=client_certificates)
    if pinned:
        _write_json(files["pinned"], [json_format.MessageToDict(v) for v in pinned])
    _write_json(files["config"], asdict(config))
    return {**config.summary, "data_dir": str(data_dir)}


def _check_listening(member: documents_pb2.MemberRecord, join: str, peer_listen: str,
                     p2p_listen: str, tls: str) -> None:
    """Refuse listen settings that the node could not use, naming the option."""
    try:
        check_tls_mode(tls)
    except ValueError as exc:
        raise NodeError(str(exc)) from None
    if peer_listen:
        check_address(peer_listen, "peer listen address")
        if not join and not member.validator:
            raise NodeError(f"member {member.id!r} is not a validator: it serves no peer "
                            "traffic, so it has no peer listen address")
        if not join and not member.peer_address:
            raise NodeError(f"member {member.id!r} has no peer address in the genesis: peers "
                            "reach it on its API address, so it needs no peer listen address")
    if p2p_listen:
        # Without a p2p address of its own the node still dials the others' meshes.
        check_listen_multiaddr(p2p_listen)


def _current_validators(address: str, genesis: ledger_pb2.Genesis,
                        tls: str) -> list[documents_pb2.MemberRecord]:
    network = genesis.network
    # The node asked is pinned by the genesis: the member whose API address it is.
    trust = Trust.from_genesis(genesis, tls_on_loopback=tls == "on")
    try:
        with Client(address, timeout=10, trust=trust) as client:
            status = client.status()
            members = client.list_members()
    except TdxError as exc:
        raise NodeError(f"cannot read the current validators from {address}: {exc}") from None
    if status.network != network:
        raise NodeError(f"{address} serves network {status.network!r}, not {network!r}")
    return [m for m in members if m.validator]


def pinned_validators(data_dir: Path) -> list[documents_pb2.MemberRecord]:
    """The validators recorded by ``init --join --from`` (empty when there are none)."""
    path = paths(data_dir)["pinned"]
    if not path.exists():
        return []
    try:
        return [json_format.ParseDict(item, documents_pb2.MemberRecord())
                for item in json.loads(path.read_text())]
    except (OSError, json.JSONDecodeError, json_format.ParseError) as exc:
        raise NodeError(f"{path} is corrupt: {exc}") from None


def load_config(data_dir: Path) -> NodeConfig:
    """Read ``node.json``; raise NodeError when the directory is not a node's."""
    files = paths(data_dir)
    if not data_dir.is_dir():
        raise NodeError(f"{data_dir}: no such data directory; run `tdx node init` first")
    try:
        raw = json.loads(files["config"].read_text())
        config = NodeConfig(**raw)
    except FileNotFoundError:
        raise NodeError(f"{data_dir} is not a node data directory (no node.json); "
                        "run `tdx node init`") from None
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError):
        raise NodeError(f"{files['config']} is corrupt") from None
    except OSError as exc:
        raise NodeError(f"{files['config']}: cannot read: {exc.strerror}") from None
    if config.format != CONFIG_FORMAT:
        raise NodeError(f"{files['config']}: unknown format {config.format!r}")
    for name in ("genesis", "key", "ledger"):
        if not files[name].exists():
            raise NodeError(f"{data_dir} is incomplete: {files[name].name} is missing")
    return config


def open_genesis(data_dir: Path, config: NodeConfig) -> ledger_pb2.Genesis:
    """Load the directory's genesis and check it is the one the ledger was made from."""
    try:
        genesis = load_genesis(paths(data_dir)["genesis"])
    except GenesisError as exc:
        raise NodeError(str(exc)) from None
    if genesis_hash(genesis).hex() != config.genesis_hash:
        raise NodeError(f"{paths(data_dir)['genesis']} is not the genesis this node was "
                        "initialized with")
    return genesis


def check_store_genesis(store: Store, genesis: ledger_pb2.Genesis) -> None:
    """Refuse a ledger that was made from another genesis."""
    raw = store.get(Prefix.GENESIS)
    if raw is None:
        raise NodeError(f"ledger {store.path} has no genesis; it is corrupt or not a tdx ledger")
    if genesis_hash(ledger_pb2.Genesis.FromString(raw)) != genesis_hash(genesis):
        raise NodeError(f"ledger {store.path} belongs to another network's genesis")


def _write_json(path: Path, value: object) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as handle:
        json.dump(value, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
