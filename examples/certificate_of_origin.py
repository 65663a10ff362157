"""Workflow 1: a certificate of origin used once.

The chamber of commerce in Germany issues an origin certificate for a consignment of pumps
and valves to Nigeria; Nigerian customs verify it and draw it down at import clearance;
drawing more than remains is refused; the chamber amends it (a new version supersedes the
old) and finally revokes it, after which it cannot be used.

    python examples/certificate_of_origin.py            # starts its own node
    python examples/certificate_of_origin.py --node HOST:PORT --keys DIR
"""

from __future__ import annotations

from _network import network, now_ms, show, step
from tdx.sdk import (
    Client,
    amend_certificate,
    declaration,
    draw_down,
    goods_item,
    origin_certificate,
    party,
    revoke_certificate,
    state_pb2,
    verify_certificate,
)

DAY = 86_400_000
UCR = "4DE123456789-PUMPS-2026-01"
EXPORTER = party("Rhein Maschinenbau GmbH", "DE123456789012345", "DE")
IMPORTER = party("Lagos Industrial Supplies Ltd", "NG987654321", "NG")


def status(client: Client, certificate_id: str) -> None:
    """Print the certificate's status and what remains of each line."""
    answer = client.get_certificate(certificate_id)
    state = answer.certificate
    lines = ", ".join(f"line {line.sequence_numeric}: {line.remaining} of {line.quantity} "
                      f"{line.quantity_unit_code} left" for line in state.lines)
    print(f"   status {state_pb2.CertificateStatus.Name(state.status)}; {lines}", flush=True)


def main() -> None:
    with network("A certificate of origin used once.") as net:
        step("de-chamber issues certificate of origin DE-COO-2026-0001 for 40 pumps and 100 "
             "valves")
        body = origin_certificate(
            net.network, ucr=UCR, number="DE-COO-2026-0001", exporter=EXPORTER,
            importer=IMPORTER, export_country_code="DE", import_country_code="NG",
            goods=[goods_item(1, "Centrifugal pumps", "841370", "40", "NAR",
                              origin_country_code="DE", origin_criterion="PSR"),
                   goods_item(2, "Valves", "848180", "100", "NAR",
                              origin_country_code="DE", origin_criterion="WO")],
            valid_from_ms=now_ms() - DAY, valid_until_ms=now_ms() + 365 * DAY)
        issued = net.submit("de-chamber", body)
        show(issued, "certificate")
        cert = issued.document_id
        status(net.client, cert)

        step("ng-customs verify the certificate")
        show(net.submit("ng-customs", verify_certificate(net.network, cert, "checked")),
             "verification")

        step("ng-customs accept an import declaration that lists the certificate")
        decl = net.submit("ng-customs", declaration(
            net.network, "import_declaration", ucr=UCR, reference="NG-IM-2026-0456",
            declarant=IMPORTER, exporter=EXPORTER, importer=IMPORTER,
            export_country_code="DE", destination_country_code="NG", office_id="NGAPP001",
            goods=[goods_item(1, "Centrifugal pumps", "841370", "40", "NAR")],
            certificate_ids=[cert]))
        show(decl, "import declaration")

        step("ng-customs draw down 25 pumps, then try to draw 20 more")
        show(net.submit("ng-customs", draw_down(net.network, cert, decl.document_id,
                                                {1: "25"}, ucr=UCR)), "draw-down of 25")
        show(net.submit("ng-customs", draw_down(net.network, cert, decl.document_id,
                                                {1: "20"}, ucr=UCR)), "draw-down of 20")
        status(net.client, cert)

        step("de-chamber amends the certificate: 50 pumps (a new version supersedes the old)")
        body.certificate.goods_items[0].quantity = "50"
        amended = net.submit("de-chamber", amend_certificate(body, cert))
        show(amended, "amendment")
        status(net.client, amended.document_id)
        show(net.submit("ng-customs", draw_down(net.network, cert, decl.document_id,
                                                {1: "5"}, ucr=UCR)),
             "draw-down on the old version")
        show(net.submit("ng-customs", draw_down(net.network, amended.document_id,
                                                decl.document_id, {1: "25", 2: "100"},
                                                ucr=UCR)), "draw-down of the rest")
        status(net.client, amended.document_id)

        step("de-chamber revokes the current version; it can no longer be used")
        show(net.submit("de-chamber", revoke_certificate(net.network, amended.document_id,
                                                         "issued in error")), "revocation")
        show(net.submit("ng-customs", verify_certificate(net.network, amended.document_id)),
             "verification after revocation")


if __name__ == "__main__":
    main()
