"""Validators are added and removed while the network runs, by governance decisions.

A new validator's node joins from the genesis (``init --join validator``); governance admits
it as a validator; Raft adds it as a learner, it catches up, and it becomes a voter. Then
governance removes a founding validator and Raft removes it; the cluster keeps committing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tdx.node import init_node
from tdx.node.ops.config import pinned_validators
from tdx.node.ops.devnet import devnet_down, devnet_up
from tdx.node.ops.process import free_port, spawn_node, wait_healthy
from tdx.sdk import (
    Client,
    Identity,
    body_from_json,
    member_record,
    propose_add_member,
    propose_remove_member,
    seal,
    template,
    vote,
)


def _decide(manifest: dict[str, Any], body: Any, voters: list[str],
            extra: dict[str, Identity] | None = None) -> None:
    """Submit a proposal as the first voter and approve it with every voter."""
    keys = {n["name"]: Identity.load(n["key"]) for n in manifest["nodes"]} | (extra or {})
    api = manifest["nodes"][0]["api"]
    with Client(api) as client:
        proposal = client.submit(seal(keys[voters[0]], body)).document_id
        for name in voters:
            client.submit(seal(keys[name], vote(manifest["network"], proposal, True)))


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _status(api: str) -> Any:
    with Client(api, timeout=3) as client:
        return client.status()


def test_governance_adds_and_removes_a_validator(tmp_path: Path) -> None:
    root = tmp_path / "net"
    manifest = devnet_up(root, validators=3, observers=0, timeout=60)
    network = manifest["network"]
    joiner = None
    try:
        issuer = Identity.load(manifest["nodes"][0]["key"])
        with Client(manifest["nodes"][0]["api"]) as client:
            for _ in range(5):
                client.submit(seal(issuer, body_from_json(network,
                                                          template("export_declaration"))))

        new = Identity.generate("customs-4")
        new.save(tmp_path / "customs-4.key")
        api = f"127.0.0.1:{free_port()}"
        data = tmp_path / "customs-4"
        init_node(data, Path(manifest["genesis"]), tmp_path / "customs-4.key", api,
                  join="validator")
        joiner = spawn_node(data, api)
        wait_healthy(joiner)

        record = member_record("customs-4", "Customs 4", "DE", ["customs"], new.public_key,
                               api_address=api, peer_address=api, validator=True)
        _decide(manifest, propose_add_member(network, record), ["customs-1", "customs-2"])

        leader_api = next(n["api"] for n in manifest["nodes"]
                          if n["name"] == _status(manifest["nodes"][0]["api"]).leader)

        def joined() -> bool:
            peers = {p.member_id: p for p in _status(leader_api).peers}
            joined_peer = peers.get("customs-4")
            return joined_peer is not None and joined_peer.match_index > 0
        _wait(joined, 30, "customs-4 to replicate")
        target = _status(leader_api).height
        _wait(lambda: _status(api).height >= target, 30, "customs-4 to catch up")
        log = (data / "node.log").read_text()
        _wait(lambda: "ADD_VOTER customs-4" in Path(
            next(n["log"] for n in manifest["nodes"] if n["api"] == leader_api)).read_text(),
            30, "customs-4 to become a voter")
        assert "ADD_LEARNER customs-4" in log or "ADD_VOTER customs-4" in (
            data / "node.log").read_text()

        # The new validator signs blocks: a new document's block carries its signature.
        with Client(api) as client:
            receipt = client.submit(seal(new, body_from_json(network,
                                                             template("export_declaration"))))
        def signed_by_new() -> bool:
            with Client(leader_api) as client:
                block = client.get_block(receipt.height)
            return "customs-4" in {s.validator for s in block.signatures}
        _wait(signed_by_new, 20, "customs-4's block signature")

        # A node joining now learns the validators in force, customs-4 among them, from a
        # node it trusts: it must accept a leader that joined after the genesis.
        later = Identity.generate("customs-5")
        later.save(tmp_path / "customs-5.key")
        init_node(tmp_path / "customs-5", Path(manifest["genesis"]),
                  tmp_path / "customs-5.key", f"127.0.0.1:{free_port()}", join="validator",
                  join_from=manifest["nodes"][0]["api"])
        assert "customs-4" in {v.id for v in pinned_validators(tmp_path / "customs-5")}

        # Governance removes customs-3; Raft follows; the cluster keeps committing.
        _decide(manifest, propose_remove_member(network, "customs-3"),
                ["customs-1", "customs-2", "customs-4"], {"customs-4": new})
        _wait(lambda: "REMOVE customs-3" in Path(
            next(n["log"] for n in manifest["nodes"] if n["name"] == "customs-1")).read_text(),
            30, "customs-3 to leave Raft")
        with Client(api) as client:
            after = client.submit(seal(new, body_from_json(network,
                                                           template("export_declaration"))))
        assert after.height > receipt.height
        survivors = [n["api"] for n in manifest["nodes"] if n["name"] != "customs-3"] + [api]
        _wait(lambda: len({(_status(a).height, _status(a).last_block_hash)
                           for a in survivors}) == 1, 30, "the remaining validators to agree")
    finally:
        if joiner is not None:
            joiner.stop()
        devnet_down(root)
