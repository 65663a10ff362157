"""A private LAN of Linux network namespaces: one namespace per host, for tests that run nodes
as if on separate machines.

A :class:`Lan` is a ``lan`` namespace holding a Linux bridge (``br0``, address ``.1``) and one
namespace per host, each with a veth into that bridge and its own address (``.2``, ``.3``...)
on a /24 of 10.0.0.0/8 picked at random. Names carry a random tag (``tdxh-<hex>-n1``), so runs
never collide. The bridge lives in a namespace of its own, not in the machine's: nothing of
the machine's network is touched or contacted, and the machine's firewall does not see the
traffic (with ``bridge-nf-call-iptables`` on, a bridge in the machine's namespace passes its
frames through the machine's FORWARD chain, which Docker sets to DROP).

Invariants: every process started here runs in one of the lab's namespaces and is stopped by
:meth:`Lan.close`, which then deletes every namespace (taking the veths, the bridge and any
nftables table with them) and says what it could not undo. :meth:`Lan.cut` drops all of a
host's traffic, or the TCP connections it opens to some ports, with an nftables table in
that host's namespace; :meth:`Lan.heal` deletes it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CUT_TABLE = "tdxh_cut"
COMMAND_SECONDS = 20.0


class LanUnavailable(Exception):
    """This machine cannot make the namespaces, bridge or nftables tables a Lan needs."""


@dataclass(frozen=True)
class Host:
    """One namespace of the lab: its name and its IPv4 address on the lab's subnet."""

    namespace: str
    address: str


def _run(argv: Sequence[str], timeout: float = COMMAND_SECONDS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=False, stdin=subprocess.DEVNULL)


