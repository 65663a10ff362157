"""A 3-validator, 1-observer network built with the CLI alone, each node on a host of its own.

Each node runs in its own network namespace with its own address on a bridge (``netns.Lan``);
the bridge's namespace is the client host. Every step is a ``tdx`` command run where an
administration would run it: ``keys generate``, ``node init`` and ``node start`` on the
member's host; ``genesis create`` and ``add-member`` (the node's API, peer and libp2p
addresses on its host) on the client host; ``doc submit`` from the client host, and from the
partner's host through its own observer. Then: documents commit; the observer follows over
the mesh; the leader, cut off with nftables, is replaced and commits go on; once healed,
every node holds the same ledger; and a client pinned to the wrong member's key is refused
by TLS. Polls (with deadlines) go through ``lan_client.py`` on the client host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from netns import CUT_TABLE, Host, Lan

pytestmark = pytest.mark.netns

HERE = Path(__file__).resolve().parent
TDX = str(Path(sys.executable).with_name("tdx"))
NETWORK = "tdx-netns"
API_PORT, PEER_PORT, MESH_PORT = 7400, 7401, 7402
VALIDATORS = ("customs-1", "customs-2", "customs-3")
OBSERVER = "partner-1"
COUNTRIES = {"customs-1": "DE", "customs-2": "FR", "customs-3": "NL", OBSERVER: "BE"}
#: customs-3 listens on every address of its host, as behind NAT or in a container.
LISTEN_ANY = "customs-3"
T = TypeVar("T")
Status = dict[str, Any]


@dataclass(frozen=True)
class Member:
    """A member of the test network: its host, key file and data folder."""

    name: str
    host: Host
    key: Path
    data: Path

    @property
    def api(self) -> str:
        return f"{self.host.address}:{API_PORT}"


class Network:
    """The network of the test, driven through ``tdx`` in the lab's namespaces."""

    def __init__(self, lan: Lan, folder: Path) -> None:
        self.lan = lan
        self.client = lan.lan
        self.folder = folder
        self.genesis = folder / "genesis.json"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TDX_")}
        names = (*VALIDATORS, OBSERVER)
        self.members = {name: Member(name, host, folder / "keys" / f"{name}.key", folder / name)
                        for name, host in zip(names, lan.hosts, strict=True)}
        self.validators = [self.members[name] for name in VALIDATORS]
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}
        self.probe: subprocess.Popen[bytes] | None = None

    def tdx(self, host: Host, *args: str) -> Any:
        """Run ``tdx ARGS --json`` in ``host``; its JSON answer, or fail with its output."""
        done = self.lan.run(host, TDX, *args, "--json", env=self.env, timeout=60)
        assert done.returncode == 0, (
            f"`tdx {' '.join(args)}` in {host.namespace} exited {done.returncode}:\n"
            f"{done.stdout}{done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def build(self) -> Any:
        """Keys on each member's host, the genesis on the client host, data folders on each
        member's host; the genesis as ``tdx genesis show --json`` shows it."""
        (self.folder / "keys").mkdir()
        for member in self.members.values():
            self.tdx(member.host, "keys", "generate", "--out", str(member.key))
        self.tdx(self.client, "genesis", "create", "--out", str(self.genesis), "--network",
                 NETWORK)
        for name, member in self.members.items():
            at = member.host.address
            role = (["--roles", "customs,issuer", "--validator"] if name in VALIDATORS
                    else ["--roles", "trader,logistics"])
            self.tdx(self.client, "genesis", "add-member", str(self.genesis), "--name", name,
                     "--key", str(member.key), "--country", COUNTRIES[name], *role,
                     "--address", member.api, "--peer-address", f"{at}:{PEER_PORT}",
                     "--p2p", f"{at}:{MESH_PORT}")
        for name, member in self.members.items():
            listen = ([f"--api-listen=0.0.0.0:{API_PORT}", f"--peer-listen=0.0.0.0:{PEER_PORT}",
                       f"--p2p-listen=0.0.0.0:{MESH_PORT}"] if name == LISTEN_ANY else [])
            self.tdx(member.host, "node", "init", "--genesis", str(self.genesis), "--key",
                     str(member.key), "--data", str(member.data), *listen)
        return self.tdx(self.client, "genesis", "show", str(self.genesis))

    def start(self) -> None:
        """``tdx node start`` on each member's host, and the client host's lan_client.py."""
        for member in self.members.values():
            self.nodes[member.name] = self.lan.spawn(
                member.host, TDX, "node", "start", "--data", str(member.data),
                log_name=f"{member.name}.log", env=self.env)
        self.probe = self.lan.spawn(self.client, sys.executable, str(HERE / "lan_client.py"),
                                    str(self.genesis), log_name="lan_client.log", pipe=True,
                                    env=self.env)

    def submit(self, host: Host, document: Path, key: Path, node: str) -> dict[str, Any]:
        """Submit ``document`` signed by ``key`` to ``node`` from ``host``, pinned by the
        genesis; its receipt, which must say accepted."""
        receipt: dict[str, Any] = self.tdx(host, "doc", "submit", str(document), "--key",
                                           str(key), "--node", node, "--genesis",
                                           str(self.genesis))
        assert receipt["result"]["status"] == "accepted", receipt
        return receipt

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """lan_client.py's answer to ``request``."""
        assert self.probe is not None and self.probe.stdin and self.probe.stdout
        self.probe.stdin.write(json.dumps(request).encode() + b"\n")
        self.probe.stdin.flush()
        line = self.probe.stdout.readline()
        assert line, f"lan_client.py died:\n{self.logs()}"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def status(self, member: Member) -> Status | None:
        """The member's node's status (``tdx status --json``), None when it does not answer."""
        answer = self.ask({"op": "status", "node": member.api})
        status: Status | None = answer["status"] if answer["ok"] else None
        return status

    def leader(self, among: list[Member]) -> str | None:
        """The leader every node in ``among`` names, when they all answer and agree."""
        leaders = {(s or {}).get("leader", "") for s in map(self.status, among)}
        return leaders.pop() if len(leaders) == 1 and "" not in leaders else None

    def wait(self, what: str, timeout: float, check: Callable[[], T | None]) -> T:
        """Poll ``check`` until it returns something other than None; fail (with the logs)
        after ``timeout`` seconds, or as soon as a node has exited."""
        deadline = time.monotonic() + timeout
        while True:
            dead = [name for name, node in self.nodes.items() if node.poll() is not None]
            if dead:
                pytest.fail(f"node {', '.join(dead)} exited while waiting for {what}:\n"
                            f"{self.logs()}")
            found = check()
            if found is not None:
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}:\n{self.logs()}")
            time.sleep(0.2)

    def logs(self, lines: int = 8) -> str:
        """The last lines of every log of the test."""
        tails = []
        for path in sorted(self.lan.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            tails.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(tails)


def _member_key(shown: Any, name: str) -> str:
    """The hex public key of member ``name`` in ``tdx genesis show --json``."""
    return str(next(m["public_key"] for m in shown["members"] if m["id"] == name))


# Its waits add up to 145 s at most, the tdx commands to about 20 s here.
@pytest.mark.timeout(240)
def test_cli_built_network_across_namespaces(lan: Lan, tmp_path: Path) -> None:
    net = Network(lan, tmp_path)
    shown = net.build()
    for member in shown["members"]:
        host = net.members[member["id"]].host.address
        assert member["p2p_address"].startswith(f"/ip4/{host}/tcp/{MESH_PORT}/p2p/12D3KooW")
    net.start()
    members, client = net.members, net.client
    observer = members[OBSERVER]
    leader = net.wait("the three validators to agree on a leader", 45,
                      lambda: net.leader(net.validators))
    # The partner's firewall lets its observer reach the others' mesh port only, so what
    # it learns and relays goes over libp2p (an observer without a mesh would poll the
    # validators' API instead).
    lan.cut(observer.host, ports=[API_PORT, PEER_PORT])

    def observer_meshed() -> Status | None:
        status = net.status(observer)
        connected = sum(p["connected"] for p in (status or {}).get("mesh_peers", []))
        return status if status and connected == len(VALIDATORS) else None

    net.wait("the observer's mesh to reach the three validators", 30, observer_meshed)

    # Documents commit: from the client host to a validator that is not leading (it
    # forwards), and from the partner's host through its observer (relayed on the mesh).
    declaration, invoice = tmp_path / "declaration.json", tmp_path / "invoice.json"
    declaration.write_text(json.dumps(net.tdx(client, "doc", "template", "export_declaration")))
    invoice.write_text(json.dumps(net.tdx(client, "doc", "template", "invoice")))
    follower = next(m for m in net.validators if m.name != leader)
    first = net.submit(client, declaration, members["customs-1"].key, follower.api)
    relayed = net.submit(observer.host, invoice, observer.key, observer.api)

    # The observer follows over the mesh: it runs no Raft and cannot reach their API.
    top = max(first["height"], relayed["height"])

    def observer_followed() -> Status | None:
        status = net.status(observer)
        return status if status and status["height"] >= top else None

    assert net.wait("the observer to reach the validators' height", 30,
                    observer_followed)["role"] == "observer"

    # Cut the leader off: the other two elect a new leader, and commits go on.
    old = members[leader]
    rest = [m for m in net.validators if m is not old]
    lan.cut(old.host)
    assert CUT_TABLE in lan.tables(old.host)

    def new_leader() -> str | None:
        found = net.leader(rest)
        return found if found not in (None, leader) else None

    successor = net.wait("a new leader among the two validators left", 30, new_leader)
    during = [net.submit(client, declaration, members["customs-1"].key, rest[i % 2].api)
              for i in range(3)]
    assert during[0]["height"] > top
    assert net.status(old) is None, "the cut-off leader still answers on the LAN"

    # Heal: every node, the old leader and the observer too, ends on the same ledger, and
    # the old leader takes documents again.
    lan.heal(old.host)
    assert CUT_TABLE not in lan.tables(old.host)
    after = net.submit(client, declaration, members["customs-1"].key, old.api)
    last = max(after["height"], during[-1]["height"])

    def same_ledger() -> tuple[int, str] | None:
        tips = {(s["height"], s["last_block_hash"]) if s else None
                for s in map(net.status, members.values())}
        tip = tips.pop() if len(tips) == 1 else None
        return tip if tip is not None and tip[0] >= last else None

    height, block_hash = net.wait("every node to hold the same ledger", 40, same_ledger)
    assert height >= last and len(block_hash) == 64
    assert net.leader(net.validators) in VALIDATORS

    # TLS: a client pinned to another member's key is refused by the node; pinned to the
    # right one it is served, so the refusal is the pin's.
    target = members[successor]
    wrong = next(m for m in net.validators if m is not target)
    refused = net.ask({"op": "status", "node": target.api,
                       "server_key": _member_key(shown, wrong.name)})
    assert not refused["ok"] and refused["error"] == "TlsError", refused
    served = net.ask({"op": "status", "node": target.api,
                      "server_key": _member_key(shown, target.name)})
    assert served["ok"] and served["status"]["member_id"] == target.name, served
    cli = lan.run(client, TDX, "status", "--node", target.api, "--genesis", str(net.genesis),
                  "--pin", wrong.name, env=net.env)
    assert cli.returncode == 1, cli.stdout
    assert f"does not prove member {wrong.name}" in cli.stderr, cli.stderr
    assert f"issued by key {_member_key(shown, target.name)[:16]}" in cli.stderr, cli.stderr
