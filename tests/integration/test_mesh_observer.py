"""An observer follows the ledger over the libp2p mesh, relays submissions, catches up."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tdx.node.ops.devnet import devnet_down, devnet_up
from tdx.node.ops.process import pid_alive, spawn_node, wait_healthy
from tdx.sdk import Client, Identity, body_from_json, load_genesis, seal, template, verify_proof
from waiting import wait_until


def _height(api: str) -> int:
    with Client(api, timeout=3) as client:
        return client.status().height


def test_observer_follows_relays_and_catches_up_over_the_mesh(tmp_path: Path) -> None:
    root = tmp_path / "net"
    manifest = devnet_up(root, validators=3, observers=1, timeout=60)
    restarted = None
    try:
        nodes = {n["name"]: n for n in manifest["nodes"]}
        observer = nodes["partner-1"]
        assert observer["p2p"].startswith("/ip4/127.0.0.1/tcp/")
        customs = Identity.load(nodes["customs-1"]["key"])
        partner = Identity.load(observer["key"])
        network = manifest["network"]

        def mesh_connected() -> bool:
            with Client(observer["api"]) as client:
                peers = client.status().mesh_peers
            return sum(p.connected for p in peers) == 3
        wait_until(mesh_connected, 20, "the observer's mesh to reach the three validators")

        with Client(nodes["customs-1"]["api"]) as client:
            receipt = client.submit(seal(customs, body_from_json(
                network, template("export_declaration"))))
        wait_until(lambda: _height(observer["api"]) >= receipt.height, 10,
                   "the block at the observer")
        with Client(observer["api"]) as client:
            proof = client.get_proof(receipt.document_id)
            relayed = client.submit(seal(partner, body_from_json(network, template("invoice"))))
        assert verify_proof(proof, load_genesis(manifest["genesis"])).document_id == (
            receipt.document_id)
        with Client(nodes["customs-2"]["api"]) as client:
            assert client.get(relayed.document_id).receipt == relayed

        os.kill(observer["pid"], signal.SIGTERM)
        wait_until(lambda: not pid_alive(observer["pid"]), 15, "the observer to stop")
        with Client(nodes["customs-1"]["api"]) as client:
            for _ in range(10):
                last = client.submit(seal(customs, body_from_json(
                    network, template("export_declaration"))))
        restarted = spawn_node(Path(observer["data_dir"]), observer["api"],
                               Path(observer["log"]))
        wait_healthy(restarted)
        wait_until(lambda: _height(observer["api"]) >= last.height, 20,
              "the restarted observer to catch up")
        with Client(observer["api"]) as client, Client(nodes["customs-1"]["api"]) as ref:
            height = client.status().height
            assert client.get_block(height).header == ref.get_block(height).header
            assert client.get(last.document_id).receipt == last
    finally:
        if restarted is not None:
            restarted.stop()
        devnet_down(root)