def why_unavailable() -> str | None:
    """Why namespaces cannot be made here (not root, no ip or nft), or None when they may."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (run the test as root)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"no `{tool}` command (apt-get install {package}, or scripts/netns-deps.sh)"
    return None


class Lan:
    """The lab: a bridge in a namespace of its own and ``hosts`` namespaces on it."""

    def __init__(self, hosts: int, log_dir: Path) -> None:
        if not 1 <= hosts <= 200:
            raise ValueError("a lan has 1 to 200 hosts")
        tag = f"tdxh-{secrets.token_hex(3)}"
        subnet = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
        self.prefix = f"{subnet}.0/24"
        self.lan = Host(f"{tag}-lan", f"{subnet}.1")
        self.hosts = [Host(f"{tag}-n{i + 1}", f"{subnet}.{i + 2}") for i in range(hosts)]
        self.log_dir = log_dir
        self._made: list[str] = []
        self._processes: list[subprocess.Popen[bytes]] = []

    # -- making and unmaking -------------------------------------------------------------

    def open(self) -> None:
        """Make the namespaces, bridge and veths; LanUnavailable when the machine cannot.

        The first of each kind of step (a namespace, a bridge, a veth, an nftables table) is
        the probe: its failure means the machine does not allow it. Anything failing after
        those is a real error (RuntimeError).
        """
        self._namespace(self.lan.namespace, probe=True)
        self._probe("a bridge", "ip", "-n", self.lan.namespace, "link", "add", "br0",
                    "type", "bridge")
        self._probe("nftables", "ip", "netns", "exec", self.lan.namespace, "nft",
                    "list", "tables")
        self._ip(self.lan, "addr", "add", f"{self.lan.address}/24", "dev", "br0")
        self._ip(self.lan, "link", "set", "br0", "up")
        self._ip(self.lan, "link", "set", "lo", "up")
        for i, host in enumerate(self.hosts):
            self._namespace(host.namespace, probe=False)
            veth = ["ip", "-n", self.lan.namespace, "link", "add", f"v{i + 1}", "type", "veth",
                    "peer", "name", "eth0", "netns", host.namespace]
            if i == 0:
                self._probe("a veth pair", *veth)
            else:
                self._check(veth)
            self._ip(self.lan, "link", "set", f"v{i + 1}", "master", "br0", "up")
            self._ip(host, "addr", "add", f"{host.address}/24", "dev", "eth0")
            self._ip(host, "link", "set", "eth0", "up")
            self._ip(host, "link", "set", "lo", "up")

    def _namespace(self, name: str, *, probe: bool) -> None:
        argv = ["ip", "netns", "add", name]
        if probe:
            self._probe("a network namespace", *argv)
        else:
            self._check(argv)
        self._made.append(name)

    def _probe(self, what: str, *argv: str) -> None:
        done = _run(argv)
        if done.returncode != 0:
            raise LanUnavailable(f"cannot make {what}: `{' '.join(argv)}` failed: "
                                 f"{done.stderr.strip() or done.returncode}")

    @staticmethod
    def _check(argv: Sequence[str]) -> str:
        done = _run(argv)
        if done.returncode != 0:
            raise RuntimeError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")
        return done.stdout

    def _ip(self, host: Host, *args: str) -> None:
        self._check(["ip", "-n", host.namespace, *args])

    def close(self) -> list[str]:
        """Stop every process of the lab, then delete its namespaces; return what is left.

        Each process gets SIGTERM and up to 10 s, then SIGKILL; any other process still in
        a lab namespace (one a process here started) is killed. Deleting a namespace takes
        its veths, the bridge and its nftables tables with it. Never raises: the returned
        list names whatever could not be undone (empty when all is clean).
        """
        for process in self._processes:
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10.0
        for process in self._processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(5.0)
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
        problems: list[str] = []
        for name in reversed(self._made):
            for pid in self._pids(name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            done = _run(["ip", "netns", "delete", name])
            if done.returncode != 0:
                problems.append(f"namespace {name}: {done.stderr.strip()}")
        listed = _run(["ip", "netns", "list"]).stdout
        problems += [f"namespace {name} still listed" for name in self._made if name in listed]
        self._made.clear()
        return problems

    @staticmethod
    def _pids(namespace: str) -> list[int]:
        done = _run(["ip", "netns", "pids", namespace])
        return [int(word) for word in done.stdout.split() if word.isdigit()]

    # -- running things in a host ---------------------------------------------------------

    def run(self, host: Host, *argv: str, timeout: float = COMMAND_SECONDS,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in ``host``'s namespace to completion (no check of its exit code)."""
        return subprocess.run(["ip", "netns", "exec", host.namespace, *argv],
                              capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL, env=env)

    def spawn(self, host: Host, *argv: str, log_name: str, pipe: bool = False,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` in ``host``'s namespace, in a session of its own, stderr (and
        stdout, unless ``pipe``) to ``log_dir/log_name``; it is stopped by ``close``.

        With ``pipe`` its stdin and stdout are pipes to this process.
        """
        with open(self.log_dir / log_name, "ab") as log:
            process = subprocess.Popen(
                ["ip", "netns", "exec", host.namespace, *argv],
                stdin=subprocess.PIPE if pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipe else log, stderr=log,
                start_new_session=True, env=env)
        self._processes.append(process)
        return process

    def cut(self, host: Host, ports: Sequence[int] = ()) -> None:
        """Drop every packet into or out of ``host``'s eth0 (its loopback still works); with
        ``ports``, only the TCP connections ``host`` opens to those ports (a firewall that
        lets it reach the others on their other ports only)."""
        if ports:
            listed = ", ".join(str(port) for port in ports)
            chains = {"output": f'oifname "eth0" tcp dport {{ {listed} }} drop'}
        else:
            chains = {"input": 'iifname "eth0" drop', "output": 'oifname "eth0" drop'}
        rules = f"table inet {CUT_TABLE} {{\n" + "".join(
            f"  chain {hook} {{\n"
            f"    type filter hook {hook} priority -300; policy accept;\n"
            f"    {rule}\n"
            "  }\n" for hook, rule in chains.items()) + "}\n"
        done = subprocess.run(["ip", "netns", "exec", host.namespace, "nft", "-f", "-"],
                              input=rules, capture_output=True, text=True,
                              timeout=COMMAND_SECONDS, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"nft in {host.namespace} failed: {done.stderr.strip()}")

    def heal(self, host: Host) -> None:
        """Delete the table that ``cut`` made in ``host``'s namespace."""
        self._check(["ip", "netns", "exec", host.namespace, "nft", "delete", "table", "inet",
                     CUT_TABLE])

    def tables(self, host: Host) -> str:
        """``nft list tables`` in ``host``'s namespace."""
        return self._check(["ip", "netns", "exec", host.namespace, "nft", "list", "tables"])


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
