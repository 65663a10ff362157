"""Key rotation with no outage: a trader replaces its key between two documents.

Starts its own one-validator network, then: the trader signs invoices with its old key,
submits a KeyRotation signed by the old key (carrying the new key's signature over its
member id and old key), and signs the very next invoice with the new key: no pause, no
refusal. The old key is refused from then on, the ledger keeps it in the member's key
history, and a proof of an invoice signed with it still checks offline against the
genesis. Run: python examples/key_rotation.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _solo_network import NETWORK, solo_network
from tdx.sdk import (
    ApiError,
    Client,
    Identity,
    body_from_json,
    key_rotation,
    seal,
    template,
    verify_proof,
)


def main() -> int:
    members = {"customs-de": ["customs"], "trader-a": ["trader"]}
    with solo_network(members, validator="customs-de") as net, Client(net.address) as node:
        old = net.members["trader-a"]
        new = Identity.generate("trader-a")

        def invoice(key: Identity, label: str) -> str:
            try:
                receipt = node.submit(seal(key, body_from_json(NETWORK, template("invoice"))))
            except ApiError as exc:
                print(f"- invoice signed with the {label} key: refused ({exc.code}: "
                      f"{exc.message})")
                return ""
            print(f"- invoice signed with the {label} key: accepted in block {receipt.height}")
            return receipt.document_id

        first = invoice(old, "old")
        print(f"1. trader-a rotates {old.public_key.hex()[:16]}... -> "
              f"{new.public_key.hex()[:16]}...")
        receipt = node.submit(seal(old, key_rotation(NETWORK, old, new)))
        print(f"   recorded in block {receipt.height}: {receipt.result.notices[0]}")
        print("2. the very next document, signed with the new key:")
        invoice(new, "new")
        print("3. the old key no longer signs:")
        invoice(old, "old")
        member = node.get_member("trader-a")
        for retired in member.retired_keys:
            print(f"4. key history: {retired.public_key.hex()[:16]}... valid through block "
                  f"{retired.retired_height}")
        verified = verify_proof(node.get_proof(first), net.genesis)
        print(f"5. the proof of the first invoice (old key) still checks offline: block "
              f"{verified.height}, issuer {verified.issuer}, accepted={verified.accepted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
