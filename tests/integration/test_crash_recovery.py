"""Durability: every receipted document survives SIGKILL of the node, with the same blocks."""

from __future__ import annotations

import threading
import time

from solonet import NETWORK, SoloNetwork
from tdx.sdk import ApiError, Client, block_hash, body_from_json, ledger_pb2, seal, template

CLIENTS = 4
RUN_SECONDS = 2.0


def test_kill_9_while_clients_submit(solo: SoloNetwork) -> None:
    """Clients submit (one by one and in batches) while the node is SIGKILLed; after a
    restart every receipt's document is there, in the block and position the receipt names,
    and every block seen before the crash has the same hash."""
    receipts: list[ledger_pb2.Receipt] = []
    lock = threading.Lock()
    stop = threading.Event()
    trader = solo.members["acme-trading"]

    def submitter(batch: int) -> None:
        with Client(solo.address, timeout=5) as client:
            while not stop.is_set():
                envelopes = [seal(trader, body_from_json(NETWORK, template("invoice")))
                             for _ in range(batch)]
                try:
                    if batch == 1:
                        got = [client.submit(envelopes[0])]
                    else:
                        got = [o for o in client.submit_many(envelopes)
                               if isinstance(o, ledger_pb2.Receipt)]
                except ApiError:
                    return
                with lock:
                    receipts.extend(got)

    threads = [threading.Thread(target=submitter, args=(1 if i % 2 else 50,), daemon=True)
               for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(RUN_SECONDS)
    solo.node.kill()
    stop.set()
    for thread in threads:
        thread.join(15)
    assert receipts, "no document was receipted before the crash"
    with lock:
        acknowledged = list(receipts)

    solo.restart()
    with Client(solo.address) as client:
        for receipt in acknowledged:
            record = client.get(receipt.document_id)
            assert record.receipt == receipt
        heights = {r.height for r in acknowledged}
        for height in heights:
            block = client.get_block(height)
            assert block_hash(block.header) == next(
                r.block_hash for r in acknowledged if r.height == height)
        status = client.status()
        assert status.height >= max(heights)
        # The node goes on serving after recovery.
        after = client.submit(seal(trader, body_from_json(NETWORK, template("invoice"))))
        assert after.height == status.height + 1
