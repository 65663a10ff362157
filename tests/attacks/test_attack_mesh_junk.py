"""One member's junk on the libp2p mesh, against a validator and an observer.

- Junk blocks: the member announces blocks the observer lacks and serves junk when the
  observer fetches them (undecodable bytes, a truncated block, a real block at the wrong
  height). The observer refuses each, keeps running and keeps following the validator.
- Junk alerts: the member gossips hundreds of IP-rights alerts whose signatures do not
  verify. Each node keeps running and commits, and logs them as counts, not a line each.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from meshnet import VALIDATOR, MeshNetwork, attacker, mesh_network
from tdx.sdk import Client, documents_pb2

OBSERVER = "watcher"
JUNK_ALERTS = 300
MAX_LOG_LINES = 60


@pytest.fixture(scope="module")
def mesh_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshNetwork]:
    """A validator and an observer, both with a mesh."""
    with mesh_network(tmp_path_factory.mktemp("mesh"), observers=[OBSERVER]) as net:
        yield net


def settled_lines(path: Path, timeout: float = 10.0) -> int:
    """The number of lines in a log once it has stopped growing for a second."""
    deadline = time.monotonic() + timeout
    size = -1
    while path.stat().st_size != size and time.monotonic() < deadline:
        size = path.stat().st_size
        time.sleep(1.0)
    return len(path.read_bytes().splitlines())


def test_an_observer_keeps_following_after_junk_blocks(mesh_net: MeshNetwork) -> None:
    height = mesh_net.converged(mesh_net.commit())
    with Client(mesh_net.api(VALIDATOR)) as client:
        real = client.get_block(1).SerializeToString()
    junk = {"acme-trading": [b"\x00\xff not a block"],
            "atlantic": [real[: len(real) // 2]],
            "aquaflow": [real]}
    # One member for each kind of junk: an observer may avoid a member that served junk.
    for member, blocks in junk.items():
        with attacker(mesh_net, member, [OBSERVER]) as mesh:
            mesh.junk = blocks
            mesh.lure(height + 1)
        mesh_net.assert_alive()
        height = mesh_net.converged(mesh_net.commit())
    assert mesh_net.block_hashes(OBSERVER, height) == mesh_net.block_hashes(VALIDATOR, height)


def test_junk_alerts_are_logged_as_counts(mesh_net: MeshNetwork) -> None:
    rights_holder = mesh_net.members["aquaflow"]
    before = {name: settled_lines(node.log_path) for name, node in mesh_net.nodes.items()}
    with attacker(mesh_net, "de-chamber", [VALIDATOR, OBSERVER]) as mesh:
        for _ in range(JUNK_ALERTS):
            alert = documents_pb2.Envelope(body=os.urandom(40),
                                           signer=rights_holder.public_key,
                                           signature=os.urandom(64))
            mesh.publish("alerts", alert.SerializeToString())
    written = {name: settled_lines(node.log_path) - before[name]
               for name, node in mesh_net.nodes.items()}
    mesh_net.assert_alive()
    assert all(lines <= MAX_LOG_LINES for lines in written.values()), (
        f"log lines written for {JUNK_ALERTS} junk alerts: {written}")
    mesh_net.commit()
