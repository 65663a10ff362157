"""A replay at an observer answers ALREADY_EXISTS with the original receipt, as at a validator.

The observer relays submissions over the mesh; gossip carries no answer, and a document a
validator ordered may reach the observer's ledger only after the replay arrives there. The
observer tells the two apart by height and answers as the validators do (issue 9).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tdx.node.ops.devnet import devnet_down, devnet_up
from tdx.sdk import (
    AlreadyExists,
    Client,
    Identity,
    body_from_json,
    documents_pb2,
    ledger_pb2,
    seal,
    template,
)
from waiting import wait_until


def test_a_replay_at_an_observer_answers_already_exists_with_the_receipt(
        tmp_path: Path) -> None:
    root = tmp_path / "net"
    manifest = devnet_up(root, validators=3, observers=1, timeout=60)
    try:
        nodes = {n["name"]: n for n in manifest["nodes"]}
        observer = nodes["partner-1"]["api"]
        partner = Identity.load(nodes["partner-1"]["key"])
        network = manifest["network"]

        def mesh_connected() -> bool:
            with Client(observer) as client:
                return sum(p.connected for p in client.status().mesh_peers) == 3
        wait_until(mesh_connected, 20, "the observer's mesh to reach the three validators")

        def invoice() -> documents_pb2.Envelope:
            return seal(partner, body_from_json(network, template("invoice")))

        with Client(observer, timeout=20, retry=None) as at_observer, \
                Client(nodes["customs-1"]["api"], timeout=20, retry=None) as at_validator:
            # Twice at the observer.
            envelope = invoice()
            receipt = at_observer.submit(envelope)
            with pytest.raises(AlreadyExists) as caught:
                at_observer.submit(envelope)
            assert caught.value.receipt == receipt
            # First at a validator, then at once at the observer (which may lag behind).
            for _ in range(3):
                envelope = invoice()
                receipt = at_validator.submit(envelope)
                with pytest.raises(AlreadyExists) as caught:
                    at_observer.submit(envelope)
                assert caught.value.receipt == receipt
            # In a batch: the replay's outcome carries the receipt; the new one commits.
            fresh = invoice()
            outcomes = at_observer.submit_many([envelope, fresh])
            assert isinstance(outcomes[0], AlreadyExists)
            assert outcomes[0].receipt == receipt
            assert isinstance(outcomes[1], ledger_pb2.Receipt)
            assert at_validator.get(outcomes[1].document_id).receipt == outcomes[1]
    finally:
        devnet_down(root)
