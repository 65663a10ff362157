"""Workflow 2: AEO status shared at once with mutual-recognition partners.

German customs grant an operator AEO status recognized by Nigeria and Japan; Japanese
customs follow the decisions on their subscription as they are made. German customs then
suspend the status: a declaration naming the operator is flagged; they reinstate it and
the next declaration is clean. Suspending twice is refused with its reason.

    python examples/aeo_status.py            # starts its own node
"""

from __future__ import annotations

import threading

from _network import network, show, step
from tdx.sdk import Client, aeo_decision, declaration, goods_item, party, state_pb2

UCR = "4DE123456789-AEO-2026-01"
OPERATOR = party("Rhein Maschinenbau GmbH", "DE123456789012345", "DE")
IMPORTER = party("Lagos Industrial Supplies Ltd", "NG987654321", "NG")
REFERENCE = "DEAEOF123456"


def follow(address: str, ready: threading.Event, seen: list[str], stop_after: int) -> None:
    """What Japanese customs run: a subscription to AEO decisions."""
    with Client(address) as client:
        stream = client.subscribe(kinds=["aeo_decision"], notices_only=True)
        ready.set()
        for item in stream:
            for notice in item.record.receipt.result.notices:
                seen.append(notice)
                print(f"   [jp-customs subscription] {notice}", flush=True)
            if len(seen) >= stop_after:
                return


def main() -> None:
    with network("AEO status shared with MRA partners.") as net:
        ready, seen = threading.Event(), list[str]()
        watcher = threading.Thread(target=follow, args=(net.client.target, ready, seen, 3),
                                   daemon=True)
        watcher.start()
        ready.wait(5)

        def decide(action: str, reason: str) -> None:
            show(net.submit("de-customs", aeo_decision(
                net.network, action, OPERATOR, REFERENCE, reason=reason,
                recognized_by=["NG", "JP"])), f"{action}")

        def declare(number: str) -> None:
            show(net.submit("de-customs", declaration(
                net.network, "export_declaration", ucr=UCR, reference=number,
                declarant=OPERATOR, exporter=OPERATOR, importer=IMPORTER,
                export_country_code="DE", destination_country_code="NG", office_id="DE004700",
                goods=[goods_item(1, "Centrifugal pumps", "841370", "40", "NAR")])),
                f"export declaration {number}")

        step("de-customs grant AEO status to the operator, recognized by NG and JP")
        decide("grant", "criteria of Art. 39 UCC met")
        step("de-customs suspend it")
        decide("suspend", "audit findings")
        step("a declaration naming the suspended operator is flagged")
        declare("DE-EX-0001")
        step("suspending again is refused")
        decide("suspend", "again")
        step("de-customs reinstate it; the next declaration is clean")
        decide("reinstate", "findings resolved")
        declare("DE-EX-0002")
        watcher.join(10)

        step("the status and its history, as any administration reads it")
        state = net.client.get_aeo_status(OPERATOR.id).status
        print(f"   {OPERATOR.id}: {state_pb2.AeoStatus.Name(state.status)} "
              f"(granted by {state.granted_by}, recognized by "
              f"{', '.join(state.recognized_by_country_codes)})", flush=True)
        for event in state.history:
            print(f"   height {event.height}: {state_pb2.AeoStatus.Name(event.status)} by "
                  f"{event.member}: {event.reason}", flush=True)
        print(f"   jp-customs saw {len(seen)} decisions on their subscription", flush=True)


if __name__ == "__main__":
    main()
