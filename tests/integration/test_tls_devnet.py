"""A devnet of 3 validators and an observer serving TLS on 127.0.0.1 (``devnet_up(tls=True)``):
blocks commit and reach the observer with every connection pinned by the genesis, and a
validator's address taken over by a server holding another key gets no peer traffic.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from tdx.node.ops.devnet import devnet_down, devnet_trust, devnet_up, node_pid
from tdx.node.ops.process import pid_alive
from tdx.sdk import (
    Client,
    Identity,
    TlsError,
    Trust,
    body_from_json,
    make_certificate,
    seal,
    template,
)
from tdx.v1 import peer_pb2, peer_pb2_grpc

WAIT = 30.0  # an upper bound for a commit to reach every node; the loops end sooner


class Impostor(peer_pb2_grpc.PeerServiceServicer):
    """A PeerService that counts what reaches it."""

    def __init__(self) -> None:
        self.batches = 0

    def Send(self, request: Any, context: Any) -> peer_pb2.SendResponse:
        self.batches += 1
        return peer_pb2.SendResponse()


@contextmanager
def impostor_at(address: str, claimed: str) -> Iterator[Impostor]:
    """A TLS PeerService on ``address`` whose certificate claims member ``claimed`` but is
    issued by a key of its own."""
    servicer = Impostor()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    peer_pb2_grpc.add_PeerServiceServicer_to_server(servicer, server)
    issued = make_certificate(Identity.generate(claimed), hosts=["127.0.0.1"])
    assert server.add_secure_port(address, grpc.ssl_server_credentials(
        [(issued.key_pem, issued.chain_pem)])) != 0
    server.start()
    try:
        yield servicer
    finally:
        server.stop(None).wait()


@pytest.fixture
def tls_devnet(tmp_path: Path) -> Iterator[dict[str, Any]]:
    root = tmp_path / "net"
    manifest = devnet_up(root, validators=3, observers=1, tls=True, timeout=60)
    try:
        yield {**manifest, "root": root}
    finally:
        devnet_down(root)


def submit(manifest: dict[str, Any], trust: Trust, first: int, count: int) -> int:
    """Submit ``count`` invoices to the leader; return the height of the last."""
    partner = Identity.load(next(n["key"] for n in manifest["nodes"]
                                 if n["name"] == "partner-1"))
    leader = next(n["api"] for n in manifest["nodes"] if n["name"] == manifest["leader"])
    height = 0
    with Client(leader, trust=trust) as client:
        for i in range(first, first + count):
            form = template("invoice")
            form["ucr"] = f"4DE-TLS-{i:04d}"
            height = client.submit(seal(partner, body_from_json(manifest["network"],
                                                                form))).height
    return height


def wait_for_height(addresses: list[str], trust: Trust, height: int) -> None:
    deadline = time.monotonic() + WAIT
    heights: dict[str, int] = {}
    while time.monotonic() < deadline:
        for address in addresses:
            with Client(address, trust=trust, timeout=2, retry=None) as client:
                heights[address] = client.status().height
        if min(heights.values()) >= height:
            return
        time.sleep(0.1)
    pytest.fail(f"not every node reached height {height}: {heights}")


def test_a_tls_devnet_commits_and_refuses_a_validator_with_another_key(
        tls_devnet: dict[str, Any]) -> None:
    trust = devnet_trust(tls_devnet)
    assert trust is not None and trust.tls_on_loopback
    nodes = {n["name"]: n for n in tls_devnet["nodes"]}
    height = submit(tls_devnet, trust, 1, 3)
    wait_for_height([n["api"] for n in nodes.values()], trust, height)
    with Client(nodes["customs-1"]["api"], trust=Trust(keys=frozenset(
            {Identity.load(nodes["customs-2"]["key"]).public_key})), retry=None) as client, \
            pytest.raises(TlsError, match="does not prove"):
        client.status()

    # A follower's node stops, and a server with another key takes its address.
    victim = next(n for n in nodes.values() if n["role"] == "validator"
                  and n["name"] != tls_devnet["leader"])
    pid = node_pid(victim)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + WAIT
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with impostor_at(victim["api"], victim["name"]) as impostor:
        height = submit(tls_devnet, trust, 4, 3)
        wait_for_height([n["api"] for n in nodes.values() if n is not victim], trust, height)
        leader_log = Path(nodes[tls_devnet["leader"]]["log"])
        deadline = time.monotonic() + WAIT
        refusal = f"cannot reach validator {victim['name']} at {victim['api']}: it does not prove"
        while refusal not in leader_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert refusal in leader_log.read_text()
        assert impostor.batches == 0
