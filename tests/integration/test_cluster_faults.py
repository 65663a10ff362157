"""A 3-validator cluster with an observer, under crash, pause and partition, and intruders."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from tdx.node.ops.devnet import devnet_down, devnet_up, wait_for_leader
from tdx.node.ops.process import spawn_node, wait_healthy
from tdx.sdk import (
    PEER_DOMAIN,
    ApiError,
    Client,
    Identity,
    block_hash,
    body_from_json,
    document_id,
    ledger_pb2,
    seal,
    template,
)
from tdx.v1 import peer_pb2, peer_pb2_grpc


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A running devnet of 3 validators and 1 observer; everything stopped afterwards."""
    manifest = devnet_up(tmp_path / "net", validators=3, observers=1, timeout=60)
    manifest["restarted"] = []
    try:
        yield manifest
    finally:
        for process in manifest["restarted"]:
            process.stop()
        for node in manifest["nodes"]:
            if node["pid"]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(node["pid"], signal.SIGCONT)
        devnet_down(tmp_path / "net")


def _node(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in manifest["nodes"] if n["name"] == name)


def _converged(nodes: list[dict[str, Any]], timeout: float) -> ledger_pb2.StatusResponse:
    deadline = time.monotonic() + timeout
    states: list[Any] = []
    while time.monotonic() < deadline:
        try:
            states = []
            for node in nodes:
                with Client(node["api"], timeout=2) as client:
                    states.append(client.status())
            if len({(s.height, s.last_block_hash) for s in states}) == 1 and states[0].height:
                return states[0]
        except ApiError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"nodes did not converge: {[(s.member_id, s.height) for s in states]}")


def test_receipted_documents_survive_crash_pause_and_partition(
        cluster: dict[str, Any]) -> None:
    """Clients submit through every node while the leader is SIGKILLed and restarted, a
    follower is paused with SIGSTOP, and a validator is cut off and healed. Afterwards every
    receipted document is on every node, all nodes hold identical blocks, and no document
    appears twice."""
    nodes = cluster["nodes"]
    validators = [n for n in nodes if n["role"] == "validator"]
    issuer = Identity.load(_node(cluster, "customs-1")["key"])
    partner = Identity.load(_node(cluster, "partner-1")["key"])
    network = cluster["network"]
    receipts: list[ledger_pb2.Receipt] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client_loop(index: int) -> None:
        who, kind = (partner, "invoice") if index % 2 else (issuer, "export_declaration")
        turn = index
        while not stop.is_set():
            node = nodes[turn % len(nodes)]
            turn += 1
            envelopes = [seal(who, body_from_json(network, template(kind))) for _ in range(20)]
            try:
                with Client(node["api"], timeout=5) as client:
                    outcomes = client.submit_many(envelopes)
            except ApiError:
                time.sleep(0.1)
                continue
            with lock:
                receipts.extend(o for o in outcomes if isinstance(o, ledger_pb2.Receipt))

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        leader = _node(cluster, wait_for_leader([v["api"] for v in validators], 10))
        os.kill(leader["pid"], signal.SIGKILL)
        killed_at = time.monotonic()
        survivors = [v["api"] for v in validators if v is not leader]
        new_leader = leader["name"]
        while new_leader == leader["name"]:
            assert time.monotonic() - killed_at < 10, "no new leader within 10 s"
            new_leader = wait_for_leader(survivors, 10)
        time.sleep(1.0)
        restarted = spawn_node(Path(leader["data_dir"]), leader["api"], Path(leader["log"]))
        cluster["restarted"].append(restarted)
        wait_healthy(restarted)

        follower = next(v for v in validators if v["name"] not in (new_leader, leader["name"]))
        os.kill(follower["pid"], signal.SIGSTOP)
        time.sleep(1.5)
        os.kill(follower["pid"], signal.SIGCONT)

        cut = next(v for v in validators if v["name"] != leader["name"])
        os.kill(cut["pid"], signal.SIGUSR1)
        time.sleep(2.0)
        os.kill(cut["pid"], signal.SIGUSR2)
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)

    assert len(receipts) > 100, "too few documents were receipted to say anything"
    final = _converged(nodes, 30)
    ids = {r.document_id for r in receipts}
    assert len(ids) == len(receipts), "a document was receipted twice"
    blocks: list[list[bytes]] = []
    for node in nodes:
        with Client(node["api"], timeout=10) as client:
            for receipt in receipts[:: max(1, len(receipts) // 200)]:
                assert client.get(receipt.document_id).receipt == receipt
            hashes = [block_hash(client.get_block(h).header)
                      for h in range(1, final.height + 1)]
            seen: set[str] = set()
            for height in range(1, final.height + 1):
                block = client.get_block(height)
                for envelope, result in zip(block.envelopes, block.results, strict=True):
                    if result.status == ledger_pb2.RESULT_STATUS_ACCEPTED:
                        doc = document_id(envelope.body)
                        assert doc not in seen, "a document was accepted twice"
                        seen.add(doc)
            assert ids <= seen
        blocks.append(hashes)
    assert all(b == blocks[0] for b in blocks)


def _batch(signer: Identity, body: peer_pb2.PeerBatchBody) -> peer_pb2.PeerBatch:
    raw = body.SerializeToString()
    return peer_pb2.PeerBatch(body=raw, signer=signer.public_key,
                              signature=signer.sign(PEER_DOMAIN, raw))


def test_intruders_are_refused_and_logged(cluster: dict[str, Any]) -> None:
    """A non-member, and a member that is not a validator, cannot speak PeerService, nor can
    a validator's key claim another sender; each is refused and logged, and the cluster
    keeps committing."""
    target = _node(cluster, "customs-2")
    outsider = Identity.generate("customs-1")
    observer = Identity.load(_node(cluster, "partner-1")["key"])
    validator = Identity.load(_node(cluster, "customs-3")["key"])
    now = int(time.time() * 1000)

    def body(sender: str) -> peer_pb2.PeerBatchBody:
        made = peer_pb2.PeerBatchBody(network=cluster["network"], to="customs-2",
                                      sequence=now * 1_000_000 + 10**12, sent_ms=now)
        setattr(made, "from", sender)
        return made

    attempts = [
        (_batch(outsider, body("customs-1")), "not a validator"),
        (_batch(observer, body("partner-1")), "not a validator"),
        (_batch(validator, body("customs-1")), "does not match"),
    ]
    forged = _batch(validator, body("customs-3"))
    forged.signature = bytes(64)
    attempts.append((forged, "signature does not verify"))
    with grpc.insecure_channel(target["api"]) as channel:
        stub = peer_pb2_grpc.PeerServiceStub(channel)
        for batch, reason in attempts:
            with pytest.raises(grpc.RpcError) as refused:
                stub.Send(peer_pb2.SendRequest(batch=batch), timeout=5)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert reason in (refused.value.details() or "")
    log = Path(target["log"]).read_text()
    assert log.count("refused peer batch") >= len(attempts)
    issuer = Identity.load(_node(cluster, "customs-1")["key"])
    with Client(target["api"]) as client:
        receipt = client.submit(seal(issuer, body_from_json(cluster["network"],
                                                            template("export_declaration"))))
    assert receipt.result.status == ledger_pb2.RESULT_STATUS_ACCEPTED
