"""Start node processes, find the one serving a data directory, and wait for them.

A node started here is its own process group, with its output in a log file, so that a
launcher can stop exactly what it started (SIGTERM, then SIGKILL) and nothing else.
``serving_pid`` finds the node on a data directory however it was started (by a launcher,
or by hand with ``tdx node start``): it is the process that holds the ledger's lock.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tdx.node.errors import NodeError
from tdx.node.ops.config import load_config, paths
from tdx.node.ops.tls import listener_uses_tls
from tdx.sdk import Identity, TdxError, Trust, channel, public_key_of_file


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` now (as gRPC does, with SO_REUSEADDR,
    so that a port left in TIME_WAIT by a stopped node counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def serving_pid(data_dir: Path) -> int:
    """The pid of the node running on ``data_dir``, or 0 when none runs.

    That is the process holding the POSIX lock LevelDB takes on ``ledger/LOCK`` (listed in
    /proc/locks), checked to be a tdx node; so a node restarted by hand is found too.
    """
    lock = data_dir / "ledger" / "LOCK"
    try:
        inode = lock.stat().st_ino
        table = Path("/proc/locks").read_text()
    except OSError:
        return 0
    for line in table.splitlines():
        # "1: POSIX  ADVISORY  WRITE 22484 fe:00:10023202 0 EOF"; "->" marks a waiter.
        fields = line.split()
        if len(fields) < 6 or fields[1] != "POSIX" or "->" in fields:
            continue
        if fields[5].rsplit(":", 1)[-1] == str(inode) and fields[4].isdigit():
            pid = int(fields[4])
            if pid_alive(pid) and _is_tdx_node(pid):
                return pid
    return 0


def _is_tdx_node(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"tdx" in cmdline


@dataclass
class NodeProcess:
    """A node running as a process: a child of this one, or a detached daemon."""

    data_dir: Path
    api_address: str
    log_path: Path
    process: subprocess.Popen[bytes] | None
    daemon_pid: int = 0

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid if self.process is not None else self.daemon_pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        if self.process is not None:
            return self.process.poll() is None
        return pid_alive(self.daemon_pid)

    def _wait(self, timeout: float) -> bool:
        if self.process is not None:
            try:
                self.process.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while pid_alive(self.daemon_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return not pid_alive(self.daemon_pid)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            if not self._wait(timeout):
                self.kill()
        self._wait(timeout)

    def kill(self) -> None:
        """SIGKILL at once (a crash) and wait for the process to be gone."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self._wait(10.0)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the node's log, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` names a running (not zombie) process."""
    if pid <= 0:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def spawn_node(data_dir: Path, api_address: str, log_path: Path | None = None,
               env: dict[str, str] | None = None, *, detach: bool = False) -> NodeProcess:
    """Start ``python -m tdx.node DATA_DIR`` in its own session; output goes to a log file.

    With ``detach`` the node is a daemon (not this process's child) that outlives it, as
    ``tdx devnet up`` needs; otherwise it is a child that the caller must stop.
    """
    log_path = log_path or data_dir / "node.log"
    command = [sys.executable, "-m", "tdx.node", str(data_dir)]
    environment = {**os.environ, **(env or {})}
    if detach:
        launcher = subprocess.run(
            ["/bin/sh", "-c", 'exec "$@" >>"$TDX_NODE_LOG" 2>&1 </dev/null & echo $!', "sh",
             *command],
            capture_output=True, text=True, check=True, start_new_session=True,
            env={**environment, "TDX_NODE_LOG": str(log_path)})
        return NodeProcess(data_dir=data_dir, api_address=api_address, log_path=log_path,
                           process=None, daemon_pid=int(launcher.stdout.strip()))
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env=environment)
    return NodeProcess(data_dir=data_dir, api_address=api_address, log_path=log_path,
                       process=process)


def own_channel(data_dir: Path, address: str) -> grpc.Channel:
    """A channel to the node of ``data_dir`` at ``address``: plaintext where it serves
    plaintext, else TLS pinned to the member key in its folder (presented as a client
    certificate too, where the node requires one; an encrypted key needs env
    TDX_KEY_PASSPHRASE for that)."""
    try:
        config = load_config(data_dir)
        if not listener_uses_tls(address, config.tls):
            return channel(address)
        key = paths(data_dir)["key"]
        identity = (Identity.load(key, os.environ.get("TDX_KEY_PASSPHRASE"))
                    if config.client_certificates else None)
        trust = Trust(keys=frozenset({public_key_of_file(key)[1]}), identity=identity)
        return channel(address, trust=trust)
    except TdxError as exc:
        raise NodeError(f"cannot talk to the node of {data_dir}: {exc}") from None


def wait_healthy(node: NodeProcess, timeout: float = 20.0) -> None:
    """Wait until the node's gRPC health check says SERVING; raise NodeError if it dies."""
    deadline = time.monotonic() + timeout
    with own_channel(node.data_dir, node.api_address) as opened:
        stub = health_pb2_grpc.HealthStub(opened)
        while time.monotonic() < deadline:
            if not node.alive():
                raise NodeError(f"node {node.data_dir} exited: {node.log_tail(5)}")
            try:
                answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise NodeError(f"node {node.data_dir} did not become healthy in {timeout:.0f}s: "
                    f"{node.log_tail(5)}")
