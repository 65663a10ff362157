"""Workflow 3: IP-rights protection with counterfeit alerts matched to declarations.

AquaFlow records its trademark; German customs raise a counterfeit alert on pumps (HS
8413.70) of Chinese origin. Every declaration is matched against the active alerts when it
is applied, through an index (never a scan of all alerts): a declaration of pumps from
China matches, and the match is recorded with it and pushed to subscribers (customs and
the rights holder); pumps from Germany do not match.

    python examples/ip_rights_alerts.py            # starts its own node
"""

from __future__ import annotations

from _network import network, now_ms, show, step
from tdx.sdk import declaration, goods_item, ip_alert, ip_rights_record, party

DAY = 86_400_000
HOLDER = party("AquaFlow Pumps SE", "DE811223344", "DE")
IMPORTER = party("Rhein Maschinenbau GmbH", "DE123456789012345", "DE")


def main() -> None:
    with network("IP-rights alerts matched to declarations.") as net:
        step("aquaflow records its trademark")
        rights = net.submit("aquaflow", ip_rights_record(
            net.network, brand="AquaFlow", registration_number="EUTM-018765432",
            goods_description="Centrifugal pumps and spare parts", hs_codes=["841370"],
            authentic_features=["laser-etched serial on the volute"], holder=HOLDER,
            contact="brand-protection@aquaflow.example"))
        show(rights, "rights record")

        step("de-customs raise a HIGH alert: pumps (HS 841370) of Chinese origin")
        alert = net.submit("de-customs", ip_alert(
            net.network, rights.document_id, severity="high", expires_ms=now_ms() + 90 * DAY,
            hs_codes=["841370"], origin_country_codes=["CN"],
            description="forged AquaFlow nameplates"))
        show(alert, "alert")
        start = alert.height + 1

        for origin, ucr in (("CN", "4CN-PUMPS-2026-0001"), ("DE", "4DE-PUMPS-2026-0002")):
            step(f"an import declaration of pumps of {origin} origin")
            show(net.submit("de-customs", declaration(
                net.network, "import_declaration", ucr=ucr, reference=f"DE-IM-{origin}",
                declarant=IMPORTER, exporter=party("Shenzhen Pump Trading", "CN9144", "CN"),
                importer=IMPORTER, export_country_code=origin, destination_country_code="DE",
                office_id="DE004700",
                goods=[goods_item(1, "Centrifugal pumps", "84137000", "500", "NAR",
                                  origin_country_code=origin)])), "declaration")

        step("what a subscriber (customs or aquaflow) receives: documents with notices")
        for item in net.client.subscribe(from_height=start, notices_only=True):
            for notice in item.record.receipt.result.notices:
                print(f"   [subscription] height {item.height} {item.record.kind}: {notice}",
                      flush=True)
            break


if __name__ == "__main__":
    main()
