"""A confidential invoice: only the importing customs (and the trader) can read it.

Starts its own one-validator network, then: the trader encrypts an invoice for customs-ng
(content key sealed to customs-ng's X25519 key, derived from its Ed25519 member key),
leaving the HS codes public; the ledger orders and proves it without ever seeing the
content; customs-ng decrypts it; another customs administration cannot.
Run: python examples/confidential_invoice.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _solo_network import NETWORK, solo_network
from tdx.sdk import (
    Client,
    DocumentError,
    decode_body,
    open_confidential,
    seal,
    seal_confidential,
    template,
    verify_proof,
)


def main() -> int:
    members = {"customs-de": ["customs"], "customs-ng": ["customs"], "trader-a": ["trader"]}
    with solo_network(members, validator="customs-de") as net, Client(net.address) as node:
        trader, ng, de = (net.members[m] for m in ("trader-a", "customs-ng", "customs-de"))
        document = template("invoice")
        keys = {"customs-ng": bytes(node.get_member("customs-ng").member.public_key)}
        print("1. trader-a seals an invoice for customs-ng, leaving hs_codes public")
        body = seal_confidential(trader, NETWORK, "invoice", document["content"], keys,
                                 ["hs_codes"], ucr=document["ucr"])
        receipt = node.submit(seal(trader, body))
        print(f"   accepted in block {receipt.height} as document {receipt.document_id[:16]}...")
        stored = decode_body(node.get(receipt.document_id).envelope.body)
        print(f"2. what every node holds: kind {stored.confidential.kind!r}, "
              f"{len(stored.confidential.ciphertext)} bytes of ciphertext, recipients "
              f"{list(stored.recipients)}, public fields {dict(stored.confidential.public_fields)}")
        verified = verify_proof(node.get_proof(receipt.document_id), net.genesis)
        print(f"3. its proof checks offline: block {verified.height}, kind {verified.kind}")
        inner = open_confidential(ng, stored)
        print(f"4. customs-ng decrypts it: invoice {inner.trade.functional_reference_id}, "
              f"importer {inner.trade.importer.name}, "
              f"{inner.trade.invoice_amount.value} {inner.trade.invoice_amount.currency_code}")
        try:
            open_confidential(de, stored)
        except DocumentError as exc:
            print(f"5. customs-de cannot: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
