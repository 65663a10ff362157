"""Workflow 5: advance cross-border data, export linked to import by UCR.

German customs share an export declaration with Nigerian customs ahead of arrival; when the
goods arrive, the Nigerian import declaration is linked to it by the consignment's UCR (or
explicitly, by linked_export_id). A link to an export of another consignment is refused.

    python examples/advance_export_data.py            # starts its own node
"""

from __future__ import annotations

from _network import network, show, step
from tdx.sdk import declaration, documents_pb2, goods_item, party

UCR = "4DE123456789-PUMPS-2026-09"
EXPORTER = party("Rhein Maschinenbau GmbH", "DE123456789012345", "DE")
IMPORTER = party("Lagos Industrial Supplies Ltd", "NG987654321", "NG")


def declared(network: str, kind: str, ucr: str, linked: str = "") -> documents_pb2.DocumentBody:
    return declaration(
        network, kind, ucr=ucr, reference=f"{kind[:2].upper()}-0001", declarant=EXPORTER,
        exporter=EXPORTER, importer=IMPORTER, export_country_code="DE",
        destination_country_code="NG", office_id="NGAPP001",
        goods=[goods_item(1, "Centrifugal pumps", "841370", "40", "NAR")],
        linked_export_id=linked, recipients=["ng-customs"] if kind[0] == "e" else ())


def main() -> None:
    with network("Advance cross-border data.") as net:
        step("de-customs share the export declaration with ng-customs ahead of arrival")
        export = net.submit("de-customs", declared(net.network, "export_declaration", UCR))
        show(export, "export declaration")

        step("ng-customs file the import declaration: linked by UCR")
        show(net.submit("ng-customs", declared(net.network, "import_declaration", UCR)),
             "import declaration")

        step("an import declaration of another consignment that names this export is refused")
        show(net.submit("ng-customs", declared(net.network, "import_declaration",
                                               "4DE-OTHER-2026-0001", export.document_id)),
             "import declaration")

        step("the consignment's declarations, as either administration reads them")
        for decl in net.client.get_consignment(UCR).declarations:
            link = decl.linked_export_id[:12] or ", ".join(i[:12] for i in decl.linked_import_ids)
            print(f"   {decl.kind} {decl.declaration_id[:12]} by {decl.issuer}: linked to {link}",
                  flush=True)


if __name__ == "__main__":
    main()
