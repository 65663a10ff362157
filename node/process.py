"""Start node processes and wait for them: for the devnet and for tests.

A node started here is its own process group, with its output in a log file, so that a
launcher can stop exactly what it started (SIGTERM, then SIGKILL) and nothing else.
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

from .errors import NodeError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class NodeProcess:
    """A node running as a child process."""

    data_dir: Path
    api_address: str
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait, then SIGKILL; return the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    def kill(self) -> int:
        """SIGKILL at once (a crash); return the exit code."""
        if self.alive():
            self.process.kill()
        return self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the node's log, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn_node(data_dir: Path, api_address: str, log_path: Path | None = None,
               env: dict[str, str] | None = None) -> NodeProcess:
    """Start ``python -m tdx.node DATA_DIR`` in its own session; output goes to a log file."""
    log_path = log_path or data_dir / "node.log"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "tdx.node", str(data_dir)],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **(env or {})},
        )
    return NodeProcess(data_dir=data_dir, api_address=api_address, log_path=log_path,
                       process=process)


def wait_healthy(node: NodeProcess, timeout: float = 20.0) -> None:
    """Wait until the node's gRPC health check says SERVING; raise NodeError if it dies."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(node.api_address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if not node.alive():
                raise NodeError(f"node {node.data_dir} exited with {node.process.returncode}: "
                                f"{node.log_tail(5)}")
            try:
                answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise NodeError(f"node {node.data_dir} did not become healthy in {timeout:.0f}s: "
                    f"{node.log_tail(5)}")
