"""What the workflow examples share: a one-validator network of their own, or a node you
give them, and members with keys.

By default an example creates keys for its members and a genesis in a temporary folder,
starts one validator node (``python -m tdx.node``) on a free 127.0.0.1 port, runs, and
stops the node again (also on Ctrl-C or SIGTERM). With ``--node HOST:PORT --keys DIR`` it
talks to a running network instead, signing with the key files ``DIR/<member id>.key``
(the members below must be in that network's genesis, with these roles and countries).
"""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tdx.node.ops.testing import local_network
from tdx.sdk import Client, Identity, Rejected, documents_pb2, ledger_pb2, seal

NETWORK = "tdx-examples"
# member id -> (country, roles); de-customs is the validator.
MEMBERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "de-customs": ("DE", ("customs",)),
    "ng-customs": ("NG", ("customs",)),
    "jp-customs": ("JP", ("customs",)),
    "de-chamber": ("DE", ("issuer",)),
    "acme-trader": ("DE", ("trader",)),
    "aquaflow": ("DE", ("rights_holder",)),
    "atlantic": ("DK", ("logistics",)),
}


@dataclass
class Network:
    """A node to talk to and the members' identities."""

    client: Client
    members: dict[str, Identity]
    network: str

    def submit(self, member: str, body: documents_pb2.DocumentBody) -> ledger_pb2.Receipt:
        """Sign ``body`` as ``member`` and submit it; a rejection comes back as its receipt."""
        try:
            return self.client.submit(seal(self.members[member], body))
        except Rejected as exc:
            assert exc.receipt is not None
            return exc.receipt


def step(text: str) -> None:
    """Print one step of the story."""
    print(f"\n== {text}", flush=True)


def show(receipt: ledger_pb2.Receipt, what: str) -> None:
    """Print a receipt: accepted or rejected with its code, and any notices."""
    result = receipt.result
    if result.status == ledger_pb2.RESULT_STATUS_ACCEPTED:
        print(f"   {what}: accepted at height {receipt.height} "
              f"(id {receipt.document_id[:12]})", flush=True)
    else:
        print(f"   {what}: REJECTED {result.code}: {result.reason}", flush=True)
    for notice in result.notices:
        print(f"   notice: {notice}", flush=True)


def now_ms() -> int:
    """The wall clock in Unix milliseconds (the examples' documents are made now)."""
    return int(time.time() * 1000)


def arguments(description: str) -> argparse.Namespace:
    """The examples' options: --node and --keys."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--node", help="a running node's HOST:PORT (default: start one)")
    parser.add_argument("--keys", type=Path, help="with --node: the folder of member key files")
    args = parser.parse_args()
    if bool(args.node) != bool(args.keys):
        parser.error("--node and --keys go together")
    return args


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def network(description: str) -> Iterator[Network]:
    """The example's network: its own one-validator node, or the one given by --node."""
    args = arguments(description)
    if args.node:
        members = {m: Identity.load(args.keys / f"{m}.key") for m in MEMBERS}
        with Client(args.node) as client:
            yield Network(client, members, client.status().network)
        return
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with local_network(MEMBERS, validator="de-customs", network=NETWORK,
                       created_ms=now_ms()) as net:
        print(f"started a one-validator node at {net.address} (pid {net.node.pid})",
              flush=True)
        try:
            with Client(net.address) as client:
                yield Network(client, net.members, NETWORK)
        finally:
            print("node stopped", flush=True)
